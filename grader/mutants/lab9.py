"""Lab 9 mutants: typical wrong answers, and right answers written another way."""

from grader.mutants import right, wrong

_DEGREE = "    degree = np.bincount(rows, minlength=num_nodes).astype(np.float64)\n"
_VALUES = "    values = (1.0 / np.sqrt(degree[rows] * degree[cols])).astype(np.float32)\n"
_SPARSE_ADJACENCY = '''def normalized_adjacency(edges, num_nodes):
    """The GCN operator with tf.sparse operations: A + I by tf.sparse.add, degrees by tf.sparse.reduce_sum."""
    src, dst = np.asarray(edges, dtype=np.int64)
    keep = src != dst
    pairs = np.unique(np.concatenate([np.stack([src[keep], dst[keep]], 1), np.stack([dst[keep], src[keep]], 1)]),
                      axis=0).reshape(-1, 2)
    a = tf.sparse.SparseTensor(pairs, tf.ones(len(pairs)), (num_nodes, num_nodes))
    a_loops = tf.sparse.reorder(tf.sparse.add(a, tf.sparse.eye(num_nodes)))
    scale = tf.math.rsqrt(tf.sparse.reduce_sum(a_loops, axis=1))
    values = a_loops.values * tf.gather(scale, a_loops.indices[:, 0]) * tf.gather(scale, a_loops.indices[:, 1])
    return tf.sparse.SparseTensor(a_loops.indices, values, a_loops.dense_shape)
'''
_DICT_ADJACENCY = '''def normalized_adjacency(edges, num_nodes):
    """The GCN operator from sets of neighbours, written with Python containers."""
    neighbours = [{i} for i in range(num_nodes)]
    for i, j in zip(*np.asarray(edges).tolist()):
        if i != j:
            neighbours[i].add(j)
            neighbours[j].add(i)
    degree = np.array([len(s) for s in neighbours], dtype=np.float64)
    indices = [(i, j) for i in range(num_nodes) for j in sorted(neighbours[i])]
    values = [1 / np.sqrt(degree[i] * degree[j]) for i, j in indices]
    return tf.sparse.SparseTensor(np.array(indices, dtype=np.int64).reshape(-1, 2),
                                  np.array(values, dtype=np.float32), (num_nodes, num_nodes))
'''
_CE = ('''    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.boolean_mask(labels, mask), logits=tf.boolean_mask(logits, mask)))
''')
_DECAY = ("        loss = masked_cross_entropy(labels, logits, mask) + weight_decay * "
          "tf.nn.l2_loss(model.convs[0].kernel)\n")
_PATIENCE = "            if waited >= patience:\n"
_LP_Y0 = "    y0[mask, np.asarray(labels)[mask]] = 1.0\n"
_LP_STEP = "        scores = tf.where(mask[:, None], y0, tf.sparse.sparse_dense_matmul(adjacency, scores))\n"
_COSINE = "    return float((np.sum(unit.sum(axis=0) ** 2) - np.sum(unit**2)) / (n * (n - 1)))\n"

