"""Lab 3 (DB-VAE): the public checks pass on the solution and fail on typical mistakes; the face data loads."""

from __future__ import annotations

import numpy as np
import pytest

import course_utils
from course_utils import faces
from course_utils.checks import lab3 as checks
from grader.mutants import lab3 as catalogue
from tests.conftest import fails, judge_catalogue_entry, solution_namespace


@pytest.fixture(scope="module")
def ns():
    """The notebook's imports, model definitions and solutions at 32x32 (no data, no training)."""
    return solution_namespace("lab3_debiasing", ("imports", "defs_cnn", "kl_impl", "vae_loss_impl", "sampling_impl",
                                                 "defs_dbvae", "dbvae_loss_impl", "resampling_impl", "train_step_impl"),
                              IMG_SIZE=32, course_utils=course_utils)



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


def test_sample_moments_name_each_mistake_whatever_the_noise():
    mu, logvar = np.array([0.0, 2.0, -1.0, 3.0]), np.array([0.0, np.log(0.25), np.log(4.0), np.log(0.1)])
    answers = {None: lambda noise: mu + np.exp(logvar / 2) * noise,
               "exp(logvar)^2": lambda noise: mu + np.exp(logvar) * noise,
               "not mu": lambda noise: np.exp(logvar / 2) * noise,
               "do not vary": lambda noise: mu + 0 * noise,
               "variance of the samples (expected exp(logvar))": lambda noise: mu + np.exp(logvar / 4) * noise}
    for seed in range(300):
        noise = np.random.default_rng(seed).normal(size=(20000, 4))
        for mistake, answer in answers.items():
            problem = checks.sample_moments_problem(answer(noise), mu, logvar)
            assert (problem is None) if mistake is None else (problem is not None and mistake in problem), \
                (seed, mistake, problem)


def test_debiasing_loss(ns):
    tf, vae = ns["tf"], ns["vae_loss"]

    def bce(y, logit):
        return tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.cast(y, tf.float32), logits=logit)

    assert checks.check_debiasing_loss(ns["debiasing_loss"]).passed
    fails(checks.check_debiasing_loss(lambda x, r, y, lg, mu, lv, kl_weight=0.0005:
                                      bce(y, lg) + vae(x, r, mu, lv, kl_weight)), "faces only")
    fails(checks.check_debiasing_loss(lambda x, r, y, lg, mu, lv, kl_weight=0.0005: bce(y, lg)), "VAE loss is missing")
    fails(checks.check_debiasing_loss(lambda x, r, y, lg, mu, lv, kl_weight=0.0005: bce(y, tf.sigmoid(lg))
                                      + tf.cast(y, tf.float32) * vae(x, r, mu, lv, kl_weight)), "raw logit")


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
    assert data.x_train.shape[1:] == (16, 16, 3) and data.x_train.dtype == np.uint8
    assert data.x_train.max() > 200 and faces.to_float(data.x_train[:3]).dtype == np.float32
    assert set(np.unique(data.y_train)) == {0.0, 1.0}
    assert [int(np.sum(data.group_eval == g)) for g in range(4)] == [5, 5, 5, 5]
    assert np.all(data.group_eval[data.y_eval == 0] == faces.NOT_A_FACE)


def test_utkface_split_plants_a_minority_and_shares_nothing_with_evaluation():
    """No file read: the split is computed from the registry's manifests."""
    from course_utils.datasets import REGISTRY, manifest_files

    split = faces.utkface_split()
    groups = np.array(split.train_groups)
    assert len(split.train_faces) > 9000 and np.isin(groups, [2, 3]).mean() == pytest.approx(faces.DARKER_SHARE, 0.01)
    assert np.sum(groups == 2) == np.sum(groups == 3)
    assert np.bincount(split.eval_groups).tolist() == [faces.EVAL_PER_GROUP] * 4
    sha = {name: remote.sha256 for name, remote in manifest_files(REGISTRY[faces.UTKFACE].manifest).items()}
    assert not {sha[n] for n in split.train_faces} & {sha[n] for n in split.eval_faces}  # no copy on both sides
    assert len({sha[n] for n in split.train_faces}) == len(split.train_faces)
    assert not set(split.train_negatives) & set(split.eval_negatives)
    assert all(n.split("_")[2] == ("0" if g < 2 else "1") for n, g in zip(split.eval_faces, split.eval_groups,
                                                                           strict=True))  # race field
    small = faces.utkface_split(eval_per_group=50, max_train_faces=1000)
    assert [split.eval_faces[k * faces.EVAL_PER_GROUP] for k in range(4)] == \
        [small.eval_faces[k * 50] for k in range(4)]  # smaller evaluation sets are prefixes of the full one


