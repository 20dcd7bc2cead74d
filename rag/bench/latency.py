"""Section ``latency``: ``rag search`` and extractive ``ask`` per question, after loading.

For every dev question (all of them, answerable or not), in one process with the
assistant loaded and warmed up:

* ``search``: wall time of ``Assistant.search(q, k)`` (what ``rag search`` and the API do
  after start-up);
* stages, each timed on its own call right after: query embedding
  (``embed_queries``), dense search (the faiss index, unfiltered, ``candidates`` deep),
  BM25 (``Retriever.bm25``: jieba tokens + scoring + top-n), fusion (``search_detailed``
  with the dense and BM25 lists given, so only look-up, RRF and sorting are timed);
* ``ask``: ``Assistant.ask(q, mode="extractive")``; its own ``timings_ms`` (retrieve,
  answer, total) are reported;
* ``ask (long calls)``: the same on the long first-person calls of
  ``eval/gold/hotline1.jsonl`` (30 characters or more), the questions issue 12 is about.
"""

from __future__ import annotations

import time
from typing import Any

from rag.bench.common import Stopwatch, fmt, latency_summary, log, target
from rag.bench.context import Context

WARMUP = 5
SEARCH_P50_MS = 30.0
ASK_P50_MS = 50.0
ASK_P95_MS = 150.0
LONG_P50_MS = 60.0
LONG_P95_MS = 200.0
LONG_CALLS = 30  # characters


