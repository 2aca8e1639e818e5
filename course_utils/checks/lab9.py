"""Public checks of Lab 9 (graph convolutional networks on Cora).

Each check runs the student's code on small graphs whose answers are computed here with dense
NumPy references (a few nodes, isolated nodes, repeated and one-way links), and names the mistake
when the result matches a typical wrong formula. Layers and models are judged by behaviour
(outputs for weights set here, dropout on and off) and by their configuration; training code is
judged with reference models and with scripted stand-ins whose losses the check knows. The
diagnoses are shared with the hidden checks. TensorFlow is imported inside the functions.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Sequence

import numpy as np

from course_utils.checks import public_check, require, require_no_shortcut, with_references
from course_utils.graphs import Graph

ADJACENCY_SHORTCUTS = {
    "networkx": "graph libraries are not allowed: build the operator with NumPy and tf.sparse",
    "scipy.sparse": "build the operator with NumPy and tf.sparse, not scipy.sparse",
    "torch_geometric": "graph libraries are not allowed: build the operator with NumPy and tf.sparse",
    "spektral": "graph libraries are not allowed: build the operator with NumPy and tf.sparse",
    "tensorflow_gnn": "graph libraries are not allowed: build the operator with NumPy and tf.sparse",
    "tensorflow.sparse.from_dense": "a dense N x N matrix is what the sparse operator avoids: build the SparseTensor "
                                    "from the indices and values of the nonzero entries",
    "tensorflow.eye": "a dense identity is N x N: add the self-loops as N more (i, i) entries",
    "tensorflow.linalg.diag": "a dense diagonal is N x N: scale the values of the entries instead",
}
CONV_SHORTCUTS = {
    "sparse.to_dense": "multiply with the sparse operator itself (tf.sparse.sparse_dense_matmul); a dense N x N "
                       "adjacency is what the sparse operator avoids",
    "spektral": "graph libraries are not allowed: write the layer with tf.sparse and tf.matmul",
    "tensorflow_gnn": "graph libraries are not allowed: write the layer with tf.sparse and tf.matmul",
}
PCA_SHORTCUTS = {"sklearn": "write PCA with np.linalg.svd, not scikit-learn",
                 "decomposition.PCA": "write PCA with np.linalg.svd, not scikit-learn (sklearn)",
                 "manifold.TSNE": "write PCA with np.linalg.svd, not scikit-learn (sklearn)"}
DENSE_BYTES = 2  # a dense N x N array of any float type needs at least 2 bytes per entry


def _tf():
    import tensorflow as tf

    return tf


# ---------------------------------------------------------------- graphs and references


def random_graph(n: int, m: int, seed: int, *, self_links: int = 0, repeats: int = 0, isolated: int = 0) -> np.ndarray:
    """Edges (2, M) of a random graph on ``n`` nodes: ``m`` one-way links between the first ``n - isolated`` nodes
    (each listed once, from one end), plus ``self_links`` links from a node to itself and ``repeats`` links listed
    again (half of them from the other end)."""
    rng = np.random.default_rng(seed)
    linked = n - isolated
    if m > linked * (linked - 1) // 2:
        raise ValueError(f"{linked} linked nodes have at most {linked * (linked - 1) // 2} links, not {m}")
    pairs = set()
    while len(pairs) < m:
        i, j = rng.choice(linked, size=2, replace=False)
        if (j, i) not in pairs:
            pairs.add((int(i), int(j)))
    pairs = sorted(pairs)
    listed = [pairs[k] for k in rng.permutation(len(pairs))]
    again = [listed[k] if k % 2 else listed[k][::-1] for k in range(repeats)]
    loops = [(int(i), int(i)) for i in rng.choice(linked, size=self_links, replace=False)]
    return np.array(listed + again + loops, dtype=np.int64).reshape(-1, 2).T


def _normalise(a: np.ndarray, degree: np.ndarray, left: float, right: float) -> np.ndarray:
    with np.errstate(divide="ignore"):
        scale_left = np.where(degree > 0, degree, np.inf) ** -left
        scale_right = np.where(degree > 0, degree, np.inf) ** -right
    return scale_left[:, None] * a * scale_right[None, :]


def link_matrix(edges, n: int, *, both_ways: bool = True, count_repeats: bool = False,
                keep_self_links: bool = False) -> np.ndarray:
    """The (n, n) float64 adjacency A of the listed links; by default symmetric, 0/1, without self-links."""
    edges = np.asarray(edges, dtype=np.int64).reshape(2, -1)
    a = np.zeros((n, n))
    src, dst = edges
    keep = np.ones(len(src), dtype=bool) if keep_self_links else src != dst
    np.add.at(a, (src[keep], dst[keep]), 1.0)
    if both_ways:
        a = a + a.T - np.diag(np.diag(a))
    return a if count_repeats else np.minimum(a, 1.0)


def reference_adjacency(edges, n: int) -> np.ndarray:
    """D^-1/2 (A + I) D^-1/2 as a dense (n, n) float64 array; D holds the degrees of A + I."""
    a = link_matrix(edges, n) + np.eye(n)
    return _normalise(a, a.sum(axis=1), 0.5, 0.5)


def sparse_parts(operator) -> tuple[str, np.ndarray, np.ndarray, tuple[int, ...], str]:
    """What a graph operator is: (type name, indices (K, 2), values (K,), dense shape, dtype name).

    Indices and values are empty unless ``operator`` is a ``tf.sparse.SparseTensor``.
    """
    tf = _tf()
    if isinstance(operator, tf.sparse.SparseTensor):
        return ("SparseTensor", operator.indices.numpy().astype(np.int64), operator.values.numpy().astype(np.float64),
                tuple(int(d) for d in operator.dense_shape.numpy()), operator.dtype.name)
    return (type(operator).__name__, np.zeros((0, 2), np.int64), np.zeros(0), tuple(np.shape(operator)), "")


def densify(indices, values, n: int) -> np.ndarray:
    """The (n, n) array of a sparse operator's entries; repeated indices add up, as in a sparse product."""
    dense = np.zeros((n, n))
    indices = np.asarray(indices, dtype=np.int64).reshape(-1, 2)
    if len(indices) and (indices.min() < 0 or indices.max() >= n):
        return np.full((n, n), np.nan)
    np.add.at(dense, (indices[:, 0], indices[:, 1]), np.asarray(values, dtype=np.float64))
    return dense


