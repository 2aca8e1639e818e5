"""Dataset registry, verified downloads and loaders.

Every file a lab uses is listed once in :data:`REGISTRY` with its upstream
URLs, size and sha256. :func:`fetch` finds a file in this order:

1. ``$COURSE_DATA_DIR/<dataset>/<file>`` (a pre-seeded folder, e.g. for a class or CI),
2. the local cache (``$COURSE_CACHE_DIR``, default ``~/.cache/course_utils``),
3. a download from the upstream URLs into the cache.

Every file is checked against its sha256 before use. When nothing works
(offline, link gone) :class:`DataUnavailableError` says which file is missing,
where it comes from and how to pre-seed it.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np


class DataUnavailableError(RuntimeError):
    """A dataset file could not be found locally nor downloaded."""


class ChecksumError(RuntimeError):
    """A dataset file does not match the sha256 the registry records."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset: its name, sha256, size in bytes and download URLs."""

    name: str
    sha256: str
    size: int
    urls: tuple[str, ...]


@dataclass(frozen=True)
class Dataset:
    """A registered dataset: files plus what a user must know to cite and reuse it.

    A *folder* dataset (thousands of small files) names a ``manifest`` instead of listing
    ``files``: a gzipped TSV in ``course_utils/data`` (see :func:`manifest_files`). Its files
    are fetched by the loaders that need them (:func:`fetch_many`), not one by one up front.
    """

    name: str
    description: str
    license: str
    citation: str
    files: tuple[RemoteFile, ...] = field(default_factory=tuple)
    manifest: str = ""
    labs: tuple[str, ...] = ()  # the labs whose notebooks read it (``lab1``...): the grader fetches it for them

    def file(self, name: str) -> RemoteFile:
        for remote in self.files:
            if remote.name == name:
                return remote
        if self.manifest and name in manifest_files(self.manifest):
            return manifest_files(self.manifest)[name]
        raise KeyError(f"{self.name} has no file {name!r}")


_MANIFESTS = Path(__file__).parent / "data"


