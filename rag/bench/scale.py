"""Section ``scale``: ANN indexes on synthetic clustered vectors at 100k and 1M.

Data (fixed seed): ``n + 1000`` unit vectors of dimension 384 drawn from a mixture of
Gaussians around 4096 centroids, with an anisotropic spectrum (variance of the i-th
principal direction ∝ i^-1.1, the same shape for the centroids and for the spread around
them) and a shared offset direction, so that — like e5 embeddings — all vectors are close
(mean pairwise cosine ≈ 0.87) and a few dozen directions carry most of the variance. The
last 1000 vectors are held-out queries; ground truth is exact inner-product search
(``IndexFlatIP``, cached as .npy under ``$RAG_HOME/bench/scale``).

Each (size, index) pair runs in its own subprocess (``python -m rag.bench.scale --child
SPEC``) so its memory is measured cleanly: RSS before and after building (data already in
memory), the serialised index size, build time, and for each search parameter recall@10
and single-query latency over the 1000 queries.

``milvus-lite`` is the Milvus backend (:mod:`rag.index.milvus`, HNSW M=32, the project's
collection schema) in Milvus Lite, embedded in the child process: build = upserts in
batches of 2000 + flush + index; every search is a request through the client, as the
server would make it. At 1M it runs only when the 100k build rate says it fits in
``MILVUS_1M_BUDGET_S``; otherwise the skip and its reason are recorded.

Indexes: ``project`` is what the project builds at that size (``choose_faiss_kind`` and
``_make_faiss`` + ``tune_faiss`` with the settings); ``hnsw-sq8`` (HNSW M=32 over 8-bit
scalar-quantised vectors) and ``ivf-sq8`` (IVF, 4·√n lists, 8-bit codes) are the
alternatives that fit in less memory.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rag.bench.common import GiB, MiB, log, target

DIM = 384
N_CENTROIDS = 4096
ALPHA = 1.1
WITHIN = 1.0
MEAN_NORM = 3.5
SEED = 20240611
N_QUERIES = 1000
GT_K = 100
SIZES = (100_000, 1_000_000)
CONFIGS = ("project", "hnsw-sq8", "ivf-sq8", "milvus-lite")
MILVUS_1M_BUDGET_S = 1800.0
MILVUS_EFS = (64, 128, 256)
RECALL_TARGET = 0.95
LATENCY_TARGET_MS = 20.0
MEMORY_TARGET_MIB = 2 * GiB / MiB


def gen_key(n: int) -> str:
    spec = f"{n}:{DIM}:{N_CENTROIDS}:{ALPHA}:{WITHIN}:{MEAN_NORM}:{SEED}:{N_QUERIES}:v1"
    return hashlib.sha256(spec.encode()).hexdigest()[:12]


def synthetic(n: int, *, seed: int = SEED, chunk: int = 50_000) -> Any:
    """``n`` unit vectors (float32, n × 384) from the clustered generator (module docstring)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((DIM, DIM)))
    basis = basis.astype(np.float32)
    sd = (np.arange(1, DIM + 1, dtype=np.float64) ** (-ALPHA / 2)).astype(np.float32)
    sd /= np.float32(np.sqrt((sd**2).sum()))
    offset = rng.standard_normal(DIM).astype(np.float32)
    offset *= np.float32(MEAN_NORM / np.linalg.norm(offset))
    centroids = (rng.standard_normal((N_CENTROIDS, DIM)).astype(np.float32) * sd) @ basis.T
    out = np.empty((n, DIM), dtype=np.float32)
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        which = rng.integers(0, N_CENTROIDS, e - s)
        spread = (rng.standard_normal((e - s, DIM)).astype(np.float32) * (sd * WITHIN)) @ basis.T
        x = offset + centroids[which] + spread
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        out[s:e] = x
    return out


def shape_stats(x: Any, sample: int = 1023, seed: int = 0) -> dict[str, float]:
    """Mean pairwise cosine and PCA dimensions holding 50% / 90% of the variance of a sample."""
    import numpy as np

    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(x), size=min(sample, len(x)), replace=False))
    v = np.asarray(x[idx], dtype=np.float64)
    sims = v @ v.T
    iu = np.triu_indices(len(v), 1)
    ev = np.linalg.svd(v - v.mean(0), compute_uv=False) ** 2
    cum = np.cumsum(ev) / ev.sum()
    return {
        "mean_pair_cos": round(float(sims[iu].mean()), 4),
        "pca_dims_50": int(np.searchsorted(cum, 0.5) + 1),
        "pca_dims_90": int(np.searchsorted(cum, 0.9) + 1),
    }


