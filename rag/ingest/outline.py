"""The generic clause segmenter: one text (a document body or an attached text) → clauses.

Input is the lines of ONE text in reading order, as extracted: blank lines, markdown ``#`` and
``**`` (unreliable, stripped), lines broken mid-sentence (PDF), spaces inside words, ``㈠``
item markers, leading full-width spaces. Output is one :class:`RawClause` per smallest unit
that can be cited on its own. Clause text is the printed text repaired only where extraction
broke it (markup, PDF spaces and line breaks, ``㈠`` → ``（一）``), so it can be found in the
source; labels are canonical (``(一)`` printed → ``（一）`` in the label).

Granularity rules (the numbers are module constants):

* **Articles.** A text with a run of 第X条 articles is segmented by article; chapters and
  sections (第X章/节) become ``headings``; a table of contents (目录 + chapter lines) is
  skipped. An article longer than ``ARTICLE_SPLIT_MIN`` chars whose （一）（二） items are
  separate rules (mostly full sentences ending in 。, on average at least ``RULE_ITEM_MIN``
  chars, and no closing paragraph referring back to them: 前款, 本条 …) is split: the
  lead-in is a clause ``第X条`` and each item a clause ``第X条（一）`` with the lead-in as
  heading. Enumerations (items ending in ；, "…的；") stay inside their article.
* **Outlines** (一、 → （一） → 1. → （1）, decimal ``3.2`` sections, ``【名称】`` sections): a
  tree is built from the markers, then each item with sub-items is kept whole when its whole
  text is at most ``KEEP_WHOLE_MAX`` chars, or when all its sub-items are short (each under
  ``SMALL_CHILD_MAX``) and the whole is at most ``HARD_MAX``. Otherwise the sub-items become
  clauses, the item's heading becomes context for them, and the item's own text before its
  first sub-item (if it says more than the heading) is a clause with the item's label.
* ``专栏N`` boxes are always clauses of their own, labelled ``专栏N``.
* Text before the first numbered unit is a clause ``序言`` when it has substance; an ``附件：``
  list at the end is a clause ``附件``; signature and date lines are dropped.
* A clause over ``HARD_MAX`` chars is cut at paragraph ends into pieces with the same label.

False markers are rejected by position (only at a line start, not after a line broken
mid-sentence) and by numbering, which must continue the current level (``（三）`` only after
``（二）``) or start a new one at 1; (一)… numbered continuously across 一、二、 sections
is accepted too.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

from rag.ingest.labels import OUTLINE_KINDS, Marker, parse_marker

ARTICLE_SPLIT_MIN = 400
RULE_ITEM_MIN = 50
KEEP_WHOLE_MAX = 800
SMALL_CHILD_MAX = 120
HARD_MAX = 2000
CHUNK_TARGET = 1200
MIN_PREAMBLE = 10
MIN_OWN_TEXT = 20
HEADING_MAX = 40
LEAD_HEADING_MAX = 120
# PDF texts wrap at a fixed width (15–60 chars): a line that long without 。 at its end is a
# broken line, never a heading. Texts with one paragraph per line have no such width.
FULL_WIDTH_MIN = 15
FULL_WIDTH_MAX = 60
FULL_WIDTH_RATIO = 0.8


@dataclass
class Line:
    """One physical source line, already punctuation-repaired."""

    no: int  # 1-based line number in the source file
    text: str


@dataclass
class RawClause:
    """A clause before it is attached to a document.

    Attributes:
        label: Canonical numbering path (``第十四条``, ``二、（一）1.``, ``专栏3``, ``序言``).
        headings: Parent headings kept as context (chapter, outline headings above), without
            the clause's own heading.
        text: The clause text including its own marker/heading line(s), lines re-joined.
        start_line: First source line of the clause.
        end_line: Last source line of the clause.
    """

    label: str
    headings: list[str]
    text: str
    start_line: int
    end_line: int


# ---------------------------------------------------------------------------------------------
# Line cleaning

_CJK = "\u4e00-\u9fff\u3400-\u4dbf"
_CJK_PUNCT = "，。、；：？！“”‘’《》（）〔〕【】…—·「」『』"
_W = r"[ \u3000\u00a0\u2002\u2003\u2009]+"  # spaces, not tabs: tabs separate table cells
_SPACE_CJK_RE = re.compile(rf"(?<=[{_CJK}{_CJK_PUNCT}]){_W}(?=[{_CJK}{_CJK_PUNCT}])")
_SPACE_CJK_ALNUM_RE = re.compile(rf"(?<=[{_CJK}{_CJK_PUNCT}]){_W}(?=[0-9A-Za-z])")
_SPACE_ALNUM_CJK_RE = re.compile(rf"(?<=[0-9A-Za-z%]){_W}(?=[{_CJK}{_CJK_PUNCT}])")
_MD_PREFIX_RE = re.compile(r"^(?:#{1,6}\s*|>\s*|[-*+]\s+)+")
_PARENS_CN = "一二三四五六七八九十"
# ㈠..㈩ → （一）..（十）; ⑴..⒇ → （1）..（20）.
_ITEM_CHARS = {chr(0x3220 + i): f"（{_PARENS_CN[i]}）" for i in range(10)}
_ITEM_CHARS.update({chr(0x2474 + i): f"（{i + 1}）" for i in range(20)})
_ITEM_TABLE = str.maketrans(_ITEM_CHARS)
_PAGE_NO_RE = re.compile(r"^[-—－]\s*\d{1,4}\s*[-—－]$")
_HTML_COMMENT_RE = re.compile(r"^<!--.*-->$")

_TERMINAL = "。！？；：!?;:…"
_CLOSERS = "”’）)」』】》"
_OPENERS_CONT = "，、,（(“《‘"
_LEADING_CONT = "，。、；：）)”》,;:"


def clean_spaces(text: str) -> str:
    """Remove spaces left by PDF extraction between CJK characters (``医 师法`` → ``医师法``)
    and between CJK and ASCII (``2017 年`` → ``2017年``); keep them between numbers/latin."""
    text = _SPACE_CJK_RE.sub("", text)
    text = _SPACE_CJK_ALNUM_RE.sub("", text)
    return _SPACE_ALNUM_CJK_RE.sub("", text)


def _strip_markup(text: str) -> tuple[str, bool]:
    """Strip markdown heading/list/bold markup; return the text and whether it was a heading."""
    t = text.replace("\r", "").strip(" \t\u3000\u00a0\ufeff")
    hashed = t.startswith("#")
    t = _MD_PREFIX_RE.sub("", t)
    t = t.replace("**", "").replace("__", "")
    t = t.translate(_ITEM_TABLE)
    return t.strip(" \u3000\u00a0"), hashed


def clean_text(text: str) -> str:
    """Clean one line for display or titles: markup stripped, PDF spaces removed."""
    t, _ = _strip_markup(text)
    return clean_spaces(t).strip()


def ends_sentence(text: str) -> bool:
    """Whether ``text`` ends with sentence-final (or clause-final) punctuation."""
    t = text.rstrip()
    while t and t[-1] in _CLOSERS and len(t) > 1 and t[-2] in _TERMINAL + _CLOSERS:
        t = t[:-1]
    return bool(t) and t[-1] in _TERMINAL


def _heading_like(text: str) -> bool:
    """A short line without sentence punctuation inside it (``一、明确目标任务``)."""
    if len(text) > HEADING_MAX or text.endswith(("，", ",", "、")):
        return False
    body = text[:-1] if text.endswith("。") else text
    # Commas are allowed: 一、增加信贷投入，扩大融资规模 is a heading.
    return not re.search(r"[。；;]", body)


_DATE_RE = re.compile(
    r"^(?:\d{4}|[〇○零一二三四五六七八九Ｏ]{4})\s*年\s*(?:\d{1,2}|[一二三四五六七八九十]{1,3})\s*月"
    r"\s*(?:\d{1,2}|[一二三四五六七八九十]{1,3})\s*日$"
)
_ORG_RE = re.compile(
    rf"^[{_CJK}（）()、\s]{{1,30}}(?:人民政府|政府|办公室|办公厅|委员会|常委会|局|厅|部|委|院|会|"
    r"中心|处|室|办|小组|公司|银行|分局|支行|分行|医保局)$"
)
_SIGNER_RE = re.compile(rf"^[{_CJK}\s]{{1,8}}[长任记]\s*[：:]\s*[{_CJK}\s]{{2,6}}$")
_PUBLIC_NOTE_RE = re.compile(r"^[（(]此件[^）)]{0,10}[）)]$")
_ANNEX_RE = re.compile(r"^附\s*件\s*[0-9一二三四五六七八九十]*\s*(?:[:：]|$)")
_TOC_RE = re.compile(r"^目\s*录$")
_REFERS_BACK_RE = re.compile(r"前款|前项|前述|上述各项|本条")


def is_date_line(text: str) -> bool:
    """A line that is only a date (``2014年12月24日``, ``二○一二年一月九日``)."""
    return bool(_DATE_RE.match(text.strip()))


def is_org_line(text: str) -> bool:
    """A line that looks like an issuer or signer in a signature block."""
    t = text.strip()
    return bool(_ORG_RE.match(t) or _SIGNER_RE.match(t))


# ---------------------------------------------------------------------------------------------
# Rows: cleaned lines with their candidate marker


@dataclass
class _Row:
    no: int
    text: str
    blank: bool = False
    hashed: bool = False
    table: bool = False
    marker: Marker | None = None  # candidate marker (recognised, not yet validated)
    unit: bool = False  # the marker was accepted as a structural marker
    skip: bool = False  # junk, table of contents, signature: not part of any clause
    full: bool = False  # as long as the text's usual full line (so possibly broken by the PDF)

    @property
    def heading(self) -> bool:
        """Whether the row is a heading, which is never joined with the row after it."""
        if self.table:
            return True
        if self.full:
            return False  # a full-width line ending without 。 was broken by the PDF
        if self.unit and self.marker is not None:
            kind = self.marker.kind
            if kind == "article" or (kind == "bracket" and self.marker.rest):
                return False  # the marker is followed by rule text, not a title
            return _heading_like(self.text)
        return self.hashed and _heading_like(self.text)


def _display(text: str, m: Marker) -> str:
    """The line as printed, PDF spaces removed; a space between the marker and its text is
    kept as one space (``第一条　为了…`` → ``第一条 为了…``, not ``第一条为了…``).

    Markers are not rewritten (``(一)`` stays ``(一)``): clause text must be findable in
    the source; the canonical form lives in the label.
    """
    cut = text.rfind(m.rest) if m.rest else len(text)
    if cut <= 0:
        return clean_spaces(text)
    head, rest = text[:cut], text[cut:]
    spaced = head != head.rstrip()
    head = clean_spaces(head.rstrip())
    return f"{head} {clean_spaces(rest)}" if spaced else clean_spaces(head + rest)


def _make_row(line: Line) -> _Row:
    raw = line.text.replace("\r", "")
    if not raw.strip(" \t\u3000\u00a0\ufeff"):
        return _Row(line.no, "", blank=True)
    stripped = raw.strip(" \t\u3000\u00a0\ufeff")
    if _PAGE_NO_RE.match(stripped):  # before markup: "- 1 -" is no list item
        return _Row(line.no, "", blank=True, skip=True)
    table = "\t" in stripped
    text, hashed = _strip_markup(raw)
    if not text:
        return _Row(line.no, "", blank=True)
    if _PAGE_NO_RE.match(text) or _HTML_COMMENT_RE.match(text):
        return _Row(line.no, "", blank=True, skip=True)
    marker = None if table else parse_marker(text)
    shown = _display(text, marker) if marker is not None else clean_spaces(text)
    return _Row(line.no, shown, hashed=hashed, table=table, marker=marker)


def _mark_toc(rows: list[_Row]) -> None:
    """Skip a table of contents: ``目录`` followed by chapter lines (until numbering restarts)."""
    i = 0
    while i < len(rows):
        if rows[i].blank or not _TOC_RE.match(re.sub(r"\s+", "", rows[i].text)):
            i += 1
            continue
        rows[i].skip = True
        last = 0
        j = i + 1
        while j < len(rows):
            r = rows[j]
            if r.blank:
                j += 1
                continue
            if r.marker is None or r.marker.kind != "chapter" or r.marker.n <= last:
                break
            last = r.marker.n
            r.skip = True
            j += 1
        i = j


def _mark_signatures(rows: list[_Row]) -> None:
    """Skip signature blocks: date lines with the issuer/signer lines just above them, notes
    like ``（此件公开发布）``, and issuer lines trailing at the very end."""
    content = [i for i, r in enumerate(rows) if not r.blank and not r.skip]
    for pos, i in enumerate(content):
        r = rows[i]
        if _PUBLIC_NOTE_RE.match(r.text):
            r.skip = True
        if r.marker is None and is_date_line(r.text):
            r.skip = True
            k = pos - 1
            while k >= 0 and pos - k <= 4:
                above = rows[content[k]]
                if above.marker is not None or not is_org_line(above.text):
                    break
                above.skip = True
                k -= 1
    for i in reversed(content):
        r = rows[i]
        if r.skip:
            continue
        if r.marker is None and is_org_line(r.text):
            r.skip = True
            continue
        break


def _mark_full_lines(rows: list[_Row]) -> None:
    """Flag rows as long as the text's usual line width (PDF texts wrap at a fixed width)."""
    lengths = sorted(len(r.text) for r in rows if not r.blank and not r.table)
    if len(lengths) < 5:
        return
    width = lengths[int(len(lengths) * 0.9) - 1]
    if width < FULL_WIDTH_MIN or width > FULL_WIDTH_MAX:
        return  # one paragraph per line: no fixed wrap width
    for r in rows:
        r.full = not r.blank and len(r.text) >= width * FULL_WIDTH_RATIO