def _adjacency_variants(edges, n: int) -> list[tuple[np.ndarray, str]]:
    a = link_matrix(edges, n)
    loops = a + np.eye(n)
    degree = loops.sum(axis=1)
    repeated = link_matrix(edges, n, count_repeats=True) + np.eye(n)
    doubled = link_matrix(edges, n, keep_self_links=True) + np.eye(n)
    return [
        (_normalise(a, a.sum(axis=1), 0.5, 0.5), "the self-loops are missing: normalise A + I, not A"),
        (_normalise(loops, degree, 1.0, 0.0), "this is the row normalisation D^-1 (A + I): normalise both sides, "
                                              "D^-1/2 (A + I) D^-1/2"),
        (_normalise(loops, degree, 0.0, 1.0), "this is the column normalisation (A + I) D^-1: normalise both sides, "
                                              "D^-1/2 (A + I) D^-1/2"),
        (_normalise(loops, degree, 0.5, 0.0), "only one side is multiplied by D^-1/2: normalise both sides"),
        (_normalise(loops, degree, 0.0, 0.5), "only one side is multiplied by D^-1/2: normalise both sides"),
        (loops, "the operator is not normalised: multiply A + I by D^-1/2 on both sides"),
        (_normalise(loops, a.sum(axis=1), 0.5, 0.5), "the degrees must count the self-loop: D is the degree matrix of "
                                                     "A + I (an isolated node has degree 1)"),
        (_normalise(repeated, repeated.sum(axis=1), 0.5, 0.5), "a link listed twice is counted twice: repeated "
                                                               "links count once (A holds 0 or 1)"),
        (_normalise(doubled, doubled.sum(axis=1), 0.5, 0.5), "a link from a node to itself doubled its self-loop: "
                                                             "A has no self-links, the self-loop is the I of A + I"),
    ]


def diagnose_adjacency(parts, edges, n: int) -> str | None:
    """Name the mistake of ``normalized_adjacency(edges, n)`` described by :func:`sparse_parts` (None: right)."""
    kind, indices, values, shape, dtype = parts
    if kind != "SparseTensor":
        return (f"normalized_adjacency returned a {kind}: return a tf.sparse.SparseTensor (a dense N x N matrix is "
                "what the sparse operator avoids)")
    if tuple(shape) != (n, n):
        return f"for {n} nodes the operator has shape {tuple(shape)}, expected ({n}, {n})"
    if dtype != "float32":
        return f"the operator's values are {dtype}: use float32, the dtype of the features and weights"
    got = densify(indices, values, n)
    if not np.all(np.isfinite(got)):
        return ("the operator has NaN or infinite entries: the degrees must count the self-loop (in A + I an "
                "isolated node has degree 1, never 0)")
    expected = reference_adjacency(edges, n)
    if np.allclose(got, expected, atol=1e-5):
        return None
    for variant, message in _adjacency_variants(edges, n):
        if np.all(np.isfinite(variant)) and np.allclose(got, variant, atol=1e-5):
            return message
    if np.all(np.isfinite(got)) and not np.allclose(got, got.T, atol=1e-5):
        return ("the operator is not symmetric: a citation links both papers, so every listed link (i, j) gives the "
                "entries (i, j) and (j, i)")
    return "normalized_adjacency differs from D^-1/2 (A + I) D^-1/2 (A symmetric, 0/1, no self-links)"


def dense_memory_problem(normalized_adjacency: Callable, n: int = 3000) -> str | None:
    """A problem when building the operator of an ``n``-node chain allocates an ``n x n`` NumPy array, else None."""
    edges = np.stack([np.arange(n - 1), np.arange(1, n)]).astype(np.int64)
    tracemalloc.start()
    try:
        normalized_adjacency(edges, n)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    if peak >= DENSE_BYTES * n * n:
        return (f"for a chain of {n} nodes normalized_adjacency allocated {peak / 2**20:.0f} MiB, as much as a dense "
                f"{n} x {n} array: keep only the nonzero entries (a few per node), never an N x N array")
    return None


# ---------------------------------------------------------------- reference layer and model


def _keras():
    import keras

    return keras


def reference_conv(features, operator: np.ndarray, kernel, bias, relu: bool = False) -> np.ndarray:
    """Â H W + b (then ReLU when ``relu``), dense NumPy float64: (N, F) -> (N, units)."""
    out = operator @ (np.asarray(features, np.float64) @ np.asarray(kernel, np.float64)) + np.asarray(bias, np.float64)
    return np.maximum(out, 0.0) if relu else out


def reference_gcn(num_features: int, num_classes: int, hidden: int = 8, num_layers: int = 2, dropout: float = 0.0,
                  seed: int = 0):
    """A built reference GCN (Keras model): ``model(features, adjacency, training=...)`` -> logits (N, classes).

    ``model.convs`` holds its layers (each with ``kernel`` (F, units) and ``bias`` (units,)); dropout comes before
    every layer; ReLU after every layer but the last.
    """
    keras, tf = _keras(), _tf()

    class Conv(keras.layers.Layer):
        def __init__(self, units, relu):
            super().__init__()
            self.units, self.relu = units, relu

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform")
            self.bias = self.add_weight(shape=(self.units,), initializer="random_normal")

        def call(self, inputs, adjacency):
            out = tf.sparse.sparse_dense_matmul(adjacency, tf.matmul(inputs, self.kernel)) + self.bias
            return tf.nn.relu(out) if self.relu else out

    class Reference(keras.Model):
        def __init__(self):
            super().__init__()
            self.drop = keras.layers.Dropout(dropout)
            self.convs = [Conv(hidden, True) for _ in range(num_layers - 1)] + [Conv(num_classes, False)]

        def call(self, features, adjacency, training=False):
            h = features
            for conv in self.convs:
                h = conv(self.drop(h, training=training), adjacency)
            return h

    keras.utils.set_random_seed(seed)
    model = Reference()
    model(np.zeros((2, num_features), np.float32), tf.sparse.eye(2))
    return model


class RecordingModel:
    """Wraps a model and records the ``training`` argument of every call (as text); ``convs`` and the variables
    are the wrapped model's."""

    def __init__(self, model):
        self.model, self.trainings = model, []
        self.convs = model.convs

    def __call__(self, features, adjacency, training=False):
        self.trainings.append(str(training))
        return self.model(features, adjacency, training=training)

    @property
    def trainable_variables(self):
        return self.model.trainable_variables

    @property
    def trainable_weights(self):
        return self.model.trainable_weights

    def get_weights(self):
        return self.model.get_weights()

    def set_weights(self, weights):
        self.model.set_weights(weights)


