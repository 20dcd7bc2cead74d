"""Facets: what a clause (or one of its answer units) can answer, read once at index time.

A facet is a category the texts treat differently (``scheme`` 职工/城乡居民, ``status``
在职/退休, ``service`` 住院/门诊/…, ``level`` 一级/二级/三级), named in the text, as
``index/facets.tsv`` says the texts name it, plus the kinds of figures the text gives
(``money`` 元, ``ratio`` %, ``duration``, ``age``, ``count``, ``date``). The decision
model compares them with what the caller's story says (rag/answer/understand.py).
"""

from __future__ import annotations

import re
from pathlib import Path

from rag.index.lexicon import LEXICON_DIR, facet_values
from rag.ingest.figures import figures, normalize

FIGURE_KINDS = ("money", "ratio", "duration", "age", "count", "date")
_FIG = re.compile(r"^(\d+(?:\.\d+)?)(.*)$")
_DATE = re.compile(r"(?:19|20)\d{2}年(?:\d{1,2}月(?:\d{1,2}日)?)?|[月年]底|之日起|起施行|起实施")
_COUNT_UNITS = ("种", "项", "类", "家", "次", "个", "件", "所", "人", "户", "张", "份")
_DURATION_UNITS = ("个工作日", "工作日", "个月", "小时", "年", "月", "日", "天")


def figure_kinds(text: str) -> list[str]:
    """Kinds of figures ``text`` gives, in :data:`FIGURE_KINDS` order."""
    kinds: set[str] = set()
    t = normalize(text)
    if _DATE.search(t):
        kinds.add("date")
    # a date's month and day are no durations
    for f in figures(
        re.sub(r"(?:19|20)\d{2}年(?:\d{1,2}月(?:\d{1,2}日)?)?|\d{1,2}月\d{1,2}日", " ", t)
    ):
        m = _FIG.match(f)
        if not m:
            continue
        value, unit = m.group(1), m.group(2)
        if unit.startswith(("元", "万元")):
            kinds.add("money")
        elif unit.startswith(("%", "‰", "个百分点", "百分点")):
            kinds.add("ratio")
        elif unit.startswith(("周岁", "岁")):
            kinds.add("age")
        elif unit == "年" and re.fullmatch(r"(19|20)\d{2}", value):
            kinds.add("date")
        elif unit.startswith(_DURATION_UNITS):
            kinds.add("duration")
        elif unit.startswith(_COUNT_UNITS):
            kinds.add("count")
    if re.search(r"[一二三四五六七八九]成|全额|不予支付|不纳入", text):
        kinds.add("ratio")  # 七成, 全额 and 不予支付 answer "报多少比例" too
    return [k for k in FIGURE_KINDS if k in kinds]


def text_facets(text: str, lexicon_dir: Path = LEXICON_DIR) -> dict[str, list[str]]:
    """Axis → the categories ``text`` names (as the texts name them), plus ``figures``."""
    out: dict[str, list[str]] = {}
    for fv in facet_values(lexicon_dir):
        if fv.text_pattern.search(text):
            out.setdefault(fv.axis, []).append(fv.value)
    kinds = figure_kinds(text)
    if kinds:
        out["figures"] = kinds
    return out


def agreement(asked: dict[str, list[str]], facets: dict[str, list[str]]) -> dict[str, int]:
    """Per asked axis: +1 when the text names an asked category, -1 when it names only
    other categories of that axis, 0 when it names none (it may still apply)."""
    out: dict[str, int] = {}
    for axis, values in asked.items():
        if not values or axis == "figures":
            continue
        named = facets.get(axis, [])
        if not named:
            out[axis] = 0
        elif any(v in named for v in values):
            out[axis] = 1
        else:
            out[axis] = -1
    return out
