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


# ---------------------------------------------------------------- folder datasets (faces)

@pytest.fixture
def fake_folder(tmp_path, monkeypatch):
    """A registered folder dataset of three files listed in a manifest of our own."""
    payloads = {f"img/{k}.jpg": f"image {k}".encode() for k in range(3)}
    lines = ["#base\thttps://example.invalid/base/"] + [
        f"{name}\t{len(data)}\t{hashlib.sha256(data).hexdigest()}" for name, data in payloads.items()]
    lines[-1] += "\thttps://example.invalid/other/"
    with gzip.open(tmp_path / "fakefolder.tsv.gz", "wt") as handle:
        handle.write("\n".join(lines) + "\n")
    monkeypatch.setattr(datasets, "_MANIFESTS", tmp_path)
    datasets.manifest_files.cache_clear()
    monkeypatch.setitem(datasets.REGISTRY, "fakefolder",
                        datasets.Dataset("fakefolder", "d", "non-commercial", "c", manifest="fakefolder.tsv.gz"))
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    yield payloads
    datasets.manifest_files.cache_clear()


def test_manifest_lists_files_with_their_urls(fake_folder):
    remote = datasets.REGISTRY["fakefolder"].file("img/0.jpg")
    assert remote.urls == ("https://example.invalid/base/0.jpg",) and remote.size == len(fake_folder["img/0.jpg"])
    assert datasets.REGISTRY["fakefolder"].file("img/2.jpg").urls == ("https://example.invalid/other/2.jpg",)
    with pytest.raises(KeyError):
        datasets.REGISTRY["fakefolder"].file("img/9.jpg")


def test_fetch_many_downloads_in_parallel_and_verifies(fake_folder, monkeypatch):
    import io

    by_url = {datasets.REGISTRY["fakefolder"].file(name).urls[0]: data for name, data in fake_folder.items()}
    by_url["https://example.invalid/other/2.jpg"] = b"tampered"
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: io.BytesIO(by_url[url]))
    with pytest.raises(datasets.DataUnavailableError, match=r"1 of 3 files of fakefolder.*img/2.jpg"):
        datasets.fetch_many("fakefolder", list(fake_folder), progress=False)
    by_url["https://example.invalid/other/2.jpg"] = fake_folder["img/2.jpg"]
    paths = datasets.fetch_many("fakefolder", list(fake_folder), progress=False)
    assert [datasets.read_verified("fakefolder", p, n) for p, n in zip(paths, fake_folder, strict=True)] \
        == list(fake_folder.values())
    paths[0].write_bytes(b"corrupted later")
    with pytest.raises(datasets.ChecksumError, match="img/0.jpg"):
        datasets.read_verified("fakefolder", paths[0], "img/0.jpg")


def test_fetch_many_offline_names_the_missing_files(fake_folder):
    with pytest.raises(datasets.DataUnavailableError, match=r"(?s)3 of 3 .*downloads disabled.*Fix: .*COURSE_DATA_DIR"):
        datasets.fetch_many("fakefolder", list(fake_folder), download=False)


def test_shipped_face_manifests_match_the_data_pack():
    """The manifests in the package list exactly the data pack's UTKFace faces and Tiny ImageNet images."""
    import csv
    import os
    from pathlib import Path

    pack = Path(os.environ.get("COURSE_DATA_DIR", "")) / "MANIFEST.tsv"
    if not pack.is_file():
        pytest.skip("needs COURSE_DATA_DIR with the data pack's MANIFEST.tsv")
    with open(pack, newline="") as handle:
        rows = {(r["dataset"], r["file"]): r for r in csv.DictReader(handle, delimiter="\t")}
    for name, prefix, count in (("utkface_aligned_cropped", "UTKFace/", 23708),
                                ("tinyimagenet_val_negatives", "val/images/", 5804)):
        files = datasets.manifest_files(datasets.REGISTRY[name].manifest)
        assert len(files) == count == sum(1 for d, f in rows if d == name and f.startswith(prefix))
        for remote in files.values():
            row = rows[(name, remote.name)]
            assert (remote.sha256, remote.size) == (row["sha256"], int(row["bytes"]))
            assert remote.urls[0].endswith(row["source_commit"] + "/" + row["source_path"])


@pytest.mark.parametrize("first", ["missing", "corrupt", "refused"])
def test_a_second_address_is_tried_when_the_first_fails(server, monkeypatch, tmp_path, first):
    """Real downloads from a server on 127.0.0.1: the first address answers 404, serves other bytes, or
    refuses the connection; the file comes from the second and the first one's failure is not cached."""
    folder, base = server
    payload = b"the real file"
    (folder / "good.bin").write_bytes(payload)
    (folder / "corrupt.bin").write_bytes(b"other bytes")
    first_url = {"missing": f"{base}nowhere.bin", "corrupt": f"{base}corrupt.bin",
                 "refused": "http://127.0.0.1:9/f.bin"}[first]
    remote = datasets.RemoteFile("f.bin", hashlib.sha256(payload).hexdigest(), len(payload),
                                 (first_url, f"{base}good.bin"))
    monkeypatch.setitem(datasets.REGISTRY, "fake", datasets.Dataset("fake", "d", "MIT", "c", (remote,)))
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    path = datasets.fetch("fake", "f.bin", timeout=5)
    assert path.read_bytes() == payload and sorted(p.name for p in path.parent.iterdir()) == ["f.bin"]
