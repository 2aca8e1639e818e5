"""Fast grader units: intake, cell reconciliation, the channel's data format."""

import base64
import contextlib
import io
import json
import shutil
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest

from grader import channel, intake, judge
from grader.channel import StudentError
from grader.harness import CheckFailed, expect_no_shortcut
from grader.integrity import answer_sources, grade_id, reconcile
from grader.labs import REPO, Lab, all_labs, find_lab

LAB = find_lab("lab1")


def _released():
    return nbformat.read(LAB.release, as_version=4)


def _ids(notebook):
    return [grade_id(c) for c in notebook.cells]


def test_untouched_notebook_reconciles_to_itself_with_missing_answers():
    result = reconcile(_released(), _released())
    assert result.tampered == [] and _ids(result.notebook) == _ids(_released())
    assert "tape_gradient_impl" in result.missing_answers and "q_nonlinearity" in result.missing_answers


def test_hidden_checks_read_answers_from_the_notebook_and_spot_shortcuts():
    submitted = _released()
    answer = next(c for c in submitted.cells if grade_id(c) == "activations_impl")
    answer.source = "import tensorflow as t\ndef sigmoid(z):\n    return t.math.sigmoid(z)\n"
    answers = answer_sources(reconcile(submitted, _released()).notebook)
    assert "activations" not in answers and answers["activations_impl"] == answer.source  # answer cells only
    forbidden = {"math.sigmoid": "write it with tf.exp"}
    with pytest.raises(CheckFailed, match="sigmoid must not use `math.sigmoid`"):
        expect_no_shortcut(answers, "activations_impl", forbidden, "sigmoid")
    expect_no_shortcut(answers, "tape_gradient_impl", forbidden, "tape_gradient")


def test_hidden_shortcut_check_resolves_an_alias_imported_in_a_cell_the_student_added():
    submitted = _released()
    answer = next(c for c in submitted.cells if grade_id(c) == "activations_impl")
    answer.source = "def sigmoid(z):\n    return tm.sigmoid(z)\n"
    submitted.cells.insert(submitted.cells.index(answer), nbformat.v4.new_code_cell("import tensorflow.math as tm"))
    answers = answer_sources(reconcile(submitted, _released()).notebook)
    assert "import tensorflow.math as tm" in answers.values()
    with pytest.raises(CheckFailed, match="sigmoid must not use `math.sigmoid`"):
        expect_no_shortcut(answers, "activations_impl", {"math.sigmoid": "write it with tf.exp"}, "sigmoid")


def test_locked_cells_are_restored_and_flagged():
    submitted = _released()
    check = next(c for c in submitted.cells if grade_id(c) == "activations")
    check.source = "print('PASSED activations')"
    check.metadata["nbgrader"]["points"] = 100
    del submitted.cells[submitted.cells.index(check) + 1]  # a locked demo cell
    submitted.cells.append(nbformat.v4.new_code_cell("x = 1", metadata={"nbgrader": {"grade": True, "points": 50,
                                                                                     "grade_id": "bonus"}}))
    result = reconcile(submitted, _released())
    assert any("activations was changed" in t for t in result.tampered)
    assert any("was deleted" in t for t in result.tampered)
    assert any("bonus" in n for n in result.notes)
    original = {c.metadata["nbgrader"]["grade_id"]: c for c in _released().cells if "nbgrader" in c.metadata}
    graded = {grade_id(c): c for c in result.notebook.cells}
    assert graded["activations"].source == original["activations"].source
    points = graded["activations"].metadata["nbgrader"]["points"]
    assert points == original["activations"].metadata["nbgrader"]["points"]
    assert "bonus" not in graded and set(original) <= set(graded)


def test_changed_or_missing_instruction_text_is_noted_not_tampering():
    """A student who started on an earlier release has older instructions: no grade depends on them."""
    submitted = _released()
    texts = [c for c in submitted.cells if c.cell_type == "markdown" and c.metadata["nbgrader"].get("locked")
             and not c.metadata["nbgrader"].get("grade")]
    texts[0].source += "\n(an older wording)"
    texts[1].metadata["nbgrader"]["points"] = 5
    submitted.cells.remove(texts[2])
    result = reconcile(submitted, _released())
    changed, bumped, removed = (grade_id(c) for c in texts[:3])
    assert any(changed in n and "differs" in n for n in result.notes)
    assert any(removed in n and "missing" in n for n in result.notes)
    assert result.tampered == [f"the grading settings of cell {bumped} were changed: original restored"]
    assert _ids(result.notebook) == _ids(_released())


