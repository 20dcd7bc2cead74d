"""One writer at a time for the corpus store and the index of a ``RAG_HOME``.

Every command that changes the store or the index (``rag ingest``, ``rag remove``,
``rag index``, an upload or a retirement through the API or the web app) holds the
cross-process file lock ``$RAG_HOME/.write.lock`` (the ``filelock`` package: ``flock`` on
Linux, released by the kernel when the holder dies, so a killed writer never leaves a
stale lock). The holder writes who it is to ``.write.lock.json`` so that a second writer
can say what it is waiting for. Readers (search, answers, the server) never lock: they
rely on the writers' atomic renames.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag.errors import BusyError
from rag.faults import fault

LOCK_NAME = ".write.lock"
OWNER_NAME = ".write.lock.json"


def _owner(home: Path) -> dict[str, Any]:
    try:
        data = json.loads((home / OWNER_NAME).read_text("utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _describe(owner: dict[str, Any]) -> str:
    if not owner:
        return "another writer"
    return f"another {owner.get('what', 'writer')} (pid {owner.get('pid', '?')})"


@contextmanager
def write_lock(
    home: Path,
    *,
    what: str,
    timeout: float,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold the home's write lock; wait up to ``timeout`` seconds for another writer.

    ``what`` names this writer in messages (``rag ingest``, ``API upload``). When the
    lock is taken, ``on_wait`` gets one line ("another rag ingest (pid 123) is running,
    waiting…") before the wait; after ``timeout`` a one-line :class:`BusyError`.
    """
    from filelock import FileLock, Timeout

    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(home / LOCK_NAME), thread_local=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        holder = _describe(_owner(home))
        if on_wait is not None:
            on_wait(f"{holder} is changing {home}; waiting (up to {timeout:.0f} s)…")
        try:
            lock.acquire(timeout=max(timeout, 0))
        except Timeout:
            raise BusyError(
                f"{holder} is still changing {home} after {timeout:.0f} s: try again later"
            ) from None
    try:
        info = {
            "what": what,
            "pid": os.getpid(),
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        with suppress(OSError):
            (home / OWNER_NAME).write_text(json.dumps(info, ensure_ascii=False), "utf-8")
        fault("lock:acquired")
        yield
    finally:
        with suppress(OSError):
            (home / OWNER_NAME).unlink()
        lock.release()


@contextmanager
def try_write_lock(home: Path, *, what: str) -> Iterator[bool]:
    """The write lock if it is free right now (True), else nothing (False); never waits.

    For readers that repair a crashed writer's leftovers: when a writer is active, it
    does the repair itself. A home the reader cannot write to also gives False.
    """
    from filelock import FileLock, Timeout

    home = Path(home)
    if not home.is_dir():
        yield False
        return
    lock = FileLock(str(home / LOCK_NAME), thread_local=False)
    try:
        lock.acquire(timeout=0)
    except (Timeout, OSError):
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (ours counts as alive)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def older_than(path: Path, seconds: float) -> bool:
    """Whether ``path`` was last modified more than ``seconds`` ago (False if it is gone)."""
    try:
        return time.time() - path.stat().st_mtime > seconds
    except OSError:
        return False
