import math

import keras
import numpy as np
import pytest
from course import backend, data, evaluation, losses, runs
from course.errors import ShapeError
from course.models import vae as vae_mod


def sigmoid(t):
    return 1 / (1 + math.exp(-t))


def test_negative_elbo_equals_a_hand_computed_case():
    """Guards V2, V3, V5: -E_q log p(x|z) + beta*KL, summed over pixels, per data point under q."""
    x = np.array([[1.0, 0.0]], "float32")  # two binary pixels
    logits = np.array([[0.5, -1.0]], "float32")
    mean, log_var = np.array([[0.3]], "float32"), np.array([[-0.4]], "float32")  # one latent
    recon = -(math.log(sigmoid(0.5)) + math.log(1 - sigmoid(-1.0)))
    kl = 0.5 * (math.exp(-0.4) + 0.3**2 - 1 - (-0.4))
    loss, r, k = losses.negative_elbo(x, logits, mean, log_var, beta=2.0)
    assert float(r) == pytest.approx(recon, rel=1e-5)
    assert float(k) == pytest.approx(kl, rel=1e-5)
    assert float(loss) == pytest.approx(recon + 2.0 * kl, rel=1e-5)


def test_reconstruction_is_summed_over_pixels_not_averaged():
    """Guards V5: averaging over 784 pixels would shrink the likelihood 784-fold next to the KL."""
    rng = np.random.default_rng(0)
    x = (rng.random((3, 28, 28, 1)) < 0.3).astype("float32")
    logits = rng.normal(size=(3, 28, 28, 1)).astype("float32")
    per_pixel_bce = keras.losses.BinaryCrossentropy(from_logits=True)(x.reshape(3, -1), logits.reshape(3, -1))
    _, recon, _ = losses.negative_elbo(x, logits, np.zeros((3, 2), "float32"), np.zeros((3, 2), "float32"))
    assert float(recon) == pytest.approx(784 * float(per_pixel_bce), rel=1e-4)


def test_kl_is_zero_exactly_when_q_is_the_prior():
    assert np.allclose(keras.ops.convert_to_numpy(losses.gaussian_kl(np.zeros((2, 3)), np.zeros((2, 3)))), 0.0)
    assert np.all(keras.ops.convert_to_numpy(losses.gaussian_kl(np.full((2, 3), 0.1), np.zeros((2, 3)))) > 0)
    assert np.all(keras.ops.convert_to_numpy(losses.gaussian_kl(np.zeros((2, 3)), np.full((2, 3), -0.5))) > 0)