def small_problem(seed: int, n: int = 9, features: int = 5, classes: int = 3) -> dict:
    """A small graph classification problem: features (n, F) float32, labels (n,) int64, a mask (n,) bool of
    about half the nodes, edges (2, M) and the dense reference operator (n, n)."""
    rng = np.random.default_rng(seed)
    edges = random_graph(n, min(2 * n, (n - 1) * (n - 2) // 2), seed, isolated=1)
    mask = np.zeros(n, dtype=bool)
    mask[rng.choice(n, size=n // 2, replace=False)] = True
    return {"features": rng.normal(size=(n, features)).astype(np.float32),
            "labels": rng.integers(0, classes, size=n).astype(np.int64), "mask": mask, "edges": edges,
            "operator": reference_adjacency(edges, n)}


def sparse_operator(dense: np.ndarray):
    """A float32 ``tf.sparse.SparseTensor`` holding the nonzero entries of a small dense (n, n) operator."""
    tf = _tf()
    rows, cols = np.nonzero(dense)
    return tf.sparse.SparseTensor(np.stack([rows, cols], 1).astype(np.int64), dense[rows, cols].astype(np.float32),
                                  dense.shape)


# ---------------------------------------------------------------- diagnoses shared with the hidden checks


def conv_output(GraphConv, features, operator: np.ndarray, kernel, bias, activation) -> dict:
    """A ``GraphConv(units, activation)`` built on ``features``: its weights' shapes, its config's units and its
    output once its weights are set to ``kernel`` and ``bias`` (None when the shapes do not allow it)."""
    units = np.shape(kernel)[1]
    layer = GraphConv(units, activation=activation)
    adjacency = sparse_operator(operator)
    layer(features, adjacency)
    shapes = [list(np.shape(w)) for w in layer.get_weights()]
    output = None
    if shapes == [list(np.shape(kernel)), list(np.shape(bias))]:
        layer.set_weights([np.asarray(kernel, np.float32), np.asarray(bias, np.float32)])
        output = np.asarray(layer(features, adjacency))
    return {"shapes": shapes, "units": layer.get_config().get("units"), "output": output}


def conv_gradients(GraphConv, features, operator: np.ndarray, units: int = 3) -> list:
    """Gradients of sum(GraphConv(units)(features, Â)^2) with respect to the layer's trainable variables (None
    where none flows)."""
    tf = _tf()
    layer = GraphConv(units)
    adjacency = sparse_operator(operator)
    layer(features, adjacency)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(features, adjacency) ** 2)
    return [None if g is None else g.numpy() for g in tape.gradient(loss, layer.trainable_variables)]


def initial_weights(GraphConv, fan_in: int, units: int) -> list:
    """The weights of a fresh ``GraphConv(units)`` built on ``fan_in`` features, before any training."""
    layer = GraphConv(units)
    layer(np.zeros((2, fan_in), np.float32), sparse_operator(np.eye(2)))
    return layer.get_weights()


def init_problem(weights: list, fan_in: int, units: int) -> str | None:
    """Name a fresh GraphConv whose kernel (fan_in, units) is not Glorot-uniform or whose bias is not zeros (None:
    right; weights of other shapes are left to the output checks)."""
    if [np.shape(w) for w in weights] != [(fan_in, units), (units,)]:
        return None
    kernel, bias = (np.asarray(w, np.float64) for w in weights)
    limit = np.sqrt(6 / (fan_in + units))
    if np.any(bias != 0):
        return "GraphConv's bias must start at zeros (initializer=\"zeros\")"
    if np.abs(kernel).max() > limit + 1e-6 or abs(kernel.std() * np.sqrt(3) / limit - 1) > 0.1:
        return (f"GraphConv's kernel must start Glorot-uniform, uniform on +-sqrt(6 / (F_in + units)): a fresh "
                f"({fan_in}, {units}) kernel should stay within +-{limit:.3f} with standard deviation "
                f"{limit / np.sqrt(3):.3f}; yours reaches {np.abs(kernel).max():.3f} with {kernel.std():.3f}")
    return None


def conv_problem(out: dict, features, operator: np.ndarray, kernel, bias, relu: bool) -> str | None:
    """Name the mistake of a GraphConv from :func:`conv_output` for known weights (None: right)."""
    expected_shapes = [list(np.shape(kernel)), list(np.shape(bias))]
    if len(out["shapes"]) != 2:
        return (f"GraphConv has {len(out['shapes'])} weights: it needs a kernel W (F, units) and a bias b (units,), "
                "created in build")
    if [list(s) for s in out["shapes"]] != expected_shapes:
        return (f"GraphConv's weights have shapes {out['shapes']}, expected {expected_shapes} (the kernel (F, units) "
                "first, then the bias)")
    if out["units"] != np.shape(kernel)[1]:
        return "GraphConv.get_config() must hold 'units' (the model is read from its configuration)"
    expected = reference_conv(features, operator, kernel, bias, relu)
    try:
        got = np.asarray(out["output"], dtype=np.float64)
    except (TypeError, ValueError) as error:
        return f"GraphConv must return a tensor ({error})"
    if got.shape != expected.shape:
        return f"GraphConv returned shape {got.shape}, expected {expected.shape}: (N nodes, units)"
    if np.allclose(got, expected, atol=1e-4):
        return None
    activate = (lambda out: np.maximum(out, 0.0)) if relu else (lambda out: out)
    variants = [
        (reference_conv(features, np.eye(len(operator)), kernel, bias, relu),
         "the graph operator is not applied: the layer computes H W + b; multiply by Â (the adjacency argument)"),
        (reference_conv(features, operator, kernel, np.zeros_like(bias), relu),
         "the bias b is missing: add it after the product with Â"),
        (activate(operator @ (np.asarray(features, np.float64) @ kernel + bias)),
         "the bias is added before the product with Â: compute Â H W, then add b"),
        (reference_conv(features, operator, kernel, bias, not relu),
         "the activation is not honoured: apply the activation given to the layer (None: no activation)"),
    ]
    for value, message in variants:
        if np.allclose(got, value, atol=1e-4):
            return message
    return "GraphConv differs from activation(Â H W + b)"



def reference_masked_cross_entropy(labels, logits, mask) -> float:
    """Mean over the masked nodes of -log softmax(logits)[label]."""
    logits = np.asarray(logits, np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    nll = -log_probs[np.arange(len(logits)), np.asarray(labels)]
    return float(nll[np.asarray(mask, bool)].mean())


def diagnose_masked_cross_entropy(got, labels, logits, mask) -> str | None:
    """Name the mistake of ``masked_cross_entropy(labels, logits, mask)`` (None: right)."""
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError) as error:
        return f"masked_cross_entropy must return one number ({error})"
    if got.ndim != 0:
        return f"masked_cross_entropy returned shape {got.shape}: return one number, the mean over the masked nodes"
    mask = np.asarray(mask, bool)
    expected = reference_masked_cross_entropy(labels, logits, mask)
    if abs(got - expected) <= 1e-4 * max(1.0, abs(expected)):
        return None
    everyone = reference_masked_cross_entropy(labels, logits, np.ones_like(mask))
    probs = np.exp(np.asarray(logits, np.float64))
    probs /= probs.sum(axis=1, keepdims=True)
    variants = [
        (everyone, "the loss averages over every node: it reads labels it must not; average over the masked "
                   "(labelled) nodes only"),
        (expected * mask.sum(), "the loss is the sum over the masked nodes: return the mean"),
        (expected * mask.sum() / len(mask), "the loss divides by all N nodes: divide by the number of masked nodes"),
        (reference_masked_cross_entropy(labels, probs, mask), "softmax is applied twice: the model outputs logits, "
                                                              "use the cross-entropy from logits"),
    ]
    for value, message in variants:
        if abs(got - value) <= 1e-4 * max(1.0, abs(value)):
            return message
    return "masked_cross_entropy differs from the mean over the masked nodes of -log softmax(logits)[label]"


def step_updates(train_step: Callable, problem: dict, weight_decay: float, seed: int = 0) -> dict:
    """One ``train_step`` with SGD (learning rate 1) on a reference GCN without dropout, in a recording wrapper.

    Returns ``before`` (the variables before the step), ``updates`` (their change), ``loss`` (what train_step
    returned, NaN for None) and ``trainings`` (the recorded ``training`` arguments).
    """
    keras = _keras()
    model = reference_gcn(problem["features"].shape[1], int(problem["labels"].max()) + 1, seed=seed)
    before = [v.numpy().copy() for v in model.trainable_variables]
    recording = RecordingModel(model)
    loss = train_step(recording, keras.optimizers.SGD(1.0), problem["features"],
                      sparse_operator(problem["operator"]), problem["labels"], problem["mask"], weight_decay)
    return {"before": before, "updates": [v.numpy() - b for v, b in zip(model.trainable_variables, before)],
            "loss": float(np.asarray(loss)) if loss is not None else float("nan"), "trainings": recording.trainings}


def expected_updates(problem: dict, weight_decay: float, before: list, *, decay_all: bool = False,
                     half: bool = True, decay: bool = True, mask: np.ndarray | None = None
                     ) -> tuple[list[np.ndarray], float]:
    """What one SGD step (rate 1) from the variables ``before`` on CE(masked) + weight_decay/2 ||W1||^2 does (and
    the variants the options name): the updates and the loss."""
    tf = _tf()
    model = reference_gcn(problem["features"].shape[1], int(problem["labels"].max()) + 1)
    model.set_weights([np.asarray(b, np.float32) for b in before])
    mask = problem["mask"] if mask is None else mask
    kernels = [conv.kernel for conv in model.convs] if decay_all else [model.convs[0].kernel]
    with tf.GradientTape() as tape:
        logits = model(problem["features"], sparse_operator(problem["operator"]))
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(problem["labels"][mask], logits[mask]))
        if decay:
            loss += weight_decay * (0.5 if half else 1.0) * tf.add_n([tf.reduce_sum(k**2) for k in kernels])
    return [-g.numpy() for g in tape.gradient(loss, model.trainable_variables)], float(loss)


def train_step_problem(step: dict, problem: dict, weight_decay: float) -> str | None:
    """Name the mistake of ``train_step`` from what :func:`step_updates` recorded (None: right)."""
    from course_utils.checks import training_call_problem

    loss = step["loss"]
    problem_text = training_call_problem(list(step["trainings"]), None if np.isnan(loss) else loss)
    if problem_text:
        return problem_text
    updates = [np.asarray(u, np.float64) for u in step["updates"]]

    def near(candidate):
        return len(candidate) == len(updates) and all(
            u.shape == e.shape and np.allclose(u, e, atol=1e-5, rtol=1e-3) for u, e in zip(updates, candidate))

    expected, expected_loss = expected_updates(problem, weight_decay, step["before"])
    if near(expected):
        if abs(loss - expected_loss) > 1e-4 * max(1.0, abs(expected_loss)):
            return ("train_step returned a loss that is not the training loss it minimised (the masked "
                    "cross-entropy plus weight_decay/2 ||W1||^2)")
        return None
    if all(np.allclose(u, 0) for u in updates):
        return "train_step did not change the weights: apply the gradients with the optimizer"
    variants = [
        (dict(decay=False), "the weight decay is missing: add weight_decay/2 ||W1||^2 (the first layer's kernel)"),
        (dict(decay_all=True), "the weight decay covers every layer: Kipf and Welling decay the first layer's "
                               "kernel only"),
        (dict(half=False), "the weight decay is weight_decay ||W1||^2: the penalty is weight_decay/2 ||W1||^2 "
                           "(tf.nn.l2_loss)"),
        (dict(mask=np.ones_like(problem["mask"])), "the loss averages over every node: it reads labels it must "
                                                   "not; use the masked cross-entropy over the training mask"),
    ]
    for options, message in variants:
        if near(expected_updates(problem, weight_decay, step["before"], **options)[0]):
            return message
    return ("train_step's update differs from one optimizer step on the masked cross-entropy plus "
            "weight_decay/2 ||W1||^2")


VAL_LOSSES = (1.0, 0.9, 0.95, 0.8, 0.85, 0.84, 0.83, 0.81, 0.7, 0.6, 0.5, 0.4)
VAL_ACCURACIES = (0.3, 0.4, 0.5, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.7, 0.7)
TEST_LOSSES = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05, 0.01)


class ScriptedRun:
    """Stand-ins for ``train_step`` and ``evaluate`` whose validation losses follow a script.

    The stand-in model's weights count the training steps taken; ``evaluate`` returns the scripted loss and
    accuracy of the current epoch for the validation mask and other numbers for any other mask (which it records).
    """

    def __init__(self, graph: Graph, val_losses: Sequence[float], val_accuracies: Sequence[float],
                 test_losses: Sequence[float]):
        self.graph, self.val_losses, self.val_accuracies, self.test_losses = graph, val_losses, val_accuracies, \
            test_losses
        self.steps, self.restored, self.train_masks, self.eval_masks = 0, None, [], []
        self.model = _ScriptedModel(self)

    def _which(self, mask) -> str:
        mask = np.asarray(mask, bool)
        for name in ("train_mask", "val_mask", "test_mask"):
            if np.array_equal(mask, getattr(self.graph, name)):
                return name
        return "all nodes" if mask.all() else "another mask"

    def record(self) -> dict:
        """What the run saw: training steps taken, the weights restored (None: never), the masks used."""
        return {"steps": self.steps, "restored": self.restored, "train_masks": self.train_masks,
                "eval_masks": self.eval_masks}

    def train_step(self, model, optimizer, features, adjacency, labels, mask, weight_decay):
        self.train_masks.append(self._which(mask))
        self.steps += 1
        return 1.0 / self.steps

    def evaluate(self, model, features, adjacency, labels, mask):
        which = self._which(mask)
        self.eval_masks.append(which)
        epoch = min(self.steps, len(self.val_losses)) - 1
        if which == "val_mask":
            return float(self.val_losses[epoch]), float(self.val_accuracies[epoch])
        return float(self.test_losses[epoch]), 0.5


class _ScriptedModel:
    def __init__(self, run: ScriptedRun):
        self.run = run

    def get_weights(self):
        return [np.array([float(self.run.steps)])]

    def set_weights(self, weights):
        self.run.restored = float(np.asarray(weights[0]).ravel()[0])

    def __call__(self, *args, **kwargs):
        raise TypeError("fit_gcn must call the model through train_step and evaluate only")


def expected_stop(val_losses: Sequence[float], patience: int, epochs: int) -> tuple[int, int]:
    """(epochs run, epoch whose weights are kept, 1-based) for early stopping on the validation loss."""
    best, best_epoch, waited = np.inf, 0, 0
    for epoch in range(1, epochs + 1):
        if val_losses[epoch - 1] < best:
            best, best_epoch, waited = val_losses[epoch - 1], epoch, 0
        else:
            waited += 1
            if waited >= patience:
                return epoch, best_epoch
    return epochs, best_epoch


def diagnose_fit(record: dict, history, patience: int, epochs: int, val_losses: Sequence[float] = VAL_LOSSES,
                 val_accuracies: Sequence[float] = VAL_ACCURACIES) -> str | None:
    """Name the mistake of ``fit_gcn`` from a scripted run's :meth:`ScriptedRun.record` and history (None: right)."""
    steps, restored = record["steps"], record["restored"]
    train_masks, eval_masks = list(record["train_masks"]), list(record["eval_masks"])
    if "test_mask" in eval_masks or "test_mask" in train_masks:
        return "fit_gcn used the test nodes: early stopping must watch the validation nodes, never the test nodes"
    if any(m != "train_mask" for m in train_masks):
        return (f"train_step was given {sorted(set(train_masks) - {'train_mask'})}: train on graph.train_mask "
                "only, the labelled nodes")
    if "val_mask" not in eval_masks:
        return "fit_gcn never evaluated the validation nodes (graph.val_mask): early stopping watches them"
    ran, kept = expected_stop(val_losses, patience, epochs)
    if not isinstance(history, dict) or not all(k in history for k in ("loss", "val_loss", "val_accuracy")):
        return "fit_gcn must return a dict with the lists 'loss', 'val_loss' and 'val_accuracy', one value per epoch"
    if steps != ran:
        by_accuracy = expected_stop([-a for a in val_accuracies], patience, epochs)[0]
        if steps == by_accuracy and by_accuracy != ran:
            return "fit_gcn stopped by the validation accuracy: watch the validation loss"
        if steps == epochs:
            return (f"fit_gcn never stopped early: stop after {patience} epochs (patience) without a lower validation "
                    "loss")
        return (f"fit_gcn ran {steps} epochs where early stopping with patience {patience} runs {ran}: stop once "
                f"the validation loss has not improved on its best for {patience} epochs")
    if restored is None or restored != kept:
        return ("fit_gcn did not restore the weights of the epoch with the lowest validation loss: keep them "
                "(model.get_weights()) and put them back at the end (model.set_weights())")
    if [len(history[k]) for k in ("loss", "val_loss", "val_accuracy")] != [ran] * 3:
        return "the history must hold one value per epoch run in each of 'loss', 'val_loss' and 'val_accuracy'"
    if not np.allclose(history["val_loss"], val_losses[:ran]):
        return "history['val_loss'] must hold the validation loss of every epoch"
    return None


def scripted_fit(fit_gcn: Callable, graph: Graph, patience: int, epochs: int,
                 scripts: Sequence[Sequence[float]] = (VAL_LOSSES, VAL_ACCURACIES, TEST_LOSSES)) -> tuple[dict, object]:
    """Run ``fit_gcn`` with scripted ``train_step`` and ``evaluate`` (validation losses, validation accuracies and
    test losses by epoch); return the run's record and what fit_gcn returned."""
    run = ScriptedRun(graph, *scripts)
    fit = with_references(fit_gcn, train_step=run.train_step, evaluate=run.evaluate)
    history = fit(run.model, None, graph, None, epochs=epochs, patience=patience, weight_decay=5e-4)
    return run.record(), history


def toy_graph(n: int = 12, seed: int = 0) -> Graph:
    """A small :class:`Graph` with train, validation and test masks of 4 nodes each."""
    rng = np.random.default_rng(seed)
    masks = [np.zeros(n, dtype=bool) for _ in range(3)]
    order = rng.permutation(n)
    for k in range(3):
        masks[k][order[4 * k:4 * k + 4]] = True
    return Graph(rng.normal(size=(n, 3)).astype(np.float32), rng.integers(0, 2, size=n).astype(np.int64),
                 random_graph(n, n, seed), *masks)


def reference_label_propagation(operator: np.ndarray, labels, mask, num_classes: int, steps: int) -> np.ndarray:
    """F <- Â F, then the labelled rows reset to their one-hot labels, ``steps`` times from F = Y0: (N, C)."""
    mask = np.asarray(mask, bool)
    y0 = np.zeros((len(labels), num_classes))
    y0[mask, np.asarray(labels)[mask]] = 1.0
    f = y0.copy()
    for _ in range(steps):
        f = operator @ f
        f[mask] = y0[mask]
    return f


def diagnose_label_propagation(got, operator, labels, mask, num_classes: int, steps: int) -> str | None:
    """Name the mistake of ``label_propagation`` (None: right)."""
    expected = reference_label_propagation(operator, labels, mask, num_classes, steps)
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError) as error:
        return f"label_propagation must return an array of scores ({error})"
    if got.shape != expected.shape:
        return f"label_propagation returned shape {got.shape}, expected {expected.shape}: one score per node and class"
    if np.allclose(got, expected, atol=1e-5):
        return None
    mask = np.asarray(mask, bool)
    free = np.zeros_like(expected)
    free[mask, np.asarray(labels)[mask]] = 1.0
    for _ in range(steps):
        free = operator @ free
    if np.allclose(got, free, atol=1e-5):
        return "the labelled nodes are not reset: after every step put their one-hot labels back (clamping)"
    for other in (steps - 1, steps + 1, 1):
        if other != steps and np.allclose(got, reference_label_propagation(operator, labels, mask, num_classes, other),
                                          atol=1e-5):
            return f"label_propagation made {other} steps, not the {steps} asked for: use the argument steps"
    return "label_propagation differs from F <- Â F with the labelled rows reset to Y0 after every step"


