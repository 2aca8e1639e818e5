"""Lab 3 mutants: typical wrong answers, and right answers written another way."""

from grader.mutants import right, wrong

_KL = "0.5 * tf.reduce_sum(tf.exp(logvar) + tf.square(mu) - 1.0 - logvar, axis=-1)"
_RECON = "tf.reduce_mean(tf.abs(x - x_recon), axis=(1, 2, 3))"
_VAE_RETURN = "return reconstruction + kl_weight * kl_divergence(mu, logvar)"
_SAMPLE = "return mu + tf.exp(0.5 * logvar) * eps"
_DBVAE_RETURN = "return classification + y * vae_loss(x, x_recon, mu, logvar, kl_weight)"
_INVERSE = "w = 1.0 / (density[bin_of_face] + smoothing)"
_MEAN_LOSS = "loss = tf.reduce_mean(debiasing_loss(x, x_recon, y, y_logit, mu, logvar, kl_weight))"

MUTANTS = [
    # Exercise 1: kl_divergence
    wrong("kl_impl", "factor 1/2 left out", says="1/2", edits=[(_KL, _KL.removeprefix("0.5 * "))]),
    wrong("kl_impl", "mean over the latent dimensions", says="averaged",
          edits=[(_KL, _KL.replace("reduce_sum", "reduce_mean"))]),
    wrong("kl_impl", "standard deviation where the variance belongs", says="variance",
          edits=[(_KL, _KL.replace("tf.exp(logvar)", "tf.exp(0.5 * logvar)"))]),
    # Exercise 2: vae_loss
    wrong("vae_loss_impl", "squared reconstruction error", says="squared",
          edits=[(_RECON, _RECON.replace("tf.abs(x - x_recon)", "tf.square(x - x_recon)"))]),
    wrong("vae_loss_impl", "reconstruction summed over the pixels", says="summed",
          edits=[(_RECON, _RECON.replace("reduce_mean", "reduce_sum"))]),
    wrong("vae_loss_impl", "KL term not weighted", says="kl_weight",
          edits=[(_VAE_RETURN, "return reconstruction + kl_divergence(mu, logvar)")]),
    # Exercise 3: sample_latent
    wrong("sampling_impl", "variance multiplies the noise", says="standard deviation",
          edits=[(_SAMPLE, "return mu + tf.exp(logvar) * eps")]),
    wrong("sampling_impl", "no noise", says="do not vary", edits=[(_SAMPLE, "return mu + 0.0 * eps * logvar")]),
    wrong("sampling_impl", "mean left out", says="not mu", edits=[(_SAMPLE, "return tf.exp(0.5 * logvar) * eps")]),
    # Exercise 4: debiasing_loss
    wrong("dbvae_loss_impl", "VAE loss for every image", says="faces only",
          edits=[(_DBVAE_RETURN, "return classification + vae_loss(x, x_recon, mu, logvar, kl_weight)")]),
    wrong("dbvae_loss_impl", "sigmoid applied before the cross-entropy with logits", says="raw logit",
          edits=[("logits=y_logit)", "logits=tf.sigmoid(y_logit))")]),
    # Exercise 5: sampling_probabilities
    wrong("resampling_impl", "no smoothing", says="smoothing",
          edits=[(_INVERSE, "w = 1.0 / density[bin_of_face]")]),
    wrong("resampling_impl", "density instead of its inverse", says="sparse",
          edits=[(_INVERSE, "w = density[bin_of_face] + smoothing")]),
    wrong("resampling_impl", "outer edges left closed", says="open",
          edits=[("        edges[0], edges[-1] = -np.inf, np.inf\n", "")]),
    wrong("resampling_impl", "maximum of unnormalised weights", says="normalised",
          edits=[("np.maximum(probabilities, w / w.sum())", "np.maximum(probabilities, w)")]),
    # Exercise 6: dbvae_train_step
    wrong("train_step_impl", "sum of the losses instead of the mean", says="sum",
          edits=[(_MEAN_LOSS, _MEAN_LOSS.replace("reduce_mean", "reduce_sum"))]),
    wrong("train_step_impl", "gradients never applied", says="encoder",
          edits=[("    optimizer.apply_gradients(zip(grads, model.trainable_variables))\n", "")]),
    # right answers written another way
    right("kl_impl", "explicit variance and axis 1",
          edits=[(_KL, "0.5 * tf.reduce_sum(tf.math.exp(logvar) + mu * mu - logvar - 1, axis=1)")]),
    right("sampling_impl", "standard deviation as a square root",
          edits=[(_SAMPLE, "return mu + tf.sqrt(tf.exp(logvar)) * eps")]),
    right("resampling_impl", "bins from the inner edges",
          edits=[("        edges[0], edges[-1] = -np.inf, np.inf\n", ""),
                 ("np.digitize(mu[:, j], edges) - 1", "np.clip(np.digitize(mu[:, j], edges[1:-1]), 0, bins - 1)")]),
]
