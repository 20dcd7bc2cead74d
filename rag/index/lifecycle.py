"""Corpus changes applied to the store and the index together, one writer at a time.

Every writer — ``rag ingest``, ``rag remove``, ``rag index``, an upload or a retirement
through the API or the web app — goes through :func:`apply` (or :func:`reindex`):

1. take the home's write lock (:mod:`rag.locks`) and :func:`recover` whatever a writer
   that died left behind;
2. load the store, apply the change (:mod:`rag.ingest.changes`), write the new store to a
   temp file;
3. when an index exists, build its new version from the new corpus — only clauses whose
   text changed are embedded — without making it current yet;
4. commit: write a journal (``$RAG_HOME/.commit.json``) naming the new store file and the
   new index version, rename the store in, point the ``index`` link at the new version,
   delete the journal.

A crash before the journal is written leaves the old store and the old index (the next
writer removes the temp files); a crash after it is rolled forward by the next writer, the
next server start or request, or the next ``rag search``/``rag ask``. So the store and the
index change together: a removed document's clauses leave the index in the same commit.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from rag.errors import CorpusError, IndexError_, RagError
from rag.faults import fault
from rag.home import JOURNAL
from rag.home import needs_recovery as _needs_recovery
from rag.index import versions
from rag.index.embedders import Embedder, embedder_from_settings
from rag.index.store import BuildReport, build_index, read_manifest
from rag.ingest import store
from rag.ingest.changes import FileSummary, add_parsed, remove_document
from rag.ingest.pipeline import ingest, parse_file
from rag.ingest.store import Corpus
from rag.locks import pid_alive, try_write_lock, write_lock
from rag.models import Document
from rag.settings import Settings

T = TypeVar("T")


@dataclass
class Outcome:
    """What one change did: the corpus after it, and the index update (or why none)."""

    corpus: Corpus
    changed: bool
    index: BuildReport | None = None
    index_note: str = ""
    recovered: list[str] = field(default_factory=list)
    # the corpus the change was applied to (what a replaced document was)
    before: Corpus | None = None
    # the format of the store read, when it was older (written in the current one)
    upgraded_from: int | None = None

    def index_line(self) -> str:
        """One line for the CLI: the index update, or why there was none."""
        if self.index is not None:
            r = self.index
            return (
                f"index: {r.n_total} clauses ({r.n_embedded} embedded, {r.n_reused} reused), "
                f"{r.n_units} answer units ({r.n_units_embedded} embedded) "
                f"in {r.seconds:.1f}s -> {r.index_dir}"
            )
        return self.index_note

    def index_json(self) -> dict[str, Any] | None:
        return None if self.index is None else self.index.to_json()


# --------------------------------------------------------------------------- commit


def _fsync_dir(path: Path) -> None:
    with suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_journal(home: Path, data: dict[str, Any]) -> Path:
    path = home / JOURNAL
    tmp = home / f"{JOURNAL}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(home)
    return path


def _commit(
    s: Settings, store_tmp: Path | None, version: Path | None, *, drop_index: bool = False
) -> None:
    """Make the new store file and the new index version current, crash-safely."""
    journal = _write_journal(
        s.home,
        {
            "pid": os.getpid(),
            "store_tmp": store_tmp.name if store_tmp else None,
            "index_version": version.name if version else None,
            "drop_index": drop_index,
        },
    )
    fault("commit:journal-written")
    _finish(s, store_tmp, version, drop_index)
    journal.unlink()
    _fsync_dir(s.home)
    fault("commit:done")


def _finish(s: Settings, store_tmp: Path | None, version: Path | None, drop_index: bool) -> None:
    # every step may already be done (a roll-forward after a crash half-way): skip it then
    if store_tmp is not None and store_tmp.exists():
        os.replace(store_tmp, s.corpus_db)
        _fsync_dir(s.home)
    fault("commit:store-replaced")
    link = s.index_dir
    if version is not None and versions.current(link) != version.resolve():
        versions.point(link, version)
    elif drop_index and versions.current(link) is not None:
        versions.drop(link)
    fault("commit:index-swapped")


def _roll_forward(s: Settings) -> list[str]:
    path = s.home / JOURNAL
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text("utf-8"))
        store_name = data.get("store_tmp")
        version_name = data.get("index_version")
        drop = bool(data.get("drop_index"))
    except (OSError, ValueError, AttributeError):
        path.unlink()  # written by tmp + rename, so never half: unreadable means not ours
        return [f"unreadable {JOURNAL} removed"]
    store_tmp = s.home / store_name if store_name else None
    version = versions.versions_root(s.index_dir) / version_name if version_name else None
    if version is not None and not (version / versions.MANIFEST).is_file():
        version = None
    _finish(s, store_tmp, version, drop)
    path.unlink()
    _fsync_dir(s.home)
    return ["completed the change a stopped writer had begun (store and index)"]


def needs_recovery(s: Settings) -> bool:
    """Cheap check (a few stats): did a writer die half-way through a change?"""
    return _needs_recovery(s.home, s.index_dir)


def recover(s: Settings) -> list[str]:
    """Repair what a writer that died left behind; call under the write lock.

    Rolls a journalled commit forward, restores a missing ``index`` link or directory
    from a complete version (never rebuilds), and removes temp files of dead writers.
    Returns one line per repair.
    """
    notes = _roll_forward(s)
    restored = versions.recover(s.index_dir)
    if restored:
        notes.append(restored)
    if s.home.is_dir():
        store.clean_stale_temps(s.home)
        for p in s.home.glob(f"{JOURNAL}.tmp-*"):
            pid = p.name.rsplit("-", 1)[-1]
            if pid.isdigit() and not pid_alive(int(pid)):
                p.unlink()
    versions.cleanup(s.index_dir)
    return notes


def try_recover(s: Settings) -> list[str]:
    """For readers: :func:`recover` when it is needed and no writer is active."""
    if not needs_recovery(s):
        return []
    with try_write_lock(s.home, what="recovery") as got:
        return recover(s) if got else []


# --------------------------------------------------------------------------- changes


def _check_embedder(link: Path, embedder: Embedder) -> None:
    """Refuse before anything is written when the index was built with another model."""
    emb = read_manifest(link).get("embedder", {})
    if emb.get("name") != embedder.name or int(emb.get("dim", -1)) != embedder.dim:
        raise IndexError_(
            f"the index was built with {emb.get('name')}, the settings ask for {embedder.name}: "
            "run `rag index --rebuild` first, or pass --no-index"
        )


def _build(
    s: Settings,
    corpus: Corpus,
    embedder: Embedder,
    *,
    rebuild: bool = False,
    progress: bool = False,
    workers: int = 1,
    ray_address: str | None = None,
) -> BuildReport:
    """A new index version for ``corpus``, not yet current: :func:`build_index` with the
    home's vector cache (and the shipped vectors), so only texts whose content hash is
    new are embedded, and the configured vector store (FAISS files, or Milvus)."""
    from rag.index.backend import StoreConfig
    from rag.index.cache import VectorCache
    from rag.index.parallel import EmbedderSpec
    from rag.settings import SHIPPED_VECTORS

    cache = VectorCache(
        s.vector_cache_dir, embedder.name, embedder.dim, readonly_roots=[SHIPPED_VECTORS]
    )
    return build_index(
        corpus.clauses(),
        embedder,
        s.index_dir,
        rebuild=rebuild,
        publish=False,
        faiss_kind=s.faiss_kind,
        documents=corpus.printed(),
        ann_threshold=s.ann_threshold,
        progress=progress,
        cache=cache,
        workers=workers,
        ray_address=ray_address,
        embedder_factory=EmbedderSpec.from_settings(s) if workers > 1 or ray_address else None,
        store=StoreConfig.from_settings(s),
    )


def apply(
    s: Settings,
    change: Callable[[Corpus], tuple[Corpus, T]],
    *,
    what: str,
    reindex: bool = True,
    embedder: Embedder | None = None,
    on_wait: Callable[[str], None] | None = None,
    progress: bool = False,
    lock_timeout: float | None = None,
) -> tuple[Outcome, T]:
    """Apply ``change`` (old corpus → new corpus, result) to the store and the index.

    ``change`` returns the very corpus it was given when nothing changed: then nothing
    is written. ``reindex=False`` leaves the index as it is (``--no-index``).
    """
    timeout = s.lock_timeout if lock_timeout is None else lock_timeout
    with write_lock(s.home, what=what, timeout=timeout, on_wait=on_wait):
        notes = recover(s)
        corpus = store.load(s.corpus_db)
        new, result = change(corpus)
        fault("change:applied")
        upgraded = corpus.upgraded_from
        if new is corpus and upgraded is None:
            return Outcome(corpus, False, recovered=notes, before=corpus), result
        link = s.index_dir
        has_index = versions.current(link) is not None
        if not has_index:
            note = "no index yet: run `rag index` to build it"
        elif not reindex:
            note = "index not updated (--no-index): run `rag index` to update it"
        else:
            note = ""
        emb: Embedder | None = None
        if has_index and reindex:
            emb = embedder or embedder_from_settings(s, progress=progress)
            _check_embedder(link, emb)
        if new is corpus:  # only the store's format changes: no index update
            emb = None
            note = ""
        store_tmp = store.write_tmp(new, s.corpus_db)
        report: BuildReport | None = None
        try:
            clauses = new.clauses()
            if emb is not None and clauses:
                report = _build(s, new, emb, progress=progress)
            drop = emb is not None and not clauses
            if drop:
                note = "the corpus has no clauses left: the index was removed"
            _commit(s, store_tmp, report.version_dir if report else None, drop_index=drop)
        except BaseException:
            with suppress(FileNotFoundError):
                store_tmp.unlink()
            raise
        versions.cleanup(link)
    changed = new is not corpus
    return Outcome(new, changed, report, note, notes, corpus, upgraded), result


def reindex(
    s: Settings,
    *,
    rebuild: bool = False,
    embedder: Embedder | None = None,
    on_wait: Callable[[str], None] | None = None,
    progress: bool = True,
    workers: int = 1,
    ray_address: str | None = None,
) -> Outcome:
    """``rag index``: build or update the index from the store, under the write lock.

    ``workers``/``ray_address``: embed in N processes or as a Ray Data job."""
    with write_lock(s.home, what="rag index", timeout=s.lock_timeout, on_wait=on_wait):
        notes = recover(s)
        corpus = store.load(s.corpus_db)
        if not corpus.documents:
            raise RagError("the corpus store is empty: run `rag ingest` first")
        emb = embedder or embedder_from_settings(s, progress=progress)
        report = _build(
            s,
            corpus,
            emb,
            rebuild=rebuild,
            progress=progress,
            workers=workers,
            ray_address=ray_address,
        )
        _commit(s, None, report.version_dir)
        versions.cleanup(s.index_dir)
    return Outcome(corpus, True, report, "", notes)


def ingest_files(
    s: Settings,
    paths: Sequence[Path],
    *,
    actor: str = "cli",
    reindex: bool = True,
    embedder: Embedder | None = None,
    on_wait: Callable[[str], None] | None = None,
    on_file: Callable[[Path], None] | None = None,
    progress: bool = False,
) -> tuple[Outcome, list[FileSummary]]:
    """``rag ingest PATH...``: files known by path and content (see :mod:`rag.ingest.changes`)."""
    return apply(
        s,
        lambda corpus: ingest(
            paths, corpus, on_file, actor=actor, max_bytes=s.max_file_bytes, ocr=s.ocr
        ),
        what="rag ingest",
        reindex=reindex,
        embedder=embedder,
        on_wait=on_wait,
        progress=progress,
    )


def parse_upload(s: Settings, path: Path) -> tuple[store.SourceRecord, list[Document], list[str]]:
    """Parse an uploaded file (saved under its own name) with the pipeline's readers
    (RAG_MAX_FILE_MB, RAG_OCR); one-line errors."""
    src, docs, warnings = parse_file(path, max_bytes=s.max_file_bytes, ocr=s.ocr)
    if not docs:
        raise CorpusError(f"{path.name}: no document found in the file")
    return src, docs, warnings


def preview_upload(s: Settings, path: Path) -> tuple[FileSummary, list[Document], Corpus]:
    """What storing an uploaded file would do, without storing anything (no lock).

    Returns the summary, the parsed documents and the corpus it was compared with.
    """
    src, docs, warnings = parse_upload(s, path)
    corpus = store.load(s.corpus_db)
    _, summary = add_parsed(corpus, src, docs, warnings, actor="api")
    return summary, docs, corpus


def add_upload(
    s: Settings,
    path: Path,
    *,
    actor: str,
    reindex: bool = True,
    embedder: Embedder | None = None,
    lock_timeout: float | None = None,
) -> tuple[Outcome, FileSummary, list[Document]]:
    """Store an uploaded file (known by content only: uploads have no path) and reindex.

    Returns what happened, the file's summary and its parsed documents.
    """
    src, docs, warnings = parse_upload(s, path)
    outcome, summary = apply(
        s,
        lambda corpus: add_parsed(corpus, src, docs, warnings, actor=actor),
        what=f"{actor} upload",
        reindex=reindex,
        embedder=embedder,
        lock_timeout=lock_timeout,
    )
    return outcome, summary, docs


def remove(
    s: Settings,
    query: str,
    *,
    actor: str = "cli",
    reindex: bool = True,
    embedder: Embedder | None = None,
    on_wait: Callable[[str], None] | None = None,
    progress: bool = False,
    lock_timeout: float | None = None,
) -> tuple[Outcome, Document]:
    """``rag remove DOC``: retire a document from the store and the index together."""
    return apply(
        s,
        lambda corpus: remove_document(corpus, query, actor=actor),
        what="rag remove" if actor == "cli" else f"{actor} retire",
        reindex=reindex,
        embedder=embedder,
        on_wait=on_wait,
        progress=progress,
        lock_timeout=lock_timeout,
    )


def set_status(
    s: Settings,
    query: str,
    status: str,
    note: str = "",
    *,
    actor: str = "cli",
    on_wait: Callable[[str], None] | None = None,
    lock_timeout: float | None = None,
) -> Document:
    """Set a document's status by hand (``auto`` clears it), recorded as a ``status-set``
    history event beside the status mark; the index is not touched (statuses are read
    from the store). Returns the document, its status mark applied."""
    from rag.ingest.changes import record
    from rag.ingest.lookup import find_document
    from rag.ingest.validity import new_mark

    def change(corpus: Corpus) -> tuple[Corpus, Document]:
        d = find_document(corpus, query)
        mark = new_mark(d, status, note, by=actor)
        detail = mark.status or "auto (as its text says)"
        new = record(
            corpus,
            "status-set",
            d,
            actor=actor,
            detail=detail + (f": {mark.note}" if mark.note else ""),
        )
        new.status_marks = [*corpus.status_marks, mark]
        new.relink()
        return new, d

    _, d = apply(
        s,
        change,
        what="rag set-status" if actor == "cli" else f"{actor} status",
        reindex=False,
        on_wait=on_wait,
        lock_timeout=lock_timeout,
    )
    return d
