"""Loading what the stages made: V and M as numpy twins, the dream, a controller's parameters.

Each loader takes a file's path, or None for the experiment's own file, and refuses a missing or
unfit file with one line naming the stage that makes it (ModelFileError or DataFileError).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from worldmodels.controller import ActionTransform, Controller, ControllerSpec, controller_spec
from worldmodels.data import DataFileError, read_initial_z
from worldmodels.dream import DreamBatch, DreamSettings
from worldmodels.experiments import CONTROLLER_MODES, Z_MODES, Experiment, get_experiment
from worldmodels.fileio import atomic_write_text, file_digest
from worldmodels.mdnrnn import MDNRNN
from worldmodels.vae import VAE
from worldmodels.weights import ModelFileError, load_weights, with_file_heads


def load_rnn(exp: Experiment, path: str | os.PathLike | None) -> MDNRNN:
    """M's numpy twin from `path` (default: the experiment's M file), with the optional heads the
    file was trained with (rnn_train.py --predict-reward)."""
    path = path or exp.rnn_path
    exp = with_file_heads(path, exp)
    return MDNRNN(load_weights(path, "rnn", exp, made_by="rnn_train.py"), exp)


def load_vae(exp: Experiment, path: str | os.PathLike | None) -> VAE:
    """V's numpy twin from `path` (default: the experiment's V file)."""
    return VAE(load_weights(path or exp.vae_path, "vae", exp, made_by="vae_train.py"), exp.z_size)


def load_dream(exp: Experiment, rnn_path: str | os.PathLike | None,
               initial_z_path: str | os.PathLike | None, settings: DreamSettings) -> DreamBatch:
    """The batched dream of `exp` from its M file and its initial_z file (initial mu and logvar,
    (N, z_size) each), sampled and killed as `settings` says."""
    path = Path(initial_z_path or exp.initial_z_path)
    if not path.is_file():
        raise DataFileError(f"{path}: missing initial_z for {exp.name} (made by: series.py)")
    mu, logvar = read_initial_z(path, exp.z_size)
    return DreamBatch(exp, load_rnn(exp, rnn_path), mu, logvar, settings)


def load_controller_params(path: str | os.PathLike, num_params: int) -> np.ndarray:
    """Controller parameters (num_params,) float64 from a train.py log file: [params, reward]
    (``.best.json``) or [params] (``.json``)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such controller file (made by: train.py)")
    try:
        data = json.loads(path.read_text())
        params = np.asarray(data[0], dtype=np.float64)
    except (ValueError, IndexError, TypeError, KeyError) as err:
        raise ModelFileError(f"{path}: not a controller log ([params, ...]): {err}") from None
    if params.shape != (num_params,) or not np.all(np.isfinite(params)):
        raise ModelFileError(f"{path}: {params.shape} parameters, the controller needs "
                             f"({num_params},) finite values (other experiment or "
                             "--controller-mode?)")
    return params


_FOLDERS: dict[str, Path] = {}  # experiment name -> the folder its stage scripts run in


def use_experiment_folder(exp_name: str, folder: str | os.PathLike) -> None:
    """Make `folder` the experiment's folder for this process (the entry scripts do: an
    experiment folder copied elsewhere then names its own models)."""
    _FOLDERS[exp_name] = Path(folder).resolve()


def experiment_folder(exp: Experiment) -> Path:
    """The folder of experiment `exp` (``carracing/``, ``doomrnn/``): the one its stage script
    runs in, else this checkout's. File names of a :class:`ControllerRecipe` are relative to it."""
    return _FOLDERS.get(exp.name, Path(__file__).resolve().parent.parent / exp.name)


RECIPE_VERSION = 1


