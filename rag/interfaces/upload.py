"""Clerk uploads (API and web app): size check, safe file names, preview and result JSON.

An upload is saved under its own (sanitised) name in a private temp directory, parsed by
the ingest pipeline's entry point (:func:`rag.ingest.pipeline.parse_file`, so every
format the pipeline reads can be uploaded), and either previewed (nothing stored) or
stored and indexed through :mod:`rag.index.lifecycle`.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from rag.errors import InputError
from rag.ingest.changes import FileSummary, same_document
from rag.ingest.store import Corpus
from rag.interfaces.limits import describe_size
from rag.models import Document

MB = 1024 * 1024
OUTLINE_SNIPPET = 60


class TooLarge(InputError):
    """The upload is over the size limit (HTTP 413)."""


def suffixes() -> tuple[str, ...]:
    """The file types the ingest pipeline reads."""
    from rag.ingest.pipeline import SUFFIXES

    return tuple(SUFFIXES)


def safe_name(name: str | None) -> str:
    """The base name of an uploaded file, without path parts or control characters."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[\x00-\x1f\x7f]", "", base).strip().lstrip(".")
    if not base:
        raise InputError("the upload has no file name")
    if not base.lower().endswith(suffixes()):
        raise InputError(f"{base}: only {', '.join(suffixes())} files can be uploaded")
    return base[-200:]


def check_size(n_bytes: int, max_bytes: int) -> None:
    if n_bytes > max_bytes:
        raise TooLarge(
            f"upload too large: {n_bytes / MB:.1f} MB (limit {describe_size(max_bytes)}, "
            "RAG_MAX_UPLOAD_BYTES)"
        )


@contextmanager
def saved_upload(data: BinaryIO, name: str | None, max_bytes: int) -> Iterator[Path]:
    """Copy an upload to ``<private temp dir>/<safe name>``, at most ``max_bytes``; its path.

    The request body is already limited by :class:`rag.interfaces.limits.BodyLimit`
    (multipart: the same setting); this also bounds the file itself."""
    base = safe_name(name)
    with tempfile.TemporaryDirectory(prefix="rag-upload-") as tmp:
        path = Path(tmp) / base
        total = 0
        with path.open("wb") as out:
            while chunk := data.read(MB):
                total += len(chunk)
                check_size(total, max_bytes)
                out.write(chunk)
        yield path


@contextmanager
def copied_upload(src: Path, max_bytes: int) -> Iterator[Path]:
    """Like :func:`saved_upload` for a file already on disk (the web app's upload cache)."""
    check_size(src.stat().st_size, max_bytes)
    base = safe_name(src.name)
    with tempfile.TemporaryDirectory(prefix="rag-upload-") as tmp:
        path = Path(tmp) / base
        shutil.copyfile(src, path)
        yield path


def outline(doc: Document) -> list[dict[str, Any]]:
    """The clause outline: label, part title and the opening words of every clause."""
    out = []
    for c in doc.clauses:
        text = c.text.replace("\n", " ")
        if text.startswith(c.label):
            text = text[len(c.label) :].strip()
        out.append(
            {
                "clause": c.label,
                "part_title": c.part_title,
                "text": text[:OUTLINE_SNIPPET] + ("…" if len(text) > OUTLINE_SNIPPET else ""),
            }
        )
    return out


def _action(d: Document, summary: FileSummary) -> str:
    if d.key in summary.replaced:
        return "replace"
    if d.key in summary.unchanged:
        return "unchanged"
    return "add"


def result_json(
    summary: FileSummary, docs: list[Document], before: Corpus, *, stored: bool
) -> dict[str, Any]:
    """What an upload holds and what storing it does (``stored``: whether it was stored).

    Each document: its ``rag docs --json`` fields, ``action`` (add | replace | unchanged),
    the stored document it replaces, and its clause outline.
    """
    out_docs = []
    for d in docs:
        item = d.to_json()
        item["action"] = _action(d, summary)
        old = next((x for x in before.documents if same_document(d, x)), None)
        item["replaces"] = (
            {"doc_no": old.doc_no, "title": old.title, "date": old.date, "source": old.source}
            if old is not None and item["action"] == "replace"
            else None
        )
        item["outline"] = outline(d)
        out_docs.append(item)
    return {
        "stored": stored,
        "file": summary.file,
        "sha256": summary.sha256,
        "status": summary.status,
        "documents": out_docs,
        "removed": list(summary.removed),
        "warnings": list(summary.warnings),
    }
