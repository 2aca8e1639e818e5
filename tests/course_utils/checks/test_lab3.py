"""Lab 3 (DB-VAE): the public checks pass on the solution and fail on typical mistakes; the face data loads."""

from __future__ import annotations

import os

import numpy as np
import pytest

import course_utils
from course_utils import faces
from course_utils.checks import lab3 as checks
from tests.conftest import check_failed, solution_namespace


@pytest.fixture(scope="module")
def ns():
    """The notebook's imports, model definitions and solutions at 32x32 (no data, no training)."""
    return solution_namespace("lab3_debiasing", ("imports", "defs_cnn", "kl_impl", "vae_loss_impl", "sampling_impl",
                                                 "defs_dbvae", "dbvae_loss_impl", "resampling_impl", "train_step_impl"),
                              IMG_SIZE=32, course_utils=course_utils)


def fails(result, *fragments):
    assert check_failed(result, *fragments), result.message


def test_kl(ns):
    tf = ns["tf"]
    assert checks.check_kl_divergence(ns["kl_divergence"]).passed
    fails(checks.check_kl_divergence(lambda mu, lv: tf.reduce_sum(tf.exp(lv) + mu ** 2 - 1 - lv, -1)), "KL")
    fails(checks.check_kl_divergence(lambda mu, lv: 0.5 * tf.reduce_mean(tf.exp(lv) + mu ** 2 - 1 - lv, -1)), "KL")
    fails(checks.check_kl_divergence(lambda mu, lv: 0.5 * tf.reduce_sum(tf.exp(0.5 * lv) + mu ** 2 - 1 - lv, -1)))
    fails(checks.check_kl_divergence(lambda mu, lv: 0.5 * tf.reduce_sum(tf.exp(lv) + mu ** 2 - 1 - lv)), "shape")


def test_vae_loss(ns):
    tf, kl = ns["tf"], ns["kl_divergence"]
    assert checks.check_vae_loss(ns["vae_loss"]).passed
    fails(checks.check_vae_loss(lambda x, r, mu, lv, kl_weight=0.0005:
                                tf.reduce_sum(tf.abs(x - r), axis=(1, 2, 3)) + kl_weight * kl(mu, lv)), "VAE loss")
    fails(checks.check_vae_loss(lambda x, r, mu, lv, kl_weight=0.0005:
                                tf.reduce_mean(tf.square(x - r), axis=(1, 2, 3)) + kl_weight * kl(mu, lv)))
    fails(checks.check_vae_loss(lambda x, r, mu, lv, kl_weight=0.0005:
                                tf.reduce_mean(tf.abs(x - r), axis=(1, 2, 3)) + kl(mu, lv)), "kl_weight")


def test_sample_latent(ns):
    tf = ns["tf"]
    assert checks.check_sample_latent(ns["sample_latent"]).passed
    fails(checks.check_sample_latent(lambda mu, lv: mu + tf.exp(lv) * tf.random.normal(tf.shape(mu))), "variance")
    fails(checks.check_sample_latent(lambda mu, lv: mu + 0 * lv), "variance")
    fails(checks.check_sample_latent(lambda mu, lv: tf.exp(0.5 * lv) * tf.random.normal(tf.shape(mu))), "mean")


def test_debiasing_loss(ns):
    tf, vae = ns["tf"], ns["vae_loss"]

    def bce(y, logit):
        return tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.cast(y, tf.float32), logits=logit)

    assert checks.check_debiasing_loss(ns["debiasing_loss"]).passed
    fails(checks.check_debiasing_loss(lambda x, r, y, lg, mu, lv, kl_weight=0.0005:
                                      bce(y, lg) + vae(x, r, mu, lv, kl_weight)), "non-faces")
    fails(checks.check_debiasing_loss(lambda x, r, y, lg, mu, lv, kl_weight=0.0005: bce(y, lg)), "faces")
    fails(checks.check_debiasing_loss(lambda x, r, y, lg, mu, lv, kl_weight=0.0005:
                                      bce(y, tf.sigmoid(lg)) + tf.cast(y, tf.float32) * vae(x, r, mu, lv, kl_weight)))


def test_sampling_probabilities(ns):
    assert checks.check_sampling_probabilities(ns["sampling_probabilities"]).passed

    def density_not_inverse(mu, bins=10, smoothing=0.001):
        p = np.zeros(len(mu))
        for j in range(mu.shape[1]):
            density, edges = np.histogram(mu[:, j], bins=bins, density=True)
            edges[0], edges[-1] = -np.inf, np.inf
            p = np.maximum(p, density[np.digitize(mu[:, j], edges) - 1])
        return p / p.sum()

    def not_normalised(mu, bins=10, smoothing=0.001):
        return checks.sampling_probabilities_reference(mu, bins, smoothing) * 3

    def closed_outer_edges(mu, bins=10, smoothing=0.001):
        p = np.zeros(len(mu))
        for j in range(mu.shape[1]):
            density, edges = np.histogram(mu[:, j], bins=bins, density=True)
            w = 1 / (density[np.digitize(mu[:, j], edges) - 1] + smoothing)  # the largest face falls off
            p = np.maximum(p, w / w.sum())
        return p / p.sum()

    fails(checks.check_sampling_probabilities(density_not_inverse), "sparse")
    fails(checks.check_sampling_probabilities(not_normalised), "sum to 1")
    fails(checks.check_sampling_probabilities(closed_outer_edges))
    fails(checks.check_sampling_probabilities(lambda mu, bins=10, smoothing=0.001: np.full(len(mu), 1 / len(mu))))


