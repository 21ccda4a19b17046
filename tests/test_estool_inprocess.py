"""estool's trainer in this process: settings and defaults, seeds, factories and extra arguments,
retrain, --init, and going on from the compact state. (The real command under mpiexec, SIGKILL
and worker failures: test_estool_trainer.py.)"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from estool import mpi, trainer
from estool.problems import sphere
from estool.trainer import Settings, build_parser, seed_batch


def test_defaults_are_the_reference_ones() -> None:
    args = build_parser(problem_option=True).parse_args([])
    s = Settings.from_namespace(args)
    assert (s.optimizer, s.num_episode, s.eval_steps, s.num_worker, s.num_worker_trial) == \
        ("cma", 16, 25, 64, 1)
    assert (s.antithetic, s.cap_time, s.retrain, s.seed_start, s.sigma_init) == \
        (True, 0, False, 0, 0.1)
    assert s.popsize == 64 and s.log_dir == "log"
    short = Settings.from_namespace(build_parser().parse_args(
        ["-o", "pepg", "-n", "4", "-t", "2", "-s", "7"]))
    assert (short.optimizer, short.popsize, short.seed_start) == ("pepg", 8, 7)
    assert Settings.from_namespace(build_parser(defaults={"seed_start": 111}).parse_args([])) \
        .seed_start == 111


def test_antithetic_seeds_come_in_pairs() -> None:
    seeds = seed_batch(np.random.default_rng(0), 8, True)
    assert np.array_equal(seeds[0::2], seeds[1::2]) and len(set(seeds.tolist())) == 4
    assert len(set(seed_batch(np.random.default_rng(0), 8, False).tolist())) == 8


class SeedRecorder:
    """Sphere that keeps the training seeds it was given."""

    def __init__(self) -> None:
        self.inner, self.seen = sphere(None), []
        self.num_params, self.name = self.inner.num_params, self.inner.name

    def evaluate(self, params, seeds, num_episode, max_len, train_mode):
        if train_mode:
            self.seen.append(np.array(seeds))
        return self.inner.evaluate(params, seeds, num_episode, max_len, train_mode)


def test_common_seeds_give_the_whole_generation_one_seed_and_join_the_checkpoint(tmp_path) -> None:
    for antithetic in (True, False):
        seeds = seed_batch(np.random.default_rng(0), 8, antithetic, common=True)
        assert seeds.shape == (8,) and len(set(seeds.tolist())) == 1
    argv = ["-n", "1", "-t", "8", "--num-episode", "1", "--max-generations", "2",
            "--log-dir", str(tmp_path / "log"), "--common-seeds"]
    recorder = SeedRecorder()
    assert trainer.main(argv, lambda args: recorder) == 0
    assert [len(set(seeds.tolist())) for seeds in recorder.seen] == [1, 1]
    assert recorder.seen[0][0] != recorder.seen[1][0]  # a new draw every generation
    with pytest.raises(SystemExit, match="other settings.*common_seeds"):
        trainer.main([*argv[:7], "3", *argv[8:-1]], lambda args: sphere(None))


def test_differing_blas_is_reported_per_process() -> None:
    a = {"numpy": "2.4.6", "blas": "openblas 0.3.31", "kernel": "Haswell", "threads": 1}
    b = {**a, "kernel": "SkylakeX"}
    assert mpi.summarize_blas([a, a]) == {**a, "processes": 2}
    mixed = mpi.summarize_blas([a, b])
    assert mixed == {"processes": [a, b]}
    assert "differs" in mpi.describe_blas(mixed) and "SkylakeX" in mpi.describe_blas(mixed)


def test_main_in_process_with_factory_and_extra_arguments(tmp_path, capsys) -> None:
    seen = {}

    def add_arguments(parser) -> None:
        parser.add_argument("--my_dim", type=int, default=3)

    def make_problem(args):
        seen["dim"] = args.my_dim
        args.problem_dim = args.my_dim
        return sphere(args)

    argv = ["-o", "openes", "-n", "1", "-t", "4", "--num-episode", "1", "--max-generations", "3",
            "--eval-steps", "3", "--retrain", "--my_dim", "5", "--log-dir",
            str(tmp_path / "log")]
    assert trainer.main(argv, make_problem, game="mygame", add_arguments=add_arguments) == 0
    assert seen["dim"] == 5
    settings = json.loads((tmp_path / "log" / "mygame.openes.1.4.settings.json").read_text())
    assert settings["my_dim"] == 5 and settings["num_params"] == 5
    out = capsys.readouterr().out
    assert "estool settings:" in out and "gen 3  time" in out and "eval gen 3" in out


class WorseningProblem:
    """Sphere in training; every evaluation of the mean scores worse than the previous one."""

    name = "worsening"
    num_params = 4

    def __init__(self) -> None:
        self.evaluations = 0

    def evaluate(self, params, seeds, num_episode, max_len, train_mode):
        if train_mode:
            return -np.sum(params**2, axis=1), np.ones(len(params))
        self.evaluations += 1
        return np.full(len(params), -float(self.evaluations)), np.ones(len(params))


@pytest.mark.parametrize("retrain", [0, 1])
def test_retrain_resets_the_mean_to_the_best(tmp_path, retrain) -> None:
    argv = ["-n", "1", "-t", "4", "--num-episode", "1", "--max-generations", "4",
            "--eval-steps", "2", "--log-dir", str(tmp_path)] + (["--retrain"] if retrain else [])
    assert trainer.main(argv, lambda args: WorseningProblem()) == 0
    best_params, best_reward = json.loads((tmp_path / "worsening.cma.1.4.best.json").read_text())
    log = json.loads((tmp_path / "worsening.cma.1.4.log.json").read_text())
    assert best_reward == -1.0 and [row[1] for row in log] == [-1.0, -2.0]
    assert best_params == log[0][2]
    (mean,) = json.loads((tmp_path / "worsening.cma.1.4.json").read_text())
    assert (mean == [round(v, 4) for v in best_params]) == bool(retrain)


def test_init_starts_the_mean_from_a_solution_file(tmp_path) -> None:
    start = tmp_path / "start.best.json"
    start.write_text(json.dumps([[3.0] * 10, 1.0]))
    argv = ["-n", "1", "-t", "8", "--num-episode", "1", "--max-generations", "1",
            "--log-dir", str(tmp_path / "log"), "--init", str(start)]
    assert trainer.main(argv, lambda args: sphere(None)) == 0
    (mean,) = json.loads((tmp_path / "log" / "sphere.cma.1.8.json").read_text())
    assert np.all(np.abs(np.array(mean) - 3.0) < 0.5)  # sigma 0.1 around 3, not around 0
    start.write_text(json.dumps([[2.0] * 10, 1.0]))  # another file: the checkpoint is refused
    with pytest.raises(SystemExit, match="other settings.*init_sha256"):
        trainer.main([*argv[:7], "2", *argv[8:]], lambda args: sphere(None))
    short = tmp_path / "short.json"
    short.write_text(json.dumps([[1.0] * 3]))
    other = ["-n", "1", "-t", "8", "--log-dir", str(tmp_path / "other"), "--init"]
    with pytest.raises(SystemExit, match=r"--init .*short.json: 3 parameters, the problem has 10$"):
        trainer.main([*other, str(short)], lambda args: sphere(None))
    with pytest.raises(SystemExit, match="--init .*nope.json: no such file"):
        trainer.main([*other, str(tmp_path / "nope.json")], lambda args: sphere(None))
    assert not (tmp_path / "other" / "sphere.cma.16.8.checkpoint.pkl").exists()


def test_a_run_goes_on_from_its_compact_state_without_a_checkpoint(tmp_path, capsys) -> None:
    """What a fresh machine has of a run is what was committed: the json logs and the compact
    state (a few kB). From them the same command goes on with the same mean, step size,
    per-parameter scales, training seeds and logs."""
    argv = ["-n", "1", "-t", "8", "--num-episode", "1", "--eval-steps", "5", "--cma-diagonal",
            "--log-dir", str(tmp_path / "log")]
    base = tmp_path / "log" / "sphere.cma.1.8"

    def train(generations: int) -> int:
        return trainer.main([*argv, "--max-generations", str(generations)],
                            lambda args: sphere(None))

    assert build_parser().parse_args(argv).cma_diagonal
    assert train(12) == 0
    compact = Path(f"{base}.es_state.npz")
    assert compact.stat().st_size < 10_000
    mean_12 = json.loads(Path(f"{base}.json").read_text())[0]
    evals_12 = json.loads(Path(f"{base}.log.json").read_text())
    Path(f"{base}.checkpoint.pkl").unlink()
    assert train(12) == 0  # nothing to do, but the mean is rebuilt from the compact state
    assert json.loads(Path(f"{base}.json").read_text())[0] == mean_12
    Path(f"{base}.checkpoint.pkl").unlink(missing_ok=True)
    capsys.readouterr()
    assert train(20) == 0
    out = capsys.readouterr().out
    assert "going on from the compact state" in out and "after generation 12" in out
    assert "gen 13 " in out and "gen 12 " not in out
    rows = json.loads(Path(f"{base}.hist.json").read_text())
    assert [row[0] for row in rows] == list(range(1, 21))
    with np.load(compact) as data:
        assert json.loads(str(data["meta"]))["generation"] == 20
    evals = json.loads(Path(f"{base}.log.json").read_text())
    assert [row[0] for row in evals] == [5, 10, 15, 20]
    assert evals[:2] == evals_12
    Path(f"{base}.checkpoint.pkl").unlink()
    with pytest.raises(SystemExit, match="es_state.npz was made with other settings.*cma_diagonal"):
        trainer.main([a for a in argv if a != "--cma-diagonal"] + ["--max-generations", "25"],
                     lambda args: sphere(None))


class SlowSphere:
    """Sphere whose every evaluate call takes at least `delay` seconds."""

    def __init__(self, delay: float) -> None:
        self.inner, self.delay = sphere(None), delay
        self.num_params, self.name = self.inner.num_params, self.inner.name

    def evaluate(self, params, seeds, num_episode, max_len, train_mode):
        time.sleep(self.delay)
        return self.inner.evaluate(params, seeds, num_episode, max_len, train_mode)


def test_max_seconds_stops_at_the_first_generation_past_the_budget_and_counts_resumes(tmp_path):
    argv = ["-n", "1", "-t", "8", "--num-episode", "1", "--log-dir", str(tmp_path),
            "--max-seconds", "0.25"]
    assert trainer.main(argv, lambda args: SlowSphere(0.1)) == 0
    hist = json.loads((tmp_path / "sphere.cma.1.8.hist.json").read_text())
    assert hist[-1][1] >= 0.25 and hist[-2][1] < 0.25  # stopped at the first one past
    generations = len(hist)
    assert trainer.main(argv, lambda args: SlowSphere(0.1)) == 0  # the budget is already spent
    assert len(json.loads((tmp_path / "sphere.cma.1.8.hist.json").read_text())) == generations
    argv[-1] = "0.45"  # a larger budget goes on from the checkpoint's time
    assert trainer.main(argv, lambda args: SlowSphere(0.1)) == 0
    hist = json.loads((tmp_path / "sphere.cma.1.8.hist.json").read_text())
    assert generations < len(hist) <= generations + 3 and hist[-2][1] < 0.45 <= hist[-1][1]


def test_max_seconds_must_be_a_finite_amount(tmp_path, capsys) -> None:
    for bad in ("-1", "inf", "nan", "soon"):
        with pytest.raises(SystemExit):
            trainer.main(["--max-seconds", bad, "--log-dir", str(tmp_path)],
                         lambda args: sphere(None))
        assert "--max-seconds" in capsys.readouterr().err
