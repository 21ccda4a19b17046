"""Loading what the stages made: a trained controller's recipe (how it must be played)."""

import json

import numpy as np
import pytest

from worldmodels.experiments import CARRACING, DOOMRNN
from worldmodels.loading import (
    ControllerRecipe,
    experiment_folder,
    load_trained_controller,
    make_recipe,
    read_recipe,
    recipe_json,
    recipe_path,
    write_recipe,
)
from worldmodels.weights import ModelFileError


def _controller_file(folder, name="carracing.cma.4.24", num_params=867):
    best = folder / f"{name}.best.json"
    best.write_text(json.dumps([np.linspace(-1, 1, num_params).tolist(), 700.0]))
    return best


def test_a_recipe_round_trips_and_names_files_relative_to_the_experiment_folder(tmp_path):
    folder = experiment_folder(CARRACING)
    recipe = make_recipe(CARRACING, "z_hidden", "mean", 3, vae=folder / "vae" / "vae.npz",
                         rnn="rnn/rnn.npz")
    assert (recipe.vae, recipe.rnn, recipe.initial_z) == (
        "vae/vae.npz", "rnn/rnn.npz", "initial_z/initial_z.npz")
    best = _controller_file(tmp_path, num_params=1443)
    write_recipe(recipe_path(best), recipe)
    assert recipe_path(best).name == "carracing.cma.4.24.recipe.json"
    assert recipe_path(tmp_path / "carracing.cma.4.24.json") == recipe_path(best)
    assert read_recipe(CARRACING, best) == recipe
    assert str(tmp_path) not in recipe_path(best).read_text()
    trained = load_trained_controller(CARRACING, best)
    assert trained.recipe == recipe and trained.params.shape == (1443,)
    assert trained.model_path("vae") == folder / "vae" / "vae.npz"
    overridden = load_trained_controller(CARRACING, best, z_mode="sample", action_repeat=None)
    assert overridden.recipe.z_mode == "sample" and overridden.recipe.action_repeat == 3
    with pytest.raises(ModelFileError, match=r"\(1443,\) parameters, the controller needs \(99,\)"):
        load_trained_controller(CARRACING, best, controller_mode="z")


def test_older_runs_are_played_as_their_settings_say_else_as_the_reference(tmp_path):
    best = _controller_file(tmp_path)
    recipe = read_recipe(CARRACING, best)  # no recipe, no settings: the reference's
    assert (recipe.controller_mode, recipe.z_mode, recipe.action_repeat) == ("zh", "sample", 1)
    settings = tmp_path / "carracing.cma.4.24.settings.json"
    settings.write_text(json.dumps({"controller_mode": "z_hidden", "z_mode": "mean",
                                    "action_repeat": 2}))
    recipe = read_recipe(CARRACING, best)
    assert (recipe.controller_mode, recipe.z_mode, recipe.action_repeat) == ("z_hidden", "mean", 2)
    assert recipe.vae_sha256 is None  # which V such a run used is unknown
    settings.write_text(json.dumps({"z_mode": "median"}))
    with pytest.raises(ModelFileError, match="settings.json: controller mode 'zh' and z 'median'"):
        read_recipe(CARRACING, best)
    settings.write_text("{")
    with pytest.raises(ModelFileError, match="settings.json: unreadable training settings"):
        read_recipe(CARRACING, best)


def test_an_action_transform_is_recorded_and_applied_before_m_and_the_game(tmp_path):
    from worldmodels.envs import env_action

    recipe = make_recipe(CARRACING, "zh", "mean", action_scale=(0.6, 0.9, 1.0),
                         action_offset=(0.0, 0.1, 0.0))
    best = _controller_file(tmp_path)
    write_recipe(recipe_path(best), recipe)
    assert json.loads(recipe_path(best).read_text())["action_offset"] == [0.0, 0.1, 0.0]
    trained = load_trained_controller(CARRACING, best)
    assert trained.recipe == recipe
    controller = trained.controller()
    x = np.zeros((1, controller.spec.input_size), np.float32)
    controller.layers[0][1][:] = [2.0, -20.0, 0.5]  # tanh: 0.964, -1, 0.462
    action = controller.act_rows(x, np.zeros(1, np.int64))[0]
    np.testing.assert_allclose(action, [0.6 * np.tanh(2.0), -0.8, np.tanh(0.5)], rtol=1e-5)
    steer, gas, brake = env_action(CARRACING, action)
    assert gas == pytest.approx(0.1)  # the gas range starts at 0.1
    # without a transform the recipe file is as it always was, and C's actions are raw
    plain = make_recipe(CARRACING, "zh", "mean")
    assert "action_scale" not in recipe_json(plain)
    assert plain.transform() is None and plain.spec(CARRACING).transform is None
    with pytest.raises(ModelFileError, match="one finite value per action"):
        make_recipe(CARRACING, action_scale=(1.0, -1.0, 1.0))
    with pytest.raises(ModelFileError, match="action transform of 2 actions for a controller of 3"):
        make_recipe(CARRACING, action_scale=(1.0, 1.0))
    write_recipe(recipe_path(best), ControllerRecipe("carracing", action_offset=(0.0, 0.1)))
    with pytest.raises(ModelFileError, match="best.json: action transform of 2 actions"):
        load_trained_controller(CARRACING, best)


