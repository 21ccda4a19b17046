"""The agent in the real games, and the rule that rollout code never imports TensorFlow."""

import subprocess
import sys

import numpy as np
import pytest

from worldmodels.agent import Agent, run_episodes
from worldmodels.controller import Controller, controller_spec
from worldmodels.demo import SHIPPED, random_policy_parallel, random_policy_rewards
from worldmodels.envs import make_env
from worldmodels.experiments import CARRACING, DOOMRNN
from worldmodels.loading import read_recipe
from worldmodels.mdnrnn import MDNRNN
from worldmodels.problems import RealProblem
from worldmodels.scores import standard_error
from worldmodels.seeds import TEST_SEED_BASE, episode_seed
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


def test_real_problem_plays_with_v_mean_when_asked():
    """With z = V's mean the rewards do not depend on the problem's noise seed; sampled z do."""
    rng = np.random.default_rng(4)
    vae = VAE(init_weights("vae", CARRACING, rng), CARRACING.z_size)
    rnn = MDNRNN(init_weights("rnn", CARRACING, rng), CARRACING)
    spec = controller_spec(CARRACING)
    params = rng.standard_normal((2, spec.num_params)) * 0.05
    params[:, -2] = 3.0  # full gas, so that steering decides which tiles the car reaches

    def rewards(z_mode, seed):
        problem = RealProblem(CARRACING, vae, rnn, envs=2, seed=seed, z_mode=z_mode)
        return problem.evaluate(params, np.array([7, 8]), 1, 120, train_mode=False)[0]

    np.testing.assert_array_equal(rewards("mean", 1), rewards("mean", 2))
    assert not np.array_equal(rewards("sample", 1), rewards("sample", 2))


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


@pytest.mark.slow
def test_demo_runs_end_to_end():
    out = subprocess.run([sys.executable, "-m", "worldmodels.demo", "--untrained",
                          "--episodes", "2"], capture_output=True, text=True, check=True)
    assert out.stdout.count("episode 1 (seed 1): reward") == 2  # both games
    assert "agent steps/s" in out.stdout


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


@pytest.mark.slow
def test_shipped_doom_agent_outlives_the_random_policy():
    # The main job (README's first command) on 4 of its 100 episodes. Seeds are fixed, so the
    # scores are reproducible; over 100 episodes the shipped agent averages ~4x the random policy.
    out = subprocess.run([sys.executable, "-m", "worldmodels.demo", "--experiment", "doomrnn",
                          "--episodes", "4", "--batch", "4"],
                         capture_output=True, text=True, check=True).stdout
    agent = float(out.split("shipped agent :")[1].split()[0])
    random = float(out.split("random policy :")[1].split()[0])
    assert agent > 2 * random, out
    # The printed standard error is that of the printed episode scores.
    scores = np.array(out.split("  scores:")[1].split("\n")[0].split(), dtype=float)
    printed = float(out.split("standard error ")[1].split(";")[0])
    assert scores.mean() == pytest.approx(agent, abs=0.05)
    assert printed == pytest.approx(standard_error(scores), abs=0.05)


@pytest.mark.slow
def test_shipped_carracing_agent_drives_with_v_mean_and_beats_random_actions():
    # The shipped controller was evolved seeing V's mean; its recipe says so, and the demo plays
    # it that way (on 2 of its 100 tracks; the agent averages ~735, random actions ~-32).
    shipped = SHIPPED["carracing"]
    assert read_recipe(CARRACING, shipped.files()[2]).z_mode == "mean"
    out = subprocess.run([sys.executable, "-m", "worldmodels.demo", "--experiment", "carracing",
                          "--episodes", "2", "--batch", "2"],
                         capture_output=True, text=True, check=True).stdout
    agent = float(out.split("shipped agent :")[1].split()[0])
    random = float(out.split("random policy :")[1].split()[0])
    assert agent > 300 and random < 0, out


@pytest.mark.slow
def test_random_policy_shared_by_processes_plays_each_share_from_its_own_seed():
    seeds = [episode_seed(TEST_SEED_BASE, i) for i in range(3)]
    shared = random_policy_parallel(CARRACING, seeds, 5, workers=2)
    first = random_policy_rewards(CARRACING, seeds[0::2], np.random.default_rng((5, 0)))
    second = random_policy_rewards(CARRACING, seeds[1::2], np.random.default_rng((5, 1)))
    assert shared.tolist() == [first[0], second[0], first[1]]
    assert np.all(shared < 0)  # uniform random actions lose 0.1 a step and rarely reach tiles


def test_standard_error_is_the_sample_std_over_root_n():
    assert standard_error(np.array([1.0, 3.0])) == pytest.approx(1.0)
    assert standard_error(np.array([5.0, 5.0, 5.0])) == 0.0
    assert standard_error(np.array([7.0])) == 0.0


def test_held_uniform_holds_each_action_for_at_most_max_hold_steps():
    from worldmodels.stages.extract import HeldUniformPolicy

    def longest_run(max_hold):
        policy = HeldUniformPolicy(DOOMRNN, np.random.default_rng(0), max_hold=max_hold)
        actions = np.array([policy.act(None)[0] for _ in range(3000)])
        changes = np.flatnonzero(np.diff(actions)) + 1
        return np.diff(np.concatenate([[0], changes, [len(actions)]])).max()

    assert longest_run(10) == 10  # the reference's 1..10
    assert 50 < longest_run(100) <= 100


def test_action_runs_measure_how_long_one_action_is_held():
    from worldmodels.play import action_runs

    assert action_runs([1, 1, 1, 2, 2, 0]) == (2.0, 1)  # runs 3, 2, 1
    assert action_runs([2] * 30) == (30.0, 30)
    assert action_runs([[0.5, 1.0], [0.5, 1.0], [0.5, 0.0]]) == (1.5, 1)  # vector actions
