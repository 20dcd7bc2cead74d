"""A parsed document before it enters the corpus: metadata plus clauses per part."""

from __future__ import annotations

from dataclasses import dataclass, field

from rag.ingest.outline import RawClause
from rag.models import Clause, Document, SourceSpan


@dataclass
class DocDraft:
    """One document as parsed from a source file.

    Attributes:
        doc_no: Canonical 文号, or "" (regulations passed by a people's congress have none).
        title: The document's title as printed.
        issuer: Issuing body (several joined by 、 for joint documents), or "".
        date: ISO ``YYYY-MM-DD`` of signature/publication, or "".
        kind: ``document`` for the parsers here.
        source: Source file name.
        parts: ``(part_title, clauses)``; part 0 is the main text (its title is the
            document title), parts 1.. are attached texts (实施方案, 办法, 附件 …).
        span: Source line range of the whole document.
        text: The repaired full text in reading order.
    """

    doc_no: str
    title: str
    issuer: str = ""
    date: str = ""
    kind: str = "document"
    source: str = ""
    parts: list[tuple[str, list[RawClause]]] = field(default_factory=list)
    span: SourceSpan | None = None
    text: str = ""

    @property
    def key(self) -> str:
        """Identifier: the 文号, or the title when there is none."""
        return self.doc_no or self.title

    @property
    def n_clauses(self) -> int:
        return sum(len(cs) for _, cs in self.parts)

    def to_document(self) -> Document:
        """Flatten into a :class:`rag.models.Document` with numbered clauses."""
        doc = Document(
            doc_no=self.doc_no,
            title=self.title,
            issuer=self.issuer,
            date=self.date,
            kind=self.kind,
            source=self.source,
            attachments=[t for t, _ in self.parts[1:]],
            span=self.span,
            text=self.text,
        )
        seq = 0
        for part_no, (part_title, clauses) in enumerate(self.parts):
            for rc in clauses:
                doc.clauses.append(
                    Clause(
                        doc_no=self.doc_no,
                        doc_title=self.title,
                        label=rc.label,
                        text=rc.text,
                        part=part_no,
                        part_title=part_title,
                        headings=list(rc.headings),
                        span=SourceSpan(self.source, rc.start_line, rc.end_line),
                        seq=seq,
                    )
                )
                seq += 1
        return doc
