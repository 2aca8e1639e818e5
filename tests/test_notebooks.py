"""Every solution notebook runs top to bottom in smoke mode, in a real kernel."""

import pytest

from grader.labs import all_labs
from grader.release import run_solution


@pytest.mark.slow
@pytest.mark.parametrize("lab", all_labs(), ids=lambda lab: lab.name)
def test_solution_runs_in_smoke_mode(lab, monkeypatch):
    monkeypatch.setenv("COURSE_MODE", "smoke")
    assert run_solution(lab, timeout=600) > 0