@dataclass(frozen=True)
class ControllerRecipe:
    """How a trained controller must be played, written by train.py beside the controller
    (``NAME.recipe.json`` for ``NAME.best.json`` and ``NAME.json``) and read by model.py, extract
    and the demo: its experiment, controller mode, z mode (sampled or V's mean) and action repeat,
    and the V, M and initial_z files it was trained with, named relative to the experiment's
    folder, with their SHA-256 digests (None where a file was absent at training time). An
    action scale and offset, when set, transform C's actions (:class:`ActionTransform`); a
    recipe without them plays C's raw actions, the paper's."""

    experiment: str
    controller_mode: str = "zh"
    z_mode: str = "sample"
    action_repeat: int = 1
    vae: str = ""
    rnn: str = ""
    initial_z: str = ""
    vae_sha256: str | None = None
    rnn_sha256: str | None = None
    initial_z_sha256: str | None = None
    action_scale: tuple[float, ...] | None = None
    action_offset: tuple[float, ...] | None = None

    def __post_init__(self):
        for name in ("action_scale", "action_offset"):
            value = getattr(self, name)
            try:
                if value is not None:  # a JSON list, or a tuple
                    object.__setattr__(self, name, tuple(float(v) for v in value))
            except (TypeError, ValueError):
                raise ModelFileError(f"{name} must be a list of numbers, got {value!r}") from None
        try:
            self.transform()
        except ValueError as err:
            raise ModelFileError(str(err)) from None
        if self.controller_mode not in CONTROLLER_MODES or self.z_mode not in Z_MODES:
            raise ModelFileError(f"controller mode {self.controller_mode!r} and z {self.z_mode!r}: "
                                 f"known are {CONTROLLER_MODES} and {Z_MODES}")
        if not isinstance(self.action_repeat, int) or self.action_repeat < 1:
            raise ModelFileError(f"action repeat must be a whole number >= 1, got "
                                 f"{self.action_repeat!r}")

    def transform(self) -> ActionTransform | None:
        """The action transform of the recipe's scale and offset (a missing one: 1s or 0s), or
        None when it has neither."""
        if self.action_scale is None and self.action_offset is None:
            return None
        size = len(self.action_scale if self.action_scale is not None else self.action_offset)
        return ActionTransform(self.action_scale or (1.0,) * size,
                               self.action_offset or (0.0,) * size)

    def spec(self, exp: Experiment) -> ControllerSpec:
        """The shape of the recipe's controller for `exp`, with its action transform; refuses a
        transform of another number of actions than `exp` has (ModelFileError)."""
        try:
            return controller_spec(exp, self.controller_mode, self.transform())
        except ValueError as err:
            raise ModelFileError(str(err)) from None


def reference_recipe(exp: Experiment, **modes: object) -> ControllerRecipe:
    """The recipe of a controller played as the reference plays it (z-h controller, sampled z, no
    action repeat; `modes` replace any of these) with the experiment's own files, no digests."""
    return ControllerRecipe(exp.name, vae=exp.vae_path, rnn=exp.rnn_path,
                            initial_z=exp.initial_z_path, **modes)


def describe_recipe(recipe: ControllerRecipe) -> str:
    """One line: how a controller plays."""
    transform = recipe.transform()
    shown = "" if transform is None else (f", actions x {list(transform.scale)} + "
                                          f"{list(transform.offset)}")
    return (f"controller {recipe.controller_mode}, z {recipe.z_mode}, action repeat "
            f"{recipe.action_repeat}{shown}, V {recipe.vae}, M {recipe.rnn}")


def make_recipe(exp: Experiment, controller_mode: str = "zh", z_mode: str = "sample",
                action_repeat: int = 1, vae: str | os.PathLike | None = None,
                rnn: str | os.PathLike | None = None,
                initial_z: str | os.PathLike | None = None,
                action_scale: tuple[float, ...] | None = None,
                action_offset: tuple[float, ...] | None = None) -> ControllerRecipe:
    """The recipe of a controller trained on `exp` with these modes, action transform and files
    (None: the experiment's own files); file names are stored relative to the experiment's
    folder, with their digests."""
    folder = experiment_folder(exp)
    files = {"vae": vae or exp.vae_path, "rnn": rnn or exp.rnn_path,
             "initial_z": initial_z or exp.initial_z_path}
    fields: dict[str, object] = {}
    for key, name in files.items():
        path = Path(name) if Path(name).is_absolute() else folder / name
        fields[key] = os.path.relpath(path.resolve(), folder.resolve())
        fields[f"{key}_sha256"] = file_digest(path) if path.is_file() else None
    recipe = ControllerRecipe(exp.name, controller_mode, z_mode, action_repeat, **fields,
                              action_scale=action_scale, action_offset=action_offset)
    recipe.spec(exp)  # refuses a transform of another number of actions
    return recipe


def run_file(controller_path: str | os.PathLike, suffix: str) -> Path:
    """``NAME{suffix}`` beside the controller file ``NAME.best.json`` or ``NAME.json``."""
    path = Path(controller_path)
    return path.with_name(path.name.removesuffix(".json").removesuffix(".best") + suffix)


