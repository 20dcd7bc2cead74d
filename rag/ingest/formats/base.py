"""What a format reader returns: the text lines of a file, and what it noticed."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Extracted:
    """The text of one file as lines in reading order (one paragraph a line).

    Attributes:
        lines: The text lines; the segmenter turns them into documents and clauses.
        warnings: What the reader noticed (pages without text, OCR used …).
        pages: Number of pages (fixed-layout formats), else 0.
        ocr_pages: Pages whose text came from OCR.
    """

    lines: list[str]
    warnings: list[str] = field(default_factory=list)
    pages: int = 0
    ocr_pages: int = 0

    @property
    def text(self) -> str:
        return "\n".join(self.lines)
