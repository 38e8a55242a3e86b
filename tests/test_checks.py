import keras
import numpy as np
import pytest

from course import checks


def test_scale_images_accepts_the_right_answer_and_rejects_slips(capsys):
    checks.check_scale_images(lambda x: (x.astype("float32") / 255.0)[..., None])
    assert "Correct" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="channel axis"):
        checks.check_scale_images(lambda x: x.astype("float32") / 255.0)
    with pytest.raises(AssertionError, match="255"):
        checks.check_scale_images(lambda x: (x.astype("float32") / 256.0)[..., None])
    with pytest.raises(AssertionError, match="float32"):
        checks.check_scale_images(lambda x: x[..., None])


def _cnn(input_shape, num_classes, softmax=False):
    return keras.Sequential([
        keras.Input(input_shape), keras.layers.Conv2D(4, 3), keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(num_classes, activation="softmax" if softmax else None)])


def test_classifier_check_wants_logits_from_a_conv_net():
    checks.check_classifier(_cnn)
    with pytest.raises(AssertionError, match="probabilities"):
        checks.check_classifier(lambda s, k: _cnn(s, k, softmax=True))
    dense = lambda s, k: keras.Sequential([keras.Input(s), keras.layers.Flatten(), keras.layers.Dense(k)])
    with pytest.raises(AssertionError, match="no Conv2D"):
        checks.check_classifier(dense)


