"""Detect and repair GB2312 punctuation mojibake in extracted gazette text.

Some PDFs of the 嘉兴市人民政府公报 were extracted with a font whose GB2312 lead byte was
shifted by ``+0x31``: row A1 (general punctuation) became row D2, A2 became D3 and A3
(full-width ASCII) became D4, trail byte unchanged. So ``，`` (A3AC) reads as ``袁`` (D4AC),
``。`` as ``遥``, ``（一）`` as ``渊一冤`` and ``〔2014〕`` as ``也2014页``.

Many of those ideographs are also real characters (医院, 人员, 资源, 也是 …), so a blind
inverse table breaks real words. :func:`repair` decides every candidate position in context
with a character bigram model built, at first use, from clean text that ships with the
project (the clean gazette and ``data/corpus/external``) and the word frequencies of
jieba's bundled dictionary, plus layout cues of the PDF extraction. Adjacent candidates are
decided jointly by Viterbi search (``圆园员源年`` → ``2014年``).

The model is adapted to the file with its own clear decisions (a gazette repeats
``组长：``), bracket and quote images are decided together with their partner (a bracketed
note ``材料也此条款…办法页遥`` is scored like ``（…）``, since the clean text has almost no
``〔〕`` outside document numbers; ``第5页``, ``首页`` and ``也可以`` stay words), and list
marks (▲ bullets, ①②③ chains, Ⅰ–Ⅻ before 级/类) and the heading font's ``穴…雪``
brackets are restored from layout. The colon image 院 ends institution names (保健院,
敬老院): a parenthetical after it, a second colon image in the same clause, or a longer
dictionary word over it count against the colon. :func:`repair` maps one character
to one character, so offsets and line numbers of the source text stay valid.

Measured by ``bench/repair_residual.py``.
"""

from __future__ import annotations

import copy
import functools
import itertools
import math
import re
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "FORWARD",
    "REPAIR_OUTPUT",
    "SHIFT",
    "BigramModel",
    "clean_file_text",
    "corrupt",
    "default_model",
    "is_mojibake",
    "mojibake_ratio",
    "normalize_punct",
    "repair",
    "shift_char",
    "training_texts",
]

#: Lead-byte shift of the broken font (A1→D2, A2→D3, A3→D4).
SHIFT = 0x31

_CORPUS_DIR = Path(__file__).resolve().parents[2] / "data" / "corpus"

# Punctuation that plausibly occurs in policy text. Full-width letters and most symbols are
# left out on purpose: their images (增, 则, 在, 以, 用 …) are common words.
_PUNCT_SOURCES = "，。、；：（）《》“”〔〕【】％‰～！？．·×／"
_DIGIT_SOURCES = "０１２３４５６７８９"


def shift_char(ch: str) -> str:
    """Return the ideograph that a GB2312 row A1–A3 character turns into under the shift.

    Args:
        ch: A character encoded by GB2312/GBK in rows A1–A3.

    Returns:
        The character whose lead byte is ``SHIFT`` higher, same trail byte.

    Raises:
        ValueError: If ``ch`` is not in rows A1–A3.
    """
    raw = ch.encode("gbk")
    if len(raw) != 2 or not 0xA1 <= raw[0] <= 0xA3:
        raise ValueError(f"{ch!r} is not in GB2312 rows A1-A3")
    return bytes([raw[0] + SHIFT, raw[1]]).decode("gbk")


#: Punctuation or full-width digit → the ideograph it came out as.
FORWARD: dict[str, str] = {ch: shift_char(ch) for ch in _PUNCT_SOURCES + _DIGIT_SOURCES}


def _repair_output(src: str) -> str:
    # Digits and the item-number dot become ASCII, like the rest of the extracted text.
    if src in _DIGIT_SOURCES:
        return str(_DIGIT_SOURCES.index(src))
    return {"．": ".", "／": "/"}.get(src, src)


#: Mojibake ideograph → what :func:`repair` writes when it decides "punctuation".
REPAIR_OUTPUT: dict[str, str] = {tgt: _repair_output(src) for src, tgt in FORWARD.items()}

_FORWARD_TABLE = {ord(src): tgt for src, tgt in FORWARD.items()}
_BLIND_TABLE = {ord(tgt): out for tgt, out in REPAIR_OUTPUT.items()}
_CANONICAL_TABLE = {ord(src): REPAIR_OUTPUT[tgt] for src, tgt in FORWARD.items()}

# Em dash (A1AA → 要) is not in FORWARD because 要 is far too common; only runs of two or
# more 要 (a "——" dash) are considered.
_DASH_IMAGE = shift_char("—")
_DIGIT_IMAGES = frozenset(FORWARD[d] for d in _DIGIT_SOURCES)
# Only meaningful right after a number: 4援 = 4., 98豫 = 98％ (豫 is also a given name),
# 2译 = 2‰ (翻译).
_AFTER_DIGIT_ONLY = frozenset({FORWARD["．"], FORWARD["％"], FORWARD["‰"]})
_CANDIDATES = frozenset(REPAIR_OUTPUT) | {_DASH_IMAGE}
_OUTPUTS = frozenset(REPAIR_OUTPUT.values()) - set("0123456789") | {"—"}

_OPENERS = frozenset("（《“〔【")
_CLOSERS = frozenset("，。、；：）》”〕】％‰！？.·")
_PAIRS = {FORWARD[o]: FORWARD[c] for o, c in ("（）", "《》", "“”", "〔〕", "【】")}
_CLOSER_OF = {c: o for o, c in _PAIRS.items()}
_BRACKET_OPEN, _BRACKET_CLOSE = FORWARD["〔"], FORWARD["〕"]
# Bracketed notes 〔此条款由各县…办法〕。: outside a document number 〔〕 play the part of
# （）, so a note is scored with their statistics (see _decide_pairs). A note holds no
# sentence end, does not open right after a comma (，也可以 is the adverb) and is followed
# by punctuation or a paragraph end (首页设计, 首页公布 are pages).
_NOTE_SYMBOL = {FORWARD["〔"]: "（", FORWARD["〕"]: "）"}
_SENTENCE_ENDS = frozenset("。！？" + "".join(FORWARD[p] for p in "。！？"))
_NOT_BEFORE_NOTE = frozenset("，、,（(" + "".join(FORWARD[p] for p in "，、（"))
_AFTER_NOTE = frozenset("，。；、：！？,.;:" + "".join(FORWARD[p] for p in "，。；、：！？"))
# 页 right after a number is a page (第5页, 共12页), not a bracket, outside 〔2014〕.
_NUMERALS = frozenset("一二三四五六七八九十百千两零〇")
_NOTE_OPENER_FLOOR = -2.0  # nats: an opener clearer than this as 也 is the word
_RANGE_IMAGE = FORWARD["～"]

