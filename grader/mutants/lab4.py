"""Lab 4 mutants: typical wrong answers, and right answers written another way."""

from grader.mutants import right, wrong

_GRAD = '''def input_gradient(model, x, y):
    """Gradient of the summed cross-entropy loss with respect to the input images."""
    x = tf.convert_to_tensor(x, dtype=tf.float32)
'''
_FGSM = '''def fgsm(model, x, y, eps):
    """Untargeted FGSM."""
    x = tf.convert_to_tensor(x, dtype=tf.float32)
'''
_TARGETED = '''def fgsm_targeted(model, x, target, eps):
    """Targeted FGSM."""
    x = tf.convert_to_tensor(x, dtype=tf.float32)
'''
_PGD = '''def pgd(model, x, y, eps, alpha, steps, random_start=True, gradient=input_gradient):
    """L-infinity PGD."""
    x = tf.convert_to_tensor(x, dtype=tf.float32)
'''
_STEP = '''def adversarial_train_step(model, optimizer, x, y, eps, alpha, steps):
    """One step of PGD adversarial training."""
'''
_EOT = '''def eot_gradient(model, x, y, transform, n_samples):
    """EOT gradient."""
    x = tf.convert_to_tensor(x, dtype=tf.float32)
'''
_PGD_LOOP = '''    for _ in range(steps):
        x_adv = x_adv + alpha * tf.sign(gradient(model, x_adv, y))
        x_adv = tf.clip_by_value(tf.clip_by_value(x_adv, x - eps, x + eps), 0.0, 1.0)
    return x_adv
'''
_START = '''    x_adv = x + tf.random.uniform(tf.shape(x), -eps, eps) if random_start else x
    x_adv = tf.clip_by_value(x_adv, 0.0, 1.0)
'''