def test_duplicated_answer_cell_keeps_the_first():
    submitted = _released()
    answer = next(c for c in submitted.cells if grade_id(c) == "losses_impl")
    answer.source = "def binary_cross_entropy(y, p): return 0"
    twin = nbformat.from_dict(dict(answer))
    twin.source = "evil = True"
    submitted.cells.insert(submitted.cells.index(answer) + 1, twin)
    result = reconcile(submitted, _released())
    assert any("duplicated" in t for t in result.tampered)
    kept = [c for c in result.notebook.cells if grade_id(c) == "losses_impl"]
    assert len(kept) == 1 and kept[0].source.startswith("def binary_cross_entropy")


def test_zip_intake_rejects_traversal_and_reads_ids(tmp_path):
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("jdoe_1234_5678_lab1_perceptron.ipynb", "{}")
        z.writestr("../../etc/evil.ipynb", "{}")
        z.writestr("alice/lab1_perceptron.ipynb", "{}")
    found = {s.student: s for s in intake.collect(archive, LAB.notebook_name)}
    assert set(found) >= {"jdoe", "alice"}
    unsafe = [s for s in found.values() if s.problem and "unsafe path" in s.problem]
    assert len(unsafe) == 1 and unsafe[0].data == b"" and "../../etc/evil.ipynb" in unsafe[0].problem


def test_folder_intake_reports_empty_and_oversized(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "big").mkdir()
    (tmp_path / "big" / "lab1_perceptron.ipynb").write_bytes(b" " * (intake.MAX_BYTES + 1))
    (tmp_path / "bad id!").mkdir()
    (tmp_path / "bad id!" / "x.ipynb").write_text("{}")
    found = {s.student: s for s in intake.collect(tmp_path, LAB.notebook_name)}
    assert "no .ipynb" in found["empty"].problem and "too large" in found["big"].problem
    assert any(s.problem and "not a safe name" in s.problem for s in found.values())


def test_channel_round_trips_plain_data_only():
    arrays = {}
    tree = channel.pack([np.arange(3), {"a": (1.5, None, "s")}], arrays)
    assert channel.unpack(tree, arrays)[1] == {"a": (1.5, None, "s")}
    with pytest.raises(TypeError):
        channel.pack(object(), {})
    with pytest.raises(ValueError):
        channel.unpack({"__pickle__": "x"}, {})


class _Replying:
    """A kernel that answers every probe with ``reply`` (the channel's reply path, without a student)."""

    def __init__(self, reply: str):
        self.reply = reply

    def evaluate(self, code, expression, timeout, reply_limit):
        return repr(self.reply)

    @contextlib.contextmanager
    def shared_file(self, data):
        yield "unread.npz"


def test_channel_refuses_a_reply_that_needs_pickle():
    buffer = io.BytesIO()
    np.savez(buffer, a0=np.array([object()], dtype=object), allow_pickle=True)
    crafted = json.dumps({"tree": {"__array__": "a0"}, "npz": base64.b64encode(buffer.getvalue()).decode()})
    with pytest.raises(StudentError, match="could not be read"):
        channel.StudentKernel(_Replying(crafted)).call("sigmoid", 1.0)
    plain = io.BytesIO()
    np.savez(plain, a0=np.arange(3))
    honest = json.dumps({"tree": {"__array__": "a0"}, "npz": base64.b64encode(plain.getvalue()).decode()})
    assert channel.StudentKernel(_Replying(honest)).call("sigmoid", 1.0).tolist() == [0, 1, 2]


def test_feedback_names_only_plain_functions():
    assert channel._label("model.predict") == "`model.predict`"
    assert channel._label("lambda x: secret_reference(x)") == "your code"


def test_every_submission_meets_the_same_hidden_inputs(tmp_path):
    """A module-level random generator in a checks file starts afresh for each run_checks in one process."""
    checks = tmp_path / "test_draws.py"
    checks.write_text("import numpy as np\nfrom grader.harness import CheckFailed, points\n"
                      "RNG = np.random.default_rng(5)\n\n\n@points(1, question='q')\ndef test_draw(answers):\n"
                      "    raise CheckFailed(str(RNG.integers(10**9)))\n")
    first, second = (judge.run_checks(checks, None, answers={})[0].message for _ in range(2))
    assert first == second == str(np.random.default_rng(5).integers(10**9))


