"""The dream: batched core vs the gymnasium Env one rollout at a time, and the Env's contract."""

import argparse
import dataclasses

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from worldmodels.controller import Controller, controller_spec
from worldmodels.dream import (
    DEATH_MODES,
    DreamBatch,
    DreamEnv,
    DreamSettings,
    add_dream_arguments,
    done_probability,
    dream_settings,
)
from worldmodels.experiments import DOOMRNN
from worldmodels.mdnrnn import MDNRNN
from worldmodels.vae import VAE
from worldmodels.weights import init_weights

EXP = DOOMRNN.with_overrides(max_frames=300)


@pytest.fixture(scope="module")
def parts():
    rng = np.random.default_rng(0)
    weights = init_weights("rnn", EXP, rng)
    weights["mdn/kernel"][:, -1] = rng.normal(0.0, 2.0, EXP.rnn_size)
    weights["mdn/bias"][-1] = -6.0  # a state-dependent death: varied lengths
    rnn = MDNRNN(weights, EXP)
    initial = rng.standard_normal((2, 10, EXP.z_size)).astype(np.float32)
    spec = controller_spec(EXP)
    params = rng.standard_normal((3, spec.num_params)) * 0.05
    return rnn, initial, spec, Controller(spec, params)


@pytest.mark.parametrize("death", DEATH_MODES)
def test_batched_dream_equals_the_env_one_rollout_at_a_time(parts, death):
    rnn, (mu, logvar), spec, controller = parts
    candidate = np.array([0, 0, 1, 1, 2, 2, 2])
    seeds = [100 + j for j in range(len(candidate))]
    settings = DreamSettings(1.25, death=death)
    rewards, steps = DreamBatch(EXP, rnn, mu, logvar, settings).rollout(controller, candidate,
                                                                         seeds)
    assert len(set(steps.tolist())) > 2  # rollouts left the batch at different times
    np.testing.assert_array_equal(rewards, steps)

    env = DreamEnv(DreamBatch(EXP, rnn, mu, logvar, settings), spec)
    for r, (k, seed) in enumerate(zip(candidate, seeds, strict=True)):
        obs, _ = env.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            action = Controller(spec, _params(controller, k)).act(obs[None, None])[0, 0]
            obs, reward, terminated, truncated, _ = env.step(action)
            total += reward
            done = terminated or truncated
        assert total == rewards[r], f"rollout {r}"


def _params(controller, k):
    from worldmodels.controller import flatten

    return flatten([(w[k : k + 1], None if b is None else b[k : k + 1])
                    for w, b in controller.layers])


def test_rollouts_are_reproducible_and_capped(parts):
    rnn, (mu, logvar), spec, controller = parts
    core = DreamBatch(EXP, rnn, mu, logvar, DreamSettings(1.25))
    a = core.rollout(controller, np.zeros(4, np.int64), [1, 2, 3, 4], max_frames=40)
    b = core.rollout(controller, np.zeros(4, np.int64), [1, 2, 3, 4], max_frames=40)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1].max() <= 40


def test_temperature_changes_the_dream(parts):
    rnn, (mu, logvar), spec, controller = parts
    def steps(temperature):
        core = DreamBatch(EXP, rnn, mu, logvar, DreamSettings(temperature))
        return core.rollout(controller, np.zeros(8, np.int64), list(range(8)))[1]

    cold, hot = steps(0.1), steps(1.25)
    assert not np.array_equal(cold, hot)


@pytest.mark.slow
def test_sampled_death_uses_the_calibrated_probability(parts):
    # A constant done logit of ln(done_weight) + logit(0.02): below the threshold's cut-off, so
    # threshold rollouts never die, while sampled ones die at rate 0.02 (mean length ~50 steps).
    _, (mu, logvar), _, controller = parts
    rng = np.random.default_rng(1)
    weights = init_weights("rnn", EXP, rng)
    weights["mdn/kernel"][:, -1] = 0.0
    weights["mdn/bias"][-1] = np.log(EXP.done_weight) + np.log(0.02 / 0.98)
    const = MDNRNN(weights, EXP)
    assert done_probability(np.array([weights["mdn/bias"][-1]]), EXP.done_weight)[0] == \
        pytest.approx(0.02)
    seeds = list(range(400))
    steps = DreamBatch(EXP, const, mu, logvar, DreamSettings(1.0, death="threshold")).rollout(
        controller, np.zeros(400, np.int64), seeds)[1]
    assert (steps == EXP.max_frames).all()
    steps = DreamBatch(EXP, const, mu, logvar, DreamSettings(1.0, death="sample")).rollout(
        controller, np.zeros(400, np.int64), seeds)[1]
    assert 40 < steps.mean() < 60, steps.mean()  # geometric, mean 50, std of the mean ~2.5
    with pytest.raises(ValueError, match="unknown death mode"):
        DreamSettings(1.0, death="sometimes")


