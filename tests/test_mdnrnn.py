"""M: reference sizes, loss, sampling, and the numpy twin against the Keras model."""

import keras
import numpy as np
import pytest

from worldmodels.experiments import CARRACING, DOOMRNN
from worldmodels.keras_models import MDNRNN, mdn_loss, rnn_optimizer
from worldmodels.mdnrnn import MDNRNN as NumpyMDNRNN
from worldmodels.mdnrnn import (
    Mixture,
    done_probability,
    mixture_nll,
    rnn_weight_shapes,
    sample_next_z,
    sample_with_noise,
    split_mixture,
)


@pytest.fixture(scope="module", params=[CARRACING, DOOMRNN], ids=lambda e: e.name)
def rnn_pair(request):
    exp = request.param
    keras.utils.set_random_seed(0)
    model = MDNRNN(exp)
    return exp, model, NumpyMDNRNN(model.weight_dict(), exp)


def _inputs(exp, n, t, seed):
    x = np.random.default_rng(seed).standard_normal((n, t, exp.rnn_input_size)).astype(np.float32)
    if exp.use_restart:
        x[..., -1] = 0.0
        x[:, 0, -1] = 1.0
        x[1, 4, -1] = 1.0  # an episode boundary inside the sequence of row 1
    return x


def _twin_rollout(exp, twin, x):
    h, c = twin.initial_state(x.shape[0])
    outs = []
    for t in range(x.shape[1]):
        if exp.use_restart:
            keep = 1.0 - x[:, t, -1:]
            h, c = h * keep, c * keep
        h, c = twin.step(x[:, t], h, c)
        outs.append(twin.head(h))
    return np.stack(outs, axis=1), h, c


def test_parameter_counts_match_the_reference():
    assert MDNRNN(CARRACING).count_params() == 422_368
    assert MDNRNN(DOOMRNN).count_params() == 1_678_785


def test_weight_dict_has_the_documented_shapes(rnn_pair):
    exp, model, _ = rnn_pair
    assert {k: v.shape for k, v in model.weight_dict().items()} == rnn_weight_shapes(exp)


def test_twin_steps_equal_the_keras_sequence(rnn_pair):
    exp, model, twin = rnn_pair
    x = _inputs(exp, 3, 9, seed=1)
    out, h, c = (np.asarray(v) for v in model(x))
    out2, h2, c2 = _twin_rollout(exp, twin, x)
    np.testing.assert_allclose(out2, out, atol=1e-4)
    np.testing.assert_allclose(h2, h, atol=1e-4)
    np.testing.assert_allclose(c2, c, atol=1e-4)


def test_restart_flag_zeroes_the_state_inside_a_sequence():
    model = MDNRNN(DOOMRNN)
    x = _inputs(DOOMRNN, 2, 8, seed=2)
    out = np.asarray(model(x)[0])
    fresh = np.asarray(model(x[1:, 4:])[0])  # row 1 restarted at step 4
    np.testing.assert_allclose(out[1, 4:], fresh[0], atol=1e-5)


def test_batch_equals_single_calls(rnn_pair):
    exp, _, twin = rnn_pair
    x = _inputs(exp, 4, 5, seed=3)
    out, _, _ = _twin_rollout(exp, twin, x)
    for i in range(4):
        single, _, _ = _twin_rollout(exp, twin, x[i : i + 1])
        np.testing.assert_allclose(out[i], single[0], atol=1e-5)


def test_mixture_layout_and_done_head(rnn_pair):
    exp, _, twin = rnn_pair
    h = np.random.default_rng(4).standard_normal((3, exp.rnn_size)).astype(np.float32)
    mix = twin.mixture(h)
    assert mix.mu.shape == (3, exp.z_size, exp.num_mixture)
    np.testing.assert_allclose(np.exp(mix.log_pi).sum(-1), 1.0, atol=1e-5)
    if exp.predict_done:
        p = done_probability(mix)
        assert p.shape == (3,) and np.all((p > 0) & (p < 1))
    else:
        assert mix.done_logit is None
        with pytest.raises(ValueError, match="no done head"):
            done_probability(mix)


