"""Parser for single policy files: the ``external/`` texts and a user's own ``.txt``/``.md``.

A file holds one document or several concatenated ones. What is recognised:

* line 1 provenance (``# source: …`` or ``<!-- source: … -->``), skipped;
* markdown front matter (``---`` … ``---``: title, office, publish) and a header ending at
  ``<!-- INFO END -->`` (``# 标题``, ``2021年1月15日 中华人民共和国国务院令第735号公布``);
* pkulaw junk (``【法宝引证码】``, ``原文链接：``, a duplicated title line), page numbers;
* each document: title line(s) above a 文号 line (``（国办发〔2023〕17 号）``), the addressee
  line (dropped), the body, a signature block (issuer lines + date), then attached texts,
  each starting at a short title line or an ``附件N：`` line;
* documents without a 文号 (条例 passed by a people's congress): title and date/issuer from
  the header (``…人民代表大会常务委员会第十五次会议通过``).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import CorpusError
from rag.ingest.docno import find_doc_nos
from rag.ingest.draft import DocDraft
from rag.ingest.labels import cn_to_int, parse_marker
from rag.ingest.outline import (
    Line,
    RawClause,
    clean_text,
    ends_sentence,
    is_date_line,
    is_org_line,
    join_lines,
    split_clauses,
)
from rag.ingest.source import read_text
from rag.models import SourceSpan

__all__ = ["DocDraft", "issuer_from_doc_no", "parse_date", "parse_external"]

_PROVENANCE_RE = re.compile(r"^\s*(?:#\s*source:|<!--\s*source:)")
_JUNK_RE = re.compile(r"^(?:【法宝引证码】.*|原文链接[:：].*|[-—－]\s*\d{1,4}\s*[-—－]|<!--.*-->)$")
_INFO_END = "<!-- INFO END -->"
_FRONT_RE = re.compile(r"^(?P<key>[A-Za-z_]+)\s*:\s*\"?(?P<value>.*?)\"?\s*$")
_DATE_IN_TEXT_RE = re.compile(
    r"(?P<y>\d{4}|[〇○零一二三四五六七八九Ｏ]{4})\s*年\s*(?P<m>\d{1,2}|[一二三四五六七八九十]{1,3})\s*月"
    r"\s*(?P<d>\d{1,2}|[一二三四五六七八九十]{1,3})\s*日"
)
_CONGRESS_RE = re.compile(
    r"(?:^|[\s（(日])(?P<place>[\u4e00-\u9fff]{2,12}?)第[一二三四五六七八九十]+届"
    r"(?P<body>人民代表大会(?:常务委员会)?)"
)
_TITLE_ISSUER_RE = re.compile(r"^(?P<org>[\u4e00-\u9fff（）()]{2,30}?)关于")
_ANNEX_HEADER_RE = re.compile(r"^附\s*件\s*(?P<n>\d+|[一二三四五六七八九十]+)?\s*[:：]?\s*$")
_MAX_TITLE = 60
_MAX_TITLE_LINES = 3

# Fallback only, when neither signature, header nor title names the issuer.
ISSUER_BY_PREFIX = {
    "国发": "国务院",
    "国函": "国务院",
    "国办发": "国务院办公厅",
    "国办函": "国务院办公厅",
    "医保发": "国家医疗保障局",
    "医保函": "国家医疗保障局",
    "医保办发": "国家医疗保障局办公室",
    "医保办函": "国家医疗保障局办公室",
    "浙政发": "浙江省人民政府",
    "浙政办发": "浙江省人民政府办公厅",
    "浙政办函": "浙江省人民政府办公厅",
    "嘉政发": "嘉兴市人民政府",
    "嘉政办发": "嘉兴市人民政府办公室",
    "余府发": "新余市人民政府",
}


def issuer_from_doc_no(doc_no: str) -> str:
    """Issuer implied by a canonical 文号 (decree body, or the prefix table); "" if unknown."""
    m = re.match(r"^(?P<org>.+?)令第\d+号$", doc_no)
    if m:
        return m.group("org")
    prefix = doc_no.split("〔", 1)[0]
    return ISSUER_BY_PREFIX.get(prefix, "")


def parse_date(text: str) -> str:
    """ISO date of the first ``YYYY年M月D日`` (Arabic or Chinese numerals) in ``text``; ""."""
    m = _DATE_IN_TEXT_RE.search(text)
    if not m:
        return ""
    try:
        y, mo, d = (cn_to_int(m.group(k)) for k in ("y", "m", "d"))
    except ValueError:
        return ""
    if not (1 <= mo <= 12 and 1 <= d <= 31 and 1900 <= y <= 2100):
        return ""
    return f"{y:04d}-{mo:02d}-{d:02d}"


@dataclass
class _Header:
    """What the file header says (front matter, ``# title``, adoption/publication lines)."""

    title: str = ""
    office: str = ""
    date: str = ""
    doc_no: str = ""
    lines: list[str] = field(default_factory=list)


def _read(path: Path) -> list[str]:
    return read_text(path).splitlines()


def _parse_header(lines: list[str]) -> tuple[_Header, int]:
    """Read provenance, front matter and an INFO END header; return it and the body's index."""
    h = _Header()
    i = 0
    if lines and _PROVENANCE_RE.match(lines[0]):
        i = 1
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i < len(lines) and lines[i].strip() == "---":
        j = i + 1
        while j < len(lines) and lines[j].strip() != "---":
            m = _FRONT_RE.match(lines[j].strip())
            if m:
                key, value = m.group("key"), m.group("value").strip()
                if key == "title":
                    h.title = value
                elif key == "office":
                    h.office = value
                elif key == "publish" and re.match(r"\d{4}-\d{2}-\d{2}", value):
                    h.date = value[:10]
            j += 1
        i = min(j + 1, len(lines))
    end = next((k for k in range(i, min(len(lines), i + 40)) if _INFO_END in lines[k]), None)
    if end is not None:
        h.lines = [ln for ln in lines[i:end] if ln.strip()]
        i = end + 1
    for ln in h.lines:
        t = clean_text(ln)
        if ln.lstrip().startswith("#") and not h.title:
            h.title = t
        _read_adoption_line(h, t)
    return h, i


def _read_adoption_line(h: _Header, t: str) -> bool:
    """Take date / issuer / decree number from ``…会议通过`` / ``…令第N号公布`` lines."""
    if not re.search(r"(?:通过|公布|发布|批准)[）)]?$", t):
        return False
    date = parse_date(t)
    if "公布" in t or "发布" in t:
        for _, _, canon in find_doc_nos(t):
            h.doc_no = h.doc_no or canon
        if date:
            h.date = date  # publication wins over adoption
    elif date and not h.date:
        h.date = date
    m = _CONGRESS_RE.search(t)
    if m and not h.office:
        h.office = m.group("place") + m.group("body")
    return True


def _is_doc_no_line(text: str) -> str:
    """The canonical 文号 when the line is only a 文号 (in brackets or not); else ""."""
    t = text.strip().strip("（）()").strip()
    hits = find_doc_nos(t)
    if len(hits) == 1:
        start, end, canon = hits[0]
        if not (t[:start] + t[end:]).strip():
            return canon
    return ""


def _title_like(text: str) -> bool:
    """A short line that can be (part of) a title: no sentence end, no marker, no date."""
    if not text or len(text) > _MAX_TITLE or ends_sentence(text):
        return False
    if text.startswith("【") or is_date_line(text) or re.search(r"[。；;，,、]$|[。；;，,]", text):
        return False  # titles have no sentence punctuation; a PDF line fragment does
    m = parse_marker(text)
    return m is None


@dataclass
class _Region:
    title: str
    doc_no: str
    title_start: int  # index of the first title line
    body_start: int  # index of the first body line
    end: int  # exclusive


def _find_regions(texts: list[str], start: int, header: _Header) -> list[_Region]:
    """Split the body into documents: one per 文号 line, with the title lines above it."""
    docno_idx = [i for i in range(start, len(texts)) if texts[i] and _is_doc_no_line(texts[i])]
    regions: list[_Region] = []
    for i in docno_idx:
        title_lines: list[int] = []
        k = i - 1
        while k >= start and len(title_lines) < _MAX_TITLE_LINES:
            if not texts[k]:
                k -= 1
                continue
            if not _title_like(texts[k]):
                break
            if regions and k < regions[-1].body_start:
                break
            title_lines.insert(0, k)
            k -= 1
        body = i + 1
        if not title_lines:
            # Some files print the 文号 above the title.
            k = i + 1
            while k < len(texts) and len(title_lines) < _MAX_TITLE_LINES:
                if texts[k] and not _title_like(texts[k]):
                    break
                if texts[k]:
                    title_lines.append(k)
                k += 1
            body = title_lines[-1] + 1 if title_lines else body
        title = ""
        for j in title_lines:
            if texts[j] != title and texts[j] not in title:  # duplicated title lines (pkulaw)
                title += texts[j]
        first = min(title_lines[0], i) if title_lines else i
        if not regions and header.title and not title:
            title = header.title
        regions.append(_Region(title, _is_doc_no_line(texts[i]), first, body, len(texts)))
    for a, b in itertools.pairwise(regions):
        a.end = b.title_start
    if regions:
        regions[0].title_start = min(regions[0].title_start, start)
        return regions
    # No 文号 line: one document, titled by the header or by its first line, which may end
    # with its 文号 in brackets (嘉兴市人民政府关于…的通知（嘉政发〔2017〕1号）).
    title, doc_no = header.title, header.doc_no
    body = start
    first_line = next((i for i in range(start, len(texts)) if texts[i]), None)
    if first_line is not None and not title:
        line = texts[first_line]
        m = re.match(r"^(?P<title>.+?)[（(](?P<no>[^（）()]+)[）)]$", line)
        if m and _is_doc_no_line(m.group("no")) and _title_like(m.group("title")):
            title, doc_no = m.group("title"), _is_doc_no_line(m.group("no"))
            body = first_line + 1
        elif _title_like(line):
            title = line
            body = first_line + 1
    return [_Region(title, doc_no, start, body, len(texts))]


def _strip_front(texts: list[str], r: _Region, header: _Header) -> int:
    """Skip what stands between the 文号 and the body: repeated titles, adoption notes, the
    addressee line. Returns the index of the first body line."""
    i = r.body_start
    while i < r.end:
        t = texts[i]
        if not t:
            i += 1
            continue
        if t == r.title or (r.title and t.replace(" ", "") == r.title.replace(" ", "")):
            i += 1
            continue
        if re.fullmatch(r"[（(].*(?:通过|公布|发布|批准|修正|修订).*[）)]", t):
            _read_adoption_line(header, t.strip("（）()"))
            i += 1
            continue
        if (
            t.endswith(("：", ":"))
            and len(t) <= 120
            and "。" not in t
            and parse_marker(t) is None
            and re.search(r"[，,、]", t)
        ):
            i += 1  # addressees: 各省、自治区、直辖市人民政府，国务院各部委…：
        break
    return i


@dataclass
class _Signature:
    date_idx: int
    orgs: list[str]


def _signatures(texts: list[str], start: int, end: int) -> list[_Signature]:
    """Date lines in [start, end) with the issuer lines just above them."""
    out: list[_Signature] = []
    for i in range(start, end):
        if not texts[i] or not is_date_line(texts[i]):
            continue
        orgs: list[str] = []
        k = i - 1
        while k >= start and len(orgs) < 4:
            if not texts[k]:
                k -= 1
                continue
            if not is_org_line(texts[k]) or parse_marker(texts[k]) is not None:
                break
            orgs.insert(0, texts[k])
            k -= 1
        out.append(_Signature(i, orgs))
    return out


def _next_content(texts: list[str], i: int, end: int) -> int | None:
    for k in range(i, end):
        if texts[k]:
            return k
    return None


def _split_parts(
    texts: list[str], body: int, end: int, sigs: list[_Signature]
) -> list[tuple[str, int, int]]:
    """``(part_title, start, end)`` for the main text and each attached text."""
    explicit = [i for i in range(body, end) if texts[i] and _ANNEX_HEADER_RE.match(texts[i])]
    main_end = end
    for s in sigs:
        nxt = _next_content(texts, s.date_idx + 1, end)
        # After a signature, a title line starts the attached texts; an article or chapter
        # (a decree's 令 text printed after its promulgation note) continues the main text.
        if nxt is not None and (_title_like(texts[nxt]) or nxt in explicit):
            main_end = s.date_idx + 1
            break
    if explicit:
        main_end = min(main_end, explicit[0])
    parts: list[tuple[str, int, int]] = [("", body, main_end)]
    starts: list[tuple[int, int]] = []  # (first line of the part, title line index)
    i = main_end
    prev_ended = True
    while i < end:
        t = texts[i]
        if not t:
            i += 1
            continue
        if i in explicit:
            nxt = _next_content(texts, i + 1, end)
            title_idx = nxt if nxt is not None and _title_like(texts[nxt]) else i
            starts.append((i, title_idx))
            i = title_idx + 1
            prev_ended = True
            continue
        if not explicit and prev_ended and _title_like(t) and not is_org_line(t):
            starts.append((i, i))
            i += 1
            continue
        prev_ended = ends_sentence(t) or is_date_line(t) or is_org_line(t)
        i += 1
    if starts and starts[0][0] > main_end:
        # Text between the signature and the first attachment title stays in the main text.
        parts[0] = ("", body, starts[0][0])
    for n, (_first, title_idx) in enumerate(starts):
        stop = starts[n + 1][0] if n + 1 < len(starts) else end
        parts.append((texts[title_idx], title_idx + 1, stop))
    return parts


def _clauses(raw: list[str], start: int, end: int) -> list[RawClause]:
    lines = [Line(i + 1, raw[i]) for i in range(start, end)]
    return split_clauses(lines)


def _issuer(sigs: list[_Signature], header: _Header, title: str, doc_no: str, main_end: int) -> str:
    for s in sigs:
        if s.date_idx < main_end:
            orgs = [o for o in s.orgs if not re.search(r"[长任记]\s*[：:]", o)]
            if orgs:
                return "、".join(orgs)
    if header.office:
        return header.office
    decree = issuer_from_doc_no(doc_no) if "令第" in doc_no else ""
    if decree:
        return decree
    m = _TITLE_ISSUER_RE.match(title)
    if m:
        return m.group("org")
    return issuer_from_doc_no(doc_no)


def parse_external(path: Path, text: str | None = None) -> list[DocDraft]:
    """Parse one policy file into its documents.

    Args:
        path: A ``.txt`` or ``.md`` file: one of ``data/corpus/external/`` or a user's own.
            Its name is the documents' ``source``.
        text: The file's text when the caller has already read (and repaired) it; line
            numbers must match the file's. Read from ``path`` when None.

    Returns:
        The documents in file order, each with its parts and clauses
        (:meth:`DocDraft.to_document` turns one into a :class:`rag.models.Document`).

    Raises:
        CorpusError: The file cannot be read, is not UTF-8 text, or holds no policy text.
    """
    raw = _read(path) if text is None else text.splitlines()
    header, start = _parse_header(raw)
    texts = [
        "" if _JUNK_RE.match(t.strip()) or _JUNK_RE.match(clean_text(t)) else clean_text(t)
        for t in raw
    ]
    texts[:start] = [""] * start
    # The raw lines minus junk: the segmenter repairs them itself (line numbers kept).
    kept = [raw[i] if texts[i] else "" for i in range(len(raw))]
    regions = _find_regions(texts, start, header)
    drafts: list[DocDraft] = []
    for r in regions:
        body = _strip_front(texts, r, header)
        sigs = _signatures(texts, body, r.end)
        parts = _split_parts(texts, body, r.end, sigs)
        doc_no = r.doc_no or header.doc_no
        title = r.title or header.title or path.stem
        main_end = parts[0][2]
        draft_parts: list[tuple[str, list[RawClause]]] = []
        for n, (ptitle, a, b) in enumerate(parts):
            cl = _clauses(kept, a, b)
            if n == 0 or cl:
                draft_parts.append((title if n == 0 else ptitle, cl))
        in_main = [s for s in sigs if s.date_idx < main_end]
        date = parse_date(texts[in_main[0].date_idx]) if in_main else ""
        date = date or header.date
        span_end = max((i + 1 for i in range(r.title_start, r.end) if texts[i]), default=r.end)
        drafts.append(
            DocDraft(
                doc_no=doc_no,
                title=title,
                issuer=_issuer(sigs, header, title, doc_no, main_end),
                date=date,
                source=path.name,
                parts=draft_parts,
                span=SourceSpan(path.name, r.title_start + 1, span_end),
                text=join_lines(kept[r.title_start : r.end]),
            )
        )
    if not drafts or not any(d.n_clauses for d in drafts):
        raise CorpusError(f"{path.name}: no policy text found")
    return drafts
