"""Face / non-face data for the debiasing lab (lab 3).

:func:`load_faces` returns a :class:`FaceData`: a training set for a face
detector and a separate evaluation set whose faces carry a group label
(skin tone x gender, see :data:`GROUPS`). Three sources, picked by ``source``
or by ``$COURSE_FACES_SOURCE``:

``"mit"``
    The training file of MIT 6.S191's debiasing lab, ``train_face.h5``: about
    110,000 64x64 images, CelebA faces and ImageNet non-faces. Its upstream link
    (:data:`MIT_TRAIN_FACE_URL`) is a Dropbox share that publishes no checksum,
    so the file is **not** verified against a known sha256; :func:`mit_train_file`
    prints the sha256 of the copy it uses so that you can compare copies. To use
    a copy you already have, set ``COURSE_FACES_H5=/path/to/train_face.h5`` or put
    it at ``$COURSE_DATA_DIR/mit6s191_train_face/train_face.h5``.
``"utkface"``
    Offline, real photographs: faces from the balanced UTKFace subset in
    ``$COURSE_DATA_DIR/utkface_crop_part1_subset`` and non-faces cropped from
    pictures that ship with scikit-image and scikit-learn (none shows a person).
    The training set is made **imbalanced on purpose**: only a few darker-skinned
    faces; the evaluation set is balanced over the four groups and disjoint
    from training (other photographs and other non-face pictures).
``"synthetic"``
    A generated fixture (drawn "faces" of varied skin tone against textures)
    for when no real data is available. Only good for testing the code path.

``"auto"`` (the default) takes ``"mit"`` when its file is found locally (or,
with ``download=True``, can be downloaded), else ``"utkface"`` when the subset
is in ``COURSE_DATA_DIR``, else ``"synthetic"`` with a warning.

Skin tone in the offline set follows the UTKFace race label (White = lighter,
Black = darker): a coarse stand-in for a skin-type scale such as Fitzpatrick's,
used here only because it is the label that exists.
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from course_utils.datasets import (
    REGISTRY,
    DataUnavailableError,
    cache_dir,
    data_dir,
    fetch,
    sha256_of,
)

GROUPS = ("LF", "LM", "DF", "DM")
"""Evaluation groups: Lighter/Darker skin x Female/Male (the labels of the MIT test faces)."""
GROUP_NAMES = {"LF": "lighter female", "LM": "lighter male", "DF": "darker female", "DM": "darker male"}
NOT_A_FACE = -1
"""Group code of a non-face (and of a face whose group is unknown)."""

MIT_TRAIN_FACE_URL = "https://www.dropbox.com/s/hlz8atheyozp1yx/train_face.h5?dl=1"
MIT_TRAIN_FACE_SHA256: str | None = None
"""Unknown: upstream publishes no checksum for ``train_face.h5``."""

UTKFACE_DIR = "utkface_crop_part1_subset"
_UTK_RACE = {"lighter": 0, "darker": 1}  # UTKFace race codes: 0 White, 1 Black, 2 Asian, 3 Indian, 4 Others
_UTK_GENDER = {"M": 0, "F": 1}           # UTKFace gender codes: 0 male, 1 female

# Non-face pictures shipped inside installed packages: (package, name). No person in any of them.
# skimage's astronaut and camera show people and are left out; "cat" is the same picture as "chelsea".
TRAIN_BACKGROUNDS = (
    ("skimage", "coffee"), ("skimage", "chelsea"), ("skimage", "hubble_deep_field"), ("skimage", "rocket"),
    ("skimage", "immunohistochemistry"), ("skimage", "brick"), ("skimage", "grass"), ("skimage", "moon"),
    ("skimage", "coins"), ("skimage", "text"), ("sklearn", "china.jpg"),
)
EVAL_BACKGROUNDS = (
    ("skimage", "stereo_motorcycle"), ("skimage", "retina"), ("skimage", "gravel"), ("skimage", "clock"),
    ("skimage", "page"), ("skimage", "cell"), ("sklearn", "flower.jpg"),
)


@dataclass
class FaceData:
    """A face-detection data set with group labels for evaluation.

    Images are float32 RGB in ``[0, 1]`` of shape ``(n, size, size, 3)``; labels are
    float32 ``1.0`` (face) or ``0.0`` (not a face) of shape ``(n,)``; groups are int
    indices into :data:`GROUPS` of shape ``(n,)``, :data:`NOT_A_FACE` for non-faces
    and for faces whose group is unknown (all faces of the MIT training file).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    group_train: np.ndarray
    x_eval: np.ndarray
    y_eval: np.ndarray
    group_eval: np.ndarray
    source: str

    def summary(self) -> str:
        """One line per split: sizes and faces per group."""
        lines = [f"source: {self.source}"]
        for split, y, g in (("train", self.y_train, self.group_train), ("eval", self.y_eval, self.group_eval)):
            counts = ", ".join(f"{name} {int(np.sum(g == i))}" for i, name in enumerate(GROUPS))
            lines.append(f"{split:5s}: {len(y):6d} images, {int(y.sum()):6d} faces ({counts}), "
                         f"{int(len(y) - y.sum()):6d} non-faces")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# image helpers

