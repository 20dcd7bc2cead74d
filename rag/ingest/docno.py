"""Document numbers (文号): recognise every printed variant and map it to one canonical form.

Canonical forms (full-width 〔〕, no spaces, no leading zeros)::

    嘉政发〔2014〕87号       issuer prefix + year + serial
    国务院令第735号          decree: issuing body + 令第N号
    国家医疗保障局令第1号

Printed variants handled: ``[2017]``, ``［2017］``, ``（2017）``, ``(2017)``, ``【2017】``,
``〔 2017 〕``, the GB2312 mojibake ``也2014页`` for ``〔2014〕``, spaces anywhere between the
parts (``国办发〔2023〕17 号``), full-width digits, a stray ``第`` before the serial, and the
decree prefixes ``中华人民共和国国务院令`` and ``国令`` (both → ``国务院令``).
"""

from __future__ import annotations

import re

from rag.errors import InputError

# Full-width digits become ASCII one for one, so spans found in the folded text are valid
# spans of the original text.
_FOLD_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")

_CJK = r"\u4e00-\u9fff"
_OPEN = r"(?:[〔\[［（(【{｛]|也)"
_CLOSE = r"(?:[〕\]］）)】}｝]|页)"

# The issuer prefix is captured greedily as the whole run of ideographs before the bracket and
# trimmed afterwards (see _trim_prefix): a regex alone cannot tell 根据嘉政发 from 嘉政发.
DOCNO_RE = re.compile(
    rf"(?P<prefix>[{_CJK}]{{1,24}}?)\s*{_OPEN}\s*(?P<year>(?:19|20)\d{{2}})\s*{_CLOSE}"
    rf"\s*(?:第\s*)?(?P<num>\d{{1,4}})\s*号"
)
DECREE_RE = re.compile(rf"(?P<org>[{_CJK}]{{1,24}}?)令\s*第\s*(?P<num>\d{{1,5}})\s*号")

# Words that never occur inside an issuer abbreviation but often precede one in running text
# (按照嘉政发〔2014〕87号…, 印发国办发…). Everything up to the last of them is cut off.
_STOP_WORDS = (
    "印发",
    "转发",
    "根据",
    "按照",
    "依据",
    "参照",
    "执行",
    "关于",
    "以下",
    "简称",
    "文件",
    "规定",
    "的",
    "和",
    "及",
    "与",
    "或",
    "于",
    "在",
    "对",
    "将",
    "经",
    "即",
    "以",
    "见",
    "为",
    "是",
    "由",
    "按",
    "依",
    "据",
    "照",
    "年",
    "月",
    "日",
    "条",
    "号",
    "等",
    "了",
    "自",
)
_STOP_RE = re.compile("|".join(sorted(_STOP_WORDS, key=len, reverse=True)))
_MAX_PREFIX = 8  # 新质监办发 = 5; longer runs are sentence text, not an abbreviation
# Where a long run holds a full issuer name before the abbreviation, cut after the name.
_ORG_END_RE = re.compile(r"(?:政府|办公室|办公厅|委员会|常委会|人民法院|检察院)")

# What may surround a 文号 on its line: markdown, brackets, spaces, a trailing colon.
_AROUND = " \t\u3000\u00a0#*>（）()：:"

_DECREE_ALIASES = {"中华人民共和国国务院": "国务院", "国": "国务院"}


def _cut_running_text(run: str) -> str:
    """The tail of ``run`` after the last stop word (running text before an abbreviation)."""
    masked = run.replace("共和国", "共〇国")  # the 和 of 中华人民共和国 is no stop word
    last = None
    for m in _STOP_RE.finditer(masked):
        last = m
    return run[last.end() :] if last is not None else run


def _trim_prefix(run: str) -> str:
    """Cut running text off the front of an issuer abbreviation; "" when nothing is left."""
    run = _cut_running_text(run)
    if len(run) > _MAX_PREFIX:
        ends = list(_ORG_END_RE.finditer(run))
        if ends:
            run = run[ends[-1].end() :]
    if not run or len(run) > _MAX_PREFIX:
        return ""
    return run


def _decree_org(printed: str) -> str:
    """Canonical issuing body of a decree from its printed name; "" when it is not one."""
    org = printed
    if org.startswith("中华人民共和国") and len(org) > len("中华人民共和国"):
        org = org[len("中华人民共和国") :]
    org = _DECREE_ALIASES.get(org, org)
    # A decree is issued by a body with a proper name; 令 after a verb (命令, 责令) is not one.
    if len(org) < 2 or org.endswith(("命", "责", "指", "法", "政")):
        return ""
    return org


def find_doc_nos(text: str) -> list[tuple[int, int, str]]:
    """Find every 文号 in ``text``.

    Args:
        text: Any text: a title line, a body paragraph, a user's question.

    Returns:
        ``(start, end, canonical)`` for each 文号, in order of appearance; ``start``/``end``
        are character offsets into ``text`` covering the printed form (issuer prefix
        included, running text before it excluded).
    """
    folded = text.translate(_FOLD_DIGITS)
    found: list[tuple[int, int, str]] = []
    for m in DOCNO_RE.finditer(folded):
        run = m.group("prefix")
        prefix = _trim_prefix(run)
        if not prefix:
            continue
        start = m.start("prefix") + len(run) - len(prefix)
        found.append((start, m.end(), f"{prefix}〔{m.group('year')}〕{int(m.group('num'))}号"))
    for m in DECREE_RE.finditer(folded):
        run = m.group("org")
        printed = _cut_running_text(run)
        org = _decree_org(printed)
        if not org:
            continue
        start = m.start("org") + len(run) - len(printed)
        found.append((start, m.end(), f"{org}令第{int(m.group('num'))}号"))
    found.sort()
    result: list[tuple[int, int, str]] = []
    for item in found:
        if result and item[0] < result[-1][1]:
            continue  # overlapping reading of the same characters: keep the first
        result.append(item)
    return result


def canonical_doc_no(s: str) -> str:
    """Return the canonical form of a single printed 文号.

    Args:
        s: A printed document number, e.g. ``"嘉政办发[2017]11 号"`` or
            ``"国家医疗保障局令第 1 号"``; surrounding brackets ``（…）``, spaces and markdown
            ``#`` are allowed.

    Returns:
        The canonical form, e.g. ``"嘉政办发〔2017〕11号"``.

    Raises:
        InputError: ``s`` is not exactly one 文号.
    """
    stripped = s.strip(_AROUND).strip()
    hits = find_doc_nos(stripped)
    if len(hits) == 1:
        start, end, canon = hits[0]
        rest = (stripped[:start] + stripped[end:]).strip()
        if not rest:
            return canon
    raise InputError(f"not a document number (文号): {s!r}")


def is_doc_no(s: str) -> bool:
    """True when ``s`` is exactly one 文号 (any printed variant)."""
    try:
        canonical_doc_no(s)
    except InputError:
        return False
    return True
