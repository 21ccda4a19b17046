"""Master/worker distribution of a batched ``evaluate`` over mpi4py, and the pieces around it.

Process layout (as the reference): rank 0 is the master running the solver; ranks ``1..W`` are
workers, each evaluating its contiguous share of the population in one ``problem.evaluate`` call.
Messages are raw numpy buffers (``Send``/``Recv``; no pickling): parameters and rewards travel as
float64, seeds and headers as int64.

Outside MPI, ``-n 1`` runs everything in one process without importing mpi4py (:class:`LocalPool`);
``-n N`` with N > 1 re-executes the same command line as ``mpiexec -n N+1 python ...``
(:func:`relaunch`), passing :data:`CHILD_MARKER` so the children do not relaunch again.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Protocol

import numpy as np

CHILD_MARKER = "ESTOOL_MPI_CHILD"
MPIEXEC_ENV = "ESTOOL_MPIEXEC"
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# Environment variables set by MPI launchers in each rank they start.
RANK_VARS = ("PMI_RANK", "PMI_SIZE", "PMIX_RANK", "OMPI_COMM_WORLD_RANK", "MPI_LOCALRANKID")

CMD_EVAL, CMD_STOP = 1, 2
STATUS_OK, STATUS_FAIL = 0, 1
TAG_CMD, TAG_PARAMS, TAG_SEEDS, TAG_STATUS, TAG_RESULT, TAG_TRACE = 11, 12, 13, 14, 15, 16
HEADER_LEN = 7  # [cmd, n, P, num_episode, max_len, train_mode, offset of the first candidate]


class BatchProblem(Protocol):
    """What a pool needs of a problem (see estool.trainer.Problem)."""

    num_params: int

    def evaluate(self, params: np.ndarray, seeds: np.ndarray, num_episode: int, max_len: int,
                 train_mode: bool) -> tuple[np.ndarray, np.ndarray]: ...


# -- launching ------------------------------------------------------------------------------------
def inside_mpi() -> bool:
    """True when this process was started by mpiexec/mpirun/srun (or by our own relaunch)."""
    return bool(os.environ.get(CHILD_MARKER)) or any(v in os.environ for v in RANK_VARS)


def find_mpiexec(override: str = "") -> str:
    """The mpiexec to use: ``override``, $ESTOOL_MPIEXEC, the one next to python, or on PATH."""
    for candidate in (override, os.environ.get(MPIEXEC_ENV, "")):
        if candidate:
            return candidate
    beside = Path(sys.executable).parent / "mpiexec"
    if beside.exists():
        return str(beside)
    found = shutil.which("mpiexec") or shutil.which("mpirun")
    if not found:
        raise SystemExit("estool: -n > 1 needs mpiexec (pip install mpich, or load your MPI module)")
    return found


def available_cpus() -> list[int]:
    """CPU ids this process may run on."""
    return sorted(os.sched_getaffinity(0))


def threads_per_worker(num_worker: int) -> int:
    """BLAS/OpenMP threads for each of ``num_worker`` workers sharing this machine's cores."""
    return max(1, len(available_cpus()) // max(1, num_worker))


def relaunch(num_worker: int, mpiexec: str = "", threads: int = 0) -> None:
    """Replace this process by ``mpiexec -n num_worker+1 python <sys.argv>``.

    Never returns. Children inherit the environment plus the thread limits (``threads`` BLAS /
    OpenMP threads each; 0: :func:`threads_per_worker`) and the marker. ``sys.argv`` (not the
    original command line) is used so a caller that changed directory can make its script path
    absolute first; ``python -m pkg`` works because sys.argv[0] is then the module's absolute file
    name.
    """
    cmd = [find_mpiexec(mpiexec), "-n", str(num_worker + 1), sys.executable, *sys.argv]
    env = dict(os.environ)
    env[CHILD_MARKER] = "1"
    threads = str(threads if threads > 0 else threads_per_worker(num_worker))
    env.update({name: threads for name in THREAD_VARS})
    print("estool: relaunching under MPI: " + " ".join(cmd), flush=True)
    os.execvpe(cmd[0], cmd, env)


def limit_blas_threads(threads: int) -> None:
    """Set this process's BLAS thread pool to ``threads`` threads (for the rest of its life)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads, user_api="blas")


def blas_info() -> dict[str, Any]:
    """This process's numpy version and BLAS: library and version, kernel, threads.

    The kernel is the CPU architecture OpenBLAS chose (``OPENBLAS_CORETYPE`` overrides it). A
    chaotic problem such as a dream rollout gives the same floats, hence the same ES run, only
    with the same kernel, the same threads per process and the same split of the population
    over workers (docs/reproducibility.md).
    """
    from threadpoolctl import threadpool_info

    info: dict[str, Any] = {"numpy": np.__version__}
    pools = [pool for pool in threadpool_info() if pool.get("user_api") == "blas"]
    if pools:
        pool = pools[0]
        info.update(blas=f"{pool.get('internal_api')} {pool.get('version')}",
                    kernel=pool.get("architecture"), threads=pool.get("num_threads"))
    return info


def summarize_blas(infos: list[dict[str, Any]]) -> dict[str, Any]:
    """One description of the BLAS of ``infos`` (one per process): the common one with the
    process count, or each process's when they differ."""
    if all(info == infos[0] for info in infos):
        return {**infos[0], "processes": len(infos)}
    return {"processes": infos}


def describe_blas(summary: dict[str, Any]) -> str:
    """One readable line for a :func:`summarize_blas` result."""
    if isinstance(summary["processes"], list):
        return "BLAS differs between processes: " + json.dumps(summary["processes"])
    if "blas" not in summary:
        return f"BLAS not identified (numpy {summary['numpy']})"
    return (f"BLAS {summary['blas']}, kernel {summary['kernel']}, {summary['threads']} "
            f"thread(s) in each of {summary['processes']} process(es) (numpy {summary['numpy']})")


def gather_json(comm: Any, obj: Any) -> list[Any] | None:
    """Collective: every rank's JSON-serialisable ``obj``, as a list on rank 0 (None elsewhere).

    Travels as raw bytes (no pickling), like every other message here.
    """
    data = np.frombuffer(json.dumps(obj).encode(), dtype=np.uint8)
    root = comm.Get_rank() == 0
    sizes = np.zeros(comm.Get_size(), dtype=np.int64) if root else None
    comm.Gather(np.array([len(data)], dtype=np.int64), sizes, root=0)
    if not root:
        comm.Gatherv(data, None, root=0)
        return None
    buf = np.empty(int(sizes.sum()), dtype=np.uint8)
    comm.Gatherv(data, (buf, sizes.tolist()), root=0)
    ends = np.cumsum(sizes)
    return [json.loads(buf[end - size:end].tobytes()) for size, end in zip(sizes, ends, strict=True)]


def die_with_parent() -> None:
    """Linux: have the kernel SIGKILL this rank when its launcher process dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def pin_cpus(index: int, count: int) -> list[int]:
    """Pin this process to its share of the CPUs: worker ``index`` of ``count`` on this node.

    Does nothing (returns []) when the launcher already restricted our CPUs (e.g. srun binding).
    With more workers than CPUs, workers go round robin one CPU each. Returns the CPUs used.
    """
    cpus = available_cpus()
    if len(cpus) < (os.cpu_count() or len(cpus)) or count < 1:
        return []
    if count <= len(cpus):
        share = len(cpus) // count
        chosen = cpus[index * share:(index + 1) * share]
    else:
        chosen = [cpus[index % len(cpus)]]
    os.sched_setaffinity(0, chosen)
    return chosen


def prepare_rank(comm: Any, pin: bool) -> None:
    """Per-rank setup before heavy work: die with the launcher, pin workers to their CPUs."""
    from mpi4py import MPI

    die_with_parent()
    rank = comm.Get_rank()
    local = comm.Split_type(MPI.COMM_TYPE_SHARED, key=rank)
    ranks = np.empty(local.Get_size(), dtype=np.int64)
    local.Allgather(np.array([rank], dtype=np.int64), ranks)
    local.Free()
    workers = [int(r) for r in ranks if r != 0]
    if pin and rank != 0:
        pin_cpus(workers.index(rank), len(workers))


# -- result checking ------------------------------------------------------------------------------
def check_results(rewards: Any, steps: Any, n: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate a problem's output: (n,) float arrays and finite rewards.

    Raises ValueError naming the population index (``offset + i``) of a non-finite reward.
    """
    rewards = np.asarray(rewards, dtype=np.float64).reshape(-1)
    steps = np.asarray(steps, dtype=np.float64).reshape(-1)
    if rewards.shape != (n,) or steps.shape != (n,):
        raise ValueError(f"evaluate returned {rewards.shape[0]} rewards and {steps.shape[0]} "
                         f"steps for {n} candidates")
    bad = np.flatnonzero(~np.isfinite(rewards))
    if len(bad):
        i = int(bad[0])
        raise ValueError(f"non-finite reward {rewards[i]} for candidate {offset + i} "
                         f"({len(bad)} non-finite in this batch)")
    return rewards, steps


# -- pools ----------------------------------------------------------------------------------------
class LocalPool:
    """Evaluates the whole population in this process, in one ``evaluate`` call."""

    def __init__(self, problem: BatchProblem) -> None:
        self.problem = problem

    def evaluate(self, params: np.ndarray, seeds: np.ndarray, num_episode: int, max_len: int,
                 train_mode: bool) -> tuple[np.ndarray, np.ndarray]:
        """(rewards (n,), steps (n,)) for params (n, P) and seeds (n,)."""
        rewards, steps = self.problem.evaluate(params, seeds, num_episode, max_len, train_mode)
        return check_results(rewards, steps, len(params), 0)

    def close(self) -> None:
        """Nothing to release."""


def _wait_probe(comm: Any, source: int, tag: int, status: Any) -> None:
    """Block until a message matches, sleeping between polls so waiting ranks use no CPU."""
    delay = 1e-5
    while not comm.Iprobe(source=source, tag=tag, status=status):
        time.sleep(delay)
        delay = min(delay * 2.0, 2e-3)


def abort(comm: Any, message: str) -> None:
    """Print ``message`` to stderr and end the whole MPI job with exit code 1."""
    print(message, file=sys.stderr, flush=True)
    sys.stdout.flush()
    time.sleep(0.5)  # the launcher forwards our stderr asynchronously; Abort would cut it off
    comm.Abort(1)
    os._exit(1)  # Abort may return before the launcher kills us; never continue


class MPIPool:
    """Master side: splits the population over ranks 1..W and gathers rewards."""

    def __init__(self, comm: Any) -> None:
        self.comm = comm
        self.num_worker = comm.Get_size() - 1

    def evaluate(self, params: np.ndarray, seeds: np.ndarray, num_episode: int, max_len: int,
                 train_mode: bool) -> tuple[np.ndarray, np.ndarray]:
        """(rewards (n,), steps (n,)) for params (n, P) and seeds (n,), computed by the workers.

        A failing worker's traceback is printed and the job aborted (exit code 1).
        """
        from mpi4py import MPI

        params = np.ascontiguousarray(params, dtype=np.float64)
        seeds = np.ascontiguousarray(seeds, dtype=np.int64)
        n, num_params = params.shape
        chunks = np.array_split(np.arange(n), self.num_worker)
        requests, pending = [], {}
        for worker, idx in enumerate(chunks, start=1):
            if len(idx) == 0:
                continue
            lo, hi = int(idx[0]), int(idx[-1]) + 1
            header = np.array([CMD_EVAL, hi - lo, num_params, num_episode, max_len,
                               int(train_mode), lo], dtype=np.int64)
            requests += [self.comm.Isend(header, dest=worker, tag=TAG_CMD),
                         self.comm.Isend(params[lo:hi], dest=worker, tag=TAG_PARAMS),
                         self.comm.Isend(seeds[lo:hi], dest=worker, tag=TAG_SEEDS)]
            pending[worker] = (lo, hi)
        out = np.empty((n, 2), dtype=np.float64)
        status = MPI.Status()
        while pending:
            _wait_probe(self.comm, MPI.ANY_SOURCE, TAG_STATUS, status)
            worker = status.Get_source()
            reply = np.empty(2, dtype=np.int64)
            self.comm.Recv(reply, source=worker, tag=TAG_STATUS)
            if reply[0] != STATUS_OK:
                trace = np.empty(int(reply[1]), dtype=np.uint8)
                self.comm.Recv(trace, source=worker, tag=TAG_TRACE)
                abort(self.comm, f"worker {worker} failed:\n{trace.tobytes().decode(errors='replace')}")
            lo, hi = pending.pop(worker)
            self.comm.Recv(out[lo:hi], source=worker, tag=TAG_RESULT)
        MPI.Request.Waitall(requests)
        return out[:, 0].copy(), out[:, 1].copy()

    def close(self) -> None:
        """Tell every worker to return from :func:`worker_loop`."""
        stop = np.zeros(HEADER_LEN, dtype=np.int64)
        stop[0] = CMD_STOP
        for worker in range(1, self.num_worker + 1):
            self.comm.Send(stop, dest=worker, tag=TAG_CMD)


def send_failure(comm: Any, text: str) -> None:
    """Worker side: send a traceback ``text`` to the master."""
    data = np.frombuffer(text.encode(), dtype=np.uint8)
    comm.Send(np.array([STATUS_FAIL, len(data)], dtype=np.int64), dest=0, tag=TAG_STATUS)
    comm.Send(data, dest=0, tag=TAG_TRACE)


def _serve_one(comm: Any, problem: BatchProblem, header: np.ndarray) -> None:
    """Receive one batch described by ``header``, evaluate it, send rewards and steps back."""
    _, n, num_params, num_episode, max_len, train_mode, offset = (int(v) for v in header)
    params = np.empty((n, num_params), dtype=np.float64)
    seeds = np.empty(n, dtype=np.int64)
    comm.Recv(params, source=0, tag=TAG_PARAMS)
    comm.Recv(seeds, source=0, tag=TAG_SEEDS)
    rewards, steps = problem.evaluate(params, seeds, num_episode, max_len, bool(train_mode))
    rewards, steps = check_results(rewards, steps, n, offset)
    comm.Send(np.array([STATUS_OK, n], dtype=np.int64), dest=0, tag=TAG_STATUS)
    comm.Send(np.ascontiguousarray(np.stack([rewards, steps], axis=1)), dest=0, tag=TAG_RESULT)


def wait_command(comm: Any) -> np.ndarray:
    """Worker side: the next command header from the master (HEADER_LEN,) int64."""
    from mpi4py import MPI

    _wait_probe(comm, 0, TAG_CMD, MPI.Status())
    header = np.empty(HEADER_LEN, dtype=np.int64)
    comm.Recv(header, source=0, tag=TAG_CMD)
    return header


def worker_loop(comm: Any, problem: BatchProblem) -> int:
    """Serve evaluation commands until told to stop. Returns 0, or 1 after reporting a failure.

    Any exception in ``evaluate`` (a non-finite reward included) is sent to the master with its
    traceback; the master then aborts the job.
    """
    while True:
        header = wait_command(comm)
        if header[0] == CMD_STOP:
            return 0
        try:
            _serve_one(comm, problem, header)
        except BaseException:  # noqa: BLE001 - everything must reach the master
            send_failure(comm, traceback.format_exc())
            return wait_for_stop(comm)


def wait_for_stop(comm: Any) -> int:
    """After a failure: wait until the master aborts the job or says stop; returns 1."""
    while wait_command(comm)[0] != CMD_STOP:
        pass
    return 1
