"""Figures in policy text: amounts, percentages, durations, dates.

A wrong figure is the worst error the assistant can make, so answers are checked
figure by figure against the clauses they cite. Figures are compared in a normal
form: NFKC, no spaces, Chinese numerals turned into digits (``三十日`` → ``30日``,
``百分之八十`` → ``80%``).
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
_CN_DIGITS.update({"六": 6, "七": 7, "八": 8, "九": 9})
_CN_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10_000}
_CN_NUM = "零〇一二两三四五六七八九十百千万"

UNITS = (
    "万元|元/月|元/年|元/人|元|%|‰|周岁|岁|个百分点|百分点|个工作日|个月|工作日|日|天|年|月|次|倍|项|人|家|个|"
    "张|份|小时|平方米|公里|千瓦|吨|户|所"
)
_FIGURE_RE = re.compile(rf"\d+(?:\.\d+)?\s*(?:{UNITS})?")
_CN_FIGURE_RE = re.compile(
    rf"(?:百分之[{_CN_NUM}]+|[{_CN_NUM}]{{2,}}(?={UNITS})|[{_CN_NUM}](?=(?:{UNITS})))"
)


def cn_number(s: str) -> int | None:
    """Value of a Chinese numeral (``二十三`` → 23, ``一百零五`` → 105); None if not one."""
    if not s or any(ch not in _CN_DIGITS and ch not in _CN_UNITS for ch in s):
        return None
    if len(s) > 1 and all(ch in _CN_DIGITS for ch in s):
        # 二〇一四 is read digit by digit
        return int("".join(str(_CN_DIGITS[ch]) for ch in s))
    total, section, digit = 0, 0, 0
    for ch in s:
        if ch in _CN_DIGITS:
            digit = _CN_DIGITS[ch]
        else:
            unit = _CN_UNITS[ch]
            if unit == 10_000:
                section = (section + digit) * unit
                total += section
                section = 0
            else:
                section += (digit or 1) * unit
            digit = 0
    return total + section + digit


def normalize(text: str) -> str:
    """NFKC, no whitespace, Chinese numerals before a unit turned into digits."""
    t = unicodedata.normalize("NFKC", text)
    t = re.sub(r"\s+", "", t)

    def pct(m: re.Match[str]) -> str:
        v = cn_number(m.group(1))
        return f"{v}%" if v is not None else m.group(0)

    def cn_decimal(m: re.Match[str]) -> str:
        whole = cn_number(m.group(1))
        frac = "".join(str(_CN_DIGITS.get(ch, "")) for ch in m.group(2))
        return f"{whole}.{frac}" if whole is not None and frac else m.group(0)

    # 百分之五点五 → 百分之5.5 first, so the decimal part is not lost
    t = re.sub(rf"([{_CN_NUM}]+)点([零〇一二三四五六七八九]+)", cn_decimal, t)
    t = re.sub(r"百分之(\d+(?:\.\d+)?)", r"\1%", t)
    t = re.sub(rf"百分之([{_CN_NUM}]+)", pct, t)

    def scale(m: re.Match[str]) -> str:
        v = (Decimal(m.group(1)) * (10_000 if m.group(2) == "万" else 100_000_000)).normalize()
        return str(int(v)) if v == v.to_integral_value() else format(v, "f")

    # 1万元, 1.5万人, 2亿元 written out, so they meet 一万元 (read below) in one form
    t = re.sub(r"(\d+(?:\.\d+)?)(万|亿)", scale, t)

    def num(m: re.Match[str]) -> str:
        v = cn_number(m.group(1))
        return f"{v}{m.group(2)}" if v is not None else m.group(0)

    t = re.sub(rf"(?<![\d.])([{_CN_NUM}]+)({UNITS})", num, t)
    return t


def figures(text: str) -> list[str]:
    """Figures in ``text`` in normal form, in order (``["3.5%", "30日", "160元/月"]``).

    Bare years and list numbers are included; callers that check an answer against
    its sources compare the normalised strings, so formatting differences vanish.
    """
    t = normalize(text)
    out = []
    for m in _FIGURE_RE.finditer(t):
        f = m.group(0)
        # a list marker "1." or "（3）" is numbering, not a figure
        end = m.end()
        if re.fullmatch(r"\d{1,2}", f) and end < len(t) and t[end] in ".、)）":
            continue
        out.append(f)
    return out


def unsupported(answer: str, sources: list[str]) -> list[str]:
    """Figures of ``answer`` that occur in none of ``sources`` (normalised)."""
    pool = "\n".join(normalize(s) for s in sources)
    bad = []
    for f in figures(answer):
        # whole numbers only: 30日 is not supported by 130日, 5% not by 5.5%
        if not re.search(rf"(?<![\d.]){re.escape(f)}", pool):
            bad.append(f)
    return bad
