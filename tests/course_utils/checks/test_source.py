"""The forbidden-shortcut detector: aliases resolved, look-alikes not flagged, bad code uses nothing."""

import pytest

from course_utils.checks import CheckResult, public_check, require_no_shortcut
from course_utils.checks.source import forbidden_uses, imports_of, used_names


@pytest.mark.parametrize("source", [
    "def f(z):\n    return tf.nn.sigmoid(z)",
    "import tensorflow as t\ndef f(z):\n    return t.nn.sigmoid(z)",
    "from tensorflow.nn import sigmoid as s\ndef f(z):\n    return s(z)",
    "from tensorflow import nn\ndef f(z):\n    return nn.sigmoid(z)",
    "def f(z):\n    return getattr(tf.nn, 'sigmoid')(z)",
    "    def f(z):\n        return tensorflow.nn.sigmoid(z)",  # indented, as inspect.getsource returns methods
])
def test_forbidden_call_is_found_however_it_is_spelled(source):
    assert forbidden_uses(source, ["nn.sigmoid", "math.sigmoid"]) == ["nn.sigmoid"]


@pytest.mark.parametrize("source", [
    "def f(z):\n    return 1 / (1 + tf.exp(-z))",
    "def sigmoid(z):\n    return 1 / (1 + tf.exp(-z))\ndef f(z):\n    return sigmoid(z)",  # the student's own
    "def f(z):\n    # tf.nn.sigmoid would be shorter\n    return 1 / (1 + np.exp(-z))",
    "def f(z):\n    return 'tf.nn.sigmoid'",
])
def test_allowed_code_is_not_flagged(source):
    assert forbidden_uses(source, ["nn.sigmoid", "math.sigmoid"]) == []


def test_an_alias_imported_in_another_cell_is_resolved():
    cells = ["%matplotlib inline\nimport scipy.stats as st\nx = 1", "def broken(:", "from tensorflow import nn as n"]
    assert imports_of(cells) == "import scipy.stats as st\nfrom tensorflow import nn as n"
    assert forbidden_uses("def f(p):\n    return st.entropy(p)", ["stats.entropy"], imports_of(cells)) == \
        ["stats.entropy"]
    assert forbidden_uses("    def f(z):\n        return n.sigmoid(z)", ["nn.sigmoid"], imports_of(cells)) == \
        ["nn.sigmoid"]
    assert forbidden_uses("def f(p):\n    return st.entropy(p)", ["stats.entropy"]) == []


def test_unparsable_code_uses_nothing_and_names_are_canonical():
    assert forbidden_uses("def f(:\n", ["nn.sigmoid"]) == []
    assert "numpy.maximum" in used_names("import numpy as np\nnp.maximum(1, 2)")


def test_public_check_names_the_forbidden_shortcut(capsys):
    import math

    def sigmoid(z):
        return 1 / (1 + math.exp(-z))

    @public_check
    def check_sigmoid(function):
        require_no_shortcut(function, {"math.exp": "use the exercise's tools"}, "sigmoid")

    result = check_sigmoid(sigmoid)
    assert isinstance(result, CheckResult) and not result.passed
    assert "must not use `math.exp`" in result.problems[0] and "FAILED" in capsys.readouterr().out
