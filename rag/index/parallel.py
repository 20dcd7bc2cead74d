"""Embedding many passages: in N local processes or as a Ray Data job, resumable.

:func:`embed_passages_parallel` takes the texts, their content hashes, a picklable
``embedder_factory`` (e.g. :class:`EmbedderSpec`) and a content-hash vector cache
(``get(hashes) -> {hash: vector}``, ``put(hashes, vectors)``, such as
``rag.index.cache.VectorCache``). Texts whose hash is already in the cache are not
embedded again; every finished batch is written to the cache at once, so a job that is
killed starts again where it stopped. It returns the vectors in the order of the texts.

Three ways to run, same vectors (the model is deterministic; thread counts change float
sums only in the last bits, cosine ≥ 0.9999):

* in process (``workers=1``): one model, the engine's own threads on every core;
* ``workers=N``: N spawned processes, one model and ``cores // N`` threads each;
* ``ray_address``: a Ray Data job — ``map_batches`` over an actor pool
  (``ActorPoolStrategy``), one model per actor, on a local Ray (``"local"``) or a
  running cluster (``"auto"``, ``ray://host:10001``). Ray is the optional extra
  ``[scale]``, imported only here. The cluster's nodes need the project installed.

The driver (this process) is the only writer of the cache.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from rag.errors import IndexError_, InputError, RagError
from rag.index.embedders import Embedder, make_embedder

BATCH = 32


class VectorCacheLike(Protocol):
    """What the parallel embedding needs from the content-hash vector cache."""

    def get(self, hashes: Sequence[str]) -> dict[str, np.ndarray]: ...

    def put(self, hashes: Sequence[str], vectors: np.ndarray) -> None: ...


class MemoryCache:
    """A vector cache that keeps nothing on disk (for one-off runs and benchmarks)."""

    def __init__(self) -> None:
        self.vectors: dict[str, np.ndarray] = {}

    def get(self, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        return {h: self.vectors[h] for h in hashes if h in self.vectors}

    def put(self, hashes: Sequence[str], vectors: np.ndarray) -> None:
        for h, v in zip(hashes, np.asarray(vectors, dtype=np.float32), strict=True):
            self.vectors[h] = v


@dataclass(frozen=True)
class EmbedderSpec:
    """A picklable recipe for an embedder: ``make_embedder(kind, **opts)`` when called."""

    kind: str
    opts: tuple[tuple[str, Any], ...] = ()

    def __call__(self) -> Embedder:
        return make_embedder(self.kind, **dict(self.opts))

    @classmethod
    def from_settings(cls, settings: Any) -> EmbedderSpec:
        """The embedder the settings ask for (``RAG_EMBEDDER``, ``RAG_ST_*``)."""
        kind = settings.embedder.strip().lower()
        if kind in ("sentence-transformers", "st", "sentence-transformer"):
            return cls(
                "sentence-transformers",
                (
                    ("model_path_or_name", settings.st_model),
                    ("query_prompt", settings.st_query_prompt),
                    ("passage_prompt", settings.st_passage_prompt),
                ),
            )
        return cls(kind)


@dataclass
class ParallelReport:
    """What one call did."""

    n_texts: int
    n_unique: int
    n_cached: int
    n_embedded: int
    seconds: float
    how: str
    workers: int
    batches: int = 0
    notes: list[str] = field(default_factory=list)


def _batches(items: Sequence[tuple[str, str]], size: int) -> Iterator[list[tuple[str, str]]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


def _check(vectors: np.ndarray, n: int, dim: int | None) -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float32)
    if v.ndim != 2 or v.shape[0] != n or (dim is not None and v.shape[1] != dim):
        raise IndexError_(f"the embedder returned shape {v.shape}, expected ({n}, {dim})")
    return v


# --------------------------------------------------------------------------- processes

_WORKER_EMBEDDER: Embedder | None = None


def _init_process(factory: Callable[[], Embedder], threads: int) -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    global _WORKER_EMBEDDER
    _WORKER_EMBEDDER = factory()


def _embed_in_process(texts: list[str]) -> np.ndarray:
    if _WORKER_EMBEDDER is None:  # pragma: no cover - the initializer always ran
        raise RagError("embedding worker not initialised")
    return _WORKER_EMBEDDER.embed_passages(texts)


def _run_processes(
    todo: list[tuple[str, str]],
    factory: Callable[[], Embedder],
    workers: int,
    batch_size: int,
    on_batch: Callable[[list[str], np.ndarray], None],
) -> int:
    threads = max(1, (os.cpu_count() or 1) // workers)
    n = 0
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_process,
        initargs=(factory, threads),
    ) as ex:
        pending: dict[Future[np.ndarray], list[str]] = {}
        batches = _batches(todo, batch_size)
        # a few batches in flight per worker: enough to keep each busy, few to lose
        for batch in batches:
            pending[ex.submit(_embed_in_process, [t for _, t in batch])] = [h for h, _ in batch]
            if len(pending) >= 2 * workers:
                break
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                hashes = pending.pop(fut)
                on_batch(hashes, _check(fut.result(), len(hashes), None))
                n += 1
                nxt = next(batches, None)
                if nxt is not None:
                    pending[ex.submit(_embed_in_process, [t for _, t in nxt])] = [h for h, _ in nxt]
    return n


# --------------------------------------------------------------------------- ray


class _RayEmbed:
    """A Ray Data actor: one model, loaded once, embeds whole batches."""

    def __init__(self, factory: Callable[[], Embedder]) -> None:
        self.embedder = factory()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = [str(t) for t in batch["text"]]
        vecs = self.embedder.embed_passages(texts)
        return {"hash": batch["hash"], "vector": np.asarray(vecs, dtype=np.float32)}


def _ray_init(address: str, workers: int) -> Callable[[], None]:
    """Connect to (or start) Ray; returns the function that disconnects."""
    try:
        import ray
    except ImportError as e:
        raise InputError("--ray needs the scale extra: pip install -e '.[scale]'") from e
    if ray.is_initialized():
        return lambda: None
    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "configure_logging": False,
    }
    if address in ("", "local"):
        kwargs["num_cpus"] = max(workers, os.cpu_count() or 1)
    else:
        import rag

        kwargs["address"] = address
        # ship this package's code to the cluster; its dependencies must be installed
        kwargs["runtime_env"] = {"py_modules": [os.path.dirname(rag.__file__)]}
    try:
        ray.init(**kwargs)
    except Exception as e:  # ConnectionError, RuntimeError, …: one line for the user
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise InputError(f"cannot start or reach Ray at {address or 'local'}: {first}") from e
    return ray.shutdown


def _run_ray(
    todo: list[tuple[str, str]],
    factory: Callable[[], Embedder],
    workers: int,
    batch_size: int,
    address: str,
    on_batch: Callable[[list[str], np.ndarray], None],
) -> int:
    import ray.data

    shutdown = _ray_init(address, workers)
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ds = ray.data.from_items(
            [{"hash": h, "text": t} for h, t in todo],
            override_num_blocks=max(1, min(len(todo) // batch_size, 4 * workers)),
        )
        out = ds.map_batches(
            _RayEmbed,
            fn_constructor_args=(factory,),
            batch_size=batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=max(1, (os.cpu_count() or 1) // workers) if address in ("", "local") else 1,
        )
        n = 0
        for batch in out.iter_batches(batch_size=batch_size, batch_format="numpy"):
            hashes = [str(h) for h in batch["hash"]]
            on_batch(hashes, _check(np.stack(list(batch["vector"])), len(hashes), None))
            n += 1
        return n
    finally:
        shutdown()


# --------------------------------------------------------------------------- entry


def embed_passages_parallel(
    texts: Sequence[str],
    hashes: Sequence[str],
    embedder_factory: Callable[[], Embedder],
    cache: VectorCacheLike,
    *,
    workers: int = 1,
    ray_address: str | None = None,
    batch_size: int = BATCH,
    dim: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    report: list[ParallelReport] | None = None,
) -> np.ndarray:
    """Passage vectors of ``texts`` (float32, in order), embedding only hashes the cache
    lacks; see the module docstring. ``progress(done, total)`` is called after each
    batch; ``report``, when given, receives a :class:`ParallelReport`."""
    t0 = time.perf_counter()
    if len(texts) != len(hashes):
        raise InputError(f"{len(texts)} texts but {len(hashes)} hashes")
    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    if batch_size < 1:
        raise InputError("batch size must be at least 1")
    first: dict[str, str] = {}
    for h, t in zip(hashes, texts, strict=True):
        first.setdefault(h, t)
    have = cache.get(list(first))
    todo = [(h, t) for h, t in first.items() if h not in have]
    n_cached = len(first) - len(todo)
    done = 0

    def on_batch(batch_hashes: list[str], vectors: np.ndarray) -> None:
        nonlocal done
        cache.put(batch_hashes, vectors)  # a finished batch survives a kill from here on
        for h, v in zip(batch_hashes, vectors, strict=True):
            have[h] = v
        done += len(batch_hashes)
        if progress is not None:
            progress(done, len(todo))

    how = "cache"
    n_batches = 0
    if todo:
        if ray_address is not None:
            how = "ray"
            n_batches = _run_ray(todo, embedder_factory, workers, batch_size, ray_address, on_batch)
        elif workers > 1:
            how = "processes"
            n_batches = _run_processes(todo, embedder_factory, workers, batch_size, on_batch)
        else:
            how = "in-process"
            embedder = embedder_factory()
            for batch in _batches(todo, batch_size):
                vecs = _check(embedder.embed_passages([t for _, t in batch]), len(batch), dim)
                on_batch([h for h, _ in batch], vecs)
                n_batches += 1
    missing = [h for h in first if h not in have]
    if missing:
        raise IndexError_(f"{len(missing)} passages were not embedded (first hash {missing[0]})")
    if not hashes:
        out = np.zeros((0, dim or 0), dtype=np.float32)
    else:
        out = np.stack([np.asarray(have[h], dtype=np.float32) for h in hashes])
    if dim is not None and out.shape[1:] != (dim,) and len(out):
        raise IndexError_(f"vectors of dimension {out.shape[1]}, expected {dim}")
    if report is not None:
        report.append(
            ParallelReport(
                n_texts=len(texts),
                n_unique=len(first),
                n_cached=n_cached,
                n_embedded=len(todo),
                seconds=time.perf_counter() - t0,
                how=how,
                workers=workers,
                batches=n_batches,
            )
        )
    return out