def _prepare(lines: list[Line]) -> list[_Row]:
    rows = [_make_row(line) for line in lines]
    _mark_full_lines(rows)
    _mark_toc(rows)
    _mark_signatures(rows)
    return rows


def _is_broken(row: _Row) -> bool:
    """Whether a row ends mid-sentence (a PDF line break), so the next row continues it."""
    if row.blank or row.heading:
        return False
    t = row.text
    if not t or ends_sentence(t):
        return False
    return len(t) >= 12 or t[-1] in _OPENERS_CONT


def _join_rows(rows: list[_Row]) -> str:
    """Re-join rows: a row broken mid-sentence is glued to the next text row (across blank
    lines, as two-column PDFs leave them), other rows are separated by newlines."""
    out = ""
    prev: _Row | None = None
    for r in rows:
        if r.blank or r.skip or not r.text:
            continue
        if prev is None:
            out = r.text
        else:
            glue = (
                not r.unit
                and not r.table
                and (_is_broken(prev) or (not prev.heading and r.text[0] in _LEADING_CONT))
            )
            if glue:
                sep = (
                    " "
                    if (
                        out[-1:].isascii()
                        and out[-1:].isalpha()
                        and r.text[0].isascii()
                        and r.text[0].isalpha()
                    )
                    else ""
                )
                out += sep + r.text
            else:
                out += "\n" + r.text
        prev = r
    return out


