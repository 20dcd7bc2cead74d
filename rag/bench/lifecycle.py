"""Section ``lifecycle``: adding, replacing and removing one document, index update included.

Each operation runs through :mod:`rag.index.lifecycle` exactly as ``rag remove DOC`` and
``rag ingest FILE`` run it — write lock, recovery check, store temp file, incremental index
build (only changed clauses embedded), commit journal, link swap — on a copy of the corpus
and index in a temporary home:

* **remove** the document (nothing to embed: the index is rebuilt without its clauses);
* **add** it back from its file (its clauses are embedded);
* **replace** it by an edited version from another path (one clause edited: one embedded).

With the FakeEmbedder always, and with the settings' model when ``$RAG_HOME/index`` was
built with it (copied, not rebuilt: that is the cheap case). The whole cycle is repeated
(3 times, 1 with ``--quick``) and the median reported.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any

from rag.bench.build import pick_document
from rag.bench.common import Stopwatch, log, target
from rag.bench.context import Context

EDIT = "此条已修订。"
OPS = ("remove", "add", "replace")
TARGET_S = 5.0  # one document, FakeEmbedder: a clerk waits for this


def _edited_copy(src: Path, doc: Any, out: Path) -> Path:
    """``src`` with one sentence added to the end of the document's middle clause."""
    lines = src.read_text(encoding="utf-8").split("\n")
    clause = doc.clauses[len(doc.clauses) // 2]
    n = clause.span.end_line - 1
    lines[n] = lines[n].rstrip() + EDIT
    path = out / f"edited_{src.name}"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _cycle(s: Any, doc: Any, src: Path, edited: Path, embedder: Any) -> dict[str, Any]:
    from rag.index.lifecycle import ingest_files, remove

    out: dict[str, Any] = {}
    with Stopwatch() as sw:
        outcome, _ = remove(s, doc.key, embedder=embedder)
    out["remove"] = (sw.seconds, outcome.index)
    with Stopwatch() as sw:
        outcome, _ = ingest_files(s, [src], embedder=embedder)
    out["add"] = (sw.seconds, outcome.index)
    with Stopwatch() as sw:
        outcome, [summary] = ingest_files(s, [edited], embedder=embedder)
    if summary.replaced != [doc.key]:
        raise RuntimeError(f"the edited file did not replace {doc.key}: {summary.to_json()}")
    out["replace"] = (sw.seconds, outcome.index)
    # back to the original for the next round (not timed)
    ingest_files(s, [src], embedder=embedder)
    return out


def _measure(
    ctx: Context,
    name: str,
    home: Path,
    doc: Any,
    src: Path,
    edited: Path,
    embedder: Any,
    repeats: int,
) -> dict[str, Any]:
    s = ctx.settings.model_copy(update={"home": home})
    runs = [_cycle(s, doc, src, edited, embedder) for _ in range(repeats)]
    res: dict[str, Any] = {}
    for op in OPS:
        secs = [r[op][0] for r in runs]
        reps = [r[op][1] for r in runs if r[op][1] is not None]
        rep = reps[-1] if reps else None
        res[op] = {
            "median_s": round(statistics.median(secs), 3),
            "runs_s": [round(x, 3) for x in secs],
            "embedded": rep.n_embedded if rep else None,
            "index_clauses": rep.n_total if rep else None,
            "index_build_s": (
                round(statistics.median(r.seconds for r in reps), 3) if reps else None
            ),
        }
        log(f"lifecycle [{name}] {op}: {res[op]['median_s']:.2f} s, {res[op]['embedded']} embedded")
    return res


def run(ctx: Context) -> dict[str, Any]:
    from rag.index import versions
    from rag.index.embedders import FakeEmbedder, embedder_from_settings
    from rag.index.store import build_index, read_manifest
    from rag.ingest import store
    from rag.settings import SHIPPED_CORPUS

    s = ctx.settings
    corpus = ctx.corpus()
    doc = pick_document(corpus)
    src = next(iter(SHIPPED_CORPUS.rglob(doc.source)), None)
    if src is None:
        raise RuntimeError(f"{doc.source} is not a shipped corpus file")
    repeats = 1 if ctx.quick else 3
    results: dict[str, Any] = {"document": doc.key, "source": doc.source}
    notes = [
        f"Document: {doc.key} ({doc.source}, {len(doc.clauses)} clauses, the external "
        f"document with the median clause count); replaced by a copy from another path "
        f"with one sentence added to one clause. Median of {repeats} cycle(s).",
    ]
    work = ctx.cache_dir
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lifecycle-", dir=work) as tmp:
        root = Path(tmp)
        edited = _edited_copy(src, doc, root)
        fake_home = root / "fake"
        fake_home.mkdir()
        store.save(corpus, fake_home / "corpus.sqlite")
        fake = FakeEmbedder()
        log("lifecycle: cold fake index (not timed) …")
        build_index(
            corpus.clauses(),
            fake,
            fake_home / "index",
            documents=corpus.printed(),
            progress=False,
            faiss_kind=s.faiss_kind,
            ann_threshold=s.ann_threshold,
        )
        results["fake"] = _measure(ctx, "fake", fake_home, doc, src, edited, fake, repeats)

        model = None
        current = versions.current(s.index_dir)
        if current is not None and s.embedder.strip().lower() != "fake":
            model = embedder_from_settings(s)
            if read_manifest(current)["embedder"]["name"] != model.name:
                model = None
        if model is not None and current is not None:
            real_home = root / "real"
            real_home.mkdir()
            shutil.copy2(s.corpus_db, real_home / "corpus.sqlite")
            link = real_home / "index"
            copy = versions.versions_root(link) / current.name
            shutil.copytree(current, copy)
            versions.point(link, copy)
            model.embed_queries(["预热"])  # model load is not part of the operation
            results["model"] = _measure(
                ctx, model.name, real_home, doc, src, edited, model, repeats
            )
            results["model_name"] = model.name
        else:
            notes.append(
                "Settings' model skipped: no index built with it in $RAG_HOME "
                "(run `rag ingest && rag index` first)."
            )
    rows = []
    for key, label in (("fake", "FakeEmbedder"), ("model", results.get("model_name", ""))):
        if key not in results:
            continue
        for op in OPS:
            r = results[key][op]
            rows.append(
                [
                    label,
                    op,
                    f"{r['median_s']:.2f}",
                    "–" if r["index_build_s"] is None else f"{r['index_build_s']:.2f}",
                    str(r["embedded"]),
                    str(r["index_clauses"]),
                ]
            )
    notes.append(
        "Most of an update is spent outside the embedder: every build re-tokenises all "
        "clauses with jieba for BM25 (about 85% of a FakeEmbedder update, profiled)."
    )
    return {
        "params": {"repeats": repeats, "document": doc.key},
        "results": results,
        "tables": [
            {
                "title": "One document: remove, add, replace (index update included)",
                "columns": [
                    "embedder",
                    "operation",
                    "seconds",
                    "of which index",
                    "embedded",
                    "index clauses",
                ],
                "rows": rows,
            }
        ],
        "targets": [
            target(
                "add one document (FakeEmbedder)",
                results["fake"]["add"]["median_s"],
                TARGET_S,
                "<=",
                "s",
            )
        ],
        "notes": notes,
    }
