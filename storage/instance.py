"""One bot per database: an operating-system file lock beside the database file (``PAKN_DB`` + ``.lock``).

The lock is ``flock`` on an open file, so the kernel releases it when the holder dies, however it dies (no stale
lock to clean up after a crash or a power cut). Only the bot itself (``python -m bot run``) takes it; the other
commands (import, backup, reports) may run beside it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

# Databases whose lock this process holds (see :func:`held`).
_HELD: set[Path] = set()


class AnotherInstance(RuntimeError):
    """Another running bot holds this database."""


def lock_path(db_path: Path | str) -> Path:
    return Path(f"{db_path}.lock")


def held(db_path: Path | str) -> bool:
    """True when this process holds the database's lock: no other bot is alive on it."""
    return Path(db_path).resolve() in _HELD


class InstanceLock:
    """The database's instance lock; :meth:`acquire` raises :class:`AnotherInstance` at once if it is held."""

    def __init__(self, db_path: Path | str) -> None:
        self.db_path = Path(db_path)
        self.path = lock_path(db_path)
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        if fcntl is None:  # pragma: no cover - not POSIX: no lock, as before
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+", encoding="ascii")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise AnotherInstance(str(self.db_path)) from None
        except BaseException:
            handle.close()
            raise
        # The holder's process id, for the administrator who wonders which process it is.
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle
        _HELD.add(self.db_path.resolve())

    def release(self) -> None:
        if self._file is not None:
            _HELD.discard(self.db_path.resolve())
            # Closing the file releases the lock; the file stays (removing it would race with a new holder).
            self._file.close()
            self._file = None

    def __enter__(self) -> InstanceLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
