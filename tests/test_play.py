"""Playing trained controllers: the demo, the shipped agents, random baselines, action runs."""

import subprocess
import sys

import numpy as np
import pytest

from worldmodels.demo import SHIPPED, random_policy_parallel, random_policy_rewards
from worldmodels.experiments import CARRACING
from worldmodels.loading import read_recipe
from worldmodels.play import best_and_worst
from worldmodels.scores import standard_error
from worldmodels.seeds import TEST_SEED_BASE, episode_seed


@pytest.mark.slow
def test_demo_runs_end_to_end():
    out = subprocess.run([sys.executable, "-m", "worldmodels.demo", "--untrained",
                          "--episodes", "2"], capture_output=True, text=True, check=True)
    assert out.stdout.count("episode 1 (seed 1): reward") == 2  # both games
    assert "agent steps/s" in out.stdout


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


def test_action_runs_measure_how_long_one_action_is_held():
    from worldmodels.play import action_runs

    assert action_runs([1, 1, 1, 2, 2, 0]) == (2.0, 1)  # runs 3, 2, 1
    assert action_runs([2] * 30) == (30.0, 30)
    assert action_runs([[0.5, 1.0], [0.5, 1.0], [0.5, 0.0]]) == (1.5, 1)  # vector actions


def test_the_driving_figure_shows_the_best_episode_and_the_worst():
    assert best_and_worst(np.array([700.0, 300.0, 910.0, 650.0, 120.0, 800.0])) == [2, 4, 1, 3]
    assert best_and_worst(np.array([5.0, 9.0])) == [1, 0]
    assert best_and_worst(np.array([5.0])) == [0]
