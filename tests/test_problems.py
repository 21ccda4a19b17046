"""The ES problems: fitness of controllers on real tracks (RealProblem)."""

import json

import numpy as np

from worldmodels.controller import controller_spec
from worldmodels.experiments import CARRACING
from worldmodels.loading import make_recipe, reference_recipe
from worldmodels.mdnrnn import MDNRNN
from worldmodels.problems import RealProblem
from worldmodels.vae import VAE
from worldmodels.weights import init_weights


def test_real_problem_plays_with_v_mean_when_asked():
    """With z = V's mean the rewards do not depend on the problem's noise seed; sampled z do."""
    rng = np.random.default_rng(4)
    vae = VAE(init_weights("vae", CARRACING, rng), CARRACING.z_size)
    rnn = MDNRNN(init_weights("rnn", CARRACING, rng), CARRACING)
    spec = controller_spec(CARRACING)
    params = rng.standard_normal((2, spec.num_params)) * 0.05
    params[:, -2] = 3.0  # full gas, so that steering decides which tiles the car reaches

    def rewards(z_mode, seed):
        problem = RealProblem(CARRACING, vae, rnn, reference_recipe(CARRACING, z_mode=z_mode),
                              envs=2, seed=seed)
        return problem.evaluate(params, np.array([7, 8]), 1, 120, train_mode=False)[0]

    np.testing.assert_array_equal(rewards("mean", 1), rewards("mean", 2))
    assert not np.array_equal(rewards("sample", 1), rewards("sample", 2))


def test_real_problem_counts_environment_steps_at_any_action_repeat_and_names_its_recipe():
    rng = np.random.default_rng(4)
    vae = VAE(init_weights("vae", CARRACING, rng), CARRACING.z_size)
    rnn = MDNRNN(init_weights("rnn", CARRACING, rng), CARRACING)
    params = rng.standard_normal((1, controller_spec(CARRACING).num_params)) * 0.05
    recipe = make_recipe(CARRACING, z_mode="mean", action_repeat=3)
    problem = RealProblem(CARRACING, vae, rnn, recipe, envs=1)
    _, steps = problem.evaluate(params, np.array([7]), 1, 100, train_mode=False)
    # environment steps: a cap below the game's own is checked after each decision of 3 steps
    assert steps.tolist() == [102]
    (text,) = problem.run_files().values()
    assert json.loads(text)["action_repeat"] == 3 and list(problem.run_files()) == [".recipe.json"]
