"""Clause labels: Chinese numerals, numbering markers, and canonical label look-ups.

A clause label is the numbering path from the top of its text down to the clause, as
printed, with full-width （） and ASCII ``1.``::

    第十四条   第二十三条（一）   二、（一）1.（3）   专栏12   3.2（4）   【登记备案要求】   序言

Components, outermost first: ``第X条`` (article), ``X、`` (outline level 1), ``（X）``
(level 2), ``N.`` (level 3), ``（N）`` (level 4), ``3.2`` / ``4.3.2.1`` (decimal sections,
self-contained: ancestors ``3`` and ``3.2`` are not repeated), ``专栏N`` (boxes in plans, a
label on their own), ``【…】`` (bracketed section names in some attachments) and ``序言``
(text before the first numbered unit).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "○": 0,
    "Ｏ": 0,
    "O": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
CN_UNITS = {"十": 10, "百": 100, "千": 1000}
CN_NUM_CHARS = "零〇○一二三四五六七八九十百千两"

_DIGIT_CN = "零一二三四五六七八九"


def cn_to_int(s: str) -> int:
    """Convert a Chinese (or Arabic) numeral to an int.

    Args:
        s: ``"二十三"``, ``"十四"``, ``"一百零五"``, ``"一一〇"`` (digit by digit), or ``"23"``.

    Returns:
        The value, e.g. ``cn_to_int("二十三") == 23``.

    Raises:
        ValueError: ``s`` is not a numeral.
    """
    s = s.strip()
    if not s:
        raise ValueError("empty numeral")
    folded = unicodedata.normalize("NFKC", s)
    if folded.isdigit():
        return int(folded)
    if any(ch not in CN_DIGITS and ch not in CN_UNITS for ch in s):
        raise ValueError(f"not a Chinese numeral: {s!r}")
    if not any(ch in CN_UNITS for ch in s):
        # Digit-by-digit form, as in years: 二〇一二 → 2012.
        value = 0
        for ch in s:
            value = value * 10 + CN_DIGITS[ch]
        return value
    total = 0
    digit: int | None = None
    last_unit = 10_000
    for ch in s:
        if ch in CN_DIGITS:
            if digit is not None and CN_DIGITS[ch] != 0 and digit != 0:
                raise ValueError(f"not a Chinese numeral: {s!r}")
            digit = CN_DIGITS[ch]
        else:
            unit = CN_UNITS[ch]
            if unit >= last_unit:
                raise ValueError(f"not a Chinese numeral: {s!r}")
            # A bare leading 十 means 一十 (十四 = 14).
            total += (1 if digit is None else digit) * unit
            digit = None
            last_unit = unit
    if digit is not None:
        total += digit
    return total


def int_to_cn(n: int) -> str:
    """Convert a non-negative int below 10000 to the Chinese numeral used in labels.

    ``int_to_cn(14) == "十四"``, ``int_to_cn(105) == "一百零五"``, ``int_to_cn(110) == "一百一十"``.
    """
    if n < 0 or n >= 10_000:
        raise ValueError(f"out of range: {n}")
    if n < 10:
        return _DIGIT_CN[n]
    if n < 20:
        return "十" + (_DIGIT_CN[n - 10] if n > 10 else "")
    out = ""
    zero = False
    for unit, name in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        d, n = divmod(n, unit)
        if d:
            if zero and out:
                out += "零"
            out += _DIGIT_CN[d] + name
            zero = False
        elif out:
            zero = True
    return out


# ---------------------------------------------------------------------------------------------
# Markers at the start of a line

_CN = rf"[{CN_NUM_CHARS}]"
_NUM = rf"(?:{_CN}{{1,6}}|\d{{1,4}})"

CHAPTER_RE = re.compile(rf"^第\s*(?P<n>{_NUM})\s*(?P<unit>[章节编]|部分)(?P<rest>.*)$")
ARTICLE_RE = re.compile(rf"^第\s*(?P<n>{_NUM})\s*条(?P<sep>[\s:：、.．]*)(?P<rest>.*)$")
CN_ITEM_RE = re.compile(r"^(?P<n>[一二三四五六七八九十]{1,3})\s*[、．.，,]\s*(?P<rest>.*)$")
PCN_ITEM_RE = re.compile(r"^[（(]\s*(?P<n>[一二三四五六七八九十]{1,3})\s*[）)]\s*(?P<rest>.*)$")
AR_ITEM_RE = re.compile(r"^(?P<n>\d{1,2})\s*[.．、](?![\d.．])\s*(?P<rest>.*)$")
PAR_ITEM_RE = re.compile(r"^[（(]\s*(?P<n>\d{1,2})\s*[）)]\s*(?P<rest>.*)$")
DEC_RE = re.compile(r"^(?P<n>\d{1,2}(?:[.．]\d{1,2}){1,3})(?![\d.．%])(?P<sep>\s*)(?P<rest>.*)$")
DEC_TOP_RE = re.compile(r"^(?P<n>\d{1,2})\s+(?P<rest>[\u4e00-\u9fff][^。；，,;]{0,24})$")
BOX_RE = re.compile(r"^专栏\s*(?P<n>\d{1,3})(?!\d)\s*[:：]?\s*(?P<rest>.*)$")
BRACKET_RE = re.compile(r"^【(?P<name>[^】]{2,24})】\s*(?P<rest>.*)$")

# 一、二级医院 / 一、二类 are two numerals, not an item marker.
_FALSE_CN_ITEM_RE = re.compile(r"^[一二三四五六七八九十]+[级类档星等批]")

# What follows 第X条/第X章 when it is a reference in running text, not a heading.
_REFERENCE_TAILS = (
    "规定",
    "的",
    "第",
    "至",
    "、",
    "和",
    "及",
    "所",
    "中",
    "之",
    "有关",
    "项",
    "款",
)

# A number followed by a unit is a quantity (3.5万元, 2倍), not a section number.
_QUANTITY_UNITS = ("%", "％", "万", "亿", "倍", "元", "个", "人", "年", "月", "日", "天", "小时")

# Outline levels, outermost first (the usual printed order 一、 > （一） > 1. > （1））.
OUTLINE_KINDS = ("cn", "pcn", "ar", "par")


@dataclass(frozen=True)
class Marker:
    """A numbering marker found at the start of a line.

    Attributes:
        kind: ``chapter`` (第X章/节/编/部分), ``article`` (第X条), ``cn`` (一、), ``pcn``
            (（一）), ``ar`` (1.), ``par`` (（1）), ``dec`` (3.2 / top-level ``3 总则``),
            ``box`` (专栏N) or ``bracket`` (【名称】).
        value: The number(s): one int, or the components of a decimal number.
        comp: The canonical label component (``第十四条``, ``（一）``, ``1.``, ``3.2``, ``专栏12``).
        rest: The text after the marker.
        sep: Whether an explicit separator (space, 、, ：) followed the marker; a bare
            ``第十条规定…`` at a line start is much more likely a broken line than an article.
    """

    kind: str
    value: tuple[int, ...]
    comp: str
    rest: str
    sep: bool = True

    @property
    def n(self) -> int:
        """The last (or only) number of the marker."""
        return self.value[-1]


def _num(s: str) -> int:
    return cn_to_int(s)


def parse_marker(text: str) -> Marker | None:
    """Recognise a numbering marker at the start of an already cleaned line.

    Recognition only: whether the marker is structural (monotonic numbering, not a broken
    line) is decided by the outline parser.

    Args:
        text: The line, without markdown ``#``, bold ``**`` or leading spaces.

    Returns:
        The marker, or None when the line does not start with one.
    """
    t = text
    if not t:
        return None
    first = t[0]
    if first == "第":
        m = CHAPTER_RE.match(t)
        if m:
            rest = m.group("rest").strip()
            # A heading is short and has no sentence punctuation; 第三章规定的… is a broken line.
            if (
                len(rest) <= 30
                and not re.search(r"[，,。；;]", rest)
                and not rest.startswith(_REFERENCE_TAILS)
            ):
                n = _num(m.group("n"))
                unit = m.group("unit")
                return Marker("chapter", (n,), f"第{int_to_cn(n)}{unit}", rest)
        m = ARTICLE_RE.match(t)
        if m:
            n = _num(m.group("n"))
            rest = m.group("rest")
            sep = bool(m.group("sep")) or not rest
            # 第十条规定… / 第十条的… are references, not articles.
            if not sep and rest.startswith(_REFERENCE_TAILS):
                return None
            return Marker("article", (n,), f"第{int_to_cn(n)}条", rest.strip(), sep)
        return None
    if first == "专":
        m = BOX_RE.match(t)
        if m:
            n = int(m.group("n"))
            return Marker("box", (n,), f"专栏{n}", m.group("rest").strip())
        return None
    if first == "【":
        m = BRACKET_RE.match(t)
        if m:
            name = re.sub(r"\s+", "", m.group("name"))
            return Marker("bracket", (0,), f"【{name}】", m.group("rest").strip())
        return None
    if first in "（(":
        m = PCN_ITEM_RE.match(t)
        if m:
            n = _num(m.group("n"))
            return Marker("pcn", (n,), f"（{int_to_cn(n)}）", m.group("rest").strip())
        m = PAR_ITEM_RE.match(t)
        if m:
            n = int(m.group("n"))
            return Marker("par", (n,), f"（{n}）", m.group("rest").strip())
        return None
    if first.isdigit():
        m = DEC_RE.match(t)
        if m and m.group("rest") and not m.group("rest").startswith(_QUANTITY_UNITS):
            parts = tuple(int(p) for p in re.split(r"[.．]", m.group("n")))
            comp = ".".join(str(p) for p in parts)
            return Marker("dec", parts, comp, m.group("rest").strip(), bool(m.group("sep")))
        m = AR_ITEM_RE.match(t)
        if m:
            n = int(m.group("n"))
            rest = m.group("rest").strip()
            if rest.startswith(_QUANTITY_UNITS):
                return None
            return Marker("ar", (n,), f"{n}.", rest)
        m = DEC_TOP_RE.match(t)
        if m:
            n = int(m.group("n"))
            return Marker("dec", (n,), str(n), m.group("rest").strip())
        return None
    if first in "一二三四五六七八九十":
        m = CN_ITEM_RE.match(t)
        if m:
            rest = m.group("rest").strip()
            if _FALSE_CN_ITEM_RE.match(rest):
                return None
            n = _num(m.group("n"))
            return Marker("cn", (n,), f"{int_to_cn(n)}、", rest)
    return None


# ---------------------------------------------------------------------------------------------
# Labels and user look-ups

_COMP_RE = re.compile(
    rf"""
    (?P<article>第(?P<an>{_NUM})条)
  | (?P<clause_para>第(?P<kn>{_NUM})款)
  | (?P<item>第[（(]?(?P<in>{_NUM})[）)]?项)
  | (?P<pcn>[（(](?P<pn>[一二三四五六七八九十]{{1,3}})[）)])
  | (?P<par>[（(](?P<rn>\d{{1,3}})[）)])
  | (?P<cn>(?P<cnn>[一二三四五六七八九十]{{1,3}})[、.．])
  | (?P<box>专栏(?P<bn>\d{{1,3}}))
  | (?P<dec>\d{{1,2}}(?:\.\d{{1,2}}){{1,3}})(?![\d])
  | (?P<ar>(?P<arn>\d{{1,3}})[.．、])
  | (?P<bracket>【[^】]+】)
  | (?P<preamble>序言)
    """,
    re.VERBOSE,
)


def _fold(s: str) -> str:
    """NFKC-fold (full-width digits, ㈠ → (一), ⑴ → (1)) and drop all whitespace."""
    s = unicodedata.normalize("NFKC", s)
    return re.sub(r"\s+", "", s)


def _components(s: str) -> list[str] | None:
    """Split a (folded) label into canonical components; None when something is left over."""
    comps: list[str] = []
    pos = 0
    while pos < len(s):
        m = _COMP_RE.match(s, pos)
        if not m:
            return None
        pos = m.end()
        if m.group("article"):
            comps.append(f"第{int_to_cn(_num(m.group('an')))}条")
        elif m.group("clause_para"):
            continue  # 第二款: paragraphs are not labelled, the article is the unit
        elif m.group("item"):
            comps.append(f"（{int_to_cn(_num(m.group('in')))}）")
        elif m.group("pcn"):
            comps.append(f"（{int_to_cn(_num(m.group('pn')))}）")
        elif m.group("par"):
            comps.append(f"（{int(m.group('rn'))}）")
        elif m.group("cn"):
            comps.append(f"{int_to_cn(_num(m.group('cnn')))}、")
        elif m.group("box"):
            comps.append(f"专栏{int(m.group('bn'))}")
        elif m.group("dec"):
            comps.append(".".join(str(int(p)) for p in m.group("dec").split(".")))
        elif m.group("ar"):
            comps.append(f"{int(m.group('arn'))}.")
        elif m.group("bracket"):
            comps.append(m.group("bracket"))
        elif m.group("preamble"):
            comps.append("序言")
    return comps


def split_label(label: str) -> list[str]:
    """Components of a label: ``"二、（一）1.（3）"`` → ``["二、", "（一）", "1.", "（3）"]``.

    Unparseable text comes back as a single component, so any label can be compared.
    """
    comps = _components(_fold(label))
    if comps is None:
        return [label] if label else []
    return comps


def canonical_clause_query(s: str) -> list[str]:
    """Turn a user's clause reference into candidate canonical labels (best first).

    Examples: ``第14条``/``第十四条``/``14``/``十四`` → ``["第十四条", …]``;
    ``(一)``/``㈠`` → ``["（一）"]``; ``第二十三条(一)`` and ``第二十三条第一项`` →
    ``["第二十三条（一）"]``; ``二、(一)1.(3)`` → ``["二、（一）1.（3）"]``; ``1．`` → ``["1."]``.

    Args:
        s: What the user typed.

    Returns:
        Candidate labels or label prefixes; empty when ``s`` is not a clause reference.
    """
    t = _fold(s)
    if not t:
        return []
    # Bare numbers: an article first (the common question), then the outline items.
    if re.fullmatch(r"\d{1,4}", t) or re.fullmatch(rf"{_CN}{{1,6}}", t):
        try:
            n = _num(t)
        except ValueError:
            return []
        out = [f"第{int_to_cn(n)}条"]
        if n <= 99:
            out += [f"{int_to_cn(n)}、", f"{n}."]
        return out
    # 第14 / 14条 without the other half.
    m = re.fullmatch(rf"第?(?P<n>{_NUM})条?", t)
    if m and (t.startswith("第") or t.endswith("条")):
        try:
            return [f"第{int_to_cn(_num(m.group('n')))}条"]
        except ValueError:
            return []
    m = re.fullmatch(r"专栏(\d{1,3})", t)
    if m:
        return [f"专栏{int(m.group(1))}"]
    try:
        comps = _components(t)
    except ValueError:
        return []
    if not comps:
        return []
    return ["".join(comps)]


def _is_prefix(short: list[str], long: list[str]) -> bool:
    return len(short) <= len(long) and long[: len(short)] == short


def _is_suffix(short: list[str], long: list[str]) -> bool:
    return len(short) <= len(long) and long[len(long) - len(short) :] == short


def label_matches(query: str, label: str) -> bool:
    """Whether a user's clause reference designates ``label``.

    True on an exact canonical match; as a convenience also when the query is a prefix path
    of the label (``第二十三条`` matches ``第二十三条（一）``, ``二、（一）`` matches
    ``二、（一）1.``) or its last component(s) (``（一）`` matches ``第二十三条（一）``).
    """
    lab = split_label(label)
    if not lab:
        return False
    for cand in canonical_clause_query(query):
        cc = split_label(cand)
        if cc and (_is_prefix(cc, lab) or _is_suffix(cc, lab)):
            return True
    return False


def same_top_unit(a: str, b: str) -> bool:
    """Lenient match: the two labels lie in the same article or the same outline item.

    Articles compare by article (``第二十三条（一）`` ≈ ``第二十三条``); outline labels by
    their first two levels, or fewer when one label is shorter (``二、（一）1.`` ≈
    ``二、（一）`` ≈ ``二、（一）（3）``, and ``二、`` ≈ ``二、（三）``); boxes and other
    one-component labels only when equal.
    """
    ca, cb = _decimal_levels(split_label(a)), _decimal_levels(split_label(b))
    if not ca or not cb:
        return False
    if ca[0].startswith("第") and ca[0].endswith("条"):
        return ca[0] == cb[0]
    depth = min(2, len(ca), len(cb))
    return ca[:depth] == cb[:depth]


def _decimal_levels(parts: list[str]) -> list[str]:
    """``3.3.2`` is three levels deep (3 → 3.3 → 3.3.2), like ``一、（一）1.``."""
    out: list[str] = []
    for p in parts:
        if re.fullmatch(r"\d+(\.\d+)+", p):
            out.extend(p.split("."))
        else:
            out.append(p)
    return out
