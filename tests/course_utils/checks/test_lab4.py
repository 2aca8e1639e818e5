"""Lab 4 public checks: they pass on a correct implementation and fail, with a useful message, on
typical mistakes."""

from __future__ import annotations

import types

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from course_utils.checks import lab4 as checks  # noqa: E402
from grader.mutants import lab4 as catalogue  # noqa: E402
from tests.conftest import check_failed, judge_catalogue_entry, solution_namespace  # noqa: E402


def _loss(model, x, y):
    return tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(y, model(x), from_logits=True))


# The reference implementations are the solution notebook's own.
SOLUTION = solution_namespace("lab4_adversarial", np=np, tf=tf, keras=keras)
input_gradient, fgsm, fgsm_targeted, pgd, adversarial_train_step, eot_gradient = (
    SOLUTION[name] for name in ("input_gradient", "fgsm", "fgsm_targeted", "pgd", "adversarial_train_step",
                                "eot_gradient"))


# --- typical mistakes, each with a word its message must contain ----------------------------------

def gradient_mean(model, x, y):
    x = tf.convert_to_tensor(x, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, model(x), from_logits=True))
    return tape.gradient(loss, x)


def gradient_unwatched(model, x, y):
    x = tf.convert_to_tensor(x, dtype=tf.float32)
    with tf.GradientTape() as tape:
        loss = _loss(model, x, y)
    return tape.gradient(loss, x)


def gradient_of_logit(model, x, y):
    x = tf.convert_to_tensor(x, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = tf.reduce_sum(model(x))
    return tape.gradient(out, x)


def gradient_probabilities(model, x, y):
    x = tf.convert_to_tensor(x, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(y, model(x)))
    return tape.gradient(loss, x)


def fgsm_unclipped(model, x, y, eps):
    x = tf.convert_to_tensor(x, dtype=tf.float32)
    return x + eps * tf.sign(input_gradient(model, x, y))


def fgsm_raw_gradient(model, x, y, eps):
    x = tf.convert_to_tensor(x, dtype=tf.float32)
    return tf.clip_by_value(x + eps * input_gradient(model, x, y), 0.0, 1.0)


def fgsm_descent(model, x, y, eps):
    x = tf.convert_to_tensor(x, dtype=tf.float32)
    return tf.clip_by_value(x - eps * tf.sign(input_gradient(model, x, y)), 0.0, 1.0)


def fgsm_targeted_ascent(model, x, target, eps):
    return fgsm(model, x, target, eps)


def fgsm_targeted_via_fgsm(model, x, target, eps):
    return fgsm(model, x, target, -eps)


def pgd_no_projection(model, x, y, eps, alpha, steps, random_start=True, gradient=input_gradient):
    x = tf.convert_to_tensor(x, dtype=tf.float32)
    x_adv = tf.clip_by_value(x + tf.random.uniform(tf.shape(x), -eps, eps), 0, 1) if random_start else x
    for _ in range(steps):
        x_adv = tf.clip_by_value(x_adv + alpha * tf.sign(gradient(model, x_adv, y)), 0.0, 1.0)
    return x_adv


def pgd_ignores_random_start(model, x, y, eps, alpha, steps, random_start=True, gradient=input_gradient):
    return pgd(model, x, y, eps, alpha, steps, random_start=False, gradient=gradient)


def pgd_ignores_gradient_argument(model, x, y, eps, alpha, steps, random_start=True, gradient=input_gradient):
    return pgd(model, x, y, eps, alpha, steps, random_start=random_start)


def pgd_projects_around_current(model, x, y, eps, alpha, steps, random_start=True, gradient=input_gradient):
    x = tf.convert_to_tensor(x, dtype=tf.float32)
    x_adv = tf.clip_by_value(x + tf.random.uniform(tf.shape(x), -eps, eps), 0, 1) if random_start else x
    for _ in range(steps):
        previous = x_adv
        x_adv = x_adv + alpha * tf.sign(gradient(model, x_adv, y))
        x_adv = tf.clip_by_value(tf.clip_by_value(x_adv, previous - eps, previous + eps), 0.0, 1.0)
    return x_adv


def pgd_projects_around_start(model, x, y, eps, alpha, steps, random_start=True, gradient=input_gradient):
    x = tf.convert_to_tensor(x, dtype=tf.float32)
    x = tf.clip_by_value(x + tf.random.uniform(tf.shape(x), -eps, eps), 0, 1) if random_start else x
    x_adv = x
    for _ in range(steps):
        x_adv = x_adv + alpha * tf.sign(gradient(model, x_adv, y))
        x_adv = tf.clip_by_value(tf.clip_by_value(x_adv, x - eps, x + eps), 0.0, 1.0)
    return x_adv


def pgd_gradient_at_x(model, x, y, eps, alpha, steps, random_start=True, gradient=input_gradient):
    x = tf.convert_to_tensor(x, dtype=tf.float32)
    x_adv = tf.clip_by_value(x + tf.random.uniform(tf.shape(x), -eps, eps), 0, 1) if random_start else x
    for _ in range(steps):
        x_adv = x_adv + alpha * tf.sign(gradient(model, x, y))
        x_adv = tf.clip_by_value(tf.clip_by_value(x_adv, x - eps, x + eps), 0.0, 1.0)
    return x_adv


def pgd_delta_form(model, x, y, eps, alpha, steps, random_start=True, gradient=input_gradient):
    x = tf.convert_to_tensor(x, dtype=tf.float32)
    delta = tf.random.uniform(tf.shape(x), -eps, eps) if random_start else tf.zeros_like(x)
    delta = tf.clip_by_value(x + delta, 0.0, 1.0) - x
    for _ in range(steps):
        delta = tf.clip_by_value(delta + alpha * tf.sign(gradient(model, x + delta, y)), -eps, eps)
        delta = tf.clip_by_value(x + delta, 0.0, 1.0) - x
    return x + delta


def train_step_clean(model, optimizer, x, y, eps, alpha, steps):
    x = tf.convert_to_tensor(x, dtype=tf.float32)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, model(x), from_logits=True))
    optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
    return loss, pgd(model, x, y, eps, alpha, steps)


