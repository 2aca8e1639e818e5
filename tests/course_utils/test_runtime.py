import subprocess
import sys

import pytest

import course_utils
from course_utils import runtime


def test_budget_follows_course_mode(monkeypatch):
    monkeypatch.setenv("COURSE_MODE", "smoke")
    assert course_utils.budget(full=10, smoke=1) == 1 and course_utils.is_smoke()
    monkeypatch.setenv("COURSE_MODE", "full")
    assert course_utils.budget(full=10, smoke=1) == 10
    monkeypatch.delenv("COURSE_MODE")
    assert course_utils.mode() == "full"


def test_unknown_mode_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("COURSE_MODE", "fast")
    with pytest.raises(ValueError, match="full, smoke"):
        course_utils.mode()


def test_import_does_not_load_tensorflow():
    code = "import course_utils, sys; print('tensorflow' in sys.modules, 'matplotlib.pyplot' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_setup_seeds_and_reports(monkeypatch, capsys):
    import numpy as np

    monkeypatch.setenv("COURSE_MODE", "smoke")
    info = runtime.setup(seed=3)
    first = np.random.rand()
    runtime.setup(seed=3, quiet=True)
    assert np.random.rand() == first
    assert info["mode"] == "smoke" and info["device"] and info["colab"] == "no"
    assert "device:" in capsys.readouterr().out


def test_setup_cell_prints_its_summary_once(tmp_path, monkeypatch):
    """The setup cell ends with ``course_utils.setup(...)``: its value must not show the summary a second time."""
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("COURSE_MODE", "smoke")
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import course_utils\ncourse_utils.setup(seed=1)"),
        nbformat.v4.new_code_cell("info = course_utils.setup(seed=1, quiet=True)\nprint(info['seed'], info)"),
    ])
    NotebookClient(notebook, timeout=120, resources={"metadata": {"path": str(tmp_path)}}).execute()
    setup_cell, reuse = ([(o.output_type, o.get("text", "")) for o in cell.outputs] for cell in notebook.cells)
    assert len(setup_cell) == 1 and setup_cell[0][0] == "stream" and "device:" in setup_cell[0][1], setup_cell
    assert reuse[0][1].startswith("1 device: ") and "seed: 1" in reuse[0][1]
