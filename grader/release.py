"""Generate the student notebooks in ``labs/`` from ``solutions/`` with nbgrader, stamped with the course's address.

The course's address is one setting, ``course.toml`` at the repository root: the GitHub repository
and the release tag. Releasing stamps them into every Colab badge (``.../github/<owner>/<name>/blob/<tag>/...``)
and every install line (``course-utils @ git+https://github.com/<owner>/<name>@<tag>``) of the released notebooks, the
instructor's grading notebooks (``grader/colab/``) and ``README.md``, and into ``pyproject.toml``'s
version and repository URL (and ``course_utils.__version__``). Solution notebooks are not rewritten:
whatever address their header names is replaced in the student version.

Releasing all labs also builds the files the course publishes with its GitHub release (Lab 3's packed
face archive, from ``$COURSE_DATA_DIR``) into ``build/`` and records their size, sha256, repository and
tag in ``course_utils/data/release_assets.csv``, which is how ``course_utils`` finds and checks them.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import nbformat

from grader import versions
from grader.course import generate_assignment
from grader.labs import REPO, Lab

NBGRADER_SECRETS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
SETTINGS = "course.toml"
RELEASE_ASSETS = Path("course_utils/data/release_assets.csv")
# Colab links to the course's own notebooks (under labs/ or grader/), and install lines of its own package:
# links and installs of other projects are left alone.
COLAB_LINK = re.compile(r"https://colab\.research\.google\.com/github/[\w.-]+/[\w.-]+/blob/[\w.+-]+/(?=(labs|grader)/)")
PIP_SOURCE = re.compile(r"(?P<package>course[-_]utils(?:\[[\w,-]+\])?\s*@\s*)"
                        r"(?P<source>git\+https://github\.com/[\w.-]+/[\w.-]+(?:@[\w.+-]+)?)")


@dataclass(frozen=True)
class CourseSettings:
    """``course.toml``: ``repository`` is ``https://github.com/<owner>/<name>``, ``tag`` is ``v<version>``."""

    repository: str
    tag: str
    keep_releases: int = 5

    @property
    def slug(self) -> str:
        return self.repository.removeprefix("https://github.com/")

    @property
    def version(self) -> str:
        return self.tag.removeprefix("v")

    @property
    def pip_source(self) -> str:
        return f"git+{self.repository}@{self.tag}"

    def colab_url(self, path: str) -> str:
        """The "Open in Colab" link of the notebook at ``path`` (relative to the repository root)."""
        return f"https://colab.research.google.com/github/{self.slug}/blob/{self.tag}/{path}"


def read_settings(root: Path = REPO) -> CourseSettings:
    """Read and check ``course.toml``; a clear error names what is wrong."""
    path = root / SETTINGS
    data = tomllib.loads(path.read_text())
    settings = CourseSettings(repository=str(data.get("repository", "")).rstrip("/"), tag=str(data.get("tag", "")),
                              keep_releases=int(data.get("keep_releases", CourseSettings.keep_releases)))
    if not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", settings.repository) or \
            settings.repository.endswith(".git"):
        raise ValueError(f"{path}: repository must be https://github.com/<owner>/<name> (Colab opens notebooks "
                         f"from GitHub), not {settings.repository!r}")
    if not re.fullmatch(r"v\d+(\.\d+)*([abc]|rc)?\d*", settings.tag):
        raise ValueError(f"{path}: tag must be 'v' + the package version, like v0.1.0, not {settings.tag!r}")
    if settings.keep_releases < 0:
        raise ValueError(f"{path}: keep_releases must be 0 or more")
    return settings


def stamp(text: str, settings: CourseSettings) -> str:
    """``text`` with every Colab badge link and GitHub install source pointing at the course's release."""
    text = COLAB_LINK.sub(f"https://colab.research.google.com/github/{settings.slug}/blob/{settings.tag}/", text)
    return PIP_SOURCE.sub(lambda match: match["package"] + settings.pip_source, text)


def install_sources(text: str) -> list[str]:
    """The ``git+https://...@tag`` sources of every ``course-utils @ ...`` requirement in ``text``."""
    return [match["source"] for match in PIP_SOURCE.finditer(text)]


