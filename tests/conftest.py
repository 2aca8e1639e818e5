"""Shared test set-up: real datasets from COURSE_DATA_DIR when present (see README)."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def _course_data(tmp_path_factory):
    """Point the dataset lookup at the shared data (if there) and at a fresh cache."""
    mp = pytest.MonkeyPatch()
    import os

    if not os.environ.get("COURSE_DATA_DIR") and (SHARED_DATA / "MANIFEST.tsv").is_file():
        mp.setenv("COURSE_DATA_DIR", str(SHARED_DATA))
    mp.setenv("COURSE_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


def have_mnist() -> bool:
    import os

    data = os.environ.get("COURSE_DATA_DIR")
    return bool(data) and (Path(data) / "mnist" / "t10k-labels-idx1-ubyte.gz").is_file()
