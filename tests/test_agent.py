"""The agent in the real games, and the rule that rollout code never imports TensorFlow."""

import subprocess
import sys

import numpy as np
import pytest

from worldmodels.agent import Agent, run_episodes
from worldmodels.controller import Controller, controller_spec
from worldmodels.envs import make_env
from worldmodels.experiments import CARRACING, DOOMRNN
from worldmodels.mdnrnn import MDNRNN
from worldmodels.vae import VAE
from worldmodels.weights import init_weights


def test_rollout_modules_never_import_tensorflow():
    code = ("import sys, worldmodels.agent, worldmodels.demo, worldmodels.data, worldmodels.weights;"
            "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_frames_are_64x64_uint8_in_both_games():
    for exp in (CARRACING, DOOMRNN):
        env = make_env(exp)
        frame, _ = env.reset(seed=0)
        assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8
        assert frame.std() > 5  # a real picture, not a blank screen
        env.close()


def _agent(exp, rng, k=2, z_mode="sample"):
    spec = controller_spec(exp)
    return Agent(exp, VAE(init_weights("vae", exp, rng), exp.z_size),
                 MDNRNN(init_weights("rnn", exp, rng), exp),
                 Controller(spec, rng.standard_normal((k, spec.num_params)) * 0.1), rng, z_mode)


def test_z_mode_mean_feeds_v_mean_and_sample_draws_noise():
    frames = np.random.default_rng(3).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)

    def first_actions(z_mode, noise_seed):
        agent = _agent(DOOMRNN, np.random.default_rng(0), z_mode=z_mode)
        agent.rng = np.random.default_rng(noise_seed)  # only z sampling draws from it now
        agent.reset(np.array([0, 1]))
        return agent.act(frames, np.arange(2))

    np.testing.assert_array_equal(first_actions("mean", 1), first_actions("mean", 2))
    assert not np.array_equal(first_actions("sample", 1), first_actions("sample", 2))
    with pytest.raises(ValueError, match="z_mode"):
        _agent(DOOMRNN, np.random.default_rng(0), z_mode="mode")


@pytest.mark.slow
def test_doom_batched_episodes_are_reproducible_and_counted():
    def play():
        rng = np.random.default_rng(0)
        envs = [make_env(DOOMRNN) for _ in range(3)]
        out = run_episodes(DOOMRNN, _agent(DOOMRNN, rng), envs, seeds=[5, 6, 7],
                           candidate=np.array([0, 1, 1]))
        for env in envs:
            env.close()
        return out

    rewards, steps = play()
    again, _ = play()
    np.testing.assert_array_equal(rewards, again)
    np.testing.assert_array_equal(rewards, steps)  # TakeCover pays 1 per step survived
    assert np.all((steps > 10) & (steps <= 2100))


def test_carracing_respects_the_step_cap():
    rng = np.random.default_rng(1)
    envs = [make_env(CARRACING) for _ in range(2)]
    rewards, steps = run_episodes(CARRACING, _agent(CARRACING, rng), envs, seeds=[0, 1],
                                  candidate=np.array([0, 1]), max_steps=30)
    assert steps.tolist() == [30, 30]
    assert np.all(np.isfinite(rewards)) and rewards[0] != rewards[1]  # two different tracks


def test_training_episodes_stop_after_a_run_of_negative_rewards():
    """A car held on the brakes gains its first tile, then only -0.1 per step: with
    stop_after_negative=20 it stops 20 steps later; without, it plays to the cap."""
    spec = controller_spec(CARRACING)
    params = np.zeros(spec.num_params)
    params[-3:] = [0.0, -20.0, 20.0]  # bias: steer 0, gas (tanh(-20) + 1) / 2 = 0, brake 1
    agent = _agent(CARRACING, np.random.default_rng(2))
    agent.controller = Controller(spec, params[None])
    envs = [make_env(CARRACING)]
    _, stopped = run_episodes(CARRACING, agent, envs, [3], np.zeros(1, np.int64), 200,
                              stop_after_negative=20)
    _, full = run_episodes(CARRACING, agent, envs, [3], np.zeros(1, np.int64), 200)
    assert stopped.tolist() == [21] and full.tolist() == [200]


def test_doom_actions_move_the_player_whatever_their_numpy_type():
    def position_after(action):
        env = make_env(DOOMRNN)
        env.reset(seed=0)
        for _ in range(12):
            env.step(action)
        x = env.unwrapped.game.get_game_variable(__import__("vizdoom").GameVariable.POSITION_Y)
        env.close()
        return x

    still = position_after(0)
    left, right = position_after(np.array(2)), position_after(np.int64(1))
    assert left != still and right != still and (left - still) * (right - still) < 0
    assert position_after(np.array([1])[0]) == right


def test_many_doom_games_can_start_at_once_in_one_folder(tmp_path):
    code = ("from worldmodels.envs import make_env; from worldmodels.experiments import DOOMRNN;"
            "env = make_env(DOOMRNN); env.reset(seed=0); env.close(); print('ok')")
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [err[-300:] for _, err in outs]


def test_held_uniform_holds_each_action_for_at_most_max_hold_steps():
    from worldmodels.stages.extract import HeldUniformPolicy

    def longest_run(max_hold):
        policy = HeldUniformPolicy(DOOMRNN, np.random.default_rng(0), max_hold=max_hold)
        actions = np.array([policy.act(None)[0] for _ in range(3000)])
        changes = np.flatnonzero(np.diff(actions)) + 1
        return np.diff(np.concatenate([[0], changes, [len(actions)]])).max()

    assert longest_run(10) == 10  # the reference's 1..10
    assert 50 < longest_run(100) <= 100

