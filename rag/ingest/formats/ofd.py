"""OFD reader (GB/T 33190-2016): the text objects of each page, read from the XML directly.

An OFD file is a zip: ``OFD.xml`` names the document root (``Doc_0/Document.xml``), which
lists the pages; each page's ``Content.xml`` holds ``TextObject`` elements (a boundary box
in millimetres and a font size) with ``TextCode`` children (the text, its start ``X``/``Y``
inside the box and the advance of each character in ``DeltaX``). No maintained Python
OFD reader is small and free of AGPL dependencies, and the text is plain in the XML, so it
is read here the way FastGPT does; the glyph positions then go through the same layout
step as a PDF's. Page templates (letterheads, running headers) are not read.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from io import BytesIO
from xml.etree import ElementTree as ET

from rag.errors import CorpusError
from rag.ingest.formats.base import Extracted
from rag.ingest.formats.layout import Page, Run, page_lines

# Decompressed size allowed per declared byte of the file (a zip bomb guard).
MAX_EXPANSION = 50
_DEFAULT_BOX = (210.0, 297.0)  # A4 in millimetres


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(el: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in el.iter() if _local(c.tag) == name), None)


def _floats(s: str | None) -> list[float]:
    return [float(x) for x in (s or "").split()]


def _deltas(spec: str | None, n: int) -> list[float]:
    """Expand a DeltaX list (``g 3 4.2`` repeats 4.2 three times) to ``n`` advances."""
    out: list[float] = []
    toks = (spec or "").split()
    i = 0
    while i < len(toks):
        if toks[i] == "g" and i + 2 < len(toks):
            out.extend([float(toks[i + 2])] * int(float(toks[i + 1])))
            i += 3
        else:
            out.append(float(toks[i]))
            i += 1
    return out[:n]


class _Package:
    def __init__(self, data: bytes, name: str, max_bytes: int) -> None:
        self.name = name
        try:
            self.zip = zipfile.ZipFile(BytesIO(data))
        except zipfile.BadZipFile as e:
            raise CorpusError(f"{name}: not a readable OFD file (not a zip package)") from e
        total = sum(i.file_size for i in self.zip.infolist())
        if total > max(max_bytes, len(data) * MAX_EXPANSION):
            raise CorpusError(f"{name}: the OFD package expands to {total} bytes: refused")
        self.names = {n.lstrip("/"): n for n in self.zip.namelist()}

    def xml(self, path: str) -> ET.Element:
        key = posixpath.normpath(path.lstrip("/"))
        if key not in self.names:
            raise CorpusError(f"{self.name}: not a readable OFD file ({key} is missing)")
        try:
            return ET.fromstring(self.zip.read(self.names[key]))
        except ET.ParseError as e:
            raise CorpusError(f"{self.name}: not a readable OFD file ({key}: {e})") from e


def _resolve(base_dir: str, loc: str) -> str:
    return loc.lstrip("/") if loc.startswith("/") else posixpath.join(base_dir, loc)


def _page_runs(content: ET.Element) -> list[Run]:
    runs: list[Run] = []
    for obj in content.iter():
        if _local(obj.tag) != "TextObject":
            continue
        bx, by, *_ = [*_floats(obj.get("Boundary")), 0.0, 0.0]
        size = float(obj.get("Size") or 3.5)
        ctm = _floats(obj.get("CTM"))
        a, b, c, d, e, f = ctm if len(ctm) == 6 else (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
        scale = abs(d) or 1.0
        x = y = 0.0
        for code in obj:
            if _local(code.tag) != "TextCode":
                continue
            text = code.text or ""
            x = float(code.get("X", x))
            y = float(code.get("Y", y))
            adv = _deltas(code.get("DeltaX"), len(text))
            h = size * scale
            for k, ch in enumerate(text):
                step = adv[k] if k < len(adv) else size
                if not ch.isspace():
                    px = a * x + c * y + e + bx
                    py = b * x + d * y + f + by  # the baseline
                    width = step * (abs(a) or 1.0) if k < len(adv) else h
                    runs.append(Run(px, py - 0.88 * h, px + width, py + 0.12 * h, ch, h))
                x += step
    return runs


def read_ofd(data: bytes, name: str, max_bytes: int) -> Extracted:
    """Read the text of an OFD document, page by page.

    Raises:
        CorpusError: The file is not an OFD package, or has no text objects.
    """
    pkg = _Package(data, name, max_bytes)
    root = pkg.xml("OFD.xml")
    doc_root = _child(root, "DocRoot")
    root_text = (doc_root.text or "").strip() if doc_root is not None else ""
    if not root_text:
        raise CorpusError(f"{name}: not a readable OFD file (OFD.xml names no DocRoot)")
    doc_path = posixpath.normpath(root_text.lstrip("/"))
    document = pkg.xml(doc_path)
    base_dir = posixpath.dirname(doc_path)
    box_el = _child(document, "PhysicalBox")
    default_box = _floats(box_el.text if box_el is not None else "")[2:4] or list(_DEFAULT_BOX)
    pages: list[Page] = []
    pages_el = _child(document, "Pages")
    for page_el in pages_el if pages_el is not None else []:
        if _local(page_el.tag) != "Page" or not page_el.get("BaseLoc"):
            continue
        content = pkg.xml(_resolve(base_dir, page_el.get("BaseLoc", "")))
        page_box = _child(content, "PhysicalBox")
        w, h = (_floats(page_box.text)[2:4] if page_box is not None else []) or default_box
        pages.append(Page(w, h, _page_runs(content)))
    if not pages:
        raise CorpusError(f"{name}: not a readable OFD file (no pages)")
    lines = page_lines(pages)
    if not any(re.search(r"\S", s) for s in lines):
        raise CorpusError(f"{name}: the OFD file has no text (a scan?): OCR reads PDF only")
    return Extracted(lines, pages=len(pages))