def join_lines(lines: list[str]) -> str:
    """Re-join lines broken mid-sentence.

    A line that does not end a sentence (no 。；：！？ at its end) and is not a heading is
    continued by the next non-blank line unless that one starts a numbered unit; blank lines
    in between are ignored (two-column PDFs leave them). Other lines are kept as paragraphs,
    separated by ``\\n``. Markdown markup is stripped and PDF spaces removed.

    Args:
        lines: The physical lines, in order.

    Returns:
        The re-joined text.
    """
    rows = [_make_row(Line(i, text)) for i, text in enumerate(lines, 1)]
    _mark_full_lines(rows)
    for row in rows:
        row.unit = row.marker is not None and (row.marker.kind != "article" or row.marker.sep)
    return _join_rows(rows)


# ---------------------------------------------------------------------------------------------
# Clauses


def _span(rows: list[_Row]) -> tuple[int, int]:
    nos = [r.no for r in rows if not r.blank and not r.skip]
    if not nos:
        nos = [r.no for r in rows] or [0]
    return min(nos), max(nos)


def _clause(label: str, headings: list[str], rows: list[_Row]) -> RawClause | None:
    text = _join_rows(rows)
    if not text.strip():
        return None
    start, end = _span(rows)
    return RawClause(label, [h for h in headings if h], text, start, end)