@cache
def manifest_files(manifest: str) -> dict[str, RemoteFile]:
    """The files a folder dataset's manifest lists, by name.

    The manifest ``course_utils/data/<manifest>`` is a gzipped TSV: a first line
    ``#base<TAB><url>``, then one line per file ``name<TAB>size<TAB>sha256[<TAB>base]``;
    a file's URL is its base (the line's own, else the first line's) plus the last part of its name.
    """
    with gzip.open(_MANIFESTS / manifest, "rt", encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    default_base = lines[0].split("\t")[1]
    files = {}
    for line in lines[1:]:
        name, size, sha, *base = line.split("\t")
        files[name] = RemoteFile(name, sha, int(size), ((base[0] if base else default_base) + name.split("/")[-1],))
    return files


RELEASE_ASSETS = _MANIFESTS / "release_assets.csv"
"""Files the course publishes with its GitHub release (``make release`` builds them and writes this table):
one row per dataset, columns :data:`RELEASE_ASSET_FIELDS`; ``repository`` and ``tag`` come from ``course.toml``."""
RELEASE_ASSET_FIELDS = ("dataset", "file", "bytes", "sha256", "repository", "tag")


def read_release_assets(path: Path = RELEASE_ASSETS) -> dict[str, dict[str, str]]:
    """The rows of the release-asset table, by dataset name."""
    import csv

    with open(path, newline="", encoding="utf-8") as handle:
        return {row["dataset"]: row for row in csv.DictReader(handle)}


def release_asset_url(row: dict[str, str]) -> str:
    """Where GitHub serves an asset: ``<repository>/releases/download/<tag>/<file>``."""
    return f"{row['repository']}/releases/download/{row['tag']}/{row['file']}"


def _release_asset(dataset: str) -> tuple[RemoteFile, ...]:
    row = read_release_assets()[dataset]
    return (RemoteFile(row["file"], row["sha256"], int(row["bytes"]), (release_asset_url(row),)),)


def _mirrored(name: str, sha256: str, size: int, *bases: str) -> RemoteFile:
    return RemoteFile(name, sha256, size, tuple(base + name for base in bases))


_MNIST_BASES = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
_FASHION_BASES = (
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)

# The 20 test faces of MIT 6.S191's debiasing lab (5 per group), pinned to one commit of the course repository.
_MIT_FACES_COMMIT = "e44754eac7a61d489fb07a68245bfbb290823228"
_MIT_REPO_BASE = f"https://raw.githubusercontent.com/MITDeepLearning/introtodeeplearning/{_MIT_FACES_COMMIT}/"
_MIT_FACES_BASE = _MIT_REPO_BASE + "mitdeeplearning/data/faces/"
_MIT_FACES = (
    ("DF/10.png", 688077, "f573ea5038f2c81612ebd82a9640950895a8fdef48488926e86625bf49f6250b"),
    ("DF/19.png", 68151, "2cce0eab19082d43ffdc8da7d68347dfdee51319e19c0b5d47450495e415e856"),
    ("DF/6.png", 12322, "bcb202d263cd6dc380636ec0427b685037be054a937ff312283f9fd4020c9135"),
    ("DF/7.png", 356409, "aba3b1fb0f660a25173c038fa89e4e78464f63cbc435b62ce2fe9735806ff0f6"),
    ("DF/9.png", 86443, "a77cd11f2f9ec816dc066d5254ac1b5592afda151f712b5557ca13037ffb547b"),
    ("DM/20.png", 553969, "5964abe033c1475a7799d1a462eefa8881c4da1b983b7c87a8aaf0762b93d02f"),
    ("DM/3.png", 12087, "4b41a0707e112c7070651b2a1bf77cc92624dbac6404cf3cd05eef66d76cffc0"),
    ("DM/5.png", 12372, "7d9fb55e021cb68b37ffa7672caacbf36868c74e7fc8f2034012143baae8ef0a"),
    ("DM/8.png", 71982, "f93aca0f830ee987426c3ee8b427f8300a84f562e897e37fb1c778be69731928"),
    ("DM/9.png", 68734, "82fb3a34bdf72914f2136637f322e37972cd80fa86e58e531cbbb305d624658e"),
    ("LF/1.png", 11853, "9385151c31c7f954bad430b8aba87ecaf5126a9a51ef8c236e371bbd16fba7ec"),
    ("LF/11.png", 11221, "f8ede813b2159cefa381d97dc392d0dc59e3f16a3c7f43354b448a2801d197b1"),
    ("LF/2.png", 11531, "d176d6f516b2f3ef5580026594e0e0b9726abb9e48c8be8684c837672db2f7a0"),
    ("LF/4.png", 12300, "c741c2cea2176a603baf16d2cd3b46957781f1911be54690325280f4404ca541"),
    ("LF/8.png", 11681, "9554d450d26450cab62b0701cd91a197f2fd45a88e3d5f5069100e2d0770bcb2"),
    ("LM/1.png", 11159, "2439a704d2c7bccd4b4011a96484345e7c4f3ad94dd95af78e25f55cccd4af02"),
    ("LM/11.png", 11469, "5f4bd4d79cd025641189901f31c99795c655d73f4e7328db4b89f8dad5df32c6"),
    ("LM/5.png", 11889, "4e5572b2f3aa549836827d75c2b3126cf12492256550861ae9c602845ddbc6f6"),
    ("LM/8.png", 11267, "ed813af66881eba66dbba28dfdedb8fc066ae0e3d044ef236aa849060ce2774f"),
    ("LM/9.png", 10984, "45bd43803c26609abd7589bb16f0ee511db265d92d2513356b4f60ca5797b57f"),
)

# Cora in the Planetoid split: the same git blobs in Kipf's GCN repository and Yang's Planetoid repository,
# each pinned to one commit.
_CORA_BASES = (
    "https://raw.githubusercontent.com/tkipf/gcn/39a4089fe72ad9f055ed6fdb9746abdcfebc4d81/gcn/data/",
    "https://raw.githubusercontent.com/kimiyoung/planetoid/af6abf468a772cc055bec88c52e4d6f51b7c37e3/data/",
)
_CORA = (
    ("ind.cora.x", 22119, "23cfa55d91c6f624233f5eb7b6e3f141f1bd2b2ae39608a63cf5d084bb27baab"),
    ("ind.cora.y", 4054, "94465c14eb53e04ca262198dcbb2521ee8af60fb3f3d546cd6ca24a511b0e7d1"),
    ("ind.cora.tx", 148025, "b9afbaa4a400df991f6f02ef677e1e44da55ffc04801fd02f9e673987829226a"),
    ("ind.cora.ty", 28135, "41f5ac76596a1699cc33f53084a2419e92961c42bb75f36fc38e616d348532ad"),
    ("ind.cora.allx", 257305, "9419ba2f26f5c35243db64aba110e0f35a04851609e0dc5433450676ca6b8543"),
    ("ind.cora.ally", 47959, "2b998f5cc7fedc86e7f97ca2498f47a1ffc1462c29e2d578b23bf3f62b6e7d71"),
    ("ind.cora.graph", 59847, "58f13302f39dde8852dad6fe6d15b89b077b6d7f837626bce671ef80344b383d"),
    ("ind.cora.test.index", 5000, "297ce89af2b51a6a194181c7dbe1796c6a1cf9cd9349a88383b1b1e227867875"),
)

REGISTRY: dict[str, Dataset] = {
    dataset.name: dataset
    for dataset in (
        Dataset(
            name="mnist",
            labs=("lab1", "lab2", "lab4", "lab5"),
            description="70,000 28x28 grey-scale handwritten digits (60,000 train, 10,000 test).",
            license="CC BY-SA 3.0",
            citation=(
                "Y. LeCun, L. Bottou, Y. Bengio and P. Haffner. Gradient-based learning applied "
                "to document recognition. Proc. IEEE 86(11), 1998."
            ),
            files=(
                _mirrored("train-images-idx3-ubyte.gz",
                          "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                          9912422, *_MNIST_BASES),
                _mirrored("train-labels-idx1-ubyte.gz",
                          "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                          28881, *_MNIST_BASES),
                _mirrored("t10k-images-idx3-ubyte.gz",
                          "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                          1648877, *_MNIST_BASES),
                _mirrored("t10k-labels-idx1-ubyte.gz",
                          "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                          4542, *_MNIST_BASES),
            ),
        ),
        Dataset(
            name="fashion-mnist",
            labs=("lab2", "lab4", "lab5", "lab6"),
            description="70,000 28x28 grey-scale images of 10 kinds of clothing (Zalando).",
            license="MIT",
            citation=(
                "H. Xiao, K. Rasul and R. Vollgraf. Fashion-MNIST: a novel image dataset for "
                "benchmarking machine learning algorithms. arXiv:1708.07747, 2017."
            ),
            files=(
                _mirrored("train-images-idx3-ubyte.gz",
                          "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                          26421880, *_FASHION_BASES),
                _mirrored("train-labels-idx1-ubyte.gz",
                          "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                          29515, *_FASHION_BASES),
                _mirrored("t10k-images-idx3-ubyte.gz",
                          "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                          4422102, *_FASHION_BASES),
                _mirrored("t10k-labels-idx1-ubyte.gz",
                          "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                          5148, *_FASHION_BASES),
            ),
        ),
        Dataset(
            name="faces_mit6s191",
            labs=("lab3",),
            description="20 test faces of MIT 6.S191's debiasing lab, 5 per skin tone x gender group (PNG).",
            license="MIT (course repository); provenance of the images is not stated upstream",
            citation="A. Amini and A. Soleimany. MIT 6.S191: Introduction to Deep Learning, lab 2 (2019-2025).",
            files=tuple(RemoteFile(name, sha, size, (_MIT_FACES_BASE + name,)) for name, size, sha in _MIT_FACES),
        ),
        Dataset(
            name="irish_folk_abc",
            labs=("lab7",),
            description="804 Irish folk tunes in ABC notation, the training text of MIT 6.S191's music lab (one file).",
            license="MIT (course repository); the tunes are traditional",
            citation="A. Amini and A. Soleimany. MIT 6.S191: Introduction to Deep Learning, lab 1 (2019-2025).",
            files=(RemoteFile("irish.abc", "df3782d5f7b5a2f4c66aa7c13f13008d5f48757b3f5f51620cd6c1ceb2c53023",
                              197618, (_MIT_REPO_BASE + "mitdeeplearning/data/irish.abc",)),),
        ),
        Dataset(
            name="utkface_aligned_cropped",
            labs=("lab3",),
            description=("UTKFace 'Aligned&Cropped Faces': 23,708 200x200 RGB JPEG faces (UTKFace/*.jpg.chip.jpg); "
                         "age, gender and race annotations in the file names (race is an annotation, not a "
                         "skin-tone measurement). Byte copies of a public GitHub upload at pinned commits."),
            license=("non-commercial research and education only (UTKFace terms); the copyright of each image "
                     "belongs to its original owner"),
            citation=("Z. Zhang, Y. Song and H. Qi. Age progression/regression by conditional adversarial "
                      "autoencoder. CVPR 2017. https://susanqq.github.io/UTKFace/"),
            manifest="utkface_aligned_cropped.tsv.gz",
        ),
        Dataset(
            name="tinyimagenet_val_negatives",
            labs=("lab3",),
            description=("5,804 Tiny ImageNet validation images (64x64 JPEG, val/images/val_N.JPEG) of 164 classes "
                         "that rarely show people, without face-detector hits: non-face examples."),
            license="ImageNet terms: non-commercial research and education only; images belong to their owners",
            citation=("Stanford CS231N Tiny ImageNet; O. Russakovsky et al. ImageNet Large Scale Visual "
                      "Recognition Challenge. IJCV 115, 2015."),
            manifest="tinyimagenet_val_negatives.tsv.gz",
        ),
        Dataset(
            name="lab3_faces_packed",
            labs=("lab3",),
            description=("Lab 3's UTKFace faces and Tiny ImageNet non-faces as one file: 64x64 uint8 RGB images "
                         "with their names and groups (NumPy .npz), built by `make release` from the two "
                         "datasets above and published with the course's GitHub release (course_utils.faces)."),
            license="the terms of UTKFace and of ImageNet: non-commercial research and education only",
            citation=("Z. Zhang, Y. Song and H. Qi, CVPR 2017 (UTKFace); O. Russakovsky et al., IJCV 115, 2015 "
                      "(ImageNet; Stanford CS231N Tiny ImageNet)."),
            files=_release_asset("lab3_faces_packed"),
        ),
        Dataset(
            name="cora",
            labs=("lab9",),
            description=("Cora citation network in the Planetoid split: 2,708 papers, 1,433 binary word features, "
                         "7 classes, the citation lists; 140 training, 500 validation and 1,000 test nodes "
                         "(Python 2 pickles plus a text file; loader: course_utils.graphs.load_cora)."),
            license="MIT (planetoid and gcn repositories); the underlying Cora data (LINQS) states no licence",
            citation=("Z. Yang, W. Cohen and R. Salakhutdinov. Revisiting semi-supervised learning with graph "
                      "embeddings. ICML 2016. T. N. Kipf and M. Welling. Semi-supervised classification with "
                      "graph convolutional networks. ICLR 2017."),
            files=tuple(_mirrored(name, sha, size, *_CORA_BASES) for name, size, sha in _CORA),
        ),
    )
}


def data_dir() -> Path | None:
    """The pre-seeded folder named by ``COURSE_DATA_DIR``, or None."""
    value = os.environ.get("COURSE_DATA_DIR")
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """Where downloads are kept: ``COURSE_CACHE_DIR`` or ``~/.cache/course_utils``."""
    value = os.environ.get("COURSE_CACHE_DIR")
    return Path(value).expanduser() if value else Path.home() / ".cache" / "course_utils"


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verified(path: Path, remote: RemoteFile) -> Path:
    actual = sha256_of(path)
    if actual != remote.sha256:
        raise ChecksumError(
            f"{path} has sha256 {actual}, expected {remote.sha256}. The file is corrupt or not "
            f"the official {remote.name}: delete it and fetch it again."
        )
    return path


def _copy(response, target, remote: RemoteFile, progress: bool) -> None:
    """Copy a download to ``target``, with a progress bar in bytes when ``progress``."""
    if not progress:
        shutil.copyfileobj(response, target)
        return
    from tqdm.auto import tqdm

    with tqdm(total=remote.size, unit="B", unit_scale=True, unit_divisor=1024,
              desc=f"downloading {remote.name}") as bar:
        for block in iter(lambda: response.read(1 << 20), b""):
            target.write(block)
            bar.update(len(block))


def _download(remote: RemoteFile, target: Path, timeout: float, progress: bool = False) -> list[str]:
    """Try each URL in turn; return the errors of those that failed (empty on success)."""
    errors = []
    target.parent.mkdir(parents=True, exist_ok=True)
    for url in remote.urls:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as partial:
                    _copy(response, partial, remote, progress)
            _verified(Path(partial.name), remote)
            os.replace(partial.name, target)
            return []
        except (OSError, ChecksumError) as error:
            errors.append(f"{url}: {error}")
            if "partial" in locals() and os.path.exists(partial.name):
                os.unlink(partial.name)
    return errors


def fetch(dataset: str, filename: str, *, download: bool = True, timeout: float = 30.0,
          progress: bool = False) -> Path:
    """Return the local path of one verified dataset file, downloading it if needed (``progress``: with a bar).

    Raises :class:`DataUnavailableError` when the file is neither in
    ``COURSE_DATA_DIR`` nor in the cache and cannot be downloaded.
    """
    remote = REGISTRY[dataset].file(filename)
    seeded = data_dir()
    if seeded is not None and (seeded / dataset / filename).is_file():
        return _verified(seeded / dataset / filename, remote)
    cached = cache_dir() / dataset / filename
    if cached.is_file():
        return _verified(cached, remote)
    errors = _download(remote, cached, timeout, progress) if download else ["downloads disabled"]
    if not errors:
        return cached
    raise DataUnavailableError(
        f"Cannot get {dataset}/{filename} ({remote.size:,} bytes, sha256 {remote.sha256}).\n"
        + "Tried:\n  " + "\n  ".join(errors) + "\n"
        "Fix: connect to the internet and run again, or download the file from one of\n  "
        + "\n  ".join(remote.urls)
        + f"\nand put it at {cached} (or at $COURSE_DATA_DIR/{dataset}/{filename})."
    )


def write_manifest(datapack_manifest: Path, dataset: str, prefix: str = "") -> Path:
    """Write ``course_utils/data/<dataset>.tsv.gz`` from a data pack's MANIFEST.tsv (metadata only, no data).

    Keeps the rows of ``dataset`` whose file name starts with ``prefix``; the URL base is
    ``raw.githubusercontent.com/<source_repo>/<source_commit>/<folder of source_path>/``, the most
    common one written once in the first line. Returns the path written.
    """
    import csv
    from collections import Counter

    rows = []
    with open(datapack_manifest, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if row["dataset"] == dataset and row["file"].startswith(prefix):
                folder = row["source_path"].rsplit("/", 1)[0]
                base = f"https://raw.githubusercontent.com/{row['source_repo']}/{row['source_commit']}/{folder}/"
                rows.append((row["file"], row["bytes"], row["sha256"], base))
    common = Counter(base for *_, base in rows).most_common(1)[0][0]
    target = _MANIFESTS / f"{dataset}.tsv.gz"
    lines = [f"#base\t{common}"] + ["\t".join([name, size, sha] + ([base] if base != common else []))
                                     for name, size, sha, base in sorted(rows)]
    with gzip.GzipFile(target, "wb", mtime=0) as handle:
        handle.write(("\n".join(lines) + "\n").encode())
    return target


def _locate(dataset: str, remote: RemoteFile) -> Path | None:
    """Where a file already is (``COURSE_DATA_DIR``, then the cache), not yet verified; None if nowhere."""
    seeded = data_dir()
    for folder in ([seeded] if seeded is not None else []) + [cache_dir()]:
        if (folder / dataset / remote.name).is_file():
            return folder / dataset / remote.name
    return None


def fetch_many(dataset: str, names: list[str], *, download: bool = True, workers: int = 16,
               progress: bool = True, timeout: float = 30.0) -> list[Path]:
    """Local paths of many files of one dataset, downloading the missing ones in parallel.

    Downloads are verified before they are kept; files found locally are **not** hashed here
    (thousands of them): read them with :func:`read_verified`. Raises
    :class:`DataUnavailableError` naming the missing files when some cannot be had.
    """
    remotes = [REGISTRY[dataset].file(name) for name in names]
    paths = [_locate(dataset, remote) for remote in remotes]
    missing = [k for k, path in enumerate(paths) if path is None]
    failures: dict[str, list[str]] = {}
    if missing and download:
        from tqdm.auto import tqdm

        def get(k: int) -> None:
            target = cache_dir() / dataset / remotes[k].name
            errors = _download(remotes[k], target, timeout)
            if errors:
                failures[remotes[k].name] = errors
            else:
                paths[k] = target

        with ThreadPoolExecutor(workers) as pool:
            list(tqdm(pool.map(get, missing), total=len(missing), desc=f"downloading {dataset}",
                      disable=not progress))
    lost = [remotes[k] for k, path in enumerate(paths) if path is None]
    if lost:
        example = lost[0]
        raise DataUnavailableError(
            f"{len(lost)} of {len(names)} files of {dataset} are neither in $COURSE_DATA_DIR/{dataset} nor in "
            f"{cache_dir() / dataset}" + (" and could not be downloaded" if download else " (downloads disabled)")
            + f", e.g. {example.name} from {example.urls[0]}"
            + (f":\n  {failures[example.name][0]}" if example.name in failures else "") + "\n"
            f"Fix: connect to the internet and run again, or point COURSE_DATA_DIR at a folder that holds "
            f"{dataset}/ (licence: {REGISTRY[dataset].license}).")
    return paths


def read_verified(dataset: str, path: Path, name: str) -> bytes:
    """The bytes of ``path``, checked against the registry's sha256 of ``dataset``'s file ``name``."""
    data = Path(path).read_bytes()
    expected = REGISTRY[dataset].file(name).sha256
    if hashlib.sha256(data).hexdigest() != expected:
        raise ChecksumError(f"{path} does not match the sha256 the registry records for {dataset}/{name} "
                            f"({expected}): the file is corrupt or a different version. Delete it and fetch it again.")
    return data


def read_idx(path: Path) -> np.ndarray:
    """Read a (gzipped) IDX file, the format of MNIST and Fashion-MNIST, into a uint8 array."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    return data.reshape(shape)


def _load_idx_dataset(name: str):
    arrays = [read_idx(fetch(name, f"{split}-{kind}-idx{dim}-ubyte.gz"))
              for split in ("train", "t10k") for kind, dim in (("images", 3), ("labels", 1))]
    return (arrays[0], arrays[1]), (arrays[2], arrays[3])


def load_mnist() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """MNIST from the official IDX files.

    Returns ``(x_train, y_train), (x_test, y_test)``: uint8 images of shape
    ``(60000, 28, 28)`` and ``(10000, 28, 28)`` with pixel values 0..255, and
    uint8 labels 0..9 of shape ``(60000,)`` and ``(10000,)``.
    """
    return _load_idx_dataset("mnist")


FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)


def load_fashion_mnist() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Fashion-MNIST from the official IDX files, shaped and typed like :func:`load_mnist`.

    Class names, in label order, are in :data:`FASHION_MNIST_CLASSES`.
    """
    return _load_idx_dataset("fashion-mnist")


def load_irish_folk_tunes() -> list[str]:
    """The 804 Irish folk tunes of MIT 6.S191's music lab, one ABC string per tune (header lines + melody).

    Split at every line that starts with ``X:`` (see :func:`course_utils.music.split_tunes`).
    """
    from course_utils.music import split_tunes

    return split_tunes(fetch("irish_folk_abc", "irish.abc").read_text(encoding="utf-8"))