def test_a_bad_recipe_is_refused_in_one_line(tmp_path):
    best = _controller_file(tmp_path)
    path = recipe_path(best)
    path.write_text("[1, 2")
    with pytest.raises(ModelFileError, match="recipe.json: unreadable controller recipe"):
        read_recipe(CARRACING, best)
    write_recipe(path, ControllerRecipe("doomrnn"))
    with pytest.raises(ModelFileError, match="a doomrnn controller, not carracing"):
        read_recipe(CARRACING, best)
    data = json.loads(recipe_path(best).read_text()) | {"experiment": "carracing",
                                                         "action_repeat": 0}
    path.write_text(json.dumps(data))
    with pytest.raises(ModelFileError, match="action repeat must be a whole number >= 1"):
        read_recipe(CARRACING, best)
    path.write_text(json.dumps({**data, "action_repeat": 1, "version": 99}))
    with pytest.raises(ModelFileError, match="not a version-1 recipe"):
        read_recipe(CARRACING, best)


def test_playing_with_other_models_than_the_recipes_warns(tmp_path, capsys):
    best = _controller_file(tmp_path, "doomrnn.cma.16.64", num_params=1088)
    recipe = make_recipe(DOOMRNN)
    write_recipe(recipe_path(best), ControllerRecipe(**{**recipe.__dict__, "vae_sha256": "0" * 64}))
    load_trained_controller(DOOMRNN, best).load_models()
    err = capsys.readouterr().err
    assert "vae.npz is not the vae file" in err and "rnn.npz" not in err


def test_every_committed_controller_recipe_and_setting_names_no_absolute_path():
    root = experiment_folder(CARRACING).parent
    files = [*root.glob("*/log/**/*.json"), *root.glob("*/*/*.settings.json")]
    assert files
    for path in files:
        if path.name.endswith((".recipe.json", ".settings.json")):
            assert str(root) not in path.read_text(), path
            assert '"/' not in path.read_text(), path


@pytest.mark.pipeline
def test_a_controller_trained_with_other_modes_is_played_with_them(tmp_path):
    """train.py writes the recipe beside the controller; model.py plays it as trained."""
    import subprocess
    import sys

    root = experiment_folder(CARRACING).parent
    log = tmp_path / "log"
    train = subprocess.run(
        [sys.executable, "carracing/train.py", "--preset", "smoke", "-n", "1", "-t", "4",
         "--no-mpi", "--controller-mode", "z", "--z", "mean", "--action-repeat", "2",
         "--action-scale", "1,0.9,1", "--action-offset", "0,0.1,0",
         "--stop-after-negative", "10", "--log-dir", str(log), "--max-generations", "1"],
        cwd=root, capture_output=True, text=True, timeout=300)
    assert train.returncode == 0, train.stderr
    best = log / "carracing.cma.1.4.best.json"
    recipe = read_recipe(CARRACING, best)
    assert (recipe.controller_mode, recipe.z_mode, recipe.action_repeat) == ("z", "mean", 2)
    assert (recipe.action_scale, recipe.action_offset) == ((1.0, 0.9, 1.0), (0.0, 0.1, 0.0))
    assert (recipe.vae, recipe.rnn) == ("vae/vae.npz", "rnn/rnn.npz") and recipe.vae_sha256
    play = subprocess.run(
        [sys.executable, "carracing/model.py", "norender", str(best), "--episodes", "1",
         "--max-frames", "40"], cwd=root, capture_output=True, text=True, timeout=300)
    assert play.returncode == 0, play.stderr
    assert ("controller z, z mean, action repeat 2, actions x [1.0, 0.9, 1.0] + [0.0, 0.1, 0.0], "
            "V vae/vae.npz, M rnn/rnn.npz") in play.stdout
    assert "steps 40" in play.stdout
    other = subprocess.run(  # going on with another action repeat would mislabel its controllers
        [sys.executable, "carracing/train.py", "--preset", "smoke", "-n", "1", "-t", "4",
         "--no-mpi", "--controller-mode", "z", "--z", "mean", "--action-repeat", "3",
         "--action-scale", "1,0.9,1", "--action-offset", "0,0.1,0",
         "--stop-after-negative", "10", "--log-dir", str(log), "--max-generations", "2"],
        cwd=root, capture_output=True, text=True, timeout=300)
    assert other.returncode != 0 and "recipe.json says how this run's solutions are used" in \
        other.stderr.strip().splitlines()[-1]
    assert read_recipe(CARRACING, best).action_repeat == 2
