"""Understand a question: what is asked, and the caller's facts that select the rule.

A hotline call is a story around a question: "我爸退休了，在嘉兴住院花了两万块，职工医保能
报多少？". The asking part ("职工医保能报多少？") says what kind of answer is wanted (an
amount, a share, yes or no, who, when, what to bring …); the story says which rule applies
(退休, 住院, 职工) and gives the figures of the case (两万块). Both are read here, without a
model, from the words the texts and callers use (``index/facets.tsv``); the whole question
is still what retrieval searches with, because the story names the topic ("那这个能报吗？").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from rag.index.lexicon import NEGATION, facet_values, places_in
from rag.ingest.figures import cn_number

# --------------------------------------------------------------------------- asking part

_INTERROGATIVE = re.compile(
    r"吗|呢|多少|几[个种项类次年天月岁成号]|几|什么|啥|怎么|怎样|如何|哪|谁|是否|能否|能不能|"
    r"可不可以|可否|有没有|会不会|算不算|要不要|是不是|行不行|[？?]"
)
_SENTENCE = re.compile(r"[^。！!？?；;\n]+[。！!？?；;\n]*")
_SEGMENT = re.compile(r"[^，,、：:]+[，,、：:]*")
# 几 that never asks, in a question or not: 好几个月, 十几万, 几十块, 这几年, 前几天
_INDEFINITE_JI = re.compile(r"(?:好|十|这|那|前|头)几|几(?=[十百千万])")
# an asking segment that leans on the one before it ("那这个能报吗？", "能报多少？")
_LEANS = re.compile(r"^(那么?|这|那|这个|那个|这种|那种|这样|那样|它|他|她|的话)")
_MIN_ASK = 6  # content characters an asking segment needs to stand alone
_ENDS_ASKING = re.compile(r"[？?][\s」”\"')）]*$")
# a sentence that says it asks although it ends in 。 ("我想问一下报销比例是多少。")
_SAYS_IT_ASKS = re.compile(r"请问|想问|问一下|问问|想知道|想了解|咨询一下")

# --------------------------------------------------------------------------- answer kinds

# kind of answer → how a question asks for it (on the asking part)
WANTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("ratio", re.compile(r"比例|百分之几|几成|百分比|比率|费率|报几成")),
    (
        "money",
        re.compile(
            r"多少钱|多少元|几元|多少块|几块|[报赔补交缴付掏出花给退扣罚]多少|多少补贴|补贴多少|"
            r"(起付线|起付标准|起付|费用|金额|补贴|津贴|工资|奖励|奖金|资金|罚款|限额|封顶线|"
            r"封顶|报销额|标准)[^，。？]{0,6}(多少|几)"
        ),
    ),
    ("age", re.compile(r"多大年纪|多大年龄|多少岁|几岁|多大")),
    (
        "duration",
        re.compile(r"多少年|几年|多少天|几天|多长时间|多久|几个月|多少个月|多长|期限|年限"),
    ),
    ("count", re.compile(r"(?<!哪)几[种项类家次个]|多少[种项类家次个]")),
    (
        "when",
        re.compile(r"什么时候|啥时候|何时|几时|哪一年|哪年|哪天|哪一天|哪个月|几月|几号|截止"),
    ),
    ("who", re.compile(r"由谁|谁来|谁负责|谁管|找谁|哪个部门|哪些部门|什么部门|哪个单位|哪家")),
    ("where", re.compile(r"哪里|在哪|去哪|哪儿|什么地方|哪个窗口")),
    (
        "bring",
        re.compile(
            r"带什么|带哪些|带上什么|拿什么|准备什么|提供什么|交什么材料|什么材料|哪些材料|"
            r"什么证明|哪些证明|什么证件|哪些证件|什么手续"
        ),
    ),
    ("consequence", re.compile(r"会怎么样|会怎样|什么后果|怎么处理|怎么处罚|会不会被罚|处罚|罚")),
    (
        "how",
        re.compile(r"怎么办|怎么报|怎么弄|怎么申请|怎么办理|如何办理|如何申请|流程|手续|办理|怎样"),
    ),
    (
        "definition",
        re.compile(r"什么意思|是指什么|指的是什么|什么是|含义|定义|怎么理解|是什么概念"),
    ),
    ("which", re.compile(r"哪些|哪几|哪一类|哪类|什么情况|什么病|哪种")),
    (
        "yesno",
        re.compile(
            r"吗[？?。]?$|吗[，,]|能不能|可不可以|是不是|是否|能否|会不会|算不算|有没有|要不要|"
            r"行不行|可否|[能可会要]\S{0,8}吗"
        ),
    ),
)
FIGURE_WANTS = ("ratio", "money", "age", "duration", "count", "when")

# --------------------------------------------------------------------------- case figures

_CN = "零〇一二两三四五六七八九十百千万"
_AMOUNT = re.compile(rf"(\d+(?:\.\d+)?\s*[万千]?|[{_CN}]+)\s*(多|来|余)?\s*(块钱|块|元|万元)?")
# words before a bare sum that make it money ("花了两万", "住院八千多")
_SPEND = re.compile(
    r"花[了掉]?|用了|总共|一共|合计|自付|自费|费用|医药费|住院费|付了|交了|缴了|住院|门诊|看病|"
    r"治疗|手术|开销|账单"
)
_AGE = re.compile(rf"(\d{{1,3}}|[{_CN}]{{1,4}})\s*(多|来)?\s*(周岁|岁)|([{_CN}]{{2,3}})(多)?了")
_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})\s*年")
_RELATIVE_YEARS = {"前年": -2, "去年": -1, "今年": 0, "明年": 1}


@dataclass
class Understanding:
    """What was read from a question (shown to the clerk as ``understood``)."""

    question: str
    asks: str  # the asking sentence(s) or clause(s)
    story: str  # the rest: the caller's situation
    wants: list[str] = field(default_factory=list)  # kinds of answer, see WANTS
    facts: dict[str, list[str]] = field(default_factory=dict)  # axis → categories
    places: list[str] = field(default_factory=list)
    years: list[int] = field(default_factory=list)
    age: int | None = None
    amounts: list[float] = field(default_factory=list)  # yuan
    docs: list[str] = field(default_factory=list)  # documents named (文号 or title)

    @property
    def figure_wanted(self) -> bool:
        return any(w in FIGURE_WANTS for w in self.wants)

    def to_json(self) -> dict[str, Any]:
        """The ``understood`` object of ``rag ask --json``: only what was read."""
        out: dict[str, Any] = {"asks": self.asks}
        if self.wants:
            out["wants"] = list(self.wants)
        for axis, values in self.facts.items():
            out[axis] = values[0] if len(values) == 1 else list(values)
        if self.places:
            out["place"] = self.places[0] if len(self.places) == 1 else list(self.places)
        if self.years:
            out["year"] = self.years[0] if len(self.years) == 1 else list(self.years)
        if self.age is not None:
            out["age"] = self.age
        if self.amounts:
            out["amount"] = self.amounts[0] if len(self.amounts) == 1 else list(self.amounts)
        if self.docs:
            out["docs"] = list(self.docs)
        return out


def _asking_words(text: str) -> str:
    """``text`` with the indefinite uses of 几 masked, for finding what is asked."""
    return _INDEFINITE_JI.sub("些", text)


def split_asks(question: str) -> tuple[str, str]:
    """(asking part, story) of a question.

    The asking part is each sentence that asks (ends in ？ or holds an interrogative),
    from its first asking segment on; an asking segment too short to stand alone, or
    that leans on what came before ("那这个能报吗？"), keeps the segment before it.
    When some sentence ends in ？, a sentence ending otherwise is story unless it says
    it asks (请问, 想知道): there an interrogative word is an indefinite, as Chinese uses
    them in statements ("买过几次药。", "住了好几天院。", "哪家都一样。").
    A question with no asking word is asked as a whole.
    """
    q = question.strip()
    sentences = [m.group(0) for m in _SENTENCE.finditer(q)]
    marked = any(_ENDS_ASKING.search(s) for s in sentences)
    asking: list[str] = []
    story: list[str] = []
    for s in sentences:
        stated = marked and not _ENDS_ASKING.search(s) and not _SAYS_IT_ASKS.search(s)
        if stated or not _INTERROGATIVE.search(_asking_words(s)):
            story.append(s)
            continue
        segs = [m.group(0) for m in _SEGMENT.finditer(s)]
        first = next(i for i, g in enumerate(segs) if _INTERROGATIVE.search(_asking_words(g)))
        content = re.sub(r"[\W_]|吗|呢|啊|吧", "", segs[first])
        if first > 0 and (len(content) < _MIN_ASK or _LEANS.match(segs[first])):
            first -= 1
        story.extend(segs[:first])
        asking.append("".join(segs[first:]))
    if not asking:
        return q, ""
    clean = "".join(story).strip().rstrip("，,、：:")
    return "".join(asking).strip(), clean


def wants(asks: str) -> list[str]:
    """Kinds of answer the asking part wants, most specific first."""
    asks = _asking_words(asks)
    out = [kind for kind, pat in WANTS if pat.search(asks)]
    if "money" in out and "ratio" in out and re.search(r"比例", asks):
        out.remove("money")  # "报销比例是多少": a share, not an amount
    if "money" in out and "ratio" not in out and re.search(r"报(销)?[了得]?多少|能报|报几", asks):
        out.append("ratio")  # "能报多少": the share reimbursed answers it as well as a sum
    if not any(w in FIGURE_WANTS for w in out) and re.search(r"多少|(?<![哪好])几(?![乎样])", asks):
        out.insert(0, "amount")  # "要先自己负担多少": a figure of some kind
    if "which" in out and "how" in out and "怎样" in asks and "哪" not in asks:
        out.remove("which")
    return out


def read_facts(question: str) -> dict[str, list[str]]:
    """Axis → categories the question names or implies (index/facets.tsv).

    A cue right after a negation (没, 不, 未 …) does not count: "没上班" is no 上班.
    """
    out: dict[str, list[str]] = {}
    for fv in facet_values():
        spans = [m.span() for m in fv.text_pattern.finditer(question)]
        for cue in fv.cues:
            spans += [m.span() for m in re.finditer(re.escape(cue), question)]
        if any(not NEGATION.search(question[max(0, a - 2) : a]) for a, _b in spans):
            out.setdefault(fv.axis, []).append(fv.value)
    return out


def _number(s: str) -> float | None:
    if re.fullmatch(r"\d+(?:\.\d+)?", s):
        return float(s)
    v = cn_number(s)
    return float(v) if v is not None else None


def _sum(token: str) -> float | None:
    """Value of ``3万``, ``2.5万``, ``两万``, ``八千``, ``3000``."""
    t = token.replace(" ", "")
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([万千]?)", t)
    if m:
        return float(m.group(1)) * {"万": 10_000, "千": 1_000}.get(m.group(2), 1)
    v = cn_number(t)
    return float(v) if v is not None else None


def read_amounts(question: str) -> list[float]:
    """Sums of money in the story (两万块, 3000元, 花了八千多), in yuan."""
    out: list[float] = []
    for m in _AMOUNT.finditer(question):
        token, _more, unit = m.groups()
        before = question[max(0, m.start() - 4) : m.start()]
        after = question[m.end() : m.end() + 1]
        big = bool(re.search(r"[万千百]", token))
        if not unit and not (big and _SPEND.search(before)):
            continue
        if not unit and after and after in "岁年月日天次个号条":
            continue
        v = _sum(token)
        if v is None or v == 0:
            continue
        out.append(v * (10_000 if unit == "万元" else 1))
    return list(dict.fromkeys(out))


def read_age(question: str) -> int | None:
    for m in _AGE.finditer(question):
        raw = m.group(1) or m.group(4)
        v = _number(raw)
        if v is not None and 0 < v < 120 and (m.group(3) or v >= 20):
            return int(v)
    return None


def read_years(question: str, today: date | None = None) -> list[int]:
    years = [int(y) for y in _YEAR.findall(question)]
    now = (today or date.today()).year
    for word, delta in _RELATIVE_YEARS.items():
        if word in question:
            years.append(now + delta)
    return list(dict.fromkeys(years))


def understand(
    question: str, *, docs: list[str] | None = None, today: date | None = None
) -> Understanding:
    """Read a question: asking part, wanted answer kinds, the caller's facts."""
    asks, story = split_asks(question)
    return Understanding(
        question=question,
        asks=asks,
        story=story,
        wants=wants(asks),
        facts=read_facts(question),
        places=places_in(question),
        years=read_years(question, today),
        age=read_age(question),
        amounts=read_amounts(question),
        docs=list(docs or []),
    )


def canonical_terms(u: Understanding) -> list[str]:
    """The texts' own names for the caller's facts ("厂里交的" → 职工基本医疗保险), to be
    searched with the question."""
    out: list[str] = []
    for fv in facet_values():
        if fv.value in u.facts.get(fv.axis, []):
            literal = fv.text_pattern.pattern.split("|")[0].strip("(?:)")
            term = re.sub(r"[\\()?:\[\]]", "", literal)
            if term and term not in u.question:
                out.append(term)
    return out
