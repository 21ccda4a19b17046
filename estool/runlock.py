"""One run per folder: an exclusive lock that a process holds for as long as it runs.

:class:`RunLock` takes ``fcntl.flock(LOCK_EX | LOCK_NB)`` on a lock file (``{folder}/.lock`` by
default) kept open until :meth:`RunLock.release` or the end of the process (a normal end, an
exception or ``sys.exit`` release it too), and writes the holder's host name, pid and start time
into it. The kernel drops a flock when its process dies, however it dies (``kill -9`` included),
so a lock file left by a dead run is simply taken over, with one line on stdout naming the run
that left it. While the holder lives, a second run is
refused with one line naming it (:class:`LockBusyError`), so two commands on the same folder (a
requeued Slurm job overlapping its dying predecessor) never both write it.

The file stays in place after release (removing it would let a third process lock a new file
while a second still holds the old one); a released lock file is empty.
"""

from __future__ import annotations

import atexit
import errno
import fcntl
import json
import os
import socket
import sys
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import IO

# flock is not available on this filesystem (e.g. Lustre mounted without -o flock)
_UNSUPPORTED = {errno.ENOLCK, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP}


class LockBusyError(RuntimeError):
    """The lock is held by a live process; the message is one line naming it."""


def describe_holder(text: str) -> str:
    """``HOST pid PID (started TIME)`` from a lock file's contents, or what is known instead."""
    try:
        holder = json.loads(text)
        return f"{holder['host']} pid {holder['pid']} (started {holder['started']})"
    except (ValueError, TypeError, KeyError):
        return "an unknown process (it has not written its name yet)" if not text.strip() \
            else f"an unknown process (unreadable lock file: {text.strip()[:60]!r})"


def holder_text() -> str:
    """This process's entry in a lock file: one JSON line with host, pid and start time."""
    started = datetime.now().astimezone().isoformat(timespec="seconds")
    return json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "started": started}) + "\n"


class RunLock:
    """An exclusive lock on ``folder/name`` until :meth:`release` or the end of this process.

    ``what`` names the locked thing in the refusal (default: the folder), ``instead`` says what
    else the user can do, and ``label`` starts the take-over line. Use as a context manager, or
    call :meth:`acquire` and :meth:`release`.
    """

    def __init__(self, folder: str | os.PathLike, name: str = ".lock", *, what: str | None = None,
                 instead: str = "use another folder", label: str = "estool") -> None:
        self.folder = Path(folder)
        self.path = self.folder / name
        self.what = what or str(self.folder)
        self.instead = instead
        self.label = label
        self._file: IO[str] | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._file is not None

    def acquire(self) -> RunLock:
        """Take the lock (creating the folder and file if needed); returns self.

        Raises :class:`LockBusyError` when a live process holds it. Where the filesystem has no
        flock, says so in one line on stderr and goes on unlocked.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        lock_file = os.fdopen(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644), "r+")
        try:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = describe_holder(lock_file.read())
            lock_file.close()
            raise LockBusyError(f"{self.what} is in use by the run of {holder}; wait for it to "
                                f"end, or {self.instead}") from None
        except OSError as err:
            lock_file.close()
            if err.errno not in _UNSUPPORTED:
                raise
            print(f"{self.label}: warning: cannot lock {self.path} ({err.strerror}); nothing stops "
                  "a second run from using it at the same time", file=sys.stderr, flush=True)
            return self
        left = lock_file.read()
        if left.strip():
            print(f"{self.label}: taking over {self.path} from the run of {describe_holder(left)}, "
                  "which is no longer running", flush=True)
        lock_file.seek(0)
        lock_file.truncate()
        lock_file.write(holder_text())
        lock_file.flush()
        self._file = lock_file
        atexit.register(self.release)
        return self

    def release(self) -> None:
        """Empty the lock file and release the lock (nothing if not held)."""
        if self._file is None:
            return
        lock_file, self._file = self._file, None
        atexit.unregister(self.release)
        try:
            lock_file.truncate(0)
            lock_file.flush()
        finally:
            lock_file.close()  # closing the last descriptor drops the flock

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