def relabelled(labels, mask, num_classes: int) -> np.ndarray:
    """``labels`` with every label outside ``mask`` changed (the nodes label propagation must not read)."""
    return np.where(mask, labels, (np.asarray(labels) + 1) % num_classes)


def label_leak_problem(scores, scores_relabelled) -> str | None:
    """A problem when label propagation's scores change with the labels outside the mask, else None."""
    try:
        scores, scores_relabelled = np.asarray(scores, np.float64), np.asarray(scores_relabelled, np.float64)
    except (TypeError, ValueError):
        return "label_propagation must return a NumPy array of scores (N, num_classes)"
    if scores.shape != scores_relabelled.shape:
        return (f"label_propagation returned scores of shape {scores.shape} for one labelling and "
                f"{scores_relabelled.shape} for another: the shape is (N, num_classes), whatever the labels")
    if not np.allclose(scores, scores_relabelled):
        return ("label_propagation reads the labels of nodes outside the mask: it must not (they are the ones to "
                "predict)")
    return None


def reference_mean_cosine(h) -> float:
    """Mean cosine similarity over the ordered pairs i != j of the rows of ``h`` (a zero row: cosine 0)."""
    h = np.asarray(h, np.float64)
    norms = np.linalg.norm(h, axis=1, keepdims=True)
    unit = np.divide(h, norms, out=np.zeros_like(h), where=norms > 0)
    n = len(h)
    total = float(np.sum(unit.sum(axis=0) ** 2) - np.sum(unit**2))
    return total / (n * (n - 1))