def test_train_step(ns):
    tf, loss_fn = ns["tf"], ns["debiasing_loss"]
    assert checks.check_train_step(ns["dbvae_train_step"], ns["DBVAE"]).passed

    def vae_on_everything(model, optimizer, x, y, kl_weight=0.0005):
        with tf.GradientTape() as tape:
            y_logit, mu, logvar, x_recon = model(x, training=True)
            loss = tf.reduce_mean(loss_fn(x, x_recon, tf.ones_like(y), y_logit, mu, logvar, kl_weight))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    def no_update(model, optimizer, x, y, kl_weight=0.0005):
        y_logit, mu, logvar, x_recon = model(x, training=True)
        return tf.reduce_mean(loss_fn(x, x_recon, y, y_logit, mu, logvar, kl_weight))

    fails(checks.check_train_step(vae_on_everything, ns["DBVAE"]), "decoder")
    fails(checks.check_train_step(no_update, ns["DBVAE"]), "encoder")


def test_trained_detector_check():
    x = np.random.default_rng(0).random((40, 8, 8, 3)).astype(np.float32)
    y = np.array([1, 0] * 20, np.float32)
    assert checks.check_trained_detector(lambda batch: np.where(y[: len(batch)] == 1, 3.0, -3.0), x, y).passed
    fails(checks.check_trained_detector(lambda batch: -np.ones(len(batch)), x, y), "50.0%")


def test_synthetic_faces_structure():
    data = faces.load_synthetic(16, n_train_faces=60, eval_per_group=5)
    assert data.x_train.shape[1:] == (16, 16, 3) and data.x_train.dtype == np.float32
    assert 0 <= data.x_train.min() and data.x_train.max() <= 1
    assert set(np.unique(data.y_train)) == {0.0, 1.0}
    assert [int(np.sum(data.group_eval == g)) for g in range(4)] == [5, 5, 5, 5]
    assert np.all(data.group_eval[data.y_eval == 0] == faces.NOT_A_FACE)


@pytest.mark.skipif(not faces.utkface_available(), reason="needs COURSE_DATA_DIR with the UTKFace subset")
def test_utkface_split_is_imbalanced_balanced_and_disjoint():
    data = faces.load_utkface(16, eval_per_group=50, darker_train_per_gender=5)
    train = [int(np.sum(data.group_train == g)) for g in range(4)]
    assert train[2] + train[3] == 10 and train[0] > 5 * train[2]
    assert [int(np.sum(data.group_eval == g)) for g in range(4)] == [50] * 4
    train_faces = {a.tobytes() for a in data.x_train[data.y_train == 1]}
    assert not any(a.tobytes() in train_faces for a in data.x_eval[data.y_eval == 1])


def test_mit_file_error_is_clear(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("COURSE_FACES_H5", raising=False)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(faces.DataUnavailableError, match="COURSE_FACES_H5"):
        faces.mit_train_file(download=False)
    monkeypatch.setenv("COURSE_FACES_H5", str(tmp_path / "nothing.h5"))
    with pytest.raises(faces.DataUnavailableError, match="does not name a file"):
        faces.mit_train_file(download=False)


def test_auto_source_without_data_falls_back_to_fixture(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("COURSE_FACES_H5", raising=False)
    monkeypatch.delenv("COURSE_FACES_SOURCE", raising=False)
    with pytest.warns(UserWarning, match="generated fixture"):
        data = faces.load_faces(16, download=False)
    assert data.source.startswith("synthetic")


def test_mit_h5_loader(monkeypatch, tmp_path):
    h5py = pytest.importorskip("h5py")
    rng = np.random.default_rng(0)
    path = tmp_path / "train_face.h5"
    with h5py.File(path, "w") as handle:
        handle["images"] = rng.integers(0, 256, (12, 64, 64, 3), dtype=np.uint8)
        handle["labels"] = np.array([[1], [0]] * 6, dtype=np.float32)
    monkeypatch.setenv("COURSE_FACES_H5", str(path))
    if not faces.utkface_available():
        pytest.skip("evaluation faces need the UTKFace subset or a download")
    data = faces.load_faces(32, source="mit", download=False, max_train=10)
    assert data.x_train.shape == (10, 32, 32, 3) and data.source.startswith("mit")
    assert np.all(data.group_train == faces.NOT_A_FACE)
    assert os.environ["COURSE_FACES_H5"] == str(path)
