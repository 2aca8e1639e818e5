"""`selftest` and `smoke` fail, with a message naming the cell or the check, when a solution's public check
prints FAILED or a hidden check rejects the solution (a one-exercise lab, real pipeline and real kernels)."""

import pytest

from grader import sandbox
from grader.grading import selftest
from grader.release import PublicCheckFailed, run_solution
from tests.grader.tiny_lab import HIDDEN, PUBLIC, make_tiny_lab

FAILING_PUBLIC = PUBLIC.replace("== 6", "== 7")
REJECTING_HIDDEN = HIDDEN.replace("== 8", "== 9")


@pytest.mark.slow
def test_selftest_passes_a_sound_lab_and_names_what_rejects_a_solution(tmp_path):
    sound = selftest(make_tiny_lab(tmp_path / "sound"), tmp_path / "work1", limits=sandbox.Limits())
    assert sound.ok, sound.problems
    planted = selftest(make_tiny_lab(tmp_path / "planted", public=FAILING_PUBLIC, hidden=REJECTING_HIDDEN),
                       tmp_path / "work2", limits=sandbox.Limits())
    assert not planted.ok
    text = "\n".join(planted.problems)
    assert "hidden check double_check/double rejects the solution: double(x) is not twice x" in text
    assert "public check cell double_check of the solution printed: FAILED double: 3 should give 6" in text


def test_smoke_run_fails_on_a_check_cell_that_prints_failed(tmp_path):
    assert run_solution(make_tiny_lab(tmp_path / "sound"), timeout=60) > 0
    with pytest.raises(PublicCheckFailed, match="check cell double_check printed: FAILED double"):
        run_solution(make_tiny_lab(tmp_path / "planted", public=FAILING_PUBLIC), timeout=60)