def rss_mib() -> float:
    """Current RSS in MiB, after giving freed heap pages back to the OS (glibc)."""
    import psutil

    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    return float(psutil.Process().memory_info().rss / MiB)


# --------------------------------------------------------------------------- child


def _build(config: str, xb: Any, spec: dict[str, Any]) -> tuple[Any, str, list[int], int | None]:
    """The index (trained and filled), the search parameter name, values to sweep, default."""
    import faiss as _faiss
    import numpy as np

    from rag.index.store import _make_faiss, choose_faiss_kind, tune_faiss

    faiss: Any = _faiss  # the bundled stubs are incomplete
    index: Any
    n = len(xb)
    if config == "project":
        kind = choose_faiss_kind(spec["faiss_kind"], n, spec["ann_threshold"])
        index = _make_faiss(kind, xb)
        tune_faiss(index, spec["candidates"])
        if isinstance(index, faiss.IndexHNSWFlat):
            d = int(index.hnsw.efSearch)
            return index, "efSearch", sorted({64, d, 256}), d
        if isinstance(index, faiss.IndexIVFFlat):
            d = int(index.nprobe)
            return index, "nprobe", sorted({d, 64, 256}), d
        return index, "", [0], None
    if config == "hnsw-sq8":
        index = faiss.IndexHNSWSQ(
            DIM, faiss.ScalarQuantizer.QT_8bit, 32, faiss.METRIC_INNER_PRODUCT
        )
        index.hnsw.efConstruction = 80
        index.train(xb)
        index.add(xb)
        return index, "efSearch", [64, 128, 256], None
    if config == "ivf-sq8":
        nlist = max(1, int(4 * np.sqrt(n)))
        quantizer = faiss.IndexFlatIP(DIM)
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, DIM, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
        index.cp.max_points_per_centroid = 64  # k-means on ≤ 64·nlist sampled points
        index.train(xb)
        index.add(xb)
        return index, "nprobe", [16, 64, 128, 256], None
    raise ValueError(f"unknown index config {config!r}")


def _set_param(index: Any, name: str, value: int) -> None:
    import faiss as _faiss

    faiss: Any = _faiss
    if name == "efSearch":
        faiss.downcast_index(index).hnsw.efSearch = value
    elif name == "nprobe":
        faiss.extract_index_ivf(index).nprobe = value


