"""A real single-node Slurm cluster for tests: Debian's slurmctld and slurmd, run as root.

No munge, cgroups or systemd: auth/none, cred/none, proctrack/linuxproc, task/none. The node
declares 4 CPUs (config_overrides) so a 3-rank MPI job fits on a 2-core machine. Job states come
from `scontrol show job` (accounting is off).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

DAEMONS = ("slurmctld", "slurmd", "sbatch", "scontrol", "sinfo")
FINISHED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY",
            "BOOT_FAIL", "DEADLINE", "PREEMPTED"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _which(name: str) -> str | None:
    return shutil.which(name) or next((str(p) for p in (Path("/usr/sbin") / name,) if p.exists()),
                                      None)


def missing_reason() -> str | None:
    """Why a cluster cannot start here, or None."""
    missing = [d for d in DAEMONS if _which(d) is None]
    if missing:
        return (f"Slurm programs missing: {', '.join(missing)} (.ci/run installs Debian's "
                "slurmctld, slurmd and slurm-client with apt-get)")
    if os.geteuid() != 0:
        return "slurmd must run as root for these tests"
    return None


@dataclass
class Cluster:
    """A running cluster: `env` points clients at its slurm.conf."""

    folder: Path
    env: dict

    def run(self, *args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
        """Run a Slurm client command against this cluster."""
        return subprocess.run(list(args), capture_output=True, text=True, env=self.env,
                              check=check, timeout=60, **kwargs)

    def states(self, job_id: str) -> dict[str, tuple[str, str]]:
        """JobId -> (JobState, Reason) of a job (every task of an array)."""
        out = self.run("scontrol", "-o", "show", "job", job_id, check=False).stdout
        found = {}
        for line in out.splitlines():
            fields = dict(re.findall(r"(\w+)=(\S*)", line))
            if "JobId" in fields:
                key = fields["JobId"]
                if fields.get("ArrayTaskId"):
                    key = f"{fields.get('ArrayJobId')}_{fields['ArrayTaskId']}"
                found[key] = (fields.get("JobState", "?"), fields.get("Reason", ""))
        return found

    def wait(self, job_ids: list[str], timeout: float) -> dict[str, tuple[str, str]]:
        """Wait until every job (and array task) has finished; returns their final states."""
        deadline = time.monotonic() + timeout
        while True:
            states = {}
            for job in job_ids:
                states.update(self.states(job))
            if states and all(s in FINISHED for s, _ in states.values()):
                return states
            if time.monotonic() > deadline:
                raise AssertionError(f"jobs still running after {timeout}s: {states}")
            time.sleep(1)

    def stop(self) -> None:
        """Shut both daemons down."""
        self.run("scontrol", "shutdown", check=False)
        for pid_file in ("slurmd.pid", "slurmctld.pid"):
            path = self.folder / pid_file
            if path.exists():
                try:
                    os.kill(int(path.read_text().strip()), signal.SIGTERM)
                except (ProcessLookupError, ValueError):
                    pass


def start_cluster(folder: Path) -> Cluster:
    """Write a slurm.conf in `folder`, start slurmctld and slurmd, wait for an idle node."""
    host = socket.gethostname().split(".")[0]
    for sub in ("state", "spool"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    conf = folder / "slurm.conf"
    node = (f"NodeName={host} CPUs=4 Boards=1 SocketsPerBoard=1 CoresPerSocket=4 ThreadsPerCore=1 "
            "RealMemory=8000 State=UNKNOWN")
    conf.write_text(f"""ClusterName=wmtest
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/none
CredType=cred/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
JobCompType=jobcomp/filetxt
JobCompLoc={folder}/jobcomp.txt
DependencyParameters=kill_invalid_depend
EnforcePartLimits=ALL
SchedulerParameters=sched_min_interval=100000,batch_sched_delay=0
SlurmdParameters=config_overrides
{node}
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
""")
    env = {**os.environ, "SLURM_CONF": str(conf)}
    cluster = Cluster(folder, env)
    for daemon in ("slurmctld", "slurmd"):
        result = subprocess.run([_which(daemon), "-f", str(conf)], capture_output=True, text=True,
                                env=env, timeout=60)
        if result.returncode:
            raise RuntimeError(f"{daemon} did not start: {result.stderr.strip()}")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        out = cluster.run("sinfo", "-h", "-o", "%t", check=False).stdout.strip()
        if out == "idle":
            return cluster
        time.sleep(0.5)
    logs = "".join((folder / f).read_text()[-800:] for f in ("slurmctld.log", "slurmd.log")
                   if (folder / f).exists())
    cluster.stop()
    raise RuntimeError(f"the Slurm node never became idle (sinfo: {out!r}); logs:\n{logs}")
