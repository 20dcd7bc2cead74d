"""Changes to the corpus: a parsed file merged in, a document retired, and their history.

Pure functions on :class:`~rag.ingest.store.Corpus` (no I/O): the caller loads the store
under the write lock, applies one of these, and saves. Every change of a document is
recorded in ``Corpus.history`` (``rag docs --history``).

Identity rules:

* A **source file** is known by its content (SHA-256) and, for files read from disk, its
  absolute path, never by its base name. The same content again is unchanged; the same
  path with new content is a new version of that file (its documents that the new
  version no longer holds are removed, and said so). A different file that happens to
  share a stored file's base name is stored under a name of its own
  (``000_x.1a2b3c4d.txt``) and touches nothing else.
* A **document** is the same document when it has the same 文号, or — when either has no
  文号 — the same title and issuer. A document met again with different text replaces
  the stored one in place (reported, and recorded as ``replace``); with the same text,
  nothing happens. A contents-page listing never replaces a printed text.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePath

from rag.errors import InputError, NotFoundError
from rag.ingest.docno import canonical_doc_no
from rag.ingest.lookup import find_document
from rag.ingest.store import ACTIONS, Corpus, HistoryEvent, SourceRecord
from rag.models import Document

ACTORS = ("cli", "api", "web")


@dataclass
class FileSummary:
    """What ingesting one file gave (or would give): for the report and the API preview.

    ``status`` is ``new`` (a file not stored before), ``updated`` (a new version of a
    stored file, or stored documents met again with new text), ``unchanged`` or
    ``error``. ``added``/``replaced``/``removed`` list document keys.
    """

    file: str
    documents: int = 0
    clauses: int = 0
    listed_not_printed: int = 0
    repaired: bool = False
    warnings: list[str] = field(default_factory=list)
    error: str = ""
    status: str = ""
    path: str = ""
    sha256: str = ""
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    # the stored version each replaced document came from: key → source file
    replaced_from: dict[str, str] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return self.status in ("new", "updated")

    def to_json(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def now() -> str:
    """The time stamp of history events: ISO 8601 UTC, seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _check_actor(actor: str) -> None:
    if actor not in ACTORS:
        raise InputError(f"unknown actor {actor!r}: one of {', '.join(ACTORS)}")


def event(
    action: str,
    doc: Document,
    source: SourceRecord | None,
    *,
    actor: str,
    at: str,
    detail: str = "",
) -> HistoryEvent:
    """A history event for ``doc`` (``source``: the file the change came from)."""
    if action not in ACTIONS:
        raise InputError(f"unknown history action {action!r}: one of {', '.join(ACTIONS)}")
    _check_actor(actor)
    return HistoryEvent(
        at=at,
        action=action,
        doc_key=doc.key,
        doc_no=doc.doc_no,
        title=doc.title,
        source=source.file if source else doc.source,
        source_path=source.path if source else "",
        source_sha256=source.sha256 if source else "",
        actor=actor,
        detail=detail,
    )


def same_document(a: Document, b: Document) -> bool:
    """Same 文号; or, when either has none, the same title and issuer."""
    if a.doc_no and b.doc_no:
        return a.doc_no == b.doc_no
    return bool(a.title) and a.title == b.title and a.issuer == b.issuer


def _fingerprint(d: Document) -> str:
    clauses = [
        (c.label, c.text, c.part, c.part_title, c.headings, str(c.span), c.seq) for c in d.clauses
    ]
    # what the text says, not what is derived from other documents or marks
    # (superseded_by, the status as of today, a hand-set status)
    read = {k: v for k, v in d.to_json().items() if k in _READ_FIELDS}
    return json.dumps([read, d.text, str(d.span), clauses], ensure_ascii=False, sort_keys=True)


_READ_FIELDS = frozenset(
    "doc_no title issuer date kind printed source attachments n_clauses clause_labels "
    "effective expires trial supersedes validity_evidence".split()
)


def _free_name(corpus: Corpus, name: str, sha256: str) -> str:
    """``name`` when no stored source has it, else ``stem.<sha prefix>.suffix``."""
    if name not in corpus.sources:
        return name
    p = PurePath(name)
    for n in range(8, 65, 4):
        candidate = f"{p.stem}.{sha256[:n]}{p.suffix}"
        if candidate not in corpus.sources:
            return candidate
    raise InputError(f"{name}: no free source name")  # pragma: no cover - 2^256 files


def _rekey(docs: list[Document], old: str, new: str) -> None:
    """Point the documents' source and spans at the stored source name ``new``."""
    for d in docs:
        if d.source == old:
            d.source = new
        if d.span is not None and d.span.file == old:
            d.span = dataclasses.replace(d.span, file=new)
        for c in d.clauses:
            if c.span is not None and c.span.file == old:
                c.span = dataclasses.replace(c.span, file=new)


def _used_sources(
    docs: list[Document], sources: dict[str, SourceRecord]
) -> dict[str, SourceRecord]:
    # a source whose every document was replaced or removed goes (its history stays)
    used = {d.source for d in docs}
    return {k: v for k, v in sources.items() if k in used}


def _changed(
    corpus: Corpus,
    docs: list[Document],
    sources: dict[str, SourceRecord],
    history: list[HistoryEvent],
) -> Corpus:
    """``corpus`` with new documents, sources and history; hand-set statuses kept, relinked."""
    out = dataclasses.replace(
        corpus,
        documents=docs,
        sources=sources,
        history=history,
        status_marks=list(corpus.status_marks),
    )
    out.relink()
    return out