def _child(spec: dict[str, Any]) -> dict[str, Any]:
    import faiss
    import numpy as np

    n, config = int(spec["n"]), spec["config"]
    gt_path = Path(spec["gt_path"])
    t0 = time.perf_counter()
    x = synthetic(n + N_QUERIES)
    xb, xq = x[:n], np.ascontiguousarray(x[n:])
    out: dict[str, Any] = {"n": n, "config": config, "gen_s": round(time.perf_counter() - t0, 2)}
    print(f"[scale child] n={n} {config}: data in {out['gen_s']} s", file=sys.stderr, flush=True)

    if config == "gt":
        flat = faiss.IndexFlatIP(DIM)
        flat.add(xb)
        t0 = time.perf_counter()
        scores, ids = flat.search(xq, GT_K)
        out["gt_s"] = round(time.perf_counter() - t0, 2)
        gt_path.parent.mkdir(parents=True, exist_ok=True)
        for arr, path in (
            (ids, gt_path),
            (scores, gt_path.with_name(gt_path.stem + "-scores.npy")),
        ):
            tmp = path.with_name(f".{path.name}.tmp.npy")
            np.save(tmp, arr, allow_pickle=False)
            os.replace(tmp, path)
        out["shape"] = shape_stats(xb)
        out["nn_cos"] = {f"nn{k}": round(float(scores[:, k - 1].mean()), 4) for k in (1, 10, 100)}
        out["flat_ms_per_query_batch"] = round(out["gt_s"] * 1000 / N_QUERIES, 3)
        gt_path.with_suffix(".json").write_text(json.dumps(out), "utf-8")
        return out

    gt = np.load(gt_path, allow_pickle=False)[:, :10]
    if config == "milvus-lite":
        return {**out, **_milvus_child(xb, xq, gt, gt_path.parent)}
    gc.collect()
    rss0 = rss_mib()
    t0 = time.perf_counter()
    index, pname, values, default = _build(config, xb, spec)
    out["build_s"] = round(time.perf_counter() - t0, 2)
    gc.collect()
    rss1 = rss_mib()
    out["rss_before_mib"], out["rss_after_mib"] = round(rss0, 1), round(rss1, 1)
    out["rss_delta_mib"] = round(rss1 - rss0, 1)
    out["index_type"] = type(faiss.downcast_index(index)).__name__
    print(
        f"[scale child] n={n} {config}: built {out['index_type']} in {out['build_s']} s, "
        f"RSS +{out['rss_delta_mib']:.0f} MiB",
        file=sys.stderr,
        flush=True,
    )
    with tempfile.TemporaryDirectory(dir=gt_path.parent) as tmpdir:
        p = Path(tmpdir) / "index.faiss"
        faiss.write_index(index, str(p))
        out["index_mib"] = round(p.stat().st_size / MiB, 1)
    out["param"], out["project_value"] = pname, default
    sweep = []
    for v in values:
        _set_param(index, pname, v)
        lat = np.empty(N_QUERIES)
        got = np.empty((N_QUERIES, 10), dtype=np.int64)
        index.search(xq[:20], 10)  # warm-up
        for i in range(N_QUERIES):
            t = time.perf_counter()
            _, ids = index.search(xq[i : i + 1], 10)
            lat[i] = time.perf_counter() - t
            got[i] = ids[0]
        recall = float(np.mean([len(set(gt[i]) & set(got[i])) / 10 for i in range(N_QUERIES)]))
        sweep.append(
            {
                "value": v,
                "recall@10": round(recall, 4),
                "p50_ms": round(float(np.percentile(lat, 50)) * 1000, 3),
                "p95_ms": round(float(np.percentile(lat, 95)) * 1000, 3),
                "mean_ms": round(float(lat.mean()) * 1000, 3),
            }
        )
        print(f"[scale child]   {pname}={v}: {sweep[-1]}", file=sys.stderr, flush=True)
    out["sweep"] = sweep
    out["peak_rss_mib"] = round(_maxrss_mib(), 1)
    return out


def _milvus_child(xb: Any, xq: Any, gt: Any, work: Path) -> dict[str, Any]:
    """Build the project's Milvus collection over ``xb`` in Milvus Lite and sweep ef."""
    import numpy as np

    from rag.index import milvus as mv

    n = len(xb)
    out: dict[str, Any] = {"index_type": "Milvus Lite HNSW"}
    with tempfile.TemporaryDirectory(dir=work) as tmpdir:
        m = mv.MilvusIndex(str(Path(tmpdir) / "scale.db"), "scale", DIM, dense_index="HNSW")
        gc.collect()
        rss0 = rss_mib()
        t0 = time.perf_counter()
        m.create(drop=True)
        rows = (mv.ClauseRow(id=str(i), dense=xb[i], sparse={}, seq=i) for i in range(n))
        m.upsert(rows, batch_size=2000)
        out["insert_s"] = round(time.perf_counter() - t0, 2)
        m.flush()
        m.dense_search(xq[0], 10)  # waits until the collection is loaded and indexed
        out["build_s"] = round(time.perf_counter() - t0, 2)
        rss1 = rss_mib()
        out["rss_before_mib"], out["rss_after_mib"] = round(rss0, 1), round(rss1, 1)
        out["rss_delta_mib"] = round(rss1 - rss0, 1)
        out["index_mib"] = round(
            sum(p.stat().st_size for p in Path(tmpdir).rglob("*") if p.is_file()) / MiB, 1
        )
        print(
            f"[scale child] n={n} milvus-lite: built in {out['build_s']} s "
            f"(insert {out['insert_s']} s), RSS +{out['rss_delta_mib']:.0f} MiB",
            file=sys.stderr,
            flush=True,
        )
        out["param"], out["project_value"] = "ef", mv.SEARCH_EF
        sweep = []
        old_ef = mv.SEARCH_EF
        try:
            for ef in MILVUS_EFS:
                mv.SEARCH_EF = ef
                lat = np.empty(N_QUERIES)
                got = np.empty((N_QUERIES, 10), dtype=np.int64)
                for i in range(N_QUERIES):
                    t = time.perf_counter()
                    hits = m.dense_search(xq[i], 10)
                    lat[i] = time.perf_counter() - t
                    ids = [int(h[0]) for h in hits] + [-1] * (10 - len(hits))
                    got[i] = ids[:10]
                recall = float(
                    np.mean([len(set(gt[i]) & set(got[i])) / 10 for i in range(N_QUERIES)])
                )
                sweep.append(
                    {
                        "value": ef,
                        "recall@10": round(recall, 4),
                        "p50_ms": round(float(np.percentile(lat, 50)) * 1000, 3),
                        "p95_ms": round(float(np.percentile(lat, 95)) * 1000, 3),
                        "mean_ms": round(float(lat.mean()) * 1000, 3),
                    }
                )
                print(f"[scale child]   ef={ef}: {sweep[-1]}", file=sys.stderr, flush=True)
        finally:
            mv.SEARCH_EF = old_ef
        m.close()
    out["sweep"] = sweep
    out["peak_rss_mib"] = round(_maxrss_mib(), 1)
    return out