def _heading_of(text: str, limit: int = HEADING_MAX + 20) -> str:
    """The heading part of a marker line: up to its first 。 (``（一）加强组织领导。``)."""
    first = text.split("\n", 1)[0]
    cut = first.find("。")
    if 0 <= cut < len(first) - 1:
        first = first[: cut + 1]
    if len(first) > limit:
        first = first[:limit] + "…"
    return first


def _previous_content(rows: list[_Row], i: int) -> _Row | None:
    for k in range(i - 1, -1, -1):
        if not rows[k].blank and not rows[k].skip:
            return rows[k]
    return None


def _is_annex_start(row: _Row) -> bool:
    return row.marker is None and bool(_ANNEX_RE.match(row.text))


# --- article texts ---------------------------------------------------------------------------


def _article_run(rows: list[_Row]) -> int:
    """Length of the longest 第N条, 第N+1条 … run at line starts (the test for an article text)."""
    best = run = 0
    last: int | None = None
    for r in rows:
        m = r.marker
        if m is None or m.kind != "article" or r.skip:
            continue
        # An excerpt may start anywhere (第五条, 第六条 …): any consecutive run counts.
        run = run + 1 if last is not None and m.n == last + 1 else 1
        last = m.n
        best = max(best, run)
    return best


def _is_article_text(rows: list[_Row]) -> bool:
    """Articles run in sequence, or a lone article opens the text (an excerpt)."""
    if _article_run(rows) >= 2:
        return True
    first = next(
        (r.marker for r in rows if r.marker and not r.skip and r.marker.kind != "chapter"), None
    )
    return first is not None and first.kind == "article" and first.sep


