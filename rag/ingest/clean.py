"""`rag clean`: the repaired text of one file.

* Punctuation mojibake is repaired when the file has it (a clean file is untouched).
* A two-column gazette is put back in reading order, document by document: each title
  block before its body, lines broken mid-sentence (and mid-word) re-joined, page
  numbers and running headers dropped, news pages separated from the documents
  they interrupted.
* Spaces left inside words by PDF extraction (``医 师法``, ``17 号``) are removed.
"""

from __future__ import annotations

from rag.ingest import gazette as gz
from rag.ingest.mojibake import clean_file_text
from rag.ingest.outline import clean_spaces, join_lines


def repair_text(raw: str) -> str:
    """The repaired text of a whole file (see the module docstring)."""
    text = clean_file_text(raw)
    raw_lines = raw.split("\n")
    lines = text.split("\n")
    if not gz.is_two_column(raw_lines):
        return "\n".join(clean_spaces(s) for s in lines)
    issue = gz.split_issue(raw_lines, lines)
    out: list[str] = []
    for doc in issue.docs:
        head = [gz._squash(ln.text) for ln in doc.title_lines]
        body = join_lines([ln.text for ln in doc.body])
        out.append("\n".join([*head, body]).strip())
    return "\n\n".join(out) + "\n"
