import csv
import io
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from course_utils import datasets, graphs


def _cora_dir() -> Path | None:
    data = os.environ.get("COURSE_DATA_DIR")
    folder = Path(data) / "cora" if data else None
    return folder if folder and (folder / "ind.cora.graph").is_file() else None


needs_cora = pytest.mark.skipif(_cora_dir() is None, reason="Cora is not in COURSE_DATA_DIR")


@needs_cora
def test_registry_matches_the_data_pack_manifest():
    with open(_cora_dir().parent / "MANIFEST.tsv", newline="") as handle:
        rows = {r["file"]: r for r in csv.DictReader(handle, delimiter="\t") if r["dataset"] == "cora"}
    registered = {f.name: f for f in datasets.REGISTRY["cora"].files}
    assert set(rows) == set(registered) and len(registered) == 8
    for name, remote in registered.items():
        assert (remote.sha256, remote.size) == (rows[name]["sha256"], int(rows[name]["bytes"]))
        assert all(url.startswith("https://raw.githubusercontent.com/") and url.endswith(f"/data/{name}")
                   for url in remote.urls)


@needs_cora
def test_load_cora_gives_the_planetoid_split():
    graph = graphs.load_cora()
    n, f = graphs.CORA_SIZES["nodes"], graphs.CORA_SIZES["features"]
    assert graph.features.shape == (n, f) and graph.features.dtype == np.float32
    assert set(np.unique(graph.features)) == {0.0, 1.0} and graph.features.sum(axis=1).min() >= 1
    assert graph.labels.shape == (n,) and graph.num_classes == 7
    assert graph.edges.shape == (2, 10858) and graph.edges.min() == 0 and graph.edges.max() == n - 1
    pairs = set(map(tuple, graph.edges.T))
    assert len(pairs) == 10556 and all((j, i) in pairs for i, j in pairs) and not any(i == j for i, j in pairs)
    masks = np.stack([graph.train_mask, graph.val_mask, graph.test_mask])
    assert masks.sum(axis=1).tolist() == [140, 500, 1000] and masks.sum(axis=0).max() == 1
    assert np.bincount(graph.labels[graph.train_mask]).tolist() == [20] * 7
    assert np.flatnonzero(graph.test_mask).tolist() == list(range(1708, 2708))


@needs_cora
def test_a_tampered_pickle_is_refused_before_it_is_opened(tmp_path, monkeypatch):
    seeded = tmp_path / "cora"
    seeded.mkdir()
    for remote in datasets.REGISTRY["cora"].files:
        shutil.copyfile(_cora_dir() / remote.name, seeded / remote.name)
    (seeded / "ind.cora.allx").write_bytes(pickle.dumps(np.zeros(3)))
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(datasets.ChecksumError, match="ind.cora.allx"):
        graphs.load_cora()


def test_the_unpickler_builds_only_what_the_cora_files_hold():
    class Payload:
        def __reduce__(self):
            return (os.system, ("true",))

    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        graphs._PlanetoidUnpickler(io.BytesIO(pickle.dumps(Payload(), protocol=2))).load()


def test_sparse_rows_become_a_dense_array():
    rows = graphs._SparseRows()
    rows.__setstate__({"_shape": (3, 4), "indptr": np.array([0, 2, 2, 3]), "indices": np.array([0, 3, 1]),
                       "data": np.array([1.0, 2.0, 3.0])})
    np.testing.assert_array_equal(rows.dense(), [[1, 0, 0, 2], [0, 0, 0, 0], [0, 3, 0, 0]])