@dataclass
class _Article:
    marker: Marker
    headings: list[str]
    rows: list[_Row] = field(default_factory=list)


def _valid_article(m: Marker, last: int, prev: _Row | None) -> bool:
    if prev is not None and _is_broken(prev) and not m.sep:
        return False
    if m.n == last + 1:
        return True
    if last == 0:
        return m.sep
    return m.sep and last + 1 < m.n <= last + 3


def _split_articles(rows: list[_Row]) -> list[RawClause]:
    chapter = ""
    section = ""
    preamble: list[_Row] = []
    annex: list[_Row] = []
    in_annex = False
    articles: list[_Article] = []
    last = 0
    for i, r in enumerate(rows):
        if r.skip:
            continue
        m = r.marker
        if m is not None and m.kind == "chapter" and not in_annex:
            r.unit = True
            if m.comp.endswith("节"):
                section = r.text
            else:
                chapter, section = r.text, ""
            continue
        if m is not None and m.kind == "article":
            prev = None if in_annex else _previous_content(rows, i)
            if _valid_article(m, last, prev):
                r.unit = True
                last = m.n
                in_annex = False  # an article after an 附件 list: the list has ended
                articles.append(_Article(m, [chapter, section], [r]))
                continue
        if not in_annex and _is_annex_start(r):
            in_annex = True
        if in_annex:
            r.unit = r.marker is not None  # list entries (1. 2. …) each start a line
            annex.append(r)
        else:
            (articles[-1].rows if articles else preamble).append(r)

    out: list[RawClause] = []
    pre = _clause("序言", [], preamble)
    if pre is not None and len(pre.text) >= MIN_PREAMBLE:
        out.append(pre)
    for art in articles:
        out.extend(_article_clauses(art))
    ann = _clause("附件", [], annex)
    if ann is not None:
        out.append(ann)
    return out


def _article_clauses(art: _Article) -> list[RawClause]:
    """One clause for the article, or lead-in + one clause per item when the items are rules."""
    lead: list[_Row] = []
    items: list[tuple[Marker, list[_Row]]] = []
    for r in art.rows:
        m = r.marker
        if m is not None and m.kind == "pcn" and r is not art.rows[0] and m.n == len(items) + 1:
            r.unit = True  # an item starts a new line even after a lead-in without colon
            items.append((m, [r]))
            continue
        (items[-1][1] if items else lead).append(r)
    whole = _clause(art.marker.comp, art.headings, art.rows)
    if whole is None:
        return []
    if len(whole.text) <= ARTICLE_SPLIT_MIN or len(items) < 2:
        return [whole]
    # A closing paragraph after the last item that refers back to the list (有前款行为的…)
    # belongs to the whole article: then the items are not rules of their own.
    last_rows = [x for x in items[-1][1] if not x.blank]
    tail = any(
        _REFERS_BACK_RE.search(b.text)
        for a, b in itertools.pairwise(last_rows)
        if not _is_broken(a)
    )
    texts = [_join_rows(rs) for _, rs in items]
    rule_like = sum(t.endswith("。") for t in texts) * 2 >= len(texts)
    mean = sum(len(t) for t in texts) / len(texts)
    if tail or not rule_like or mean < RULE_ITEM_MIN:
        return [whole]
    lead_clause = _clause(art.marker.comp, art.headings, lead)
    out = [lead_clause] if lead_clause is not None else []
    lead_heading = lead_clause.text.replace("\n", " ") if lead_clause is not None else ""
    if len(lead_heading) > LEAD_HEADING_MAX:
        lead_heading = lead_heading[:LEAD_HEADING_MAX] + "…"
    for m, rs in items:
        c = _clause(art.marker.comp + m.comp, [*art.headings, lead_heading], rs)
        if c is not None:
            out.append(c)
    return out


# --- outline texts ---------------------------------------------------------------------------


@dataclass
class _Node:
    kind: str  # root | chapter | cn | pcn | ar | par | dec | box | bracket
    marker: Marker | None
    rows: list[_Row] = field(default_factory=list)
    children: list[_Node] = field(default_factory=list)
    chapter_heading: str = ""

    @property
    def comp(self) -> str:
        return self.marker.comp if self.marker is not None else ""

    @property
    def n(self) -> int:
        return self.marker.n if self.marker is not None else 0

    @property
    def value(self) -> tuple[int, ...]:
        return self.marker.value if self.marker is not None else ()

    def all_rows(self, with_boxes: bool = True) -> list[_Row]:
        rows = list(self.rows)
        for c in self.children:
            if c.kind == "box" and not with_boxes:
                continue
            rows.extend(c.all_rows(with_boxes))
        return rows

    def size(self, with_boxes: bool = False) -> int:
        return len(_join_rows(self.all_rows(with_boxes)))