def tiny_vae(seed=0):
    """2-pixel images, a 1-d latent: small enough to check by hand."""
    images = keras.Input((1, 2, 1))
    flat = keras.layers.Flatten()(images)
    encoder = keras.Model(images, [keras.layers.Dense(1)(flat), keras.layers.Dense(1)(flat)])
    z = keras.Input((1,))
    decoder = keras.Model(z, keras.layers.Reshape((1, 2, 1))(keras.layers.Dense(2)(z)))
    keras.utils.set_random_seed(seed)
    model = vae_mod.VAE(encoder, decoder, seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    return model


def test_model_loss_matches_the_formula_for_its_own_sample(monkeypatch):
    """Guards V7: the VAE's training loss (its ``compute_loss``) is the negative ELBO and nothing else
    (no adversarial term)."""
    model = tiny_vae()
    x = np.array([[[[1.0], [0.0]]]], "float32")
    eps = 0.7
    monkeypatch.setattr(vae_mod.backend, "normal", lambda shape, generator, dtype="float32":
                        keras.ops.full(shape, eps, dtype))  # a known draw
    loss = model.compute_loss(x, None, model(x), training=False)
    _, recon, kl = model.elbo_terms(x)
    mean, log_var = (float(keras.ops.convert_to_numpy(t).ravel()[0]) for t in model.encode(x))
    z = mean + math.exp(0.5 * log_var) * eps
    logits = keras.ops.convert_to_numpy(model.decoder(np.array([[z]], "float32"))).ravel()
    expected_recon = -(math.log(sigmoid(logits[0])) + math.log(1 - sigmoid(logits[1])))
    expected_kl = 0.5 * (math.exp(log_var) + mean**2 - 1 - log_var)
    assert float(recon) == pytest.approx(expected_recon, rel=1e-4)
    assert float(kl) == pytest.approx(expected_kl, rel=1e-4)
    assert float(loss) == pytest.approx(expected_recon + expected_kl, rel=1e-4)


def test_iwae_with_one_sample_averages_to_the_elbo_and_tightens_with_more():
    model = tiny_vae()
    x = np.repeat(np.array([[[[1.0], [0.0]]]], "float32"), 4000, axis=0)
    _, recon, kl = model.elbo_terms(x)
    elbo = -(float(recon) + float(kl))
    rng = np.random.default_rng(0)

    def bound(k):
        eps = rng.standard_normal((len(x), k, 1)).astype("float32")
        return float(np.mean(keras.ops.convert_to_numpy(losses.iwae_bound(model.log_weights(x, eps)))))

    k1, k20 = bound(1), bound(20)
    assert k1 == pytest.approx(elbo, abs=0.05)
    assert k20 >= k1 - 1e-3


def test_gradients_reach_the_encoder_through_the_sample():
    """Guards V1: the decoder is fed a reparameterised sample, not z_mean alone."""
    model = vae_mod.make_vae(latent_dim=4, seed=0)
    x = vae_mod.binarize_fixed(data.synthetic_digits(8, seed=0)[0])

    def reconstruction():  # no KL: only the sample links log_var to the loss
        mean, log_var = model.encode(x, training=True)
        logits = model.decoder(model.sampling(mean, log_var), training=True)
        return -keras.ops.mean(losses.bernoulli_log_likelihood(x, logits))

    _, grads = backend.value_and_grad(reconstruction, model.encoder.trainable_variables)
    largest = [float(np.max(np.abs(keras.ops.convert_to_numpy(g)))) if g is not None else 0.0 for g in grads]
    by_name = dict(zip((v.path for v in model.encoder.trainable_variables), largest))
    assert all(v > 0 for v in largest)
    assert by_name[model.encoder.get_layer("log_var").kernel.path] > 0  # the variance learns from the sample


def test_one_optimizer_trains_encoder_and_decoder_jointly():
    """Guards V4: one ELBO, one optimizer, both networks move in every step."""
    model = vae_mod.make_vae(latent_dim=4, seed=0)
    before_e, before_d = model.encoder.get_weights(), model.decoder.get_weights()
    x, _ = data.synthetic_digits(64, seed=0)
    model.fit(data.pipeline(x, batch_size=32), epochs=1, verbose=0, shuffle=False)
    assert all(not np.array_equal(a, b) for a, b in zip(before_e, model.encoder.get_weights()))
    assert all(not np.array_equal(a, b) for a, b in zip(before_d, model.decoder.get_weights()))
    assert {id(v) for v in model.trainable_variables} == {
        id(v) for v in model.encoder.trainable_variables + model.decoder.trainable_variables}


def test_shapes_are_checked_where_encoder_meets_decoder():
    """Guards V6: shapes are checked where the encoder meets the decoder."""
    with pytest.raises(ShapeError, match="latent_dim"):
        vae_mod.VAE(vae_mod.build_encoder(latent_dim=8), vae_mod.build_decoder(latent_dim=2))
    with pytest.raises(ShapeError, match="image shape"):
        vae_mod.VAE(vae_mod.build_encoder((28, 28, 1), 2), vae_mod.build_decoder((32, 32, 1), 2))


def test_prior_samples_are_probabilities_of_the_right_shape():
    images = vae_mod.make_vae(latent_dim=2, seed=0).sample(6)
    assert images.shape == (6, 28, 28, 1) and images.min() >= 0 and images.max() <= 1


def test_dynamic_binarisation_resamples_and_keeps_intensity():
    model = vae_mod.make_vae(latent_dim=2, seed=0)
    x = np.full((2000, 2), 0.3, "float32")
    a, b = (keras.ops.convert_to_numpy(model.binarize(x)) for _ in range(2))
    assert set(np.unique(a)) == {0.0, 1.0} and not np.array_equal(a, b)
    assert a.mean() == pytest.approx(0.3, abs=0.02)


def test_a_few_epochs_lower_the_test_nll(tmp_path):
    x, _ = data.synthetic_digits(1024, seed=0)
    x_test = vae_mod.binarize_fixed(data.synthetic_digits(200, seed=1)[0])
    model = vae_mod.make_vae(latent_dim=8, seed=0)
    before = evaluation.evaluate_nats(model, x_test, iwae_k=5)
    model.fit(data.pipeline(x, batch_size=64, shuffle=True, seed=0), epochs=2, verbose=0, shuffle=False)
    after = evaluation.evaluate_nats(model, x_test, iwae_k=5)
    assert after["neg_elbo_nats"] < before["neg_elbo_nats"] - 100
    assert after["iwae_nats"] <= after["neg_elbo_nats"] + 0.5
    assert evaluation.evaluate_nats(model, x_test, iwae_k=5) == after  # fixed noise: the same figures again


def test_resume_restores_weights_optimizer_beta_and_noise(tmp_path):
    x, _ = data.synthetic_digits(128, seed=0)
    ds = data.pipeline(x, batch_size=32)
    model = vae_mod.make_vae(latent_dim=4, beta=0.5, seed=0)
    runs.fit_resumable(model, ds, epochs=1, run=tmp_path, verbose=0)
    fresh = vae_mod.make_vae(latent_dim=4, beta=1.0, seed=9)
    assert runs.restore(fresh, runs.RunFolder(tmp_path))[0] == 1
    assert int(fresh.optimizer.iterations) == 4 and float(fresh.beta) == 0.5
    for a, b in zip(model.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in ((model.sampling.seed_generator, fresh.sampling.seed_generator),
                 (model.binarize_noise, fresh.binarize_noise)):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a.state), keras.ops.convert_to_numpy(b.state))


def test_kl_warmup_raises_beta_linearly():
    model = vae_mod.make_vae(latent_dim=2, seed=0)
    warm = vae_mod.KLWarmup(epochs=4, target=1.0)
    warm.set_model(model)
    seen = []
    for epoch in range(6):
        warm.on_epoch_begin(epoch)
        seen.append(float(model.beta))
    assert seen == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]


def test_a_vae_has_no_discriminator():
    """Guards V7: a VAE is trained on a likelihood bound: no network judges its images, no second optimizer."""
    model = vae_mod.make_vae(latent_dim=4, seed=0)
    assert [type(layer).__name__ for layer in model.layers] == ["Functional", "Functional", "Sampling"]
    assert isinstance(model.optimizer, keras.optimizers.Optimizer) and not hasattr(model, "optimizers")
