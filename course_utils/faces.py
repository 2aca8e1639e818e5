"""Face / non-face data for the debiasing lab (lab 3).

:func:`load_faces` returns a :class:`FaceData`: a training set for a face
detector and a separate evaluation set whose faces carry a group label
(lighter / darker skin x female / male, see :data:`GROUPS`). Images stay
**uint8** (0..255) so that a 110,000-image training set fits in memory; convert
a batch at a time with :func:`to_float`. Four sources, picked by ``source`` or
by ``$COURSE_FACES_SOURCE``:

``"utkface"``
    Real photographs in the setting of Amini et al. (2019), the setting of the lab's text:
    faces from UTKFace (registered dataset ``utkface_aligned_cropped``) of which darker-skinned
    faces are a planted minority (:data:`DARKER_SHARE` of the training faces), non-faces
    from Tiny ImageNet (``tinyimagenet_val_negatives``), and a balanced evaluation
    set (:data:`EVAL_PER_GROUP` faces per group) that shares no image, and no
    byte-identical copy of an image, with training. Read from the image files when
    ``$COURSE_DATA_DIR`` holds them; else from the packed archive (``"packed"``); else from the
    image files downloaded one by one (pinned GitHub commits) into the cache. Every file is
    checked against its sha256 in the registry.
``"packed"``
    The same images, split and order as ``"utkface"`` at 64x64, from one file: the packed
    archive (registered dataset ``lab3_faces_packed``, :func:`pack_faces`) that ``make release``
    builds from the data folder and the course publishes with its GitHub release. It is
    downloaded once with a progress bar and checked against the sha256 in
    ``course_utils/data/release_assets.csv`` before use. This is what Colab gets.
``"mit"``
    The training file of MIT 6.S191's debiasing lab, ``train_face.h5``: about
    110,000 64x64 images, CelebA faces and ImageNet non-faces. Its upstream link
    (:data:`MIT_TRAIN_FACE_URL`) is a Dropbox share that publishes no checksum,
    so the file is **not** verified against a known sha256; :func:`mit_train_file`
    prints the sha256 of the copy it uses. To use a copy you already have, set
    ``COURSE_FACES_H5=/path/to/train_face.h5`` or put it at
    ``$COURSE_DATA_DIR/mit6s191_train_face/train_face.h5``. Evaluation: the first
    :data:`COLAB_EVAL_PER_GROUP` faces per group of the UTKFace evaluation set and as many
    Tiny ImageNet non-faces, downloaded and verified when not local (:func:`load_eval_set`).
``"synthetic"``
    A generated fixture (drawn "faces" of varied skin tone against textures)
    for when no real data is available. Only good for testing the code path.

``"auto"`` (the default) takes ``"utkface"``, and ``"synthetic"`` with a warning when that finds
nothing local and downloads are disabled. It never takes ``"mit"``: that file trains another
experiment than the text describes, so it is used only when asked for.
Every :class:`FaceData` names its source and what it changes (:meth:`FaceData.summary`).

Skin tone follows UTKFace's race **annotation** (White = lighter, Black = darker): a label
given to each photograph by an algorithm checked by a person, not a measurement of skin tone
(such as a Fitzpatrick type); it is used here only because it is the label that exists.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tempfile
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from course_utils.datasets import (
    REGISTRY,
    DataUnavailableError,
    cache_dir,
    data_dir,
    fetch,
    fetch_many,
    manifest_files,
    read_release_assets,
    read_verified,
    sha256_of,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

GROUPS = ("LF", "LM", "DF", "DM")
"""Evaluation groups: Lighter/Darker skin x Female/Male (the labels of the MIT test faces)."""
GROUP_NAMES = {"LF": "lighter female", "LM": "lighter male", "DF": "darker female", "DM": "darker male"}
NOT_A_FACE = -1
"""Group code of a non-face (and of a face whose group is unknown)."""

UTKFACE = "utkface_aligned_cropped"
NEGATIVES = "tinyimagenet_val_negatives"
PACKED = "lab3_faces_packed"
PACKED_SIZE = 64
"""Side in pixels of the images of the packed archive."""
DARKER_SHARE = 0.04
"""Share of darker-skinned (UTKFace race "Black") faces among the training faces: a planted minority."""
EVAL_PER_GROUP = 450
"""Faces per group in the balanced evaluation set."""
EVAL_NEGATIVES = 1000
"""Non-faces in the evaluation set (the other Tiny ImageNet images are training non-faces)."""
COLAB_EVAL_PER_GROUP = 100
"""Faces per group (and non-faces / 4) of the evaluation subset that :func:`load_eval_set` downloads."""

_UTK_RACE = {"L": 0, "D": 1}    # UTKFace race codes: 0 White, 1 Black, 2 Asian, 3 Indian, 4 Others
_UTK_GENDER = {"M": 0, "F": 1}  # UTKFace gender codes: 0 male, 1 female
_UTK_NAME = re.compile(r"UTKFace/(\d+)_([01])_([0-4])_\d+\.jpg\.chip\.jpg")

MIT_TRAIN_FACE_URL = "https://www.dropbox.com/s/hlz8atheyozp1yx/train_face.h5?dl=1"
MIT_TRAIN_FACE_SHA256: str | None = None
"""Unknown: upstream publishes no checksum for ``train_face.h5``."""


@dataclass
class FaceData:
    """A face-detection data set with group labels.

    Images are uint8 RGB (0..255) of shape ``(n, size, size, 3)``: convert a batch with
    :func:`to_float`. Labels are float32 ``1.0`` (face) or ``0.0`` (not a face) of shape
    ``(n,)``; groups are int indices into :data:`GROUPS` of shape ``(n,)``,
    :data:`NOT_A_FACE` for non-faces and for faces whose group is unknown (all faces of
    the MIT training file).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    group_train: np.ndarray
    x_eval: np.ndarray
    y_eval: np.ndarray
    group_eval: np.ndarray
    source: str

    def summary(self) -> str:
        """One line per split: sizes, faces per group and the share of darker-skinned faces."""
        lines = [f"source: {self.source}"]
        for split, y, g in (("train", self.y_train, self.group_train), ("eval", self.y_eval, self.group_eval)):
            counts = ", ".join(f"{name} {int(np.sum(g == i))}" for i, name in enumerate(GROUPS))
            n_faces = int(y.sum())
            darker = int(np.isin(g, [2, 3]).sum())
            share = f", darker {darker / n_faces:.1%} of faces" if n_faces and np.any(g >= 0) else ""
            lines.append(f"{split:5s}: {len(y):6d} images, {n_faces:6d} faces ({counts}{share}), "
                         f"{len(y) - n_faces:6d} non-faces")
        return "\n".join(lines)