MUTANTS = [
    # Exercise 1: normalized_adjacency
    wrong("adjacency_impl", "row normalisation D^-1 (A + I)", says="row normalisation",
          edits=[(_VALUES, "    values = (1.0 / degree[rows]).astype(np.float32)\n")]),
    wrong("adjacency_impl", "only one side of D^-1/2", says="one side",
          edits=[(_VALUES, "    values = (1.0 / np.sqrt(degree[rows])).astype(np.float32)\n")]),
    wrong("adjacency_impl", "self-loops missing", says="self-loops are missing",
          edits=[("    rows = np.concatenate([links[:, 0], loops])\n    cols = np.concatenate([links[:, 1], loops])\n",
                  "    rows, cols = links[:, 0], links[:, 1]\n"),
                 (_DEGREE, "    degree = np.maximum(np.bincount(rows, minlength=num_nodes), 1).astype(np.float64)\n")]),
    wrong("adjacency_impl", "directed adjacency, not symmetrised", says="symmetric",
          edits=[(", np.stack([dst[keep], src[keep]], axis=1)])", "])")]),
    wrong("adjacency_impl", "repeated links counted twice", says="once",
          edits=[("    links = np.unique(links, axis=0)\n", "")]),
    wrong("adjacency_impl", "a self-link doubles the self-loop", says="itself",
          edits=[("    keep = src != dst\n", "    keep = np.ones(len(src), dtype=bool)\n")]),
    wrong("adjacency_impl", "degrees of A without the self-loop", says="count the self-loop",
          edits=[(_DEGREE, "    degree = np.bincount(links[:, 0], minlength=num_nodes).astype(np.float64)\n")]),
    wrong("adjacency_impl", "dense adjacency, then tf.sparse.from_dense", says="dense",
          source='''def normalized_adjacency(edges, num_nodes):
    """Dense first, sparse at the end."""
    a = np.zeros((num_nodes, num_nodes), dtype=np.float32)
    src, dst = np.asarray(edges)
    a[src, dst] = 1.0
    a[dst, src] = 1.0
    np.fill_diagonal(a, 1.0)
    d = 1.0 / np.sqrt(a.sum(axis=1))
    return tf.sparse.from_dense(a * d[:, None] * d[None, :])
'''),
    wrong("adjacency_impl", "dense NumPy matrix, sparse from its nonzero entries", says="dense",
          source='''def normalized_adjacency(edges, num_nodes):
    """Dense NumPy, then the nonzero entries."""
    a = np.zeros((num_nodes, num_nodes))
    src, dst = np.asarray(edges)
    a[src, dst] = 1.0
    a[dst, src] = 1.0
    np.fill_diagonal(a, 1.0)
    d = 1.0 / np.sqrt(a.sum(axis=1))
    a = a * d[:, None] * d[None, :]
    rows, cols = np.nonzero(a)
    return tf.sparse.SparseTensor(np.stack([rows, cols], 1), a[rows, cols].astype(np.float32), a.shape)
'''),
    wrong("adjacency_impl", "networkx shortcut", says="graph libraries",
          source='''def normalized_adjacency(edges, num_nodes):
    """With networkx."""
    import networkx as nx
    graph = nx.Graph()
    graph.add_nodes_from(range(num_nodes))
    graph.add_edges_from(np.asarray(edges).T.tolist())
    a = nx.to_numpy_array(graph) + np.eye(num_nodes)
    d = 1.0 / np.sqrt(a.sum(axis=1))
    return tf.sparse.from_dense((a * d[:, None] * d[None, :]).astype(np.float32))
'''),
    right("adjacency_impl", "tf.sparse operations (add, reduce_sum, gather)", source=_SPARSE_ADJACENCY),
    right("adjacency_impl", "sets of neighbours in Python", source=_DICT_ADJACENCY),

    # Exercise 2: GraphConv
    wrong("graph_conv_impl", "graph operator not applied", says="not applied",
          edits=[("tf.sparse.sparse_dense_matmul(adjacency, support)", "support")]),
    wrong("graph_conv_impl", "bias added before the product with A-hat", says="before",
          edits=[("        return self.activation(tf.sparse.sparse_dense_matmul(adjacency, support) + self.bias)\n",
                  "        return self.activation(tf.sparse.sparse_dense_matmul(adjacency, support + self.bias))\n")]),
    wrong("graph_conv_impl", "activation ignored", says="activation",
          edits=[("        return self.activation(tf.sparse.sparse_dense_matmul(adjacency, support) + self.bias)\n",
                  "        return tf.sparse.sparse_dense_matmul(adjacency, support) + self.bias\n")]),
    wrong("graph_conv_impl", "dense adjacency (tf.sparse.to_dense)", says="to_dense",
          edits=[("tf.sparse.sparse_dense_matmul(adjacency, support)",
                  "tf.matmul(tf.sparse.to_dense(adjacency), support)")]),
    wrong("graph_conv_impl", "kernel initialised He-normal", says="Glorot", gap=True,
          edits=[('shape=(input_shape[-1], self.units), initializer="glorot_uniform"',
                  'shape=(input_shape[-1], self.units), initializer="he_normal"')]),
    wrong("graph_conv_impl", "bias missing", says="bias",
          edits=[('''        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")'''
                  "\n", ""),
                 (" + self.bias)", ")")]),
    right("graph_conv_impl", "(A-hat H) W order of the products",
          edits=[("        support = tf.matmul(inputs, self.kernel)\n", ""),
                 ("tf.sparse.sparse_dense_matmul(adjacency, support)",
                  "tf.matmul(tf.sparse.sparse_dense_matmul(adjacency, inputs), self.kernel)")]),

    # Exercise 3: GCN
    wrong("gcn_impl", "ReLU on the last layer", says="logits",
          edits=[("        self.convs.append(GraphConv(num_classes))\n",
                  '        self.convs.append(GraphConv(num_classes, activation="relu"))\n')]),
    wrong("gcn_impl", "dropout left on at evaluation", says="dropout is left on",
          edits=[("conv(self.drop(h, training=training), adjacency)", "conv(self.drop(h, training=True), adjacency)")]),
    wrong("gcn_impl", "no dropout", says="dropout is missing",
          edits=[("conv(self.drop(h, training=training), adjacency)", "conv(h, adjacency)")]),
    wrong("gcn_impl", "num_layers ignored (always two layers)", says="num_layers",
          edits=[("for _ in range(num_layers - 1)", "for _ in range(1)")]),
    wrong("gcn_impl", "dropout rate fixed at 0.5", says="dropout", gap=True,
          edits=[("keras.layers.Dropout(dropout)", "keras.layers.Dropout(0.5)")]),
    wrong("gcn_impl", "hidden width fixed at 16", says="hidden", gap=True,
          edits=[("GraphConv(hidden, activation", "GraphConv(16, activation")]),
    wrong("gcn_impl", "softmax output", says="probabilities",
          edits=[("        return h\n", "        return tf.nn.softmax(h)\n")]),
    right("gcn_impl", "dropout before the hidden layers only",
          edits=[("        for conv in self.convs:\n            h = conv(self.drop(h, training=training), adjacency)\n",
                  "        for k, conv in enumerate(self.convs):\n"
                  "            h = conv(self.drop(h, training=training) if k else h, adjacency)\n")]),

    # Exercise 4: masked_cross_entropy and train_step
    wrong("training_impl", "loss over every node", says="every node",
          edits=[(_CE, "    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, "
                       "logits=logits))\n")]),
    wrong("training_impl", "sum over the masked nodes", says="sum",
          edits=[(_CE, "    return tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(\n"
                       "        labels=tf.boolean_mask(labels, mask), logits=tf.boolean_mask(logits, mask)))\n")]),
    wrong("training_impl", "mask as sample weights, divided by all N nodes", says="all N nodes",
          edits=[(_CE, "    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)\n"
                       "    return loss(labels, logits, sample_weight=tf.cast(mask, tf.float32))\n")]),
    wrong("training_impl", "weight decay missing", says="weight decay is missing",
          edits=[(_DECAY, "        loss = masked_cross_entropy(labels, logits, mask)\n")]),
    wrong("training_impl", "weight_decay fixed at 5e-4", says="weight_decay", gap=True,
          edits=[("mask) + weight_decay * tf.nn.l2_loss", "mask) + 5e-4 * tf.nn.l2_loss")]),
    wrong("training_impl", "weight decay on every layer", says="every layer",
          edits=[(_DECAY, "        loss = masked_cross_entropy(labels, logits, mask) + weight_decay * tf.add_n(\n"
                          "            [tf.nn.l2_loss(conv.kernel) for conv in model.convs])\n")]),
    wrong("training_impl", "weight decay without the 1/2", says="weight_decay/2",
          edits=[("weight_decay * tf.nn.l2_loss(model.convs[0].kernel)",
                  "weight_decay * tf.reduce_sum(model.convs[0].kernel ** 2)")]),
    wrong("training_impl", "dropout off while training", says="training=True",
          edits=[("        logits = model(features, adjacency, training=True)\n",
                  "        logits = model(features, adjacency, training=False)\n")]),
    wrong("training_impl", "returns the loss without the penalty", says="training loss",
          edits=[(_DECAY, "        data_loss = masked_cross_entropy(labels, logits, mask)\n"
                          "        loss = data_loss + weight_decay * tf.nn.l2_loss(model.convs[0].kernel)\n"),
                 ("    return loss\n", "    return data_loss\n")]),
    right("training_impl", "log-softmax by hand and a gather",
          edits=[(_CE, "    log_probs = tf.nn.log_softmax(tf.boolean_mask(logits, mask))\n"
                       "    picked = tf.gather(log_probs, tf.boolean_mask(labels, mask), axis=1, batch_dims=1)\n"
                       "    return -tf.reduce_mean(picked)\n")]),

    # Exercise 5: evaluate and fit_gcn
    wrong("fit_impl", "early stopping on the test nodes", says="test nodes",
          edits=[("evaluate(model, graph.features, adjacency, graph.labels, graph.val_mask)",
                  "evaluate(model, graph.features, adjacency, graph.labels, graph.test_mask)")]),
    wrong("fit_impl", "best weights not restored", says="restore",
          edits=[("    model.set_weights(best_weights)\n", "")]),
    wrong("fit_impl", "stops by the validation accuracy", says="accuracy",
          edits=[("        if val_loss < best_loss:\n            best_loss, best_weights, waited = val_loss, ",
                  "        if -val_accuracy < best_loss:\n"
                  "            best_loss, best_weights, waited = -val_accuracy, ")]),
    wrong("fit_impl", "dropout left on in evaluate", says="dropout is left on",
          edits=[("    logits = model(features, adjacency, training=False)\n",
                  "    logits = model(features, adjacency, training=True)\n")]),
    wrong("fit_impl", "evaluate's loss over every node", says="every node",
          edits=[("    loss = masked_cross_entropy(labels, logits, mask)\n",
                  "    loss = masked_cross_entropy(labels, logits, np.ones_like(mask))\n")]),
    wrong("fit_impl", "trains on every node", says="train_mask",
          edits=[("graph.labels, graph.train_mask,", "graph.labels, np.ones_like(graph.train_mask),")]),
    wrong("fit_impl", "no early stopping", says="never stopped",
          edits=[(_PATIENCE, "            if False:\n")]),
    wrong("fit_impl", "evaluate returns a tensor and a NumPy number", says="float", gap=True,
          edits=[("return float(loss), float(np.mean(predictions[mask] == np.asarray(labels)[mask]))",
                  "return loss, np.mean(predictions[mask] == np.asarray(labels)[mask])")]),
    right("fit_impl", "best epoch tracked by its index",
          edits=[("        if val_loss < best_loss:\n            best_loss, best_weights, waited = val_loss, "
                  "model.get_weights(), 0\n        else:\n            waited += 1\n" + _PATIENCE
                  + "                break\n",
                  "        if val_loss < best_loss:\n"
                  "            best_loss, best_weights = val_loss, model.get_weights()\n"
                  "        best_epoch = int(np.argmin(history['val_loss']))\n"
                  "        if len(history['val_loss']) - 1 - best_epoch >= patience:\n            break\n")]),

    # Exercise 6: label_propagation
    wrong("label_propagation_impl", "labelled nodes not reset", says="reset",
          edits=[(_LP_STEP, "        scores = tf.sparse.sparse_dense_matmul(adjacency, scores)\n")]),
    wrong("label_propagation_impl", "reads labels outside the mask", says="outside the mask",
          edits=[(_LP_Y0, "    y0[np.arange(len(mask)), np.asarray(labels)] = 1.0\n"),
                 ("    scores = tf.constant(y0)\n", "    scores = tf.constant(y0)\n"
                  "    y0[~mask] = 0.0\n")]),
    wrong("label_propagation_impl", "one step too few", says="steps",
          edits=[("    for _ in range(steps):\n", "    for _ in range(steps - 1):\n")]),
    wrong("label_propagation_impl", "number of classes from the labels", says="shape", gap=True,
          edits=[("    y0 = np.zeros((len(mask), num_classes), dtype=np.float32)\n",
                  "    y0 = np.zeros((len(mask), int(np.max(labels)) + 1), dtype=np.float32)\n")]),
    right("label_propagation_impl", "float64 NumPy with a sparse product per step",
          edits=[("    scores = tf.constant(y0)\n", "    scores = y0.astype(np.float64)\n"),
                 (_LP_STEP, "        spread = tf.sparse.sparse_dense_matmul(tf.cast(adjacency, tf.float64), scores)"
                            ".numpy()\n        scores = np.where(mask[:, None], y0, spread)\n"),
                 ("    return scores.numpy()\n", "    return scores\n")]),

    # Exercise 7: mean_cosine_similarity and pca_2d
    wrong("smoothing_impl", "pairs i = j counted", says="i != j",
          edits=[(_COSINE, "    return float(np.sum(unit.sum(axis=0) ** 2) / n**2)\n")]),
    wrong("smoothing_impl", "dot products instead of cosines", says="cosine",
          edits=[("    unit = np.divide(h, norms, out=np.zeros_like(h), where=norms > 0)\n", "    unit = h\n")]),
    wrong("smoothing_impl", "PCA without centring", says="centred",
          edits=[("    centred = np.asarray(h, dtype=np.float64) - np.mean(h, axis=0)\n",
                  "    centred = np.asarray(h, dtype=np.float64)\n")]),
    wrong("smoothing_impl", "PCA returns U instead of U S", says="singular vectors",
          edits=[("    _, _, vt = np.linalg.svd(centred, full_matrices=False)\n    return centred @ vt[:2].T\n",
                  "    u, _, _ = np.linalg.svd(centred, full_matrices=False)\n    return u[:, :2]\n")]),
    wrong("smoothing_impl", "scikit-learn PCA", says="sklearn",
          edits=[("    _, _, vt = np.linalg.svd(centred, full_matrices=False)\n    return centred @ vt[:2].T\n",
                  "    from sklearn.decomposition import PCA\n    return PCA(2).fit_transform(centred)\n")]),
    right("smoothing_impl", "cosine matrix and PCA by eigh of the covariance",
          edits=[(_COSINE, "    cosines = unit @ unit.T\n"
                           "    return float((cosines.sum() - np.trace(cosines)) / (n * (n - 1)))\n"),
                 ("    _, _, vt = np.linalg.svd(centred, full_matrices=False)\n    return centred @ vt[:2].T\n",
                  "    _, vectors = np.linalg.eigh(centred.T @ centred)\n"
                  "    return centred @ vectors[:, ::-1][:, :2]\n")]),
]
