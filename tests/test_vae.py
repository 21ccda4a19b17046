"""V: reference architecture, loss, and the numpy twin against the Keras model."""

import numpy as np
import pytest

from worldmodels.experiments import CARRACING, DOOMRNN
from worldmodels.keras_models import ConvVAE, vae_loss
from worldmodels.vae import ENCODE_CHUNK, VAE, sample_z, vae_weight_shapes


@pytest.fixture(scope="module", params=[32, 64])
def vae_pair(request):
    model = ConvVAE(request.param, seed=0)
    return model, VAE(model.weight_dict(), request.param)


def test_parameter_counts_match_the_reference():
    assert ConvVAE(CARRACING.z_size).count_params() == 4_348_547
    assert ConvVAE(DOOMRNN.z_size).count_params() == 4_446_915


def test_weight_dict_has_the_documented_shapes(vae_pair):
    model, _ = vae_pair
    shapes = {k: v.shape for k, v in model.weight_dict().items()}
    assert shapes == vae_weight_shapes(model.z_size)


def test_encoder_twin_equals_keras(vae_pair):
    model, twin = vae_pair
    # More frames than one encoder chunk, so the chunk boundaries are covered too.
    frames = np.random.default_rng(1).integers(0, 256, (ENCODE_CHUNK * 2 + 5, 64, 64, 3), dtype=np.uint8)
    mu, logvar = model.encode(frames.astype(np.float32) / 255.0)
    mu2, logvar2 = twin.encode(frames)
    assert mu2.shape == (len(frames), model.z_size)
    np.testing.assert_allclose(mu2, np.asarray(mu), atol=1e-4)
    np.testing.assert_allclose(logvar2, np.asarray(logvar), atol=1e-4)


def test_decoder_twin_equals_keras_on_trained_scale_weights(vae_pair):
    model, _ = vae_pair
    # Scale the random weights up so the decoder's output spans (0, 1) rather than sitting at 0.5.
    weights = {k: v * (3.0 if k.endswith("kernel") else 1.0) for k, v in model.weight_dict().items()}
    scaled = ConvVAE(model.z_size)
    scaled.set_weight_dict(weights)
    twin = VAE(weights, model.z_size)
    z = np.random.default_rng(2).standard_normal((5, model.z_size)).astype(np.float32)
    expected = np.asarray(scaled.decode(z))
    out = twin.decode(z)
    assert out.shape == (5, 64, 64, 3)
    assert expected.std() > 0.05
    np.testing.assert_allclose(out, expected, atol=1e-4)


def test_batch_equals_single_calls(vae_pair):
    _, twin = vae_pair
    frames = np.random.default_rng(3).integers(0, 256, (ENCODE_CHUNK + 3, 64, 64, 3), dtype=np.uint8)
    mu, _ = twin.encode(frames)
    singles = np.concatenate([twin.encode(frames[i : i + 1])[0] for i in range(len(frames))])
    np.testing.assert_allclose(mu, singles, atol=1e-5)
    recon = twin.decode(mu)
    np.testing.assert_allclose(recon[2:3], twin.decode(mu[2:3]), atol=1e-5)


def test_reconstruction_error_is_the_summed_squared_error_of_each_frame(vae_pair):
    model, twin = vae_pair
    frames = np.random.default_rng(4).integers(0, 256, (7, 64, 64, 3), dtype=np.uint8)
    x = frames.astype(np.float32) / 255.0
    recon = np.asarray(model.decode(model.encode(x)[0]))
    expected = ((recon - x) ** 2).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(twin.reconstruction_error(frames, chunk=3), expected, rtol=1e-4)
    assert twin.reconstruction_error(frames[:0]).shape == (0,)


def test_loss_is_summed_squared_error_plus_floored_kl():
    rng = np.random.default_rng(4)
    x = rng.random((3, 64, 64, 3)).astype(np.float32)
    recon = rng.random((3, 64, 64, 3)).astype(np.float32)
    z = 8
    mu = np.zeros((3, z), np.float32)
    logvar = np.zeros((3, z), np.float32)
    mu[0] = 5.0  # KL of row 0 = 0.5 * 8 * 25 = 100, rows 1 and 2 have KL 0 -> floored at 4
    total, r_loss, kl_loss = vae_loss(x, recon, mu, logvar, kl_tolerance=0.5)
    expected_r = np.mean(np.sum((x - recon) ** 2, axis=(1, 2, 3)))
    np.testing.assert_allclose(float(r_loss), expected_r, rtol=1e-5)
    np.testing.assert_allclose(float(kl_loss), (100.0 + 4.0 + 4.0) / 3, rtol=1e-5)
    np.testing.assert_allclose(float(total), expected_r + 36.0, rtol=1e-5)


def test_fit_lowers_the_loss_on_a_tiny_dataset():
    rng = np.random.default_rng(5)
    frames = np.repeat(rng.random((1, 64, 64, 3)).astype(np.float32), 20, axis=0)
    import keras

    model = ConvVAE(8, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(frames, batch_size=10, epochs=4, verbose=0)
    losses = history.history["r_loss"]
    assert set(history.history) >= {"loss", "r_loss", "kl_loss"}
    assert losses[-1] < losses[0]


def test_sampling_is_reparameterised_and_seeded():
    mu = np.full((2000, 4), 3.0, np.float32)
    logvar = np.full((2000, 4), np.log(0.25), np.float32)
    a = sample_z(mu, logvar, np.random.default_rng(7))
    b = sample_z(mu, logvar, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    assert abs(a.mean() - 3.0) < 0.05 and abs(a.std() - 0.5) < 0.05
