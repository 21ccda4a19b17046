"""The experiment registry: every number that differs between carracing and doomrnn lives here.

An :class:`Experiment` describes the models (V, M, C) of one experiment; a :class:`Preset` scales the
pipeline (data volume, epochs, generations). Code elsewhere never branches on the experiment's name:
it reads these fields.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

EXPERIMENT_NAMES = ("carracing", "doomrnn")
PRESET_NAMES = ("paper", "small", "smoke")
CONTROLLER_MODES = ("zh", "z", "z_hidden")
Z_MODES = ("sample", "mean")  # what C and M see of V: a sampled z (the reference) or V's mean


@dataclass(frozen=True)
class Preset:
    """Scale of one pipeline run. `paper` is the reference's scale; `small` fits one 2-core machine
    in about three hours; `smoke` runs the whole pipeline in a couple of minutes for the tests."""

    name: str  # "paper", "small" or "smoke"
    extract_episodes: int  # episodes recorded in total, over all extraction workers
    vae_epochs: int  # passes of V over its training frames
    vae_batch_size: int  # frames per V optimiser step
    rnn_steps: int  # optimiser steps for M
    rnn_batch_size: int  # sequences per M optimiser step
    rnn_seq_len: int  # input time steps per training sequence of M
    population: int  # controllers the evolution strategy scores per generation
    num_episode: int  # episodes per controller per generation; its fitness is their mean
    generations: int  # generations of the evolution strategy
    eval_steps: int  # generations between evaluations of the strategy's mean controller
    max_frames: int | None = None  # episode cap in steps for extraction and C (None: the experiment's)
    vae_episodes: int = 10000  # V trains on the first N episode files by name (the reference: 10k)


# The reference's scale and the tests' scale; an experiment's presets replace what differs.
_PAPER = Preset(name="paper", extract_episodes=12800, vae_epochs=10, vae_batch_size=100,
                rnn_steps=4000, rnn_batch_size=100, rnn_seq_len=999,
                population=64, num_episode=16, generations=1800, eval_steps=25)
_SMOKE = Preset(name="smoke", extract_episodes=2, vae_epochs=1, vae_batch_size=10,
                rnn_steps=2, rnn_batch_size=2, rnn_seq_len=49,
                population=4, num_episode=1, generations=2, eval_steps=1)


@dataclass(frozen=True)
class Published:
    """The published figures an experiment's agent is compared with (100 real episodes, mean and
    standard deviation): the paper's full agent, its random policy, the reference code's agent."""

    agent: tuple[float, float]
    random: tuple[float, float] | None = None
    reference_code: tuple[float, float] | None = None
    environment: str = ""  # the environment the paper measured on, when it is not ours

    @property
    def means(self) -> dict[str, float]:
        """{"paper": mean, "reference code": mean}, as score figures mark them."""
        marks = {"paper": self.agent[0]}
        if self.reference_code:
            marks["reference code"] = self.reference_code[0]
        return marks

    def line(self) -> str:
        """The figures as printed beside ours, e.g. "paper: agent 1092 +/- 556, random 210 +/- 108;
        reference code: agent 973 +/- 540"."""
        where = f" ({self.environment})" if self.environment else ""
        text = f"paper{where}: agent {self.agent[0]:.0f} +/- {self.agent[1]:.0f}"
        if self.random:
            text += f", random {self.random[0]:.0f} +/- {self.random[1]:.0f}"
        if self.reference_code:
            text += (f"; reference code: agent {self.reference_code[0]:.0f} +/- "
                     f"{self.reference_code[1]:.0f}")
        return text


@dataclass(frozen=True)
class Experiment:
    """Everything that defines one experiment's models and environment.

    Sizes: frames are `frame_size` x `frame_size` x 3 uint8; V maps a frame to `z_size` floats;
    M's input is z + action (+ restart flag when `use_restart`), its LSTM has `rnn_size` units and
    its head a `num_mixture`-component 1-D Gaussian mixture per z dimension (+ a done logit when
    `predict_done`). The controller sees [z, h] or [z, c, h] (`controller_uses_cell`).
    """

    name: str
    env_id: str
    z_size: int
    action_size: int  # continuous actions the controller emits and M receives
    rnn_size: int
    num_mixture: int
    use_restart: bool  # M's input carries the restart (episode start) flag
    predict_done: bool  # M's head has a done logit
    controller_uses_cell: bool  # controller input includes the LSTM cell state c
    controller_bias: bool
    max_frames: int  # episode cap in environment steps
    temperature: float  # dream sampling temperature tau
    kl_tolerance: float = 0.5
    vae_learning_rate: float = 1e-4
    rnn_learning_rate: float = 1e-3
    rnn_min_learning_rate: float = 1e-3  # equal to rnn_learning_rate: no decay
    rnn_decay_rate: float = 1.0
    rnn_grad_clip: float = 1.0
    done_weight: float = 10.0  # weight of done frames in the done cross-entropy
    predict_reward: bool = False  # M's head also predicts the step's reward (for dream training)
    frame_size: int = 64
    controller_hidden: int = 40  # hidden units of the `z_hidden` controller variant
    extract_policy: str = "held_uniform"  # see worldmodels.stages.extract.POLICIES
    min_episode_frames: int = 0  # extraction keeps only episodes longer than this
    rnn_sequences: str = "episodes"  # "episodes": random whole-episode windows, zero state;
    # "stream": episodes concatenated, state carried across windows and reset at restart
    env_kwargs: dict = field(default_factory=dict, compare=False)  # passed to the real env
    real_env_name: str = "real"  # model.py's name for the real game ...
    dream_env_name: str = "dream"  # ... and for the dream
    train_in_dream: bool = False  # C is evolved inside M's dream (else in the real environment)
    es_seed_start: int = 0  # the reference's seed_start for train.py
    score_unit: str = "score"  # what a real episode's total reward measures
    driving_report: bool = False  # model.py --report can sum up its episodes (worldmodels.driving)
    published: Published | None = field(default=None, compare=False)  # the paper's figures
    # Where the pipeline reads and writes, relative to the experiment's folder.
    record_dir: str = "record"
    series_dir: str = "series"
    vae_path: str = "vae/vae.npz"
    rnn_path: str = "rnn/rnn.npz"
    initial_z_path: str = "initial_z/initial_z.npz"
    presets: dict[str, Preset] = field(default_factory=dict, compare=False)

    @property
    def rnn_input_size(self) -> int:
        """Width of M's input vector: z, action and (optionally) the restart flag."""
        return self.z_size + self.action_size + int(self.use_restart)

    @property
    def rnn_output_size(self) -> int:
        """Width of M's head: 3 * num_mixture per z dimension, then the optional done logit, then
        the optional reward."""
        return self.z_size * self.num_mixture * 3 + int(self.predict_done) + int(self.predict_reward)

    def preset(self, name: str) -> Preset:
        """The preset called `name`; raises ValueError naming the known presets otherwise."""
        if name not in self.presets:
            raise ValueError(f"unknown preset {name!r} for {self.name}; known: {', '.join(self.presets)}")
        return self.presets[name]

    def with_overrides(self, **changes: object) -> Experiment:
        """A copy with some fields replaced (used by command-line flags)."""
        return dataclasses.replace(self, **changes)


