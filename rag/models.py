"""Typed records that flow through the pipeline: ingest → index → retrieve → answer."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

# A document's status as of a date (see ``Document.status_on``).
IN_FORCE = "现行有效"
NOT_YET = "尚未施行"
EXPIRED = "已过有效期"
REPEALED = "已被废止"
UNSTATED = "未注明"
STATUSES = (IN_FORCE, NOT_YET, EXPIRED, REPEALED, UNSTATED)


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
    """One document of the corpus, with its attached texts flattened into ``clauses``.

    The validity fields are read off the text at ingest (``rag.ingest.validity``):
    ``effective`` and ``expires`` keep the precision the text gives (``2015``,
    ``2015-01``, ``2015-01-01``); ``validity_evidence`` holds the sentences they come
    from. ``superseded_by`` and ``status_mark`` are linked in from the rest of the store.
    """

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
    effective: str = ""
    expires: str = ""
    trial: bool = False
    supersedes: list[DocRef] = field(default_factory=list)
    superseded_by: list[DocRef] = field(default_factory=list)
    validity_evidence: list[str] = field(default_factory=list)
    status_mark: StatusMark | None = None

    @property
    def key(self) -> str:
        return self.doc_no or self.title

    def repeals_on(self, on: dt.date) -> list[DocRef]:
        """The documents that wholly repeal this one and have taken effect by ``on``."""
        out = []
        for ref in self.superseded_by:
            start = period_start(ref.effective)
            if not ref.partial and (start is None or start <= on):
                out.append(ref)
        return out

    def status_on(self, on: dt.date, *, by_hand: bool = True) -> str:
        """现行有效, 尚未施行, 已过有效期, 已被废止 or 未注明 on the day ``on``.

        A status set by hand wins (unless ``by_hand`` is False). A partial repeal leaves
        the status alone. 未注明 when the text names neither a start nor an end.
        """
        if by_hand and self.status_mark is not None and self.status_mark.status:
            return self.status_mark.status
        if self.repeals_on(on):
            return REPEALED
        start = period_start(self.effective)
        if start is not None and on < start:
            return NOT_YET
        end = period_end(self.expires)
        if end is not None and on > end:
            return EXPIRED
        return IN_FORCE if (self.effective or self.expires) else UNSTATED

    def validity_json(self, as_of: dt.date | None = None) -> dict[str, Any]:
        """The validity fields of `rag docs --json`, the status as of ``as_of`` (today)."""
        on = as_of or dt.date.today()
        d: dict[str, Any] = {
            "effective": self.effective or None,
            "expires": self.expires or None,
            "trial": self.trial,
            "supersedes": [r.to_json() for r in self.supersedes],
            "superseded_by": [r.to_json() for r in self.superseded_by],
            "status": self.status_on(on),
            "status_as_of": on.isoformat(),
            "status_by_hand": bool(self.status_mark and self.status_mark.status),
            "validity_evidence": list(self.validity_evidence),
        }
        if self.status_mark is not None and self.status_mark.status:
            d["status_note"] = self.status_mark.note
            d["status_set_at"] = self.status_mark.at
        return d

    def to_json(self, as_of: dt.date | None = None) -> dict[str, Any]:
        """The `rag docs --json` shape (status as of ``as_of``, default today)."""
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
            **self.validity_json(as_of),
        }


def period_start(value: str) -> dt.date | None:
    """First day of a ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` period; None for ""."""
    if not value:
        return None
    bits = [int(b) for b in value.split("-")]
    return dt.date(bits[0], bits[1] if len(bits) > 1 else 1, bits[2] if len(bits) > 2 else 1)


def period_end(value: str) -> dt.date | None:
    """Last day of a ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` period; None for ""."""
    if not value:
        return None
    bits = [int(b) for b in value.split("-")]
    if len(bits) == 3:
        return dt.date(*bits)
    if len(bits) == 2:
        y, m = bits
        return dt.date(y + m // 12, m % 12 + 1, 1) - dt.timedelta(days=1)
    return dt.date(bits[0], 12, 31)


@dataclass
class DocRef:
    """Another document named by a text: its 文号 and title as printed there.

    In ``supersedes`` ``partial`` keeps what the text says when only a part is repealed
    ("除附件7-9外", "第十条"); in ``superseded_by`` ``effective`` is the day the
    repealing document takes effect (its date when it names none).
    """

    doc_no: str
    title: str
    partial: str = ""
    effective: str = ""

    @property
    def name(self) -> str:
        return self.doc_no or f"《{self.title}》"

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"doc_no": self.doc_no, "title": self.title}
        if self.partial:
            d["partial"] = self.partial
        if self.effective:
            d["effective"] = self.effective
        return d


@dataclass
class StatusMark:
    """A status a clerk set by hand (``status`` "" puts the status read off the text back)."""

    doc_key: str
    status: str
    note: str = ""
    at: str = ""  # ISO date and time (UTC)
    by: str = ""  # cli | api | web

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


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
    """A cited clause; ``date`` and ``status`` are its document's (``warning`` when the
    document is not plainly in force: repealed, expired, not yet in force, 暂行/试行)."""

    doc_no: str
    clause: str
    title: str
    text: str
    score: float = 0.0
    date: str = ""
    status: str = ""
    warning: str = ""

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["score"] = round(self.score, 6)
        if not self.warning:
            del d["warning"]
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
    # what was read from the question: what is asked and the caller's facts
    understood: dict[str, Any] = field(default_factory=dict)

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
            understood=dict(self.understood),
            timings_ms={k: round(v, 2) for k, v in self.timings_ms.items()},
        )
        if self.notes:
            d["notes"] = list(self.notes)
        return d
