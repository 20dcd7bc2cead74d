"""Find a document by 文号 (any printed variant) or title, and a clause by label."""

from __future__ import annotations

import dataclasses

from rag.errors import InputError, NotFoundError
from rag.ingest.docno import canonical_doc_no
from rag.ingest.labels import canonical_clause_query, label_matches
from rag.ingest.outline import HEADING_MAX, nested_items
from rag.ingest.store import Corpus
from rag.models import Clause, Document


def find_document(corpus: Corpus, query: str) -> Document:
    """The document whose 文号 or title is ``query`` (``嘉政发[2014]87号`` works too)."""
    q = query.strip()
    if not q:
        raise InputError("empty document number")
    try:
        no = canonical_doc_no(q)
    except InputError:
        no = ""
    for d in corpus.documents:
        if (no and d.doc_no == no) or d.title == q:
            return d
    titled = [d for d in corpus.documents if len(q) >= 4 and q in d.title]
    if len(titled) == 1:
        return titled[0]
    raise NotFoundError(f"unknown document: {q} (see `rag docs`)")


def nested_clauses(clause: Clause) -> list[Clause]:
    """The numbered items inside ``clause`` as clauses of their own (``三、（一）3.`` inside
    ``三、（一）``): same part, the clause's span, the clause's heading as context."""
    out = []
    for item in nested_items(clause.label, clause.text):
        head = clause.text.split("\n", 1)[0]
        out.append(
            dataclasses.replace(
                clause,
                label=item.label,
                text=item.text,
                headings=[*clause.headings, head[:HEADING_MAX]],
            )
        )
    return out


def find_clauses(doc: Document, query: str) -> list[Clause]:
    """Clauses of ``doc`` labelled ``query``: ``第十四条``, ``第14条`` and ``14`` agree.

    An item nested in a clause (``三、（一）3.``, ``4.3.2.4（3）``, ``第二十条（四）``) is found
    too, as a clause with its own label and text (the source span is its clause's).
    """
    wanted = canonical_clause_query(query)
    exact = [c for c in doc.clauses if c.label in wanted]
    if exact:
        return exact
    nested = [n for c in doc.clauses for n in nested_clauses(c) if n.label in wanted]
    if nested:
        return nested
    loose = [c for c in doc.clauses if any(label_matches(w, c.label) for w in wanted)]
    if loose:
        return loose
    raise NotFoundError(f"{doc.key} has no clause {query.strip()}")