@pytest.mark.skipif(not faces.utkface_available(), reason="needs COURSE_DATA_DIR with the UTKFace, Tiny ImageNet data")
def test_utkface_loads_uint8_images_verified():
    data = faces.load_faces(16, source="utkface", download=False, max_train=100, eval_per_group=5)
    assert data.x_train.dtype == np.uint8 and data.x_train.shape[1:] == (16, 16, 3)
    assert int(data.y_train.sum()) == 100 and np.isin(data.group_train, [2, 3]).sum() == 4
    assert np.bincount(data.group_eval[data.y_eval == 1]).tolist() == [5] * 4 and int((data.y_eval == 0).sum()) == 20
    x, y, g = faces.load_eval_set(16, per_group=5, download=False)
    np.testing.assert_array_equal(x, data.x_eval)


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


@pytest.mark.skipif(not faces.utkface_available(), reason="the evaluation set needs the UTKFace folder")
def test_mit_h5_loader_keeps_uint8_without_copies(monkeypatch, tmp_path):
    h5py = pytest.importorskip("h5py")
    rng = np.random.default_rng(0)
    path = tmp_path / "train_face.h5"
    images = rng.integers(0, 256, (12, 64, 64, 3), dtype=np.uint8)
    with h5py.File(path, "w") as handle:
        handle["images"] = images
        handle["labels"] = np.array([[1], [0]] * 6, dtype=np.float32)
    monkeypatch.setenv("COURSE_FACES_H5", str(path))
    data = faces.load_faces(64, source="mit", download=False, eval_per_group=5)
    assert data.x_train.dtype == np.uint8 and data.x_train.base is not None  # a BGR -> RGB view, not a copy
    np.testing.assert_array_equal(data.x_train[3], images[3][..., ::-1])
    assert np.all(data.group_train == faces.NOT_A_FACE) and data.source.startswith("mit")
    assert np.bincount(data.group_eval[data.y_eval == 1]).tolist() == [5] * 4
    small = faces.load_faces(32, source="mit", download=False, max_train=10, eval_per_group=5)
    assert small.x_train.shape == (10, 32, 32, 3) and small.x_train.dtype == np.uint8


def test_checks_judge_a_function_with_reference_versions_of_what_it_calls(ns):
    """A wrong kl_divergence fails its own check only; vae_loss, debiasing_loss, the train step still pass."""
    tf = ns["tf"]
    wrong = dict(ns, kl_divergence=lambda mu, lv: tf.reduce_sum(mu, -1),
                 vae_loss=lambda *args, **kwargs: tf.zeros(tf.shape(args[2])[0]))
    namespace = dict(wrong)
    for name in ("vae_loss", "debiasing_loss", "dbvae_train_step"):
        function = ns[name]
        namespace[name] = type(function)(function.__code__, namespace, name, function.__defaults__)
    assert checks.check_vae_loss(namespace["vae_loss"]).passed
    namespace["debiasing_loss"], namespace["vae_loss"] = namespace["debiasing_loss"], wrong["vae_loss"]
    assert checks.check_debiasing_loss(namespace["debiasing_loss"]).passed
    namespace["debiasing_loss"] = lambda *args, **kwargs: tf.zeros(tf.shape(args[2])[0])
    assert checks.check_train_step(namespace["dbvae_train_step"], ns["DBVAE"]).passed


def test_checks_name_the_typical_mistakes(ns):
    tf, kl = ns["tf"], ns["kl_divergence"]
    fails(checks.check_kl_divergence(lambda mu, lv: tf.reduce_sum(tf.exp(lv) + mu ** 2 - 1 - lv, -1)), "1/2")
    fails(checks.check_kl_divergence(lambda mu, lv: 0.5 * tf.reduce_mean(tf.exp(lv) + mu ** 2 - 1 - lv, -1)),
          "averaged")
    fails(checks.check_kl_divergence(lambda mu, lv: 0.5 * tf.reduce_sum(tf.exp(0.5 * lv) + mu ** 2 - 1 - lv, -1)),
          "variance")
    fails(checks.check_vae_loss(lambda x, r, mu, lv, kl_weight=0.0005:
                                tf.reduce_mean(tf.square(x - r), axis=(1, 2, 3)) + kl_weight * kl(mu, lv)), "squared")
    fails(checks.check_sample_latent(lambda mu, lv: mu + tf.exp(lv) * tf.random.normal(tf.shape(mu))),
          "standard deviation")

    def sum_not_mean(model, optimizer, x, y, kl_weight=0.0005):
        with tf.GradientTape() as tape:
            y_logit, mu, logvar, x_recon = model(x, training=True)
            loss = tf.reduce_sum(ns["debiasing_loss"](x, x_recon, y, y_logit, mu, logvar, kl_weight))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    fails(checks.check_train_step(sum_not_mean, ns["DBVAE"]), "sum")

    def no_smoothing(mu, bins=10, smoothing=0.001):
        return checks.sampling_probabilities_reference(mu, bins, 0.0)

    fails(checks.check_sampling_probabilities(no_smoothing), "smoothing")


@pytest.mark.parametrize("mutant", catalogue.MUTANTS, ids=lambda m: f"{'right' if m.correct else 'wrong'}-{m.name}")
def test_public_checks_judge_the_mutant_catalogue(ns, mutant):
    judge_catalogue_entry("lab3", mutant, ns)
