"""Reading a source file: UTF-8 text or a one-line error that names the file."""

from __future__ import annotations

from pathlib import Path

from rag.errors import CorpusError


def read_text(path: Path) -> str:
    """Read a UTF-8 text file; one-line ``CorpusError`` naming the file otherwise."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CorpusError(f"{path}: cannot read file ({e.strerror or e})") from e
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise CorpusError(f"{path}: not UTF-8 text (byte {e.start}); convert it to UTF-8") from e
    if "\x00" in text:
        raise CorpusError(f"{path}: binary file, not text")
    return text.replace("\r\n", "\n").replace("\r", "\n")