# List marks: ▲ (银) bullets and ①–⑩ (淤于盂榆虞愚舆余俞逾). Their images include very common
# words (于, 余), so they are not in FORWARD; :func:`repair` restores them only by layout:
# a 银 bullet opening a line before a number, a chain ①②③… of item starts.
_BULLET_IMAGE = shift_char("▲")
_CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩"
_CIRCLED_IMAGES = [shift_char(c) for c in _CIRCLED]
_LIST_MARKS = frozenset(_CIRCLED + "▲")
# What precedes an item start: ：；。 or their images (the text is not repaired yet).
_ITEM_LEADS = frozenset("：；。:;" + "".join(FORWARD[p] for p in "：；。"))
_CHAIN_WINDOW = 400  # characters between consecutive items ① → ②
# Roman numerals Ⅰ–Ⅻ (玉域芋郁吁遇喻峪御愈欲狱) grade levels and classes: 芋级应急响应 is
# Ⅲ级. Restored only right before 级/类 and not where the image makes a word with the
# character before it (区域级, 待遇类).
_ROMAN = "ⅠⅡⅢⅣⅤⅥⅦⅧⅨⅩⅪⅫ"
_ROMAN_IMAGES = {shift_char(c): c for c in _ROMAN}
_ROMAN_UNITS = frozenset("级类")
# The heading font of the same gazette is shifted by 0x2E instead: （…） comes out as 穴…雪
# (【市政府人事任免】穴2014年8月、12月份雪, 嘉兴政报穴总第139期雪). Restored as a pair on one
# line, a short span apart with no sentence end inside, where neither makes a word.
_HEADING_PAIR = ("穴", "雪")
_HEADING_PAIR_SPAN = 30

# Detection evidence: images that are rare as real characters (袁, a surname, counts half).
_IMAGE_WEIGHT = {FORWARD[p]: 1.0 for p in "。、；（）》”"} | {FORWARD["，"]: 0.5}
_REAL_PUNCT = frozenset("，。、；,;（）()》”")
_MIN_EVIDENCE = 1.5

# Layout cues of the PDF extraction, in nats (log-odds added to the punctuation reading).
_SPACE_CUE = 2.0  # "袁 万象更新": a space after a closer / before an opener
_NEWLINE_CUE = 0.7  # sentence-final punctuation often ends a line
_PAIR_BONUS = 5.0  # a matched 渊…冤 / 也…页 pair read as brackets together
_LONE_PENALTY = 2.0  # one bracket of a matched pair alone, or an unmatched bracket image
_PAIR_WINDOW = 150  # characters between partners
_DOCNO_CUE = 8.0  # 也2014页 in a document number
_SPACED_DIGIT_CUE = 4.0  # a digit image separated by a space from an ASCII digit
_SPACED_NUMBER_CUE = 2.0  # a digit image separated by a space from a word
_ONE_DIGIT = math.log(1 / 9)
_RANGE_CUE = 6.0  # 2013耀2020: between two numbers 耀 is the range mark ～
# 城北路耀华玉路: after a place or time unit 耀 starts a range (光耀, 荣耀 do not qualify).
_RANGE_UNIT_CUE = 8.0
_RANGE_ENDS = frozenset("路街道站桥镇村区县市年月日时号期")
_CONFIDENT = 4.0  # margin (nats) of a first-pass decision used to adapt to the file
# The colon image 院 ends many institution names (医院, 保健院, 敬老院). Cues against the
# colon reading, each measured on the held-out synthetic gazette and checked on 003:
# 保健院（市妇女儿童医院）: a colon opens an item list "：（一）", not a parenthetical;
_PAREN_AFTER_COLON_CUE = 4.0
# 护理院出入院标准: one clause (no punctuation or space between) holds at most one colon;
_SECOND_COLON_CUE = 5.0
_COLON_CLAUSE = 12  # characters
# 敬老院转型: a dictionary word of three or more characters covers the image.
_LONG_WORD_CUE = 4.0
_LONG_WORD_MIN_FREQ = 3
# A colon is never directly followed by sentence punctuation (护理院， is not 护理：，).
_NOT_AFTER_COLON = frozenset("，。、；：")

_WS = frozenset(" \t\r\n\u3000\xa0")
_DIGITS = frozenset("0123456789" + _DIGIT_SOURCES)
_LETTERS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    + "".join(chr(c) for c in range(0xFF21, 0xFF3B))
    + "".join(chr(c) for c in range(0xFF41, 0xFF5B))
)
# Bigram model.
_BOS = "^"  # start of a training text
_NUMBER_SYMBOLS = frozenset("01")  # see _lm_symbol
_MIN_END = 0.05  # a word can always end here: the dictionary is not exhaustive
_PRIOR_WEIGHT = 20.0  # pseudo-counts pulling rare symbols toward their overall share
_DISCOUNT = 0.8  # absolute discount: one sighting in a small corpus is weak evidence
_MIN_PUNCT_SHARE = 3e-4  # floor for punctuation the clean texts happen to lack (！, ×)
_FILE_KAPPA = 10.0  # file bigrams needed to weigh as much as the general model
# Rare brackets borrow statistics from round brackets.
_BRACKET_FAMILY = {"〔": "（", "【": "（", "〕": "）", "】": "）"}


def _lm_symbol(ch: str) -> str:
    """Map a character to its symbol in the bigram model (digits and letters are classes).

    Zero is its own class because numbers seldom start with it (幼儿园120所 is not 0120).
    """
    if ch in "0０":
        return "0"
    if ch in _DIGITS:
        return "1"
    if ch in _LETTERS:
        return "A"
    if ch in _LIST_MARKS:
        return "1"  # an item mark sits where an item number would
    if ch == "／":
        return "/"
    return ch