def test_death_logit_moves_the_threshold(parts):
    # A constant done logit of -1: alive under the reference's cut-off of 0, dead at the first
    # step under a cut-off of -2; the cut-off must be finite.
    _, (mu, logvar), _, controller = parts
    weights = init_weights("rnn", EXP, np.random.default_rng(1))
    weights["mdn/kernel"][:, -1] = 0.0
    weights["mdn/bias"][-1] = -1.0
    const = MDNRNN(weights, EXP)

    def run(cut):
        core = DreamBatch(EXP, const, mu, logvar, DreamSettings(1.0, death_logit=cut))
        return core.rollout(controller, np.zeros(4, np.int64), [1, 2, 3, 4])[1]

    assert (run(0.0) == EXP.max_frames).all()
    assert (run(-2.0) == 1).all()
    with pytest.raises(ValueError, match="finite"):
        DreamSettings(1.0, death_logit=float("nan"))


def test_env_passes_the_gymnasium_checker_and_renders(parts):
    rnn, (mu, logvar), spec, _ = parts
    vae = VAE(init_weights("vae", EXP, np.random.default_rng(1)), EXP.z_size)
    env = DreamEnv(DreamBatch(EXP, rnn, mu, logvar, DreamSettings(EXP.temperature)), spec, vae=vae,
                   render_mode="rgb_array")
    check_env(env, skip_render_check=False)
    env.reset(seed=3)
    frame = env.render()
    assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8
    obs, reward, *_ = env.step(np.array([0.5], np.float32))
    assert obs.shape == (1088,) and reward == 1.0


def test_temperature_range_draws_one_tau_per_rollout_from_its_own_seed(parts):
    rnn, (mu, logvar), _, controller = parts
    core = DreamBatch(EXP, rnn, mu, logvar, DreamSettings(1.0, temperature_max=1.3))
    core.reset(list(range(50)))
    assert core.tau.shape == (50,) and 1.0 <= core.tau.min() < core.tau.max() <= 1.3
    assert core.tau.max() - core.tau.min() > 0.2
    seeds = [7, 8, 9, 10, 11]
    together = core.rollout(controller, np.zeros(5, np.int64), seeds)[1]
    alone = [core.rollout(controller, np.zeros(1, np.int64), [s])[1][0] for s in seeds]
    np.testing.assert_array_equal(together, alone)  # rollouts leaving the batch keep their tau
    fixed = DreamBatch(EXP, rnn, mu, logvar, DreamSettings(1.0)).rollout(
        controller, np.zeros(5, np.int64), seeds)
    assert not np.array_equal(together, fixed[1])


@pytest.mark.parametrize("low, high", [(1.2, 1.1), (1.0, float("nan")), (0.0, None),
                                       (float("inf"), None)])
def test_bad_temperatures_are_refused(low, high):
    with pytest.raises(ValueError, match="temperature"):
        DreamSettings(low, temperature_max=high)


def test_dream_flags_build_the_settings():
    parser = argparse.ArgumentParser()
    add_dream_arguments(parser)
    assert all(action.help for action in parser._actions)
    assert dream_settings(parser.parse_args([]), 1.25) == DreamSettings(1.25)
    args = parser.parse_args(["--temperature", "1.0", "--temperature-max", "1.3", "--death",
                              "sample", "--death-logit", "-2"])
    assert dream_settings(args, 1.25) == DreamSettings(1.0, 1.3, "sample", -2.0)
    viewing = argparse.ArgumentParser()
    add_dream_arguments(viewing, default_temperature=0.7)
    assert dream_settings(viewing.parse_args([]), 1.25).temperature == 0.7
    with pytest.raises(dataclasses.FrozenInstanceError):
        DreamSettings(1.0).temperature = 2.0
