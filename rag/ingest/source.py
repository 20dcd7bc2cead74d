"""Reading a source file: text, or the text lines of a PDF, Word, HTML or OFD file.

Every format ends as text lines (one paragraph a line) that the same repair and
segmentation turn into documents and clauses. Errors are one-line ``CorpusError``s
naming the file.
"""

from __future__ import annotations

from pathlib import Path

from rag.errors import CorpusError
from rag.ingest.formats.base import Extracted

TEXT_SUFFIXES = (".txt", ".md")
SUFFIXES = (*TEXT_SUFFIXES, ".pdf", ".docx", ".html", ".htm", ".ofd")
# Default size limit of one file (``RAG_MAX_FILE_MB`` at the interfaces).
MAX_FILE_BYTES = 100 * 1024 * 1024


def check_suffix(path: Path) -> str:
    """The file's lower-case suffix; a one-line error when the type is not supported."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        kinds = ", ".join(SUFFIXES)
        what = f"'{path.suffix}' files" if path.suffix else "files without a suffix"
        raise CorpusError(f"{path}: {what} cannot be ingested (supported: {kinds})")
    return suffix


def read_text(path: Path) -> str:
    """Read a UTF-8 text file; one-line ``CorpusError`` naming the file otherwise."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CorpusError(f"{path}: cannot read file ({e.strerror or e})") from e
    return decode_text(data, path)


def decode_text(data: bytes, path: Path) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise CorpusError(f"{path}: not UTF-8 text (byte {e.start}); convert it to UTF-8") from e
    if "\x00" in text:
        raise CorpusError(f"{path}: binary file, not text")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_source(path: Path, max_bytes: int = MAX_FILE_BYTES, ocr: str = "auto") -> Extracted:
    """The text lines of one file of any supported type.

    Args:
        path: The file; its suffix picks the reader.
        max_bytes: Files larger than this are refused before they are read.
        ocr: ``auto`` (OCR scanned PDF pages when the extra is installed) or ``off``.

    Raises:
        CorpusError: Unsupported type, too large, unreadable, or no text in it.
    """
    suffix = check_suffix(path)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise CorpusError(f"{path}: cannot read file ({e.strerror or e})") from e
    if size > max_bytes:
        raise CorpusError(
            f"{path}: {size / 2**20:.0f} MB is over the {max_bytes / 2**20:.0f} MB limit "
            "(RAG_MAX_FILE_MB)"
        )
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CorpusError(f"{path}: cannot read file ({e.strerror or e})") from e
    if suffix in TEXT_SUFFIXES:
        return Extracted(decode_text(data, path).split("\n"))
    if suffix == ".pdf":
        from rag.ingest.formats.pdf import read_pdf

        return read_pdf(data, path.name, ocr=ocr)
    if suffix == ".docx":
        from rag.ingest.formats.docx import read_docx

        return read_docx(data, path.name)
    if suffix == ".ofd":
        from rag.ingest.formats.ofd import read_ofd

        return read_ofd(data, path.name, max_bytes)
    from rag.ingest.formats.html import read_html

    return read_html(data, path.name)
