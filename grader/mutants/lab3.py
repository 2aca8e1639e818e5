"""Lab 3 mutants: typical wrong answers, and right answers written another way."""

from grader.mutants import right, wrong

_KL = "0.5 * tf.reduce_sum(tf.exp(logvar) + tf.square(mu) - 1.0 - logvar, axis=-1)"
_RECON = "tf.reduce_mean(tf.abs(x - x_recon), axis=(1, 2, 3))"
_VAE_RETURN = "return reconstruction + kl_weight * kl_divergence(mu, logvar)"
_SAMPLE = "return mu + tf.exp(0.5 * logvar) * eps"
_DBVAE_RETURN = "return classification + y * vae_loss(x, x_recon, mu, logvar, kl_weight)"
_INVERSE = "w = 1.0 / (density[bin_of_face] + smoothing)"
_MEAN_LOSS = "loss = tf.reduce_mean(debiasing_loss(x, x_recon, y, y_logit, mu, logvar, kl_weight))"

MUTANTS = [
    # Exercise 1: kl_divergence
    wrong("kl_impl", "factor 1/2 left out", says="1/2", edits=[(_KL, _KL.removeprefix("0.5 * "))]),
    wrong("kl_impl", "mean over the latent dimensions", says="averaged",
          edits=[(_KL, _KL.replace("reduce_sum", "reduce_mean"))]),
    wrong("kl_impl", "standard deviation where the variance belongs", says="variance",
          edits=[(_KL, _KL.replace("tf.exp(logvar)", "tf.exp(0.5 * logvar)"))]),
    # Exercise 2: vae_loss
    wrong("vae_loss_impl", "squared reconstruction error", says="squared",
          edits=[(_RECON, _RECON.replace("tf.abs(x - x_recon)", "tf.square(x - x_recon)"))]),
    wrong("vae_loss_impl", "reconstruction summed over the pixels", says="summed",
          edits=[(_RECON, _RECON.replace("reduce_mean", "reduce_sum"))]),
    wrong("vae_loss_impl", "KL term not weighted", says="kl_weight",
          edits=[(_VAE_RETURN, "return reconstruction + kl_divergence(mu, logvar)")]),
    # Exercise 3: sample_latent
    wrong("sampling_impl", "variance multiplies the noise", says="standard deviation",
          edits=[(_SAMPLE, "return mu + tf.exp(logvar) * eps")]),
    wrong("sampling_impl", "no noise", says="do not vary", edits=[(_SAMPLE, "return mu + 0.0 * eps * logvar")]),
    wrong("sampling_impl", "mean left out", says="not mu", edits=[(_SAMPLE, "return tf.exp(0.5 * logvar) * eps")]),
    # Exercise 4: debiasing_loss
    wrong("dbvae_loss_impl", "VAE loss for every image", says="faces only",
          edits=[(_DBVAE_RETURN, "return classification + vae_loss(x, x_recon, mu, logvar, kl_weight)")]),
    wrong("dbvae_loss_impl", "sigmoid applied before the cross-entropy with logits", says="raw logit",
          edits=[("logits=y_logit)", "logits=tf.sigmoid(y_logit))")]),
    # Exercise 5: sampling_probabilities
    wrong("resampling_impl", "no smoothing", says="smoothing",
          edits=[(_INVERSE, "w = 1.0 / density[bin_of_face]")]),
    wrong("resampling_impl", "density instead of its inverse", says="sparse",
          edits=[(_INVERSE, "w = density[bin_of_face] + smoothing")]),
    wrong("resampling_impl", "outer edges left closed", says="open",
          edits=[("        edges[0], edges[-1] = -np.inf, np.inf\n", "")]),
    wrong("resampling_impl", "maximum of unnormalised weights", says="normalised",
          edits=[("np.maximum(probabilities, w / w.sum())", "np.maximum(probabilities, w)")]),
    # Exercise 6: dbvae_train_step
    wrong("train_step_impl", "sum of the losses instead of the mean", says="sum",
          edits=[(_MEAN_LOSS, _MEAN_LOSS.replace("reduce_mean", "reduce_sum"))]),
    wrong("train_step_impl", "gradients never applied", says="encoder",
          edits=[("    optimizer.apply_gradients(zip(grads, model.trainable_variables))\n", "")]),
    wrong("train_step_impl", "gradients applied to the encoder only", says="all of model.trainable_variables",
          edits=[("    grads = tape.gradient(loss, model.trainable_variables)\n"
                  "    optimizer.apply_gradients(zip(grads, model.trainable_variables))\n",
                  "    grads = tape.gradient(loss, model.encoder.trainable_variables)\n"
                  "    optimizer.apply_gradients(zip(grads, model.encoder.trainable_variables))\n")]),
    wrong("train_step_impl", "model called in inference mode", says="training=False",
          edits=[("model(x, training=True)", "model(x)")]),
    wrong("resampling_impl", "counts instead of the density", says="counts",
          edits=[("bins=bins, density=True)", "bins=bins)")]),
    # found by reading the public checks: contracts, numerics and arguments they did not test
    wrong("kl_impl", "KL in NumPy (no gradient, fails when traced)", says="tf.function", gap=True,
          edits=[(_KL, "0.5 * np.sum(np.exp(logvar) + np.square(mu) - 1.0 - logvar, axis=-1)")]),
    wrong("kl_impl", "log of the variance recomputed from exp(logvar)", says="NaN or infinity", gap=True,
          edits=[(_KL, _KL.replace("- 1.0 - logvar", "- 1.0 - tf.math.log(tf.exp(logvar))"))]),
    wrong("kl_impl", "gradient stopped at logvar", says="gradient", gap=True,
          edits=[(_KL, _KL.replace("tf.exp(logvar) + tf.square(mu) - 1.0 - logvar",
                                   "tf.exp(tf.stop_gradient(logvar)) + tf.square(mu) - 1.0 - logvar"))]),
    wrong("vae_loss_impl", "reconstruction in NumPy", says="tf.function", gap=True,
          edits=[(_RECON, "np.mean(np.abs(x - x_recon), axis=(1, 2, 3))")]),
    wrong("sampling_impl", "noise from np.random, fixed once traced", says="traced", gap=True,
          edits=[("eps = tf.random.normal(tf.shape(mu))", "eps = np.random.normal(size=mu.shape).astype(np.float32)")]),
    wrong("dbvae_loss_impl", "cross-entropy written from sigmoid, NaN for confident logits", says="NaN or infinity",
          gap=True, edits=[("classification = tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=y_logit)",
                            "p = tf.sigmoid(y_logit)\n"
                            "    classification = -(y * tf.math.log(p) + (1 - y) * tf.math.log(1 - p))")]),
    wrong("dbvae_loss_impl", "kl_weight not passed on to vae_loss", says="kl_weight", gap=True,
          edits=[(_DBVAE_RETURN, "return classification + y * vae_loss(x, x_recon, mu, logvar)")]),
    wrong("resampling_impl", "bins argument ignored", says="bins argument", gap=True,
          edits=[("bins=bins, density=True)", "bins=10, density=True)")]),
    wrong("resampling_impl", "faces on an inner edge put in the bin on the left", says="inner bin edge", gap=True,
          edits=[("np.digitize(mu[:, j], edges) - 1", "np.digitize(mu[:, j], edges, right=True) - 1")]),
    wrong("resampling_impl", "a Python list returned", says="NumPy array", gap=True,
          edits=[("    return probabilities / probabilities.sum()",
                  "    return list(probabilities / probabilities.sum())")]),
    wrong("train_step_impl", "loss.numpy() returned, which fails when traced", says="tf.function", gap=True,
          edits=[("    return loss\n", "    return loss.numpy()\n")]),
    wrong("train_step_impl", "kl_weight not passed on", says="kl_weight", gap=True,
          edits=[(_MEAN_LOSS, _MEAN_LOSS.replace(", kl_weight))", "))"))]),
    # right answers written another way
    right("kl_impl", "explicit variance and axis 1",
          edits=[(_KL, "0.5 * tf.reduce_sum(tf.math.exp(logvar) + mu * mu - logvar - 1, axis=1)")]),
    right("sampling_impl", "standard deviation as a square root",
          edits=[(_SAMPLE, "return mu + tf.sqrt(tf.exp(logvar)) * eps")]),
    right("resampling_impl", "bins from the inner edges",
          edits=[("        edges[0], edges[-1] = -np.inf, np.inf\n", ""),
                 ("np.digitize(mu[:, j], edges) - 1", "np.clip(np.digitize(mu[:, j], edges[1:-1]), 0, bins - 1)")]),
    right("kl_impl", "variance as the square of the standard deviation",
          edits=[(_KL, _KL.replace("tf.exp(logvar)", "tf.square(tf.exp(0.5 * logvar))"))]),
    right("sampling_impl", "static shape of mu",
          edits=[("tf.random.normal(tf.shape(mu))", "tf.random.normal(mu.shape)")]),
    right("dbvae_loss_impl", "VAE loss selected with tf.where",
          edits=[(_DBVAE_RETURN, "return classification + tf.where(y > 0.5, "
                                 "vae_loss(x, x_recon, mu, logvar, kl_weight), 0.0)")]),
    right("resampling_impl", "bins from np.searchsorted",
          edits=[("np.digitize(mu[:, j], edges) - 1", "np.searchsorted(edges, mu[:, j], side='right') - 1")]),
    right("train_step_impl", "optimizer.apply",
          edits=[("optimizer.apply_gradients(zip(grads, model.trainable_variables))",
                  "optimizer.apply(grads, model.trainable_variables)")]),
]
