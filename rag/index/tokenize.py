"""Chinese tokenisation for the BM25 side of the index.

A private ``jieba.Tokenizer`` (never the global one) loaded once with the policy-domain
user dictionary ``index/userdict.txt`` so that terms such as 起付标准 or 职工基本医疗保险
stay whole. On top of jieba's search-mode tokens (whole words plus their dictionary
sub-words) we add character bigrams of every CJK run, so that a query word the
dictionary splits differently from the document ("报销" vs "报销比例", "住院能报多少")
still matches. Text is NFKC-normalised and lower-cased; punctuation, whitespace and a
small list of function words are dropped.

The tokenizer's :attr:`PolicyTokenizer.signature` (options + user-dictionary hash) is
written to the index manifest: an index built with other tokens is stale.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import jieba
    import jieba.posseg

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_USERDICT = PROJECT_ROOT / "index" / "userdict.txt"

TOKENIZER_VERSION = 1
BIGRAM_PREFIX = "#"  # bigram tokens live in their own namespace: "#住院"

# Function words and question words: frequent, carry no topic. Single characters that
# carry meaning in this domain (药, 病, 费, 不 …) are kept on purpose.
STOPWORDS: frozenset[str] = frozenset(
    """
    的 了 和 与 及 或 等 是 在 对 为 由 按 将 把 被 其 之 以 于 中 并 且 也 就 都 而 则 即
    个 这 那 该 此 各 每 有 无 从 向 到 给 让 使 之一 以及 或者 并且 而且 如果 因为 所以
    但是 但 还 又 再 很 更 最 已 已经 可 能 会 要 需 需要 应 应当 应该 可以 能够
    我 我们 你 你们 他 他们 她 它 自己 本人 人家 咱
    吗 呢 吧 啊 呀 哦 嘛 么 啥 什么 怎么 怎样 怎么样 如何 哪 哪些 哪里 多少 几 是否 有没有
    请问 请 想 知道 一下 问 谢谢
    第 条 款 项 号
    """.split()
)

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_RUN = re.compile(f"[{_CJK}]+")
_WORDISH = re.compile(f"[0-9a-z{_CJK}]")


def normalize(text: str) -> str:
    """NFKC (full-width digits/letters → ASCII) and lower case."""
    return unicodedata.normalize("NFKC", text).lower()


def _file_sha(path: Path | None) -> str:
    if path is None:
        return "none"
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


class PolicyTokenizer:
    """Deterministic jieba tokeniser for policy texts (thread-safe after construction)."""

    def __init__(
        self,
        userdict: Path | None = DEFAULT_USERDICT,
        *,
        search_mode: bool = True,
        bigrams: bool = True,
        hmm: bool = False,
    ) -> None:
        import jieba as _jieba

        logging.getLogger("jieba").setLevel(logging.WARNING)
        if userdict is not None and not Path(userdict).is_file():
            userdict = None
        self.userdict = Path(userdict) if userdict is not None else None
        self.search_mode = search_mode
        self.bigrams = bigrams
        self.hmm = hmm
        self._jieba: jieba.Tokenizer = _jieba.Tokenizer()
        self._jieba.initialize()
        if self.userdict is not None:
            self._jieba.load_userdict(str(self.userdict))
        self._pos: jieba.posseg.POSTokenizer | None = None
        self._pos_lock = threading.Lock()
        self.signature = (
            f"jieba-{_jieba.__version__}/v{TOKENIZER_VERSION}"
            f"/search={int(search_mode)}/bigrams={int(bigrams)}/hmm={int(hmm)}"
            f"/userdict={_file_sha(self.userdict)}"
        )

    def words(self, text: str) -> list[str]:
        """jieba tokens of ``text`` (normalised), without punctuation or stopwords."""
        norm = normalize(text)
        if self.search_mode:
            raw = self._jieba.cut_for_search(norm, HMM=self.hmm)
        else:
            raw = self._jieba.cut(norm, HMM=self.hmm)
        out = []
        for tok in raw:
            tok = tok.strip()
            if tok and tok not in STOPWORDS and _WORDISH.search(tok):
                out.append(tok)
        return out

    def tagged(self, text: str) -> list[tuple[str, str]]:
        """(word, part of speech) pairs of ``text`` (normalised), jieba's precise mode.

        Used to tell a question's content words (nouns, verbs) from its colloquial
        frame (adverbs, measure words, pronouns); built on the same user dictionary.
        """
        import jieba.posseg

        with self._pos_lock:
            if self._pos is None:
                self._pos = jieba.posseg.POSTokenizer(self._jieba)
            pos = self._pos
        return [(p.word.strip(), p.flag) for p in pos.cut(normalize(text), HMM=self.hmm)]

    def tokens(self, text: str) -> list[str]:
        """All index tokens of ``text``: jieba words, then CJK character bigrams."""
        out = self.words(text)
        if self.bigrams:
            for run in _CJK_RUN.findall(normalize(text)):
                out.extend(BIGRAM_PREFIX + run[i : i + 2] for i in range(len(run) - 1))
        return out

    def __call__(self, text: str) -> list[str]:
        return self.tokens(text)


_CACHE: dict[tuple[str, bool, bool, bool], PolicyTokenizer] = {}
_LOCK = threading.Lock()


def get_tokenizer(
    userdict: Path | None = DEFAULT_USERDICT,
    *,
    search_mode: bool = True,
    bigrams: bool = True,
    hmm: bool = False,
) -> PolicyTokenizer:
    """The process-wide tokenizer for these options, built once (about a second)."""
    key = (str(userdict), search_mode, bigrams, hmm)
    with _LOCK:
        tok = _CACHE.get(key)
        if tok is None:
            tok = PolicyTokenizer(userdict, search_mode=search_mode, bigrams=bigrams, hmm=hmm)
            _CACHE[key] = tok
        return tok
