"""Fixed-layout pages (PDF, OFD, OCR output) → text lines in reading order.

A reader hands over, page by page, the pieces of text it found with their boxes
(:class:`Run`). This module turns them into the lines the segmenter reads, one
paragraph per line, as the gazette texts are laid out:

* runs on one baseline are merged into a line; a wide horizontal gap splits them
  (two columns side by side);
* a page with a gutter (a vertical strip no line crosses, text on both sides) is read
  left column first, then right; a line crossing the gutter (a title over both
  columns) is read in its place from top to bottom;
* running headers and footers (a line at the top or bottom of the page that repeats
  on other pages, digits aside) and page numbers (``- 3 -``, ``·12·``, ``第3页``) are
  dropped;
* a line that reaches the right edge of its column is continued by the next line when
  that one is not indented (Chinese paragraphs open with a two-character indent), across
  columns and pages too. Titles, headings and signatures do not reach the edge and stay
  lines of their own.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from rag.ingest.docno import find_doc_nos
from rag.ingest.labels import parse_marker
from rag.ingest.outline import is_date_line

# The top and bottom share of a page where running headers and footers sit.
MARGIN_ZONE = 0.12
# A header or footer repeats on at least this share of the pages (and on two at least).
REPEAT_SHARE = 0.3
# Runs on one baseline further apart than this many character heights are separate lines.
SPLIT_GAP = 1.5
# A gap inside a line wider than this many character heights is printed as a space.
SPACE_GAP = 0.6
# A gutter: at least this many lines entirely on each side of it.
MIN_COLUMN_LINES = 5

_PAGE_NO_RE = re.compile(
    r"^(?:[-—–－·•.\s]*\d{1,4}[-—–－·•.\s]*|第\s*\d{1,4}\s*页(?:\s*[，,/]?\s*共\s*\d{1,4}\s*页)?"
    r"|\d{1,4}\s*/\s*\d{1,4}|[-—–－\s]*[一二三四五六七八九十百]+[-—–－\s]*)$"
)
_TERMINAL = "。！？；：!?;:"


@dataclass(frozen=True)
class Run:
    """A piece of text on one line of a page, with its box (top-down page coordinates).

    ``size`` is the character height (about the font size); units are the reader's own
    (points for PDF, millimetres for OFD, pixels for OCR) as long as one page uses one.
    """

    x0: float
    top: float
    x1: float
    bottom: float
    text: str
    size: float


@dataclass
class Page:
    width: float
    height: float
    runs: list[Run] = field(default_factory=list)


@dataclass
class _Seg:
    """A line (or the part of a line in one column)."""

    x0: float
    top: float
    x1: float
    bottom: float
    text: str
    size: float
    page: int = 0
    column: int = 0  # 0 left / single, 1 right, -1 spans the gutter
    left: float = 0.0  # the column's edges, for paragraph joining
    right: float = 0.0
    drop: bool = False


def _join_run_texts(runs: list[Run]) -> str:
    out = ""
    prev: Run | None = None
    for r in runs:
        if prev is not None:
            gap = r.x0 - prev.x1
            size = max(min(prev.size, r.size), 1e-6)
            ascii_pair = out[-1:].isascii() and out[-1:].isalnum() and r.text[:1].isascii()
            if gap > SPACE_GAP * size or (ascii_pair and gap > 0.2 * size):
                out = out.rstrip() + " "
        out += r.text
        prev = r
    return out


def _lines(runs: list[Run], page: int) -> list[_Seg]:
    """Group runs into lines: same baseline band, split at wide gaps."""
    rows: list[list[Run]] = []
    mid_sum = 0.0
    height = 0.0
    for r in sorted(runs, key=lambda r: (r.top + r.bottom) / 2):
        mid = (r.top + r.bottom) / 2
        if rows:
            last = rows[-1]
            h = max(height, r.bottom - r.top)
            if abs(mid - mid_sum / len(last)) <= 0.5 * h:
                last.append(r)
                mid_sum += mid
                height = h
                continue
        rows.append([r])
        mid_sum, height = mid, r.bottom - r.top
    out: list[_Seg] = []
    for row in rows:
        row.sort(key=lambda r: r.x0)
        piece: list[Run] = [row[0]]
        reach = row[0].x1
        for r in row[1:]:
            size = max(min(piece[-1].size, r.size), 1e-6)
            if r.x0 - reach > SPLIT_GAP * size:
                out.append(_seg(piece, page))
                piece = [r]
                reach = r.x1
            else:
                piece.append(r)
                reach = max(reach, r.x1)
        out.append(_seg(piece, page))
    return [s for s in out if s.text.strip()]


def _seg(runs: list[Run], page: int) -> _Seg:
    sizes = sorted(r.size for r in runs)
    return _Seg(
        x0=min(r.x0 for r in runs),
        top=min(r.top for r in runs),
        x1=max(r.x1 for r in runs),
        bottom=max(r.bottom for r in runs),
        text=_join_run_texts(runs).strip(),
        size=sizes[len(sizes) // 2],
        page=page,
    )


def _gutter(segs: list[_Seg], width: float) -> float | None:
    """The x of a vertical gutter between two columns, or None for a one-column page."""
    if len(segs) < 2 * MIN_COLUMN_LINES:
        return None
    best: tuple[int, float] | None = None
    steps = 80
    for k in range(int(steps * 0.3), int(steps * 0.7) + 1):
        x = width * k / steps
        crossing = sum(1 for s in segs if s.x0 < x < s.x1)
        left = sum(1 for s in segs if s.x1 <= x)
        right = sum(1 for s in segs if s.x0 >= x)
        if left < MIN_COLUMN_LINES or right < MIN_COLUMN_LINES:
            continue
        if crossing > 0.1 * len(segs):
            continue
        if best is None or crossing < best[0]:
            best = (crossing, x)
    if best is None:
        return None
    # Centre the gutter in the empty strip around the best position.
    x = best[1]
    left_edge = max((s.x1 for s in segs if s.x1 <= x), default=x)
    right_edge = min((s.x0 for s in segs if s.x0 >= x), default=x)
    return (left_edge + right_edge) / 2


def _reading_order(segs: list[_Seg], width: float) -> list[_Seg]:
    """Order one page's lines: bands top to bottom, left column before right in a band."""
    segs = sorted(segs, key=lambda s: (s.top, s.x0))
    g = _gutter(segs, width)
    if g is None:
        for s in segs:
            s.column = 0
        return segs
    for s in segs:
        s.column = 0 if s.x1 <= g else 1 if s.x0 >= g else -1
    out: list[_Seg] = []
    band: list[_Seg] = []
    for s in segs:
        if s.column == -1:
            out.extend(sorted(band, key=lambda x: (x.column, x.top, x.x0)))
            band = []
            out.append(s)
        else:
            band.append(s)
    out.extend(sorted(band, key=lambda x: (x.column, x.top, x.x0)))
    return out


