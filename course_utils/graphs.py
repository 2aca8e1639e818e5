"""Graphs for Lab 9: the Cora citation network (Planetoid split) and plots of node embeddings.

Cora comes as the eight ``ind.cora.*`` files of the Planetoid and GCN repositories. Seven of them are
Python 2 pickles. Unpickling runs whatever the file asks for, so a pickle is only ever opened after
its sha256 has matched the registry (:func:`course_utils.datasets.fetch` verifies it), and then with an
unpickler that builds nothing but the NumPy arrays, lists and SciPy-style sparse rows these files hold.
"""

from __future__ import annotations

import io
import pickle
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from course_utils.datasets import fetch

CORA_SIZES = {"nodes": 2708, "features": 1433, "classes": 7, "train": 140, "val": 500, "test": 1000}


@dataclass(frozen=True)
class Graph:
    """A node-classification graph with N nodes, F features, C classes and M listed links.

    features: float32 (N, F); labels: int64 (N,) in 0..C-1; edges: int64 (2, M), one column
    (source, target) per entry of the citation lists, as listed (Cora lists each link from both ends
    and repeats some); train_mask, val_mask, test_mask: bool (N,), disjoint.
    """

    features: np.ndarray
    labels: np.ndarray
    edges: np.ndarray
    train_mask: np.ndarray
    val_mask: np.ndarray
    test_mask: np.ndarray

    @property
    def num_nodes(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return int(self.labels.max()) + 1


class _SparseRows:
    """What a pickled ``scipy.sparse.csr_matrix`` holds (shape, indptr, indices, data), as a dense array."""

    def __setstate__(self, state: dict) -> None:
        self.state = state

    def dense(self) -> np.ndarray:
        rows, cols = self.state["_shape"]
        indptr, indices, data = self.state["indptr"], self.state["indices"], self.state["data"]
        out = np.zeros((rows, cols), dtype=np.float32)
        out[np.repeat(np.arange(rows), np.diff(indptr)), indices] = data
        return out


_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]  # NumPy's array rebuilder, wherever this NumPy keeps it
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("scipy.sparse.csr", "csr_matrix"): _SparseRows,
    ("collections", "defaultdict"): defaultdict,
    ("__builtin__", "list"): list,
}


class _PlanetoidUnpickler(pickle.Unpickler):
    """Builds only the classes the Planetoid files use; anything else is refused."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"the Cora files hold no {module}.{name}: refusing to build it")
        return _ALLOWED[(module, name)]


def _unpickle(name: str):
    raw = fetch("cora", f"ind.cora.{name}").read_bytes()  # fetch has checked the sha256 already
    return _PlanetoidUnpickler(io.BytesIO(raw), encoding="latin1").load()


def load_cora() -> Graph:
    """Cora in the Planetoid split of Yang et al. (2016), as Kipf and Welling (2017) use it.

    Returns a :class:`Graph` with N = 2708 nodes, F = 1433 binary word features (float32, not
    normalised), C = 7 classes and M = 10858 listed links (5278 distinct undirected ones, no
    self-citations). Nodes 0..139 are the training nodes, 140..639 the validation nodes and the 1000
    nodes of ``ind.cora.test.index`` the test nodes. The files store the test nodes' rows in a
    shuffled order; they are put back at their node index here.
    """
    allx, ally, tx, ty = (_unpickle(name) for name in ("allx", "ally", "tx", "ty"))
    links = _unpickle("graph")
    test_index = np.array(fetch("cora", "ind.cora.test.index").read_text().split(), dtype=np.int64)
    features = np.concatenate([allx.dense(), tx.dense()])
    onehot = np.concatenate([ally, ty])
    order = np.sort(test_index)
    features[test_index], onehot[test_index] = features[order].copy(), onehot[order].copy()
    edges = np.array([(node, other) for node in sorted(links) for other in links[node]], dtype=np.int64).T
    n = len(features)
    masks = [np.zeros(n, dtype=bool) for _ in range(3)]
    masks[0][:CORA_SIZES["train"]] = True
    masks[1][CORA_SIZES["train"]:CORA_SIZES["train"] + CORA_SIZES["val"]] = True
    masks[2][test_index] = True
    return Graph(features, onehot.argmax(axis=1).astype(np.int64), edges, *masks)


def plot_embeddings(ax, points: np.ndarray, labels: np.ndarray, title: str):
    """Scatter 2-D node embeddings ``points`` (N, 2) on ``ax``, coloured by class ``labels`` (N,)."""
    scatter = ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="tab10", s=4, alpha=0.7,
                         vmin=0, vmax=9)
    ax.set(title=title, xticks=[], yticks=[])
    return scatter