def diagnose_mean_cosine(got, h) -> str | None:
    """Name the mistake of ``mean_cosine_similarity(h)`` (None: right)."""
    try:
        got = float(np.asarray(got, dtype=np.float64))
    except (TypeError, ValueError) as error:
        return f"mean_cosine_similarity must return one number ({error})"
    expected = reference_mean_cosine(h)
    if not np.isfinite(got):
        return "mean_cosine_similarity gave NaN or infinity: a row of zeros has cosine 0 with every row"
    if abs(got - expected) < 1e-5:
        return None
    h64 = np.asarray(h, np.float64)
    n = len(h64)
    nonzero = (np.linalg.norm(h64, axis=1) > 0).sum()
    unit = h64 / np.maximum(np.linalg.norm(h64, axis=1, keepdims=True), 1e-300)
    gram = unit @ unit.T
    variants = [
        ((expected * n * (n - 1) + nonzero) / n**2, "the pairs i = j (cosine 1) are counted: average over i != j"),
        (((h64 @ h64.T).sum() - np.trace(h64 @ h64.T)) / (n * (n - 1)), "these are dot products: divide each by "
                                                                         "the two norms (cosine)"),
        (float(gram.mean()), "the pairs i = j (cosine 1) are counted: average over i != j"),
    ]
    for value, message in variants:
        if abs(got - value) < 1e-5:
            return message
    return "mean_cosine_similarity differs from the mean of cos(h_i, h_j) over the pairs i != j"


