"""The similarity report flags a renamed copy, not independent answers or the untouched starter code."""

import csv
import re

import nbformat
import pytest

from grader.__main__ import main
from grader.integrity import grade_id
from grader.labs import find_lab
from grader.report import write_summary

LAB = find_lab("lab1")

# A second correct Lab 1, written independently of the solution notebook (another style throughout).
INDEPENDENT = {
    "tape_gradient_impl": '''def tape_gradient(x):
    x = tf.convert_to_tensor(x, dtype=tf.float32)
    with tf.GradientTape() as g:
        g.watch(x)
        total = tf.reduce_sum(tf.pow(x, 3)) - tf.reduce_sum(2.0 * x)
    grad = g.gradient(total, x)
    return grad
''',
    "activations_impl": '''def sigmoid(z):
    z = tf.convert_to_tensor(z, dtype=tf.float32)
    return tf.math.reciprocal(1 + tf.math.exp(-z))


def relu(z):
    z = tf.convert_to_tensor(z, dtype=tf.float32)
    return tf.where(z > 0, z, tf.zeros_like(z))
''',
    "perceptron_impl": '''def perceptron_forward(x, w, b):
    x = tf.convert_to_tensor(x, dtype=tf.float32)
    w = tf.convert_to_tensor(w, dtype=tf.float32)
    logits = tf.tensordot(x, w, axes=1) + b
    return sigmoid(logits)
''',
    "dense_layer_impl": '''class DenseLayer(keras.layers.Layer):
    def __init__(self, units, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        d_in = input_shape[-1]
        self.W = self.add_weight(name="kernel", shape=[int(d_in), self.units],
                                 initializer="glorot_uniform", trainable=True)
        self.b = self.add_weight(name="bias", shape=[self.units], initializer="zeros", trainable=True)

    def call(self, x):
        out = x @ self.W
        out = out + self.b
        return self.activation(out)
''',
    "losses_impl": '''def binary_cross_entropy(y_true, y_pred, eps=1e-7):
    y_true = tf.convert_to_tensor(y_true, dtype=tf.float32)
    y_pred = tf.convert_to_tensor(y_pred, dtype=tf.float32)
    p = tf.clip_by_value(y_pred, eps, 1.0 - eps)
    per_example = y_true * tf.math.log(p) + (1.0 - y_true) * tf.math.log(1.0 - p)
    return -tf.reduce_mean(per_example)


def mean_squared_error(y_true, y_pred):
    diff = tf.convert_to_tensor(y_pred, tf.float32) - tf.convert_to_tensor(y_true, tf.float32)
    return tf.reduce_mean(diff * diff)
''',
    "gradient_step_impl": '''def gradient_step(w, b, x, y, learning_rate):
    w = tf.Variable(w, dtype=tf.float32)
    b = tf.Variable(b, dtype=tf.float32)
    with tf.GradientTape(persistent=True) as t:
        current = binary_cross_entropy(y, perceptron_forward(x, w, b))
    grad_w = t.gradient(current, w)
    grad_b = t.gradient(current, b)
    return w - learning_rate * grad_w, b - learning_rate * grad_b, current
''',
    "mlp_impl": '''def build_mlp():
    model = keras.Sequential()
    model.add(keras.Input(shape=(28, 28)))
    model.add(keras.layers.Flatten())
    model.add(keras.layers.Dense(256, activation=tf.nn.relu))
    model.add(keras.layers.Dropout(rate=0.2))
    model.add(keras.layers.Dense(10))
    return model
''',
    "train_step_impl": '''loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def train_step(model, optimizer, x, y):
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        batch_loss = loss_fn(y, logits)
    variables = model.trainable_variables
    optimizer.apply_gradients(zip(tape.gradient(batch_loss, variables), variables))
    return batch_loss
''',
}
RENAMES = {"tape": "recorder", "loss": "cost", "grads": "g", "dw": "step_w", "db": "step_b", "y_pred": "probs",
           "y_true": "targets", "f": "value", "d_in": "fan_in"}


def _notebook(answers: dict[str, str]):
    """The released Lab 1 with the given answer cells filled in."""
    notebook = nbformat.read(LAB.release, as_version=4)
    for cell in notebook.cells:
        if grade_id(cell) in answers:
            cell.source = answers[grade_id(cell)]
    return notebook


def _solution_answers() -> dict[str, str]:
    solution = nbformat.read(LAB.solution, as_version=4)
    return {grade_id(c): re.sub(r" *### (BEGIN|END) SOLUTION\n", "", c.source) for c in solution.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")}


def _renamed(answers: dict[str, str]) -> dict[str, str]:
    """The same code with other names, other comments and other indentation: what a copier does."""
    changed = {}
    for cell, source in answers.items():
        for old, new in RENAMES.items():
            source = re.sub(rf"\b{old}\b", new, source)
        source = re.sub(r"#.*", "# my own work", source).replace("    ", "  ")
        changed[cell] = source
    return changed


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course folder as autograde leaves it: the original notebooks under submitted/."""
    course = tmp_path_factory.mktemp("course")
    written = {"ann": _solution_answers(), "ben": INDEPENDENT, "cat": _renamed(_solution_answers()), "dan": {}}
    for student, answers in written.items():
        path = course / "submitted" / student / LAB.name / LAB.notebook_name
        path.parent.mkdir(parents=True)
        nbformat.write(_notebook(answers), str(path))
    return course


def test_renamed_copy_is_flagged_independent_work_and_starter_code_are_not(course, capsys):
    assert main(["similarity", "lab1", "--course-dir", str(course)]) == 0
    assert "1 pair(s) of 4 submissions" in capsys.readouterr().out
    with open(course / "report" / LAB.name / "similarity.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["student_a"], r["student_b"]) for r in rows] == [("ann", "cat")]
    assert min(float(rows[0]["shared_a"]), float(rows[0]["shared_b"])) > 0.9


def test_lower_threshold_shows_independent_answers_share_less(course, capsys):
    main(["similarity", "lab1", "--course-dir", str(course), "--threshold", "0.1"])
    with open(course / "report" / LAB.name / "similarity.csv") as handle:
        pairs = {(r["student_a"], r["student_b"]): float(r["shared_a"]) for r in csv.DictReader(handle)}
    assert ("ann", "cat") in pairs and ("ann", "ben") in pairs
    assert pairs[("ann", "ben")] < 0.5 < pairs[("ann", "cat")]
    assert not [pair for pair in pairs if "dan" in pair]  # the untouched starter code matches nobody


def test_summary_shows_the_matching_code_side_by_side(course):
    results = [{"student": s, "status": "graded", "score": 0.0, "max_score": 14.0, "reasons": [], "checks": []}
               for s in ("ann", "ben", "cat", "dan")]
    page = write_summary(course, LAB, results).read_text()
    section = page.split("<h2>Similar submissions</h2>")[1]
    assert "ann and cat" in section and "ben" not in section
    copied = section.split("<summary>ann and cat</summary>")[1]
    assert "<mark>" in copied and "recorder.gradient" in copied and "tape.gradient" in copied
    assert "no grade was changed" in section