def test_a_checks_files_imports_load_in_the_background_before_the_checks_run(tmp_path, monkeypatch):
    """preload_imports imports what a checks file imports in another thread; run_checks waits for it, and a module
    that fails to import there is reported by the checks' own import."""
    (tmp_path / "slow_dependency.py").write_text(
        "import threading, time\ntime.sleep(0.5)\nLOADED_BY = threading.current_thread().name\n")
    monkeypatch.syspath_prepend(tmp_path)
    checks = tmp_path / "test_uses_it.py"
    checks.write_text("import slow_dependency\nfrom grader.harness import CheckFailed, points\n\n\n"
                      "@points(1, question='q')\ndef test_who_loaded(answers):\n"
                      "    raise CheckFailed(slow_dependency.LOADED_BY)\n")
    judge.preload_imports(checks)
    [outcome] = judge.run_checks(checks, None, answers={})
    assert outcome.message == f"preload {checks.name}"
    broken = tmp_path / "test_broken.py"
    broken.write_text("import no_such_module_here\n")
    judge.preload_imports(broken)
    with pytest.raises(RuntimeError, match="no_such_module_here"):
        judge.run_checks(broken, None, answers={})


def test_the_fingerprint_follows_what_decides_a_grade_and_nothing_else(tmp_path, monkeypatch):
    """An edit to a report or the command line keeps every saved result; an edit to the judge, the lab's public
    checks or its hidden checks regrades."""
    from grader import fingerprint

    root = tmp_path / "checkout"
    lab = Lab("lab1_perceptron", root)
    deciding = [p.relative_to(REPO) for p in fingerprint.grade_sources(find_lab("lab1"))]
    for path in [lab.release.relative_to(root), lab.checks.relative_to(root), Path("grader/report.py"),
                 Path("grader/__main__.py"), *deciding]:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / path, root / path)
    monkeypatch.setattr(fingerprint, "REPO", root)
    before = fingerprint.fingerprint(lab)
    for outside in ("grader/report.py", "grader/__main__.py"):
        (root / outside).write_text((root / outside).read_text() + "\n# a comment\n")
        assert fingerprint.fingerprint(lab) == before, outside
    for inside in ("grader/judge.py", "course_utils/checks/lab1.py", "grader/checks/test_lab1.py"):
        (root / inside).write_text((root / inside).read_text() + "\n# a comment\n")
        assert fingerprint.fingerprint(lab) != before, inside
        before = fingerprint.fingerprint(lab)


def test_the_gradebook_records_when_the_student_handed_in_not_when_it_was_graded(tmp_path):
    import datetime

    from nbgrader.api import Gradebook

    from grader.course import generate_assignment, record_grades

    generate_assignment(LAB, tmp_path)
    record_grades(tmp_path, LAB, "jdoe", {}, [], "2026-03-01T23:59:00+01:00")
    record_grades(tmp_path, LAB, "folder-student", {}, [], None)
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gradebook:
        stamps = {s.student_id: s.timestamp for s in gradebook.find_assignment(LAB.name).submissions}
    assert stamps == {"jdoe": datetime.datetime(2026, 3, 1, 22, 59), "folder-student": None}


def test_each_kernel_gets_its_share_of_its_hosts_cores():
    from grader.pipeline import THREAD_VARIABLES, kernel_threads, thread_limits

    two_on_eight = {"w1": {"host": "a", "cores": 8}, "w2": {"host": "a", "cores": 8}}
    assert kernel_threads(two_on_eight) == 4
    crowded = {**two_on_eight, "w3": {"host": "a", "cores": 8}, "w4": {"host": "b", "cores": 2}}
    assert kernel_threads(crowded) == 2
    assert kernel_threads({f"w{n}": {"host": "a", "cores": 2} for n in range(5)}) == 1
    assert thread_limits(3) == dict.fromkeys(THREAD_VARIABLES, "3") and "OMP_NUM_THREADS" in THREAD_VARIABLES


def test_grading_prefetches_only_the_datasets_its_lab_reads(monkeypatch):
    import course_utils.datasets as datasets
    from grader.grading import prefetch_datasets

    fetched = []
    monkeypatch.setattr(datasets, "fetch", lambda name, file: fetched.append(name))
    prefetch_datasets(find_lab("lab9"))
    assert set(fetched) == {"cora"} and len(fetched) == len(datasets.REGISTRY["cora"].files)
    fetched.clear()
    prefetch_datasets(find_lab("lab1"))
    assert set(fetched) == {"mnist"}
    known = {lab.short for lab in all_labs()}
    assert all(dataset.labs and set(dataset.labs) <= known for dataset in datasets.REGISTRY.values())