def reference_pca(h, k: int = 2) -> np.ndarray:
    """The centred rows of ``h`` (N, D) projected on their top ``k`` principal directions: (N, k)."""
    h = np.asarray(h, np.float64)
    centred = h - h.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:k].T


def _same_up_to_sign(got: np.ndarray, expected: np.ndarray) -> bool:
    """Equal column by column, each column up to its sign (singular vectors have no preferred sign)."""
    return got.shape == expected.shape and all(
        np.allclose(got[:, j], expected[:, j], atol=1e-4) or np.allclose(got[:, j], -expected[:, j], atol=1e-4)
        for j in range(expected.shape[1]))


def diagnose_pca(got, h) -> str | None:
    """Name the mistake of ``pca_2d(h)`` (None: right; each column may have either sign)."""
    expected = reference_pca(h)
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError) as error:
        return f"pca_2d must return an array ({error})"
    if got.shape != expected.shape:
        return f"pca_2d returned shape {got.shape}, expected {expected.shape}: two coordinates per node"
    if _same_up_to_sign(got, expected):
        return None
    h64 = np.asarray(h, np.float64)
    u, s, vt = np.linalg.svd(h64 - h64.mean(axis=0), full_matrices=False)
    _, _, vt_raw = np.linalg.svd(h64, full_matrices=False)
    if _same_up_to_sign(got, h64 @ vt_raw[:2].T) or _same_up_to_sign(got, (h64 - h64.mean(axis=0)) @ vt_raw[:2].T):
        return "the rows are not centred before the SVD: subtract the mean row first"
    if _same_up_to_sign(got, u[:, :2]):
        return "these are the left singular vectors U: the coordinates are U S (or the centred rows times V)"
    if _same_up_to_sign(got, (h64 - h64.mean(axis=0)) @ vt[-2:].T):
        return "these are the directions of least variance: take the two largest singular values"
    return "pca_2d differs from the centred rows projected on the two top right singular vectors"