def _is_cjk(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\u3000" < ch <= "\u303f" or "\uff00" <= ch <= "\uffef"


def _is_ascii_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


# ---------------------------------------------------------------------------------------
# Synthetic corruption and normalisation of clean text
# ---------------------------------------------------------------------------------------


def corrupt(text: str) -> str:
    """Apply the mojibake to clean text (every FORWARD character, blindly).

    Args:
        text: Clean text with full-width punctuation.

    Returns:
        Text as the broken font would have printed it; same length.
    """
    return text.translate(_FORWARD_TABLE)


def blind_inverse(text: str) -> str:
    """The naive repair: every image back to its punctuation, whatever the context.

    Breaks real words (医院 → 医：, 人员 → 人1); the baseline :func:`repair` is measured
    against.

    Args:
        text: Mojibake text.

    Returns:
        Text with every :data:`REPAIR_OUTPUT` image replaced; same length.
    """
    return text.translate(_BLIND_TABLE)


_ITEM_DOT = re.compile(r"(?m)(^|[\s#*:：-])(\d{1,2})\.(?=[ \t]|[^\x00-\x7f])")
_ASCII_TO_FULL = {",": "，", ";": "；", ":": "：", "?": "？", "!": "！"}


def normalize_punct(text: str) -> str:
    """Turn ASCII punctuation next to Chinese text into full-width, as a GB2312 print has it.

    Length-preserving. Used on the clean training text and to build the synthetic test
    reference. ``,;:?!`` become full-width when a neighbour (skipping spaces) is Chinese and
    they do not sit between two ASCII letters/digits; ``%`` after a number becomes ``％`` and
    ``~`` after a number or next to Chinese ``～``; matched ``()`` around or next to Chinese
    become ``（）``; ``"`` next to Chinese alternates ``“”`` within a line; the dot of an item
    number (``1. 培育``) becomes ``．``.

    Args:
        text: Clean text.

    Returns:
        The normalised text, same length.
    """
    chars = list(text)
    n = len(chars)

    def neighbour(i: int, step: int) -> str:
        j = i + step
        while 0 <= j < n and chars[j] in _WS:
            j += step
        return chars[j] if 0 <= j < n else ""

    stack: list[int] = []
    quote_open = True
    for i, ch in enumerate(chars):
        if ch == "\n":
            quote_open = True
            stack.clear()
            continue
        prev, nxt = neighbour(i, -1), neighbour(i, 1)
        near_cjk = _is_cjk(prev) or _is_cjk(nxt)
        if ch == "%":
            if prev.isdigit():
                chars[i] = "％"
        elif ch == "~":
            if prev.isdigit() or near_cjk:
                chars[i] = "～"
        elif ch in _ASCII_TO_FULL:
            between_ascii = _is_ascii_alnum(prev) and _is_ascii_alnum(nxt)
            if near_cjk and not between_ascii:
                chars[i] = _ASCII_TO_FULL[ch]
        elif ch == '"':
            if near_cjk:
                chars[i] = "“" if quote_open else "”"
                quote_open = not quote_open
        elif ch == "(":
            stack.append(i)
        elif ch == ")" and stack:
            j = stack.pop()
            inner = text[j + 1 : i]
            outer = neighbour(j, -1) + neighbour(i, 1)
            if any(_is_cjk(c) for c in inner + outer):
                chars[j], chars[i] = "（", "）"
    out = "".join(chars)
    return _ITEM_DOT.sub(lambda m: f"{m.group(1)}{m.group(2)}．", out)


def canonical_repair_target(text: str) -> str:
    """What a perfect :func:`repair` returns for ``corrupt(text)``.

    Full-width digits and the item dot come back as ASCII, everything else unchanged.

    Args:
        text: Clean (normalised) text.

    Returns:
        The expected repair output, same length.
    """
    return text.translate(_CANONICAL_TABLE)


# ---------------------------------------------------------------------------------------
# Detection
# ---------------------------------------------------------------------------------------


def _image_evidence(text: str) -> tuple[float, int]:
    """Weighted count of punctuation images and count of real punctuation in ``text``."""
    words = _image_words()
    moji = 0.0
    real = 0
    for i, ch in enumerate(text):
        if ch in _REAL_PUNCT:
            real += 1
            continue
        weight = _IMAGE_WEIGHT.get(ch)
        if weight is None:
            continue
        left = text[i - 1 : i + 1] if i else ""
        right = text[i : i + 2]
        if left not in words and right not in words:
            moji += weight
    return moji, real


def mojibake_ratio(text: str) -> float:
    """Share of punctuation that appears as its mojibake image.

    Counts the images of ``，。、；（）》”`` (袁遥尧曰渊冤曳冶, ideographs that are rare in
    policy text; 袁, a surname, at half weight) against the real ``，。、；,;（）()》”``. An
    image forming a common dictionary word with a neighbour (遥控, 遥远) is not counted.

    Args:
        text: Any text.

    Returns:
        A value in [0, 1]; 0.0 when the text has no punctuation of either kind.
    """
    moji, real = _image_evidence(text)
    total = moji + real
    return moji / total if total else 0.0


def is_mojibake(text: str) -> bool:
    """Whether a file's punctuation is the shifted-GB2312 mojibake.

    Args:
        text: The whole text of one file (short texts work; a few clauses suffice).

    Returns:
        True when most punctuation is mojibake and there is enough of it (a weight of
        ``_MIN_EVIDENCE``: one or two surnames 袁 in a clean snippet are not evidence).
    """
    moji, real = _image_evidence(text)
    return moji >= _MIN_EVIDENCE and moji > real


@functools.cache
def _image_words(images: tuple[str, ...] = ()) -> frozenset[str]:
    # Two-character dictionary words containing a detection image (遥远, 遥控, 冶金 …), or
    # one of ``images``, frequent enough to be real words rather than dictionary noise.
    chars = set(images) or set(_IMAGE_WEIGHT)
    found = set()
    for word, freq in _iter_jieba_dict():
        if len(word) == 2 and freq >= 50 and any(c in chars for c in word):
            found.add(word)
    return frozenset(found)


# ---------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------


def _jieba_dict_path() -> Path:
    import jieba  # local import: only the dictionary file is needed

    return Path(jieba.__file__).resolve().parent / "dict.txt"


def _iter_jieba_dict() -> Iterable[tuple[str, int]]:
    with _jieba_dict_path().open(encoding="utf-8") as fh:
        for line in fh:
            parts = line.split(" ")
            if len(parts) >= 2:
                yield parts[0], int(parts[1])


def training_texts(exclude: Collection[str] = ()) -> list[tuple[str, str]]:
    """The clean texts shipped with the project, normalised for training.

    Every ``*.txt``/``*.md`` in ``data/corpus`` and ``data/corpus/external`` that is not
    itself mojibake. Line 1 of external files (a provenance line) is dropped.

    Args:
        exclude: File names to leave out (for held-out measurement).

    Returns:
        Sorted ``(file name, normalised text)`` pairs.
    """
    out = []
    for directory in (_CORPUS_DIR, _CORPUS_DIR / "external"):
        if not directory.is_dir():
            continue
        for path in sorted(directory.iterdir()):
            if path.suffix not in {".txt", ".md"} or path.name == "README.md":
                continue
            if path.name in exclude:
                continue
            text = path.read_text(encoding="utf-8")
            if directory.name == "external":
                text = text.split("\n", 1)[1] if "\n" in text else ""
            if is_mojibake(text):
                continue
            out.append((path.name, normalize_punct(text)))
    return out


def _lm_stream(text: str) -> list[str]:
    return [_lm_symbol(ch) for ch in text if ch not in _WS]


def _is_ideograph(symbol: str) -> bool:
    return "\u3400" <= symbol <= "\u9fff"


@dataclass(frozen=True)
class _DictStats:
    """Character statistics from jieba's word list, weighted by word frequency."""

    unigram: dict[str, float]  # share of all characters
    start: dict[str, float]  # share of words that start with the character
    total: dict[str, float]  # weighted occurrences of a character
    end: dict[str, float]  # ... as the last character of a word
    pair: dict[tuple[str, str], float]  # word-internal bigrams touching a candidate
    mean_word_len: float


@functools.cache
def _dict_stats() -> _DictStats:
    total: Counter[str] = Counter()
    start: Counter[str] = Counter()
    end: Counter[str] = Counter()
    pair: Counter[tuple[str, str]] = Counter()
    keep = _CANDIDATES
    words = 0
    for word, freq in _iter_jieba_dict():
        words += freq
        for ch in word:
            total[ch] += freq
        start[word[0]] += freq
        end[word[-1]] += freq
        if len(word) > 1 and not keep.isdisjoint(word):
            for a, b in itertools.pairwise(word):
                if a in keep or b in keep:
                    pair[a, b] += freq
    chars = sum(total.values())
    return _DictStats(
        unigram={ch: c / chars for ch, c in total.items()},
        start={ch: c / words for ch, c in start.items()},
        total=dict(total),
        end=dict(end),
        pair=dict(pair),
        mean_word_len=chars / words,
    )


class BigramModel:
    """Character bigram model: jieba word statistics mixed with clean running text.

    ``P(b|a) = Pword(b|a) + e(a) * Q(b|a)``. ``Pword`` is the chance that ``a`` continues a
    dictionary word with ``b`` (word-internal bigrams of jieba's dictionary, by frequency);
    ``e(a)`` is the chance that a word ends at ``a``. After a word end, ``Q`` is a bigram
    over the clean corpus (which alone knows punctuation), absolutely discounted and
    backing off to the distribution of what follows a word boundary: punctuation, digits
    and letters by their share after ideographs in running text, ideographs by how often
    they *start* a word. That is what separates ``部门院`` (院 seldom starts a word: ``：``)
    from ``国务院``. Digits are two classes (``0`` and ``1`` for 1–9), Latin letters one
    (``A``); whitespace is skipped.
    """

    def __init__(self, texts: Iterable[str]) -> None:
        """Build the model.

        Args:
            texts: Clean training texts with full-width punctuation (see
                :func:`normalize_punct`).
        """
        self._dict = _dict_stats()
        bigrams: Counter[tuple[str, str]] = Counter()
        unigrams: Counter[str] = Counter()
        for text in texts:
            stream = [_BOS, *_lm_stream(text)]
            unigrams.update(stream[1:])
            bigrams.update(itertools.pairwise(stream))
        self._bigram = dict(bigrams)
        left: Counter[str] = Counter()
        types: Counter[str] = Counter()
        for (a, _b), c in bigrams.items():
            left[a] += c
            types[a] += 1
        self._left = dict(left)
        self._types = dict(types)
        # Middle level for contexts that are numbers ("0", "1" pooled): 年, ％, 个 …
        after_number: Counter[str] = Counter()
        for (a, b), c in bigrams.items():
            if a in _NUMBER_SYMBOLS:
                after_number[b] += c
        self._number_next = dict(after_number)
        self._number_left = sum(after_number.values())
        self._number_types = len(after_number)
        # What follows a word boundary, counted after ideographs: punctuation and the first
        # digit of a number (seldom 0), not digits inside numbers.
        after_ideo: Counter[str] = Counter()
        for (a, b), c in bigrams.items():
            if _is_ideograph(a) and not _is_ideograph(b):
                after_ideo[b] += c
        n_after = sum(after_ideo.values())
        n_ideo = sum(c for ch, c in unigrams.items() if _is_ideograph(ch))
        boundaries = n_ideo / self._dict.mean_word_len
        self._ideo_unigram = {
            ch: c / n_ideo for ch, c in unigrams.items() if n_ideo and _is_ideograph(ch)
        }
        self._p_other = min(n_after / boundaries, 0.9) if boundaries else 0.3
        # Prior for rare symbols: their share among all non-ideographs (add-half over a
        # nominal 200 symbols), rare brackets borrowing from round ones.
        others = {ch: c for ch, c in unigrams.items() if not _is_ideograph(ch)}
        n_others = sum(others.values())

        def share(ch: str) -> float:
            return (others.get(ch, 0) + 0.5) / (n_others + 100.0)

        self._other: dict[str, float] = {}
        for ch in set(others) | _OUTPUTS:
            prior = share(ch)
            if ch in _BRACKET_FAMILY:
                prior = 0.8 * prior + 0.2 * share(_BRACKET_FAMILY[ch])
            self._other[ch] = (after_ideo.get(ch, 0) + _PRIOR_WEIGHT * prior) / (
                n_after + _PRIOR_WEIGHT
            )
            if ch in _OUTPUTS:
                # Punctuation that the clean texts happen to lack (！ in a New Year address,
                # × in a formula) is still ordinary punctuation.
                self._other[ch] = max(self._other[ch], _MIN_PUNCT_SHARE)
        self._other_floor = _PRIOR_WEIGHT * share("") / (n_after + _PRIOR_WEIGHT)
        self._file: dict[tuple[str, str], int] = {}
        self._file_left: dict[str, int] = {}
        self._cache: dict[tuple[str, str], float] = {}

    def adapted(self, extra: Counter[tuple[str, str]]) -> BigramModel:
        """A copy interpolated with bigram counts from the file being repaired.

        ``P'(b|a) = (1 - λ) P(b|a) + λ c(a, b) / c(a)`` with ``λ = c(a) / (c(a) + κ)``:
        contexts the file shows often lean on the file; a continuation the file never
        showed loses the same share as every other one, so the balance between readings
        the file has no opinion on is unchanged.

        Args:
            extra: Bigram counts observed in the file.

        Returns:
            A new model; this one is unchanged.
        """
        new = copy.copy(self)
        left: Counter[str] = Counter()
        for (a, _b), c in extra.items():
            left[a] += c
        new._file = dict(extra)
        new._file_left = dict(left)
        new._cache = {}
        return new

    def _after_boundary(self, ch: str) -> float:
        """Probability of ``ch`` right after a word boundary (the last backoff level)."""
        if _is_ideograph(ch):
            d = self._dict
            # Mostly word starts; some plain frequency for what the word list misses and for
            # the vocabulary of this kind of text (嘉兴, 医保).
            share = (
                0.8 * d.start.get(ch, 0.0)
                + 0.1 * d.unigram.get(ch, 0.0)
                + 0.1 * self._ideo_unigram.get(ch, 0.0)
            )
            return (1.0 - self._p_other) * share + 1e-9
        return self._p_other * self._other.get(ch, self._other_floor)

    def _clean(self, a: str, b: str) -> float:
        """Running-text probability of ``b`` after ``a`` (discounted, with backoff)."""
        backoff = self._after_boundary(b)
        if a in _NUMBER_SYMBOLS and self._number_left:
            # Witten–Bell over all numbers before the symbol-level estimate.
            types = self._number_types
            backoff = (self._number_next.get(b, 0) + types * backoff) / (self._number_left + types)
        left = self._left.get(a, 0)
        if not left:
            return backoff
        # Absolute discounting: a bigram seen once in a small corpus is weak evidence.
        count = max(self._bigram.get((a, b), 0) - _DISCOUNT, 0.0)
        return (count + _DISCOUNT * self._types[a] * backoff) / left

    def logp(self, a: str, b: str) -> float:
        """Log probability of symbol ``b`` following symbol ``a``."""
        key = (a, b)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        if a == "：" and b in _NOT_AFTER_COLON:
            self._cache[key] = -30.0
            return -30.0
        q = self._clean(a, b)
        total = self._dict.total.get(a)
        if total:
            # A word can always end (floor): the word list is not exhaustive.
            ends = max(self._dict.end.get(a, 0.0) / total, _MIN_END)
            p = self._dict.pair.get(key, 0.0) / total + ends * q
        else:
            p = q
        n = self._file_left.get(a, 0)
        if n:
            weight = n / (n + _FILE_KAPPA)
            p = (1.0 - weight) * p + weight * self._file.get(key, 0) / n
        value = math.log(p)
        self._cache[key] = value
        return value


@functools.cache
def default_model() -> BigramModel:
    """The model :func:`repair` uses: all clean shipped text. Built once per process."""
    return BigramModel(text for _name, text in training_texts())


# ---------------------------------------------------------------------------------------
# Repair
# ---------------------------------------------------------------------------------------


@dataclass
class _Option:
    symbol: str  # symbol in the bigram model
    out: str  # character written to the output
    bonus: float = 0.0  # layout cues, in nats


_KEEP, _PUNCT = 0, 1


def _candidate_positions(text: str) -> list[int]:
    n = len(text)
    found = []
    for i, ch in enumerate(text):
        if ch not in _CANDIDATES:
            continue
        if ch == _DASH_IMAGE:
            run_left = i > 0 and text[i - 1] == ch
            run_right = i + 1 < n and text[i + 1] == ch
            if not (run_left or run_right):
                continue
        elif ch in _AFTER_DIGIT_ONLY:
            j = i - 1
            while j >= 0 and text[j] in " \t":
                j -= 1
            if j < 0 or not (text[j] in _DIGITS or text[j] in _DIGIT_IMAGES):
                continue
        found.append(i)
    return found


def _next_to_digit(text: str, i: int, step: int) -> bool:
    j = i + step
    while 0 <= j < len(text) and text[j] in " \t":
        j += step
    return 0 <= j < len(text) and (text[j] in _DIGITS or text[j] in _DIGIT_IMAGES)


def _spaced_from_word(text: str, i: int, step: int) -> bool:
    # A space, then an ideograph that is not itself a candidate (冶 圆满 is “ 圆满).
    j = i + step
    if not (0 <= j < len(text)) or text[j] not in " \t\u3000":
        return False
    while 0 <= j < len(text) and text[j] in " \t\u3000":
        j += step
    return 0 <= j < len(text) and _is_ideograph(text[j]) and text[j] not in _CANDIDATES


def _spaced_from_digit(text: str, i: int, step: int) -> bool:
    j = i + step
    if not (0 <= j < len(text)) or text[j] not in " \t\u3000":
        return False
    while 0 <= j < len(text) and text[j] in " \t\u3000":
        j += step
    return 0 <= j < len(text) and text[j] in "0123456789"


_COLON_IMAGE = FORWARD["："]
_NUMERAL_STARTS = frozenset("一二三四五六七八九十0123456789") | _DIGIT_IMAGES


def _colon_cues(text: str, i: int) -> float:
    """Evidence (nats) against reading the colon image at ``i`` as a colon."""
    against = 0.0
    j = _skip_space(text, i + 1, 1)
    if j < len(text) and text[j] in ("（", FORWARD["（"]):
        k = _skip_space(text, j + 1, 1)
        if k < len(text) and text[k] not in _NUMERAL_STARTS:
            against += _PAREN_AFTER_COLON_CUE
    for step in (-1, 1):
        k = i + step
        while 0 <= k < len(text) and abs(k - i) <= _COLON_CLAUSE:
            ch = text[k]
            if ch == _COLON_IMAGE:
                against += _SECOND_COLON_CUE
                break
            if not _is_ideograph(ch) or ch in _CANDIDATES:
                break
            k += step
    return against


@functools.cache
def _long_words() -> dict[str, frozenset[str]]:
    """Dictionary words of 3–4 characters holding a candidate image, by that image."""
    found: dict[str, set[str]] = {}
    for word, freq in _iter_jieba_dict():
        if 3 <= len(word) <= 4 and freq >= _LONG_WORD_MIN_FREQ:
            for ch in set(word) & _CANDIDATES:
                found.setdefault(ch, set()).add(word)
    return {ch: frozenset(ws) for ch, ws in found.items()}


def _in_long_word(text: str, i: int) -> bool:
    """Whether a dictionary word of three or more characters covers ``text[i]``."""
    words = _long_words().get(text[i])
    if not words:
        return False
    for n in (3, 4):
        for start in range(max(0, i - n + 1), i + 1):
            if text[start : start + n] in words:
                return True
    return False


def _options(text: str, i: int) -> list[_Option]:
    """The two readings of candidate ``text[i]`` with the layout cues of the punctuation one."""
    ch = text[i]
    out = "—" if ch == _DASH_IMAGE else REPAIR_OUTPUT[ch]
    punct = _Option(_lm_symbol(out), out)
    n = len(text)
    prev_raw = text[i - 1] if i else "\n"
    next_raw = text[i + 1] if i + 1 < n else "\n"
    if out in _CLOSERS and next_raw in " \u3000":
        j = i + 1
        while j < n and text[j] in " \u3000":
            j += 1
        if j < n and not _is_ascii_alnum(text[j]):
            punct.bonus += _SPACE_CUE
    if out in _OPENERS and prev_raw in " \u3000":
        j = i - 1
        while j >= 0 and text[j] in " \u3000":
            j -= 1
        if j < 0 or not _is_ascii_alnum(text[j]):
            punct.bonus += _SPACE_CUE
    if out in "。；：" and next_raw == "\n":
        punct.bonus += _NEWLINE_CUE
    if out == "：":
        punct.bonus -= _colon_cues(text, i)
    if _in_long_word(text, i):
        punct.bonus -= _LONG_WORD_CUE
    if ch == _RANGE_IMAGE:
        if _next_to_digit(text, i, -1) and _next_to_digit(text, i, 1):
            punct.bonus += _RANGE_CUE
        elif i and text[i - 1] in _RANGE_ENDS:
            punct.bonus += _RANGE_UNIT_CUE
    if out.isdigit():
        if out != "0":
            # The model's "1" stands for nine digits; this image is one particular digit.
            punct.bonus += _ONE_DIGIT
        # A number is not split by a space: 幼儿园 45 所 is not 幼儿0 45.
        if _spaced_from_digit(text, i, -1) or _spaced_from_digit(text, i, 1):
            punct.bonus -= _SPACED_DIGIT_CUE
        # But extraction puts spaces around numbers in running text: 在 猿个, 建成 员 个.
        elif _spaced_from_word(text, i, -1) or _spaced_from_word(text, i, 1):
            punct.bonus += _SPACED_NUMBER_CUE
    return [_Option(_lm_symbol(ch), ch), punct]


@dataclass
class _Run:
    """Consecutive candidates (whitespace skipped) between two fixed symbols."""

    positions: list[int]
    left: str
    right: str | None


def _runs(text: str, positions: list[int]) -> list[_Run]:
    stream = [i for i, ch in enumerate(text) if ch not in _WS]
    rank = {pos: k for k, pos in enumerate(stream)}
    ks = [rank[i] for i in positions]
    runs = []
    start = 0
    while start < len(ks):
        end = start
        while end + 1 < len(ks) and ks[end + 1] == ks[end] + 1:
            end += 1
        left = _lm_symbol(text[stream[ks[start] - 1]]) if ks[start] > 0 else _BOS
        nxt = ks[end] + 1
        right = _lm_symbol(text[stream[nxt]]) if nxt < len(stream) else None
        runs.append(_Run(positions[start : end + 1], left, right))
        start = end + 1
    return runs


def _max_marginals(
    lm: BigramModel, run: _Run, lattice: list[list[_Option]]
) -> tuple[list[list[float]], list[int]]:
    """Max-sum forward-backward over one run.

    Returns:
        For every position and option the score of the best complete path through it, and
        the best path (option indices).
    """
    size = len(lattice)
    fwd: list[list[float]] = [[lm.logp(run.left, o.symbol) + o.bonus for o in lattice[0]]]
    back: list[list[int]] = [[0] * len(lattice[0])]
    for t in range(1, size):
        row, ptr = [], []
        for o in lattice[t]:
            cands = [
                fwd[t - 1][j] + lm.logp(p.symbol, o.symbol) for j, p in enumerate(lattice[t - 1])
            ]
            j = max(range(len(cands)), key=cands.__getitem__)
            row.append(cands[j] + o.bonus)
            ptr.append(j)
        fwd.append(row)
        back.append(ptr)
    bwd: list[list[float]] = [[0.0] * len(opts) for opts in lattice]
    if run.right is not None:
        right = run.right
        bwd[-1] = [lm.logp(o.symbol, right) for o in lattice[-1]]
    for t in range(size - 2, -1, -1):
        bwd[t] = [
            max(
                lm.logp(o.symbol, q.symbol) + q.bonus + bwd[t + 1][k]
                for k, q in enumerate(lattice[t + 1])
            )
            for o in lattice[t]
        ]
    marg = [[f + b for f, b in zip(fwd[t], bwd[t], strict=True)] for t in range(size)]
    last = [f + b for f, b in zip(fwd[-1], bwd[-1], strict=True)]
    j = max(range(len(last)), key=last.__getitem__)
    path = [j]
    for t in range(size - 1, 0, -1):
        j = back[t][j]
        path.append(j)
    path.reverse()
    return marg, path


def _docno_positions(text: str) -> set[int]:
    """Positions of the 也…页 of a document number ``也2014页``: always ``〔2014〕``."""
    found: set[int] = set()
    for m in _DOCNO.finditer(text):
        found.update((m.start(), m.end() - 1))
    return found


def _skip_space(text: str, i: int, step: int) -> int:
    """The first index from ``i`` on (in direction ``step``) that is not whitespace."""
    while 0 <= i < len(text) and text[i] in _WS:
        i += step
    return i


def _is_page(text: str, i: int, docno: set[int]) -> bool:
    """Whether the 页 at ``i`` follows a number (第5页, 共12页, 第五页): a page."""
    if i in docno:
        return False
    j = _skip_space(text, i - 1, -1)
    return j >= 0 and (text[j] in _DIGITS or text[j] in _DIGIT_IMAGES or text[j] in _NUMERALS)


def _note_shaped(text: str, start: int, end: int) -> bool:
    """Whether the 也 at ``start`` and the 页 at ``end`` can enclose a bracketed note.

    The note holds no sentence end; the opener does not follow a comma or 、; the closer
    is followed by punctuation (or its image) or ends a paragraph (blank line, end of text).
    """
    if end - start < 2 or not _SENTENCE_ENDS.isdisjoint(text[start + 1 : end]):
        return False
    before = _skip_space(text, start - 1, -1)
    if before >= 0 and text[before] in _NOT_BEFORE_NOTE:
        return False
    after = _skip_space(text, end + 1, 1)
    if after >= len(text) or text[after] in _AFTER_NOTE:
        return True
    return text.count("\n", end, after) >= 2


def _decide_pairs(
    text: str,
    positions: list[int],
    margin: dict[int, float],
    note_margin: dict[int, float],
    docno: set[int],
) -> tuple[dict[int, int], set[int]]:
    """Decide bracket and quote images jointly with their partner.

    Every closer image (冤曳冶页铱) is matched, within the same stretch of text, to the unmatched
    opener image of its kind that looks most like punctuation; a matched pair is read as
    brackets together or as ideographs together (a lone bracket is unlikely); an unmatched
    image needs more evidence to be punctuation. ``也2014页`` in a document number is
    always ``〔2014〕``.

    Outside document numbers the training text has hardly any ``〔〕``, so their own
    statistics make ``材料〔此条款…办法〕。`` look like ``材料也此…办法页。``. A 也…页
    pair shaped like a note (see :func:`_note_shaped`) is therefore scored as the round
    brackets that play the same role (``note_margin``), provided the 页 reads as a closer
    on its own (``首页``, ``网页`` do not) and the 也 is not clearly the word (``也可以``).
    A lone 也 or 页 keeps its own statistics (``部门也应`` must not become ``部门〔应``),
    and a 页 right after a number is a page (``第5页``).

    Args:
        text: The text being repaired.
        positions: Candidate positions.
        margin: Log-odds (punctuation minus ideograph) of each candidate from the first pass.
        note_margin: The same for the 也/页 candidates outside document numbers, with
            ``〔〕`` scored as ``（）``.
        docno: Positions of document-number brackets (see :func:`_docno_positions`).

    Returns:
        Forced decisions (``_KEEP``/``_PUNCT``) by position, and the positions of the
        bracket notes read as punctuation (decoded with the round-bracket symbols).
    """
    forced: dict[int, int] = dict.fromkeys(docno, _PUNCT)
    notes: set[int] = set()
    open_images = {o: [] for o in _PAIRS}  # type: dict[str, list[int]]
    paired: set[int] = set()
    for i in positions:
        ch = text[i]
        if ch in _PAIRS:
            open_images[ch].append(i)
            continue
        opener = _CLOSER_OF.get(ch)
        if opener is None:
            continue
        if ch == _BRACKET_CLOSE and _is_page(text, i, docno):
            forced[i] = _KEEP
            continue
        stack = open_images[opener]
        stack[:] = [j for j in stack if i - j <= _PAIR_WINDOW]
        if not stack:
            continue
        score = margin
        # The closer must read as a bracket on its own (办法页 does, 首页 and 网页 do not);
        # the pair bonus helps a doubtful opener (也 is a common word), not a clear 也可以.
        if ch == _BRACKET_CLOSE and i not in docno and note_margin[i] > 0:
            around_note = [
                j
                for j in stack
                if j not in docno
                and note_margin[j] > _NOTE_OPENER_FLOOR
                and _note_shaped(text, j, i)
            ]
            if around_note:
                stack_view, score = around_note, note_margin
            else:
                stack_view = stack
        else:
            stack_view = stack
        j = max(reversed(stack_view), key=lambda k: score[k])  # ties: the nearest opener
        stack.remove(j)
        paired.update((i, j))
        if i in forced or j in forced:
            continue
        both = score[i] + score[j] + _PAIR_BONUS
        only_open = margin[j] - _LONE_PENALTY
        only_close = margin[i] - _LONE_PENALTY
        best = max(0.0, both, only_open, only_close)
        if best == 0.0:
            forced[i] = forced[j] = _KEEP
        elif best == both:
            forced[i] = forced[j] = _PUNCT
            if score is note_margin:
                notes.update((i, j))
        else:
            forced[j] = _PUNCT if best == only_open else _KEEP
            forced[i] = _PUNCT if best == only_close else _KEEP
    lone = set(_PAIRS) | set(_CLOSER_OF)
    for i in positions:
        if text[i] in lone and i not in paired and i not in forced:
            forced[i] = _PUNCT if margin[i] - _LONE_PENALTY > 0 else _KEEP
    return forced, notes


_DOCNO = re.compile(
    f"{_BRACKET_OPEN}[ \t]*[0-9{''.join(sorted(_DIGIT_IMAGES))}]{{4}}[ \t]*{_BRACKET_CLOSE}"
)


def _item_start(text: str, i: int) -> bool:
    """Whether ``text[i]`` follows ：；。 (or an image of them), whitespace skipped."""
    j = i - 1
    while j >= 0 and text[j] in _WS:
        j -= 1
    return j >= 0 and text[j] in _ITEM_LEADS


def _line_start(text: str, i: int) -> bool:
    j = i - 1
    while j >= 0 and text[j] in " \t\u3000":
        j -= 1
    return j < 0 or text[j] == "\n"


def _heading_pair_end(text: str, i: int) -> int:
    """The 雪 closing the 穴 at ``i`` as a bracket pair (see ``_HEADING_PAIR``), or -1."""
    words = _image_words(_HEADING_PAIR)
    if i and text[i - 1 : i + 1] in words:
        return -1
    for j in range(i + 1, min(len(text), i + _HEADING_PAIR_SPAN)):
        ch = text[j]
        if ch == "\n" or ch in _SENTENCE_ENDS:
            return -1
        if ch == _HEADING_PAIR[1]:
            inner = text[i + 1 : j].strip()
            if not inner or text[i : i + 2] in words or text[j - 1 : j + 1] in words:
                return -1
            return j
    return -1


def _list_marks(text: str) -> dict[int, str]:
    """Positions of ▲ bullets, ①②… item marks and Ⅰ–Ⅻ levels, found by layout alone.

    A bullet is 银 opening a line right before a number (``银14日：``). An item chain starts
    with 淤 (①) at an item start (after ：；。) and continues with 于 (②), 盂 (③) … each at an
    item start within ``_CHAIN_WINDOW`` characters of the previous one; it counts only if it
    has at least two items, so 于 on its own is never touched. A Roman numeral image
    right before 级 or 类 is the numeral unless it makes a word with the character before.
    """
    marks: dict[int, str] = {}
    words = _image_words(tuple(_ROMAN_IMAGES))
    for i, ch in enumerate(text):
        if ch == _BULLET_IMAGE and _line_start(text, i) and _next_to_digit(text, i, 1):
            marks[i] = "▲"
        elif ch == _HEADING_PAIR[0] and (close := _heading_pair_end(text, i)) > 0:
            marks[i], marks[close] = "（", "）"
        elif (
            ch in _ROMAN_IMAGES
            and i + 1 < len(text)
            and text[i + 1] in _ROMAN_UNITS
            and (i == 0 or text[i - 1 : i + 1] not in words)
        ):
            marks[i] = _ROMAN_IMAGES[ch]
    starts = {
        img: [i for i, ch in enumerate(text) if ch == img and _item_start(text, i)]
        for img in _CIRCLED_IMAGES
    }
    for first in starts[_CIRCLED_IMAGES[0]]:
        chain = [first]
        for img in _CIRCLED_IMAGES[1:]:
            nxt = next((i for i in starts[img] if 0 < i - chain[-1] <= _CHAIN_WINDOW), None)
            if nxt is None:
                break
            chain.append(nxt)
        if len(chain) >= 2:
            for k, i in enumerate(chain):
                marks.setdefault(i, _CIRCLED[k])
    return marks


def _note_lattice(
    text: str, run: _Run, lattice: list[list[_Option]], docno: set[int]
) -> list[list[_Option]]:
    """``lattice`` with 也/页 outside document numbers read as the round brackets of a note."""
    out = []
    for i, opts in zip(run.positions, lattice, strict=True):
        symbol = _NOTE_SYMBOL.get(text[i])
        if symbol is not None and i not in docno:
            keep, punct = opts
            opts = [keep, _Option(symbol, punct.out, punct.bonus)]
        out.append(opts)
    return out


def _first_pass(
    lm: BigramModel, runs: list[_Run], lattices: list[list[list[_Option]]]
) -> tuple[dict[int, float], dict[int, int]]:
    margin: dict[int, float] = {}
    choice: dict[int, int] = {}
    for run, lattice in zip(runs, lattices, strict=True):
        marg, path = _max_marginals(lm, run, lattice)
        for i, scores, j in zip(run.positions, marg, path, strict=True):
            margin[i] = scores[_PUNCT] - scores[_KEEP]
            choice[i] = j
    return margin, choice


def _confident_bigrams(
    runs: list[_Run],
    lattices: list[list[list[_Option]]],
    margin: dict[int, float],
    choice: dict[int, int],
) -> Counter[tuple[str, str]]:
    """Bigrams around first-pass decisions that were clear, to adapt the model to the file.

    A gazette repeats its own phrasing (``组长：``, ``企业：``); counting the clear cases lets
    the doubtful ones of the same file follow them.
    """
    extra: Counter[tuple[str, str]] = Counter()
    for run, lattice in zip(runs, lattices, strict=True):
        symbols = [opts[choice[i]].symbol for i, opts in zip(run.positions, lattice, strict=True)]
        seq = [run.left, *symbols] + ([run.right] if run.right is not None else [])
        for t, i in enumerate(run.positions):
            # Only clear punctuation: clear ideographs include dictionary names (梅尧臣).
            if margin[i] < _CONFIDENT or not _is_ideograph(seq[t]):
                continue
            # What precedes punctuation (组长：); what follows it stays general, or names
            # after 、 would lose to dictionary entries.
            extra[seq[t], seq[t + 1]] += 1
    return extra


def repair(text: str, model: BigramModel | None = None) -> str:
    """Repair shifted-GB2312 punctuation, deciding each candidate in context.

    Candidates are the images in :data:`REPAIR_OUTPUT` (援 and 豫 only right after a number;
    要 only in ``要要`` dash runs); ▲ and ①②… list marks are restored by layout (see
    :func:`_list_marks`). Maximal runs of candidates (whitespace skipped) are decoded by
    Viterbi under the bigram model plus layout cues. A first pass adapts the model to the
    file with its own clear decisions; bracket and quote images are then decided together
    with their partner (see :func:`_decide_pairs`), and the runs decoded again.

    Args:
        text: Text of a file known to be mojibake (see :func:`is_mojibake`).
        model: Statistics to use; :func:`default_model` when omitted.

    Returns:
        The repaired text: same length and same line breaks as ``text``.
    """
    marks = _list_marks(text)
    if marks:
        chars = list(text)
        for i, mark in marks.items():
            chars[i] = mark
        text = "".join(chars)
    positions = _candidate_positions(text)
    if not positions:
        return text
    lm = model or default_model()
    runs = _runs(text, positions)
    lattices = [[_options(text, i) for i in run.positions] for run in runs]
    margin, choice = _first_pass(lm, runs, lattices)
    lm = lm.adapted(_confident_bigrams(runs, lattices, margin, choice))
    margin, _choice = _first_pass(lm, runs, lattices)
    docno = _docno_positions(text)
    note_runs = [
        k
        for k, run in enumerate(runs)
        if any(text[i] in _NOTE_SYMBOL and i not in docno for i in run.positions)
    ]
    note_lattices = {k: _note_lattice(text, runs[k], lattices[k], docno) for k in note_runs}
    note_margin, _choice = _first_pass(
        lm, [runs[k] for k in note_runs], [note_lattices[k] for k in note_runs]
    )
    forced, notes = _decide_pairs(text, positions, margin, note_margin, docno)
    out = list(text)
    for k, (run, lattice) in enumerate(zip(runs, lattices, strict=True)):
        if any(i in notes for i in run.positions):
            lattice = note_lattices[k]
        if any(i in forced for i in run.positions):
            lattice = [
                [opts[forced[i]]] if i in forced else opts
                for i, opts in zip(run.positions, lattice, strict=True)
            ]
        _marg, path = _max_marginals(lm, run, lattice)
        for i, opts, j in zip(run.positions, lattice, path, strict=True):
            out[i] = opts[j].out
    return "".join(out)


def clean_file_text(text: str) -> str:
    """Repair a file's text if it is mojibake, else return it unchanged.

    Args:
        text: The whole text of one file.

    Returns:
        ``repair(text)`` when :func:`is_mojibake` says so, otherwise ``text`` itself.
    """
    return repair(text) if is_mojibake(text) else text
