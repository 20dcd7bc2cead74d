"""Extractive answers: the sentences of the retrieved clauses that answer the question.

Offline and deterministic. Every sentence of the answer is copied verbatim from a
clause (figures and conditions stay whole) and carries the number of its citation;
citations are built from clause metadata, never typed.

A wrong figure is worse than no answer, so before answering the question's explicit
constraints are checked against the retrieved clauses:

* a place it names (上海, 宁波 …) must be the place of a retrieved document;
* a year it names (2016年) must occur in the clause or its document;
* a category it names (职工 or 城乡居民, 住院 or 门诊, 在职 or 退休) must be the
  cited clause's (``rag.answer.categories``);
* when it asks for a quantity or a time (多少钱, 什么比例, 多长时间, 几种, 什么时候),
  some selected sentence must hold a figure of that kind (元, %, a duration, a count of
  the measure asked, a date), in a part of a clause about what the figure is asked of
  (the key words of the question's segment that asks it: "等待期是几个月"); a clause
  the question names by number that gives no such figure is shown as the nearest
  clause, not as the answer;
* its key words (content words, by part of speech) must be covered by the cited
  clauses, each missing word weighed by its rarity in the corpus.

When one fails, the answer is a refusal that shows the nearest clauses. A question
that leaves the category open where the texts differ is answered case by case; a
comparison (two places, two categories) cites a clause for each side.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from rag.answer.categories import AXES, Category, mentioned, named
from rag.index.lexicon import question_words
from rag.index.tokenize import PolicyTokenizer, get_tokenizer
from rag.ingest.docno import find_doc_nos
from rag.ingest.figures import figures
from rag.ingest.units import answer_units
from rag.models import Answer, Citation, Hit
from rag.retrieve.query import PLACES, load_synonyms

# Parts of speech of a question's frame rather than its topic: adverbs, numerals and
# measure words, time and direction words, pronouns, function words, person names
# (jieba tags colloquial fragments such as 段时间 as names).
_FRAME_POS = ("d", "m", "q", "t", "f", "r", "c", "p", "u", "y", "e", "o", "x", "nr")
# Verbs, set phrases and place words the texts never use (拧开, 拿到, 怎么办, 家里) tell
# the citizen's story, not what the texts are asked about: they are no key words. Nouns
# and idioms the texts never use (种植牙, 刚出生) stay: they are often what is asked.
_TELLING_POS = ("l", "s")
# a verb with a result or direction (拧开, 拿到, 借给, 办完, 查出来): how a thing was done,
# not which thing; other verbs (换证, 丧葬 as jieba tags it) may be what is asked
_COMPLEMENT = tuple("开到给完出来去上下住掉好成走回起过")

REFUSAL = "现有文件中没有找到能回答这个问题的条款。以下是最接近的条款，供参考："
_YEAR_RE = re.compile(r"(?<!\d)((?:19|20)\d{2})\s*年")
_DOC_REF_RE = re.compile(
    r"[\u4e00-\u9fff]{1,10}[〔\[［(（]\s*\d{4}\s*[〕\]］)）]\s*\d+\s*号|\d+\s*号文?"
)
_CLAUSE_REF_RE = re.compile(r"第\s*[一二三四五六七八九十百零\d]+\s*[条章款项]")

# What kind of figure a question asks for, and the units that answer it.
QUANTITY_KINDS: dict[str, tuple[re.Pattern[str], tuple[str, ...]]] = {
    "ratio": (re.compile(r"比例|费率|百分之|几成|百分比|比率"), ("%", "‰", "成")),
    "money": (
        re.compile(
            r"多少钱|[交缴付补]多少|多少元|几元|多少奖励|奖励多少|多少补贴|"
            r"(起付线|起付标准|费用|金额|补贴|津贴|工资|奖励|奖金|资金)"
            r"[^，。？]{0,6}(多少|几)"
        ),
        ("元",),
    ),
    # "标准是多少", "限额多少": a figure with any unit (元, 平方米, %) answers
    "amount": (re.compile(r"(标准|限额|规模|面积|指标|目标)[^，。？]{0,6}(多少|几)"), ("",)),
    "duration": (
        re.compile(
            r"多少年|几年|多少天|几天|多长时间|多久|几个月|多少个月|多长|期限|满多少|"
            r"多大年纪|多大年龄|多少岁|几岁"  # an age is given in 周岁/岁
        ),
        ("年", "月", "日", "天", "周岁", "岁", "工作日", "小时"),
    ),
    "count": (
        # "哪几种结果" asks which ones, not how many
        re.compile(r"(?<!哪)几[种项类家次个]|多少[种项类家次个]"),
        ("种", "项", "类", "家", "次", "个", "件", "所", "人", "户"),
    ),
    # "什么时候实施", "何时完成": a date or a point in time
    "when": (
        re.compile(
            r"什么时候|啥时候|何时|几时|哪一年|哪年|哪天|哪一天|哪个月|几月|几号|截止到|什么时间"
        ),
        ("年", "月", "日"),
    ),
}
# "有几种", "多少项": the measure word of a count ("几个" names none: 个 goes with anything)
_MEASURE_RE = re.compile(
    r"(?:(?<!哪)几|多少)(种|项|类|家|次|件|所|户|级|批|名|条)(?![目型庭数称件款别])"
)
_QUOTED = re.compile(r"《([^》]{4,})》")
_ASKS_MEANING = re.compile(r"什么意思|是指什么|指的是什么|什么是|含义|定义|怎么理解|是什么概念")
_DEFINES = re.compile(r"是指|含义|系指|指的是")
_ASKS_WHO = re.compile(r"由谁|谁来|谁负责|哪个部门|哪些部门|什么部门|哪个单位|哪家单位|谁牵头")
_ASKS_BRING = re.compile(
    r"带什么|带哪些|带上什么|拿什么|准备什么|提供什么|交什么|什么材料|哪些材料|什么证明|哪些证明|"
    r"什么证件|哪些证件"
)
_PAPERS = re.compile(
    r"出示|提供|持有?|凭|携带|材料|证明|证件|身份证|凭证|社会保障卡|市民卡|复印件|原件|发票|病历"
)
_ASKS_EFFECTIVE = re.compile(r"施行|执行|实施|生效|起效")
_TAKES_EFFECT = re.compile(r"自\s*\d{4}\s*年[^，。；]{0,12}起[^，。；]{0,4}(施行|执行|实施|试行)")
_ACTS = re.compile(
    r"(局|委|办|厅|部门|政府|机构|中心|单位|支队|指挥部|企业)[^，。；]{0,12}"
    r"(负责|牵头|签发|起草|组织|承担|实施|审核|审批|评审|发布|落实)|"
    r"由[^，。；]{1,20}(负责|牵头|签发|起草|组织|承担|审核|审批|评审|发布|落实)"
)
_FIG_UNIT = re.compile(r"^[\d.]+(.*)$")
# Share of a part's focus words the answer must hold next to its figure for that part
# to count as answered; below it the part is asked on its own (an extra retrieval, not a
# refusal, so the bar is high).
_PART_FOCUS = 0.7
# Share of a part's key words the answer's clauses must hold for the part to count as
# answered (higher than the refusal bar, for the same reason).
_PART_COVERAGE = 0.6
_SEGMENT = re.compile(r"[，,。？?！!；;：:\s]+")


@dataclass
class Needs:
    """What a question requires of the clauses that answer it."""

    places: list[str] = field(default_factory=list)
    years: list[str] = field(default_factory=list)
    quantity: list[str] = field(default_factory=list)  # kinds from QUANTITY_KINDS
    categories: list[Category] = field(default_factory=list)
    definition: bool = False  # "是什么意思": the clause that defines the term answers
    who: bool = False  # "由谁签发": the sentence naming the body that does it answers
    bring: bool = False  # "要带什么": the sentence naming papers to show answers
    # "从哪一天起执行": the sentence giving the date a text takes effect answers
    effective: bool = False
    # key words of the part of the question that asks for the figure ("等待期是几个月"):
    # the figure given must be about them (set by the answerer, which has the tokenizer)
    focus: list[str] = field(default_factory=list)
    measure: str = ""  # the measure word a count question names ("有几种": 种)

    def figure_in(self, text: str) -> bool:
        """Whether ``text`` holds a figure of the kind asked for."""
        return has_figure_of(text, self.quantity, self.measure)

    def compared(self) -> list[str]:
        """What a comparison question sets side by side ("嘉兴、天津、上海…是否一致",
        "职工医保和城乡居民医保…一样吗", "2017年底和2020年的目标"): two or more places,
        two or more categories of one axis, or two or more years. Empty for other
        questions."""
        out = list(self.places) if len(self.places) >= 2 else []
        out += [f"{y}年" for y in self.years] if len(self.years) >= 2 else []
        for axis in {c.axis for c in self.categories}:
            names = [c.name for c in self.categories if c.axis == axis]
            if len(names) >= 2:
                out += names
        return out


@dataclass
class Scored:
    hit_rank: int
    pos: int
    text: str
    score: float
    coverage: float = 1.0  # of the question's key terms by the sentence's clause
    # what the unit is read with to tell what it is about: the document's title and the
    # clause's headings (head), the clause's opening unit and the unit before it (before)
    head: str = ""
    before: str = ""


def _telling(word: str, pos: str) -> bool:
    """Whether a question word of this part of speech tells the story rather than the
    topic (a set phrase, a place word, a verb with a result or direction)."""
    return pos.startswith(_TELLING_POS) or (pos.startswith("v") and word.endswith(_COMPLEMENT))


def _before(units: list[str], i: int) -> str:
    """What unit ``i`` of a clause is read with: the clause's opening unit (its topic,
    "3.2 预警分级 …分为一级、二级…") and the unit just before it."""
    return (units[0] if i > 1 else "") + (units[i - 1] if i else "")


def cite_label(doc_no: str, label: str, title: str) -> str:
    """``嘉政发〔2014〕87号 第十四条`` (or the title for a document without 文号)."""
    head = doc_no or f"《{title}》"
    return f"{head} {label}".strip()


def strip_doc_refs(question: str) -> str:
    """The question without the 文号 it names (国务院令第735号, 87号文): they pick the
    document, and say nothing of which clause or figure answers."""
    q = question
    for start, end, _no in sorted(find_doc_nos(q), reverse=True):
        q = q[:start] + " " + q[end:]
    return _DOC_REF_RE.sub(" ", q)


def analyse(question: str) -> Needs:
    """Places, years and the kind of figure the question asks for."""
    q = strip_doc_refs(question)
    places = [p for p in PLACES if p in q]
    years = list(dict.fromkeys(_YEAR_RE.findall(q)))
    kinds = [k for k, (pat, _units) in QUANTITY_KINDS.items() if pat.search(q)]
    if "amount" in kinds and {"money", "ratio"} & set(kinds):
        kinds.remove("amount")  # "标准是每平方米多少元": 元, not any figure
    if not kinds and re.search(r"多少|(?<![哪好])几(?![乎样])", q):
        kinds = ["amount"]  # "要先自己负担多少": a figure of some kind answers
    measure = _MEASURE_RE.search(q) if "count" in kinds else None
    return Needs(
        places,
        years,
        kinds,
        named(q),
        bool(_ASKS_MEANING.search(q)),
        bool(_ASKS_WHO.search(q)),
        bool(_ASKS_BRING.search(q)),
        "when" in kinds and bool(_ASKS_EFFECTIVE.search(q)),
        measure=measure.group(1) if measure else "",
    )


def has_figure_of(sentence: str, kinds: list[str], measure: str = "") -> bool:
    """Whether ``sentence`` holds a figure answering one of ``kinds``; a count must be
    of ``measure`` when one is given ("有几种": 9种, not 1次)."""
    units = []
    for f in figures(sentence):
        m = _FIG_UNIT.match(f)
        if m and m.group(1):
            units.append(m.group(1))
            if m.group(1).startswith("个") and len(m.group(1)) > 1:
                units.append(m.group(1)[1:])  # 6个月 is a duration as well as a count
    if re.search(r"\d\s*[万亿]", sentence):
        units.append("万")  # "500万以下": an amount, though no unit follows
    if "count" in kinds and measure:
        # 种, 类, 级… are no units of figures(): look for the number before the word
        if re.search(rf"(\d+|[一二两三四五六七八九十]+)\s*{measure}", sentence):
            return True
        kinds = [k for k in kinds if k != "count"]
    for kind in kinds:
        wanted = QUANTITY_KINDS[kind][1]
        if any(u.startswith(wanted) for u in units):
            return True
        if kind == "ratio" and re.search(r"[一二三四五六七八九]成|全额|全部|不予", sentence):
            return True
        if kind == "when" and re.search(
            r"[月年]底前?|[月年]初|之日起|起施行|起实施|起执行|起试行|当月|次月|当年|次年|上半年|下半年|季度",
            sentence,
        ):
            return True
        if kind == "duration" and re.search(
            r"\d{4}年\d{1,2}月\d{1,2}日|次月|当月|当年|每年|每月|每季度|半年|定期|及时|即时|"
            r"个自然月|次年|下一年度",
            sentence,
        ):
            return True
    return False


def _cited_text(
    hits: list[Hit], units: list[Scored], citations: list[Citation], index_of: dict[int, int]
) -> str:
    """Units in clause order, each followed by its citation number; new clauses are
    appended to ``citations`` (``index_of`` maps a hit to its number)."""
    parts = []
    for s in sorted(units, key=lambda s: (s.hit_rank, s.pos)):
        if s.hit_rank not in index_of:
            h = hits[s.hit_rank]
            c = h.clause
            citations.append(Citation(c.doc_no, c.label, c.doc_title, c.text, h.score))
            index_of[s.hit_rank] = len(citations)
        parts.append(f"{s.text}[{index_of[s.hit_rank]}]")
    return "".join(parts)


def _pool(hits: list[Hit]) -> str:
    """The text the question's key words are looked for in: clauses with their
    document's number, title and headings, without whitespace."""
    return re.sub(r"\s+", "", "".join(_doc_text(h) for h in hits))


