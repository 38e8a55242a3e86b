"""Files that survive a crash, and locks that die with their process.

Every file the course writes (checkpoints, ``metrics.json``, figures, cached evaluators)
goes through :func:`atomic_path`: written under a temporary name, flushed to disk
(``fsync``), renamed over the target, and the folder's entry flushed too. A kill at
any instant leaves either the old file or the new one, never half of one; the
temporary files a kill leaves behind are removed by :func:`clean_stale_temp`.

:class:`FileLock` is an operating-system lock on a file (``flock``): it is released
when its process ends, however it ends, so a lock left by a killed run never blocks.
Used by :mod:`course.runs` (one process per run folder) and the evaluator cache.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import CourseError

#: Temporary files start with this, so that a clean-up can tell them from everything else.
TEMP_PREFIX = ".tmp-"


def fsync_file(path: str | os.PathLike) -> None:
    """Flush a closed file's contents to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_folder(path: str | os.PathLike) -> None:
    """Flush a folder's entries (a rename into it) to the disk; a no-op where folders cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # some network file systems refuse it
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; when the block succeeds, make it ``path`` durably.

    The writer inside the block creates and closes the temporary file (h5py, Keras and
    imageio want to create it themselves); the suffix is kept, since Keras picks the format
    from it. Then: fsync the file, rename it onto ``path``, fsync the folder. On error the
    temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{TEMP_PREFIX}{path.stem}.", suffix="".join(path.suffixes))
    os.close(fd)
    os.unlink(tmp)
    try:
        yield Path(tmp)
        fsync_file(tmp)
        os.replace(tmp, path)
        fsync_folder(path.parent)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def to_builtin(x):
    """NumPy scalars and arrays as plain Python, for JSON."""
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"cannot write {type(x).__name__} to JSON")


def write_json_atomic(path: str | os.PathLike, obj) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=to_builtin) + "\n")


def clean_stale_temp(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files a killed writer left in ``folder`` and below; returns them.

    Call it only while holding the folder's lock: a live writer's temporary file would go too.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = [p for p in folder.rglob(f"{TEMP_PREFIX}*") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


# --------------------------------------------------------------------------- locks


class LockedError(CourseError):
    """Another process holds the lock; the message names it."""


_HELD: dict[str, list] = {}  # lock path -> [open file, depth]: the same process may take its own lock again


class FileLock:
    """An exclusive lock on ``path`` held by this process, released when it ends (or by :meth:`release`).

    ``what`` names the thing locked in the error a second process gets, which also names
    the process that holds it (pid, host, command, since when). Re-entrant within a process.
    Where the file system cannot lock (some network drives), it warns once and goes on unlocked.
    """

    def __init__(self, path: str | os.PathLike, what: str = "this folder", wait: bool = False):
        self.path = Path(path)
        self.what = what
        self.wait = wait  # in a ``with`` block: wait for another process's lock instead of raising

    def acquire(self, wait: bool = False) -> "FileLock":
        """Take the lock; if another process holds it, raise :class:`LockedError` naming it, or
        with ``wait=True`` wait for it (saying once what it waits for)."""
        key = str(self.path.resolve())
        if key in _HELD:
            _HELD[key][1] += 1
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")
        try:
            said = False
            while not _try_lock(handle):
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                if not wait:
                    handle.close()
                    raise LockedError(f"{self.what} is in use by {holder}. Wait for it to finish, or stop it; "
                                      "a lock left by a process that has ended never blocks.")
                if not said:
                    print(f"Waiting for {holder}, which is using {self.what} ...", file=sys.stderr, flush=True)
                    said = True
                time.sleep(1.0)
        except OSError as err:  # the file system cannot lock: go on, but say so
            print(f"warning: cannot lock {self.path} ({err}); make sure no other process uses {self.what}.",
                  file=sys.stderr)
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()} on {socket.gethostname()} ({' '.join(sys.argv)[:200] or 'python'}), "
                     f"since {time.strftime('%Y-%m-%d %H:%M:%S')}")
        handle.flush()
        _HELD[key] = [handle, 1]
        return self

    def release(self) -> None:
        key = str(self.path.resolve())
        held = _HELD.get(key)
        if held is None:
            return
        held[1] -= 1
        if held[1] == 0:
            handle = _HELD.pop(key)[0]
            handle.seek(0)
            handle.truncate()
            _unlock(handle)
            handle.close()

    def __enter__(self) -> "FileLock":
        return self.acquire(wait=self.wait)

    def __exit__(self, *exc) -> None:
        self.release()


if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(handle) -> bool:
        handle.seek(0)
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False

    def _unlock(handle) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
else:
    import errno
    import fcntl

    def _try_lock(handle) -> bool:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as err:
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            raise

    def _unlock(handle) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
