import gzip
import hashlib
import urllib.request

import numpy as np
import pytest

from course_utils import datasets
from tests.conftest import have_mnist


def _write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def test_read_idx_round_trip(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    _write_idx(tmp_path / "x.gz", array)
    np.testing.assert_array_equal(datasets.read_idx(tmp_path / "x.gz"), array)


def test_read_idx_rejects_other_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"not an idx file")
    with pytest.raises(ValueError, match="IDX"):
        datasets.read_idx(tmp_path / "bad")


@pytest.fixture
def fake_dataset(tmp_path, monkeypatch):
    """A registered one-file dataset whose bytes we control."""
    payload = b"hello dataset"
    remote = datasets.RemoteFile("f.bin", hashlib.sha256(payload).hexdigest(), len(payload),
                                 ("https://example.invalid/f.bin",))
    monkeypatch.setitem(datasets.REGISTRY, "fake", datasets.Dataset("fake", "d", "MIT", "c", (remote,)))
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    return payload


def test_offline_with_nothing_cached_says_what_to_do(fake_dataset, monkeypatch, tmp_path):
    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(datasets.DataUnavailableError) as error:
        datasets.fetch("fake", "f.bin")
    message = str(error.value)
    assert "https://example.invalid/f.bin" in message and str(tmp_path / "cache" / "fake" / "f.bin") in message
    assert "COURSE_DATA_DIR" in message


def test_seeded_folder_then_cache_with_checksums(fake_dataset, monkeypatch, tmp_path):
    seeded = tmp_path / "seed" / "fake"
    seeded.mkdir(parents=True)
    (seeded / "f.bin").write_bytes(fake_dataset)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "seed"))
    assert datasets.fetch("fake", "f.bin") == seeded / "f.bin"
    (seeded / "f.bin").write_bytes(b"tampered")
    with pytest.raises(datasets.ChecksumError, match="expected"):
        datasets.fetch("fake", "f.bin")


def test_download_is_verified_before_use(fake_dataset, monkeypatch):
    import io

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: io.BytesIO(b"wrong bytes"))
    with pytest.raises(datasets.DataUnavailableError, match="sha256"):
        datasets.fetch("fake", "f.bin")
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: io.BytesIO(fake_dataset))
    assert datasets.fetch("fake", "f.bin").read_bytes() == fake_dataset


@pytest.mark.skipif(not have_mnist(), reason="needs COURSE_DATA_DIR with the official MNIST files")
def test_real_mnist_and_fashion_mnist():
    (x, y), (xt, yt) = datasets.load_mnist()
    assert x.shape == (60000, 28, 28) and xt.shape == (10000, 28, 28) and x.dtype == np.uint8
    assert sorted(np.unique(y)) == list(range(10)) and yt.shape == (10000,)
    (fx, fy), _ = datasets.load_fashion_mnist()
    assert fx.shape == (60000, 28, 28) and len(datasets.FASHION_MNIST_CLASSES) == 10
    assert np.bincount(fy).tolist() == [6000] * 10
