"""Section ``embed``: embedding throughput in process, in 2 processes, and as a Ray Data
job with 1 and 2 actors, on the same slice of the shipped corpus.

The slice is the first ``SLICE`` clauses (``QUICK_SLICE`` with ``--quick``) in corpus
order, as the index embeds them (``embed_text``), with the settings' embedder. Each run
starts from an empty in-memory cache, so every text is embedded. Ray runs on a local
Ray started for the section (``num_cpus`` = the machine's cores); its start-up is timed
apart from the job. Vectors of every run are compared with the in-process ones (lowest
cosine reported). Clauses per second and characters per second per core are given so
that the capacity plan in ``deploy/README.md`` can be read off them.
"""

from __future__ import annotations

import os
import time
from typing import Any

from rag.bench.common import fmt, log, target

SLICE = 256
QUICK_SLICE = 96
BATCH = 16


def run(ctx: Any) -> dict[str, Any]:
    import numpy as np

    from rag.index.parallel import (
        EmbedderSpec,
        MemoryCache,
        ParallelReport,
        embed_passages_parallel,
    )
    from rag.index.store import content_hash, embed_text

    n = QUICK_SLICE if ctx.quick else SLICE
    clauses = ctx.corpus().clauses()[:n]
    texts = [embed_text(c) for c in clauses]
    hashes = [content_hash(t) for t in texts]
    chars = sum(len(t) for t in texts)
    spec = EmbedderSpec.from_settings(ctx.settings)
    cores = os.cpu_count() or 1
    runs: list[dict[str, Any]] = []
    base = None

    def one(name: str, **kw: Any) -> None:
        nonlocal base
        rep: list[ParallelReport] = []
        log(f"embed: {name} on {len(texts)} clauses …")
        t0 = time.perf_counter()
        vecs = embed_passages_parallel(
            texts, hashes, spec, MemoryCache(), batch_size=BATCH, report=rep, **kw
        )
        wall = time.perf_counter() - t0
        if base is None:
            base = vecs
        cos = np.sum(vecs * base, axis=1) / (
            np.linalg.norm(vecs, axis=1) * np.linalg.norm(base, axis=1)
        )
        runs.append(
            {
                "run": name,
                "seconds": round(wall, 2),
                "clauses_per_s": round(len(texts) / wall, 2),
                "chars_per_s_per_core": round(chars / wall / cores, 1),
                "min_cosine_vs_in_process": round(float(cos.min()), 6),
                "embedded": rep[0].n_embedded,
            }
        )
        log(f"embed: {name}: {runs[-1]}")

    one("in process", workers=1)
    one("2 processes", workers=2)
    ray_start = None
    try:
        import ray

        t0 = time.perf_counter()
        ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False)
        ray_start = round(time.perf_counter() - t0, 1)
        try:
            one("Ray Data, 1 actor", workers=1, ray_address="local")
            one("Ray Data, 2 actors", workers=2, ray_address="local")
        finally:
            ray.shutdown()
    except ImportError:
        ctx.notes.append("Ray is not installed (pip install -e '.[scale]'): Ray runs skipped.")
    base_rate = runs[0]["clauses_per_s"]
    table = {
        "title": f"{len(texts)} clauses ({chars:,} characters), embedder {spec.kind}, "
        f"batch {BATCH}, {cores} cores",
        "columns": ["run", "s", "clauses/s", "chars/s/core", "vs in process", "min cosine"],
        "rows": [
            [
                r["run"],
                fmt(r["seconds"], 1),
                fmt(r["clauses_per_s"], 1),
                fmt(r["chars_per_s_per_core"], 0),
                f"{r['clauses_per_s'] / base_rate:.2f}x",
                fmt(r["min_cosine_vs_in_process"], 6),
            ]
            for r in runs
        ],
    }
    ms_per_char_core = 1000 / runs[0]["chars_per_s_per_core"]
    core_hours_per_m = 1e6 * (chars / len(texts)) * ms_per_char_core / 1000 / 3600
    return {
        "params": {"clauses": len(texts), "chars": chars, "batch": BATCH, "cores": cores},
        "results": {
            "runs": runs,
            "ray_start_s": ray_start,
            "mean_chars_per_clause": round(chars / len(texts), 1),
            "core_hours_per_million_clauses": round(core_hours_per_m, 1),
        },
        "tables": [table],
        "targets": [
            target(
                "lowest cosine of any run vs in-process",
                min(r["min_cosine_vs_in_process"] for r in runs),
                0.9999,
                ">=",
            )
        ],
        "notes": [
            f"Ray start-up (local, {cores} CPUs): {ray_start} s, not counted in the runs."
            if ray_start is not None
            else "Ray not run.",
            f"In process: {ms_per_char_core:.2f} ms per character per core, i.e. "
            f"{core_hours_per_m:.0f} core-hours per million clauses of "
            f"{chars / len(texts):.0f} characters.",
            "Every run includes starting its processes or actors and loading one model in each.",
        ],
    }