class _OutlineBuilder:
    """Builds the item tree of an outline text from its rows."""

    def __init__(self) -> None:
        self.root = _Node("root", None)
        self.stack: list[_Node] = [self.root]
        self.box: _Node | None = None
        self.last_seen: dict[str, int] = {}
        self.annex: list[_Row] = []

    def _container(self) -> _Node:
        return self.box if self.box is not None else self.stack[-1]

    def _base(self) -> int:
        """Index of the innermost root/chapter node: outline levels live below it."""
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i].kind in ("root", "chapter"):
                return i
        return 0

    def _push(self, parent_index: int, node: _Node) -> None:
        del self.stack[parent_index + 1 :]
        self.stack[-1].children.append(node)
        self.stack.append(node)
        self.box = None
        if node.marker is not None:
            self.last_seen[node.kind] = node.n

    def feed(self, r: _Row, prev: _Row | None) -> None:
        if self.annex:
            r.unit = r.marker is not None  # list entries (1. 2. …) each start a line
            self.annex.append(r)
            return
        m = r.marker
        if m is None or r.blank:
            if not r.blank and _is_annex_start(r):
                self.annex.append(r)
                return
            self._container().rows.append(r)
            return
        # A marker right after a line broken mid-sentence is a false one (…按照\n1.5倍…);
        # a heading or item line before it, or the second line of a wrapped heading, is normal.
        broken_before = (
            prev is not None and not prev.unit and _is_broken(prev) and not self._open_heading()
        )
        placed = False
        if m.kind == "chapter":
            node = _Node("chapter", m, [r], chapter_heading=r.text)
            self.box = None
            self.stack = [self.root]
            self._push(0, node)
            placed = True
        elif m.kind == "box":
            node = _Node("box", m, [r])
            self.stack[-1].children.append(node)
            self.box = node
            placed = True
        elif m.kind == "bracket":
            placed = self._place_bracket(m, r)
        elif m.kind in OUTLINE_KINDS:
            placed = self._place_item(m, r, broken_before)
        elif m.kind == "dec":
            placed = self._place_dec(m, r, broken_before)
        if placed:
            r.unit = True
        else:
            self._container().rows.append(r)

    def _open_heading(self) -> bool:
        """Whether the innermost open item holds nothing but its (possibly wrapped) heading."""
        node = self._container()
        if node.kind == "root" or node.children:
            return False
        content = [x for x in node.rows if not x.blank]
        text = "".join(x.text for x in content)
        # Headings have no sentence punctuation (、 is common in them, ， is not).
        return (
            len(content) <= 2
            and len(text) <= 2 * HEADING_MAX
            and not re.search(r"[。，,；;]", text)
        )

    def _place_bracket(self, m: Marker, r: _Row) -> bool:
        for i in range(len(self.stack) - 1, self._base(), -1):
            if self.stack[i].kind == "bracket":
                self._push(i - 1, _Node("bracket", m, [r]))
                return True
        self._push(len(self.stack) - 1, _Node("bracket", m, [r]))
        return True

    def _place_item(self, m: Marker, r: _Row, broken_before: bool) -> bool:
        base = self._base()
        for i in range(len(self.stack) - 1, base, -1):
            node = self.stack[i]
            if node.kind == m.kind:
                if m.n == node.n + 1 or (m.n == node.n + 2 and not broken_before):
                    self._push(i - 1, _Node(m.kind, m, [r]))
                    return True
                return False
        if broken_before:
            return False
        # A new list starts at 1, or continues a list numbered across sections (（一）（二）
        # under 一、, （三）（四） under 二、); an excerpt may start at any number when
        # nothing is open yet and the level has not been seen.
        first_seen = m.kind not in self.last_seen and len(self.stack) - 1 == base
        if m.n == 1 or self.last_seen.get(m.kind) == m.n - 1 or first_seen:
            self._push(len(self.stack) - 1, _Node(m.kind, m, [r]))
            return True
        return False

    def _place_dec(self, m: Marker, r: _Row, broken_before: bool) -> bool:
        """Place a decimal section (``1 总则``, ``2.1``, ``4.3.2.1``) by its number."""
        if broken_before:
            return False
        value = m.value
        decs = [i for i in range(self._base() + 1, len(self.stack)) if self.stack[i].kind == "dec"]
        # Decimal sections number a whole text: the top ones hang at its root (or chapter).
        outer = decs[0] - 1 if decs else self._base()
        next_top = self.last_seen.get("dec_top", 0) + 1
        if len(value) == 1:
            if value[0] != next_top:
                return False
            self._push(outer, _Node("dec", m, [r]))
            self.last_seen["dec_top"] = value[0]
            return True
        for i in reversed(decs):
            v = self.stack[i].value
            if v == value[:-1]:  # the first or next subsection of an open section
                kids = [c.n for c in self.stack[i].children if c.kind == "dec"]
                last = kids[-1] if kids else 0
                if last < value[-1] <= last + 2:
                    self._push(i, _Node("dec", m, [r]))
                    return True
                return False
            if len(v) == len(value) and v[:-1] == value[:-1]:  # the next sibling
                if v[-1] < value[-1] <= v[-1] + 2:
                    self._push(i - 1, _Node("dec", m, [r]))
                    return True
                return False
        # 2.1 without an open section 2 (its heading line missing): a new top-level section;
        # an excerpt may also start at any section (4.2) before anything else is open.
        first_seen = (
            m.sep and "dec_top" not in self.last_seen and len(self.stack) - 1 == self._base()
        )
        if (len(value) == 2 and value[1] == 1 and value[0] == next_top) or first_seen:
            self._push(outer, _Node("dec", m, [r]))
            self.last_seen["dec_top"] = value[0]
            return True
        return False


