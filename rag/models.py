"""Typed records that flow through the pipeline: ingest → index → retrieve → answer."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class SourceSpan:
    """Where a piece of text came from: file name and 1-based inclusive line range."""

    file: str
    start_line: int
    end_line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.start_line}-{self.end_line}"


@dataclass
class Clause:
    """The smallest citable unit of a document (an article, or an outline item).

    ``label`` is the canonical numbering path inside its text (``第十四条``,
    ``二、（一）1.``, ``专栏3``); ``part`` is 0 for the document itself and 1.. for
    attached texts (实施方案, 办法 …) whose title is ``part_title``. ``headings`` are
    the parent headings kept as context (chapter, outline headings above the clause).
    """

    doc_no: str
    doc_title: str
    label: str
    text: str
    part: int = 0
    part_title: str = ""
    headings: list[str] = field(default_factory=list)
    span: SourceSpan | None = None
    seq: int = 0  # order inside the document

    @property
    def doc_key(self) -> str:
        """Identifier of the document: its 文号, or its title when it has none."""
        return self.doc_no or self.doc_title

    @property
    def id(self) -> str:
        return f"{self.doc_key}#{self.part}#{self.label}#{self.seq}"

    @property
    def context(self) -> str:
        """Title, part title and headings above the clause, for embedding and display."""
        bits = [self.doc_title]
        if self.part_title and self.part_title != self.doc_title:
            bits.append(self.part_title)
        bits.extend(self.headings)
        return " / ".join(b for b in bits if b)


@dataclass(frozen=True)
class Unit:
    """An answer unit: a sentence (with its condition, or a lead-in with its list) of a
    clause, the smallest piece that answers something. ``start``/``end`` are offsets into
    the clause text; ``clause`` is the clause's position in the index."""

    clause: int
    index: int  # order inside the clause
    start: int
    end: int
    text: str
    facets: dict[str, list[str]] = field(default_factory=dict, compare=False, hash=False)


@dataclass
class Document:
    """One document of the corpus, with its attached texts flattened into ``clauses``."""

    doc_no: str
    title: str
    issuer: str = ""
    date: str = ""  # ISO YYYY-MM-DD, or "" when not printed
    kind: str = "document"  # document | personnel | news
    source: str = ""
    printed: bool = True
    attachments: list[str] = field(default_factory=list)
    clauses: list[Clause] = field(default_factory=list)
    span: SourceSpan | None = None
    text: str = ""  # the repaired full text, in reading order

    @property
    def key(self) -> str:
        return self.doc_no or self.title

    def to_json(self) -> dict[str, Any]:
        """The `rag docs --json` shape."""
        return {
            "doc_no": self.doc_no,
            "title": self.title,
            "issuer": self.issuer,
            "date": self.date,
            "kind": self.kind,
            "printed": self.printed,
            "source": self.source,
            "attachments": list(self.attachments),
            "n_clauses": len(self.clauses),
            "clause_labels": [c.label for c in self.clauses],
        }


@dataclass
class Hit:
    """One retrieved clause with its fused score and the retrievers that found it."""

    clause: Clause
    score: float
    sources: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        c = self.clause
        return {
            "doc_no": c.doc_no,
            "title": c.doc_title,
            "clause": c.label,
            "text": c.text,
            "score": round(self.score, 6),
            "sources": list(self.sources),
        }


@dataclass
class Citation:
    doc_no: str
    clause: str
    title: str
    text: str
    score: float = 0.0

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["score"] = round(self.score, 6)
        return d


@dataclass
class Answer:
    question: str
    answer: str
    refused: bool
    mode: str
    citations: list[Citation] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    id: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        if self.id is not None:
            d["id"] = self.id
        d.update(
            question=self.question,
            answer=self.answer,
            refused=self.refused,
            mode=self.mode,
            citations=[c.to_json() for c in self.citations],
            timings_ms={k: round(v, 2) for k, v in self.timings_ms.items()},
        )
        if self.notes:
            d["notes"] = list(self.notes)
        return d