def recipe_path(controller_path: str | os.PathLike) -> Path:
    """``NAME.recipe.json`` for the controller file ``NAME.best.json`` or ``NAME.json``."""
    return run_file(controller_path, ".recipe.json")


def recipe_json(recipe: ControllerRecipe) -> str:
    """The text of a ``.recipe.json`` file (without an action scale or offset that is unset)."""
    fields = {k: v for k, v in dataclasses.asdict(recipe).items()
              if v is not None or k not in ("action_scale", "action_offset")}
    return json.dumps({"version": RECIPE_VERSION, **fields}, indent=1) + "\n"


def write_recipe(path: str | os.PathLike, recipe: ControllerRecipe) -> None:
    """Write `recipe` as JSON to `path`, atomically."""
    atomic_write_text(path, recipe_json(recipe))


def read_recipe(exp: Experiment, controller_path: str | os.PathLike) -> ControllerRecipe:
    """The recipe of the controller file `controller_path` (its ``.recipe.json``); for a
    controller whose run wrote none, the one its ``.settings.json`` implies; with neither, the
    reference's (z-h controller, sampled z, no action repeat, the experiment's own files).
    Refuses an unreadable or unfit recipe, or one of another experiment, with one line
    (ModelFileError)."""
    path = recipe_path(controller_path)
    if not path.is_file():
        return _recipe_from_settings(exp, controller_path)
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or data.pop("version", None) != RECIPE_VERSION:
            raise ValueError(f"not a version-{RECIPE_VERSION} recipe")
        recipe = ControllerRecipe(**data)
        wrong = [f.name for f in dataclasses.fields(recipe)
                 if f.name in ("experiment", "vae", "rnn", "initial_z")
                 and not isinstance(getattr(recipe, f.name), str)]
        if wrong:
            raise ValueError(f"{', '.join(wrong)} must be file names")
    except (OSError, ValueError, TypeError) as err:
        raise ModelFileError(f"{path}: unreadable controller recipe ({err})") from None
    except ModelFileError as err:
        raise ModelFileError(f"{path}: {err}") from None
    if recipe.experiment != exp.name:
        raise ModelFileError(f"{path}: a {recipe.experiment} controller, not {exp.name}")
    return recipe


def _recipe_from_settings(exp: Experiment, controller_path: str | os.PathLike) -> ControllerRecipe:
    """The recipe implied by the train.py settings file of a run that wrote no recipe (or the
    reference's): its modes, and the experiment's own files with no digests (which V and M such
    a run used was not recorded in a form to trust)."""
    settings = run_file(controller_path, ".settings.json")
    data: dict = {}
    if settings.is_file():
        try:
            data = json.loads(settings.read_text())
        except (OSError, ValueError) as err:
            raise ModelFileError(f"{settings}: unreadable training settings ({err}); fix or delete "
                                 "it, or pass --controller-mode and --z") from None
        if not isinstance(data, dict):
            raise ModelFileError(f"{settings}: training settings must be a JSON object")
    try:
        return reference_recipe(exp, controller_mode=data.get("controller_mode", "zh"),
                                z_mode=data.get("z_mode", "sample"),
                                action_repeat=data.get("action_repeat", 1))
    except ModelFileError as err:
        raise ModelFileError(f"{settings}: {err}") from None


@dataclass(frozen=True)
class TrainedController:
    """A controller file loaded with its recipe: what model.py, extract and the demo play."""

    path: str  # the controller file
    recipe: ControllerRecipe
    spec: ControllerSpec
    params: np.ndarray  # (spec.num_params,) float64
    folder: Path  # the experiment folder the recipe's file names are relative to

    def model_path(self, which: str) -> Path:
        """The recipe's file of `which` ("vae", "rnn" or "initial_z") as a path on this machine."""
        return self.folder / getattr(self.recipe, which)

    def controller(self) -> Controller:
        """The controller as a population of one."""
        return Controller(self.spec, self.params)

    def load_models(self) -> tuple[VAE, MDNRNN]:
        """V and M from the recipe's files."""
        exp = get_experiment(self.recipe.experiment)
        return load_vae(exp, self.model_path("vae")), load_rnn(exp, self.model_path("rnn"))

    def warn_about_other_models(self) -> None:
        """One line on stderr for each of V and M that is not the file the controller was trained
        with (another digest than its recipe's)."""
        for which in ("vae", "rnn"):
            trained = getattr(self.recipe, f"{which}_sha256")
            path = self.model_path(which)
            if trained and path.is_file() and file_digest(path) != trained:
                print(f"warning: {path} is not the {which} file {self.path} was trained with "
                      "(another digest); its scores may not be the trained ones",
                      file=sys.stderr, flush=True)