def _to_square_rgb(image, size: int) -> np.ndarray:
    """A PIL image or uint8/float array -> float32 (size, size, 3) in [0, 1]."""
    from PIL import Image

    if not isinstance(image, Image.Image):
        array = np.asarray(image)
        if array.dtype != np.uint8:
            array = np.clip(array.astype(np.float64) * (255 if array.max() <= 1.0 else 1), 0, 255).astype(np.uint8)
        image = Image.fromarray(array)
    image = image.convert("RGB")
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    image = image.crop((left, top, left + side, top + side)).resize((size, size), Image.BILINEAR)
    return np.asarray(image, dtype=np.float32) / 255.0


def _background(package: str, name: str) -> np.ndarray:
    """One non-face picture from an installed package as a uint8 RGB array."""
    if package == "skimage":
        import skimage.data

        image = getattr(skimage.data, name)()
        image = np.asarray(image[0] if isinstance(image, tuple) else image)  # stereo pairs: left view
    else:  # read the JPEG directly: importing sklearn.datasets takes seconds
        from importlib.util import find_spec

        from PIL import Image

        folder = Path(find_spec(package).submodule_search_locations[0]) / "datasets" / "images"
        image = np.asarray(Image.open(folder / name).convert("RGB"))
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return image[..., :3].astype(np.uint8)


