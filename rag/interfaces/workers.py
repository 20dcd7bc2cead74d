"""Answering in N worker processes behind the one serving process (``rag serve --workers N``).

The serving process keeps what must be in one place: the HTTP server, the web app's
sessions (Gradio keeps them in memory, so they cannot be spread over processes without
sticky sessions) and per-client limits. The CPU-bound work — retrieval and answering,
mostly Python and so bound to one core per process by the GIL — runs in a pool of worker
processes, each with its own :class:`~rag.interfaces.api.State` over the same read-only
index (FAISS memory-mapped, so the vectors are in memory once; or a Milvus server).

Calls and answers cross the process boundary through ``concurrent.futures`` (its own
pickled messages between our own processes; nothing is stored). A worker that dies is
replaced: the pool is rebuilt and the call retried once.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any

from rag.errors import RagError

if TYPE_CHECKING:
    from rag.interfaces.api import State
    from rag.settings import Settings

log = logging.getLogger(__name__)

# The methods of the assistant that do the work and so run in a worker.
REMOTE_METHODS = frozenset({"ask", "ask_with_hits", "search"})

_STATE: State | None = None  # the worker process's own state


def _init_worker(settings_json: dict[str, Any], threads: int) -> None:
    """Worker start: one thread per engine (N workers share the cores), load everything."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    from rag.interfaces.api import State
    from rag.settings import Settings

    global _STATE
    _STATE = State(Settings(**settings_json))
    try:
        _ = _STATE.assistant  # load now, not on the first request
    except RagError as e:  # the front process reports the same error on use
        log.warning("worker %s could not load the assistant: %s", os.getpid(), e)


def _call(method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if _STATE is None:  # pragma: no cover - the initializer always ran
        raise RagError("worker process not initialised")
    return getattr(_STATE.assistant, method)(*args, **kwargs)


def _pid(_: object = None) -> int:
    return os.getpid()


class WorkerPool:
    """``n`` worker processes, each holding the assistant of ``settings``."""

    def __init__(self, settings: Settings, n: int) -> None:
        if n < 1:
            raise RagError(f"--workers must be at least 1, got {n}")
        self.settings = settings
        self.n = n
        cores = os.cpu_count() or 1
        self.threads = max(1, cores // n)
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def _make(self) -> ProcessPoolExecutor:
        # spawn, not fork: the serving process has threads (uvicorn, anyio, Gradio)
        return ProcessPoolExecutor(
            max_workers=self.n,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.settings.model_dump(mode="json"), self.threads),
        )

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = self._make()
            return self._pool

    def start(self) -> list[int]:
        """Start every worker now (they load the index) and return their process ids."""
        ex = self._executor()
        # one call per worker is not guaranteed to reach each, but starting the pool
        # spawns all n processes; the ids come from the executor's process table
        list(ex.map(_pid, range(self.n)))
        return self.pids()

    def pids(self) -> list[int]:
        ex = self._pool
        if ex is None:
            return []
        procs = getattr(ex, "_processes", None) or {}
        return sorted(int(p) for p in procs)

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Run ``assistant.<method>(*args, **kwargs)`` in a worker and return its result."""
        if method not in REMOTE_METHODS:
            raise RagError(f"{method} does not run in a worker")
        ex = self._executor()
        try:
            return ex.submit(_call, method, args, kwargs).result()
        except BrokenProcessPool:
            log.warning("a worker process died; starting a new pool")
            with self._lock:
                if self._pool is ex:
                    ex.shutdown(wait=False, cancel_futures=True)
                    self._pool = self._make()
                fresh = self._pool
            assert fresh is not None
            return fresh.submit(_call, method, args, kwargs).result()

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None


def pooled_state(settings: Settings, pool: WorkerPool) -> State:
    """A :class:`State` whose assistant sends the work to ``pool`` (whatever assistant
    the state holds, e.g. after a reload, is the local copy)."""
    from rag.interfaces.api import State

    class PooledState(State):
        @property
        def assistant(self) -> Any:
            return PooledAssistant(super().assistant, pool)

    return PooledState(settings)


class PooledAssistant:
    """The assistant as the interfaces see it: the work goes to the pool, the rest
    (``index``, ``settings`` …, for health and listings) comes from a local copy."""

    def __init__(self, local: Any, pool: WorkerPool) -> None:
        self._local = local
        self._pool = pool

    def ask(self, *args: Any, **kwargs: Any) -> Any:
        return self._pool.call("ask", *args, **kwargs)

    def ask_with_hits(self, *args: Any, **kwargs: Any) -> Any:
        return self._pool.call("ask_with_hits", *args, **kwargs)

    def search(self, *args: Any, **kwargs: Any) -> Any:
        return self._pool.call("search", *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._local, name)
