"""The mutation tool: catalogues stay in step with the solutions, and a real run judges wrong and right answers."""

import datetime

import nbformat
import pytest

from grader import mutants, sandbox
from grader.integrity import grade_id
from grader.labs import all_labs, find_lab

LABS = all_labs()


@pytest.mark.parametrize("lab", LABS, ids=[lab.short for lab in LABS])
def test_every_lab_has_a_catalogue_that_applies_to_its_solution(lab):
    catalogue = mutants.catalogue(lab)
    assert sum(not m.correct for m in catalogue) >= 8 and sum(m.correct for m in catalogue) >= 2
    base = mutants.student_notebook(lab)
    for mutant in catalogue:
        changed = mutants.mutate(base, mutant)  # raises when an edit no longer matches the solution
        cell = next(c for c in changed.cells if grade_id(c) == mutant.cell)
        original = next(c for c in base.cells if grade_id(c) == mutant.cell)
        assert cell.source != original.source, f"{mutant.name} changes nothing"


def test_student_notebook_has_answers_but_no_solution_markers():
    notebook = mutants.student_notebook(find_lab("lab1"))
    text = nbformat.writes(notebook)
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    assert "GradientTape" in next(c.source for c in notebook.cells if grade_id(c) == "tape_gradient_impl")


def test_an_edit_must_match_exactly_once_and_target_an_answer_cell():
    base = mutants.student_notebook(find_lab("lab1"))
    with pytest.raises(ValueError, match="occurs 0 times"):
        mutants.mutate(base, mutants.wrong("activations_impl", "x", edits=[("no such text", "y")]))
    with pytest.raises(ValueError, match="not an answer cell"):
        mutants.mutate(base, mutants.wrong("activations", "x", source="pass"))
    with pytest.raises(ValueError, match="no cell"):
        mutants.mutate(base, mutants.wrong("nowhere", "x", source="pass"))


def _graded_check_cell(text: str, error: bool = False):
    cell = nbformat.v4.new_code_cell("checks.check_x(f)", metadata={"nbgrader": {"grade": True, "solution": False,
                                                                                    "grade_id": "x", "points": 1}})
    cell.outputs = [nbformat.v4.new_output("error", ename="NameError", evalue="f")] if error else \
        [nbformat.v4.new_output("stream", name="stdout", text=text)]
    return cell


def test_public_failures_reads_check_cell_output():
    notebook = nbformat.v4.new_notebook(cells=[_graded_check_cell("PASSED x\n")])
    assert mutants.public_failures(notebook) == {}
    notebook.cells = [_graded_check_cell("FAILED x:\n  - sign\n")]
    assert mutants.public_failures(notebook) == {"x": "FAILED x:\n  - sign\n"}
    notebook.cells = [_graded_check_cell("", error=True)]
    assert "NameError" in mutants.public_failures(notebook)["x"]


def test_summary_counts_kills_and_false_rejects():
    def verdict(correct, score, public=None, says="", hidden=()):
        return mutants.Verdict("m", "c", correct, says, "graded", score, 2.0, list(hidden), public or {})

    verdicts = [verdict(True, 2.0), verdict(False, 1.0, {"c": "FAILED: sign"}, "sign", ["c: check the sign"]),
                verdict(False, 2.0, {"c": "FAILED: shape"}, "sign"), verdict(True, 1.0)]
    s = mutants.summary(verdicts)
    assert (s["hidden_kill_rate"], s["public_kill_rate"], s["false_rejects"]) == (0.5, 1.0, 1)
    # the right answer that loses hidden points while its public check passes misleads too
    assert s["messages_name_mistake"] == 0.5 and s["baseline_ok"] and s["silent_penalties"] == 1


def test_an_answer_that_passes_publicly_but_loses_later_is_a_silent_penalty():
    def verdict(score, public=None, given=None, gap=False):
        return mutants.Verdict("m", "c", False, "sign", "graded", score, 2.0, ["c: sign"] if score < 2 else [],
                               public or {}, given or {}, gap)

    hidden_only = verdict(1.0, gap=True)
    breaks_later = verdict(2.0, given={"code cell 9": "AttributeError: 'ndarray' object has no attribute 'numpy'"})
    caught = verdict(1.0, {"c": "FAILED: sign"})
    assert hidden_only.silent_penalty and breaks_later.silent_penalty and not caught.silent_penalty
    assert not hidden_only.ok and caught.ok
    s = mutants.summary([verdict(2.0), hidden_only, breaks_later, caught])
    assert s["silent_penalties"] == 2 and s["gap"] == {"wrong": 1, "hidden_kill_rate": 1.0, "public_kill_rate": 0.0,
                                                      "messages_name_mistake": 1.0}
    text = mutants.report(find_lab("lab1"), [verdict(2.0), hidden_only, breaks_later, caught])
    assert text.count("SILENT PENALTY") == 2 and "wrong (gap): m" in text and "given cell code cell 9 broke" in text


def test_given_cell_errors_ignore_answer_and_check_cells():
    given = nbformat.v4.new_code_cell("x = fgsm(m, x, y).numpy()")
    given.outputs = [nbformat.v4.new_output("error", ename="AttributeError", evalue="no numpy")]
    notebook = nbformat.v4.new_notebook(cells=[_graded_check_cell("", error=True), given])
    assert mutants.given_cell_errors(notebook) == {"code cell 1": "AttributeError: no numpy"}


@pytest.mark.slow
def test_a_real_run_kills_a_forbidden_shortcut_and_keeps_a_right_alternative():
    lab = find_lab("lab1")
    sigmoid = "1.0 / (1.0 + tf.exp(-z))"
    chosen = [mutants.wrong("activations_impl", "sigmoid via tf.nn", edits=[(sigmoid, "tf.nn.sigmoid(z)")],
                            says="nn.sigmoid"),
              mutants.right("activations_impl", "sigmoid via tanh",
                            edits=[(sigmoid, "0.5 * (1.0 + tf.tanh(z / 2))")])]
    baseline, shortcut, tanh = mutants.run(lab, chosen, workers=2, limits=sandbox.Limits())
    assert baseline.ok and baseline.score == baseline.max_score > 0
    assert shortcut.hidden_failed and shortcut.public_failed and shortcut.named, shortcut
    assert tanh.ok, tanh


@pytest.mark.slow
def test_a_rotating_sample_of_the_catalogues_goes_through_the_real_pipeline():
    """Every CI run grades one wrong and one right entry of one lab's catalogue as real submissions, another lab
    and other entries each day, beside the solution; the whole catalogue is `python -m grader mutants LAB`."""
    day = datetime.date.today().toordinal()
    lab = LABS[day % len(LABS)]
    catalogue = mutants.catalogue(lab)
    wrong_ones, right_ones = [m for m in catalogue if not m.correct], [m for m in catalogue if m.correct]
    chosen = [wrong_ones[day % len(wrong_ones)], right_ones[day % len(right_ones)]]
    verdicts = mutants.run(lab, chosen, workers=2, limits=sandbox.Limits())
    report = mutants.report(lab, verdicts)
    assert all(v.ok for v in verdicts) and verdicts[1].named is not False, report