def _norm(text: str) -> str:
    return re.sub(r"\d+", "#", re.sub(r"\s+", "", text))


def _isolated_small(s: _Seg, segs: list[_Seg], body_size: float) -> bool:
    """A line set smaller than the body and apart from it: a header or footer even on a
    single page, where nothing repeats."""
    if s.size >= 0.9 * body_size:
        return False
    others = [o for o in segs if o is not s]
    gap = min(
        (max(o.top - s.bottom, s.top - o.bottom) for o in others),
        default=float("inf"),
    )
    return gap > 1.5 * body_size


def _mark_margins(pages: list[list[_Seg]], heights: list[float]) -> None:
    """Drop running headers, footers and page numbers."""
    zone: list[list[_Seg]] = []
    for segs, h in zip(pages, heights, strict=True):
        zone.append(
            [s for s in segs if s.bottom <= h * MARGIN_ZONE or s.top >= h * (1 - MARGIN_ZONE)]
        )
    counts = Counter(t for segs in zone for t in {_norm(s.text) for s in segs})
    need = max(2, int(len(pages) * REPEAT_SHARE + 0.999))
    sizes = sorted(s.size for segs in pages for s in segs)
    body_size = sizes[len(sizes) // 2] if sizes else 0.0
    for segs, edge in zip(pages, zone, strict=True):
        for s in edge:
            if (
                _PAGE_NO_RE.match(s.text.strip())
                or (len(pages) >= 2 and counts[_norm(s.text)] >= need)
                or _isolated_small(s, segs, body_size)
            ):
                s.drop = True


def _column_edges(segs: list[_Seg]) -> None:
    """Left and right edges of each column of a page (for indent and line-end tests)."""
    for col in {s.column for s in segs}:
        mine = [s for s in segs if s.column == col]
        left = min(s.x0 for s in mine)
        right = max(s.x1 for s in mine)
        for s in mine:
            s.left, s.right = left, right


def _centered(s: _Seg) -> bool:
    return abs((s.x0 + s.x1) / 2 - (s.left + s.right) / 2) < s.size


def _wrapped_title(a: _Seg, b: _Seg) -> bool:
    """A centred line as wide as a title measure, continued by a centred line below it
    (a long title, or an attached text's title, set on two lines)."""
    if not (_centered(a) and _centered(b)) or b.page != a.page or b.column != a.column:
        return False
    if a.x1 - a.x0 < 0.6 * (a.right - a.left) or b.top - a.bottom > 1.5 * a.size:
        return False
    t = b.text.strip()
    return not (
        find_doc_nos(t) or is_date_line(t) or parse_marker(t) is not None or t[-1:] in _TERMINAL
    )


def _continues(a: _Seg, b: _Seg) -> bool:
    """Whether line ``b`` continues the paragraph of line ``a`` (a wrapped line)."""
    size = max(a.size, 1e-6)
    if abs(a.size - b.size) > 0.2 * size:
        return False
    if _wrapped_title(a, b):
        return True
    if a.x1 < a.right - 1.5 * size or b.x0 > b.left + 0.5 * size:
        return False  # a stops short of the edge, or b is indented: a new paragraph
    if b.page == a.page and b.column == a.column and b.top - a.bottom > 1.5 * size:
        return False  # a blank line between them
    return not (a.text.rstrip()[-1:] in _TERMINAL and parse_marker(b.text) is not None)


def page_lines(pages: list[Page]) -> list[str]:
    """The text of fixed-layout pages as lines in reading order, one paragraph a line.

    Args:
        pages: Each page's size and text runs, in page order.

    Returns:
        The lines, headers, footers and page numbers removed, wrapped lines re-joined.
    """
    ordered: list[list[_Seg]] = []
    for n, p in enumerate(pages):
        ordered.append(_reading_order(_lines(p.runs, n), p.width))
    _mark_margins(ordered, [p.height for p in pages])
    body: list[_Seg] = []
    for segs in ordered:
        kept = [s for s in segs if not s.drop]
        if kept:
            _column_edges(kept)
        body.extend(kept)
    out: list[str] = []
    prev: _Seg | None = None
    for s in body:
        if prev is not None and out and _continues(prev, s):
            ascii_pair = out[-1][-1:].isascii() and out[-1][-1:].isalpha() and s.text[:1].isalpha()
            out[-1] += (" " if ascii_pair and s.text[:1].isascii() else "") + s.text
        else:
            out.append(s.text)
        prev = s
    return out
