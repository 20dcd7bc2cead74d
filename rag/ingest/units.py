"""Answer units: the sentences of a clause, grouped so that each can be read alone.

A clause is the citable unit; an answer unit is the smallest piece of it that answers
something (a sentence with its condition, a lead-in with its list). Units are cut at
index time (each gets its own vector) and read again at answer time.
"""

from __future__ import annotations

import re

_ITEM_START = re.compile(
    r"^\s*([（(][一二三四五六七八九十\d]+[）)]|\d+[.、．]|[①-⑳]|[一二三四五六七八九十]+是)"
)

# a lead-in and its first item in one run ending with "；": the items that follow belong
_INLINE_LIST = re.compile(r"[：:][^。：:]*；$")
# "…主要包括两类：一是…；" opens a list inside a sentence
_LIST_OPENS = re.compile(r"[：:]\s*(（[一二三四五六七八九十\d]+）|\(\d+\)|\d+[.、．]|[①-⑳]|一是)")


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence: split after 。；！？ and at line breaks."""
    spans = []
    start = 0
    for m in re.finditer(r"[。；！？]|\n+", text):
        end = m.end() if m.group(0)[0] != "\n" else m.start()
        if text[start:end].strip():
            spans.append((start, end))
        start = m.end()
    if text[start:].strip():
        spans.append((start, len(text)))
    return spans


def split_sentences(text: str) -> list[str]:
    """Sentences of a clause, split after 。；！？ and at line breaks."""
    return [text[a:b].strip() for a, b in _sentence_spans(text)]


def answer_units(text: str, max_chars: int = 320) -> list[str]:
    """The answer units of ``text`` (see :func:`unit_spans`), stripped."""
    return [text[a:b].strip() for a, b in unit_spans(text, max_chars)]


def unit_spans(text: str, max_chars: int = 320) -> list[tuple[int, int]]:
    """(start, end) of each answer unit: sentences grouped so that none is cut from
    what it needs to be read alone.

    A lead-in ending with "：" ("对有下列情形的随军家属不予安置：", or "主要包括两类：一是…；")
    keeps the items that follow it; a condition ending in "的；" keeps the sentence that
    says what follows from it ("…造成医疗保障基金损失的；处骗取金额2倍以上5倍以下的罚款");
    a bare heading ("专栏11:全民质量素养提升工程") keeps the sentence after it.
    Each unit is a verbatim slice of the clause text.
    """
    units: list[tuple[int, int]] = []
    open_list = False
    for a, b in _sentence_spans(text):
        sent = text[a:b].strip()
        last = text[units[-1][0] : units[-1][1]].strip() if units else ""
        if (
            units
            and (
                (open_list and _ITEM_START.match(sent))
                or (last.endswith(("：", ":")) and not open_list)
                or (last.endswith("的；") and not _ITEM_START.match(sent))
                # "按以下比例支付：一级…为90%；二级…为85%；三级…为80%。" is one list
                or bool(_INLINE_LIST.search(last))
                or (len(last) < 24 and not last.endswith(("。", "；", "！", "？")))
                # an item's short title: "(一)综合交通投资。" heads the sentence after it
                or (len(last) < 24 and _ITEM_START.match(last) and not _ITEM_START.match(sent))
            )
            and len(last) + len(sent) <= max_chars
        ):
            units[-1] = (units[-1][0], b)
        else:
            units.append((a, b))
        if sent.endswith(("：", ":")) or _LIST_OPENS.search(sent):
            open_list = True
        elif not _ITEM_START.match(sent):
            open_list = False
    return units
