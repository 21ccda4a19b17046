"""estool: evolution strategies (CMA-ES, OpenES, PEPG, GA) and a resumable MPI trainer.

Importing the package inside an MPI rank that was started directly by ``mpiexec`` or ``srun``
limits OpenMP/BLAS threads to this rank's share of the node's cores (unless already set), before
numpy is imported by estool. ``-n N`` relaunches set the same variables explicitly.
"""

from __future__ import annotations

import os

__all__ = ["limit_threads_from_launcher"]

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_LOCAL_SIZE_VARS = ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE", "PMIX_LOCAL_SIZE",
                    "SLURM_NTASKS_PER_NODE")


def limit_threads_from_launcher() -> int | None:
    """Set the BLAS/OpenMP thread variables to cores // ranks-on-this-node, if a launcher says.

    Returns the thread count set, or None when nothing was changed.
    """
    if any(name in os.environ for name in _THREAD_VARS):
        return None
    for name in _LOCAL_SIZE_VARS:
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            threads = max(1, len(os.sched_getaffinity(0)) // int(value))
            for var in _THREAD_VARS:
                os.environ[var] = str(threads)
            return threads
    return None


limit_threads_from_launcher()
