"""Section ``formats``: size and parse time of each file format, and whether it parses
to the same clauses as the text file.

Shipped documents are rendered (:mod:`rag.bench.render`) as text, PDF (one and two
columns), Word, HTML in a site's chrome and OFD; each file is parsed by
``rag.ingest.pipeline.parse_file`` (read, repair, segment) ``repeats`` times and the median
is reported, with the time per page and per 10,000 characters of text. A one-page scan is
parsed once by OCR (when the ``ocr`` extra is installed). Needs the dev tools (fpdf2) and a
CJK font, as the format tests do.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rag.bench.common import log
from rag.bench.context import Context

DOCS = ("嘉政发〔2014〕87号", "嘉政办发〔2017〕15号", "国办发〔2023〕17号")
SCAN_DOC = "嘉政办发〔2014〕101号"
KINDS = ("txt", "pdf", "pdf 2 columns", "docx", "html", "ofd")


def _write(kind: str, paras: list[Any], path_stem: Path, font: Path) -> Path:
    from rag.bench import render

    if kind == "txt":
        path = path_stem.with_suffix(".txt")
        path.write_text("\n".join(p.text for p in paras) + "\n", encoding="utf-8")
        return path
    if kind == "pdf":
        return render.write_pdf(paras, path_stem.with_suffix(".pdf"), font)
    if kind == "pdf 2 columns":
        return render.write_pdf(paras, path_stem.with_name(path_stem.name + "_2col.pdf"), font, 2)
    if kind == "docx":
        return render.write_docx(paras, path_stem.with_suffix(".docx"))
    if kind == "html":
        return render.write_html(paras, path_stem.with_suffix(".html"))
    return render.write_ofd(paras, path_stem.with_suffix(".ofd"), font)


def _parse(path: Path, repeats: int) -> tuple[float, Any, int]:
    """Median parse seconds, the first document, and the page count."""
    from rag.ingest.pipeline import parse_file
    from rag.ingest.source import read_source

    times = []
    docs: list[Any] = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        _, docs, _ = parse_file(path)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), docs[0], read_source(path).pages


def _row(
    kind: str, key: str, path: Path, secs: float, doc: Any, pages: int, want: Any
) -> dict[str, Any]:
    chars = sum(len(c.text) for c in doc.clauses)
    same = [(c.part, c.label) for c in doc.clauses] == [(c.part, c.label) for c in want.clauses]
    return {
        "format": kind,
        "document": key,
        "size_kb": round(path.stat().st_size / 1024, 1),
        "pages": pages or None,
        "parse_ms": round(secs * 1000, 1),
        "ms_per_page": round(secs * 1000 / pages, 1) if pages else None,
        "ms_per_10k_chars": round(secs * 1000 * 10_000 / max(chars, 1), 1),
        "clauses": len(doc.clauses),
        "same_as_text": same
        and (doc.doc_no, doc.title, doc.date) == (want.doc_no, want.title, want.date),
    }


def run(ctx: Context) -> dict[str, Any]:
    from rag.bench import render
    from rag.ingest.formats import ocr

    font_file = render.cjk_font()
    if font_file is None:
        raise RuntimeError("no CJK font installed (Debian fonts-wqy-zenhei or fonts-noto-cjk)")
    corpus = ctx.corpus()
    repeats = 3 if ctx.quick else 5
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="formats-") as tmp:
        work = Path(tmp)
        font = render.subset_font(
            font_file, [corpus.get(k).text for k in (*DOCS, SCAN_DOC)], work / "cjk.ttf"
        )
        for key in DOCS:
            want = corpus.get(key)
            paras = render.doc_paragraphs(want)
            stem = work / render.safe_name(key)
            for kind in KINDS:
                path = _write(kind, paras, stem, font)
                secs, doc, pages = _parse(path, repeats)
                rows.append(_row(kind, key, path, secs, doc, pages, want))
                log(f"formats: {key} {kind}: {rows[-1]['parse_ms']} ms")
        notes = []
        if ocr.available():
            want = corpus.get(SCAN_DOC)
            path = render.write_scanned_pdf(render.doc_paragraphs(want), work / "scan.pdf", font)
            secs, doc, pages = _parse(path, 1)
            rows.append(_row("scanned pdf (OCR)", SCAN_DOC, path, secs, doc, pages, want))
            notes.append(
                "The OCR row is one run (rapidocr-onnxruntime, one thread per operator, pages "
                "rendered at 144 dpi); its first call also loads the models."
            )
        else:
            notes.append("OCR not measured: the ocr extra is not installed.")
    columns = [
        "format",
        "document",
        "size_kb",
        "pages",
        "parse_ms",
        "ms_per_page",
        "ms_per_10k_chars",
        "clauses",
        "same_as_text",
    ]
    table = {
        "title": f"Parse time per file (median of {repeats}; read + repair + segment)",
        "columns": columns,
        "rows": [[r[c] for c in columns] for r in rows],
    }
    by_kind: dict[str, list[float]] = {}
    for r in rows:
        by_kind.setdefault(r["format"], []).append(r["ms_per_10k_chars"])
    summary = {
        "title": "Median parse time per 10,000 characters of clause text, by format",
        "columns": ["format", "ms_per_10k_chars"],
        "rows": [[k, round(statistics.median(v), 1)] for k, v in by_kind.items()],
    }
    return {
        "params": {"documents": list(DOCS), "repeats": repeats, "scan": SCAN_DOC},
        "results": {"rows": rows, "all_same_as_text": all(r["same_as_text"] for r in rows)},
        "tables": [summary, table],
        "notes": notes,
    }
