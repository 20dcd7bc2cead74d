"""Section ``retrieval``: recall@k and MRR@10 of the gold clauses, system vs naive chunks.

Rows: the assistant's search (hybrid + explicit 文号/条 look-up + single-document filter,
what ``rag search`` does), the bare hybrid retriever (RRF of dense and BM25 at the
settings' weights), dense only, BM25 only, and the naive baseline (500-character chunks,
dense, see :mod:`rag.bench.naive`). Clause rows are scored with
:func:`rag.eval.metrics.retrieval_scores` (lenient: same article or same top outline item).
"""

from __future__ import annotations

from typing import Any

from rag.bench.common import log, mean
from rag.bench.context import Context

DEPTH = 10
METRIC_NAMES = ("retrieval_recall@3", "retrieval_recall@5", "retrieval_recall@10", "mrr@10")


def _ci(values: list[float]) -> list[float | None]:
    from rag.eval.metrics import bootstrap_ci

    lo, hi = bootstrap_ci(values)
    return [None if lo is None else round(lo, 4), None if hi is None else round(hi, 4)]


def run(ctx: Context) -> dict[str, Any]:
    from rag.answer.service import Assistant
    from rag.bench.naive import (
        coverable,
        first_cover_ranks,
        gold_targets,
        rank_scores,
        top_chunks,
    )
    from rag.eval.metrics import Ref, retrieval_scores
    from rag.retrieve.hybrid import Retriever

    s = ctx.settings
    items = [it for it in ctx.gold() if it.answerable]
    index = ctx.index()
    emb = ctx.query_cache()
    assistant = Assistant(s, embedder=emb, index=index)

    def retr(dense_w: float, bm25_w: float) -> Retriever:
        return Retriever(
            index,
            emb if dense_w > 0 else None,
            rrf_k=s.rrf_k,
            dense_weight=dense_w,
            bm25_weight=bm25_w,
            candidates=s.candidates,
        )

    methods: dict[str, Any] = {
        "system (rag search)": assistant.search,
        f"hybrid (dense {s.dense_weight:g} + bm25 {s.bm25_weight:g})": retr(
            s.dense_weight, s.bm25_weight
        ).search,
        "dense only": retr(1.0, 0.0).search,
        "bm25 only": retr(0.0, 1.0).search,
    }
    per_method: dict[str, list[dict[str, float | None]]] = {m: [] for m in methods}
    per_item: list[dict[str, Any]] = []

    chunks, norms, vectors, _texts = ctx.naive()
    naive_name = "naive 500-char chunks (dense)"
    per_method[naive_name] = []
    clauses = index.clauses
    uncoverable = 0
    n_targets = 0
    from tqdm import tqdm

    for it in tqdm(items, desc="retrieval", unit="q", leave=False):
        gold = [Ref.of(c.doc_no, c.title, c.clause) for c in it.citations]
        row: dict[str, Any] = {"id": it.id}
        for name, search in methods.items():
            hits = search(it.question, k=DEPTH)
            refs = [Ref.of(h.clause.doc_no, h.clause.doc_title, h.clause.label) for h in hits]
            sc = retrieval_scores(refs, gold)
            per_method[name].append(sc)
            row[name] = sc["mrr@10"]
        targets = gold_targets(gold, clauses)
        qv = emb.embed_queries([it.question])[0]
        ranked = top_chunks(vectors, qv, DEPTH)
        ranks = first_cover_ranks(ranked, chunks, norms, targets)
        sc = rank_scores(ranks)
        per_method[naive_name].append(sc)
        row[naive_name] = sc["mrr@10"]
        n_targets += len(targets)
        uncoverable += sum(1 for t in targets if not coverable(t, chunks, norms))
        per_item.append(row)

    summary: dict[str, dict[str, Any]] = {}
    for name, scores in per_method.items():
        m: dict[str, Any] = {}
        for metric in METRIC_NAMES:
            vals = [v for sc in scores if (v := sc.get(metric)) is not None]
            m[metric] = None if not vals else round(mean(vals) or 0.0, 4)
            if metric in ("retrieval_recall@3", "mrr@10"):
                m[f"{metric}_ci95"] = _ci(vals)
        m["n"] = len(scores)
        summary[name] = m
    log(
        "retrieval: " + ", ".join(f"{k}: R@3 {v['retrieval_recall@3']}" for k, v in summary.items())
    )

    def cell(name: str, metric: str) -> str:
        v = summary[name][metric]
        ci = summary[name].get(f"{metric}_ci95")
        if v is None:
            return "–"
        if ci and ci[0] is not None:
            return f"{v:.3f} [{ci[0]:.2f}, {ci[1]:.2f}]"
        return f"{v:.3f}"

    rows = [
        [
            name,
            cell(name, "retrieval_recall@3"),
            cell(name, "retrieval_recall@5"),
            cell(name, "retrieval_recall@10"),
            cell(name, "mrr@10"),
        ]
        for name in summary
    ]
    reachable = 1 - uncoverable / n_targets if n_targets else None
    notes = [
        f"{len(items)} answerable dev items, {n_targets} distinct gold citations; "
        "95% bootstrap CIs in brackets.",
        "Clause rows: lenient match (same article or same top outline item, `same_top_unit`).",
        "Naive row: a chunk counts for a gold clause when it comes from the same file and "
        "shares a run of consecutive normalised characters (40, or half of a clause shorter "
        "than 80) with a clause the lenient rule accepts (generous to the baseline).",
        f"Gold citations reachable by some naive chunk at all: {reachable:.3f}."
        if reachable is not None
        else "",
        "The system row adds the explicit-reference look-up (文号/条 pinned first) and the "
        "single-document filter on top of the hybrid retriever.",
    ]
    return {
        "params": {
            "depth": DEPTH,
            "rrf_k": s.rrf_k,
            "candidates": s.candidates,
            "dense_weight": s.dense_weight,
            "bm25_weight": s.bm25_weight,
            "embedder": index.embedder_name,
            "index_clauses": len(index),
            "naive_chunks": len(chunks),
            "naive_chunk_chars": 500,
            "n_items": len(items),
        },
        "results": {"methods": summary, "naive_reachable": reachable, "per_item_mrr": per_item},
        "tables": [
            {
                "title": f"Retrieval on {ctx.gold_path.stem} (answerable items)",
                "columns": ["method", "recall@3", "recall@5", "recall@10", "MRR@10"],
                "rows": rows,
            }
        ],
        "targets": [],
        "notes": [n for n in notes if n],
    }
