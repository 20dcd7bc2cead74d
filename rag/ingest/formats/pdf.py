"""PDF reader: the text layer through pypdfium2 (PDFium), OCR for pages without one.

PDFium gives each character with its box; characters that touch are grouped into runs
and :mod:`rag.ingest.formats.layout` puts the runs in reading order (columns, headers,
footers, page numbers, wrapped lines). A page with no usable text (a scan) is read by OCR
when the ``ocr`` extra is installed (:mod:`rag.ingest.formats.ocr`).
"""

from __future__ import annotations

from typing import Any

from rag.errors import CorpusError
from rag.ingest.formats.base import Extracted
from rag.ingest.formats.layout import Page, Run, page_lines

# A page with fewer usable characters than this has no text layer worth reading.
MIN_PAGE_CHARS = 10
# Share of unmapped characters (no Unicode in the font) above which a page is unreadable.
MAX_BAD_SHARE = 0.3
# Rendering scale for OCR (1 = 72 dpi): 144 dpi, enough for body text, twice as fast
# as 200 dpi.
OCR_SCALE = 2.0


# A loose character box (the font's ascent to descent) is about 1.4 em high.
LOOSE_EM = 1.4


def _run(box: list[float], text: str) -> Run:
    return Run(box[0], box[1], box[2], box[3], text, (box[3] - box[1]) / LOOSE_EM)


def _bad(code: int) -> bool:
    return code in (0, 0xFFFD, 0xFFFE) or 0xE000 <= code <= 0xF8FF


def _page_runs(page: Any) -> tuple[list[Run], int]:
    """The runs of one page's text layer, and how many characters had no Unicode."""
    import pypdfium2.raw as pdfium_c

    height = page.get_height()
    tp = page.get_textpage()
    try:
        runs: list[Run] = []
        text = ""
        box: list[float] = []
        bad = 0
        for i in range(tp.count_chars()):
            if pdfium_c.FPDFText_IsGenerated(tp.raw, i):
                continue
            code = pdfium_c.FPDFText_GetUnicode(tp.raw, i)
            if _bad(code):
                bad += 1
                continue
            # PDFium reports a hyphen at a line end as 0x02 (it assumes hyphenation)
            ch = "-" if code == 2 else chr(code)
            left, bottom, right, top = tp.get_charbox(i, loose=True)
            top, bottom = height - top, height - bottom
            size = max(bottom - top, 1e-3)
            if ch.isspace():
                if text:
                    runs.append(_run(box, text))
                text = ""
                continue
            adjacent = bool(text) and (
                abs((top + bottom) / 2 - (box[1] + box[3]) / 2) < 0.3 * size
                and -0.5 * size <= left - box[2] <= 0.2 * size
            )
            if adjacent:
                text += ch
                box = [box[0], min(box[1], top), max(box[2], right), max(box[3], bottom)]
            else:
                if text:
                    runs.append(_run(box, text))
                text = ch
                box = [left, top, right, bottom]
        if text:
            runs.append(_run(box, text))
        return runs, bad
    finally:
        tp.close()


def read_pdf(data: bytes, name: str, ocr: str = "auto") -> Extracted:
    """Read a PDF's text, page by page.

    Args:
        data: The file's bytes.
        name: The file name, for messages.
        ocr: ``auto`` reads pages without a text layer by OCR when the extra is installed;
            ``off`` never does.

    Raises:
        CorpusError: The PDF is encrypted, damaged, or has no text (and no OCR).
    """
    import pypdfium2 as pdfium

    from rag.ingest.formats import ocr as ocr_mod

    try:
        doc = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as e:
        if "password" in str(e).lower():
            raise CorpusError(
                f"{name}: the PDF is encrypted (password protected): save an unprotected copy"
            ) from e
        raise CorpusError(f"{name}: not a readable PDF ({e})") from e
    try:
        pages: list[Page] = []
        blank: list[int] = []
        for n in range(len(doc)):
            page = doc[n]
            try:
                runs, bad = _page_runs(page)
                usable = sum(len(r.text) for r in runs)
                if usable < MIN_PAGE_CHARS or bad > MAX_BAD_SHARE * (usable + bad):
                    blank.append(n)
                    runs = []
                pages.append(Page(page.get_width(), page.get_height(), runs))
            finally:
                page.close()
        warnings: list[str] = []
        ocr_pages = 0
        if blank:
            can_ocr = ocr != "off" and ocr_mod.available()
            if can_ocr:
                for n in blank:
                    page = doc[n]
                    try:
                        image = page.render(scale=OCR_SCALE).to_pil()
                    finally:
                        page.close()
                    runs = ocr_mod.image_runs(image)
                    w, h = image.size
                    pages[n] = Page(float(w), float(h), runs)
                    ocr_pages += bool(runs)
                warnings.append(f"{len(blank)} of {len(pages)} pages read by OCR (no text layer)")
            elif len(blank) == len(pages):
                why = (
                    "OCR is switched off (RAG_OCR=off)"
                    if ocr == "off"
                    else "install the OCR extra (pip install 'policy-rag[ocr]') to read scans"
                )
                raise CorpusError(f"{name}: the PDF has no text layer (a scan?): {why}")
            else:
                warnings.append(
                    f"{len(blank)} of {len(pages)} pages have no text layer and were skipped "
                    "(no OCR)"
                )
        lines = page_lines(pages)
        if not any(s.strip() for s in lines):
            raise CorpusError(f"{name}: no text found in the PDF, not even by OCR")
        return Extracted(lines, warnings, pages=len(pages), ocr_pages=ocr_pages)
    finally:
        doc.close()
