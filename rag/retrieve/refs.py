"""Explicit references in a question: a 文号 (full or short: ``87号文``) and a clause.

``嘉政发〔2014〕87号第十四条``, ``87号文第14条`` or ``嘉政发[2014]87号`` pin the named
document (and clause) ahead of the ranked results, so a clerk asking by number gets
that clause first.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.ingest.docno import find_doc_nos
from rag.ingest.labels import canonical_clause_query, cn_to_int, int_to_cn
from rag.models import Clause

_SHORT_RE = re.compile(r"(?<![\d〔〕])(\d{1,4})\s*号(?:文|文件)?")
_CLAUSE_RE = re.compile(
    r"第\s*([一二三四五六七八九十百零\d]+)\s*条(?:\s*[（(]\s*([一二三四五六七八九十]+)\s*[)）])?"
)

_ARTICLE_RE = re.compile(r"第[一二三四五六七八九十百零]+条")


def _outline_part(number: str) -> str:
    """``三`` or ``3`` → the outline label ``三、`` ("" when not a number up to 99)."""
    try:
        n = int(number) if number.isdigit() else cn_to_int(number)
    except ValueError:
        return ""
    return f"{int_to_cn(n)}、" if 0 < n <= 99 else ""


class ReferenceLookup:
    """Resolve the references of a question against the indexed clauses."""

    def __init__(self, clauses: Sequence[Clause]) -> None:
        self.by_doc: dict[str, list[Clause]] = {}
        for c in clauses:
            if c.doc_no:
                self.by_doc.setdefault(c.doc_no, []).append(c)

    def doc_nos(self, question: str) -> list[str]:
        """Documents the question names: full 文号, or a short ``87号`` that is unique."""
        found = [no for _s, _e, no in find_doc_nos(question) if no in self.by_doc]
        if found:
            return list(dict.fromkeys(found))
        out = []
        for m in _SHORT_RE.finditer(question):
            num = m.group(1)
            cands = [no for no in self.by_doc if re.search(rf"〕{num}号$", no)]
            if len(cands) == 1:
                out.append(cands[0])
        return out

    def __call__(self, question: str) -> list[Clause]:
        """The clauses the question names, in the order named, each once."""
        pinned: list[Clause] = []
        for _ref, found in self.resolve(question):
            pinned.extend(c for c in found if c not in pinned)
        return pinned

    def unresolved(self, question: str) -> list[str]:
        """The clause references of the question that name no clause of the named
        document ("嘉政发〔2014〕87号 第九十九条")."""
        return [ref for ref, found in self.resolve(question) if not found]

    def resolve(self, question: str) -> list[tuple[str, list[Clause]]]:
        """Each (document, clause reference) the question makes, with the clauses it
        names (empty when the document has no such clause)."""
        docs = self.doc_nos(question)
        if not docs:
            return []
        out: list[tuple[str, list[Clause]]] = []
        refs = list(_CLAUSE_RE.finditer(question))
        for no in docs:
            clauses = self.by_doc[no]
            for m in refs:
                wanted = set(canonical_clause_query(m.group(0)))
                hit = [c for c in clauses if c.label in wanted]
                # an article split into items (第二十四条 + 第二十四条（一）…): pin them all
                base = next((w for w in wanted if _ARTICLE_RE.fullmatch(w)), "")
                hit += [c for c in clauses if base and c.label.startswith(base) and c not in hit]
                if not hit and not any(_ARTICLE_RE.match(c.label) for c in clauses):
                    # a text in outline form: people call its "三、" the third article
                    part = _outline_part(m.group(1))
                    hit = [c for c in clauses if part and c.label.startswith(part)]
                out.append((f"{no} {m.group(0).strip()}", hit))
        return out
