"""HTML reader: a page saved from a government site, main content only.

trafilatura decides what the main content is: it finds the article among the site's
chrome (navigation, breadcrumbs, related links, share buttons, footer) and decodes the
page by its declared or detected charset (GB2312/GBK pages are common). Its text is
not used as is, because when it falls back to collecting paragraphs it keeps one copy of
identical paragraphs, and policy texts repeat paragraphs word for word (嘉政发〔2014〕87号
gives the same 住院 rule under 第二十三条 and 第二十四条). So the page's own blocks (one
line per paragraph, heading, list item or table row, in document order) are read with
lxml, and every block between the first and the last one trafilatura kept is taken when
its text is one trafilatura kept. The title (``<h1>``) is put first when the article box
leaves it out; what is left of the chrome inside the box (the 发布时间/来源/浏览次数 line,
【打印】【关闭】 links) is dropped.
"""

from __future__ import annotations

import re
from typing import Any

from rag.errors import CorpusError
from rag.ingest.formats.base import Extracted

# Lines of page furniture that sit inside the article box on government sites.
_FURNITURE_RE = re.compile(
    r"^\s*(?:(?:发布|发文|成文|印发|更新)(?:时间|日期)\s*[:：]|(?:信息)?来源\s*[:：]"
    r"|浏览(?:次数|量)?\s*[:：]|点击(?:数|量)?\s*[:：]|字[号体]\s*[:：]|【\s*字[号体]"
    r"|【\s*(?:打印|关闭)|分享到|打印本页|关闭窗口|返回顶部|上一篇|下一篇|扫一扫在手机)"
)
_BLOCK_TAGS = {
    "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "td", "th", "pre", "blockquote",
    "section", "article", "center", "dd", "dt", "caption", "table", "tr", "ul", "ol", "body",
}  # fmt: skip
_SKIP_TAGS = {"script", "style", "noscript", "template", "head", "title", "iframe", "svg"}
_SPACES_RE = re.compile(r"[\s\u3000\xa0]+")


def _key(text: str) -> str:
    """Text compared between trafilatura's lines and the page's blocks."""
    return _SPACES_RE.sub("", text).replace("|", "")


def _blocks(root: Any) -> list[str]:
    """The page's text blocks in document order: a line per paragraph-like element, a
    tab-separated line per table row, ``<br>`` splitting lines."""
    out: list[str] = []
    cur: list[str] = []

    def flush() -> None:
        text = _SPACES_RE.sub(" ", "".join(cur)).strip()
        if text:
            out.append(text)
        cur.clear()

    def walk(el: Any) -> None:
        tag = el.tag if isinstance(el.tag, str) else ""
        tag = tag.lower()
        if tag in _SKIP_TAGS or not isinstance(el.tag, str):
            if el.tail:
                cur.append(el.tail)
            return
        if tag == "tr":
            flush()
            cells = [
                _SPACES_RE.sub(" ", c.text_content()).strip()
                for c in el
                if isinstance(c.tag, str) and c.tag.lower() in ("td", "th")
            ]
            if any(cells):
                out.append("\t".join(cells))
        elif tag == "br":
            flush()
        else:
            block = tag in _BLOCK_TAGS
            if block:
                flush()
            if el.text:
                cur.append(el.text)
            for child in el:
                walk(child)
            if block:
                flush()
        if el.tail:
            cur.append(el.tail)

    walk(root)
    flush()
    return out


def _table_row(line: str) -> str | None:
    """A ``| a | b |`` row of trafilatura's text as tab-separated cells ("" for a rule)."""
    s = line.strip()
    if not (s.startswith("|") and s.endswith("|")):
        return None
    cells = [c.strip() for c in s.strip("|").split("|")]
    if all(re.fullmatch(r":?-{3,}:?", c) for c in cells if c):
        return ""
    return "\t".join(cells)


def read_html(data: bytes, name: str) -> Extracted:
    """Read the main text of an HTML page.

    Raises:
        CorpusError: No main text could be found in the page.
    """
    import lxml.html
    import trafilatura

    doc = trafilatura.bare_extraction(
        data,
        include_tables=True,
        include_comments=False,
        include_links=False,
        include_images=False,
        deduplicate=False,
        with_metadata=True,
    )
    text = getattr(doc, "text", None) if doc is not None else None
    if not text or not text.strip():
        raise CorpusError(f"{name}: no main text found in the HTML page")
    kept: list[str] = []
    for raw in text.splitlines():
        row = _table_row(raw)
        line = raw.strip() if row is None else row
        if line:
            kept.append(line)
    wanted = {_key(s) for s in kept}
    try:
        root = lxml.html.document_fromstring(trafilatura.utils.decode_file(data))
    except (ValueError, TypeError, lxml.etree.ParserError):
        root = None
    blocks = _blocks(root) if root is not None else []
    hits = [i for i, b in enumerate(blocks) if _key(b) in wanted]
    lines = [blocks[i] for i in hits] if hits else kept
    lines = [s for s in lines if not (_FURNITURE_RE.match(s) and len(s) < 120)]
    # The title is often an <h1> above the article box, left out of it.
    meta_title = _key(getattr(doc, "title", "") or "")
    h1s = (
        []
        if root is None
        else [_SPACES_RE.sub(" ", h.text_content()).strip() for h in root.iter("h1")]
    )
    title = next((h for h in h1s if h and (not meta_title or _key(h) in meta_title)), "")
    if title and lines and _key(title) not in {_key(s) for s in lines[:3]}:
        lines.insert(0, title)
    if not lines:
        raise CorpusError(f"{name}: no main text found in the HTML page")
    return Extracted(lines)