def test_keras_loss_equals_numpy_nll_and_weights_done_frames(rnn_pair):
    exp, model, twin = rnn_pair
    rng = np.random.default_rng(5)
    x = _inputs(exp, 2, 6, seed=5)
    z_next = rng.standard_normal((2, 6, exp.z_size)).astype(np.float32)
    done = np.zeros((2, 6), np.float32)
    done[0, -1] = 1.0
    out = np.asarray(model(x)[0])
    total, z_loss, done_loss, reward_loss = mdn_loss(exp, out, z_next, done)
    assert float(reward_loss) == 0.0
    flat = split_mixture(out.reshape(12, -1), exp)
    np.testing.assert_allclose(float(z_loss), mixture_nll(flat, z_next.reshape(12, -1)).mean(),
                               rtol=1e-4)
    if exp.predict_done:
        logit = out[..., -1]
        ce = np.where(done == 1, exp.done_weight * np.log1p(np.exp(-logit)),
                      np.log1p(np.exp(logit)))
        np.testing.assert_allclose(float(done_loss), ce.mean(), rtol=1e-4)
        np.testing.assert_allclose(float(total), float(z_loss) + ce.mean(), rtol=1e-4)
    else:
        assert float(done_loss) == 0.0


def test_nll_of_a_single_gaussian_is_textbook():
    mix = Mixture(np.zeros((1, 1, 1)), np.zeros((1, 1, 1)), np.log(np.full((1, 1, 1), 2.0)), None)
    nll = mixture_nll(mix, np.array([[1.0]]))
    expected = 0.5 * np.log(2 * np.pi) + np.log(2.0) + 0.5 * (1.0 / 2.0) ** 2
    np.testing.assert_allclose(nll, [[expected]], rtol=1e-6)


def _two_component_mixture(n):
    log_pi = np.log(np.tile([[[0.8, 0.2]]], (n, 1, 1))).astype(np.float32)
    mu = np.tile([[[-5.0, 5.0]]], (n, 1, 1)).astype(np.float32)
    log_sigma = np.full((n, 1, 2), np.log(0.1), np.float32)
    return Mixture(log_pi, mu, log_sigma, None)


def test_sampling_is_reproducible_with_a_seed():
    mix = _two_component_mixture(50)
    a = sample_next_z(mix, 1.0, np.random.default_rng(8))
    b = sample_next_z(mix, 1.0, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)


def test_temperature_flattens_the_mixture_and_widens_the_noise():
    n = 20000
    mix = _two_component_mixture(n)
    cold = sample_next_z(mix, 0.5, np.random.default_rng(9))[:, 0]
    plain = sample_next_z(mix, 1.0, np.random.default_rng(9))[:, 0]
    hot = sample_next_z(mix, 4.0, np.random.default_rng(9))[:, 0]
    # pi / tau then softmax: P(component 2) = 0.2^(1/tau) / (0.8^(1/tau) + 0.2^(1/tau)).
    for z, tau in ((cold, 0.5), (plain, 1.0), (hot, 4.0)):
        p2 = 0.2 ** (1 / tau) / (0.8 ** (1 / tau) + 0.2 ** (1 / tau))
        assert abs((z > 0).mean() - p2) < 0.015
        np.testing.assert_allclose(z[z > 0].std(), 0.1 * np.sqrt(tau), rtol=0.1)


def test_optimizer_clips_by_value_and_follows_the_reference_schedule():
    opt = rnn_optimizer(DOOMRNN)
    assert opt.clipvalue == 1.0
    schedule = opt.learning_rate if callable(opt.learning_rate) else opt._learning_rate
    for step in (0, 1000, 24_400):
        expected = (1e-3 - 1e-5) * 0.99999**step + 1e-5
        np.testing.assert_allclose(float(schedule(step)), expected, rtol=1e-4)
    constant = rnn_optimizer(CARRACING)._learning_rate
    np.testing.assert_allclose(float(constant(4000)), 1e-3, rtol=1e-6)


def test_clipped_training_step_stays_finite_on_huge_targets():
    model = MDNRNN(CARRACING)
    model.compile(optimizer=rnn_optimizer(CARRACING))
    rng = np.random.default_rng(10)
    x = rng.standard_normal((4, 10, CARRACING.rnn_input_size)).astype(np.float32)
    z_next = 1e3 * rng.standard_normal((4, 10, CARRACING.z_size)).astype(np.float32)
    before = model.weight_dict()
    model.fit(x, z_next, batch_size=4, epochs=1, verbose=0)
    after = model.weight_dict()
    step = np.abs(after["mdn/kernel"] - before["mdn/kernel"]).max()
    assert np.all(np.isfinite(after["mdn/kernel"]))
    assert 0 < step <= 1.01e-3  # Adam moves a weight by about lr at the first step


