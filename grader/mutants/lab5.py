"""Lab 5 mutants: typical wrong answers, and right answers written another way."""

from grader.mutants import right, wrong

_NLL = '''def gaussian_nll(y, mean, log_var):
    """Mean Gaussian negative log-likelihood."""
'''
_SAMPLES = '''def mc_dropout_samples(model, x, T):
    """T stochastic forward passes with dropout active: (T, N, D)."""
'''
_SAMPLES_LOOP = _SAMPLES + "    return np.stack([np.asarray(model(x, training=True)) for _ in range(T)])\n"
_PREDICT = '''

def mc_dropout_predict(model, x, T):
    """MC-dropout mean and variance of the outputs: two NumPy arrays of shape (N, D)."""
    samples = mc_dropout_samples(model, x, T)
'''
_PREDICT_RIGHT = _PREDICT + '''    mean = samples.mean(axis=0)
    return mean, np.maximum((samples**2).mean(axis=0) - mean**2, 0.0)
'''
_ENTROPY = '''def predictive_entropy(probs):
    """Entropy in nats along the last axis."""
    probs = np.asarray(probs, dtype=np.float64)
'''
_MI = '''def mutual_information(prob_samples):
    """Mutual information between prediction and weights, from MC-dropout samples (T, N, K) -> (N,)."""
    p = np.asarray(prob_samples, dtype=np.float64)
'''
_AUROC = '''def auroc(scores_in, scores_out):
    """Area under the ROC curve for flagging OOD inputs by a higher score."""
    a = np.asarray(scores_in, dtype=np.float64).ravel()
    b = np.asarray(scores_out, dtype=np.float64).ravel()
'''
_ECE = '''def expected_calibration_error(probs, labels, n_bins=15):
    """Expected calibration error."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels).ravel()
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
'''
_ECE_SUM = '''    ece = 0.0
    for b in range(n_bins):
        m = bins == b
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - confidence[m].mean())
    return float(ece)
'''

