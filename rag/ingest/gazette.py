"""Split a gazette issue (政府公报) into its documents, in reading order.

A gazette issue holds a contents page, then each document in turn: title, 文号,
addressees, body, issuer and date, sometimes attached plans or measures. Two
layouts occur:

* single column (the 2017 issue): each title block precedes its body;
* two columns (the 2014 issue): the PDF extraction emits, for the page on which a
  document starts, first the body text of that page and only then the title block
  (title, 文号, and for a notice that attaches a text, the short cover notice and the
  attached text's title). Pages start with a line indented by one space.

For the two-column layout each title block is moved back before the body fragment
that precedes it on its page, and that fragment is joined to the text that follows
the block, so an article split by the block ("…适时将统账一过" + "渡到统账二…") reads
whole again.

The printed document is the authority: contents pages (目录, 发文目录) only tell which
documents were listed, and those without a printed text are reported as
listed-not-printed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rag.ingest.docno import canonical_doc_no
from rag.ingest.labels import parse_marker
from rag.ingest.outline import Line, clean_text

# A line holding only a 文号 (the anchor of a title block), after repair.
_ANCHOR_RE = re.compile(
    r"^\s*#*\s*([\u4e00-\u9fff]{1,12}(?:〔|\[|［)\s*\d{4}\s*(?:〕|\]|］)\s*\d{1,4}\s*号)\s*$"
)
_DATE_RE = re.compile(r"^\s*(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日\s*$")
_PAGE_NO_RE = re.compile(r"^\s*\d{1,3}\s*[·窑]\s*[·窑]?\s*$")
_RUNNING_HEAD_RE = re.compile(r"^嘉兴政报.{0,3}总第\d+期.{0,8}$")
_ADDRESSEE_RE = re.compile(r"^\s*(各县|各区|南湖区|各市|各乡镇|市政府各部门|各有关单位)")
_LISTING_RE = re.compile(
    r"^[\s\-#]*([\u4e00-\u9fff]{1,12}(?:〔|\[)\s*\d{4}\s*(?:〕|\])\s*\d{1,4}\s*号)\s+(\S.*?)\s*$"
)
# A short title line of an attached text (…意见, …办法), no sentence punctuation.
_ATTACHED_TITLE_RE = re.compile(
    r"^[^，。；：]{4,40}(办法|方案|细则|意见|规划|计划|规定|制度|要点|标准|规则|预案)(（[^（）]{1,16}）)?$"
)
_TOC_RE = re.compile(r"^\s*-\s*(.+?)\s*[（(]\s*([^()（）]*?号)\s*[)）]\s*\.{2,}.*$")

# Issuer names that open a title in the gazettes (longest first).
_ISSUERS = ("嘉兴市人民政府办公室", "嘉兴市人民政府")
_DOCNO_ISSUER = {"嘉政发": "嘉兴市人民政府", "嘉政办发": "嘉兴市人民政府办公室"}


@dataclass
class Listed:
    """A document named on a contents page."""

    doc_no: str
    title: str
    line: int


@dataclass
class GazetteDoc:
    """One document cut out of a gazette issue, lines in reading order."""

    doc_no: str
    title: str
    kind: str
    title_lines: list[Line]
    body: list[Line]  # addressees, notice, signature, attachments … in reading order
    issuer: str = ""
    date: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def start_line(self) -> int:
        nos = [ln.no for ln in self.title_lines + self.body]
        return min(nos) if nos else 0

    @property
    def end_line(self) -> int:
        nos = [ln.no for ln in self.title_lines + self.body]
        return max(nos) if nos else 0


@dataclass
class GazetteIssue:
    docs: list[GazetteDoc]
    listed: list[Listed]
    warnings: list[str]


def _blank(s: str) -> bool:
    return not s.strip()


def _strip_md(s: str) -> str:
    return re.sub(r"^\s*#+\s*", "", s).rstrip()


def _squash(s: str) -> str:
    """Title text without markdown marks and without spaces between CJK characters."""
    s = _strip_md(s).strip()
    s = re.sub(r"(?<=[\u4e00-\u9fff”“《》（）〔〕])\s+(?=[\u4e00-\u9fff“”《》（）〔〕])", "", s)
    s = re.sub(r"(?<=[\u4e00-\u9fff])\s+(?=\d)|(?<=\d)\s+(?=[\u4e00-\u9fff])", "", s)
    return s


def is_date_line(s: str) -> bool:
    return bool(_DATE_RE.match(_strip_md(s).strip()))


def iso_date(s: str) -> str:
    m = _DATE_RE.match(_strip_md(s).strip())
    if not m:
        return ""
    y, mo, d = (int(g) for g in m.groups())
    return f"{y:04d}-{mo:02d}-{d:02d}"


def is_two_column(raw_lines: list[str]) -> bool:
    """Pages of a two-column extraction start with a line indented by one space."""
    starts = sum(1 for s in raw_lines if s.startswith(" ") and s[1:2] not in (" ", ""))
    return starts >= 5 and starts * 200 >= len(raw_lines)


def _anchors(lines: list[str]) -> list[int]:
    return [i for i, s in enumerate(lines) if _ANCHOR_RE.match(s)]


def _title_start(lines: list[str], anchor: int, floor: int) -> int:
    """Index of the first line of the title block that ends just above ``anchor``."""
    picked: list[int] = []
    i = anchor - 1
    while i >= floor and len(picked) < 4:
        s = lines[i]
        if _blank(s):
            i -= 1
            continue
        t = _strip_md(s).strip()
        if is_date_line(t) or _PAGE_NO_RE.match(t) or t.endswith(("。", "；", "：", ":")):
            break
        picked.append(i)
        i -= 1
    if not picked:
        return anchor
    openers = [j for j in picked if _squash(lines[j]).startswith(_ISSUERS)]
    if openers:
        return min(openers)
    # No issuer-named opener: the title is the lines right above, up to a blank line.
    start = anchor
    for j in range(anchor - 1, floor - 1, -1):
        if _blank(lines[j]):
            if start < anchor:
                break
            continue
        start = j
    return start


def _listing(lines: list[str], start: int, end: int) -> list[Listed]:
    out: list[Listed] = []
    for i in range(start, end):
        s = lines[i]
        m = _LISTING_RE.match(s)
        if m:
            try:
                no = canonical_doc_no(m.group(1))
            except Exception:
                continue
            out.append(Listed(no, _squash(m.group(2)), i + 1))
            continue
        m = _TOC_RE.match(s)
        if m:
            try:
                no = canonical_doc_no(m.group(2))
            except Exception:
                continue
            out.append(Listed(no, _squash(m.group(1)), i + 1))
    return out


def _section_starts(lines: list[str]) -> dict[str, int]:
    """Where the unnumbered sections (contents, personnel, news) begin."""
    found: dict[str, int] = {}
    for i, s in enumerate(lines):
        t = _squash(s)
        if "发文目录" in t and len(t) < 40 and "发文目录" not in found:
            found["发文目录"] = i
        elif t in ("目录", "目 录") and "目录" not in found:
            found["目录"] = i
        elif "人事任免" in t and len(t) < 40 and not t.startswith("-"):
            found.setdefault("人事任免", i)
        elif t.startswith("本刊讯"):
            found.setdefault("本刊讯", i)
        elif t == "市政简讯":
            found.setdefault("市政简讯", i)
        elif t == "新年献词":
            found.setdefault("新年献词", i)
    return found


def _cover_end(lines: list[str], anchor: int, limit: int, two_col: bool) -> int:
    """In the two-column layout, the cover notice printed with the title block.

    Returns the index after the last line of the block (anchor + cover notice).
    A cover notice runs from the anchor to the next page start, and holds a
    signature date followed by at most the attached text's title.
    """
    if not two_col:
        return anchor + 1
    j = anchor + 1
    date_at = -1
    while j < limit and not (lines[j].startswith(" ") and lines[j][1:2].strip()):
        if is_date_line(lines[j]):
            date_at = j
        j += 1
    if date_at < 0:
        return anchor + 1
    tail = [s for s in lines[date_at + 1 : j] if not _blank(s)]
    if len(tail) > 3 or j - anchor > 25:
        # The block can also sit inside the page's text: the attached text's title, then
        # the rest of a sentence its first column broke (嘉政办发〔2014〕113号).
        k = next((i for i in range(date_at + 1, j) if not _blank(lines[i])), j)
        if date_at - anchor <= 20 and k < j and _ATTACHED_TITLE_RE.search(_squash(lines[k])):
            return k + 1
        return anchor + 1
    return j


def split_issue(raw_lines: list[str], repaired: list[str]) -> GazetteIssue:
    """Cut a gazette issue into documents.

    Args:
        raw_lines: the file's lines as read (used for layout cues: page starts).
        repaired: the same lines after punctuation repair (same count).
    """
    assert len(raw_lines) == len(repaired)
    lines = repaired
    n = len(lines)
    two_col = is_two_column(raw_lines)
    warnings: list[str] = []
    sections = _section_starts(lines)

    # Contents listings: the top 目录 and the 发文目录 near the end.
    listed: list[Listed] = []
    toc_end = 0
    if "目录" in sections:
        first_anchor = next(iter(_anchors(lines)), n)
        toc_end = _title_start(lines, first_anchor, sections["目录"] + 1)
        listed += _listing(lines, sections["目录"], toc_end)
    tail_from = max(toc_end, min([v for v in sections.values() if v > n // 2] or [n]))
    listed += _listing(lines, tail_from, n)

    # Where numbered documents stop: the first unnumbered trailing section.
    tail_starts = [
        v for k, v in sections.items() if k in ("人事任免", "发文目录", "本刊讯", "市政简讯")
    ]
    docs_end = min([v for v in tail_starts if v > n // 2] or [n])
    anchors = [a for a in _anchors(lines) if toc_end <= a < docs_end]

    # Title blocks: [title_start, block_end) where block_end covers a cover notice.
    blocks: list[tuple[int, int, int]] = []  # (title_start, anchor, block_end)
    prev_end = toc_end
    for k, a in enumerate(anchors):
        ts = _title_start(lines, a, prev_end)
        limit = anchors[k + 1] if k + 1 < len(anchors) else docs_end
        be = _cover_end(lines, a, limit, two_col)
        blocks.append((ts, a, be))
        prev_end = be

    # Body ranges.
    page_starts = [
        i for i, s in enumerate(raw_lines) if s.startswith(" ") and s[1:2] not in (" ", "")
    ]
    first_body = blocks[0][0] if blocks else docs_end
    pre_ranges: list[tuple[int, int]] = []
    if two_col:
        for k, (ts, _a, _be) in enumerate(blocks):
            s0 = blocks[k - 1][2] if k else toc_end
            s1 = max([p for p in page_starts if p <= ts] or [0])
            start = max(s0, s1)
            addr = [i for i in range(start, ts) if _ADDRESSEE_RE.match(lines[i])]
            if addr:
                start = addr[-1]
            pre_ranges.append((start, ts))
        first_body = pre_ranges[0][0] if pre_ranges else docs_end
    else:
        pre_ranges = [(ts, ts) for ts, _a, _be in blocks]

    # Two-column pre-ranges that open on a page continuing the previous document:
    # the new text starts after the previous one's closing sentence.
    if two_col:
        for k in range(1, len(pre_ranges)):
            pre_ranges[k] = _after_previous_end(lines, *pre_ranges[k], blocks[k - 1][2])

    news_mask = _news_lines(lines, raw_lines, page_starts, docs_end) if two_col else set()

    # The rest of a title block's page can be the previous document's column.
    spill: dict[int, tuple[int, int]] = {}
    if two_col:
        for k in range(1, len(blocks)):
            nxt_k = pre_ranges[k + 1][0] if k + 1 < len(blocks) else docs_end
            seg = _previous_column(lines, page_starts, blocks, pre_ranges, k, nxt_k)
            if seg is not None:
                spill[k] = seg

    docs: list[GazetteDoc] = []
    # Unnumbered items before the first numbered document (e.g. 新年献词).
    if first_body > toc_end and any(not _blank(s) for s in lines[toc_end:first_body]):
        docs.extend(_unnumbered_front(lines, raw_lines, toc_end, first_body, sections))

    for k, (ts, a, be) in enumerate(blocks):
        pre_s, pre_e = pre_ranges[k]
        nxt = pre_ranges[k + 1][0] if k + 1 < len(blocks) else docs_end
        title_lines = [Line(i + 1, lines[i]) for i in range(ts, a) if not _blank(lines[i])]
        body_idx = list(range(a + 1, be)) + list(range(pre_s, pre_e)) + list(range(be, nxt))
        if k in spill:
            body_idx = [i for i in body_idx if not spill[k][0] <= i < spill[k][1]]
        if k + 1 in spill:
            body_idx += list(range(*spill[k + 1]))
        body = [
            Line(i + 1, lines[i])
            for i in body_idx
            if not _drop_line(lines[i]) and i not in news_mask
        ]
        no = canonical_doc_no(lines[a])
        title = "".join(_squash(ln.text) for ln in title_lines)
        doc = GazetteDoc(no, title, "document", [*title_lines, Line(a + 1, lines[a])], body)
        _sign(doc)
        docs.append(doc)

    if news_mask:
        news = sorted(news_mask)
        body = [Line(i + 1, lines[i]) for i in news if not _blank(lines[i])]
        first = _squash(body[0].text)
        docs.append(GazetteDoc("", f"政务动态（{first[:12]}…）", "news", [], body))
    docs.extend(_unnumbered_tail(lines, docs_end, n, sections))
    return GazetteIssue(docs, listed, warnings)


def _last_number(lines: list[str], kinds: tuple[str, ...]) -> dict[str, int]:
    """The last number of each marker kind (一、 / 第X条) at a line start in ``lines``."""
    out: dict[str, int] = {}
    for s in lines:
        m = parse_marker(clean_text(s))
        if m is not None and m.kind in kinds:
            out[m.kind] = m.n
    return out


def _previous_column(
    lines: list[str],
    page_starts: list[int],
    blocks: list[tuple[int, int, int]],
    pre_ranges: list[tuple[int, int]],
    k: int,
    limit: int,
) -> tuple[int, int] | None:
    """The lines after document ``k``'s title block that belong to document ``k - 1``.

    On a page where a document starts, the extraction can give the new document's first
    column, its title block, then the other column, which ends the previous document
    (嘉政办发〔2014〕105号's page holds 104号's "四、保障措施"). That stretch runs from the
    block to the next page start; it is the previous document's when its first top-level
    number (一、 or 第X条) continues the previous document's numbering and not the new one's.
    """
    _ts, a, be = blocks[k]
    end = min([p for p in page_starts if p > be] + [limit])
    if end <= be:
        return None
    kinds = ("cn", "article")
    seg = _last_number(lines[be:end], kinds)
    first = next(
        (
            (m.kind, m.n)
            for s in lines[be:end]
            if (m := parse_marker(clean_text(s))) is not None and m.kind in kinds
        ),
        None,
    )
    if first is None or not seg:
        return None
    prev_s = pre_ranges[k - 1][0]
    prev = _last_number(lines[prev_s : pre_ranges[k][0]], kinds)
    cur = _last_number(lines[a + 1 : be] + lines[pre_ranges[k][0] : pre_ranges[k][1]], kinds)
    kind, n = first
    if prev.get(kind) == n - 1 and cur.get(kind, 0) != n - 1:
        return be, end
    return None


_BULLET_RE = re.compile(r"^\s*[▲银]\s*\d{1,2}日")
_CLOSING_RE = re.compile(r"(施行|实施|执行|废止)。\s*$")
_OPENING_RE = re.compile(r"^\s*(为|根据|按照|第一章|第一条|一、)")


# Where a text's numbering starts: its first chapter, article, part, or section 1 of a
# decimal outline ("1 总则" then "1.1 编制目的", as emergency plans are laid out).
_RESTART_RE = re.compile(r"^\s*(第一章|第一条|一、|第一部分|1[ \t.．、]*总则\s*$)")


def _prev_ends_sentence(lines: list[str], j: int, floor: int) -> bool:
    """Whether the text before line ``j`` ends a sentence or a standalone note.

    A note on lines of its own, like the attachment's "（可登陆中国嘉兴门户网站查询，
    网址：…）" that closes a notice, ends its paragraph as a sentence does.
    """
    k = j - 1
    while k >= floor and _blank(lines[k]):
        k -= 1
    if k < floor or lines[k].rstrip().endswith(("。", "！", "；")):
        return True
    if not lines[k].rstrip().endswith(("）", ")")):
        return False
    depth = 0
    for m in range(k, max(floor, k - 3) - 1, -1):
        text = lines[m].strip()
        for pos in range(len(text) - 1, -1, -1):
            depth += text[pos] in "）)"
            depth -= text[pos] in "（("
            if depth == 0:
                return pos == 0
    return False


def _after_previous_end(lines: list[str], start: int, end: int, floor: int) -> tuple[int, int]:
    """Move a pre-range's start past the closing sentence of the previous document.

    A page can hold the last articles of one document and the opening of the next
    (whose title block follows later on that page). The previous text ends with a
    closing sentence ("本办法自…起施行。"); the next opens with "为…", "根据…" or its
    first numbered unit.
    """
    if start < floor or _ADDRESSEE_RE.match(lines[start]):
        return start, end
    # The previous document's signature date ends it.
    dates = [i for i in range(start, end) if is_date_line(lines[i])]
    if dates:
        nxt = dates[-1] + 1
        while nxt < end and _blank(lines[nxt]):
            nxt += 1
        return nxt, end
    if _OPENING_RE.match(lines[start]):
        return start, end
    # A numbering restart (第一章, 第一条, 一、, 1 总则) opens the new text, possibly after
    # a preamble sentence ("为进一步…") that follows the previous text's last sentence.
    for i in range(start, end):
        if _RESTART_RE.match(lines[i]):
            for j in range(max(start, i - 15), i):
                if re.match(r"^\s*(为|根据|按照)", lines[j]) and _prev_ends_sentence(
                    lines, j, start
                ):
                    return j, end
            return i, end
    closing = [i for i in range(start, end) if _CLOSING_RE.search(lines[i])]
    if not closing:
        return start, end
    for i in range(closing[-1] + 1, end):
        if _OPENING_RE.match(lines[i]):
            return i, end
    return start, end


def _news_lines(lines: list[str], raw: list[str], page_starts: list[int], end: int) -> set[int]:
    """Lines of the news pages (▲-bulleted daily items) inside the documents' region.

    The news pages run from the first page that opens with a ▲ item to the end of
    the documents' region. The first of them can carry, in its second column, the
    rest of the document the news pages interrupted: while that document is open
    (its last line ends mid-sentence), a paragraph after a blank line that does not
    open with a ▲ item switches back to it until the page ends.
    """
    out: set[int] = set()
    bounds = [*page_starts, len(lines)]
    first: int | None = next(
        (
            k
            for k, p in enumerate(page_starts)
            if p < end and (_BULLET_RE.match(lines[p]) or _BULLET_RE.match(raw[p][1:]))
        ),
        None,
    )
    if first is None:
        return out
    last_doc = page_starts[first] - 1
    for k in range(first, len(page_starts)):
        p = page_starts[k]
        if p >= end:
            break
        q = min(bounds[k + 1], end)
        while last_doc > 0 and _blank(lines[last_doc]):
            last_doc -= 1
        is_open = not lines[last_doc].rstrip().endswith(("。", "！", "；", "：", "）"))
        # The document's column comes last on the page: a paragraph after which no
        # ▲ item follows.
        last_bullet = max((i for i in range(p, q) if _BULLET_RE.match(lines[i])), default=p)
        i = p
        while i < q:
            if is_open and i > last_bullet and _blank(lines[i - 1]) and not _blank(lines[i]):
                last_doc = q - 1
                break
            out.add(i)
            i += 1
    return out


def _drop_line(s: str) -> bool:
    """Page numbers and running headers are layout, not text."""
    t = s.strip()
    return bool(_PAGE_NO_RE.match(t)) or bool(_RUNNING_HEAD_RE.match(_squash(t)))


def _sign(doc: GazetteDoc) -> None:
    """Find the issuer and date: the first signature + date pair in reading order."""
    body = doc.body
    for i, ln in enumerate(body):
        if is_date_line(ln.text):
            doc.date = iso_date(ln.text)
            j = i - 1
            while j >= 0 and _blank(body[j].text):
                j -= 1
            if j >= 0:
                cand = _squash(body[j].text)
                if len(cand) <= 30 and not cand.endswith(("。", "；", "，", "）")):
                    doc.issuer = re.sub(r"\s+", " ", _strip_md(body[j].text).strip())
            break
    if not doc.issuer:
        prefix = re.match(r"[\u4e00-\u9fff]+", doc.doc_no)
        doc.issuer = _DOCNO_ISSUER.get(prefix.group(0), "") if prefix else ""


def _unnumbered_front(
    lines: list[str], raw: list[str], start: int, end: int, sections: dict[str, int]
) -> list[GazetteDoc]:
    body = [Line(i + 1, lines[i]) for i in range(start, end) if not _blank(lines[i])]
    if not body:
        return []
    title = "新年献词" if "新年献词" in sections else _squash(body[0].text)[:30]
    title_lines = []
    if "新年献词" in sections:
        ti = sections["新年献词"]
        title_lines = [Line(ti + 1, lines[ti])]
        body = [ln for ln in body if ln.no != ti + 1]
        # The signature under the displaced title names the authors.
        if ti + 1 < len(lines) and not _blank(lines[ti + 1]):
            issuer = _squash(lines[ti + 1])
            body = [ln for ln in body if ln.no != ti + 2]
            return [GazetteDoc("", title, "news", title_lines, body, issuer=issuer)]
    return [GazetteDoc("", title, "news", title_lines, body)]


def _is_listing(s: str) -> bool:
    return bool(_LISTING_RE.match(s))


def _unnumbered_tail(
    lines: list[str], start: int, n: int, sections: dict[str, int]
) -> list[GazetteDoc]:
    """Personnel lists and news briefs after the numbered documents.

    In the two-column issue their headers are displaced too, so lines are sorted
    by what they are rather than by where they sit: listing lines (文号 + title)
    belong to the contents, 任命/免去 runs to the personnel list, the 本刊讯 item
    to the news.
    """
    personnel: list[Line] = []
    news: list[Line] = []
    personnel_title = ""
    mode = ""
    after_listing = False
    for i in range(start, n):
        s = lines[i]
        if _blank(s):
            continue
        t = _squash(s)
        if _is_listing(s):
            after_listing = True
            continue
        if "人事任免" in t and len(t) < 40:
            personnel_title = re.sub(r"[【】\[\]]", "", t)
            mode = ""
            after_listing = False
            continue
        if ("发文目录" in t and len(t) < 40) or t == "市政简讯":
            mode = ""
            continue
        if t.startswith("本刊讯"):
            mode = "news"
        elif t.rstrip("：:") in ("任命", "免去", "任免"):
            mode = "personnel"
        elif after_listing and not mode:
            continue  # a listing title wrapped onto the next line
        after_listing = False
        if mode == "personnel":
            personnel.append(Line(i + 1, s))
        elif mode == "news":
            news.append(Line(i + 1, s))
    out: list[GazetteDoc] = []
    if news:
        out.append(GazetteDoc("", "本刊讯", "news", [], news))
    if personnel:
        out.append(GazetteDoc("", personnel_title or "人事任免", "personnel", [], personnel))
    return out
