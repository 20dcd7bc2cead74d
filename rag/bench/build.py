"""Section ``build``: index build time next to the raw embedding time of the same texts
(clauses and answer units).

* raw engine: ``embedder.embed_passages(texts)`` on exactly the texts ``build_index``
  embeds (``embed_text`` of every clause), no index (run before and after the build when
  not ``--quick``; the mean is the reference);
* cold build: ``build_index(..., rebuild=True)`` into an empty temporary directory, with
  the time spent inside the embedder recorded separately (the rest is overhead: hashing,
  jieba + BM25, faiss, writing and checksumming the files);
* unchanged: the same clauses built again into that directory (nothing to embed);
* incremental: the same directory rebuilt without one external document (nothing to
  embed), then with it again: only that document's clauses are embedded.

The model is loaded and warmed up before anything is timed; its load time is reported.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from rag.bench.common import Stopwatch, TimingEmbedder, load_average, log, target
from rag.bench.context import Context

RATIO_TARGET = 1.2
INCREMENTAL_TARGET_S = 5.0


def pick_document(corpus: Any) -> Any:
    """The external (non-gazette) document with the median number of clauses."""
    from rag.ingest.pipeline import shipped_files
    from rag.settings import SHIPPED_CORPUS

    external = {p.name for p in shipped_files(SHIPPED_CORPUS) if p.parent.name == "external"}
    docs = [d for d in corpus.printed() if d.source in external and d.clauses]
    if not docs:
        docs = [d for d in corpus.printed() if d.clauses]
    docs.sort(key=lambda d: (len(d.clauses), d.key))
    return docs[len(docs) // 2]


def run(ctx: Context) -> dict[str, Any]:
    from rag.index.embedders import embedder_from_settings
    from rag.index.store import build_index, clause_units, embed_text, unit_embed_text
    from rag.ingest import store
    from rag.ingest.pipeline import parse_file
    from rag.settings import SHIPPED_CORPUS

    s = ctx.settings
    corpus = ctx.corpus()
    clauses = corpus.clauses()
    docs = corpus.printed()
    clause_texts = [embed_text(c) for c in clauses]
    # the answer units are embedded too (a text met twice once, as build_index does)
    unit_texts = [unit_embed_text(u) for pos, c in enumerate(clauses) for u in clause_units(c, pos)]
    texts = list(dict.fromkeys(clause_texts + unit_texts))
    n_units = len(unit_texts)
    n_chars = sum(len(t) for t in texts)
    log(f"build: {len(clauses)} clauses + {n_units} units, {n_chars} characters to embed")

    embedder = embedder_from_settings(s)
    with Stopwatch() as load_sw:
        embedder.embed_queries(["预热"])
    embedder.embed_passages(texts[:16])  # warm-up: first batches allocate scratch buffers

    raws: list[float] = []
    loads: list[Any] = []

    def raw() -> None:
        log("build: raw embedding of the same texts …")
        loads.append(load_average())
        with Stopwatch() as sw:
            embedder.embed_passages(texts)
        raws.append(sw.seconds)
        log(f"build: raw embedding {sw.seconds:.1f} s")

    raw()
    timing = TimingEmbedder(embedder)
    work = ctx.cache_dir
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="build-", dir=work) as tmp:
        index_dir = Path(tmp) / "index"
        log("build: cold build …")
        loads.append(load_average())
        with Stopwatch() as sw:
            cold = build_index(
                clauses,
                timing,
                index_dir,
                rebuild=True,
                faiss_kind=s.faiss_kind,
                progress=False,
                documents=docs,
                ann_threshold=s.ann_threshold,
            )
        build_s, build_embed_s = sw.seconds, timing.seconds
        log(f"build: cold build {build_s:.1f} s ({build_embed_s:.1f} s embedding)")
        # the same corpus again: every vector is reused from the index just built
        timing.reset()
        with Stopwatch() as sw_same:
            same = build_index(
                clauses,
                timing,
                index_dir,
                faiss_kind=s.faiss_kind,
                progress=False,
                documents=docs,
                ann_threshold=s.ann_threshold,
            )
        log(f"build: unchanged rebuild {sw_same.seconds:.2f} s, {same.n_embedded} embedded")
        if not ctx.quick:
            raw()

        doc = pick_document(corpus)
        minus = [c for c in clauses if c.doc_key != doc.key]
        timing.reset()
        with Stopwatch() as sw_rm:
            removed = build_index(
                minus,
                timing,
                index_dir,
                faiss_kind=s.faiss_kind,
                progress=False,
                documents=docs,
                ann_threshold=s.ann_threshold,
            )
        timing.reset()
        loads.append(load_average())
        with Stopwatch() as sw_inc:
            inc = build_index(
                clauses,
                timing,
                index_dir,
                faiss_kind=s.faiss_kind,
                progress=False,
                documents=docs,
                ann_threshold=s.ann_threshold,
            )
        inc_embed_s, inc_chars = timing.seconds, timing.n_chars
        log(
            f"build: incremental +{doc.key}: {sw_inc.seconds:.2f} s, "
            f"{inc.n_embedded} embedded ({inc_embed_s:.2f} s embedding)"
        )

        # the ingestion half of `rag ingest FILE`: parse the file, rewrite the store
        src = next((p for p in SHIPPED_CORPUS.rglob(doc.source)), None)
        parse_s = save_s = None
        if src is not None:
            with Stopwatch() as sw_parse:
                parse_file(src)
            parse_s = sw_parse.seconds
            with Stopwatch() as sw_save:
                store.save(corpus, Path(tmp) / "corpus.sqlite")
            save_s = sw_save.seconds

    raw_s = sum(raws) / len(raws)
    ratio = build_s / raw_s if raw_s else None
    results: dict[str, Any] = {
        "n_clauses": len(clauses),
        "n_units": n_units,
        "n_chars": n_chars,
        "model_load_s": round(load_sw.seconds, 3),
        "raw_embed_s": [round(x, 3) for x in raws],
        "raw_embed_mean_s": round(raw_s, 3),
        "cold_build_s": round(build_s, 3),
        "cold_build_embed_s": round(build_embed_s, 3),
        "cold_build_overhead_s": round(build_s - build_embed_s, 3),
        "build_over_raw": None if ratio is None else round(ratio, 3),
        "raw_ms_per_char": round(raw_s * 1000 / n_chars, 4),
        "build_ms_per_char": round(build_s * 1000 / n_chars, 4),
        "raw_clauses_per_s": round(len(clauses) / raw_s, 2),
        "faiss_kind": cold.faiss_kind,
        "cold_units_embedded": cold.n_units_embedded,
        "unchanged_rebuild_s": round(sw_same.seconds, 3),
        "unchanged_rebuild_embedded": same.n_embedded + same.n_units_embedded,
        "incremental": {
            "document": doc.key,
            "source": doc.source,
            "doc_clauses": len(doc.clauses),
            "remove_s": round(sw_rm.seconds, 3),
            "remove_embedded": removed.n_embedded,
            "add_s": round(sw_inc.seconds, 3),
            "add_embedded": inc.n_embedded,
            "add_reused": inc.n_reused,
            "add_embed_s": round(inc_embed_s, 3),
            "add_overhead_s": round(sw_inc.seconds - inc_embed_s, 3),
            "add_embedded_chars": inc_chars,
            "parse_file_s": None if parse_s is None else round(parse_s, 3),
            "store_save_s": None if save_s is None else round(save_s, 3),
        },
        "load_avg_at_steps": loads,
    }
    r = results
    i: dict[str, Any] = r["incremental"]
    rows_main = [
        ["model load (first query)", f"{r['model_load_s']:.2f}", "", ""],
        ["raw embed_passages (no index)", f"{raw_s:.1f}", f"{r['raw_ms_per_char']:.3f}", "1.00"],
        [
            "cold build_index (rebuild)",
            f"{build_s:.1f}",
            f"{r['build_ms_per_char']:.3f}",
            f"{ratio:.2f}" if ratio else "–",
        ],
        ["… of which embedding", f"{build_embed_s:.1f}", "", ""],
        ["… of which the rest (BM25, faiss, files)", f"{build_s - build_embed_s:.1f}", "", ""],
        [
            f"rebuild, unchanged corpus ({r['unchanged_rebuild_embedded']} embedded)",
            f"{sw_same.seconds:.1f}",
            "",
            "",
        ],
    ]
    rows_inc = [
        ["remove the document (0 to embed)", f"{i['remove_s']:.2f}", str(i["remove_embedded"])],
        ["add it back (build_index)", f"{i['add_s']:.2f}", str(i["add_embedded"])],
        ["… of which embedding", f"{i['add_embed_s']:.2f}", ""],
        ["… of which the rest", f"{i['add_overhead_s']:.2f}", ""],
        ["parse the file (ingest)", "–" if parse_s is None else f"{parse_s:.2f}", ""],
        ["rewrite the corpus store", "–" if save_s is None else f"{save_s:.2f}", ""],
    ]
    notes = [
        f"{len(clauses)} clauses and {n_units} answer units, {len(texts)} distinct texts, "
        f"{n_chars} characters embedded (texts from `embed_text` and `unit_embed_text`).",
        "Unchanged rebuild: `build_index` on the index just built, the same clauses "
        "(what `rag index` does when nothing changed; its vectors are all reused).",
        "raw = mean of the runs before and after the build"
        if len(raws) > 1
        else "raw = one run before the build (--quick)",
        f"Incremental document: {doc.key} ({doc.source}, {len(doc.clauses)} clauses, the "
        "external document with the median clause count).",
    ]
    return {
        "params": {"faiss_kind": s.faiss_kind, "embedder": embedder.name, "quick": ctx.quick},
        "results": results,
        "tables": [
            {
                "title": "Cold build vs raw embedding (same texts)",
                "columns": ["step", "seconds", "ms/char", "× raw"],
                "rows": rows_main,
            },
            {
                "title": f"Incremental: one document ({doc.key}, {len(doc.clauses)} clauses)",
                "columns": ["step", "seconds", "embedded"],
                "rows": rows_inc,
            },
        ],
        "targets": [
            target(
                "cold build / raw embedding",
                None if ratio is None else round(ratio, 3),
                RATIO_TARGET,
                "<=",
                "×",
            ),
            target("add one document", round(sw_inc.seconds, 3), INCREMENTAL_TARGET_S, "<=", "s"),
            target(
                "vectors embedded by an unchanged rebuild",
                results["unchanged_rebuild_embedded"],
                0,
                "<=",
                "",
            ),
        ],
        "notes": notes,
    }