CARRACING = Experiment(
    name="carracing", env_id="CarRacing-v3", real_env_name="carracing", dream_env_name="carracingrnn",
    max_frames=1000, score_unit="score", driving_report=True,
    published=Published(agent=(906.0, 21.0), environment="gym's CarRacing-v0"),
    extract_policy="cauchy_controller",
    z_size=32,  # V
    rnn_size=256, num_mixture=5, use_restart=False, predict_done=False, temperature=1.0,  # M
    action_size=3, controller_uses_cell=False, controller_bias=True,  # C
    presets={
        "paper": _PAPER,
        # Why these sizes: docs/pipeline.md, "The carracing pipeline".
        "small": Preset(name="small", extract_episodes=100, vae_epochs=3, vae_batch_size=100,
                        rnn_steps=400, rnn_batch_size=20, rnn_seq_len=999,
                        population=16, num_episode=4, generations=60, eval_steps=10),
        "smoke": dataclasses.replace(_SMOKE, max_frames=60),
    },
)

DOOMRNN = Experiment(
    name="doomrnn", env_id="VizdoomTakeCover-v1", real_env_name="doomreal", dream_env_name="doomrnn",
    max_frames=2100, score_unit="steps survived",
    published=Published(agent=(1092.0, 556.0), random=(210.0, 108.0), reference_code=(973.0, 540.0)),
    # Skill 4 is VizdoomTakeCover-v1's own setting; there a random policy scores as the paper's
    # random baseline (docs/pipeline.md).
    env_kwargs={"doom_skill": 4},
    extract_policy="held_uniform", min_episode_frames=100,
    z_size=64,  # V
    rnn_size=512, num_mixture=5, use_restart=True, predict_done=True, rnn_sequences="stream",  # M
    rnn_min_learning_rate=1e-5, rnn_decay_rate=0.99999,
    temperature=1.25,  # the reference code and blog; the paper's text says 1.15
    action_size=1, controller_uses_cell=True, controller_bias=False,  # C, evolved in M's dream:
    train_in_dream=True, es_seed_start=111,
    vae_path="tf_models/vae.npz", rnn_path="tf_models/rnn.npz", initial_z_path="tf_models/initial_z.npz",
    presets={
        "paper": dataclasses.replace(_PAPER, rnn_steps=24400, rnn_seq_len=499),
        # Why these sizes: docs/results/doomrnn.md, "Settings beyond the preset, and why".
        "small": Preset(name="small", extract_episodes=2000, vae_epochs=3, vae_batch_size=100,
                        vae_episodes=300, rnn_steps=600, rnn_batch_size=100, rnn_seq_len=100,
                        population=64, num_episode=16, generations=100, eval_steps=25),
        "smoke": _SMOKE,
    },
)

EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in (CARRACING, DOOMRNN)}


def get_experiment(name: str) -> Experiment:
    """The registered experiment called `name` ('carracing' or 'doomrnn').

    Raises ValueError with the known names for anything else.
    """
    try:
        return EXPERIMENTS[name]
    except KeyError:
        raise ValueError(
            f"unknown experiment {name!r}; known: {', '.join(EXPERIMENT_NAMES)}"
        ) from None


def main(argv: list[str] | None = None) -> int:
    """``python -m worldmodels.experiments EXPERIMENT PRESET [FIELD]``, for the bash launchers.

    Prints the preset's FIELD (e.g. ``extract_episodes``, ``population``), or with no FIELD only
    checks that EXPERIMENT and PRESET exist. Values arrive as arguments, never pasted into code.
    An unknown name or field ends in one line on stderr and exit status 2.
    """
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (2, 3):
        print("usage: python -m worldmodels.experiments EXPERIMENT PRESET [FIELD]", file=sys.stderr)
        return 2
    try:
        preset = get_experiment(args[0]).preset(args[1])
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if len(args) == 3:
        fields = [f.name for f in dataclasses.fields(Preset) if f.name != "name"]
        if args[2] not in fields:
            print(f"error: unknown preset field {args[2]!r}; known: {', '.join(fields)}",
                  file=sys.stderr)
            return 2
        print(getattr(preset, args[2]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