def train_step_no_update(model, optimizer, x, y, eps, alpha, steps):
    x_adv = pgd(model, x, y, eps, alpha, steps)
    loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, model(x_adv), from_logits=True))
    return loss, x_adv


def train_step_summed(model, optimizer, x, y, eps, alpha, steps):
    x_adv = pgd(model, x, y, eps, alpha, steps)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(y, model(x_adv), from_logits=True))
    optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
    return loss, x_adv


def train_step_no_random_start(model, optimizer, x, y, eps, alpha, steps):
    x_adv = pgd(model, x, y, eps, alpha, steps, random_start=False)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, model(x_adv), from_logits=True))
    optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
    return loss, x_adv


def eot_sum(model, x, y, transform, n_samples):
    return eot_gradient(model, x, y, transform, n_samples) * n_samples


def eot_one_draw(model, x, y, transform, n_samples):
    return eot_gradient(model, x, y, transform, 1)


def eot_wrt_transformed(model, x, y, transform, n_samples):
    x = tf.convert_to_tensor(x, dtype=tf.float32)
    total = tf.zeros_like(x)
    for _ in range(n_samples):
        total += input_gradient(model, transform(x), y)
    return total / n_samples


def eot_same_draw(model, x, y, transform, n_samples):
    x = tf.convert_to_tensor(x, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = n_samples * _loss(model, transform(x), y)
    return tape.gradient(loss, x) / n_samples


def eot_vectorised(model, x, y, transform, n_samples):
    x = tf.convert_to_tensor(x, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        tiled = tf.tile(x, [n_samples, 1, 1, 1])
        loss = _loss(model, transform(tiled), tf.tile(y, [n_samples]))
    return tape.gradient(loss, x) / n_samples


CASES = [
    (checks.check_input_gradient, [input_gradient], [(gradient_mean, "sum"), (gradient_unwatched, "watch"),
                                                     (gradient_of_logit, "logits"),
                                                     (gradient_probabilities, "from_logits")]),
    (checks.check_fgsm, [fgsm], [(fgsm_unclipped, "[0, 1]"), (fgsm_raw_gradient, "sign"),
                                 (fgsm_descent, "check the sign")]),
    (checks.check_fgsm_targeted, [fgsm_targeted, fgsm_targeted_via_fgsm],
     [(fgsm_targeted_ascent, "descending the target's loss"), (fgsm, "descending the target's loss")]),
    (checks.check_pgd, [pgd, pgd_delta_form],
     [(pgd_no_projection, "around the original x"), (pgd_ignores_random_start, "random"),
      (pgd_ignores_gradient_argument, "gradient` argument"), (pgd_projects_around_current, "previous iterate"),
      (pgd_projects_around_start, "project around the original x"), (pgd_gradient_at_x, "current iterate")]),
    (checks.check_adversarial_train_step, [adversarial_train_step],
     [(train_step_clean, "clean batch"), (train_step_no_update, "did not change"), (train_step_summed, "mean"),
      (train_step_no_random_start, "random start")]),
    (checks.check_eot_gradient, [eot_gradient, eot_vectorised],
     [(eot_sum, "divide by n_samples"), (eot_one_draw, "same draw"), (eot_wrt_transformed, "transformed image"),
      (eot_same_draw, "same draw")]),
]


@pytest.mark.parametrize("check, corrects, wrongs", CASES, ids=lambda v: getattr(v, "__name__", "-"))
def test_check_accepts_correct_and_names_mistakes(check, corrects, wrongs):
    for correct in corrects:
        result = check(correct)
        assert result.passed, f"{check.__name__} rejected {correct.__name__}: {result.message}"
    for wrong, word in wrongs:
        result = check(wrong)
        assert check_failed(result, word), f"{check.__name__} on {wrong.__name__}: {result.message}"


def test_fgsm_is_judged_with_a_reference_input_gradient():
    """A wrong input_gradient in the notebook does not fail the FGSM check a second time."""
    notebook_fgsm = types.FunctionType(fgsm.__code__, {**fgsm.__globals__, "input_gradient": gradient_mean})
    assert checks.check_fgsm(notebook_fgsm).passed


def test_unfinished_exercise_is_a_failed_check_not_a_crash():
    def unfinished(*args, **kwargs):
        raise NotImplementedError()

    for check in (checks.check_input_gradient, checks.check_fgsm, checks.check_pgd, checks.check_eot_gradient):
        result = check(unfinished)
        assert not result.passed and "not written yet" in result.message


@pytest.mark.parametrize("mutant", catalogue.MUTANTS, ids=lambda m: f"{'right' if m.correct else 'wrong'}-{m.name}")
def test_public_checks_judge_the_catalogue(mutant):
    question = mutant.cell.removesuffix("_impl")
    judge_catalogue_entry("lab4", mutant, SOLUTION, lambda ns: getattr(checks, f"check_{question}")(ns[question]))
