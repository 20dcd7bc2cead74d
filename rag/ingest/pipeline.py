"""Ingestion: read files, repair the text, cut documents and clauses, update the store."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from rapidfuzz import fuzz

from rag.errors import CorpusError
from rag.ingest import gazette as gz
from rag.ingest.changes import FileSummary, add_parsed
from rag.ingest.draft import DocDraft
from rag.ingest.external import parse_external
from rag.ingest.labels import cn_to_int
from rag.ingest.mojibake import clean_file_text
from rag.ingest.outline import Line, split_clauses
from rag.ingest.source import MAX_FILE_BYTES, SUFFIXES, TEXT_SUFFIXES, read_source, read_text
from rag.ingest.store import Corpus, SourceRecord
from rag.ingest.validity import apply_validity
from rag.models import Document, SourceSpan

__all__ = ["SUFFIXES", "FileSummary", "ingest", "parse_file", "read_text", "shipped_files"]

_ATTACH_TITLE_RE = re.compile(
    r"(办法|方案|细则|意见|规划|计划|规定|制度|要点|标准|规则|清单|预案)(（[^（）]{1,16}）)?$"
)


def is_gazette(lines: list[str]) -> bool:
    """A gazette issue holds several numbered documents, each under its own title block."""
    anchors = sum(1 for s in lines if gz._ANCHOR_RE.match(s))
    return anchors >= 3


def _squash(s: str) -> str:
    return gz._squash(s)


def _is_attachment_title(s: str) -> bool:
    t = _squash(s)
    if not t or len(t) > 45 or t.endswith(("。", "；", "：", "，")):
        return False
    if re.match(
        r"^(第[一二三四五六七八九十百零]+[章条节]|[一二三四五六七八九十]+、|（|\(|\d+\.|专栏)", t
    ):
        return False
    return bool(_ATTACH_TITLE_RE.search(t))


_OPENS_TEXT = re.compile(r"^\s*#*\s*(第一章|第一条|一、|为|根据|按照|（一）|1\.|总\s*则|第一部分)")


def _parts(doc: gz.GazetteDoc) -> list[tuple[str, list[Line]]]:
    """Split a document's body into its own text and attached texts.

    An attached text (…办法, …方案, …意见) starts under a title line of its own: a
    short line after the notice's signature date or after a finished sentence, with
    the next line opening a text (第一章, 第一条, 一、, 为…). Its numbering restarts.
    """
    body = _place_displaced_titles([ln for ln in doc.body if ln.text.strip()])
    parts: list[tuple[str, list[Line]]] = [("", [])]
    seen_date = False
    for i, ln in enumerate(body):
        if gz.is_date_line(ln.text):
            seen_date = True
            parts[-1][1].append(ln)
            continue
        prev = _squash(body[i - 1].text) if i else ""
        nxt = body[i + 1].text if i + 1 < len(body) else ""
        t = _squash(ln.text)
        after_date = gz.is_date_line(prev)
        starts_part = (
            seen_date
            and _is_attachment_title(ln.text)
            and not re.search(r"[。，；]", t)
            and (after_date or (prev.endswith(("。", "）", ")")) and bool(_OPENS_TEXT.match(nxt))))
        )
        if starts_part:
            parts.append((t, []))
            continue
        parts[-1][1].append(ln)
    return [(title, lines) for title, lines in parts if lines or title]


def _page_start(text: str) -> bool:
    """A line opening a page of the two-column extraction (indented by one space)."""
    return text.startswith(" ") and text[1:2] not in (" ", "")


# How far above a displaced title its text may start (lines).
_DISPLACED_REACH = 150


def _place_displaced_titles(body: list[Line]) -> list[Line]:
    """Move attached texts' titles back to where their texts start (two-column layout).

    On the page where an attached text starts, the two-column extraction emits the page's
    body first and the text's title after it, right before the next page (嘉政办发〔2014〕
    112号 attaches four texts; the titles of the last three sit after their 第四条, 一、,
    第五条). Such a title — an attachment title followed by a page start — goes back to
    the numbering restart above it (第一章, 第一条, 一、, or the preamble 为…/根据… before
    it, after the previous text's last sentence), and the sentence it split reads whole.
    """
    out = list(body)
    i = 0
    while i < len(out):
        ln = out[i]
        nxt = out[i + 1].text if i + 1 < len(out) else ""
        if not (_is_attachment_title(ln.text) and _page_start(nxt)):
            i += 1
            continue
        start = _restart_above(out, i)
        if start is None:
            i += 1
            continue
        out.insert(start, out.pop(i))
        i += 1
    return out


def _restart_above(body: list[Line], i: int) -> int | None:
    """Where the text whose title sits displaced at ``i`` starts, or None."""
    texts = [ln.text for ln in body]
    floor = max(0, i - _DISPLACED_REACH)
    restart = next((k for k in range(i - 1, floor - 1, -1) if gz._RESTART_RE.match(texts[k])), None)
    if restart is None:
        return None
    # 第一章 above 第一条: the chapter opens the text.
    while restart > floor and gz._RESTART_RE.match(texts[restart - 1]):
        restart -= 1
    for k in range(max(floor, restart - 15), restart):
        if re.match(r"^\s*(为|根据|按照)", texts[k]) and gz._prev_ends_sentence(texts, k, floor):
            return k
    if gz._prev_ends_sentence(texts, restart, floor):
        return restart
    return None


def _without_signature(lines: list[Line]) -> list[Line]:
    """Drop the signature and date lines: they are metadata, not clause text."""
    out: list[Line] = []
    for k, ln in enumerate(lines):
        if gz.is_date_line(ln.text):
            # the issuer line right above the date
            while (
                out
                and len(_squash(out[-1].text)) <= 20
                and not _squash(out[-1].text).endswith(("。", "；", "："))
            ):
                out.pop()
                break
            continue
        _ = k
        out.append(ln)
    return out


def _to_document(doc: gz.GazetteDoc, source: str) -> Document:
    split = _parts(doc)
    parts = [
        (title, [rc for rc in split_clauses(_without_signature(lines)) if rc.text.strip()])
        for title, lines in split
    ]
    # The text in reading order: an attached text's displaced title stands where it starts.
    text = [_squash(ln.text) for ln in doc.title_lines if ln.text.strip()]
    for title, lines in split:
        text += [title] if title else []
        text += [_squash(ln.text) for ln in lines if ln.text.strip()]
    draft = DocDraft(
        doc_no=doc.doc_no,
        title=doc.title,
        issuer=doc.issuer,
        date=doc.date,
        kind=doc.kind,
        source=source,
        parts=parts,
        span=SourceSpan(source, doc.start_line, doc.end_line),
        text="\n".join(text),
    )
    return draft.to_document()


def _article_gaps(d: Document) -> list[str]:
    """Warn when 第X条 numbering inside one text has a gap or a repeat."""
    out = []
    by_part: dict[int, list[int]] = {}
    for c in d.clauses:
        m = re.match(r"^第([一二三四五六七八九十百零]+)条", c.label)
        if m:
            n = cn_to_int(m.group(1))
            nums = by_part.setdefault(c.part, [])
            if not nums or nums[-1] != n:
                nums.append(n)
    for part, nums in by_part.items():
        if nums and nums != list(range(1, len(nums) + 1)):
            out.append(f"{d.key} part {part}: article numbering {nums[:3]}…{nums[-3:]} has gaps")
    return out


def parse_file(
    path: Path, max_bytes: int = MAX_FILE_BYTES, ocr: str = "auto"
) -> tuple[SourceRecord, list[Document], list[str]]:
    """Parse one file into documents (printed and listed-not-printed) and warnings.

    Every supported type (``.txt``, ``.md``, ``.pdf``, ``.docx``, ``.html``, ``.ofd``) is
    read into text lines first (:func:`rag.ingest.source.read_source`); the same repair
    and segmentation then cut documents and clauses out of them.

    Args:
        path: The file.
        max_bytes: Size limit; larger files are refused unread.
        ocr: ``auto`` or ``off`` (OCR for PDF pages without a text layer).

    Raises:
        CorpusError: The file cannot be read, or holds no recognisable document.
    """
    extracted = read_source(path, max_bytes=max_bytes, ocr=ocr)
    raw = extracted.text
    repaired = clean_file_text(raw)
    src = SourceRecord(
        file=path.name,
        sha256=hashlib.sha256(raw.encode("utf-8")).hexdigest(),
        raw_text=raw,
        repaired_text=repaired,
        repaired=repaired != raw,
    )
    warnings: list[str] = list(extracted.warnings)
    raw_lines = raw.split("\n")
    lines = repaired.split("\n")
    docs: list[Document] = []
    if is_gazette(lines):
        issue = gz.split_issue(raw_lines, lines)
        for gd in issue.docs:
            docs.append(_to_document(gd, path.name))
            if not gd.doc_no:
                warnings.append(f"unnumbered item: {gd.title} ({gd.kind})")
        warnings += issue.warnings
        docs += _listed_not_printed(issue.listed, docs, path.name, warnings)
    else:
        docs = [dr.to_document() for dr in parse_external(path, text=repaired)]
    if not any(_recognisable(d) for d in docs):
        raise CorpusError(
            f"{path.name}: no policy document recognised in its text "
            "(no 文号, no policy title, no numbered articles or items)"
        )
    for d in docs:
        if d.printed:
            warnings += _article_gaps(d)
            apply_validity(d)
    src.warnings = warnings
    return src, docs, warnings


_POLICY_TITLE_RE = re.compile(
    r"(通知|通报|决定|办法|条例|规定|意见|方案|规划|计划|细则|规则|批复|公告|通告|命令|令|函|纪要|"
    r"标准|制度|要点|清单|预案|指引|指南|报告)(（[^（）]{1,16}）)?$"
)


def _recognisable(d: Document) -> bool:
    """Whether a parsed document looks like a policy text: a 文号, a policy title, or
    numbered articles or items."""
    if not d.printed or d.kind != "document":
        return False
    if d.doc_no or _POLICY_TITLE_RE.search(d.title):
        return True
    return any(c.label not in ("序言", "附件", "") for c in d.clauses)


def _listed_not_printed(
    listed: list[gz.Listed], printed: list[Document], source: str, warnings: list[str]
) -> list[Document]:
    out: list[Document] = []
    seen: set[str] = set()
    by_no = {d.doc_no: d for d in printed if d.doc_no}
    for item in listed:
        if item.doc_no in seen:
            continue
        seen.add(item.doc_no)
        if item.doc_no in by_no:
            continue
        best = max(printed, key=lambda d: fuzz.ratio(d.title, item.title), default=None)
        if best is not None and fuzz.partial_ratio(best.title, item.title) >= 90:
            warnings.append(
                f"contents page lists {item.doc_no} for {best.doc_no or best.title}: "
                "kept the printed number"
            )
            continue
        warnings.append(f"listed, not printed: {item.doc_no} {item.title}")
        out.append(
            Document(
                doc_no=item.doc_no,
                title=item.title,
                source=source,
                printed=False,
                span=SourceSpan(source, item.line, item.line),
            )
        )
    return out


def shipped_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix in TEXT_SUFFIXES and p.name != "README.md")


def ingest(
    paths: Iterable[Path],
    corpus: Corpus,
    on_file: Callable[[Path], None] | None = None,
    *,
    actor: str = "cli",
    max_bytes: int = MAX_FILE_BYTES,
    ocr: str = "auto",
) -> tuple[Corpus, list[FileSummary]]:
    """Parse ``paths`` and merge them into ``corpus`` (rules: :mod:`rag.ingest.changes`).

    A file that cannot be read is reported in its summary and skipped; the rest of
    the corpus is kept. ``corpus`` itself is not modified.
    """
    summaries: list[FileSummary] = []
    for path in paths:
        if on_file:
            on_file(path)
        try:
            src, new_docs, warnings = parse_file(path, max_bytes=max_bytes, ocr=ocr)
        except CorpusError as e:
            summaries.append(FileSummary(file=path.name, error=str(e), status="error"))
            continue
        corpus, summary = add_parsed(
            corpus, src, new_docs, warnings, path=str(path.resolve()), actor=actor
        )
        summaries.append(summary)
    return corpus, summaries