MUTANTS = [
    # Exercise 1: input_gradient
    wrong("input_gradient_impl", "mean loss instead of sum", says="sum",
          source=_GRAD + '''    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, model(x), from_logits=True))
    return tape.gradient(loss, x)
'''),
    wrong("input_gradient_impl", "tape does not watch x", says="watch",
          source=_GRAD + '''    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(y, model(x), from_logits=True))
    return tape.gradient(loss, x)
'''),
    wrong("input_gradient_impl", "logits treated as probabilities", says="from_logits",
          source=_GRAD + '''    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(y, model(x)))
    return tape.gradient(loss, x)
'''),
    wrong("input_gradient_impl", "gradient of the model output, not of the loss", says="logits",
          source=_GRAD + '''    with tf.GradientTape() as tape:
        tape.watch(x)
        out = model(x)
    return tape.gradient(out, x)
'''),
    wrong("input_gradient_impl", "returns a NumPy array (.numpy())", says="tensor", gap=True,
          source=_GRAD + '''    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(y, model(x), from_logits=True))
    return tape.gradient(loss, x).numpy()
'''),
    right("input_gradient_impl", "x as a tf.Variable and the loss class",
          source='''def input_gradient(model, x, y):
    """Gradient of the summed cross-entropy loss with respect to the input images."""
    x = tf.Variable(tf.cast(x, tf.float32))
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")
    with tf.GradientTape() as tape:
        loss = ce(y, model(x))
    return tape.gradient(loss, x)
'''),

    # Exercise 2: fgsm
    wrong("fgsm_impl", "sign error: descends the loss", says="sign",
          source=_FGSM + "    return tf.clip_by_value(x - eps * tf.sign(input_gradient(model, x, y)), 0.0, 1.0)\n"),
    wrong("fgsm_impl", "the gradient instead of its sign", says="sign",
          source=_FGSM + "    return tf.clip_by_value(x + eps * input_gradient(model, x, y), 0.0, 1.0)\n"),
    wrong("fgsm_impl", "no clipping to valid pixels", says="[0, 1]",
          source=_FGSM + "    return x + eps * tf.sign(input_gradient(model, x, y))\n"),
    wrong("fgsm_impl", "normalised gradient instead of sign", says="sign",
          source=_FGSM + '''    g = input_gradient(model, x, y)
    g = g / (tf.reduce_max(tf.abs(g)) + 1e-12)
    return tf.clip_by_value(x + eps * g, 0.0, 1.0)
'''),
    wrong("fgsm_impl", "NumPy sign and clip: an array where later cells call .numpy()", says="tensor",
          source=_FGSM + '''    g = input_gradient(model, x, y).numpy()
    return np.clip(x.numpy() + eps * np.sign(g), 0, 1).astype("float32")
'''),
    wrong("fgsm_impl", "eps fixed at 0.1, the argument ignored", says="eps", gap=True,
          source=_FGSM + "    return tf.clip_by_value(x + 0.1 * tf.sign(input_gradient(model, x, y)), 0.0, 1.0)\n"),
    wrong("fgsm_impl", "float64 result", says="float32", gap=True,
          source=_FGSM + '''    step = tf.cast(eps * tf.sign(input_gradient(model, x, y)), tf.float64)
    return tf.clip_by_value(tf.cast(x, tf.float64) + step, 0.0, 1.0)
'''),
    right("fgsm_impl", "NumPy arithmetic, converted back to a float32 tensor",
          source=_FGSM + '''    g = input_gradient(model, x, y).numpy()
    return tf.constant(np.clip(x.numpy() + eps * np.sign(g), 0, 1), dtype=tf.float32)
'''),

    # Exercise 3: fgsm_targeted
    wrong("fgsm_targeted_impl", "plus sign: moves away from the target", says="descending",
          source=_TARGETED + "    g = input_gradient(model, x, target)\n"
                             "    return tf.clip_by_value(x + eps * tf.sign(g), 0.0, 1.0)\n"),
    wrong("fgsm_targeted_impl", "targeted via untargeted fgsm", says="target",
          source=_TARGETED + "    return fgsm(model, x, target, eps)\n"),
    wrong("fgsm_targeted_impl", "targeted step in NumPy, an array returned", says="tensor", gap=True,
          source=_TARGETED + "    g = input_gradient(model, x, target).numpy()\n"
                             "    return np.clip(x.numpy() - eps * np.sign(g), 0, 1)\n"),
    wrong("fgsm_targeted_impl", "targeted step of 0.1 whatever eps", says="eps", gap=True,
          source=_TARGETED + "    g = input_gradient(model, x, target)\n"
                             "    return tf.clip_by_value(x - 0.1 * tf.sign(g), 0.0, 1.0)\n"),
    right("fgsm_targeted_impl", "untargeted fgsm with a negative eps",
          source=_TARGETED + "    return fgsm(model, x, target, -eps)\n"),

    # Exercise 4: pgd
    wrong("pgd_impl", "projects around the random start", says="around the original x",
          source=_PGD + '''    if random_start:
        x = tf.clip_by_value(x + tf.random.uniform(tf.shape(x), -eps, eps), 0.0, 1.0)
    x_adv = x
''' + _PGD_LOOP),
    wrong("pgd_impl", "projects around the previous iterate", says="original x",
          source=_PGD + _START + '''    for _ in range(steps):
        prev = x_adv
        x_adv = x_adv + alpha * tf.sign(gradient(model, x_adv, y))
        x_adv = tf.clip_by_value(tf.clip_by_value(x_adv, prev - eps, prev + eps), 0.0, 1.0)
    return x_adv
'''),
    wrong("pgd_impl", "no projection onto the ball", says="epsilon-ball",
          source=_PGD + _START + '''    for _ in range(steps):
        x_adv = tf.clip_by_value(x_adv + alpha * tf.sign(gradient(model, x_adv, y)), 0.0, 1.0)
    return x_adv
'''),
    wrong("pgd_impl", "uses input_gradient, not the gradient argument", says="gradient",
          source=_PGD + _START + '''    for _ in range(steps):
        x_adv = x_adv + alpha * tf.sign(input_gradient(model, x_adv, y))
        x_adv = tf.clip_by_value(tf.clip_by_value(x_adv, x - eps, x + eps), 0.0, 1.0)
    return x_adv
'''),
    wrong("pgd_impl", "gradient evaluated at x every step", says="current iterate",
          source=_PGD + _START + '''    for _ in range(steps):
        x_adv = x_adv + alpha * tf.sign(gradient(model, x, y))
        x_adv = tf.clip_by_value(tf.clip_by_value(x_adv, x - eps, x + eps), 0.0, 1.0)
    return x_adv
'''),
    wrong("pgd_impl", "random start ignored", says="random",
          source=_PGD + "    x_adv = x\n" + _PGD_LOOP),
    wrong("pgd_impl", "one step too many", says="steps",
          source=_PGD + _START + '''    for _ in range(steps + 1):
        x_adv = x_adv + alpha * tf.sign(gradient(model, x_adv, y))
        x_adv = tf.clip_by_value(tf.clip_by_value(x_adv, x - eps, x + eps), 0.0, 1.0)
    return x_adv
'''),
    wrong("pgd_impl", "random start with normal noise", says="uniform",
          source=_PGD + '''    x_adv = x + eps * tf.random.normal(tf.shape(x)) if random_start else x
    x_adv = tf.clip_by_value(tf.clip_by_value(x_adv, x - eps, x + eps), 0.0, 1.0)
''' + _PGD_LOOP),
    wrong("pgd_impl", "PGD iterate returned as a NumPy array", says="tensor", gap=True,
          source=_PGD + _START + '''    for _ in range(steps):
        x_adv = x_adv + alpha * tf.sign(gradient(model, x_adv, y))
        x_adv = tf.clip_by_value(tf.clip_by_value(x_adv, x - eps, x + eps), 0.0, 1.0)
    return x_adv.numpy()
'''),
    wrong("pgd_impl", "ball of radius 0.1 whatever eps", says="eps", gap=True,
          source=_PGD + _START + '''    for _ in range(steps):
        x_adv = x_adv + alpha * tf.sign(gradient(model, x_adv, y))
        x_adv = tf.clip_by_value(tf.clip_by_value(x_adv, x - 0.1, x + 0.1), 0.0, 1.0)
    return x_adv
'''),
    right("pgd_impl", "perturbation delta, re-projected every step",
          source=_PGD + '''    delta = tf.random.uniform(tf.shape(x), -eps, eps) if random_start else tf.zeros_like(x)
    delta = tf.clip_by_value(x + delta, 0.0, 1.0) - x
    for _ in range(steps):
        delta = tf.clip_by_value(delta + alpha * tf.sign(gradient(model, x + delta, y)), -eps, eps)
        delta = tf.clip_by_value(x + delta, 0.0, 1.0) - x
    return x + delta
'''),
    right("pgd_impl", "pixel range first, then tf.minimum/maximum for the ball",
          source=_PGD + _START + '''    lower, upper = tf.maximum(x - eps, 0.0), tf.minimum(x + eps, 1.0)
    for step in range(steps):
        x_adv = tf.clip_by_value(x_adv + alpha * tf.sign(gradient(model, x_adv, y)), 0.0, 1.0)
        x_adv = tf.minimum(tf.maximum(x_adv, lower), upper)
    return x_adv
'''),

    # Exercise 5: adversarial_train_step
    wrong("adversarial_train_step_impl", "trains on the clean batch", says="clean",
          source=_STEP + '''    x_adv = pgd(model, x, y, eps, alpha, steps)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, model(x, training=True),
                                                                          from_logits=True))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return loss, x_adv
'''),
    wrong("adversarial_train_step_impl", "summed loss", says="mean",
          source=_STEP + '''    x_adv = pgd(model, x, y, eps, alpha, steps)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(y, model(x_adv, training=True),
                                                                         from_logits=True))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return loss, x_adv
'''),
    wrong("adversarial_train_step_impl", "forgets the optimizer step", says="did not change",
          source=_STEP + '''    x_adv = pgd(model, x, y, eps, alpha, steps)
    loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, model(x_adv, training=True),
                                                                      from_logits=True))
    return loss, x_adv
'''),
    wrong("adversarial_train_step_impl", "PGD without its random start", says="random start",
          source=_STEP + '''    x_adv = pgd(model, x, y, eps, alpha, steps, random_start=False)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, model(x_adv, training=True),
                                                                          from_logits=True))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return loss, x_adv
'''),
    wrong("adversarial_train_step_impl", "returns the loss after the update", says="before the update",
          source=_STEP + '''    x_adv = pgd(model, x, y, eps, alpha, steps)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, model(x_adv, training=True),
                                                                          from_logits=True))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, model(x_adv), from_logits=True))
    return loss, x_adv
'''),
    wrong("adversarial_train_step_impl", "model called without training=True", says="training=True", gap=True,
          source=_STEP + '''    x_adv = pgd(model, x, y, eps, alpha, steps)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, model(x_adv), from_logits=True))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return loss, x_adv
'''),
    right("adversarial_train_step_impl", "keyword arguments and a loss object",
          source=_STEP + '''    x_adv = pgd(model, x, y, eps=eps, alpha=alpha, steps=steps, random_start=True)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(x_adv, training=True))
    optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
    return loss, x_adv
'''),

    # Exercise 6: eot_gradient
    wrong("eot_gradient_impl", "one draw, n_samples ignored", says="n_samples",
          source=_EOT + '''    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(y, model(transform(x)), from_logits=True))
    return tape.gradient(loss, x)
'''),
    wrong("eot_gradient_impl", "transform drawn once, reused for every sample", says="anew",
          source=_EOT + '''    with tf.GradientTape() as tape:
        tape.watch(x)
        x_t = transform(x)
        loss = 0.0
        for _ in range(n_samples):
            loss += tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(y, model(x_t), from_logits=True))
    return tape.gradient(loss, x) / n_samples
'''),
    wrong("eot_gradient_impl", "sum of the gradients, not the average", says="divide",
          source=_EOT + '''    total = tf.zeros_like(x)
    for _ in range(n_samples):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(y, model(transform(x)),
                                                                             from_logits=True))
        total += tape.gradient(loss, x)
    return total
'''),
    wrong("eot_gradient_impl", "gradient with respect to the transformed image", says="transformed",
          source=_EOT + '''    grads = [input_gradient(model, transform(x), y) for _ in range(n_samples)]
    return tf.add_n(grads) / n_samples
'''),
    wrong("eot_gradient_impl", "overwrites the total: keeps the last draw", says="last",
          source=_EOT + '''    for _ in range(n_samples):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(y, model(transform(x)),
                                                                             from_logits=True))
        total = tape.gradient(loss, x)
    return total
'''),
    right("eot_gradient_impl", "one tape, mean of the losses",
          source=_EOT + '''    with tf.GradientTape() as tape:
        tape.watch(x)
        losses = [tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(y, model(transform(x)),
                                                                            from_logits=True))
                  for _ in range(n_samples)]
        loss = tf.add_n(losses) / n_samples
    return tape.gradient(loss, x)
'''),
    right("eot_gradient_impl", "vectorised: the batch tiled n_samples times",
          source=_EOT + '''    with tf.GradientTape() as tape:
        tape.watch(x)
        x_t = transform(tf.tile(x, [n_samples, 1, 1, 1]))
        y_t = tf.tile(tf.convert_to_tensor(y), [n_samples])
        loss = tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(y_t, model(x_t), from_logits=True))
    return tape.gradient(loss, x) / n_samples
'''),
]