def load_trained_controller(exp: Experiment, path: str | os.PathLike,
                            **overrides: object) -> TrainedController:
    """The controller file `path` with its recipe (:func:`read_recipe`); `overrides` replace
    recipe fields whose value is not None (model.py's --controller-mode, --z, --action-repeat,
    --vae, --rnn, --initial-z; a file given so is taken as named, with no digest to compare).
    Warns (:meth:`TrainedController.warn_about_other_models`) when the recipe's V or M file is
    not the one it names."""
    recipe = read_recipe(exp, path)
    given = {k: v for k, v in overrides.items() if v is not None}
    for which in ("vae", "rnn", "initial_z"):
        if which in given:
            given[which] = os.path.abspath(str(given[which]))
            given[f"{which}_sha256"] = None
    try:
        recipe = dataclasses.replace(recipe, **given)
    except ModelFileError as err:
        raise ModelFileError(f"{path}: {err}") from None
    try:
        spec = recipe.spec(exp)
    except ModelFileError as err:
        raise ModelFileError(f"{path}: {err}") from None
    params = load_controller_params(path, spec.num_params)
    trained = TrainedController(str(path), recipe, spec, params, experiment_folder(exp))
    trained.warn_about_other_models()
    return trained


def _numbers(text: str) -> tuple[float, ...]:
    """argparse type: comma-separated finite numbers."""
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") \
            from None
    if not all(np.isfinite(values)):
        raise argparse.ArgumentTypeError(f"expected finite numbers, got {text!r}")
    return values


RECIPE_FLAGS = ("controller_mode", "z_mode", "action_repeat", "action_scale", "action_offset",
                "vae", "rnn", "initial_z")  # the recipe fields add_recipe_arguments declares


def recipe_overrides(args: argparse.Namespace) -> dict[str, object]:
    """The recipe flags of a parsed command line (:func:`add_recipe_arguments`), as the
    `overrides` of :func:`load_trained_controller` (None: the controller's recipe decides)."""
    return {name: getattr(args, name) for name in RECIPE_FLAGS}


def add_recipe_arguments(parser: argparse.ArgumentParser, training: bool) -> None:
    """The flags that say how a controller plays, declared once for train.py (`training`: their
    values become the recipe written beside the controllers) and for model.py and the tools that
    play one (each left unset takes the controller's recipe): --controller-mode, --z,
    --action-repeat, --action-scale, --action-offset, --vae, --rnn, --initial-z."""
    from estool.argtypes import positive_int

    def default(value: object, what: str) -> dict:
        shown = value if training else "as the controller was trained (its recipe)"
        return {"default": value if training else None, "help": f"{what} (default: {shown})"}

    parser.add_argument("--controller-mode", choices=CONTROLLER_MODES,
                        **default("zh", "controller: tanh(W[z,h]+b) (zh, the paper's), z only, "
                                  "or z with a hidden layer"))
    parser.add_argument("--z", choices=Z_MODES, dest="z_mode",
                        **default("sample", "real game: C and M see z sampled from V (the "
                                  "reference) or V's mean"))
    parser.add_argument("--action-repeat", type=positive_int, metavar="K",
                        **default(1, "real game: C decides every K environment steps; the steps "
                                  "in between repeat its action without drawing a frame (the "
                                  "episode cap still counts environment steps)"))
    parser.add_argument("--action-scale", type=_numbers, metavar="S,S,..",
                        **default(None, "one per action: C's actions a become clip(scale * a + "
                                  "offset, -1, 1) before M and the game see them (carracing "
                                  "[steer, gas, brake] in the paper's mapping gas = (a + 1) / 2: "
                                  "0.6,1,1 is a steering gain of 0.6; none: the raw actions)"))
    parser.add_argument("--action-offset", type=_numbers, metavar="O,O,..",
                        **default(None, "one per action, added after --action-scale (carracing "
                                  "1,0.9,1 with 0,0.1,0 keeps the gas in [0.1, 1])"))
    files = "the experiment's" if training else "the one the controller was trained with"
    parser.add_argument("--vae", default=None, help=f"V weight file (default: {files})")
    parser.add_argument("--rnn", default=None, help=f"M weight file (default: {files})")
    parser.add_argument("--initial-z", default=None,
                        help=f"initial_z for the dream, made with M's V (default: {files})")