def background_crops(pictures, n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random square crops (10-60% of the shorter side, random flips) resized to ``size``.

    ``pictures`` is a sequence of ``(package, name)`` pairs such as :data:`TRAIN_BACKGROUNDS`.
    Returns float32 ``(n, size, size, 3)`` in ``[0, 1]``.
    """
    from PIL import Image

    images = [_background(*picture) for picture in pictures]
    crops = np.empty((n, size, size, 3), np.float32)
    for k in range(n):
        image = images[rng.integers(len(images))]
        height, width = image.shape[:2]
        side = int(rng.uniform(0.1, 0.6) * min(height, width))
        top, left = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
        crop = image[top:top + side, left:left + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        crops[k] = np.asarray(Image.fromarray(np.ascontiguousarray(crop)).resize((size, size), Image.BILINEAR),
                              dtype=np.float32) / 255.0
    return crops


# ---------------------------------------------------------------------------------------------
# sources

def utkface_available() -> bool:
    """True when ``$COURSE_DATA_DIR`` holds the UTKFace subset."""
    seeded = data_dir()
    return seeded is not None and (seeded / UTKFACE_DIR / "labels.csv").is_file()


def _utkface_cells(root: Path) -> dict[tuple[int, int], list[str]]:
    """File names of the subset grouped by (race, gender), sorted."""
    cells: dict[tuple[int, int], list[str]] = {}
    with open(root / "labels.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            cells.setdefault((int(row["race"]), int(row["gender"])), []).append(row["file"])
    return {key: sorted(files) for key, files in cells.items()}


def load_utkface(size: int = 32, *, eval_per_group: int = 100, darker_train_per_gender: int = 10,
                 other_races: tuple[int, ...] = (2,), negatives_per_face: float = 1.0,
                 split_seed: int = 0) -> FaceData:
    """The offline face set: imbalanced training, balanced disjoint evaluation.

    Evaluation: ``eval_per_group`` faces of each group in :data:`GROUPS` (White
    and Black UTKFace faces, by gender) and as many non-faces cropped from
    :data:`EVAL_BACKGROUNDS`. Training: the remaining White faces, only
    ``darker_train_per_gender`` Black faces per gender, all faces of
    ``other_races`` (UTKFace codes: 2 Asian, 3 Indian, 4 Others; default Asian only), and
    ``negatives_per_face`` non-faces per face cropped from :data:`TRAIN_BACKGROUNDS`.
    The split depends only on ``split_seed``.
    """
    from PIL import Image

    root = data_dir() / UTKFACE_DIR if data_dir() is not None else None
    if root is None or not (root / "labels.csv").is_file():
        raise DataUnavailableError(
            f"The UTKFace subset is not in $COURSE_DATA_DIR/{UTKFACE_DIR}. Point COURSE_DATA_DIR at a "
            "folder that holds it, or use load_faces(source='synthetic').")
    rng = np.random.default_rng(split_seed)
    cells = _utkface_cells(root)
    train_files, train_groups, eval_files, eval_groups = [], [], [], []
    for index, group in enumerate(GROUPS):
        race, gender = _UTK_RACE["lighter" if group[0] == "L" else "darker"], _UTK_GENDER[group[1]]
        files = list(cells[(race, gender)])
        rng.shuffle(files)
        if eval_per_group >= len(files):
            raise ValueError(f"eval_per_group={eval_per_group} leaves no training faces of group {group}")
        eval_files += files[:eval_per_group]
        eval_groups += [index] * eval_per_group
        rest = files[eval_per_group:]
        if group[0] == "D":
            rest = rest[:darker_train_per_gender]
        train_files += rest
        train_groups += [index] * len(rest)
    for race in other_races:
        for gender in (0, 1):
            train_files += cells.get((race, gender), [])
            train_groups += [NOT_A_FACE] * len(cells.get((race, gender), []))

    def read(files):
        return np.stack([_to_square_rgb(Image.open(root / name), size) for name in files]) if files else \
            np.zeros((0, size, size, 3), np.float32)

    faces_train, faces_eval = read(train_files), read(eval_files)
    n_neg_train = int(round(negatives_per_face * len(train_files)))
    neg_train = background_crops(TRAIN_BACKGROUNDS, n_neg_train, size, rng)
    neg_eval = background_crops(EVAL_BACKGROUNDS, len(eval_files), size, rng)
    return _assemble(faces_train, np.array(train_groups), neg_train, faces_eval, np.array(eval_groups), neg_eval,
                     source=f"utkface (offline, {size}x{size})", rng=rng)


def _assemble(faces_train, groups_train, neg_train, faces_eval, groups_eval, neg_eval, *, source, rng) -> FaceData:
    def join(faces, groups, negatives, shuffle):
        x = np.concatenate([faces, negatives]).astype(np.float32)
        y = np.concatenate([np.ones(len(faces)), np.zeros(len(negatives))]).astype(np.float32)
        g = np.concatenate([groups, np.full(len(negatives), NOT_A_FACE)]).astype(np.int64)
        order = rng.permutation(len(x)) if shuffle else np.arange(len(x))
        return x[order], y[order], g[order]

    x_train, y_train, g_train = join(faces_train, groups_train, neg_train, shuffle=True)
    x_eval, y_eval, g_eval = join(faces_eval, groups_eval, neg_eval, shuffle=False)
    return FaceData(x_train, y_train, g_train, x_eval, y_eval, g_eval, source)


def load_mit_test_faces(size: int = 64, *, download: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The 20 MIT 6.S191 test faces (sha256-verified): images ``(20, size, size, 3)`` and group indices ``(20,)``."""
    from PIL import Image

    images, groups = [], []
    for remote in REGISTRY["faces_mit6s191"].files:
        path = fetch("faces_mit6s191", remote.name, download=download)
        images.append(_to_square_rgb(Image.open(path), size))
        groups.append(GROUPS.index(remote.name.split("/")[0]))
    return np.stack(images), np.array(groups, dtype=np.int64)


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
        "or use the offline faces: COURSE_FACES_SOURCE=utkface (needs the UTKFace subset in COURSE_DATA_DIR)\n"
        "or COURSE_FACES_SOURCE=synthetic (generated, for testing only).")


