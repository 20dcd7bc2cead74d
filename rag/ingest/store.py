"""The corpus store: documents, clauses and source files in one SQLite file.

Writes are atomic: a new database is written next to the old one and renamed over
it, so a failed ingest leaves the previous store untouched.

Format 2 adds each document's validity (read off its text at ingest) and the
``status_marks`` table: every status a clerk set by hand, in order, never deleted (the
latest one per document counts; an empty status puts the text's back). A format-1 store
is read by reading the validity off the stored texts, and is written as format 2 by the
next command that saves.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import CorpusError, NotFoundError
from rag.ingest.validity import apply_validity, link
from rag.models import Clause, DocRef, Document, SourceSpan, StatusMark

SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sources (
    file TEXT PRIMARY KEY, sha256 TEXT NOT NULL, raw_text TEXT NOT NULL,
    repaired_text TEXT NOT NULL, repaired INTEGER NOT NULL, warnings TEXT NOT NULL
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
"""


@dataclass
class SourceRecord:
    """One ingested file: its text as read and as repaired, and what ingestion noticed."""

    file: str
    sha256: str
    raw_text: str
    repaired_text: str
    repaired: bool
    warnings: list[str] = field(default_factory=list)


@dataclass
class Corpus:
    """Everything in the store, in memory (the corpus is small: a few MB)."""

    documents: list[Document] = field(default_factory=list)
    sources: dict[str, SourceRecord] = field(default_factory=dict)
    status_marks: list[StatusMark] = field(default_factory=list)  # in the order set
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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".corpus-", suffix=".sqlite", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        tmp.unlink()
        con = _connect(tmp)
        with con:
            con.executescript(_SCHEMA)
            con.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            for s in sorted(corpus.sources.values(), key=lambda s: s.file):
                con.execute(
                    "INSERT INTO sources VALUES (?,?,?,?,?,?)",
                    (
                        s.file,
                        s.sha256,
                        s.raw_text,
                        s.repaired_text,
                        int(s.repaired),
                        json.dumps(s.warnings, ensure_ascii=False),
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
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


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
        if not version or int(version[0]) not in (1, SCHEMA_VERSION):
            found = version[0] if version else "unknown"
            raise CorpusError(
                f"corpus store {path} has format {found}, this program reads 1 and "
                f"{SCHEMA_VERSION}: use the policy-rag that wrote it, or delete it and run "
                "`rag ingest`"
            )
        old = int(version[0]) < SCHEMA_VERSION
        documents_only = documents_only and not old  # format 1: validity is read off texts
        corpus = Corpus(upgraded_from=int(version[0]) if old else None)
        if not documents_only:
            for row in con.execute("SELECT * FROM sources ORDER BY file"):
                corpus.sources[row[0]] = SourceRecord(
                    row[0], row[1], row[2], row[3], bool(row[4]), json.loads(row[5])
                )
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
        else:
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