def test_loss_check_catches_categorical_loss_on_integer_labels():
    """Guards C2: categorical cross-entropy with integer labels, or probabilities assumed."""
    checks.check_loss(lambda: keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.raises(AssertionError, match="sparse"):
        checks.check_loss(lambda: keras.losses.CategoricalCrossentropy(from_logits=True))
    with pytest.raises(AssertionError, match="from_logits"):
        checks.check_loss(lambda: keras.losses.SparseCategoricalCrossentropy())


def test_accuracy_check():
    checks.check_accuracy_from_logits(lambda z, y: np.mean(np.argmax(z, 1) == y))
    with pytest.raises(AssertionError, match="0.75"):
        checks.check_accuracy_from_logits(lambda z, y: np.mean(np.argmin(z, 1) == y))


def test_discriminator_loss_check_catches_swapped_labels_and_flipped_sign():
    """Guards G6 and G7 in the exercise checks."""
    from keras import ops

    checks.check_discriminator_loss(lambda r, f: ops.mean(ops.softplus(-r)) + ops.mean(ops.softplus(f)))
    with pytest.raises(AssertionError, match="swapped"):
        checks.check_discriminator_loss(lambda r, f: ops.mean(ops.softplus(r)) + ops.mean(ops.softplus(-f)))
    with pytest.raises(AssertionError, match="sign"):
        checks.check_discriminator_loss(lambda r, f: -(ops.mean(ops.softplus(-r)) + ops.mean(ops.softplus(f))))


def test_generator_loss_check_rejects_minimax_and_real_data_terms():
    from keras import ops

    checks.check_generator_loss(lambda f: ops.mean(ops.softplus(-f)))
    with pytest.raises(AssertionError, match="minimax"):
        checks.check_generator_loss(lambda f: -ops.mean(ops.softplus(f)))
    with pytest.raises(AssertionError, match="never sees real data"):
        checks.check_generator_loss(lambda r, f: ops.mean(ops.softplus(-f)))


def test_generator_update_check_catches_training_d_instead():
    """Guards G3: 'training' G with D's update leaves G unchanged."""
    import tensorflow as tf

    from course import losses

    def right(gan, n):
        gan.g_step(n)

    def trains_d(gan, n):
        with tf.GradientTape() as tape:
            loss = losses.generator_loss(gan.discriminator(gan.generator(gan.noise(n))))
        d_vars = gan.discriminator.trainable_variables
        gan.d_optimizer.apply_gradients(zip(tape.gradient(loss, d_vars), d_vars))

    checks.check_generator_update(right)
    with pytest.raises(AssertionError, match="discriminator's weights changed"):
        checks.check_generator_update(trains_d)


def test_reparameterize_check_catches_the_autoencoder_mistake():
    """Guards V1."""
    checks.check_reparameterize(lambda m, lv, e: m + np.exp(0.5 * lv) * e)
    with pytest.raises(AssertionError, match="equals the mean"):
        checks.check_reparameterize(lambda m, lv, e: m)
    with pytest.raises(AssertionError, match="standard deviation"):
        checks.check_reparameterize(lambda m, lv, e: m + np.exp(lv) * e)


def test_kl_check():
    """Guards V3: KL per data point under q, not a single number for the batch."""
    checks.check_kl(lambda m, lv: 0.5 * np.sum(np.exp(lv) + m**2 - 1 - lv, axis=1))
    with pytest.raises(AssertionError, match="one value per image"):
        checks.check_kl(lambda m, lv: 0.5 * np.sum(np.exp(lv) + m**2 - 1 - lv))


def test_vae_loss_check_catches_sign_and_pixel_averaging():
    """Guards V2 and V5."""
    from course import losses

    checks.check_vae_loss(lambda x, l, m, lv, b: losses.negative_elbo(x, l, m, lv, b)[0])

    def flipped(x, l, m, lv, b):
        return -losses.negative_elbo(x, l, m, lv, b)[0]

    def averaged(x, l, m, lv, b):
        _, r, k = losses.negative_elbo(x, l, m, lv)
        return r / 784 + b * k

    with pytest.raises(AssertionError, match="sign"):
        checks.check_vae_loss(flipped)
    with pytest.raises(AssertionError, match="averaged over pixels"):
        checks.check_vae_loss(averaged)


# --------------------------------------------------------------------------- lesson 04


def test_cycle_loss_check_wants_summed_l1_round_trips(capsys):
    from keras import ops

    from course import losses

    checks.check_cycle_loss(losses.cycle_consistency_loss)
    assert "Correct" in capsys.readouterr().out
    mae = lambda x, y: ops.mean(ops.abs(x - y))  # noqa: E731
    with pytest.raises(AssertionError, match="averaged"):
        checks.check_cycle_loss(lambda a, ca, b, cb: (mae(a, ca) + mae(b, cb)) / 2)
    with pytest.raises(AssertionError, match="squared"):
        checks.check_cycle_loss(lambda a, ca, b, cb: ops.mean((a - ca) ** 2) + ops.mean((b - cb) ** 2))
    with pytest.raises(AssertionError, match="non-zero"):
        checks.check_cycle_loss(lambda a, ca, b, cb: mae(a, b) + mae(ca, cb))  # compares the wrong images


def test_lsgan_check_catches_targets_and_scaling():
    from keras import ops

    from course import losses

    checks.check_lsgan_losses(losses.lsgan_discriminator_loss, losses.lsgan_generator_loss)
    unhalved = lambda r, f: ops.mean((r - 1) ** 2) + ops.mean(f ** 2)  # noqa: E731
    with pytest.raises(AssertionError, match="halves"):
        checks.check_lsgan_losses(unhalved, losses.lsgan_generator_loss)
    with pytest.raises(AssertionError, match="target is 1"):
        checks.check_lsgan_losses(losses.lsgan_discriminator_loss, lambda f: ops.mean(f ** 2))


def test_instance_norm_check_catches_batch_statistics():
    from keras import ops

    def norm(axes):
        return lambda x: (x - ops.mean(x, axis=axes, keepdims=True)) / ops.sqrt(
            ops.var(x, axis=axes, keepdims=True) + 1e-5)

    checks.check_instance_norm(norm((1, 2)))
    with pytest.raises(AssertionError, match="BatchNorm"):
        checks.check_instance_norm(norm((0, 1, 2)))
