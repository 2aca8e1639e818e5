"""Grade the example and hostile Lab 1 submissions in one real, sandboxed batch."""

import json
import shutil
import socket
import threading

import nbformat
import pytest

from grader import sandbox
from grader.grading import grade_lab
from grader.labs import REPO, find_lab
from grader.pipeline import TIMED_PARTS
from grader.report import mean_timings
from tests.grader.hostile_corpus import ALICE, BOB, CORPUS, EXAMPLE_GRADES

pytestmark = pytest.mark.slow
LAB = find_lab("lab1")
EXAMPLES = REPO / "grader" / "examples" / LAB.name
LIMITS = sandbox.Limits(memory_mb=3000, cell_seconds=120, notebook_seconds=480, output_mb=2)


def _edit(notebook, how):
    cells = notebook.cells
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in cells}
    if how == "relu_lookup":  # right on the public check's input only
        by_id["activations_impl"].source = by_id["activations_impl"].source.replace(
            "return tf.maximum(z, 0.0)", "return np.maximum(np.linspace(-20, 20, 41), 0).astype('float32')")
    elif how == "edit_locked":
        by_id["activations"].source = "print('PASSED activations')"
        by_id["mnist_accuracy"].metadata["nbgrader"]["points"] = 100
    elif how == "delete_check":
        cells.remove(by_id["losses"])
    elif how == "duplicate_answer":
        twin = nbformat.from_dict(json.loads(json.dumps(by_id["perceptron_impl"])))
        twin.source = "def perceptron_forward(x, w, b):\n    return 0"
        cells.insert(cells.index(by_id["perceptron_impl"]) + 1, twin)