# ---------------------------------------------------------------- checks


def _fail_unless(problem: str | None) -> None:
    require(problem is None, problem or "")


ADJACENCY_CASES = (
    (np.array([[0, 1], [1, 2]]), 4),                       # a path listed one way, plus an isolated node
    (np.array([[0, 1, 1, 2, 3], [1, 0, 2, 2, 1]]), 5),      # a repeated link, a self-link, an isolated node
)


@public_check
def check_normalized_adjacency(normalized_adjacency: Callable) -> None:
    """D^-1/2 (A + I) D^-1/2 as a float32 SparseTensor, A symmetric 0/1 without self-links; no dense N x N array."""
    require_no_shortcut(normalized_adjacency, ADJACENCY_SHORTCUTS, "normalized_adjacency")
    cases = [*ADJACENCY_CASES, (random_graph(12, 20, 90, isolated=2), 12),
             (random_graph(10, 14, 91, self_links=2, repeats=3), 10)]
    for edges, n in cases:
        _fail_unless(diagnose_adjacency(sparse_parts(normalized_adjacency(edges, n)), edges, n))
    _fail_unless(dense_memory_problem(normalized_adjacency))


@public_check
def check_graph_conv(GraphConv) -> None:
    """GraphConv(units, activation): Â H W + b with a kernel (F, units) and a bias (units,), then the activation;
    a fresh kernel is Glorot-uniform and a fresh bias zeros."""
    for method in (GraphConv.build, GraphConv.call):  # a class's own source is not kept in a notebook
        require_no_shortcut(method, CONV_SHORTCUTS, "GraphConv")
    problem = small_problem(92, n=7, features=4)
    rng = np.random.default_rng(93)
    for units, activation in ((3, None), (5, "relu")):
        kernel, bias = rng.normal(size=(4, units)), rng.normal(size=units)
        out = conv_output(GraphConv, problem["features"], problem["operator"], kernel, bias, activation)
        _fail_unless(conv_problem(out, problem["features"], problem["operator"], kernel, bias, activation == "relu"))
    _fail_unless(init_problem(initial_weights(GraphConv, 64, 48), 64, 48))
    gradients = conv_gradients(GraphConv, problem["features"], problem["operator"])
    require(len(gradients) == 2 and all(g is not None for g in gradients),
            "no gradient reaches the kernel and the bias: create them with add_weight and use TensorFlow operations")


def gcn_problem(behaviour: dict, problem: dict, reference: dict) -> str | None:
    """Name the mistake of a GCN from what it did on ``problem`` (see :func:`gcn_behaviour`) (None: right)."""
    if behaviour["layers"] != reference["layers"]:
        return (f"GCN(num_classes={reference['classes']}, hidden={reference['hidden']}, "
                f"num_layers={reference['num_layers']}) has layers of units {behaviour['layers']} in model.convs, "
                f"expected {reference['layers']}: num_layers GraphConv layers, the hidden ones with `hidden` units, "
                "the last with num_classes")
    got = np.asarray(behaviour["eval_a"], np.float64)
    if not np.allclose(got, behaviour["eval_b"], atol=1e-5):
        return "two calls with training=False differ: dropout is left on at evaluation; pass `training` to Dropout"

    def composed(relu_last: bool, relu_hidden: bool = True) -> np.ndarray:
        h = problem["features"]
        for k, (kernel, bias) in enumerate(behaviour["weights"]):
            last = k == len(behaviour["weights"]) - 1
            h = reference_conv(h, problem["operator"], kernel, bias, relu_last if last else relu_hidden)
        return h

    if not np.allclose(got, composed(False), atol=1e-4):
        if np.allclose(got, composed(True), atol=1e-4):
            return "the last layer has a ReLU: it must output logits (no activation)"
        if np.allclose(got, composed(False, relu_hidden=False), atol=1e-4):
            return "the hidden layers have no ReLU: without it the layers collapse into one linear map"
        if np.allclose(got.sum(axis=1), 1.0, atol=1e-4):
            return "the model returns probabilities: return the logits of the last GraphConv (no softmax)"
        return ("with training=False the GCN differs from its GraphConv layers applied in order to the features, "
                "ReLU after every one but the last")
    if reference["dropout"] > 0 and np.allclose(behaviour["train_a"], behaviour["train_b"], atol=1e-6):
        return "two calls with training=True give the same output: dropout is missing (or never active in training)"
    if reference["dropout"] == 0 and not np.allclose(behaviour["train_a"], got, atol=1e-4):
        return "with dropout=0, training=True and training=False differ: honour the dropout argument"
    return None


def gcn_behaviour(GCN, problem: dict, *, classes: int, hidden: int, num_layers: int, dropout: float) -> dict:
    """What a GCN does on ``problem``: its layers' units and weights (kernel, bias) in ``model.convs``, two calls with
    training=False and two with training=True."""
    operator = sparse_operator(problem["operator"])
    features = problem["features"]
    model = GCN(num_classes=classes, hidden=hidden, num_layers=num_layers, dropout=dropout)
    eval_a = np.asarray(model(features, operator, training=False))
    convs = list(getattr(model, "convs", []))
    return {"layers": [getattr(c, "units", None) for c in convs], "weights": [c.get_weights()[:2] for c in convs],
            "eval_a": eval_a, "eval_b": np.asarray(model(features, operator, training=False)),
            "train_a": np.asarray(model(features, operator, training=True)),
            "train_b": np.asarray(model(features, operator, training=True))}


def gcn_reference(classes: int, hidden: int, num_layers: int, dropout: float) -> dict:
    """What :func:`gcn_problem` compares a GCN's behaviour with."""
    return {"layers": [hidden] * (num_layers - 1) + [classes], "classes": classes, "hidden": hidden,
            "num_layers": num_layers, "dropout": dropout}


def tf_masked_cross_entropy(labels, logits, mask):
    """The reference masked cross-entropy in TensorFlow (differentiable): a scalar tensor."""
    tf = _tf()
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(tf.boolean_mask(labels, mask),
                                                                         tf.boolean_mask(logits, mask)))


