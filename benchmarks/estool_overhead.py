"""The ES trainer's own cost per generation, next to one trivial evaluation.

P = 1088 (the Doom controller), popsize 64, CMA-ES. Part 1 (one process) times each step of the
trainer's generation: ask, tell, checkpoint (pickle + fsync), logs, and one evaluation of a
trivial problem (-mean(theta^2), i.e. almost nothing). Part 2 re-runs this script under
``mpiexec -n 3`` (2 workers) and times the master/worker round trip of one population. Ratios are
printed because the machines are noisy.

    python benchmarks/estool_overhead.py [--generations 20] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from estool import mpi  # noqa: E402
from estool.trainer import Settings, Trainer, save_checkpoint, seed_batch  # noqa: E402

P, POPSIZE, EPISODES = 1088, 64, 16


class Trivial:
    """A problem that costs (almost) nothing: reward -mean(theta^2), 1 step."""

    name = "trivial"
    num_params = P

    def evaluate(self, params: np.ndarray, seeds: np.ndarray, num_episode: int, max_len: int,
                 train_mode: bool) -> tuple[np.ndarray, np.ndarray]:
        """(k, P) -> rewards (k,), steps (k,)."""
        return -np.mean(params**2, axis=1), np.ones(len(params))


def time_single_process(generations: int) -> dict[str, float]:
    """Mean seconds per generation of each trainer step, in one process."""
    problem = Trivial()
    pool = mpi.LocalPool(problem)
    times = {"ask": 0.0, "evaluate (trivial)": 0.0, "tell": 0.0, "checkpoint": 0.0, "logs": 0.0}
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(num_worker=1, num_worker_trial=POPSIZE, log_dir=tmp)
        trainer = Trainer(settings, problem, pool, problem.name)
        state = trainer.start()
        for _ in range(generations):
            t0 = time.perf_counter()
            solutions = state.solver.ask()
            t1 = time.perf_counter()
            seeds = seed_batch(state.seeder, POPSIZE, True)
            rewards, steps = pool.evaluate(solutions, seeds, EPISODES, 0, True)
            t2 = time.perf_counter()
            state.solver.tell(rewards)
            state.generation += 1
            state.history.append([state.generation, 0.0, float(np.mean(rewards)), 0.0, 0.0, 0.0,
                                  state.solver.rms_stdev(), 1.0, 1.0])
            t3 = time.perf_counter()
            save_checkpoint(trainer.checkpoint, state)
            t4 = time.perf_counter()
            trainer.write_logs(state, evaluated=False)
            t5 = time.perf_counter()
            for key, dt in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
                times[key] += dt / generations
        times["checkpoint MB"] = trainer.checkpoint.stat().st_size / 1e6
    return times


def time_mpi_round_trip(repeats: int) -> None:
    """Inside MPI: rank 0 times MPIPool.evaluate of the trivial problem; workers serve."""
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    mpi.prepare_rank(comm, pin=True)
    if comm.Get_rank() != 0:
        mpi.worker_loop(comm, Trivial())
        return
    pool = mpi.MPIPool(comm)
    rng = np.random.default_rng(0)
    params, seeds = rng.standard_normal((POPSIZE, P)), np.arange(POPSIZE)
    pool.evaluate(params, seeds, EPISODES, 0, True)  # warm up
    t0 = time.perf_counter()
    for _ in range(repeats):
        pool.evaluate(params, seeds, EPISODES, 0, True)
    dt = (time.perf_counter() - t0) / repeats
    pool.close()
    print(f"MPI_ROUND_TRIP {dt:.6f} {comm.Get_size() - 1}", flush=True)


def main() -> None:
    """Print the per-generation table and the MPI round trip."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--generations", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--mpi-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mpi_child:
        time_mpi_round_trip(50)
        return
    times = time_single_process(args.generations)
    trivial = times["evaluate (trivial)"]
    own = sum(v for k, v in times.items() if k not in ("evaluate (trivial)", "checkpoint MB"))
    print(f"estool trainer overhead, CMA-ES, P={P}, popsize {POPSIZE}, "
          f"{args.generations} generations, one process")
    for key, value in times.items():
        if key != "checkpoint MB":
            print(f"  {key:<20s} {value * 1e3:9.2f} ms/generation")
    print(f"  checkpoint size      {times['checkpoint MB']:9.1f} MB")
    print(f"  trainer's own time   {own * 1e3:9.2f} ms/generation (ask+tell+checkpoint+logs)")
    mpiexec = mpi.find_mpiexec()
    env = {**os.environ, mpi.CHILD_MARKER: "1"}
    cmd = [mpiexec, "-n", str(args.workers + 1), sys.executable, __file__, "--mpi-child"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("MPI_ROUND_TRIP"))
    round_trip, workers = float(line.split()[1]), int(line.split()[2])
    print(f"  MPI round trip       {round_trip * 1e3:9.2f} ms/generation ({workers} workers, "
          f"64 x {P} float64 out, 64 x 2 back, trivial problem)")
    total = own + round_trip
    print(f"  total own time       {total * 1e3:9.2f} ms/generation")
    print(f"  one trivial evaluation of the population: {trivial * 1e3:.3f} ms; "
          f"own time / trivial evaluation = {total / max(trivial, 1e-9):.0f}x")
    print("  (a real Doom dream generation, 64 x 16 rollouts, takes seconds: compare there)")


if __name__ == "__main__":
    main()