def stamp_notebook(notebook: nbformat.NotebookNode, settings: CourseSettings) -> nbformat.NotebookNode:
    """Stamp every cell in place, keeping nbgrader's checksum of a stamped locked cell valid."""
    from nbgrader.utils import compute_checksum

    for cell in notebook.cells:
        stamped = stamp(cell.source, settings)
        if stamped != cell.source:
            cell.source = stamped
            if "checksum" in cell.metadata.get("nbgrader", {}):
                cell.metadata.nbgrader.checksum = compute_checksum(cell)
    return notebook


def student_notebook(lab: Lab) -> nbformat.NotebookNode:
    """The student version of ``lab`` as nbgrader generates it, stamped, versioned, cleaned for committing.

    ``metadata.course`` records the lab, its version (:func:`grader.versions.release_version`), the tag
    and a release number that goes up by one whenever the version changes.
    """
    settings = read_settings(lab.root)
    with tempfile.TemporaryDirectory() as scratch:
        generated = generate_assignment(lab, Path(scratch))
        notebook = nbformat.read(generated, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    stamp_notebook(notebook, settings)
    text = nbformat.writes(notebook)
    leaked = [marker for marker in NBGRADER_SECRETS if marker in text]
    if leaked:
        raise RuntimeError(f"{lab.name}: solution markers {leaked} survived generate_assignment")
    version = versions.release_version(notebook)
    previous = _previous(lab)
    number = versions.course_metadata(previous).get("release", 1) if previous else 1
    if previous is not None and versions.release_version(previous) != version:
        number += 1
    notebook.metadata["course"] = {"lab": lab.name, "version": version, "tag": settings.tag, "release": number}
    return notebook


def _previous(lab: Lab) -> nbformat.NotebookNode | None:
    return nbformat.read(lab.release, as_version=4) if lab.release.is_file() else None


def release(lab: Lab) -> Path:
    """Write ``labs/<lab>/<lab>.ipynb``; keep the release it replaces if grading depends on the change."""
    notebook = student_notebook(lab)
    previous = _previous(lab)
    if previous is not None and versions.release_version(previous) != notebook.metadata.course["version"]:
        if "course" not in previous.metadata:  # released before versions were recorded
            previous.metadata["course"] = {"lab": lab.name, "version": versions.release_version(previous),
                                           "release": notebook.metadata.course["release"] - 1}
        versions.archive(lab, previous, keep=read_settings(lab.root).keep_releases)
    lab.release.parent.mkdir(parents=True, exist_ok=True)
    with open(lab.release, "w") as handle:
        nbformat.write(notebook, handle)
    return lab.release


def stamped_files(root: Path = REPO) -> list[Path]:
    """Files outside ``labs/`` that name the course's address: README, instructor notebooks, package metadata."""
    return [root / "README.md", *sorted((root / "grader").glob("*.ipynb")), root / "pyproject.toml",
            root / "course_utils" / "__init__.py", root / RELEASE_ASSETS]


def stamp_project(root: Path = REPO) -> list[Path]:
    """Stamp :func:`stamped_files` with ``course.toml``; return the files that changed."""
    settings = read_settings(root)
    changed = []
    for path in stamped_files(root):
        if not path.is_file():
            continue
        text = path.read_text()
        if path.suffix == ".ipynb":
            notebook = stamp_notebook(nbformat.reads(text, as_version=4), settings)
            new = nbformat.writes(notebook) + "\n"
        elif path.name == "pyproject.toml":
            new = re.sub(r'(?m)^version = ".*"$', f'version = "{settings.version}"', text, count=1)
            new = re.sub(r'(?m)^Repository = ".*"$', f'Repository = "{settings.repository}"', new, count=1)
        elif path.name == "__init__.py":
            new = re.sub(r'(?m)^__version__ = ".*"$', f'__version__ = "{settings.version}"', text, count=1)
        elif path.name == RELEASE_ASSETS.name:
            new = _asset_table(_asset_rows(text), repository=settings.repository, tag=settings.tag)
        else:
            new = stamp(text, settings)
        if new != text:
            path.write_text(new)
            changed.append(path)
    return changed


def release_all(labs: list[Lab], remove_stale: bool = True) -> list[Path]:
    """Release ``labs`` and stamp the project files; with ``remove_stale``, remove released labs whose
    solution is gone. Returns every file written."""
    paths = [release(lab) for lab in labs]
    root = labs[0].root if labs else REPO
    if labs and remove_stale:
        for folder in (root / "labs").glob("lab*_*"):
            if folder.is_dir() and folder.name not in {lab.name for lab in labs}:
                shutil.rmtree(folder)
    return paths + stamp_project(root) + build_release_assets(root)


def _asset_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _asset_table(rows: list[dict[str, str]], **changes: str) -> str:
    """The text of ``release_assets.csv`` with ``rows``, each updated with ``changes``."""
    from course_utils.datasets import RELEASE_ASSET_FIELDS

    out = io.StringIO()
    writer = csv.DictWriter(out, RELEASE_ASSET_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({**row, **changes} for row in rows)
    return out.getvalue()


def build_release_assets(root: Path = REPO) -> list[Path]:
    """Build Lab 3's packed face archive into ``build/`` and record it in ``release_assets.csv``.

    The archive (:func:`course_utils.faces.pack_faces`, about 200 MB, a minute or two) is built from
    ``$COURSE_DATA_DIR``; without the UTKFace and Tiny ImageNet folders there nothing is built and a note
    says so. Returns the files written: the archive to upload to the GitHub release of ``course.toml``'s
    tag, and the table.
    """
    from course_utils import faces
    from course_utils.datasets import sha256_of

    table = root / RELEASE_ASSETS
    rows = _asset_rows(table.read_text())
    row = next(row for row in rows if row["dataset"] == faces.PACKED)
    if not faces.utkface_available():
        print(f"note: COURSE_DATA_DIR holds no UTKFace and Tiny ImageNet folders, so {row['file']} was not built; "
              f"{RELEASE_ASSETS} keeps the sha256 of the last build")
        return []
    settings = read_settings(root)
    started = time.monotonic()
    archive = faces.pack_faces(root / "build" / row["file"])
    row.update(bytes=str(archive.stat().st_size), sha256=sha256_of(archive))
    table.write_text(_asset_table(rows, repository=settings.repository, tag=settings.tag))
    print(f"built {archive.relative_to(root)} ({archive.stat().st_size / 1e6:.0f} MB) in "
          f"{time.monotonic() - started:.0f} s: upload it to the GitHub release {settings.tag} of "
          f"{settings.repository}")
    return [archive, table]


class PublicCheckFailed(RuntimeError):
    """A solution notebook ran, but one of its public check cells did not print PASSED."""


def execute_solution(lab: Lab, timeout: float = 600) -> tuple[dict[str, str], float]:
    """Execute ``lab``'s solution notebook top to bottom in smoke mode, in a fresh kernel.

    Returns what each public check cell printed (by grade_id) and the seconds taken; raises
    :class:`PublicCheckFailed` naming the cells whose public check printed FAILED or no PASSED.
    """
    from nbclient import NotebookClient

    from grader.grading import public_check_outputs

    notebook = nbformat.read(lab.solution, as_version=4)
    os.environ["COURSE_MODE"] = "smoke"
    with tempfile.TemporaryDirectory() as work:
        started = time.monotonic()
        NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": work}}).execute()
        seconds = time.monotonic() - started
    outputs = public_check_outputs(notebook)
    failed = {cell: text for cell, text in outputs.items() if "FAILED" in text or "PASSED" not in text}
    if failed:
        raise PublicCheckFailed("; ".join(f"check cell {cell} printed: {' '.join(text.split())[:300]}"
                                          for cell, text in failed.items()))
    return outputs, seconds


def run_solution(lab: Lab, timeout: float = 600) -> float:
    """Seconds that :func:`execute_solution` took (the same checks and errors)."""
    return execute_solution(lab, timeout)[1]