def _maxrss_mib() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / MiB if sys.platform == "darwin" else r / 1024


# --------------------------------------------------------------------------- parent


def _run_child(spec: dict[str, Any]) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "rag.bench.scale", "--child", json.dumps(spec)]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(
            f"scale child {spec['config']} at n={spec['n']} failed ({proc.returncode})"
        )
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def meets(row: dict[str, Any], point: dict[str, Any]) -> bool:
    return (
        point["recall@10"] >= RECALL_TARGET
        and point["p50_ms"] <= LATENCY_TARGET_MS
        and row["rss_delta_mib"] <= MEMORY_TARGET_MIB
    )


def recommend(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The setting to use at the largest size: the project's when it meets every target,
    else the passing (index, parameter) with the least memory, then the lowest latency."""
    passing = []
    for row in rows:
        for p in row["sweep"]:
            if meets(row, p):
                passing.append((row, p))
    if not passing:
        return {"config": None, "reason": "no index setting met all three targets"}
    for row, p in passing:
        if row["config"] == "project" and p["value"] == row["project_value"]:
            return {
                "config": "project",
                "index_type": row["index_type"],
                "param": row["param"],
                "value": p["value"],
                "reason": "the project's default meets every target",
            }
    row, p = min(passing, key=lambda rp: (rp[0]["rss_delta_mib"], rp[1]["p50_ms"]))
    return {
        "config": row["config"],
        "index_type": row["index_type"],
        "param": row["param"],
        "value": p["value"],
        "reason": "least memory among the settings that meet every target",
    }


def run(ctx: Any) -> dict[str, Any]:
    s = ctx.settings
    sizes = SIZES[:1] if ctx.quick else SIZES
    scale_dir = ctx.cache_dir / "scale"
    scale_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "sizes": {},
        "generator": {
            "dim": DIM,
            "centroids": N_CENTROIDS,
            "alpha": ALPHA,
            "within": WITHIN,
            "mean_norm": MEAN_NORM,
            "seed": SEED,
            "queries": N_QUERIES,
        },
    }
    tables = []
    all_rows: dict[int, list[dict[str, Any]]] = {}
    for n in sizes:
        gt_path = scale_dir / f"gt-{n}-{gen_key(n)}.npy"
        base = {
            "n": n,
            "gt_path": str(gt_path),
            "faiss_kind": s.faiss_kind,
            "ann_threshold": s.ann_threshold,
            "candidates": s.candidates,
        }
        info_path = gt_path.with_suffix(".json")
        if gt_path.is_file() and info_path.is_file():
            gt_info = json.loads(info_path.read_text("utf-8"))
        else:
            log(f"scale: n={n}: exact ground truth …")
            gt_info = _run_child({**base, "config": "gt"})
        rows = []
        for config in CONFIGS:
            if config == "milvus-lite" and n > min(sizes):
                small = all_rows[min(sizes)]
                prev = next((r for r in small if r["config"] == config), None)
                projected = prev["build_s"] * n / prev["n"] if prev else None
                if projected is None or projected > MILVUS_1M_BUDGET_S:
                    reason = (
                        f"Milvus Lite at n={n:,} skipped: its build rate at "
                        f"n={min(sizes):,} projects {projected and round(projected)} s "
                        f"(more than the {MILVUS_1M_BUDGET_S:.0f} s budget)"
                    )
                    log("scale: " + reason)
                    results.setdefault("skipped", []).append(reason)
                    continue
            log(f"scale: n={n}: {config} …")
            rows.append(_run_child({**base, "config": config}))
        all_rows[n] = rows
        results["sizes"][str(n)] = {"ground_truth": gt_info, "indexes": rows}
        table_rows = []
        for row in rows:
            for p in row["sweep"]:
                dflt = " (project setting)" if p["value"] == row["project_value"] else ""
                table_rows.append(
                    [
                        f"{row['config']} ({row['index_type']})",
                        f"{row['build_s']:.0f}",
                        f"{row['index_mib']:.0f}",
                        f"{row['rss_delta_mib']:.0f}",
                        f"{row['param']}={p['value']}{dflt}" if row["param"] else "exact",
                        f"{p['recall@10']:.3f}",
                        f"{p['p50_ms']:.2f}",
                        f"{p['p95_ms']:.2f}",
                        "yes" if meets(row, p) else "no",
                    ]
                )
        tables.append(
            {
                "title": f"n = {n:,} vectors (dim {DIM}), 1000 held-out queries, k = 10",
                "columns": [
                    "index",
                    "build s",
                    "file MiB",
                    "RSS Δ MiB",
                    "search param",
                    "recall@10",
                    "p50 ms",
                    "p95 ms",
                    "meets 1M targets",
                ],
                "rows": table_rows,
            }
        )

    largest = max(sizes)
    rec = recommend(all_rows[largest])
    results["recommendation"] = {"n": largest, **rec}
    project = next(r for r in all_rows[largest] if r["config"] == "project")
    proj_point = next(
        (p for p in project["sweep"] if p["value"] == project["project_value"]), project["sweep"][0]
    )
    at_1m = largest >= 1_000_000

    def t(name: str, value: Any, limit: float, op: str, unit: str) -> dict[str, Any]:
        return target(name, value if at_1m else None, limit, op, unit)

    targets = [
        t("1M project index recall@10", proj_point["recall@10"], RECALL_TARGET, ">=", ""),
        t("1M project index p50", proj_point["p50_ms"], LATENCY_TARGET_MS, "<=", "ms"),
        t(
            "1M project index memory (RSS Δ)",
            project["rss_delta_mib"],
            MEMORY_TARGET_MIB,
            "<=",
            "MiB",
        ),
    ]
    real = None
    try:
        import numpy as np

        vec_path = s.index_dir / "vectors.npy"
        if vec_path.is_file():
            real = shape_stats(np.load(vec_path, allow_pickle=False))
    except (OSError, ValueError):
        real = None
    gt_shape = next(
        (v["ground_truth"]["shape"] for v in results["sizes"].values() if v["ground_truth"]), None
    )
    results["shape_real_index"] = real
    results["shape_synthetic"] = gt_shape
    notes = [
        f"Synthetic data: {N_CENTROIDS} centroids, spectrum i^-{ALPHA}, seed {SEED}; "
        "GT = exact IndexFlatIP. RSS Δ = resident memory added by building the index "
        "(data already loaded); 2 GB read as 2 GiB = 2048 MiB. Latency: one query per "
        "search call, faiss default threads.",
        f"Recommendation at n={largest:,}: "
        + (
            f"{rec['config']} ({rec.get('index_type')}) with {rec['param']}={rec['value']} — "
            f"{rec['reason']}."
            if rec.get("config")
            else rec["reason"] + "."
        ),
    ]
    if real and gt_shape:
        notes.append(
            "Shape check on 1023-vector samples (real clause index vs synthetic): mean "
            f"pairwise cosine {real['mean_pair_cos']} vs {gt_shape['mean_pair_cos']}, PCA "
            f"dims for 50%/90% variance {real['pca_dims_50']}/{real['pca_dims_90']} vs "
            f"{gt_shape['pca_dims_50']}/{gt_shape['pca_dims_90']}."
        )
    if not at_1m:
        notes.append("--quick: 100k only; the 1M targets were not measured.")
    notes.extend(results.get("skipped", []))
    notes.append(
        "milvus-lite: the Milvus backend's collection in Milvus Lite (embedded, one process); "
        "build = upsert + flush + index, latency = one search request through pymilvus "
        "(so it includes the client/server round trip that a Milvus server would also have)."
    )
    return {
        "params": {
            "sizes": list(sizes),
            "configs": list(CONFIGS),
            "faiss_kind": s.faiss_kind,
            "ann_threshold": s.ann_threshold,
            "candidates": s.candidates,
        },
        "results": results,
        "tables": tables,
        "targets": targets,
        "notes": notes,
    }


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(_child(json.loads(sys.argv[2]))))
    else:
        sys.exit("usage: python -m rag.bench.scale --child SPEC_JSON")