def _doc_text(h: Hit) -> str:
    c = h.clause
    return f"{c.doc_no}{c.doc_title}{c.part_title}{''.join(c.headings)}{c.text}"


class ExtractiveAnswerer:
    """Compose an answer from the best sentences of the retrieved clauses."""

    def __init__(
        self,
        tokenizer: PolicyTokenizer | None = None,
        *,
        min_coverage: float = 0.37,
        max_sentences: int = 4,
        max_chars: int = 420,
        context: int = 5,
        whole_clause: int = 300,
        focus_share: float = 0.6,
        corpus: Sequence[str] = (),
        home: str = "嘉兴",
    ) -> None:
        self.tok = tokenizer or get_tokenizer()
        # words in nearly every question, or of its frame, say nothing about which clause
        # answers (index/question_words.txt); nor does the region served (RAG_HOME_REGION)
        self.generic = question_words() | ({home, f"{home}市"} if home else set())
        # clause texts of the index: how rare a question word is across the corpus
        self._corpus = [re.sub(r"\s+", "", t) for t in corpus]
        self._idf: dict[str, float] = {}
        self._all = "\n".join(self._corpus)
        self._unheard_cache: dict[str, bool] = {}
        self._titles: dict[str, set[str]] = {}
        self.min_coverage = min_coverage
        self.max_sentences = max_sentences
        self.max_chars = max_chars
        self.context = context  # how many top hits the answer may draw on
        self.whole_clause = whole_clause
        self.focus_share = focus_share

    # -- question analysis -------------------------------------------------------------
    def key_terms(self, question: str, *, places: bool = False) -> list[str]:
        """Content words of the question: no references, question words or generic words.

        Adverbs, measure words, pronouns and the like (马上, 两个, 自己) are the
        colloquial frame of a question, not its topic, and are left out. Places are
        constraints checked on their own (against the documents' places); with
        ``places=True`` they are kept, to tell which clause speaks of 上海.
        """
        q = _CLAUSE_REF_RE.sub(" ", strip_doc_refs(question))
        words = [
            w
            for w, pos in self.tok.tagged(q)
            if len(w) >= 2
            and not pos.startswith(_FRAME_POS)
            and w not in self.generic
            and (places or w not in PLACES)
            and not re.fullmatch(r"[\d.%]+", w)
            and not (_telling(w, pos) and self._unheard(w))
        ]
        return list(dict.fromkeys(words))

    def _unheard(self, word: str) -> bool:
        """Whether no clause of the corpus holds ``word`` (or its official word)."""
        if not self._corpus:
            return False
        got = self._unheard_cache.get(word)
        if got is None:
            got = self._unheard_cache[word] = not self._found(word, self._all)
        return got

    def focus(self, question: str) -> list[str]:
        """Key words of the segments of the question that ask for a figure.

        In "在上海非集中参保期参加城乡居民医保，等待期是几个月？" the figure asked for is
        the 等待期's; a clause about 上海 城乡居民医保 that gives some other figure does
        not answer it. Empty when the question asks for no figure, or the segment that
        does has no key word of its own ("要交多少钱？").
        """
        out: list[str] = []
        before: list[str] = []
        for seg in _SEGMENT.split(strip_doc_refs(question)):
            terms = self.key_terms(seg) if seg else []
            if seg and analyse(seg).quantity:
                # "…专项附加扣除，每个月能扣多少": a segment without a key word of its own
                # asks the figure of what the segment before it names
                out += terms or before
            before = terms
        return list(dict.fromkeys(out))

    def _focus_parts(self, s: Scored, needs: Needs) -> list[tuple[str, float]]:
        """Each part of unit ``s`` (a whole short clause has several) with the share of
        the focus words it holds, read with what comes before it in the clause."""
        parts = answer_units(s.text)
        out = []
        for i, part in enumerate(parts):
            before = _before(parts, i) if i else s.before
            text = re.sub(r"\s+", "", s.head + before + part)
            out.append((part, self._covered(needs.focus, text)))
        return out

    def figure_about(
        self,
        s: Scored,
        needs: Needs,
        bar: float = 0.0,
        parts: list[tuple[str, float]] | None = None,
    ) -> bool:
        """Whether unit ``s`` gives a figure of the asked kind in a part that holds at
        least ``bar`` of the question's focus words (any figure of the kind when the
        question has no focus). ``parts``: ``_focus_parts(s, needs)`` when already known."""
        if not needs.quantity:
            return True
        if not needs.focus or (needs.effective and _TAKES_EFFECT.search(s.text)):
            return needs.figure_in(s.text)
        if parts is None:
            parts = self._focus_parts(s, needs)
        return any(needs.figure_in(part) and share >= bar for part, share in parts)

    def coverage(self, question: str, hits: list[Hit], *, places: bool = False) -> float:
        """Share of the question's key terms found in the top clauses (or their synonyms)."""
        return self._covered(self.key_terms(question, places=places), _pool(hits[: self.context]))

    def _covered(self, terms: list[str], pool: str) -> float:
        """Share of ``terms`` found in ``pool``, each weighed by its rarity: a missing
        rare word (救护车, 公积金) counts more than a missing common one (费用)."""
        if not terms:
            return 0.0  # nothing to look for ("a", "多少钱？"): no clause is shown to answer it
        weights = [self.rarity(t) for t in terms]
        found = sum(w for t, w in zip(terms, weights, strict=True) if self._found(t, pool))
        return found / sum(weights)

    def rarity(self, term: str) -> float:
        """IDF of ``term`` over the corpus' clauses (1.0 for every term without a corpus)."""
        if not self._corpus:
            return 1.0
        idf = self._idf.get(term)
        if idf is None:
            df = sum(term in t for t in self._corpus)
            idf = self._idf[term] = 1.0 + math.log((len(self._corpus) + 1) / (df + 1))
        return idf

    def _found(self, term: str, pool: str) -> bool:
        if term in pool or self._spread_hit(term, pool):
            return True
        # a citizen's word for what the texts call otherwise (医保卡 → 医疗保障凭证)
        return any(
            alt in pool
            for word, official in load_synonyms()
            if word in term
            for alt in official.split()
        )

    @staticmethod
    def _spread_hit(term: str, pool: str) -> bool:
        """A term counts when its characters occur in order, close together.

        失业金 is in 失业保险金 and 报销比例 in 报销的比例, but 最低工资 is not in a text
        that says 最低 in one place and 工资 in another. A two-character term may only
        be split by a bracketed insertion (门诊 in 门（急）诊).
        """
        gap = "[^。；，]{0,3}" if len(term) >= 3 else "(?:（[^（）]{1,3}）)?"
        return re.search(gap.join(map(re.escape, term)), pool) is not None

    # -- answering -------------------------------------------------------------------
    def score_sentences(
        self, question: str, hits: list[Hit], needs: Needs, context: int | None = None
    ) -> list[Scored]:
        """Score every answer unit of the top clauses against the question.

        The overlap is weighted by how rare a question token is among the candidate
        units (an IDF over this small set): a word every unit shares, such as the
        document's title, does not tell them apart; the one word only the answer has
        (施行, 上海) does.
        """
        context = context or self.context
        # a quoted title names the document, not the clause: it does not choose a unit
        titles = " ".join(h.clause.doc_title for h in hits[:context])
        q = _QUOTED.sub(lambda m: " " if m.group(1) in titles else m.group(0), question)
        q = strip_doc_refs(q)
        q_tokens = set(self.tok.tokens(q))
        terms = self.key_terms(question, places=True)  # tagged once, not once per clause
        # each unit with the question tokens it holds, and those only what comes before
        # it in the clause holds
        cands: list[tuple[Scored, set[str], set[str]]] = []
        for rank, h in enumerate(hits[:context]):
            cov = self._covered(terms, _pool([h]))
            c = h.clause
            head = f"{c.doc_no}{c.doc_title}{c.part_title}{''.join(c.headings)}"
            # a short clause is read whole: its conditions and figures belong together
            units = [c.text.strip()] if len(c.text) <= self.whole_clause else answer_units(c.text)
            for pos, sent in enumerate(units):
                unit = Scored(rank, pos, sent, 0.0, cov, head, _before(units, pos))
                s_tokens = set(self.tok.tokens(sent)) & q_tokens
                b_tokens = set(self.tok.tokens(unit.before)) & q_tokens if unit.before else set()
                cands.append((unit, s_tokens, b_tokens - s_tokens))
        if not cands or not q_tokens:
            return []
        n = len(cands)
        df = {t: sum(t in c[1] for c in cands) for t in q_tokens}
        weight = {t: len(t.lstrip("#")) * math.log(1 + (n + 1) / (df[t] + 0.5)) for t in q_tokens}
        total = sum(weight.values())

        def held(tokens: set[str], title: set[str]) -> float:
            return sum(weight[t] * (0.25 if t in title else 1.0) for t in tokens)

        out: list[Scored] = []
        for unit, s_tokens, b_tokens in cands:
            if not s_tokens:
                continue
            # words of the document's title name the document, not the clause: its
            # preamble repeats them all ("2017年“615”重大项目…计划"), so they count a quarter
            title = self._title_tokens(hits[unit.hit_rank].clause.doc_title)
            # "计划推进项目38个" is read under its "（一）综合交通": the words of the unit
            # before and of the clause's opening count, at half weight
            base = (held(s_tokens, title) + 0.5 * held(b_tokens, title)) / total
            sent, rank = unit.text, unit.hit_rank
            bonus = 0.0
            if needs.quantity:
                bonus = 0.2 if needs.figure_in(sent) else -0.1
            if needs.definition and _DEFINES.search(sent):
                bonus += 0.2
            if needs.who and _ACTS.search(sent):
                bonus += 0.2
            if needs.bring and _PAPERS.search(sent):
                bonus += 0.2
            prior = 0.3 / (1 + rank)  # the retriever's order is evidence too
            short = 0.15 if len(sent) < 10 else 0.0  # a bare heading answers nothing
            unit.score = base + bonus + prior - short
            out.append(unit)
        return out

    def _title_tokens(self, title: str) -> set[str]:
        """Tokens of a document title (cached: a few dozen titles, asked every time)."""
        got = self._titles.get(title)
        if got is None:
            got = self._titles[title] = set(self.tok.tokens(title))
        return got

    def _place_ok(self, needs: Needs, hits: list[Hit]) -> list[Hit]:
        """Hits whose document is about a place the question names (all if none named)."""
        if not needs.places:
            return hits
        return [h for h in hits if any(p in _doc_text(h) for p in needs.places)]

    def _years_ok(self, needs: Needs, hits: list[Hit]) -> list[Hit]:
        """Hits that hold one of the question's years; none when a year is in no hit."""
        if not needs.years:
            return hits
        if not all(any(y in _doc_text(h) for h in hits) for y in needs.years):
            return []
        return [h for h in hits if any(y in _doc_text(h) for y in needs.years)]

    def answers_part(self, part: str, ans: Answer) -> bool:
        """Whether ``ans`` (already given) covers the question ``part``: its cited clauses
        hold the part's key words, and a figure of the kind the part asks for."""
        if ans.refused or not ans.citations:
            return False
        pool = re.sub(r"\s+", "", "".join(c.text for c in ans.citations))
        terms = self.key_terms(part)
        if terms and self._covered(terms, pool) < _PART_COVERAGE:
            return False
        needs = analyse(part)
        if not needs.quantity:
            return True
        # the figure the part asks for, about what it asks ("多久调整一次": not the
        # 有效期 of the other part)
        needs.focus = self.focus(part)
        answer = Scored(0, 0, re.sub(r"\[\d+\]", "", ans.answer), 0.0)
        return self.figure_about(answer, needs, _PART_FOCUS)

    def _categories_ok(self, needs: Needs, hits: list[Hit]) -> list[Hit]:
        """Hits about the categories the question names (职工 not 城乡居民, 住院 not 门诊)."""
        axes = {c.axis for c in needs.categories}
        if not axes:
            return hits
        keep = []
        for h in hits:
            about = mentioned(_doc_text(h))
            if all(any(c in about for c in needs.categories if c.axis == a) for a in axes):
                keep.append(h)
        return keep

    def _pick(self, ranked: list[Scored], needs: Needs) -> list[Scored]:
        # a clause holding far fewer of the question's words than another is not cited
        topical = max(s.coverage for s in ranked)
        ranked = [
            s
            for s in ranked
            if s.coverage >= 0.5 * topical
            # "本条例自2021年7月1日起施行" shares no word with the question but the title's
            or (needs.effective and _TAKES_EFFECT.search(s.text))
        ]
        best = ranked[0].score
        picked: list[Scored] = []
        total = 0
        for s in ranked:
            if len(picked) >= self.max_sentences or s.score < 0.7 * best:
                break
            if total + len(s.text) > self.max_chars and picked:
                continue
            picked.append(s)
            total += len(s.text)
        # the figure must come from a part about what the question asks the figure of
        # ("等待期是几个月": not the 下一年度 of the sentence before): holding nearly as
        # much of it as the part that holds most
        bar = 0.0
        parts: dict[int, list[tuple[str, float]]] = {}
        if needs.quantity and needs.focus:
            parts = {id(s): self._focus_parts(s, needs) for s in ranked}
            bar = self.focus_share * max(share for p in parts.values() for _t, share in p)

        def about(s: Scored) -> bool:
            return self.figure_about(s, needs, bar, parts.get(id(s)))

        if needs.quantity and not any(about(s) for s in picked):
            # the best sentence with a figure of the asked kind, if it is close enough
            fig = [s for s in ranked if about(s)]
            if not fig or fig[0].score < 0.5 * best:
                return []
            picked = [fig[0], *picked[: self.max_sentences - 1]]
        return picked

    def answer(self, question: str, hits: list[Hit], *, mode: str = "extractive") -> Answer:
        needs = analyse(question)
        needs.focus = self.focus(question)
        pinned = [h for h in hits if "lookup" in h.sources]
        if pinned and needs.quantity and not any(needs.figure_in(h.clause.text) for h in pinned):
            # the named clause gives no figure of the kind asked ("第四十九条…补助的具体比例":
            # 按有关规定执行): it is shown, but as the nearest clause, not as the answer
            return self.refuse(question, hits, mode=mode)
        if pinned:
            # the question named the document and clause: answer from it alone, read out
            # in order (a clerk reads the clause; 800 characters at most)
            units = sorted(
                self.score_sentences(question, pinned, needs, len(pinned)),
                key=lambda s: (s.hit_rank, s.pos),
            )
            total, keep = 0, list[Scored]()
            for u in units:
                if keep and total + len(u.text) > 800:
                    break
                keep.append(u)
                total += len(u.text)
            return self._compose(question, pinned, keep, mode=mode)
        usable = self._categories_ok(needs, self._years_ok(needs, self._place_ok(needs, hits)))
        if not usable:
            return self.refuse(question, hits, mode=mode)
        compared = needs.compared()
        # a comparison may need a clause from each side, further down the list
        scored = self.score_sentences(question, usable, needs, len(usable) if compared else None)
        if not scored:
            return self.refuse(question, hits, mode=mode)
        ranked = sorted(scored, key=lambda s: (-s.score, s.hit_rank, s.pos))
        picked = self._pick(ranked, needs)
        cited = [usable[r] for r in sorted({s.hit_rank for s in picked})]
        # the clauses actually cited must cover the question's key words, unless the
        # question asks when a text it names takes effect and the answer gives that date
        if not picked or (
            self.coverage(question, cited) < self.min_coverage
            and not self._effective_date(question, needs, usable, picked)
        ):
            return self.refuse(question, hits, mode=mode)
        picked = self._each_side(compared, usable, ranked, self._complete(question, ranked, picked))
        cases = self._cases(needs, usable, ranked, picked)
        if cases:
            return self._compose_cases(question, usable, cases, mode=mode)
        return self._compose(question, usable, picked, mode=mode)

    @staticmethod
    def _effective_date(
        question: str, needs: Needs, usable: list[Hit], picked: list[Scored]
    ) -> bool:
        """Whether a picked unit says when a document the question names takes effect."""
        if not needs.effective:
            return False
        for s in picked:
            c = usable[s.hit_rank].clause
            named = c.doc_title in question or (c.doc_no and c.doc_no in question)
            if named and _TAKES_EFFECT.search(s.text):
                return True
        return False

    def _complete(self, question: str, ranked: list[Scored], picked: list[Scored]) -> list[Scored]:
        """Add from the clauses already cited, for each key word of the question that no
        picked unit holds, the best unit that holds it ("公交出行分担率和公交车保有量目标
        是多少": one sentence each), up to two units more. No new clause is cited."""
        cited = {s.hit_rank for s in picked}
        out = list(picked)
        held = re.sub(r"\s+", "", "".join(s.text for s in out))
        for term in self.key_terms(question):
            if len(out) >= len(picked) + 2:
                break
            if self._found(term, held):
                continue
            extra = next(
                (
                    s
                    for s in ranked
                    if s.hit_rank in cited
                    and s not in out
                    and self._found(term, re.sub(r"\s+", "", s.text))
                ),
                None,
            )
            if extra is not None:
                out.append(extra)
                held += re.sub(r"\s+", "", extra.text)
        return out

    def _each_side(
        self, compared: list[str], usable: list[Hit], ranked: list[Scored], picked: list[Scored]
    ) -> list[Scored]:
        """For a comparison, the best unit about each side the picked ones leave out.

        A side is a place (named in the document's title), a category (mentioned by
        the clause or its document) or a year (in the unit itself). A side no retrieved
        clause speaks of stays out: the answer then shows what there is, each side with
        its own citation.
        """
        if not compared:
            return picked
        best = ranked[0].score

        def about(s: Scored, side: str) -> bool:
            h = usable[s.hit_rank]
            if side in PLACES:
                return side in h.clause.doc_title
            if _YEAR_RE.fullmatch(side):
                return side in s.text  # "2017年底和2020年的目标": a sentence for each year
            return any(c.name == side for c in mentioned(_doc_text(h)))

        out = list(picked)
        for side in compared:
            if any(about(s, side) for s in out):
                continue
            extra = next((s for s in ranked if about(s, side) and s.score >= 0.4 * best), None)
            if extra is not None:
                out.append(extra)
        return out

    def _cases(
        self, needs: Needs, usable: list[Hit], ranked: list[Scored], picked: list[Scored]
    ) -> list[tuple[str, list[Scored]]]:
        """One group of units per category, when the question leaves the category open.

        "住院报销比例是多少？" has one answer for 职工 and another for 城乡居民. When the
        question names neither, the picked answer comes from a text about one of them
        and a text about the other answers nearly as well (with a figure of the asked
        kind), both are given, each under its category. Empty when there is no such case.
        """
        if not needs.quantity:
            return []
        open_axes = [a for a in AXES if a not in {c.axis for c in needs.categories}]
        best = ranked[0].score
        for axis in open_axes:

            def category(rank: int, axis: str = axis) -> str:
                cats = [c.name for c in mentioned(usable[rank].clause.doc_title) if c.axis == axis]
                return cats[0] if len(cats) == 1 else ""

            first = category(picked[0].hit_rank)
            if not first:
                continue
            other = next(
                (
                    s
                    for s in ranked
                    if category(s.hit_rank) not in ("", first)
                    and s.score >= 0.6 * best
                    and needs.figure_in(s.text)
                ),
                None,
            )
            if other is None:
                continue
            mine = [s for s in picked if category(s.hit_rank) == first]
            return [(first, mine), (category(other.hit_rank), [other])]
        return []

    def _compose(
        self, question: str, usable: list[Hit], picked: list[Scored], *, mode: str = "extractive"
    ) -> Answer:
        """The answer text: the picked units in clause order, each with its citation."""
        if not picked:
            return self.refuse(question, usable, mode=mode)
        citations: list[Citation] = []
        body = _cited_text(usable, picked, citations, {})
        return Answer(
            question=question,
            answer=self._lead(citations) + body,
            refused=False,
            mode=mode,
            citations=citations,
        )

    def _compose_cases(
        self,
        question: str,
        usable: list[Hit],
        cases: list[tuple[str, list[Scored]]],
        *,
        mode: str = "extractive",
    ) -> Answer:
        """An answer per category, each line with its own citations."""
        citations: list[Citation] = []
        index_of: dict[int, int] = {}
        lines = [
            f"{name}：" + _cited_text(usable, units, citations, index_of) for name, units in cases
        ]
        names = "、".join(n for n, _ in cases)
        lead = f"问题没有说明是哪一类（{names}），文件对它们的规定不同，分别是：\n"
        return Answer(
            question=question,
            answer=lead + "\n".join(lines),
            refused=False,
            mode=mode,
            citations=citations,
            notes=[f"分情况作答：{names}"],
        )

    @staticmethod
    def _lead(citations: list[Citation]) -> str:
        c = citations[0]
        where = cite_label(c.doc_no, c.clause, c.title)
        if c.doc_no:
            return f"根据《{c.title}》（{where}）："
        return f"根据{where}："

    def refuse(self, question: str, hits: list[Hit], *, mode: str = "extractive") -> Answer:
        near = [
            Citation(h.clause.doc_no, h.clause.label, h.clause.doc_title, h.clause.text, h.score)
            for h in hits[:3]
        ]
        return Answer(question=question, answer=REFUSAL, refused=True, mode=mode, citations=near)