def evaluate_outputs(evaluate: Callable, seed: int) -> dict:
    """Two ``evaluate`` calls on a reference GCN with dropout 0.5 and the model's weights (for a trusted rerun)."""
    problem = small_problem(seed, n=10)
    model = reference_gcn(5, 3, dropout=0.5, seed=seed)
    operator = sparse_operator(problem["operator"])
    calls = [evaluate(model, problem["features"], operator, problem["labels"], problem["mask"]) for _ in range(2)]
    return {"calls": [tuple(float(np.asarray(v)) for v in c) if isinstance(c, (tuple, list)) else c for c in calls],
            "floats": [isinstance(v, float) for v in calls[0]] if isinstance(calls[0], (tuple, list)) else [],
            "weights": model.get_weights()}


def evaluate_problem(outputs: dict, seed: int) -> str | None:
    """Name the mistake of ``evaluate`` from :func:`evaluate_outputs` (None: right)."""
    first, second = outputs["calls"]
    if not (isinstance(first, (tuple, list)) and len(first) == 2):
        return "evaluate must return (loss, accuracy)"
    if not np.allclose(np.asarray(first, float), np.asarray(second, float)):
        return "evaluate gives different numbers for the same model: dropout is left on at evaluation (training=False)"
    problem = small_problem(seed, n=10)
    model = reference_gcn(5, 3, dropout=0.5)
    model.set_weights([np.asarray(w, np.float32) for w in outputs["weights"]])
    logits = np.asarray(model(problem["features"], sparse_operator(problem["operator"]), training=False))
    mask = problem["mask"]
    loss = reference_masked_cross_entropy(problem["labels"], logits, mask)
    accuracy = float((logits.argmax(axis=1) == problem["labels"])[mask].mean())
    if abs(first[0] - loss) > 1e-4:
        if abs(first[0] - reference_masked_cross_entropy(problem["labels"], logits, np.ones_like(mask))) < 1e-4:
            return "evaluate's loss averages over every node: average over the nodes of the mask"
        return "evaluate's loss differs from the masked cross-entropy of the model's logits (training=False)"
    if abs(first[1] - accuracy) > 1e-6:
        return "evaluate's accuracy differs from the share of the mask's nodes whose largest logit is their label"
    if not all(outputs["floats"]):
        return "evaluate must return two Python floats (float(...)), not tensors or NumPy float32 values"
    return None


@public_check
def check_gcn(GCN) -> None:
    """GCN(num_classes, hidden, num_layers, dropout): GraphConv layers in model.convs, ReLU between them, logits out,
    dropout only when training."""
    problem = small_problem(94, n=8, features=6, classes=3)
    for classes, hidden, num_layers, dropout in ((3, 8, 2, 0.5), (3, 5, 4, 0.0)):
        behaviour = gcn_behaviour(GCN, problem, classes=classes, hidden=hidden, num_layers=num_layers,
                                  dropout=dropout)
        _fail_unless(gcn_problem(behaviour, problem, gcn_reference(classes, hidden, num_layers, dropout)))


@public_check
def check_training(masked_cross_entropy: Callable, train_step: Callable) -> None:
    """masked_cross_entropy: mean over the masked nodes; train_step: one optimizer step on it plus
    weight_decay/2 ||W1||^2, the model called with training=True. train_step is judged with the reference loss."""
    tf = _tf()
    problem = small_problem(95)
    logits = np.random.default_rng(96).normal(size=(9, 3)).astype(np.float32)
    got = masked_cross_entropy(tf.constant(problem["labels"]), tf.constant(logits), tf.constant(problem["mask"]))
    _fail_unless(diagnose_masked_cross_entropy(got, problem["labels"], logits, problem["mask"]))
    step = with_references(getattr(train_step, "python_function", train_step),
                           masked_cross_entropy=tf_masked_cross_entropy)
    _fail_unless(train_step_problem(step_updates(step, problem, 0.05), problem, 0.05))


@public_check
def check_early_stopping(evaluate: Callable, fit_gcn: Callable) -> None:
    """evaluate: (loss, accuracy) on a mask with dropout off; fit_gcn: early stopping on the validation loss with a
    patience, the best epoch's weights restored. fit_gcn is judged with scripted train_step and evaluate."""
    _fail_unless(evaluate_problem(evaluate_outputs(evaluate, 97), 97))
    graph = toy_graph()
    for patience in (4, 2):
        _fail_unless(diagnose_fit(*scripted_fit(fit_gcn, graph, patience, epochs=12), patience, epochs=12))
    _fail_unless(diagnose_fit(*scripted_fit(fit_gcn, graph, 20, epochs=6), 20, epochs=6))


@public_check
def check_label_propagation(label_propagation: Callable) -> None:
    """Scores (N, C): F <- Â F, labelled rows reset to their one-hot labels, `steps` times; labels outside the mask
    are never read."""
    problem = small_problem(98, n=10)
    operator = sparse_operator(problem["operator"])
    _fail_unless(label_leak_problem(label_propagation(operator, problem["labels"], problem["mask"], 3, 3),
                                    label_propagation(operator, relabelled(problem["labels"], problem["mask"], 3),
                                                      problem["mask"], 3, 3)))
    for steps, classes in ((1, 3), (3, 4), (10, 3)):
        got = label_propagation(operator, problem["labels"], problem["mask"], classes, steps)
        _fail_unless(diagnose_label_propagation(got, problem["operator"], problem["labels"], problem["mask"], classes,
                                                steps))


@public_check
def check_smoothing_and_pca(mean_cosine_similarity: Callable, pca_2d: Callable) -> None:
    """Mean cosine similarity over pairs i != j (zero rows: cosine 0); PCA by SVD of the centred rows, (N, 2)."""
    require_no_shortcut(pca_2d, PCA_SHORTCUTS, "pca_2d")
    rng = np.random.default_rng(99)
    same = np.tile(rng.normal(size=(1, 4)), (5, 1))
    with_zero = rng.normal(size=(7, 3))
    with_zero[2] = 0.0
    for h in (same, with_zero, rng.normal(1.0, size=(11, 5))):
        _fail_unless(diagnose_mean_cosine(mean_cosine_similarity(h.astype(np.float32)), h.astype(np.float32)))
    for h in (rng.normal(size=(30, 4)) * [3.0, 2.0, 1.0, 0.5] + 5.0, rng.normal(size=(12, 6))):
        _fail_unless(diagnose_pca(pca_2d(h.astype(np.float32)), h.astype(np.float32)))
