"""Every lab grades itself in CI: its solution notebook runs top to bottom in smoke mode through the real
pipeline (sandboxed kernel, hidden checks), earns full marks, and every public check cell prints PASSED and
nothing FAILED; the untouched student notebook earns nothing."""

import pytest

from grader import sandbox
from grader.grading import selftest
from grader.labs import all_labs


@pytest.mark.slow
@pytest.mark.parametrize("lab", all_labs(), ids=lambda lab: lab.name)
def test_lab_grades_its_own_solution(lab, tmp_path):
    outcome = selftest(lab, tmp_path, limits=sandbox.Limits())
    assert outcome.ok, f"{lab.name}:\n" + "\n".join(outcome.problems)
