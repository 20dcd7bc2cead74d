"""The corpus store: documents, clauses, source files and their history in one SQLite file.

Writes are atomic: a new database is written next to the old one (``.corpus-<pid>-….sqlite``)
and renamed over it, so a failed ingest leaves the previous store untouched. Temp files of
writers that died before the rename are removed by the next write. Callers that change
the store hold the home's write lock (:mod:`rag.locks`).

Format 2 adds each document's validity (read off its text at ingest) and the
``status_marks`` table: every status a clerk set by hand, in order, never deleted (the
latest one per document counts; an empty status puts the text's back). Format 3 adds
where each source was read from (``sources.path``) and the ``history`` table (every
ingest, replace, remove and hand-set status). An older store is read by what it holds
(validity read off the stored texts when it has none) and written as format 3 by the
next command that saves; a newer one is refused.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import uuid
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rag.errors import CorpusError, NotFoundError
from rag.faults import fault
from rag.ingest.validity import apply_validity, link
from rag.locks import older_than, pid_alive
from rag.models import Clause, DocRef, Document, SourceSpan, StatusMark

# 2 added the validity columns and status_marks, 3 sources.path and the history table
SCHEMA_VERSION = 3

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sources (
    file TEXT PRIMARY KEY, sha256 TEXT NOT NULL, raw_text TEXT NOT NULL,
    repaired_text TEXT NOT NULL, repaired INTEGER NOT NULL, warnings TEXT NOT NULL,
    path TEXT NOT NULL DEFAULT ''
);
CREATE TABLE documents (
    pos INTEGER PRIMARY KEY, key TEXT NOT NULL, doc_no TEXT NOT NULL, title TEXT NOT NULL,
    issuer TEXT NOT NULL, date TEXT NOT NULL, kind TEXT NOT NULL, source TEXT NOT NULL,
    printed INTEGER NOT NULL, attachments TEXT NOT NULL, start_line INTEGER, end_line INTEGER,
    text TEXT NOT NULL, effective TEXT NOT NULL, expires TEXT NOT NULL, trial INTEGER NOT NULL,
    supersedes TEXT NOT NULL, validity_evidence TEXT NOT NULL
);
CREATE UNIQUE INDEX documents_key ON documents(key);
CREATE TABLE clauses (
    pos INTEGER PRIMARY KEY, doc_key TEXT NOT NULL, seq INTEGER NOT NULL, part INTEGER NOT NULL,
    part_title TEXT NOT NULL, label TEXT NOT NULL, headings TEXT NOT NULL, text TEXT NOT NULL,
    file TEXT, start_line INTEGER, end_line INTEGER
);
CREATE INDEX clauses_doc ON clauses(doc_key);
CREATE TABLE status_marks (
    pos INTEGER PRIMARY KEY, doc_key TEXT NOT NULL, status TEXT NOT NULL, note TEXT NOT NULL,
    at TEXT NOT NULL, by TEXT NOT NULL
);
CREATE TABLE history (
    id INTEGER PRIMARY KEY, at TEXT NOT NULL, action TEXT NOT NULL, doc_key TEXT NOT NULL,
    doc_no TEXT NOT NULL, title TEXT NOT NULL, source TEXT NOT NULL, source_path TEXT NOT NULL,
    source_sha256 TEXT NOT NULL, actor TEXT NOT NULL, detail TEXT NOT NULL
);
CREATE INDEX history_doc ON history(doc_key);
"""
_SOURCE_COLS = "file, sha256, raw_text, repaired_text, repaired, warnings, path"
_HISTORY_COLS = (
    "at, action, doc_key, doc_no, title, source, source_path, source_sha256, actor, detail"
)
# what `rag docs --history` shows; status-set is for a clerk setting a status by hand
ACTIONS = ("ingest", "replace", "remove", "status-set")
TEMP_PREFIX = ".corpus-"
_TEMP_RE = re.compile(r"^\.corpus-(\d+)-[0-9a-f]+\.sqlite")


@dataclass
class SourceRecord:
    """One ingested file: its text as read and as repaired, and what ingestion noticed."""

    file: str
    sha256: str
    raw_text: str
    repaired_text: str
    repaired: bool
    warnings: list[str] = field(default_factory=list)
    # where it was read from (absolute path), "" for uploads and stores older than v2;
    # ``file`` is the short name spans cite, unique in the store
    path: str = ""