def load_mit(size: int = 64, *, max_train: int | None = None, download: bool = True, seed: int = 0) -> FaceData:
    """Training images from MIT 6.S191's ``train_face.h5``; evaluation on balanced groups.

    The evaluation faces are the UTKFace groups when the subset is in ``COURSE_DATA_DIR``,
    else the 20 MIT test faces; non-faces are crops of :data:`EVAL_BACKGROUNDS`.
    ``max_train`` keeps a random subset of the training file.
    """
    import h5py

    rng = np.random.default_rng(seed)
    with h5py.File(mit_train_file(download=download), "r") as handle:
        total = handle["labels"].shape[0]
        keep = np.sort(rng.choice(total, max_train, replace=False)) if max_train and max_train < total \
            else np.arange(total)
        images = handle["images"][keep] if len(keep) < total else handle["images"][:]
        labels = handle["labels"][keep].reshape(-1).astype(np.float32)
    images = images[..., ::-1]  # stored as BGR
    if images.shape[1] != size:
        images = np.stack([_to_square_rgb(image, size) for image in images])
    else:
        images = images.astype(np.float32) / 255.0
    if utkface_available():
        offline = load_utkface(size, split_seed=seed)
        faces_eval = offline.x_eval[offline.y_eval == 1]
        groups_eval = offline.group_eval[offline.y_eval == 1]
    else:
        faces_eval, groups_eval = load_mit_test_faces(size, download=download)
    neg_eval = background_crops(EVAL_BACKGROUNDS, len(faces_eval), size, rng)
    faces, negatives = images[labels == 1], images[labels == 0]
    return _assemble(faces, np.full(len(faces), NOT_A_FACE), negatives, faces_eval, groups_eval, neg_eval,
                     source=f"mit train_face.h5 ({len(images)} images, {size}x{size})", rng=rng)


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
    return np.clip(image + rng.normal(0, 0.03, image.shape), 0, 1).astype(np.float32)


def _synthetic_nonface(size: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size] / size
    freq, phase = rng.uniform(1, 8, 2), rng.uniform(0, 2 * np.pi, 3)
    image = np.stack([0.5 + 0.4 * np.sin(2 * np.pi * (freq[0] * xx + freq[1] * yy) + p) for p in phase], -1)
    return np.clip(image + rng.normal(0, 0.05, image.shape), 0, 1).astype(np.float32)


def load_synthetic(size: int = 32, *, n_train_faces: int = 600, eval_per_group: int = 50,
                   darker_fraction: float = 0.05, seed: int = 0) -> FaceData:
    """A generated fixture with the same structure as the real sets (for tests and offline use).

    Faces are ellipses with eyes and a mouth; skin tone is lighter or darker and a
    "female" face has longer hair. Training has ``darker_fraction`` darker faces;
    evaluation has ``eval_per_group`` faces per group. Non-faces are coloured waves.
    """
    rng = np.random.default_rng(seed)

    def faces(groups):
        return np.stack([_synthetic_face(rng.uniform(0.85, 1.05) if GROUPS[g][0] == "L" else rng.uniform(0.25, 0.45),
                                         GROUPS[g][1] == "F", size, rng) for g in groups])

    n_dark = int(round(darker_fraction * n_train_faces))
    train_groups = np.concatenate([rng.integers(0, 2, n_train_faces - n_dark), rng.integers(2, 4, n_dark)])
    eval_groups = np.repeat(np.arange(len(GROUPS)), eval_per_group)
    neg_train = np.stack([_synthetic_nonface(size, rng) for _ in range(n_train_faces)])
    neg_eval = np.stack([_synthetic_nonface(size, rng) for _ in range(len(eval_groups))])
    return _assemble(faces(train_groups), train_groups, neg_train, faces(eval_groups), eval_groups, neg_eval,
                     source=f"synthetic fixture ({size}x{size})", rng=rng)


def load_faces(size: int = 32, *, source: str | None = None, download: bool = True,
               max_train: int | None = None, split_seed: int = 0) -> FaceData:
    """Load the lab's face data; ``source`` is ``"auto"``, ``"mit"``, ``"utkface"`` or ``"synthetic"``.

    ``source=None`` reads ``$COURSE_FACES_SOURCE`` (default ``"auto"``, see the module
    docstring). ``max_train`` caps the number of training images of the MIT file.
    """
    source = (source or os.environ.get("COURSE_FACES_SOURCE") or "auto").strip().lower()
    if source == "mit":
        return load_mit(size, max_train=max_train, download=download, seed=split_seed)
    if source == "utkface":
        return load_utkface(size, split_seed=split_seed)
    if source == "synthetic":
        return load_synthetic(size, seed=split_seed)
    if source != "auto":
        raise ValueError(f"unknown face data source {source!r}; use auto, mit, utkface or synthetic")
    try:
        return load_mit(size, max_train=max_train, download=download, seed=split_seed)
    except DataUnavailableError as error:
        if utkface_available():
            if download:
                warnings.warn(f"{error}\nUsing the offline UTKFace faces instead.", stacklevel=2)
            return load_utkface(size, split_seed=split_seed)
        if download:
            raise
    warnings.warn("No real face data found (no train_face.h5, no UTKFace subset in COURSE_DATA_DIR): "
                  "using a generated fixture. Results say nothing about real faces.", stacklevel=2)
    return load_synthetic(size, seed=split_seed)
