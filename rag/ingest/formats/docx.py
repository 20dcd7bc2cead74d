"""Word (.docx) reader, through python-docx: the body's paragraphs and tables in order.

Headers, footers and page numbers live in their own parts of the package and are not
read. Numbering that Word generates (a list style printing ``第一条``, ``一、``, ``（一）``
or ``1.``) is not part of a paragraph's text, so it is rendered here from the numbering
definitions and put in front of the paragraph, as it is printed. A table row is one line,
its cells separated by tabs (the segmenter keeps tables whole).
"""

from __future__ import annotations

import zipfile
from io import BytesIO
from typing import Any

from rag.errors import CorpusError
from rag.ingest.formats.base import Extracted
from rag.ingest.labels import int_to_cn

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_CN_FORMATS = {
    "chineseCounting",
    "chineseCountingThousand",
    "chineseLegalSimplified",
    "ideographTraditional",
    "taiwaneseCounting",
    "taiwaneseCountingThousand",
}
_CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"


def _fmt(n: int, fmt: str) -> str:
    if fmt in _CN_FORMATS:
        return int_to_cn(n)
    if fmt in ("decimalEnclosedCircle", "decimalEnclosedCircleChinese") and 0 < n <= 20:
        return _CIRCLED[n - 1]
    if fmt == "lowerLetter":
        return chr(ord("a") + (n - 1) % 26)
    if fmt == "upperLetter":
        return chr(ord("A") + (n - 1) % 26)
    if fmt in ("bullet", "none"):
        return ""
    return str(n)


class _Numbering:
    """Word's list numbering: level formats per list, and running counters."""

    def __init__(self, doc: Any) -> None:
        self.levels: dict[str, dict[int, tuple[str, str, int]]] = {}
        self.counters: dict[str, list[int]] = {}
        try:
            root = doc.part.numbering_part.element
        except (KeyError, NotImplementedError, AttributeError):
            return
        abstract: dict[str, dict[int, tuple[str, str, int]]] = {}
        for an in root.findall(f"{_W}abstractNum"):
            lv: dict[int, tuple[str, str, int]] = {}
            for lvl in an.findall(f"{_W}lvl"):
                ilvl = int(lvl.get(f"{_W}ilvl", "0"))
                fmt = lvl.find(f"{_W}numFmt")
                text = lvl.find(f"{_W}lvlText")
                start = lvl.find(f"{_W}start")
                lv[ilvl] = (
                    fmt.get(f"{_W}val", "decimal") if fmt is not None else "decimal",
                    text.get(f"{_W}val", "") if text is not None else "",
                    int(start.get(f"{_W}val", "1")) if start is not None else 1,
                )
            abstract[an.get(f"{_W}abstractNumId", "")] = lv
        for num in root.findall(f"{_W}num"):
            ref = num.find(f"{_W}abstractNumId")
            if ref is not None:
                self.levels[num.get(f"{_W}numId", "")] = abstract.get(ref.get(f"{_W}val", ""), {})

    def label(self, p: Any) -> str:
        """The generated number of paragraph element ``p`` (with its lvlText), or ""."""
        ppr = p.find(f"{_W}pPr")
        numpr = ppr.find(f"{_W}numPr") if ppr is not None else None
        if numpr is None:
            return ""
        num_el = numpr.find(f"{_W}numId")
        ilvl_el = numpr.find(f"{_W}ilvl")
        num_id = num_el.get(f"{_W}val", "") if num_el is not None else ""
        ilvl = int(ilvl_el.get(f"{_W}val", "0")) if ilvl_el is not None else 0
        levels = self.levels.get(num_id)
        if not levels or ilvl not in levels:
            return ""
        counts = self.counters.setdefault(num_id, [0] * 10)
        start = levels[ilvl][2]
        counts[ilvl] = counts[ilvl] + 1 if counts[ilvl] else start
        for deeper in range(ilvl + 1, len(counts)):
            counts[deeper] = 0
        text = levels[ilvl][1]
        for k in range(ilvl + 1):
            fmt, _, lvl_start = levels.get(k, ("decimal", "", 1))
            text = text.replace(f"%{k + 1}", _fmt(counts[k] or lvl_start, fmt))
        return text


def _cell_text(cell: Any) -> str:
    return " ".join(p.text.strip() for p in cell.paragraphs if p.text.strip())


def read_docx(data: bytes, name: str) -> Extracted:
    """Read the body text of a Word document.

    Raises:
        CorpusError: The file is not a readable .docx package.
    """
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        doc = docx.Document(BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as e:
        raise CorpusError(f"{name}: not a readable Word .docx file ({e})") from e
    except Exception as e:  # python-docx raises its own PackageNotFoundError and lxml errors
        raise CorpusError(f"{name}: not a readable Word .docx file ({type(e).__name__})") from e
    numbering = _Numbering(doc)
    lines: list[str] = []

    def walk(parent: Any) -> None:
        for el in parent.iterchildren():
            tag = el.tag
            if tag == f"{_W}p":
                text = Paragraph(el, doc.part).text
                label = numbering.label(el)
                if label and label[-1] not in "、.．）)":
                    label += " "  # Word puts a tab after 第一条; the marker wants a gap
                lines.append((label + text).strip())
            elif tag == f"{_W}tbl":
                for row in Table(el, doc.part).rows:
                    cells: list[str] = []
                    seen: set[int] = set()
                    for cell in row.cells:
                        if id(cell._tc) in seen:
                            continue  # a merged cell is listed once per grid column
                        seen.add(id(cell._tc))
                        cells.append(_cell_text(cell))
                    if any(cells):
                        lines.append("\t".join(cells))
            elif tag == f"{_W}sdt":
                content = el.find(f"{_W}sdtContent")
                if content is not None:
                    walk(content)

    walk(doc.element.body)
    if not any(lines):
        raise CorpusError(f"{name}: the Word document has no text")
    return Extracted(lines)
