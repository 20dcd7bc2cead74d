"""A worked estimate for "能报多少" calls that give an amount: the arithmetic on the
parameters the cited clauses state, each cited, marked as an estimate.

Only in-patient care under a text that sets, by hospital level, a 起付标准 (元) and a
支付比例 (%) is estimated; a 退休 adjustment ("增加5个百分点") and a 最高支付限额 are
applied when the text states them. A parameter that is missing or ambiguous (two
clauses of the text give different figures for the same level) means no estimate:
a wrong figure is worse than none. The result is shown after the quotes, headed
:data:`ESTIMATE_HEAD`; the metrics read figures only above it (they are derived).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rag.models import Clause

ESTIMATE_HEAD = "估算（仅供参考，以经办机构结算为准）："
LEVELS = ("一级", "二级", "三级")
_LEVEL = r"(一级及以下|一级|二级|三级)[^，；;。元%]{0,16}?"
_DEDUCTIBLE = re.compile(_LEVEL + r"(\d+(?:\.\d+)?)元")
_RATIO = re.compile(_LEVEL + r"为?(\d+(?:\.\d+)?)%")
_RETIRED = re.compile(r"退休人员[^。；]{0,16}增加(\d+(?:\.\d+)?)个百分点")
_CAP = re.compile(r"最高支付限额[^。；]{0,40}?(\d+(?:\.\d+)?)(万元|元)")


@dataclass
class Param:
    value: float
    clause: Clause


@dataclass
class Estimate:
    lines: list[str]
    clauses: list[Clause] = field(default_factory=list)  # every clause a figure comes from


def _level(word: str) -> str:
    return "一级" if word.startswith("一级") else word


def _by_level(pattern: re.Pattern[str], text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for m in pattern.finditer(text):
        out.setdefault(_level(m.group(1)), float(m.group(2)))
    return out


def _one(found: list[tuple[dict[str, float], Clause]], level: str) -> Param | None:
    """The figure for ``level`` if every clause that gives one gives the same."""
    values = {(f[level]) for f, _c in found if level in f}
    if len(values) != 1:
        return None
    value = values.pop()
    clause = next(c for f, c in found if f.get(level) == value)
    return Param(value, clause)


def inpatient_parameters(
    clauses: list[Clause],
) -> tuple[dict[str, Param], dict[str, Param], Param | None, Param | None]:
    """(起付标准 by level, 支付比例 by level, 退休 points, 最高支付限额) from in-patient clauses."""
    deductibles: list[tuple[dict[str, float], Clause]] = []
    ratios: list[tuple[dict[str, float], Clause]] = []
    retired: list[Param] = []
    caps: list[Param] = []
    for c in clauses:
        t = re.sub(r"\s+", "", c.text)
        if "住院" not in t or ("门诊起付" in t and "住院起付" not in t):
            continue
        if "起付标准" in t:
            d = _by_level(_DEDUCTIBLE, t)
            if len(d) >= 2:
                deductibles.append((d, c))
        if re.search(r"比例支付|支付比例|按以下比例", t):
            r = _by_level(_RATIO, t)
            if len(r) >= 2:
                ratios.append((r, c))
            m = _RETIRED.search(t)
            if m:
                retired.append(Param(float(m.group(1)), c))
        m = _CAP.search(t)
        if m and "门诊最高支付限额" not in t[max(0, m.start() - 2) : m.end()]:
            caps.append(Param(float(m.group(1)) * (10_000 if m.group(2) == "万元" else 1), c))
    ded = {lv: p for lv in LEVELS if (p := _one(deductibles, lv)) is not None}
    rat = {lv: p for lv in LEVELS if (p := _one(ratios, lv)) is not None}
    ret = retired[0] if len({p.value for p in retired}) == 1 else None
    cap = caps[0] if len({p.value for p in caps}) == 1 else None
    return ded, rat, ret, cap


def _yuan(v: float) -> str:
    return f"{v:,.0f}元" if v == int(v) else f"{v:,.2f}元"


def estimate_inpatient(
    amount: float,
    clauses: list[Clause],
    *,
    level: str | None,
    retired: bool | None,
    cite: dict[str, int],
) -> Estimate | None:
    """Lines of arithmetic for an in-patient bill of ``amount`` yuan, or None when a
    parameter is missing. ``cite`` maps a clause id to its citation number (new clauses
    are added to it). ``level``/``retired`` None: one line per case."""
    ded, rat, ret_pts, cap = inpatient_parameters(clauses)
    levels = [level] if level else [lv for lv in LEVELS if lv in ded and lv in rat]
    if not levels or any(lv not in ded or lv not in rat for lv in levels):
        return None
    used: list[Clause] = []

    def n(c: Clause) -> str:
        if c.id not in cite:
            cite[c.id] = len(cite) + 1
        if c not in used:
            used.append(c)
        return f"[{cite[c.id]}]"

    statuses: list[bool] = [retired] if retired is not None else [False, True]
    if True in statuses and ret_pts is None:
        statuses = [s for s in statuses if not s]
        if not statuses:
            return None
    lines = []
    for lv in levels:
        for is_retired in statuses:
            d, r = ded[lv], rat[lv]
            pct = r.value + (ret_pts.value if is_retired and ret_pts else 0.0)
            # the fund pays its share of the part between the 起付标准 and the 最高支付限额
            top = min(amount, cap.value) if cap is not None else amount
            paid = max(0.0, top - d.value) * pct / 100
            note = ""
            if cap is not None and amount > cap.value:
                note = f"；超过最高支付限额{_yuan(cap.value)}{n(cap.clause)}的部分统筹基金不支付"
            who = ("退休人员" if is_retired else "在职职工") if len(statuses) > 1 else ""
            share = f"{r.value:g}%{n(r.clause)}"
            if is_retired and ret_pts:
                share = f"（{share} + {ret_pts.value:g}个百分点{n(ret_pts.clause)}）"
            lines.append(
                f"{lv}医疗机构{who}：（{_yuan(amount)} − 起付标准{_yuan(d.value)}{n(d.clause)}）"
                f"× {share} = 统筹基金约支付{_yuan(paid)}，个人负担约{_yuan(amount - paid)}{note}。"
            )
    return Estimate(lines, used)
