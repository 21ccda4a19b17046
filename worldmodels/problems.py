"""The problems estool's trainer optimizes: the fitness of controller parameters.

Both evaluate a worker's whole share of the population in one call:

- :class:`DreamProblem`: all candidates x episodes as one :class:`~worldmodels.dream.DreamBatch`.
- :class:`RealProblem`: the real game, `envs` environments stepped in lockstep with one batched
  V/M/C call per step.

Episode j of candidate i uses the seed (seeds[i], j).
"""

from __future__ import annotations

import numpy as np

from worldmodels.agent import Agent, run_episodes
from worldmodels.controller import Controller
from worldmodels.dream import DreamBatch
from worldmodels.experiments import Experiment
from worldmodels.loading import ControllerRecipe, recipe_json, reference_recipe
from worldmodels.mdnrnn import MDNRNN
from worldmodels.seeds import episode_seed
from worldmodels.vae import VAE


class _Recipe:
    """What both problems share: the recipe of the controllers they train (their mode, and for
    the real game the z mode and action repeat), written by the trainer beside its logs."""

    def __init__(self, exp: Experiment, recipe: ControllerRecipe):
        self.exp, self.recipe = exp, recipe
        self.spec = recipe.spec(exp)
        self.num_params = self.spec.num_params
        self.name = exp.name

    def run_files(self) -> dict[str, str]:
        """{".recipe.json": the recipe as JSON}."""
        return {".recipe.json": recipe_json(self.recipe)}


class DreamProblem(_Recipe):
    """Fitness of controllers = mean dream reward over `num_episode` rollouts each; `recipe` says
    how the controllers it trains must be played (the reference's by default)."""

    def __init__(self, exp: Experiment, dream: DreamBatch, recipe: ControllerRecipe | None = None):
        super().__init__(exp, recipe or reference_recipe(exp))
        self.dream = dream

    def evaluate(self, params: np.ndarray, seeds: np.ndarray, num_episode: int, max_len: int,
                 train_mode: bool) -> tuple[np.ndarray, np.ndarray]:
        """params (k, P), seeds (k,) -> (mean reward (k,), mean steps (k,)) over num_episode."""
        k = len(params)
        candidate = np.repeat(np.arange(k), num_episode)
        rollout_seeds = [[int(seeds[i]), j] for i in range(k) for j in range(num_episode)]
        rewards, steps = self.dream.rollout(Controller(self.spec, params), candidate,
                                            rollout_seeds, max_len if max_len > 0 else None)
        return rewards.reshape(k, -1).mean(1), steps.reshape(k, -1).mean(1)


class RealProblem(_Recipe):
    """Fitness of controllers = mean real-game reward over `num_episode` episodes each, played
    `envs` at a time in lockstep, as `recipe` says (controller mode, z mode as in Agent, and C
    acting every `recipe.action_repeat` environment steps; the reference's by default). In
    training (not in evaluations) an episode may end after `stop_after_negative` consecutive
    steps of negative reward, or after `stop_off_road` steps with every wheel off the road (0:
    never)."""

    def __init__(self, exp: Experiment, vae: VAE, rnn: MDNRNN,
                 recipe: ControllerRecipe | None = None, envs: int = 8, seed: int = 0,
                 stop_after_negative: int = 0, stop_off_road: int = 0):
        from worldmodels.envs import make_env

        super().__init__(exp, recipe or reference_recipe(exp))
        self.vae, self.rnn = vae, rnn
        self.stop_after_negative, self.stop_off_road = stop_after_negative, stop_off_road
        self.rng = np.random.default_rng(seed)
        self.envs = [make_env(exp, action_repeat=self.recipe.action_repeat) for _ in range(envs)]

    def evaluate(self, params: np.ndarray, seeds: np.ndarray, num_episode: int, max_len: int,
                 train_mode: bool) -> tuple[np.ndarray, np.ndarray]:
        """params (k, P), seeds (k,) -> (mean reward (k,), mean steps (k,)) over num_episode."""
        k = len(params)
        agent = Agent(self.exp, self.vae, self.rnn, Controller(self.spec, params), self.rng,
                      self.recipe.z_mode)
        candidate = np.repeat(np.arange(k), num_episode)
        env_seeds = [episode_seed(int(seeds[i]), j) for i in range(k) for j in range(num_episode)]
        rewards, steps = np.zeros(len(candidate)), np.zeros(len(candidate))
        for start in range(0, len(candidate), len(self.envs)):
            part = slice(start, start + len(self.envs))
            n = len(candidate[part])
            rewards[part], steps[part] = run_episodes(
                self.exp, agent, self.envs[:n], env_seeds[part], candidate[part],
                max_len if max_len > 0 else None,
                self.stop_after_negative if train_mode else 0,
                self.stop_off_road if train_mode else 0)
        return rewards.reshape(k, -1).mean(1), steps.reshape(k, -1).mean(1)