def _sampler_inputs(exp, n, seed):
    """Random LSTM outputs h (n, H), uniforms u and normals eps (n, Z) for M's sampler."""
    rng = np.random.default_rng(seed)
    h = rng.standard_normal((n, exp.rnn_size)).astype(np.float32)
    u = rng.random((n, exp.z_size), dtype=np.float32)
    eps = rng.standard_normal((n, exp.z_size), dtype=np.float32)
    return h, u, eps


def test_rollout_sampling_path_equals_the_mixture_sampler(rnn_pair):
    exp, _, twin = rnn_pair
    h, u, eps = _sampler_inputs(exp, 50, 11)
    z, done, reward = twin.sample_next(h, 1.25, u, eps)
    assert reward is None
    mix = twin.mixture(h)
    expected = sample_with_noise(mix, 1.25, u, eps)
    # Same draws, same components: equal up to float rounding (a component choice could only flip
    # for a uniform draw within rounding of a cumulative boundary).
    assert np.mean(np.abs(z - expected) < 1e-4) > 0.999
    if exp.predict_done:
        np.testing.assert_allclose(done, mix.done_logit, atol=1e-5)
    else:
        assert done is None


def test_optional_reward_head_is_trained_by_squared_error_and_read_by_the_twin():
    exp = CARRACING.with_overrides(predict_reward=True)
    model = MDNRNN(exp)
    assert model.count_params() == 422_368 + 257  # one more output unit
    twin = NumpyMDNRNN(model.weight_dict(), exp)
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 5, exp.rnn_input_size)).astype(np.float32)
    out, h, _ = (np.asarray(v) for v in model(x))
    reward = rng.standard_normal((2, 5)).astype(np.float32)
    z_next = rng.standard_normal((2, 5, exp.z_size)).astype(np.float32)
    total, z_loss, done_loss, reward_loss = mdn_loss(exp, out, z_next, None, reward)
    np.testing.assert_allclose(float(reward_loss), np.mean((out[..., -1] - reward) ** 2), rtol=1e-5)
    np.testing.assert_allclose(float(total), float(z_loss) + float(reward_loss), rtol=1e-5)
    assert float(done_loss) == 0.0
    u = rng.random((2, exp.z_size), dtype=np.float32)
    _, done, predicted = twin.sample_next(h, 1.0, u, u)
    assert done is None
    np.testing.assert_allclose(predicted, out[:, -1, -1], atol=1e-4)
    assert twin.mixture(h).reward is not None


def test_teacher_forced_metrics_count_deaths_alarms_and_ignore_padding():
    from worldmodels.stages.rnn_train import teacher_forced_metrics

    rng = np.random.default_rng(0)
    weights = {k: 0.05 * rng.standard_normal(s).astype(np.float32)
               for k, s in rnn_weight_shapes(DOOMRNN).items()}
    episodes = []
    for length, died in ((5, True), (8, False), (12, True)):
        done = np.zeros(length, bool)
        done[-1] = died
        episodes.append({"mu": rng.standard_normal((length, 64)).astype(np.float16),
                         "action": rng.uniform(-1, 1, (length, 1)).astype(np.float32),
                         "done": done})
    twin = NumpyMDNRNN(weights, DOOMRNN)
    together = teacher_forced_metrics(DOOMRNN, twin, episodes)
    one_by_one = teacher_forced_metrics(DOOMRNN, twin, episodes, batch=1)
    assert together["deaths"] == 2
    assert np.isfinite(together["z_nll"])
    assert together["z_nll"] == pytest.approx(one_by_one["z_nll"], rel=1e-5)
    for done_logit, share in ((30.0, 1.0), (-30.0, 0.0)):
        weights["mdn/bias"][-1] = done_logit  # the done logit is the head's last output
        weights["mdn/kernel"][:, -1] = 0.0
        m = teacher_forced_metrics(DOOMRNN, NumpyMDNRNN(weights, DOOMRNN), episodes)
        assert m["death_recall"] == share and m["false_alarms"] == share


def test_per_row_temperatures_equal_row_by_row_sampling(rnn_pair):
    exp, _, twin = rnn_pair
    h, u, eps = _sampler_inputs(exp, 6, 12)
    taus = np.array([0.5, 1.0, 1.15, 1.25, 1.3, 2.0])
    z = twin.sample_next(h, taus, u, eps)[0]
    for i, tau in enumerate(taus):  # the same batch at one tau: row i must match bit for bit
        np.testing.assert_array_equal(z[i], twin.sample_next(h, float(tau), u, eps)[0][i])
    assert not np.array_equal(z, twin.sample_next(h, 1.0, u, eps)[0])
