"""Validity read off a policy text: when it takes effect, when it expires, whether it is
试行/暂行, and which documents it repeals; plus the links between stored documents.

Pure functions over a parsed :class:`~rag.models.Document`. What is read:

* the 施行 sentence: "本办法自2015年1月1日起施行", "自印发之日起实施" (→ the document's
  date), "本细则自2015年1月22日后实施" (→ that day), "本办法自2015年起试行" (→ ``2015``:
  only the precision the text gives),
  "本办法自2012年2月1日至2017年1月31日施行" (a start and an end), the preamble of a
  decree ("现予公布，自2020年9月1日起施行"). A sentence about another text ("《条例》颁布
  施行后", "暂时停止施行《…》") is not one: the subject must be the text itself (本办法,
  本意见 …) or the act of publishing it (现予公布);
* the expiry: "有效期至2020年12月31日", "有效期5年" / "有效期为五年" (counted from the
  start), in a sentence about the text itself ("谈判药品协议有效期为两年" is not);
* 试行/暂行: in the title, or the 施行 verb is 试行;
* repeals: each 《title》（文号） or bare 文号 of a sentence ending in 废止 (停止执行,
  不再执行, 同时失效), with what a partial repeal keeps or names ("除附件7-9外",
  "第十条") as text.

The 施行 article of an attached text counts for the document that attaches it (the
notice 嘉政发〔2014〕87号 attaches the 办法 whose 第五十一条 says 自2015年起试行).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from rag.errors import InputError, NotFoundError
from rag.ingest.docno import find_doc_nos
from rag.models import STATUSES, DocRef, Document, StatusMark

_CN_DIGITS = {c: i for i, c in enumerate("〇一二三四五六七八九")} | {"○": 0, "零": 0, "Ｏ": 0}
_NUM = r"\d{1,2}|[一二三四五六七八九十]{1,3}"
# A date with what precision it has: "2015年1月1日", "2015年", and a gazette's lost digits
# "2015年月日" (year only). Years may be written in Chinese numerals (二〇一五年).


def _date_re(p: str) -> str:
    """A date pattern whose groups are named ``{p}y``, ``{p}m``, ``{p}d``."""
    return (
        rf"(?P<{p}y>\d{{4}}|[〇○零一二三四五六七八九]{{4}})\s*年"
        rf"(?:\s*(?P<{p}m>{_NUM})?\s*月)?(?:\s*(?P<{p}d>{_NUM})?\s*[日号])?"
    )


_ISSUE_DAY = r"(?P<issue>印发|发布|公布|下发|颁布|签发|发文|批准|通过)之日"
_VERB = r"(?:开始|正式)?(?P<verb>施行|实施|执行|试行|生效)"
_EFFECTIVE_RE = re.compile(
    r"[自从于]\s*(?:" + _date_re("a") + "|" + _ISSUE_DAY + r")\s*(?:起|开始|以后|后)?\s*"
    r"(?:(?:至|到)\s*" + _date_re("b") + r"\s*止?\s*)?" + _VERB
)
# The text itself as the subject of a sentence (本办法, 本暂行办法, 本实施意见 …), or the
# act of publishing it (a decree's preamble).
_SELF_RE = re.compile(
    r"本(?:暂行|实施|补充|试行)?(?:办法|规定|条例|意见|通知|细则|预案|方案|决定|规则|制度|"
    r"标准|计划|规划|指南|公告|令|准则|纲要|措施|通告|规程)|现予(?:公布|发布|印发)|现印发"
)
_EXPIRES_AT_RE = re.compile(r"有效期(?:限)?(?:为|至|到)?\s*" + _date_re("e") + r"\s*止?")
_EXPIRES_FOR_RE = re.compile(
    r"有效期(?:限)?(?:为)?\s*(?P<n>\d{1,2}|[一二两三四五六七八九十]{1,2})\s*年"
)
_REPEAL_RE = re.compile(r"废止|停止执行|不再执行|同时失效")
_TITLE_REF_RE = re.compile(
    r"《(?P<title>[^《》]{2,80})》\s*(?:[（(](?P<paren>[^（）()]{0,60})[）)])?"
)
_ARTICLES_RE = re.compile(
    r"^\s*((?:第[一二三四五六七八九十百零\d]+[条款项章](?:[、，和及至]\s*)?)+)"
)
_TRIAL_TITLE_RE = re.compile(r"暂行|试行")
# "…（国办发〔2023〕17号）" and the like left at the front of a sentence by the title block
_LABEL_RE = re.compile(
    r"^\s*(?:第[一二三四五六七八九十百零]+[章条]|[一二三四五六七八九十]+、|[（(][一二三四五六七八九十\d]+[）)]|"
    r"\d+(?:\.\d+)*\.?)"
)


@dataclass
class ValidityReading:
    """What one text says about its own validity (empty strings when it says nothing)."""

    effective: str = ""
    expires: str = ""
    trial: bool = False
    supersedes: list[DocRef] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)


def _num(s: str | None) -> int | None:
    """An Arabic or Chinese number (up to 99; 两 = 2); None for None/""."""
    if not s:
        return None
    if s.isdigit():
        return int(s)
    if all(c in _CN_DIGITS for c in s):  # 二〇一五
        return int("".join(str(_CN_DIGITS[c]) for c in s))
    vals = {**{c: i for i, c in enumerate("零一二三四五六七八九")}, "两": 2}
    if "十" in s:
        tens, _, ones = s.partition("十")
        return (vals.get(tens, 1) if tens else 1) * 10 + (vals.get(ones, 0) if ones else 0)
    return vals.get(s)


def _iso(y: int | None, m: int | None, d: int | None) -> str:
    """``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``: only the precision given; "" if invalid."""
    if y is None:
        return ""
    if m is None:
        return f"{y:04d}"
    if d is None:
        return f"{y:04d}-{m:02d}" if 1 <= m <= 12 else f"{y:04d}"
    try:
        return date(y, m, d).isoformat()
    except ValueError:
        return f"{y:04d}-{m:02d}" if 1 <= m <= 12 else f"{y:04d}"


def _date_of(m: re.Match[str], p: str) -> str:
    return _iso(_num(m.group(f"{p}y")), _num(m.group(f"{p}m")), _num(m.group(f"{p}d")))


def _plus_years(start: str, years: int) -> str:
    """The last day (at ``start``'s precision) of ``years`` years counted from ``start``."""
    bits = [int(b) for b in start.split("-")]
    if len(bits) == 1:
        return f"{bits[0] + years - 1:04d}"
    if len(bits) == 2:
        months = bits[0] * 12 + bits[1] - 1 + years * 12 - 1
        return f"{months // 12:04d}-{months % 12 + 1:02d}"
    d0 = date(*bits)
    try:
        end = d0.replace(year=d0.year + years)
    except ValueError:  # 29 February
        end = d0.replace(year=d0.year + years, day=28)
    return (end - timedelta(days=1)).isoformat()


def sentences(text: str) -> list[str]:
    """Sentences of a clause or text: lines joined, cut after 。；; (kept)."""
    flat = re.sub(r"\s*\n\s*", "", text)
    return [s.strip() for s in re.findall(r"[^。；;]+[。；;]?", flat) if s.strip()]


def _about_itself(sentence: str, start: int) -> bool:
    """Whether the text before ``start`` makes the sentence about the text itself."""
    head = sentence[:start]
    return bool(_SELF_RE.search(head))


def read_effective(sentence: str, doc_date: str) -> tuple[str, str, bool] | None:
    """(effective, expires, 试行?) from one 施行 sentence about the text itself, else None.

    Args:
        sentence: One sentence (see :func:`sentences`).
        doc_date: The document's own date (ISO), for "自印发之日起施行".
    """
    for m in _EFFECTIVE_RE.finditer(sentence):
        if not _about_itself(sentence, m.start()):
            continue
        after = sentence[m.end() : m.end() + 2]
        if after.startswith("《"):  # "自…起施行《…》" has another text as its object
            continue
        start = doc_date if m.group("issue") else _date_of(m, "a")
        end = _date_of(m, "b") if m.group("by") else ""
        return start, end, m.group("verb") == "试行"
    return None


def read_expiry(sentence: str, start: str) -> str:
    """The expiry a sentence about the text itself gives ("有效期至…", "有效期5年"), or ""."""
    m = _EXPIRES_AT_RE.search(sentence)
    if m and _about_itself(sentence, m.start()):
        return _date_of(m, "e")
    m = _EXPIRES_FOR_RE.search(sentence)
    if m and _about_itself(sentence, m.start()) and start:
        n = _num(m.group("n"))
        if n:
            return _plus_years(start, n)
    return ""


def _partial_after(sentence: str, end: int) -> str:
    """Articles named right after a referenced title ("《…》第十条、第十一条同时废止")."""
    m = _ARTICLES_RE.match(sentence[end:])
    return m.group(1).rstrip("、，和及至 ") if m else ""


def read_repeals(sentence: str) -> list[DocRef]:
    """The documents a 废止 sentence repeals, in order, with partial repeals as text."""
    verbs = list(_REPEAL_RE.finditer(sentence))
    if not verbs:
        return []
    head = sentence[: verbs[-1].start()]  # "《甲》同时废止，乙不再执行": both
    refs: list[DocRef] = []
    covered: list[tuple[int, int]] = []
    for m in _TITLE_REF_RE.finditer(head):
        title = m.group("title").strip()
        paren = m.group("paren") or ""
        nos = find_doc_nos(paren)
        doc_no = nos[0][2] if nos else ""
        partial = ""
        if nos:
            partial = (paren[: nos[0][0]] + paren[nos[0][1] :]).strip(" ，,、；;")
        extra = _partial_after(head, m.end())
        partial = "；".join(p for p in (partial, extra) if p)
        refs.append(DocRef(doc_no=doc_no, title=title, partial=partial))
        covered.append((m.start(), m.end()))
    for start, end, no in find_doc_nos(head):
        if any(a <= start < b for a, b in covered) or any(r.doc_no == no for r in refs):
            continue
        refs.append(DocRef(doc_no=no, title="", partial=_partial_after(head, end)))
    return refs


def _strip_label(sentence: str) -> str:
    return _LABEL_RE.sub("", sentence, count=1)


def _texts(doc: Document) -> Iterable[tuple[int, str, str, str]]:
    """(part, part title, label, text) pieces to read: the clauses, or the whole text."""
    if doc.clauses:
        for c in doc.clauses:
            yield c.part, c.part_title if c.part else "", c.label, c.text
    else:
        yield 0, "", "", doc.text


def _evidence(part_title: str, label: str, sentence: str) -> str:
    """The evidence line: part title when attached, the label once, the sentence."""
    head = sentence if sentence.startswith(label) else f"{label} {sentence}"
    return f"{part_title} {head}".strip()


def is_trial(title: str) -> bool:
    """Whether a title names a 试行/暂行 text (not counting texts it quotes in 《》
    unless it publishes them: 关于印发《…暂行办法》的通知)."""
    if not re.search(r"印发|转发|发布|公布", title):
        title = re.sub(r"《[^《》]*》", "", title)
    return bool(_TRIAL_TITLE_RE.search(title))


def read_validity(doc: Document) -> ValidityReading:
    """Read a document's validity from its clauses (its own text first, then attachments)."""
    out = ValidityReading(trial=is_trial(doc.title))
    found: list[tuple[int, str, str, bool, str]] = []  # (part, start, end, trial, evidence)
    expiry: list[tuple[str, str]] = []  # (sentence, evidence)
    for part, part_title, label, text in _texts(doc):
        for s in sentences(text):
            body = _strip_label(s)
            ev = _evidence(part_title, label, s)
            got = read_effective(body, doc.date)
            if got is not None:
                found.append((part, got[0], got[1], got[2], ev))
            refs = read_repeals(body)
            if refs:
                out.supersedes.extend(r for r in refs if r not in out.supersedes)
                if ev not in out.evidence:
                    out.evidence.append(ev)
            if "有效期" in body:
                expiry.append((body, ev))
    if found:
        # the text's own 施行 sentence first, else the first attached text's (min is stable)
        _, start, end, trial, ev = min(found, key=lambda f: f[0])
        out.effective, out.expires = start, end
        out.trial = out.trial or trial
        out.evidence.insert(0, ev)
    for sentence, ev in expiry if not out.expires else []:
        out.expires = read_expiry(sentence, out.effective or doc.date)
        if out.expires:
            if ev not in out.evidence:
                out.evidence.append(ev)
            break
    return out


def apply_validity(doc: Document) -> Document:
    """Set ``doc``'s validity fields from its text (in place; returns ``doc``)."""
    r = read_validity(doc)
    doc.effective, doc.expires, doc.trial = r.effective, r.expires, r.trial
    doc.supersedes = r.supersedes
    doc.validity_evidence = r.evidence
    return doc


def _norm_title(t: str) -> str:
    return re.sub(r"[\s《》〈〉]", "", t)


def _names(ref: DocRef, d: Document) -> bool:
    if ref.doc_no:
        return ref.doc_no == d.doc_no
    return bool(ref.title) and _norm_title(ref.title) == _norm_title(d.title)


def link(documents: list[Document], marks: Iterable[StatusMark] = ()) -> None:
    """Fill ``superseded_by`` from the other documents' ``supersedes``, and each
    document's latest hand-set status from ``marks`` (in the order they were set)."""
    for d in documents:
        d.superseded_by = []
        d.status_mark = None
    for newer in documents:
        if not newer.printed:
            continue
        for ref in newer.supersedes:
            for old in documents:
                if old is newer or not _names(ref, old):
                    continue
                old.superseded_by.append(
                    DocRef(
                        doc_no=newer.doc_no,
                        title=newer.title,
                        partial=ref.partial,
                        effective=newer.effective or newer.date,
                    )
                )
    by_key = {d.key: d for d in documents}
    for mark in marks:
        marked = by_key.get(mark.doc_key)
        if marked is not None:
            marked.status_mark = mark if mark.status else None


def new_mark(doc: Document, status: str, note: str = "", by: str = "cli") -> StatusMark:
    """A hand-set status for ``doc`` (checked); "auto" (or "") puts the text's back."""
    s = status.strip()
    if s.lower() in ("auto", "自动"):
        s = ""
    if s and s not in STATUSES:
        raise InputError(f"unknown status {status!r}: use one of {', '.join(STATUSES)} or auto")
    if not doc.printed:
        raise NotFoundError(f"{doc.key} is listed on a contents page only: no text to set")
    if len(note) > 500:
        raise InputError("the note is too long (limit 500 characters)")
    at = datetime.now(UTC).replace(microsecond=0).isoformat()
    return StatusMark(doc_key=doc.key, status=s, note=note.strip(), at=at, by=by)