@dataclass
class HistoryEvent:
    """One change of one document: ingested, replaced, removed, or its status set by hand.

    ``source``/``source_path``/``source_sha256`` name the file the change came from (the
    removed version's file for ``remove``); ``actor`` is where it was done: cli, api, web.
    """

    at: str  # ISO 8601 UTC, seconds
    action: str
    doc_key: str
    doc_no: str = ""
    title: str = ""
    source: str = ""
    source_path: str = ""
    source_sha256: str = ""
    actor: str = "cli"
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Corpus:
    """Everything in the store, in memory (the corpus is small: a few MB)."""

    documents: list[Document] = field(default_factory=list)
    sources: dict[str, SourceRecord] = field(default_factory=dict)
    status_marks: list[StatusMark] = field(default_factory=list)  # in the order set
    history: list[HistoryEvent] = field(default_factory=list)
    upgraded_from: int | None = None  # the format of the store read, when older

    def relink(self) -> None:
        """Recompute ``superseded_by`` and hand-set statuses after documents changed."""
        link(self.documents, self.status_marks)

    def printed(self) -> list[Document]:
        return [d for d in self.documents if d.printed]

    def clauses(self) -> list[Clause]:
        return [c for d in self.documents if d.printed for c in d.clauses]

    def get(self, key: str) -> Document:
        for d in self.documents:
            if key in (d.doc_no, d.title) and key:
                return d
        raise NotFoundError(f"unknown document: {key}")