def _label(path: list[_Node], node: _Node) -> str:
    if node.kind == "box":
        return node.comp
    comps: list[str] = []
    for n in [*path, node]:
        if n.kind in ("root", "chapter", "box"):
            continue
        if n.kind == "dec":
            # Decimal numbers carry their own path (3.2 lies in 3): keep the innermost only.
            while comps and re.fullmatch(r"\d+(?:\.\d+)*", comps[-1]):
                comps.pop()
        comps.append(n.comp)
    return "".join(comps)


def _own_says_more(node: _Node) -> bool:
    """Whether the item's own text (before its first sub-item) says more than its heading."""
    own = _join_rows(node.rows)
    return len(own) - len(_heading_of(own)) >= MIN_OWN_TEXT


def _flatten(node: _Node, path: list[_Node], heads: list[str], out: list[RawClause]) -> None:
    if node.kind == "root":
        pre = _clause("序言", heads, node.rows)
        if pre is not None and len(pre.text) >= MIN_PREAMBLE:
            out.append(pre)
        for c in node.children:
            _flatten(c, [], heads, out)
        return
    if node.kind == "chapter":
        sub_heads = [*heads, node.chapter_heading]
        own = _clause(node.comp, heads, node.rows)
        if own is not None and len(own.text) - len(node.chapter_heading) >= MIN_OWN_TEXT:
            out.append(own)
        for c in node.children:
            _flatten(c, path, sub_heads, out)
        return
    label = _label(path, node)
    items = [c for c in node.children if c.kind != "box"]
    total = node.size() if items else 0
    if not items:
        _emit(out, _clause(label, heads, node.rows))
    elif total <= KEEP_WHOLE_MAX or (
        max(c.size() for c in items) < SMALL_CHILD_MAX and total <= HARD_MAX
    ):
        # Small enough, or a list of one-line points: the item is one clause.
        _emit(out, _clause(label, heads, node.all_rows(with_boxes=False)))
    else:
        if _own_says_more(node):
            _emit(out, _clause(label, heads, node.rows))
        sub_heads = [*heads, _heading_of(_join_rows(node.rows))]
        for child in node.children:
            _flatten(child, [*path, node], sub_heads, out)
        return
    _flatten_boxes(node, path, heads, out)


def _flatten_boxes(node: _Node, path: list[_Node], heads: list[str], out: list[RawClause]) -> None:
    """Emit the 专栏 boxes anywhere below an item that was kept whole: boxes stay separate."""
    sub_heads = [*heads, _heading_of(_join_rows(node.rows))]
    for child in node.children:
        if child.kind == "box":
            _flatten(child, [*path, node], sub_heads, out)
        else:
            _flatten_boxes(child, [*path, node], sub_heads, out)


def _emit(out: list[RawClause], clause: RawClause | None) -> None:
    if clause is not None:
        out.append(clause)