def _write(folder, student, data):
    (folder / student).mkdir(parents=True, exist_ok=True)
    (folder / student / LAB.notebook_name).write_bytes(data)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder, course = tmp_path_factory.mktemp("submissions"), tmp_path_factory.mktemp("course")
    for student in EXAMPLE_GRADES:
        shutil.copytree(EXAMPLES / student, folder / student)
    server = socket.create_server(("127.0.0.1", 0))
    connections = []
    threading.Thread(target=lambda: connections.append(server.accept()), daemon=True).start()
    fill = {"repo": str(REPO), "course": str(course), "port": server.getsockname()[1]}
    for case in CORPUS:
        notebook = nbformat.read(EXAMPLES / case.base / LAB.notebook_name, as_version=4)
        if case.code:
            notebook.cells.insert(3, nbformat.v4.new_code_cell(case.code.format(**fill)))
        _edit(notebook, case.edit)
        text = nbformat.writes(notebook)
        data = {"nbformat3": nbformat.writes(nbformat.convert(notebook, 3)).encode(), "truncate":
                text[: len(text) // 3].encode(), "empty": b"", "huge": b" " * (21 * 1024 * 1024) + text.encode()
                }.get(case.edit, text.encode())
        _write(folder, case.student, data)
    originals = {p: p.read_bytes() for p in folder.rglob("*.ipynb")}
    results = {r["student"]: r for r in grade_lab(LAB, folder, course, workers=2, limits=LIMITS, progress=False)}
    server.close()
    return {"results": results, "course": course, "folder": folder, "connections": connections,
            "originals": originals}


@pytest.mark.parametrize("student", list(EXAMPLE_GRADES))
def test_examples_get_their_expected_grades(graded, student):
    result = graded["results"][student]
    assert (result["status"], result["score"]) == EXAMPLE_GRADES[student], result["reasons"]
    assert result["max_score"] == ALICE
    assert bool(result["reasons"]) == (student in ("carol", "dave"))


@pytest.mark.parametrize("case", CORPUS, ids=lambda c: c.student)
def test_hostile_submission_gets_only_what_its_honest_work_earns(graded, case):
    result = graded["results"][case.student]
    allowed = case.status if isinstance(case.status, tuple) else (case.status,)
    assert result["status"] in allowed, result["reasons"]
    assert result["score"] == case.score, [c for c in result["checks"] if not c["passed"]]
    assert result["reasons"] or case.status == "graded"


def test_sandbox_kept_files_network_and_other_students_safe(graded):
    assert graded["connections"] == []
    for path, data in graded["originals"].items():
        assert path.read_bytes() == data
    course = graded["course"]
    alice = (course / "submitted" / "alice" / LAB.name / LAB.notebook_name).read_bytes()
    assert alice == graded["originals"][graded["folder"] / "alice" / LAB.notebook_name]
    snooped = nbformat.read(course / "autograded" / "snoop" / LAB.name / LAB.notebook_name, as_version=4)
    printed = json.dumps(snooped.cells[3].outputs)
    assert "FileNotFoundError" in printed and "def test_" not in printed and "SQLite" not in printed
    assert (REPO / "grader" / "checks" / "test_lab1.py").read_text().startswith('"""Hidden checks')


def test_gradebook_holds_per_question_scores(graded):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{graded['course'] / 'gradebook.db'}") as gradebook:
        alice = gradebook.find_submission(LAB.name, "alice")
        assert alice.code_score == ALICE and alice.needs_manual_grade  # written answers wait for a person
        bob = gradebook.find_grade("activations", LAB.name, LAB.name, "bob")
        assert bob.auto_score == 1.0 and bob.max_score == 2.0


def test_reports_and_feedback_never_show_hidden_checks(graded):
    course = graded["course"]
    hidden = [line.strip() for line in (REPO / "grader" / "checks" / "test_lab1.py").read_text().splitlines()
              if len(line.strip()) > 30]
    grades = (course / "grades.csv").read_text().splitlines()
    assert grades[0] == "student_id,lab,status,score,max_score,reason" and len(grades) == len(graded["results"]) + 1
    assert (course / "checks.csv").read_text().startswith("student,lab,check,points,max_points,passed,message")
    assert (course / "report" / LAB.name / "scores.png").stat().st_size > 1000
    assert "class summary" in (course / "report" / LAB.name / "report.html").read_text()
    for page in (course / "feedback").rglob("*.html"):
        text = page.read_text()
        assert "student.call" not in text and "lambda" not in text
        assert not [line for line in hidden if line in text]
    bob = (course / "feedback" / "bob" / LAB.name / "lab1_perceptron.html").read_text()
    assert "relu" in bob and "failed" in bob


def test_each_result_records_where_its_time_went_and_the_report_shows_it(graded):
    results = graded["results"]
    for student, result in results.items():
        timings = result["timings"]
        assert list(timings) == list(TIMED_PARTS) and min(timings.values()) >= -0.02, student
        assert sum(timings.values()) == pytest.approx(result["seconds"], abs=0.05), student
    alice = results["alice"]["timings"]
    assert alice["kernel_start"] > 0 and alice["student_cells"] > alice["kernel_start"] and alice["hidden_checks"] > 0
    empty = next(case.student for case in CORPUS if case.edit == "empty")
    assert results[empty]["timings"]["kernel_start"] == results[empty]["timings"]["student_cells"] == 0
    means = mean_timings(list(results.values()))
    assert means["total"] == pytest.approx(sum(r["seconds"] for r in results.values()) / len(results))
    page = (graded["course"] / "report" / LAB.name / "report.html").read_text()
    assert "Where the time went" in page and f"{means['student_cells']:.2f}" in page


def test_rerun_skips_finished_students_and_regrades_changed_ones(graded):
    course, folder = graded["course"], graded["folder"]
    stamps = {p.name: p.stat().st_mtime_ns for p in (course / "results" / LAB.name).glob("*.json")}
    carol = folder / "carol" / LAB.notebook_name
    carol.write_bytes((EXAMPLES / "bob" / LAB.notebook_name).read_bytes())
    results = {r["student"]: r for r in grade_lab(LAB, folder, course, workers=2, limits=LIMITS, progress=False)}
    after = {p.name: p.stat().st_mtime_ns for p in (course / "results" / LAB.name).glob("*.json")}
    changed = {name for name in after if after[name] != stamps.get(name)}
    assert changed == {"carol.json"} and results["carol"]["score"] == BOB
    assert results["alice"] == graded["results"]["alice"]