def _connect(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(str(path))
    con.execute("PRAGMA foreign_keys = ON")
    return con


def save(corpus: Corpus, path: Path) -> None:
    """Write the whole corpus to ``path`` atomically (temp file + rename)."""
    tmp = write_tmp(corpus, path)
    try:
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        with suppress(FileNotFoundError):
            tmp.unlink()


def clean_stale_temps(directory: Path) -> list[Path]:
    """Remove temp stores of writers that died before their rename; the removed paths.

    ``.corpus-<pid>-<hex>.sqlite`` (and its journal) goes when process ``pid`` is gone;
    a temp file named by an older version without a pid, when it is an hour old.
    """
    removed = []
    for p in directory.glob(f"{TEMP_PREFIX}*.sqlite*"):
        m = _TEMP_RE.match(p.name)
        stale = not pid_alive(int(m.group(1))) if m else older_than(p, 3600)
        if stale:
            with suppress(FileNotFoundError):
                p.unlink()
                removed.append(p)
    return removed


def _fsync_dir(path: Path) -> None:
    with suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_tmp(corpus: Corpus, path: Path) -> Path:
    """Write the whole corpus to a new temp file beside ``path`` (synced); its path.

    The caller renames it over ``path`` (:func:`save`, or a commit that swaps the store
    and the index together). Stale temp files of dead writers are removed first.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(path.parent)
    tmp = path.parent / f"{TEMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:12]}.sqlite"
    try:
        con = _connect(tmp)
        with con:
            con.executescript(_SCHEMA)
            con.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            for s in sorted(corpus.sources.values(), key=lambda s: s.file):
                con.execute(
                    f"INSERT INTO sources ({_SOURCE_COLS}) VALUES (?,?,?,?,?,?,?)",
                    (
                        s.file,
                        s.sha256,
                        s.raw_text,
                        s.repaired_text,
                        int(s.repaired),
                        json.dumps(s.warnings, ensure_ascii=False),
                        s.path,
                    ),
                )
            for e in corpus.history:
                con.execute(
                    f"INSERT INTO history ({_HISTORY_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (
                        e.at,
                        e.action,
                        e.doc_key,
                        e.doc_no,
                        e.title,
                        e.source,
                        e.source_path,
                        e.source_sha256,
                        e.actor,
                        e.detail,
                    ),
                )
            cpos = 0
            for pos, d in enumerate(corpus.documents):
                con.execute(
                    "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        pos,
                        d.key,
                        d.doc_no,
                        d.title,
                        d.issuer,
                        d.date,
                        d.kind,
                        d.source,
                        int(d.printed),
                        json.dumps(d.attachments, ensure_ascii=False),
                        d.span.start_line if d.span else None,
                        d.span.end_line if d.span else None,
                        d.text,
                        d.effective,
                        d.expires,
                        int(d.trial),
                        json.dumps([r.to_json() for r in d.supersedes], ensure_ascii=False),
                        json.dumps(d.validity_evidence, ensure_ascii=False),
                    ),
                )
                for c in d.clauses:
                    con.execute(
                        "INSERT INTO clauses VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                        (
                            cpos,
                            d.key,
                            c.seq,
                            c.part,
                            c.part_title,
                            c.label,
                            json.dumps(c.headings, ensure_ascii=False),
                            c.text,
                            c.span.file if c.span else None,
                            c.span.start_line if c.span else None,
                            c.span.end_line if c.span else None,
                        ),
                    )
                    cpos += 1
            for pos, m in enumerate(corpus.status_marks):
                con.execute(
                    "INSERT INTO status_marks VALUES (?,?,?,?,?,?)",
                    (pos, m.doc_key, m.status, m.note, m.at, m.by),
                )
        con.close()
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
    except BaseException:
        with suppress(FileNotFoundError):
            tmp.unlink()
        raise
    fault("store:tmp-written")
    return tmp


def _refs(raw: str) -> list[DocRef]:
    return [
        DocRef(r["doc_no"], r["title"], r.get("partial", ""), r.get("effective", ""))
        for r in json.loads(raw)
    ]


def load(path: Path, *, documents_only: bool = False) -> Corpus:
    """Read the store; an empty corpus when it does not exist yet.

    ``documents_only`` reads the documents' metadata and validity without their texts,
    clauses and sources (what answering needs to know about each document).
    """
    if not path.exists():
        return Corpus()
    try:
        con = _connect(path)
        version = con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        found = version[0] if version else "unknown"
        if not found.isdigit() or not 1 <= int(found) <= SCHEMA_VERSION:
            raise CorpusError(
                f"corpus store {path} has format {found}, this program reads 1 to "
                f"{SCHEMA_VERSION}: use the policy-rag that wrote it, or delete it and run "
                "`rag ingest`"
            )
        # what an older store holds is read off its tables (a store written by an
        # unreleased build may hold history without validity, or the reverse)
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        doc_cols = {r[1] for r in con.execute("PRAGMA table_info(documents)")}
        source_cols = {r[1] for r in con.execute("PRAGMA table_info(sources)")}
        old = "validity_evidence" not in doc_cols
        documents_only = documents_only and not old  # no validity: it is read off texts
        corpus = Corpus(upgraded_from=int(found) if int(found) < SCHEMA_VERSION else None)
        if not documents_only:
            cols = _SOURCE_COLS if "path" in source_cols else _SOURCE_COLS.replace(", path", ", ''")
            for row in con.execute(f"SELECT {cols} FROM sources ORDER BY file"):
                corpus.sources[row[0]] = SourceRecord(
                    row[0], row[1], row[2], row[3], bool(row[4]), json.loads(row[5]), row[6]
                )
        if "history" in tables and not documents_only:
            for row in con.execute(f"SELECT {_HISTORY_COLS} FROM history ORDER BY id"):
                corpus.history.append(HistoryEvent(*row))
        by_key: dict[str, Document] = {}
        text_col = "''" if documents_only else "text"
        validity_cols = (
            "'', '', 0, '[]', '[]'"
            if old
            else ("effective, expires, trial, supersedes, validity_evidence")
        )
        for row in con.execute(
            "SELECT key, doc_no, title, issuer, date, kind, source, printed, attachments, "
            f"start_line, end_line, {text_col}, {validity_cols} FROM documents ORDER BY pos"
        ):
            (key, doc_no, title, issuer, date, kind, source, printed, att, sl, el, text) = row[:12]
            span = SourceSpan(source, sl, el) if sl is not None else None
            d = Document(
                doc_no, title, issuer, date, kind, source, bool(printed), json.loads(att), [], span
            )
            d.text = text
            d.effective, d.expires, d.trial = row[12], row[13], bool(row[14])
            d.supersedes = _refs(row[15])
            d.validity_evidence = json.loads(row[16])
            by_key[key] = d
            corpus.documents.append(d)
        if not documents_only:
            for row in con.execute("SELECT * FROM clauses ORDER BY pos"):
                (_, doc_key, seq, part, part_title, label, headings, text, file, sl, el) = row
                d = by_key[doc_key]
                span = SourceSpan(file, sl, el) if file is not None else None
                d.clauses.append(
                    Clause(
                        d.doc_no,
                        d.title,
                        label,
                        text,
                        part,
                        part_title,
                        json.loads(headings),
                        span,
                        seq,
                    )
                )
        if old:
            for d in corpus.documents:
                apply_validity(d)
        if "status_marks" in tables:
            for row in con.execute(
                "SELECT doc_key, status, note, at, by FROM status_marks ORDER BY pos"
            ):
                corpus.status_marks.append(StatusMark(*row))
        con.close()
        corpus.relink()
        return corpus
    except sqlite3.DatabaseError as e:
        raise CorpusError(
            f"corpus store {path} is damaged ({e}): delete it and run `rag ingest`"
        ) from e