def to_float(images) -> np.ndarray:
    """uint8 images (..., 3) in 0..255 -> float32 in [0, 1] (one batch at a time, never the whole set)."""
    return np.asarray(images, dtype=np.float32) / 255.0


# ---------------------------------------------------------------------------------------------
# image helpers

def _to_square_rgb(image, size: int) -> np.ndarray:
    """A PIL image or an array -> uint8 (size, size, 3): centre square crop, resized."""
    from PIL import Image

    if not isinstance(image, Image.Image):
        array = np.asarray(image)
        if array.dtype != np.uint8:
            array = np.clip(array.astype(np.float64) * (255 if array.max() <= 1.0 else 1), 0, 255).astype(np.uint8)
        image = Image.fromarray(array)
    image.draft("RGB", (size, size))  # JPEG: decode at a reduced scale that is still >= size
    image = image.convert("RGB")
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    if side != size or width != height:
        image = image.crop((left, top, left + side, top + side)).resize((size, size), Image.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def read_images(dataset: str, names: list[str], size: int, *, download: bool = True,
                progress: bool = True) -> np.ndarray:
    """Images of a registered folder dataset as uint8 ``(len(names), size, size, 3)``, each file sha256-checked."""
    from PIL import Image

    paths = fetch_many(dataset, names, download=download, progress=progress)
    images = np.empty((len(names), size, size, 3), np.uint8)
    for k, (name, path) in enumerate(zip(names, paths, strict=True)):
        images[k] = _to_square_rgb(Image.open(io.BytesIO(read_verified(dataset, path, name))), size)
    return images


# ---------------------------------------------------------------------------------------------
# the UTKFace / Tiny ImageNet split

@dataclass(frozen=True)
class Split:
    """File names of one split of the offline set; groups index :data:`GROUPS`.

    ``eval_faces`` lists each group's faces in a fixed random order, group after group, so that
    the first ``k`` of every group form a smaller balanced subset (:func:`load_eval_set`).
    """

    train_faces: tuple[str, ...]
    train_groups: tuple[int, ...]
    train_negatives: tuple[str, ...]
    eval_faces: tuple[str, ...]
    eval_groups: tuple[int, ...]
    eval_negatives: tuple[str, ...]


def utkface_cells() -> dict[tuple[int, int], list[str]]:
    """UTKFace file names by (race, gender) code, sorted; one name per distinct file content.

    Drops the names without a race field and keeps, of every group of byte-identical
    copies (same sha256), only the first name, so that no image can be in two splits.
    """
    seen: set[str] = set()
    cells: dict[tuple[int, int], list[str]] = {}
    for name, remote in sorted(manifest_files(REGISTRY[UTKFACE].manifest).items()):
        match = _UTK_NAME.fullmatch(name)
        if match is None or remote.sha256 in seen:
            continue
        seen.add(remote.sha256)
        cells.setdefault((int(match.group(3)), int(match.group(2))), []).append(name)
    return cells


def utkface_split(*, darker_share: float = DARKER_SHARE, eval_per_group: int = EVAL_PER_GROUP,
                  eval_negatives: int = EVAL_NEGATIVES, max_train_faces: int | None = None,
                  split_seed: int = 0) -> Split:
    """Which files go where; depends only on the arguments (no file is read).

    Evaluation: ``eval_per_group`` faces of each group (UTKFace White / Black x female / male)
    and ``eval_negatives`` Tiny ImageNet images. Training: the other White faces (at most
    ``max_train_faces * (1 - darker_share)``), Black faces, half of each gender, so that they are
    ``darker_share`` of the training faces, and the other Tiny ImageNet images (at most half as many
    as training faces when ``max_train_faces`` is set).
    """
    rng = np.random.default_rng(split_seed)
    cells = utkface_cells()
    order = {group: list(rng.permutation(cells[(_UTK_RACE[group[0]], _UTK_GENDER[group[1]])])) for group in GROUPS}
    eval_faces, eval_groups, rest = [], [], {}
    for index, group in enumerate(GROUPS):
        if eval_per_group >= len(order[group]):
            raise ValueError(f"eval_per_group={eval_per_group} leaves no training faces of group {group}")
        eval_faces += order[group][:eval_per_group]
        eval_groups += [index] * eval_per_group
        rest[group] = order[group][eval_per_group:]
    lighter = rest["LF"] + rest["LM"]
    if max_train_faces is not None:
        lighter = list(rng.permutation(lighter)[: int(round(max_train_faces * (1 - darker_share)))])
    per_gender = int(round(darker_share / (1 - darker_share) * len(lighter) / 2))
    if per_gender > min(len(rest["DF"]), len(rest["DM"])):
        raise ValueError(f"darker_share={darker_share} needs {per_gender} darker faces per gender; there are fewer")
    train_faces = lighter + rest["DF"][:per_gender] + rest["DM"][:per_gender]
    groups = {name: GROUPS.index(group) for group in ("LF", "LM") for name in rest[group]}
    train_groups = [groups[name] for name in lighter] + [2] * per_gender + [3] * per_gender
    negatives = sorted(manifest_files(REGISTRY[NEGATIVES].manifest))
    negatives = list(np.random.default_rng([split_seed, 1]).permutation(negatives))
    train_negatives = negatives[eval_negatives:]
    if max_train_faces is not None:
        train_negatives = train_negatives[: len(train_faces) // 2]
    return Split(tuple(train_faces), tuple(train_groups), tuple(train_negatives), tuple(eval_faces),
                 tuple(eval_groups), tuple(negatives[:eval_negatives]))


def utkface_available() -> bool:
    """True when ``$COURSE_DATA_DIR`` holds the UTKFace and Tiny ImageNet folders."""
    seeded = data_dir()
    return seeded is not None and (seeded / UTKFACE / "UTKFace").is_dir() and (seeded / NEGATIVES / "val").is_dir()


def load_utkface(size: int = 64, *, darker_share: float = DARKER_SHARE, eval_per_group: int = EVAL_PER_GROUP,
                 max_train_faces: int | None = None, split_seed: int = 0, download: bool = True) -> FaceData:
    """The offline set of :func:`utkface_split` (see there), read from the image files and resized to ``size``."""
    return _utkface_data(
        lambda dataset, names: read_images(dataset, list(names), size, download=download),
        f"image files, {size}x{size}", darker_share=darker_share, eval_per_group=eval_per_group,
        max_train_faces=max_train_faces, split_seed=split_seed)


def _utkface_data(read: Callable[[str, Sequence[str]], np.ndarray], origin: str, *, darker_share: float,
                  eval_per_group: int, max_train_faces: int | None, split_seed: int) -> FaceData:
    """The set of :func:`utkface_split` with ``read(dataset, names)`` giving uint8 images ``(len(names), s, s, 3)``."""
    split = utkface_split(darker_share=darker_share, eval_per_group=eval_per_group, max_train_faces=max_train_faces,
                          split_seed=split_seed, eval_negatives=min(EVAL_NEGATIVES, 4 * eval_per_group))
    rng = np.random.default_rng(split_seed)
    x_train, y_train, g_train = _joined(read(UTKFACE, split.train_faces), np.array(split.train_groups),
                                        read(NEGATIVES, split.train_negatives), rng.permutation)
    x_eval, y_eval, g_eval = _joined(read(UTKFACE, split.eval_faces), np.array(split.eval_groups),
                                     read(NEGATIVES, split.eval_negatives), None)
    share = np.isin(g_train, [2, 3]).sum() / y_train.sum()
    return FaceData(x_train, y_train, g_train, x_eval, y_eval, g_eval,
                    f"utkface + tiny imagenet ({origin}): darker-skinned faces are {share:.1%} of the training "
                    "faces, the setting of the lab's text, group plots and benchmark table")


# ---------------------------------------------------------------------------------------------
# the packed archive: the same set in one checksummed file

def pack_faces(target: Path, split: Split | None = None) -> Path:
    """Write the packed archive of ``split`` (default: the lab's, :func:`utkface_split`'s defaults) to ``target``.

    A NumPy ``.npz`` with ``images`` uint8 ``(n, 64, 64, 3)`` (:data:`PACKED_SIZE`, resized as
    :func:`load_utkface` does) and ``names`` ``(n,)``, ``"<dataset>/<file>"``: every face and non-face
    of the split once, faces first, each part sorted by name. The names carry what the lab needs:
    the dataset is the label, a UTKFace name holds the group, :func:`utkface_split` places it.
    Images are read from ``$COURSE_DATA_DIR`` or the cache, never downloaded, each file sha256-checked.
    The same inputs give the same bytes (fixed zip timestamps, fixed order). Returns ``target``.
    """
    split = split or utkface_split()
    parts = [(UTKFACE, sorted(split.train_faces + split.eval_faces)),
             (NEGATIVES, sorted(split.train_negatives + split.eval_negatives))]
    images = np.concatenate([read_images(dataset, names, PACKED_SIZE, download=False) for dataset, names in parts])
    names = np.array([f"{dataset}/{name}" for dataset, part in parts for name in part])
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for key, array in (("images", images), ("names", names)):
            entry = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(entry, "w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, array, allow_pickle=False)
    return target


def load_packed(size: int = PACKED_SIZE, *, darker_share: float = DARKER_SHARE,
                eval_per_group: int = EVAL_PER_GROUP, max_train_faces: int | None = None, split_seed: int = 0,
                download: bool = True) -> FaceData:
    """The set of :func:`load_utkface` from the packed archive, one file fetched with a progress bar.

    The file comes from ``$COURSE_DATA_DIR/lab3_faces_packed/``, the cache or the course's GitHub
    release, and is checked against its sha256 before use. At ``size=64`` the arrays equal
    :func:`load_utkface`'s; at a smaller ``size`` each 64x64 image is resized. The archive holds the
    lab's split (``split_seed=0``, ``darker_share=DARKER_SHARE``, at most :data:`EVAL_PER_GROUP`
    evaluation faces per group, any ``max_train_faces``): other arguments raise :class:`ValueError`
    (:func:`load_utkface` reads any split from the image files).
    """
    if size > PACKED_SIZE:
        raise ValueError(f"the packed archive holds {PACKED_SIZE}x{PACKED_SIZE} images; for size={size} "
                         "read the image files (load_utkface)")
    remote = REGISTRY[PACKED].files[0]
    path = fetch(PACKED, remote.name, download=download, timeout=60.0, progress=True)
    with np.load(path) as packed:
        images = packed["images"]
        row = {name: k for k, name in enumerate(packed["names"].tolist())}

    def read(dataset: str, names: Sequence[str]) -> np.ndarray:
        missing = [name for name in names if f"{dataset}/{name}" not in row]
        if missing:
            raise ValueError(f"the packed archive has no {dataset}/{missing[0]}: it holds the lab's split "
                             f"(split_seed=0, darker_share={DARKER_SHARE}, at most {EVAL_PER_GROUP} evaluation "
                             "faces per group); read other splits from the image files (load_utkface)")
        chosen = images[[row[f"{dataset}/{name}"] for name in names]]
        return chosen if size == PACKED_SIZE else np.stack([_to_square_rgb(image, size) for image in chosen])

    tag = read_release_assets()[PACKED]["tag"]
    return _utkface_data(read, f"packed archive {remote.name} of release {tag}, {size}x{size}",
                         darker_share=darker_share, eval_per_group=eval_per_group,
                         max_train_faces=max_train_faces, split_seed=split_seed)


def _joined(faces, groups, negatives, permutation):
    """Faces and non-faces in one uint8 array with labels (n,) and groups (n,), shuffled by ``permutation``."""
    x = np.concatenate([faces, negatives])
    y = np.concatenate([np.ones(len(faces)), np.zeros(len(negatives))]).astype(np.float32)
    g = np.concatenate([groups, np.full(len(negatives), NOT_A_FACE)]).astype(np.int64)
    if permutation is None:
        return x, y, g
    order = permutation(len(x))
    return x[order], y[order], g[order]


def load_eval_set(size: int = 64, *, per_group: int = COLAB_EVAL_PER_GROUP, download: bool = True,
                  split_seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A balanced evaluation set of real faces: the first ``per_group`` faces of each group of the
    offline evaluation set and ``4 * per_group`` of its non-faces.

    Where the data folders are not local the files (a few hundred, about 8 MB) are downloaded in
    parallel from pinned GitHub commits, checked against their sha256 and cached. Returns uint8
    images ``(n, size, size, 3)``, float32 labels ``(n,)`` and groups ``(n,)``.
    """
    split = utkface_split(split_seed=split_seed)
    chosen = [k for k, g in enumerate(split.eval_groups) if k - split.eval_groups.index(g) < per_group]
    faces = read_images(UTKFACE, [split.eval_faces[k] for k in chosen], size, download=download)
    negatives = read_images(NEGATIVES, list(split.eval_negatives[: 4 * per_group]), size, download=download)
    return _joined(faces, np.array([split.eval_groups[k] for k in chosen]), negatives, None)


def load_mit_test_faces(size: int = 64, *, download: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The 20 MIT 6.S191 test faces (sha256-verified): uint8 images ``(20, size, size, 3)`` and groups ``(20,)``."""
    from PIL import Image

    images, groups = [], []
    for remote in REGISTRY["faces_mit6s191"].files:
        path = fetch("faces_mit6s191", remote.name, download=download)
        images.append(_to_square_rgb(Image.open(path), size))
        groups.append(GROUPS.index(remote.name.split("/")[0]))
    return np.stack(images), np.array(groups, dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# MIT 6.S191's training file

def mit_train_file(*, download: bool = True, timeout: float = 60.0) -> Path:
    """Path of MIT 6.S191's ``train_face.h5``: ``$COURSE_FACES_H5``, the data folder, the cache or a download.

    The file has no published checksum, so it is not verified; its sha256 is printed
    the first time it is downloaded. Raises :class:`DataUnavailableError` with the
    ways to get the file when none works (for instance when the Dropbox link is gone).
    """
    override = os.environ.get("COURSE_FACES_H5")
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            raise DataUnavailableError(f"COURSE_FACES_H5={override} does not name a file.")
        return path
    seeded = data_dir()
    if seeded is not None and (seeded / "mit6s191_train_face" / "train_face.h5").is_file():
        return seeded / "mit6s191_train_face" / "train_face.h5"
    cached = cache_dir() / "mit6s191_train_face" / "train_face.h5"
    if cached.is_file():
        return cached
    error = "downloads disabled"
    if download:
        cached.parent.mkdir(parents=True, exist_ok=True)
        try:
            with urllib.request.urlopen(MIT_TRAIN_FACE_URL, timeout=timeout) as response:
                with tempfile.NamedTemporaryFile(dir=cached.parent, delete=False) as partial:
                    shutil.copyfileobj(response, partial)
            os.replace(partial.name, cached)
            print(f"Downloaded {cached} (sha256 {sha256_of(cached)}; upstream publishes no checksum to compare).")
            return cached
        except OSError as failure:
            error = str(failure)
            if "partial" in locals() and os.path.exists(partial.name):
                os.unlink(partial.name)
    raise DataUnavailableError(
        f"Cannot get MIT 6.S191's train_face.h5 from {MIT_TRAIN_FACE_URL} ({error}).\n"
        "The link may be gone. Fixes: set COURSE_FACES_H5=/path/to/train_face.h5 to use a copy you have,\n"
        f"or put it at {cached} (or $COURSE_DATA_DIR/mit6s191_train_face/train_face.h5);\n"
        "or use the UTKFace faces: COURSE_FACES_SOURCE=utkface (from COURSE_DATA_DIR or by download)\n"
        "or COURSE_FACES_SOURCE=synthetic (generated, for testing only).")


def load_mit(size: int = 64, *, max_train: int | None = None, download: bool = True, seed: int = 0,
             eval_per_group: int = COLAB_EVAL_PER_GROUP) -> FaceData:
    """Training images of MIT 6.S191's ``train_face.h5``, kept as uint8; evaluation from :func:`load_eval_set`.

    The file stores ``images`` (n, 64, 64, 3) uint8 in BGR order and ``labels`` (n, 1). The images are
    read once into one uint8 array and ``x_train`` is its RGB *view* (no copy); at another ``size``
    they are resized image by image. ``max_train`` keeps a random subset of the file.
    """
    import h5py

    rng = np.random.default_rng(seed)
    with h5py.File(mit_train_file(download=download), "r") as handle:
        total = handle["labels"].shape[0]
        if max_train and max_train < total:
            keep = np.sort(rng.choice(total, max_train, replace=False))
            images, labels = handle["images"][keep], handle["labels"][keep]
        else:
            images, labels = handle["images"][:], handle["labels"][:]
    x_train = images[..., ::-1]  # BGR -> RGB, a view
    if x_train.shape[1] != size:
        x_train = np.stack([_to_square_rgb(image, size) for image in x_train])
    y_train = labels.reshape(-1).astype(np.float32)
    x_eval, y_eval, g_eval = load_eval_set(size, per_group=eval_per_group, download=download, split_seed=seed)
    return FaceData(x_train, y_train, np.full(len(y_train), NOT_A_FACE, np.int64), x_eval, y_eval, g_eval,
                    f"mit train_face.h5 (CelebA faces and ImageNet non-faces, {len(y_train)} images, {size}x{size}, "
                    f"no skin-tone labels): the group plots and the text's table describe the UTKFace setting, "
                    f"not this one; evaluation: the first {eval_per_group} UTKFace faces per group")


# ---------------------------------------------------------------------------------------------
# the generated fixture

def _synthetic_face(tone: float, female: bool, size: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1) * 2 - 1
    background = rng.uniform(0.2, 0.9, 3)
    image = np.ones((size, size, 3)) * background
    skin = np.array([0.95, 0.75, 0.6]) * tone
    cx, cy = rng.normal(0, 0.05, 2)
    face = ((xx - cx) / 0.6) ** 2 + ((yy - cy) / 0.8) ** 2 < 1
    image[face] = skin
    if female:  # longer hair framing the face
        hair = (((xx - cx) / 0.8) ** 2 + ((yy - cy + 0.1) / 0.95) ** 2 < 1) & ~face & (yy > cy - 0.6)
        image[hair] = rng.uniform(0.05, 0.4) * np.ones(3)
    for ex in (-0.25, 0.25):
        image[((xx - cx - ex) ** 2 + (yy - cy + 0.2) ** 2) < 0.01] = 0.05
    image[(np.abs(xx - cx) < 0.25) & (np.abs(yy - cy - 0.4) < 0.04)] = [0.5, 0.1, 0.1]
    return np.clip(image + rng.normal(0, 0.03, image.shape), 0, 1)


def _synthetic_nonface(size: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size] / size
    freq, phase = rng.uniform(1, 8, 2), rng.uniform(0, 2 * np.pi, 3)
    image = np.stack([0.5 + 0.4 * np.sin(2 * np.pi * (freq[0] * xx + freq[1] * yy) + p) for p in phase], -1)
    return np.clip(image + rng.normal(0, 0.05, image.shape), 0, 1)


def load_synthetic(size: int = 32, *, n_train_faces: int = 600, eval_per_group: int = 50,
                   darker_fraction: float = 0.05, seed: int = 0) -> FaceData:
    """A generated fixture with the same structure as the real sets (for tests and offline use).

    Faces are ellipses with eyes and a mouth; skin tone is lighter or darker and a
    "female" face has longer hair. Training has ``darker_fraction`` darker faces;
    evaluation has ``eval_per_group`` faces per group. Non-faces are coloured waves.
    """
    rng = np.random.default_rng(seed)

    def uint8(images):
        return np.round(np.stack(images) * 255).astype(np.uint8)

    def faces(groups):
        return uint8([_synthetic_face(rng.uniform(0.85, 1.05) if GROUPS[g][0] == "L" else rng.uniform(0.25, 0.45),
                                      GROUPS[g][1] == "F", size, rng) for g in groups])

    n_dark = int(round(darker_fraction * n_train_faces))
    train_groups = np.concatenate([rng.integers(0, 2, n_train_faces - n_dark), rng.integers(2, 4, n_dark)])
    eval_groups = np.repeat(np.arange(len(GROUPS)), eval_per_group)
    neg_train = uint8([_synthetic_nonface(size, rng) for _ in range(n_train_faces)])
    neg_eval = uint8([_synthetic_nonface(size, rng) for _ in range(len(eval_groups))])
    train = _joined(faces(train_groups), train_groups, neg_train, rng.permutation)
    return FaceData(*train, *_joined(faces(eval_groups), eval_groups, neg_eval, None),
                    source=f"synthetic fixture ({size}x{size})")


# ---------------------------------------------------------------------------------------------

def load_faces(size: int = 64, *, source: str | None = None, download: bool = True,
               max_train: int | None = None, eval_per_group: int = EVAL_PER_GROUP, split_seed: int = 0) -> FaceData:
    """Load the lab's face data; ``source`` is ``"auto"``, ``"utkface"``, ``"packed"``, ``"mit"`` or ``"synthetic"``.

    ``source=None`` reads ``$COURSE_FACES_SOURCE`` (default ``"auto"``, see the module
    docstring). ``max_train`` caps the number of training faces (UTKFace) or images (MIT file);
    ``eval_per_group`` sets the evaluation faces per group (UTKFace; at most
    :data:`COLAB_EVAL_PER_GROUP` with the MIT file).
    """
    source = (source or os.environ.get("COURSE_FACES_SOURCE") or "auto").strip().lower()
    options = dict(eval_per_group=eval_per_group, max_train_faces=max_train, split_seed=split_seed)

    def utkface() -> FaceData:
        if utkface_available():
            return load_utkface(size, download=download, **options)
        if size <= PACKED_SIZE and split_seed == 0 and eval_per_group <= EVAL_PER_GROUP:  # what the archive holds
            try:
                return load_packed(size, download=download, **options)
            except DataUnavailableError as error:
                if not download:
                    raise
                warnings.warn(f"{error}\nDownloading the UTKFace and Tiny ImageNet image files one by one instead "
                              "(the same data, slower).", stacklevel=3)
        return load_utkface(size, download=download, **options)

    loaders = {
        "utkface": utkface,
        "packed": lambda: load_packed(size, download=download, **options),
        "mit": lambda: load_mit(size, max_train=max_train, download=download, seed=split_seed,
                                eval_per_group=min(eval_per_group, COLAB_EVAL_PER_GROUP)),
        "synthetic": lambda: load_synthetic(size, seed=split_seed),
    }
    if source in loaders:
        return loaders[source]()
    if source != "auto":
        raise ValueError(f"unknown face data source {source!r}; use auto, {', '.join(loaders)}")
    try:
        return utkface()
    except DataUnavailableError:
        if download:
            raise
    warnings.warn("No real face data found (no UTKFace folder in COURSE_DATA_DIR, no packed archive in the cache, "
                  "downloads disabled): using a generated fixture. Results say nothing about real faces.", stacklevel=2)
    return load_synthetic(size, seed=split_seed)
