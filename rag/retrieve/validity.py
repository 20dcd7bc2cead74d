"""Texts in force first: retrieval post-processing and the warnings an answer carries.

Two steps any answerer can be wrapped in (see ``Assistant.search`` and ``Assistant.ask``):

* :meth:`InForce.rerank` moves a document that is not in force (repealed, expired, not yet
  in force) below the hits of a related document that is: its successor, or for a
  question about a year (``2015年…``), the text in force that year. Documents with no
  successor or predecessor among the hits keep their place (a text is never hidden
  because it is old; it is cited with a warning);
* :meth:`InForce.annotate` gives every citation its document's date and status (as of
  ``RAG_AS_OF``, default today) and a plain warning where the text is repealed, expired,
  not yet in force or 暂行/试行 ("该文件已于2017年1月1日被嘉政发〔2016〕120号废止",
  "该文件为2014年暂行办法，请以现行政策为准"); the warnings are also answer notes.

Neither step looks inside the answer text, so both survive a new answerer.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable
from datetime import date
from pathlib import Path

from rag.ingest.docno import find_doc_nos
from rag.models import (
    EXPIRED,
    IN_FORCE,
    NOT_YET,
    REPEALED,
    UNSTATED,
    Answer,
    Document,
    Hit,
    period_end,
    period_start,
)

_YEAR_RE = re.compile(r"(?<!\d)((?:19|20)\d{2})\s*年(?:\s*(\d{1,2})\s*月)?(?:\s*(\d{1,2})\s*日)?")
# a year that dates a person or a plan's span, not the time the question is about
_NOT_A_TIME_RE = re.compile(
    r"^\s*(?:出生|生的|生人|以前出生|\d*\s*月\s*\d*\s*日?\s*出生|[～~—－-])"
)
# the words after a year that go with it ("2015年的时候，…")
_TIME_TAIL_RE = re.compile(r"(?:的时候|时候|时|的|度|里|内|以来)?[，,]?")
_GENRES = "办法|规定|条例|细则|意见|方案|预案|规则|制度|标准|计划|规划|决定"


def cn_date(value: str) -> str:
    """``2017-01-01`` → ``2017年1月1日``, ``2015`` → ``2015年`` (the precision given)."""
    bits = [int(b) for b in value.split("-")] if value else []
    units = ("年", "月", "日")
    return "".join(f"{b}{u}" for b, u in zip(bits, units, strict=False))


def _since(value: str) -> str:
    """The words for when a repeal took effect: 已于2017年1月1日, or 已 when unknown."""
    return f"已于{cn_date(value)}" if value else "已"


def _time_mentions(question: str) -> list[re.Match[str]]:
    """The dates of a question that say when it is about (not those inside a 文号, a title
    in 《》, a birth date or a span such as 2014～2016年)."""
    blocked = [(a, b) for a, b, _ in find_doc_nos(question)]
    blocked += [m.span() for m in re.finditer(r"《[^《》]*》", question)]
    out = []
    for m in _YEAR_RE.finditer(question):
        if any(a <= m.start() < b for a, b in blocked):
            continue
        if _NOT_A_TIME_RE.match(question[m.end() :]) or question[: m.start()].endswith(("～", "~")):
            continue
        out.append(m)
    return out


def asked_date(question: str) -> date | None:
    """The day a question is about, when it names one year (or date): ``2015年`` → the
    last day of 2015. None when it names none, several years, or only years inside a
    文号, a title in 《》, a birth date or a span."""
    found: set[str] = set()
    for m in _time_mentions(question):
        y, mo, d = m.group(1), m.group(2), m.group(3)
        value = y
        if mo and 1 <= int(mo) <= 12:
            value += f"-{int(mo):02d}"
            if d:
                with contextlib.suppress(ValueError):  # 2月30日: keep the month
                    value = date(int(y), int(mo), int(d)).isoformat()
        found.add(value)
    if len({v[:4] for v in found}) != 1:
        return None
    return period_end(min(found))


def without_time(question: str) -> str:
    """``question`` without the dates :func:`asked_date` reads, and the words that carry
    them ("在2015年的时候，住院…" → "住院…")."""
    out = question
    for m in reversed(_time_mentions(question)):
        start, end = m.span()
        if out[:start].endswith(("在", "于")):
            start -= 1
        tail = _TIME_TAIL_RE.match(out, end)
        out = out[:start] + out[tail.end() if tail else end :]
    return out.strip()


def trial_name(doc: Document) -> str:
    """What kind of provisional text ``doc`` is: 暂行办法, 试行预案 …"""
    m = re.search(rf"暂行({_GENRES})", doc.title)
    if m:
        return m.group(0)
    m = re.search(rf"({_GENRES})[（(]试行[）)]", doc.title)
    if m:
        return f"试行{m.group(1)}"
    m = re.search(rf"({_GENRES})", doc.title.rsplit("关于", 1)[-1].replace("通知", ""))
    return f"试行{m.group(1)}" if m else "试行文件"


class InForce:
    """What answering needs to know about each document's validity, as of one day."""

    def __init__(self, documents: Iterable[Document], as_of: date | None = None) -> None:
        self._as_of = as_of  # None: today, whenever asked (a server runs for days)
        self.docs: dict[str, Document] = {d.key: d for d in documents}
        self._related = self._relations()

    @property
    def as_of(self) -> date:
        return self._as_of or date.today()

    @classmethod
    def from_store(cls, path: Path, as_of: date | None = None) -> InForce:
        """Documents (metadata and validity only) of the corpus store at ``path``."""
        from rag.ingest import store

        return cls(store.load(path, documents_only=True).documents, as_of)

    def _relations(self) -> dict[str, set[str]]:
        """doc key → keys of the documents linked to it by repeals, either way, transitively."""
        by_name = {}
        for d in self.docs.values():
            by_name[d.doc_no or d.title] = d.key
        edges: dict[str, set[str]] = {}
        for d in self.docs.values():
            for ref in d.superseded_by:
                other = by_name.get(ref.doc_no or ref.title)
                if other and other != d.key:
                    edges.setdefault(d.key, set()).add(other)
                    edges.setdefault(other, set()).add(d.key)
        out: dict[str, set[str]] = {}
        for key in edges:
            seen, todo = {key}, [key]
            while todo:
                for nxt in edges.get(todo.pop(), ()):
                    if nxt not in seen:
                        seen.add(nxt)
                        todo.append(nxt)
            out[key] = seen - {key}
        return out

    # -- status -------------------------------------------------------------------------
    def status(self, key: str, on: date | None = None) -> str:
        """A document's status on ``on`` (default: as of); 未注明 for an unknown document.

        A status set by hand describes the present, so it counts only for ``as_of``.
        """
        d = self.docs.get(key)
        if d is None:
            return UNSTATED
        day = on or self.as_of
        return d.status_on(day, by_hand=day == self.as_of)

    def in_force(self, key: str, on: date | None = None) -> bool:
        return self.status(key, on) in (IN_FORCE, UNSTATED)

    # -- retrieval ----------------------------------------------------------------------
    def outranked(self, question: str, hits: list[Hit], on: date | None = None) -> set[str]:
        """Keys of the documents among ``hits`` that are not in force on ``on`` (default:
        the year the question names, else as of) while a related document among ``hits``
        is: the texts to rank below their successor (or, for a year, the text of then)."""
        if not self._related or not hits:
            return set()
        on = on or asked_date(question) or self.as_of
        keys = {h.clause.doc_key for h in hits}
        live = {k for k in keys if self.in_force(k, on)}
        return {k for k in keys - live if self._related.get(k, set()) & live}

    def rerank(self, question: str, hits: list[Hit], on: date | None = None) -> list[Hit]:
        """The hits of :meth:`outranked` documents moved below all others; the order is
        otherwise kept (stable sort)."""
        down = self.outranked(question, hits, on)
        return sorted(hits, key=lambda h: h.clause.doc_key in down) if down else hits

    def time_matters(self, keys: Iterable[str], on: date) -> bool:
        """Whether ``on`` decides between texts: one of ``keys`` has a related document
        whose being in force on ``on`` differs from its own."""
        for k in keys:
            mine = self.in_force(k, on)
            if any(self.in_force(r, on) != mine for r in self._related.get(k, ())):
                return True
        return False

    def settle_date(self, question: str, hits: list[Hit], on: date | None) -> str:
        """``question`` without its year when the year chose between related texts among
        ``hits`` (the answer then comes from the text in force that year, and an answerer
        need not find the year in it); else ``question`` unchanged."""
        if on is None or not self.time_matters({h.clause.doc_key for h in hits}, on):
            return question
        return without_time(question) or question

    # -- answers ------------------------------------------------------------------------
    def warning(self, key: str) -> str:
        """The plain warning a citation of this document carries as of ``as_of``, or ""."""
        d = self.docs.get(key)
        if d is None:
            return ""
        status = self.status(key)
        mark = d.status_mark
        if mark is not None and mark.status:
            note = f"：{mark.note}" if mark.note else ""
            if status in (IN_FORCE, UNSTATED):
                return ""
            return f"该文件状态为{status}（人工标注{note}）"
        if status == REPEALED:
            refs = d.repeals_on(self.as_of)
            when = {r.effective for r in refs}
            by = "、".join(r.name for r in refs)
            since = _since(refs[0].effective) if len(when) == 1 else ""
            return f"该文件{since or '已'}被{by}废止，请以现行文件为准"
        if status == EXPIRED:
            return f"该文件有效期至{cn_date(d.expires)}，已过有效期，请以现行政策为准"
        if status == NOT_YET:
            return f"该文件自{cn_date(d.effective)}起施行，目前尚未施行"
        parts = [
            f"该文件部分内容{_since(r.effective)}被{r.name}废止（{r.partial}）"
            for r in d.superseded_by
            if r.partial and (period_start(r.effective) or self.as_of) <= self.as_of
        ]
        if d.trial:
            year = (d.date or d.effective)[:4]
            parts.append(f"该文件为{year}年{trial_name(d)}，请以现行政策为准")
        return "；".join(parts)

    def annotate(self, answer: Answer, question: str = "") -> Answer:
        """Give every citation its document's date, status and warning; add the warnings
        (once per document) and, for a question about a year, which cited texts were not
        in force that year, to the answer's notes. Returns ``answer`` (changed in place)."""
        on = asked_date(question) if question else None
        keys = [c.doc_no or c.title for c in answer.citations]
        if on is not None and self.time_matters(keys, on):
            then = [k for k in dict.fromkeys(keys) if k in self.docs and self.in_force(k, on)]
            names = "、".join(self.docs[k].doc_no or f"《{self.docs[k].title}》" for k in then)
            if names:
                answer.notes.append(f"按{on.year}年时施行的{names}作答")
        seen: set[str] = set()
        for c in answer.citations:
            key = c.doc_no or c.title
            d = self.docs.get(key)
            c.date = d.date if d is not None else ""
            c.status = self.status(key)
            c.warning = self.warning(key)
            if key in seen or d is None:
                continue
            seen.add(key)
            name = d.doc_no or f"《{d.title}》"
            if c.warning:
                answer.notes.append(f"{name}：{c.warning}")
            if on is not None and on != self.as_of and not self.in_force(key, on):
                answer.notes.append(f"{name}：所问的{on.year}年时该文件{self.status(key, on)}")
        return answer
