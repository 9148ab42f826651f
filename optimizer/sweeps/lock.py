"""An exclusive lock on a sweep's output, held for the whole run.

The lock is an ``fcntl.flock`` on a sidecar file ``<out>.lock``. The kernel releases it when the
holder exits, however it exits, so a lock left by a killed sweep is simply taken over; the file's
content (pid, host, start time) only serves the message telling a second sweep who holds it.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from .errors import SweepError


class OutputLock:
    """``with OutputLock(out, option="--out"):`` -- refuses (SweepError) when another process holds it."""

    def __init__(self, out, option: str = "--out"):
        self.out = Path(out)
        self.path = self.out.with_name(self.out.name + ".lock")
        self.option = option
        self._fd: int | None = None

    def acquire(self) -> None:
        for _ in range(10):
            try:
                # never through a symbolic link: the lock file is truncated and rewritten below
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
            except OSError as e:
                raise SweepError(f"{self.option} {self.out}: cannot use {self.path} as its lock file "
                                 f"({e.strerror}); remove it") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                raise SweepError(f"{self.option} {self.out} is in use by another sweep ({holder}); wait for it "
                                 f"to finish, or choose another {self.option}") from None
            # the previous holder may have removed the file between our open and our lock: then we
            # hold a lock on a name nobody else sees, and must lock the file now at that name
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                info = dict(pid=os.getpid(), host=socket.gethostname(),
                            started=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
                os.ftruncate(fd, 0)
                os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
                self._fd = fd
                return
            os.close(fd)
        raise SweepError(f"{self.option} {self.out}: could not lock {self.path} (it keeps being replaced)")

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.unlink(self.path)   # while still holding the lock: see acquire()
        except FileNotFoundError:
            pass
        finally:
            os.close(self._fd)     # releases the flock
            self._fd = None

    def __enter__(self) -> "OutputLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode("utf-8", "replace") or "{}")
        return (f"pid {int(info['pid'])} on host {str(info['host'])[:100]}, "
                f"started {str(info['started'])[:40]}")
    except (ValueError, KeyError, TypeError, OSError):
        return "holder unknown: its lock file is being written"
