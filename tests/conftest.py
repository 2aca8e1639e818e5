"""Shared test set-up: real datasets from COURSE_DATA_DIR when present (see README)."""

import functools
import http.server
import threading
from pathlib import Path

import pytest

from grader.labs import solution_namespace  # noqa: F401  (the tests import it from here)

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


def pytest_configure(config):
    """Point the dataset lookup at the shared data, if there, before collection (skip marks read it)."""
    import os

    if not os.environ.get("COURSE_DATA_DIR") and (SHARED_DATA / "MANIFEST.tsv").is_file():
        os.environ["COURSE_DATA_DIR"] = str(SHARED_DATA)


@pytest.fixture(scope="session", autouse=True)
def _fresh_cache(tmp_path_factory):
    """A fresh, empty download cache for the whole run."""
    mp = pytest.MonkeyPatch()
    mp.setenv("COURSE_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


def have_mnist() -> bool:
    import os

    data = os.environ.get("COURSE_DATA_DIR")
    return bool(data) and (Path(data) / "mnist" / "t10k-labels-idx1-ubyte.gz").is_file()


def check_failed(result, *fragments: str) -> bool:
    """A public check failed and its message mentions every fragment."""
    text = " ".join(result.problems)
    return (not result.passed) and all(fragment in text for fragment in fragments)


def fails(result, *fragments: str) -> None:
    """Assert that a public check failed with a message that mentions every fragment."""
    assert check_failed(result, *fragments), result.message


def judge_catalogue_entry(lab: str, mutant, namespace: dict, check=None) -> None:
    """Judge one entry of ``lab``'s mutant catalogue with its public check, in this process.

    The mutated answer cell, as a student's notebook holds it, runs in a copy of ``namespace`` (the solution's
    cells) with :func:`grader.labs.run_cell`, as IPython runs a cell, so checks can read its source; then
    ``check(scope)`` runs the public check, or, without ``check``, the notebook's check cell that follows the
    answer. A right answer must pass; a wrong one must fail with a message that contains ``mutant.says``.
    """
    from grader.integrity import grade_id
    from grader.labs import find_lab, run_cell
    from grader.mutants import mutate, student_notebook

    cells = [c for c in mutate(student_notebook(find_lab(lab)), mutant).cells if grade_id(c)]
    ids = [grade_id(c) for c in cells]
    answer, check_cell = cells[ids.index(mutant.cell)], cells[ids.index(mutant.cell) + 1]
    # A name of its own: the solution's cell was compiled as "<cell>", and tf.function reads a function's source
    # through linecache, so another entry under that name would change what compiling the solution reads.
    scope = dict(namespace)
    run_cell(answer.source, f"<catalogue {mutant.cell}: {mutant.name}>", scope)
    result = check(scope) if check is not None else \
        eval(compile(check_cell.source, f"<{grade_id(check_cell)}>", "eval"), scope)
    if mutant.correct:
        assert result.passed, result.message
    else:
        assert not result.passed and mutant.says.lower() in result.message.lower(), result.message


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path, monkeypatch):
    """An HTTP server on 127.0.0.1 serving ``tmp_path / "www"``; yields that folder and its base URL."""
    folder = tmp_path / "www"
    folder.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # never through a proxy: loopback only
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    yield folder, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    thread.join()