def run(ctx: Context) -> dict[str, Any]:
    import numpy as np

    from rag.answer.service import Assistant
    from rag.retrieve.hybrid import Retriever

    s = ctx.settings
    ctx.ensure_index()
    questions = [it.question for it in ctx.gold()]
    with Stopwatch() as sw_load:
        a = Assistant(s)
    with Stopwatch() as sw_first:
        a.search(questions[0], k=s.k)
    log(
        f"latency: assistant loaded in {sw_load.seconds:.2f} s, "
        f"first search {sw_first.seconds:.2f} s"
    )
    for q in questions[:WARMUP]:
        a.search(q, k=s.k)
        a.ask(q, mode="extractive")

    r = a.retriever
    fusion_r = Retriever(
        a.index,
        a.embedder,
        rrf_k=r.rrf_k,
        dense_weight=r.dense_weight,
        bm25_weight=r.bm25_weight,
        candidates=r.candidates,
        lookup=r.lookup,
    )
    n_cand = max(r.candidates, s.k)
    findex = a.index.faiss_index
    stages: dict[str, list[float]] = {
        "search": [],
        "embed_query": [],
        "dense_search": [],
        "bm25": [],
        "fusion": [],
    }
    ask_t: dict[str, list[float]] = {"retrieve": [], "answer": [], "total": [], "wall": []}
    refused = 0
    from tqdm import tqdm

    for q in tqdm(questions, desc="latency", unit="q", leave=False):
        t0 = time.perf_counter()
        a.search(q, k=s.k)
        stages["search"].append((time.perf_counter() - t0) * 1000)

        t0 = time.perf_counter()
        qv = a.embedder.embed_queries([q]).astype(np.float32, copy=False)
        stages["embed_query"].append((time.perf_counter() - t0) * 1000)

        t0 = time.perf_counter()
        scores, ids = findex.search(qv, min(n_cand, len(a.index)))
        stages["dense_search"].append((time.perf_counter() - t0) * 1000)
        dense = [(int(i), float(sc)) for i, sc in zip(ids[0], scores[0], strict=True) if i >= 0]
        dense.sort(key=lambda p: (-p[1], p[0]))

        t0 = time.perf_counter()
        sparse = r.bm25(q, n_cand)
        stages["bm25"].append((time.perf_counter() - t0) * 1000)

        fusion_r.dense = lambda *_a, _d=dense, **_k: _d  # type: ignore[method-assign]
        fusion_r.bm25 = lambda *_a, _b=sparse, **_k: _b  # type: ignore[method-assign]
        t0 = time.perf_counter()
        fusion_r.search_detailed(q.strip(), s.k)
        stages["fusion"].append((time.perf_counter() - t0) * 1000)

        t0 = time.perf_counter()
        ans = a.ask(q, mode="extractive")
        ask_t["wall"].append((time.perf_counter() - t0) * 1000)
        for key in ("retrieve", "answer", "total"):
            ask_t[key].append(float(ans.timings_ms.get(key, 0.0)))
        refused += int(ans.refused)

    from rag.eval.gold import read_gold
    from rag.settings import PROJECT_ROOT

    calls = [
        it.question
        for it in read_gold(PROJECT_ROOT / "eval" / "gold" / "hotline1.jsonl")
        if len(it.question) >= LONG_CALLS
    ]
    long_t: list[float] = []
    for q in tqdm(calls, desc="latency (long calls)", unit="q", leave=False):
        ans = a.ask(q, mode="extractive")
        long_t.append(float(ans.timings_ms.get("total", 0.0)))
    lt = latency_summary(long_t)

    st = {k: latency_summary(v) for k, v in stages.items()}
    at = {k: latency_summary(v) for k, v in ask_t.items()}
    log(
        f"latency: search p50 {st['search']['p50']} ms, ask p50 {at['total']['p50']} ms, "
        f"p95 {at['total']['p95']} ms"
    )
    names = {
        "search": f"rag search (Assistant.search, k={s.k})",
        "embed_query": "… query embedding",
        "dense_search": f"… dense search (faiss {a.index.manifest.get('faiss_kind')})",
        "bm25": "… BM25 (tokenise + score + top-n)",
        "fusion": "… look-up + RRF fusion",
    }

    def ms(stat: dict[str, Any]) -> list[str]:
        return [fmt(stat[key], 2) for key in ("p50", "p95", "mean", "max")]

    rows = [[names[k], *ms(v)] for k, v in st.items()]
    ask_names = {
        "total": "ask total (timings_ms)",
        "retrieve": "… retrieve",
        "answer": "… extractive answer",
        "wall": "ask wall time (outside)",
    }
    rows_ask = [[ask_names[k], *ms(at[k])] for k in ("total", "retrieve", "answer", "wall")]
    rows_ask.append(
        [f"ask total, {len(calls)} long calls (hotline1, ≥ {LONG_CALLS} chars)", *ms(lt)]
    )
    cols = ["stage", "p50 ms", "p95 ms", "mean ms", "max ms"]
    return {
        "params": {
            "n_questions": len(questions),
            "warmup": WARMUP,
            "k": s.k,
            "candidates": n_cand,
            "faiss_kind": a.index.manifest.get("faiss_kind"),
            "n_clauses": len(a.index),
            "embedder": a.embedder.name,
        },
        "results": {
            "load_s": round(sw_load.seconds, 3),
            "first_search_s": round(sw_first.seconds, 3),
            "search_ms": st,
            "ask_ms": at,
            "ask_long_calls_ms": lt,
            "ask_refused": refused,
        },
        "tables": [
            {"title": "rag search", "columns": cols, "rows": rows},
            {"title": "ask (extractive)", "columns": cols, "rows": rows_ask},
        ],
        "targets": [
            target("search p50", st["search"]["p50"], SEARCH_P50_MS, "<=", "ms"),
            target("ask p50", at["total"]["p50"], ASK_P50_MS, "<=", "ms"),
            target("ask p95", at["total"]["p95"], ASK_P95_MS, "<=", "ms"),
            target("ask p50, long calls", lt["p50"], LONG_P50_MS, "<=", "ms"),
            target("ask p95, long calls", lt["p95"], LONG_P95_MS, "<=", "ms"),
        ],
        "notes": [
            f"{len(questions)} dev questions, one pass after {WARMUP} warm-up questions; "
            f"assistant load {sw_load.seconds:.2f} s, first search (model load) "
            f"{sw_first.seconds:.2f} s.",
            "Stage rows are separate calls on the same question, so they need not add up to "
            "the search row (which also includes validation and the 文号 filter).",
        ],
    }
