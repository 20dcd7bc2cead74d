"""Documents named by a short name: 87号文, 〔2014〕87号, 沪医保条例, 国务院735号令, 医保局1号令.

No list of names is kept per document. The names are derived from what every document
has — its 文号, its title and the place it governs — with two data tables: the short
forms of bodies and terms (``index/short_forms.tsv``: 医疗保障 → 医保) and the places
with their one-character abbreviations (``index/places.tsv``: 上海 → 沪). The question
and the titles are shortened the same way before they are compared, so 上海医保条例,
上海市医疗保障条例 and 沪医保条例 all name 《上海市医疗保障条例》.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from rag.index.lexicon import places, shorten
from rag.ingest.docno import find_doc_nos

# "关于印发嘉兴市职工基本医疗保险暂行办法的通知" → the text it issues
_ISSUES = re.compile(
    r"(?:关于)?(?:印发|转发|批转|发布)《?(.+?)》?(?:等[^的]{1,6}文件)?的(?:通知|决定)$"
)
_QUOTED = re.compile(r"《([^》]{4,})》")
_KINDS = "条例|办法|规定|细则|意见|方案|规划|计划|通知|决定|令|预案|制度|纲要"
# 87号文, 〔2014〕87号, 2014年第87号, 735号令, 国务院令第735号
_NUMBER = re.compile(
    r"(?:[〔\[［【(（]\s*(\d{4})\s*[〕\]］】)）]|(\d{4})\s*年)?\s*第?\s*(\d{1,4})\s*号\s*(令|文件?)?"
)
_MIN_ALIAS = 5  # shorter names ("医保条例") name too many documents


@dataclass
class _Doc:
    key: str
    doc_no: str
    title: str
    aliases: set[str] = field(default_factory=set)
    number: str = ""
    year: str = ""
    prefix: str = ""  # what comes before the year or number: 嘉政发, 国务院令, 医保局令
    is_decree: bool = False


def _place_forms(name: str) -> list[str]:
    """上海 → [上海市, 上海, 沪]; 浙江 → [浙江省, 浙江, 浙]."""
    for p in places():
        if p.name == name:
            suffix = "省" if p.kind == "province" else "市" if p.kind == "city" else ""
            forms = [name + suffix, name] if suffix else [name]
            if p.kind in ("province", "city"):
                forms += [name + "市"] if p.kind == "province" else []
            return list(dict.fromkeys([*forms, *p.short]))
    return [name]


def _inner_titles(title: str) -> list[str]:
    """The title and the title of the text it issues, if any."""
    out = [title]
    m = _QUOTED.search(title)
    if m:
        out.append(m.group(1))
    m = _ISSUES.search(title)
    if m:
        out.append(m.group(1))
    return list(dict.fromkeys(t.strip() for t in out if t.strip()))


def _aliases(title: str) -> set[str]:
    """Names a document can be called by: its titles, shortened, with place variants."""
    out: set[str] = set()
    for t in _inner_titles(title):
        for form in {t, shorten(t)}:
            out.add(form)
            for p in places():
                for start in (p.name + "市", p.name + "省", p.name):
                    if form.startswith(start):
                        core = form[len(start) :]
                        if not re.search(rf"({_KINDS})$", core):
                            continue
                        out.update(f + core for f in _place_forms(p.name))
                        out.add(core)
                        break
    return {a for a in out if len(a) >= _MIN_ALIAS}


class DocNames:
    """Resolve the documents a question names, by 文号 or by a short name."""

    def __init__(self, docs: Iterable[tuple[str, str]]) -> None:
        """``docs``: (文号, title) of every document ("" 文号 for a document without one)."""
        self.docs: list[_Doc] = []
        seen: set[str] = set()
        for doc_no, title in docs:
            key = doc_no or title
            if not key or key in seen:
                continue
            seen.add(key)
            d = _Doc(key=key, doc_no=doc_no, title=title, aliases=_aliases(title))
            m = re.match(r"^(.*?)(?:〔(\d{4})〕)?第?(\d+)号$", doc_no)
            if m:
                d.prefix, d.year, d.number = shorten(m.group(1)), m.group(2) or "", m.group(3)
                d.is_decree = d.prefix.endswith("令")
            self.docs.append(d)
        # a name every document of one set shares names none of them
        counts: dict[str, int] = {}
        for d in self.docs:
            for a in d.aliases:
                counts[a] = counts.get(a, 0) + 1
        for d in self.docs:
            d.aliases = {a for a in d.aliases if counts[a] == 1}

    def resolve(self, question: str) -> list[str]:
        """Keys (文号, or title) of the documents the question names, in order of mention."""
        found: list[tuple[int, str]] = []
        known = {d.doc_no for d in self.docs if d.doc_no}
        for start, _end, no in find_doc_nos(question):
            if no in known:
                found.append((start, no))
        short_q = shorten(question)
        if not found:
            found += self._by_number(question)
        for d in self.docs:
            best = max((a for a in d.aliases if a in short_q), key=len, default="")
            if best and d.key not in {k for _, k in found}:
                found.append((short_q.index(best), d.key))
        return list(dict.fromkeys(k for _, k in sorted(found)))

    def _by_number(self, question: str) -> list[tuple[int, str]]:
        out: list[tuple[int, str]] = []
        for m in _NUMBER.finditer(question):
            year = m.group(1) or m.group(2) or ""
            number, tail = m.group(3), m.group(4) or ""
            before = shorten(question[max(0, m.start() - 8) : m.start()])
            cands = [d for d in self.docs if d.number == number and (not year or d.year == year)]
            if tail == "令" or before.endswith("令"):
                cands = [d for d in cands if d.is_decree]
            if len(cands) > 1 and before:
                # "国务院735号令", "医保局1号令": the body named right before the number
                named = [d for d in cands if _body(d.prefix) and _body(d.prefix) in before]
                cands = named or cands
            if len(cands) == 1:
                out.append((m.start(), cands[0].key))
        return out


def _body(prefix: str) -> str:
    """The issuing body in a 文号 prefix: 国务院令 → 国务院, 国家医保局令 → 医保局."""
    body = prefix.removesuffix("令")
    return body.removeprefix("国家") if len(body) > 3 else body