def add_parsed(
    corpus: Corpus,
    src: SourceRecord,
    docs: list[Document],
    warnings: list[str],
    *,
    path: str = "",
    actor: str = "cli",
    at: str | None = None,
) -> tuple[Corpus, FileSummary]:
    """Merge one parsed file into ``corpus``; the new corpus and what changed.

    ``path`` is the file's absolute path ("" for an upload, which is known by content
    only). ``corpus`` itself is not modified. See the module docstring for the rules.
    """
    _check_actor(actor)
    at = at or now()
    warnings = list(warnings)
    prior = next((s for s in corpus.sources.values() if path and s.path == path), None)
    if prior is None:
        prior = next((s for s in corpus.sources.values() if s.sha256 == src.sha256), None)
    name = prior.file if prior else _free_name(corpus, src.file, src.sha256)
    if name != src.file:
        if prior is None:
            warnings.append(
                f"another stored file is also called {src.file}: this one is stored as {name}"
            )
        _rekey(docs, src.file, name)
    src = dataclasses.replace(src, file=name, path=path or (prior.path if prior else ""))
    summary = FileSummary(
        file=name,
        path=src.path,
        sha256=src.sha256,
        repaired=src.repaired,
    )

    fresh: list[Document] = []
    for d in docs:
        if any(same_document(d, x) for x in fresh):
            warnings.append(f"{d.key} appears twice in {name}: the first one is kept")
            continue
        fresh.append(d)

    kept = list(corpus.documents)
    history = list(corpus.history)
    matched: set[int] = set()  # ids of stored documents this file holds again
    for d in fresh:
        i = next((j for j, x in enumerate(kept) if same_document(d, x)), None)
        if i is None:
            kept.append(d)
            matched.add(id(d))
            summary.added.append(d.key)
            history.append(event("ingest", d, src, actor=actor, at=at))
            continue
        old = kept[i]
        matched.add(id(old))
        if not d.printed and old.printed:
            if old.source != name:
                warnings.append(
                    f"{d.key} is only listed here; the printed text from {old.source} is kept"
                )
            summary.unchanged.append(d.key)
            continue
        if _fingerprint(old) == _fingerprint(d):
            summary.unchanged.append(d.key)
            continue
        kept[i] = d
        matched.add(id(d))
        summary.replaced.append(d.key)
        summary.replaced_from[d.key] = old.source
        where = "an earlier version of this file" if old.source == name else old.source
        history.append(
            event("replace", d, src, actor=actor, at=at, detail=f"replaces the text from {where}")
        )

    if prior is not None:
        for old in [x for x in kept if x.source == name and id(x) not in matched]:
            kept.remove(old)
            summary.removed.append(old.key)
            history.append(
                event(
                    "remove",
                    old,
                    src,
                    actor=actor,
                    at=at,
                    detail=f"no longer in {name} (new version of the file)",
                )
            )

    sources = dict(corpus.sources)
    sources[name] = src
    changed = bool(summary.added or summary.replaced or summary.removed)
    if prior is None or changed or prior.sha256 != src.sha256:
        summary.status = "updated" if prior is not None else "new"
    else:
        summary.status = "unchanged"
    printed = [d for d in fresh if d.printed]
    summary.documents = len(printed)
    summary.listed_not_printed = len(fresh) - len(printed)
    summary.clauses = sum(len(d.clauses) for d in fresh)
    summary.warnings = warnings
    if summary.status == "unchanged":
        return corpus, summary
    src.warnings = warnings
    return _changed(corpus, kept, _used_sources(kept, sources), history), summary


def remove_document(
    corpus: Corpus, query: str, *, actor: str = "cli", at: str | None = None
) -> tuple[Corpus, Document]:
    """Retire the document named by ``query`` (文号 in any printed form, or title)."""
    doc = find_document(corpus, query)
    at = at or now()
    docs = [d for d in corpus.documents if d is not doc]
    history = [
        *corpus.history,
        event("remove", doc, corpus.sources.get(doc.source), actor=actor, at=at, detail="retired"),
    ]
    return _changed(corpus, docs, _used_sources(docs, corpus.sources), history), doc


def record(
    corpus: Corpus,
    action: str,
    doc: Document,
    *,
    actor: str,
    detail: str = "",
    at: str | None = None,
) -> Corpus:
    """``corpus`` with one more history event for ``doc`` (e.g. ``status-set`` by a clerk)."""
    ev = event(
        action, doc, corpus.sources.get(doc.source), actor=actor, at=at or now(), detail=detail
    )
    return dataclasses.replace(corpus, history=[*corpus.history, ev])


def history_of(corpus: Corpus, query: str) -> list[HistoryEvent]:
    """The history events of one document (文号 in any printed form, or title), oldest first.

    Removed documents are found too. A title fragment (4+ characters) works when it
    names one document.
    """
    q = query.strip()
    if not q:
        raise InputError("empty document number")
    try:
        no = canonical_doc_no(q)
    except InputError:
        no = ""
    exact = [e for e in corpus.history if (no and e.doc_no == no) or q in (e.title, e.doc_key)]
    if exact:
        keys = {e.doc_key for e in exact}
        return [e for e in corpus.history if e.doc_key in keys]
    if len(q) >= 4:
        keys = {e.doc_key for e in corpus.history if q in e.title}
        if len(keys) == 1:
            return [e for e in corpus.history if e.doc_key in keys]
        if len(keys) > 1:
            raise InputError(f"{q} names {len(keys)} documents: give the 文号 or the full title")
    try:
        doc = find_document(corpus, q)
    except NotFoundError:
        raise NotFoundError(f"no document and no history for {q} (see `rag docs`)") from None
    return [e for e in corpus.history if e.doc_key == doc.key]