def _split_outline(rows: list[_Row]) -> list[RawClause]:
    b = _OutlineBuilder()
    prev: _Row | None = None
    for r in rows:
        if r.skip:
            continue
        b.feed(r, prev)
        if not r.blank:
            prev = r
    out: list[RawClause] = []
    _flatten(b.root, [], [], out)
    ann = _clause("附件", [], b.annex)
    if ann is not None:
        out.append(ann)
    out.sort(key=lambda c: (c.start_line, c.end_line))
    return out


def _chunk(clause: RawClause) -> list[RawClause]:
    """Cut an over-long clause at paragraph ends into pieces of about ``CHUNK_TARGET`` chars."""
    if len(clause.text) <= HARD_MAX:
        return [clause]
    paras = clause.text.split("\n")
    if sum("\t" in p for p in paras) * 2 >= len(paras):
        return [clause]  # a table: keep whole
    pieces: list[str] = []
    cur = ""
    for p in paras:
        if cur and len(cur) + len(p) > CHUNK_TARGET:
            pieces.append(cur)
            cur = p
        else:
            cur = f"{cur}\n{p}" if cur else p
    if cur:
        pieces.append(cur)
    if len(pieces) == 1:
        return [clause]
    span = clause.end_line - clause.start_line + 1
    out: list[RawClause] = []
    done = 0
    total = len(clause.text)
    for piece in pieces:
        start = clause.start_line + span * done // total
        done += len(piece) + 1
        end = min(clause.end_line, clause.start_line + span * done // total)
        out.append(RawClause(clause.label, list(clause.headings), piece, start, max(start, end)))
    return out


def split_clauses(lines: list[Line]) -> list[RawClause]:
    """Segment one text into clauses.

    Args:
        lines: The lines of one text (a document body or one attached text), in reading
            order, with their source line numbers.

    Returns:
        The clauses in reading order (see the module docstring for the rules).
    """
    rows = _prepare(lines)
    clauses = _split_articles(rows) if _is_article_text(rows) else _split_outline(rows)
    out: list[RawClause] = []
    for c in clauses:
        out.extend(_chunk(c))
    return out


# ---------------------------------------------------------------------------------------------
# Nested items inside a clause


@dataclass
class NestedItem:
    """A numbered item inside a clause (``三、（一）3.`` inside clause ``三、（一）``).

    Retrieval keeps the clause as its unit; nested items are what a citation or a look-up
    can name more precisely.

    Attributes:
        label: The item's full canonical label.
        text: Its text, with its own sub-items.
        first_line: Index (0-based) of its first line in the clause text.
        last_line: Index of its last line.
    """

    label: str
    text: str
    first_line: int
    last_line: int


def nested_items(label: str, text: str) -> list[NestedItem]:
    """The numbered items below a clause, read from its text with the outline rules.

    The clause's own marker line (``（一）…``, ``4.3.2.4 …``, ``第二十条 …``) is its head;
    the items under it (``1.``, ``（3）``, ``（四）`` …) get the clause label as prefix:
    clause ``三、（一）`` holding ``3.`` gives ``三、（一）3.``, clause ``4.3.2.4`` holding
    ``（3）`` gives ``4.3.2.4（3）``, clause ``第二十条`` holding ``（四）`` gives
    ``第二十条（四）``.

    Args:
        label: The clause label.
        text: The clause text (one paragraph or item a line, as the segmenter joins it).

    Returns:
        Every nested item at any depth, in text order; empty when there is none.
    """
    lines = text.split("\n")
    rows = [_make_row(Line(k, s)) for k, s in enumerate(lines)]
    if not rows:
        return []
    own = rows[0].marker
    start = 1 if own is not None and label.endswith(own.comp) else 0
    b = _OutlineBuilder()
    prev: _Row | None = None
    for r in rows[start:]:
        b.feed(r, prev)
        if not r.blank:
            prev = r
    out: list[NestedItem] = []

    def walk(node: _Node, path: list[_Node]) -> None:
        for child in node.children:
            if child.kind in ("box", "chapter"):
                continue
            local = _label(path, child)
            full = label + local
            head = re.match(r"\d+(?:\.\d+)+", local)
            tail = re.search(r"\d+(?:\.\d+)*$", label)
            if head and tail and head.group(0).startswith(tail.group(0) + "."):
                full = label[: tail.start()] + local  # decimal sections carry their own path
            rows_ = child.all_rows()
            first, last = _span(rows_)
            out.append(NestedItem(full, _join_rows(rows_), first, last))
            walk(child, [*path, child])

    walk(b.root, [])
    return out