MUTANTS = [
    # Exercise 1: gaussian_nll
    wrong("gaussian_nll_impl", "factor 1/2 left out", says="1/2",
          source=_NLL + "    r2 = (y - mean) ** 2\n"
                        "    return tf.reduce_mean(np.log(2 * np.pi) + log_var + r2 * tf.exp(-log_var))\n"),
    wrong("gaussian_nll_impl", "log variance used as the variance (no exp)", says="exp",
          source=_NLL + "    r2 = (y - mean) ** 2\n"
                        "    return tf.reduce_mean(0.5 * (np.log(2 * np.pi) + log_var + r2 / log_var))\n"),
    wrong("gaussian_nll_impl", "multiplies by the variance", says="exp",
          source=_NLL + "    r2 = (y - mean) ** 2\n"
                        "    return tf.reduce_mean(0.5 * (np.log(2 * np.pi) + log_var + r2 * tf.exp(log_var)))\n"),
    wrong("gaussian_nll_impl", "log-variance term forgotten", says="log-variance",
          source=_NLL + "    return tf.reduce_mean(0.5 * (np.log(2 * np.pi) + (y - mean) ** 2 / tf.exp(log_var)))\n"),
    wrong("gaussian_nll_impl", "written in NumPy: no gradient", says="TensorFlow",
          source=_NLL + '''    y, mean, log_var = np.asarray(y), np.asarray(mean), np.asarray(log_var)
    return np.mean(0.5 * (np.log(2 * np.pi) + log_var + (y - mean) ** 2 / np.exp(log_var)))
'''),
    wrong("gaussian_nll_impl", "element count read with .numpy(): breaks the compiled training step",
          says="tf.function", gap=True,
          source=_NLL + '''    n = int(tf.size(y).numpy())
    return tf.reduce_sum(0.5 * (np.log(2 * np.pi) + log_var + tf.square(y - mean) * tf.exp(-log_var))) / n
'''),
    right("gaussian_nll_impl", "variance first, tf.math.log for the constant",
          source=_NLL + '''    var = tf.exp(log_var)
    nll = 0.5 * tf.math.log(2 * np.pi * var) + 0.5 * tf.square(y - mean) / var
    return tf.reduce_mean(nll)
'''),

    # Exercise 2: mc_dropout_samples and mc_dropout_predict
    wrong("mc_dropout_impl", "dropout off at prediction (training=False)", says="dropout is off",
          source=_SAMPLES + "    return np.stack([np.asarray(model(x, training=False)) for _ in range(T)])\n"
          + _PREDICT_RIGHT),
    wrong("mc_dropout_impl", "model.predict in the loop", says="training=True",
          source=_SAMPLES + "    return np.stack([model.predict(x) for _ in range(T)])\n" + _PREDICT_RIGHT),
    wrong("mc_dropout_impl", "passes concatenated instead of stacked", says="stack",
          source=_SAMPLES + "    return np.concatenate([np.asarray(model(x, training=True)) for _ in range(T)])\n"
          + _PREDICT_RIGHT),
    wrong("mc_dropout_impl", "standard deviation instead of variance", says="standard deviation",
          source=_SAMPLES_LOOP + _PREDICT + "    return samples.mean(axis=0), samples.std(axis=0)\n"),
    wrong("mc_dropout_impl", "unbiased variance (T-1)", says="T-1",
          source=_SAMPLES_LOOP + _PREDICT + "    return samples.mean(axis=0), samples.var(axis=0, ddof=1)\n"),
    wrong("mc_dropout_impl", "mean over the inputs instead of the passes", says="axis 0",
          source=_SAMPLES_LOOP + _PREDICT + "    return samples.mean(axis=1), samples.var(axis=1)\n"),
    wrong("mc_dropout_impl", "samples stacked as a tensor, not a NumPy array", says="NumPy array", gap=True,
          source=_SAMPLES + "    return tf.stack([model(x, training=True) for _ in range(T)])\n" + _PREDICT
          + "    samples = np.asarray(samples)\n    mean = samples.mean(axis=0)\n"
            "    return mean, np.maximum((samples**2).mean(axis=0) - mean**2, 0.0)\n"),
    wrong("mc_dropout_impl", "variance not clamped: rounds below zero where the passes agree", says="negative",
          gap=True, source=_SAMPLES_LOOP + _PREDICT + "    mean = samples.mean(axis=0)\n"
                                                     "    return mean, (samples**2).mean(axis=0) - mean**2\n"),
    wrong("mc_dropout_impl", "mean and variance returned as tensors", says="NumPy array", gap=True,
          source=_SAMPLES_LOOP + _PREDICT
          + "    return tf.reduce_mean(samples, axis=0), tf.math.reduce_variance(samples, axis=0)\n"),
    right("mc_dropout_impl", "vectorised: the batch tiled T times, one forward pass",
          source=_SAMPLES + '''    x = np.asarray(x)
    out = np.asarray(model(np.tile(x, (T,) + (1,) * (x.ndim - 1)), training=True))
    return out.reshape(T, x.shape[0], *out.shape[1:])
''' + _PREDICT + "    return samples.mean(axis=0), samples.var(axis=0)\n"),
    right("mc_dropout_impl", "list of passes, then np.var",
          source=_SAMPLES + '''    outputs = []
    for t in range(T):
        out = model(x, training=True)
        outputs.append(np.array(out))
    return np.array(outputs)
''' + _PREDICT + "    return samples.mean(0), np.var(samples, axis=0)\n"),

    # Exercise 3: predictive_entropy
    wrong("predictive_entropy_impl", "log2 instead of natural log", says="natural logarithm",
          source=_ENTROPY + "    return -np.sum(probs * np.log2(np.clip(probs, 1e-12, 1.0)), axis=-1)\n"),
    wrong("predictive_entropy_impl", "0 log 0 gives NaN", says="0 log 0",
          source=_ENTROPY + "    return -np.sum(probs * np.log(probs), axis=-1)\n"),
    wrong("predictive_entropy_impl", "sign forgotten", says="sign",
          source=_ENTROPY + "    return np.sum(probs * np.log(np.clip(probs, 1e-12, 1.0)), axis=-1)\n"),
    wrong("predictive_entropy_impl", "scipy.stats.entropy", says="stats.entropy",
          source=_ENTROPY + "    return scipy.stats.entropy(probs, axis=-1)\n"),
    wrong("predictive_entropy_impl", "scipy.stats.entropy looked up by name", says="scipy.stats.entropy", gap=True,
          source=_ENTROPY + "    return getattr(scipy.stats, 'entr' + 'opy')(probs, axis=-1)\n"),
    right("predictive_entropy_impl", "np.where for 0 log 0",
          source=_ENTROPY + '''    logs = np.log(np.where(probs > 0, probs, 1.0))
    return -(probs * logs).sum(-1)
'''),

    # Exercise 4: mutual_information
    wrong("mutual_information_impl", "sign reversed", says="sign",
          source=_MI + "    return predictive_entropy(p).mean(axis=0) - predictive_entropy(p.mean(axis=0))\n"),
    wrong("mutual_information_impl", "only the predictive entropy", says="subtract",
          source=_MI + "    return predictive_entropy(p.mean(axis=0))\n"),
    wrong("mutual_information_impl", "averages over the inputs, not the passes", says="axis 0",
          source=_MI + "    return predictive_entropy(p.mean(axis=1)) - predictive_entropy(p).mean(axis=1)\n"),
    right("mutual_information_impl", "written out with np.log, no helper",
          source=_MI + '''    mean = p.mean(axis=0)
    h_mean = -np.sum(mean * np.log(np.clip(mean, 1e-12, None)), axis=-1)
    h_each = -np.sum(p * np.log(np.clip(p, 1e-12, None)), axis=-1)
    return h_mean - h_each.mean(axis=0)
'''),

    # Exercise 5: auroc
    wrong("auroc_impl", "ties not counted", says="ties",
          source=_AUROC + "    return float((b[:, None] > a[None, :]).mean())\n"),
    wrong("auroc_impl", "in-distribution as the positive class", says="positive class",
          source=_AUROC + "    greater, ties = (a[:, None] > b[None, :]).mean(), (a[:, None] == b[None, :]).mean()\n"
                          "    return float(greater + 0.5 * ties)\n"),
    wrong("auroc_impl", "sklearn roc_auc_score", says="roc_auc_score",
          source="from sklearn.metrics import roc_auc_score\n\n\n" + _AUROC
          + "    return float(roc_auc_score(np.r_[np.zeros(len(a)), np.ones(len(b))], np.r_[a, b]))\n"),
    wrong("auroc_impl", "ordinal ranks break ties", says="ties",
          source=_AUROC + '''    ranks = scipy.stats.rankdata(np.concatenate([a, b]), method="ordinal")
    return float((ranks[len(a):].sum() - len(b) * (len(b) + 1) / 2) / (len(a) * len(b)))
'''),
    wrong("auroc_impl", "roc_auc_score imported through importlib", says="roc_auc_score", gap=True,
          source=_AUROC + "    metrics = __import__('importlib').import_module('sklearn.metrics')\n"
                          "    score = getattr(metrics, 'roc_auc' + '_score')\n"
                          "    return float(score(np.r_[np.zeros(len(a)), np.ones(len(b))], np.r_[a, b]))\n"),
    right("auroc_impl", "pairwise comparison with broadcasting",
          source=_AUROC + '''    greater = (b[:, None] > a[None, :]).sum()
    ties = (b[:, None] == a[None, :]).sum()
    return float((greater + 0.5 * ties) / (a.size * b.size))
'''),

    # Exercise 6: expected_calibration_error
    wrong("ece_impl", "bins not weighted by their size", says="|B_b| / N",
          source=_ECE + '''    gaps = [abs(correct[bins == b].mean() - confidence[bins == b].mean())
            for b in range(n_bins) if np.any(bins == b)]
    return float(np.mean(gaps))
'''),
    wrong("ece_impl", "signed gaps", says="absolute",
          source=_ECE + '''    ece = 0.0
    for b in range(n_bins):
        m = bins == b
        if m.any():
            ece += m.mean() * (correct[m].mean() - confidence[m].mean())
    return float(ece)
'''),
    wrong("ece_impl", "n_bins ignored (always 15)", says="n_bins",
          source=_ECE.replace("confidence * n_bins).astype(int) - 1, 0, n_bins - 1)",
                              "confidence * 15).astype(int) - 1, 0, 14)") + '''    ece = 0.0
    for b in range(15):
        m = bins == b
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - confidence[m].mean())
    return float(ece)
'''),
    wrong("ece_impl", "confidence of the true class", says="largest predicted probability",
          source=_ECE.replace("confidence = probs.max(axis=1)",
                              "confidence = probs[np.arange(len(labels)), labels]") + '''    ece = 0.0
    for b in range(n_bins):
        m = bins == b
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - confidence[m].mean())
    return float(ece)
'''),
    wrong("ece_impl", "left-closed bins (floor)", says="right-closed", gap=True,
          source=_ECE.replace("np.ceil(confidence * n_bins).astype(int) - 1",
                              "np.floor(confidence * n_bins).astype(int)") + _ECE_SUM),
    wrong("ece_impl", "np.digitize with its default left-closed bins", says="right-closed", gap=True,
          source=_ECE.replace("np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)",
                              "np.clip(np.digitize(confidence, np.linspace(0, 1, n_bins + 1)) - 1, 0, n_bins - 1)")
          + _ECE_SUM),
    right("ece_impl", "np.digitize with right=True",
          source=_ECE.replace("np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)",
                              "np.clip(np.digitize(confidence, np.linspace(0, 1, n_bins + 1), right=True) - 1, 0, "
                              "n_bins - 1)") + _ECE_SUM),
    right("ece_impl", "bin edges with np.linspace and a mask per bin",
          source='''def expected_calibration_error(probs, labels, n_bins=15):
    """Expected calibration error."""
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels).ravel()
    conf, pred = probs.max(1), probs.argmax(1)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        if lo == 0.0:
            m |= conf == 0.0
        if m.sum() > 0:
            total += m.sum() / len(conf) * abs((pred[m] == labels[m]).mean() - conf[m].mean())
    return float(total)
'''),
]
