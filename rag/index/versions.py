"""Index versions: each build is a complete directory, ``index`` a symlink to the current one.

Layout of a home::

    index -> index-versions/20250101T120000123456Z-3f2a     (relative symlink)
    index-versions/20250101T120000123456Z-3f2a/             the current index
    index-versions/20241231T090000000000Z-9c1d/             the previous one, kept
    index-versions/.tmp-<pid>-<hex>/                        a build in progress

A build writes into a ``.tmp-`` directory, renames it to its version name once complete
(:func:`publish`) and then replaces the ``index`` symlink with one rename
(:func:`point`). A crash at any point leaves ``index`` pointing at a complete index, the
old one or the new one: there is no moment without one. The previous version is kept so
that a reader still loading it when the link moves can finish, and as a manual rollback
(``ln -sfn index-versions/<previous> index``).

Homes made before versions (``index`` a real directory) are migrated by the first build:
the old directory moves into ``index-versions/`` and the link takes its place; a crash
between these two renames, or the two renames of the old swap (``.index.old-<pid>-…``),
is repaired by :func:`recover`, which points ``index`` at the newest complete version
(or moves the old copy back), without rebuilding anything.
"""

from __future__ import annotations

import os
import shutil
import uuid
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path

from rag.faults import fault
from rag.home import current_index, legacy_old_copies, versions_root
from rag.locks import pid_alive

MANIFEST = "manifest.json"
TMP_PREFIX = ".tmp-"
LEGACY_ID = "00000000T000000000000Z-legacy"


def _fsync_dir(path: Path) -> None:
    with suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _complete(path: Path) -> bool:
    # the manifest is written last: a directory with one is a whole index
    return path.is_dir() and (path / MANIFEST).is_file()


def new_build_dir(link: Path) -> Path:
    """A fresh temp directory for a build, inside the versions root."""
    root = versions_root(link)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f"{TMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    return tmp


def _new_id() -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{stamp}-{uuid.uuid4().hex[:4]}"


def publish(tmp: Path, link: Path) -> Path:
    """Rename a finished build to its version name (not yet current); the version path."""
    root = versions_root(link)
    version = root / _new_id()
    while version.exists():  # two builds in one microsecond: never under the write lock
        version = root / _new_id()
    os.replace(tmp, version)
    _fsync_dir(root)
    return version


def current(link: Path) -> Path | None:
    """The directory ``index`` stands for (resolved), or None when there is none."""
    return current_index(link)


def point(link: Path, version: Path) -> None:
    """Make ``link`` point at ``version`` with one atomic rename (migrating a real dir)."""
    if link.is_dir() and not link.is_symlink():
        # a home from before versions: its index becomes the oldest version
        legacy = versions_root(link) / LEGACY_ID
        if legacy.exists():
            shutil.rmtree(legacy)
        os.replace(link, legacy)
        fault("index:legacy-moved")
    rel = os.path.relpath(version, link.parent)
    tmp_link = link.with_name(f".{link.name}.link-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    os.symlink(rel, tmp_link, target_is_directory=True)
    try:
        os.replace(tmp_link, link)
    except BaseException:
        with suppress(FileNotFoundError):
            tmp_link.unlink()
        raise
    _fsync_dir(link.parent)


def drop(link: Path) -> None:
    """Remove the index altogether (the corpus has no clauses left).

    The versions are renamed aside first, so a crash half-way leaves no version for
    :func:`recover` to bring back; the aside copy is deleted now or by :func:`cleanup`.
    """
    aside = []
    for p in (versions_root(link), link):
        if p.is_dir() and not p.is_symlink():
            q = p.with_name(f".{p.name}.dropped-{os.getpid()}-{uuid.uuid4().hex[:8]}")
            os.replace(p, q)
            aside.append(q)
    if link.is_symlink():
        link.unlink()
    _fsync_dir(link.parent)
    for q in aside:
        shutil.rmtree(q, ignore_errors=True)


def recover(link: Path) -> str:
    """Repair a home whose ``index`` is missing after a crash; what was done, or "".

    Restores, never rebuilds: ``index`` is pointed at the newest complete version, or an
    old copy left between the two renames of an earlier swap is moved back.
    """
    if current(link) is not None:
        return ""
    root = versions_root(link)
    versions = sorted(p for p in root.glob("*") if not p.name.startswith(".") and _complete(p))
    if versions:
        point(link, versions[-1])
        return f"index restored: {link} -> {versions[-1].name}"
    olds = [p for p in legacy_old_copies(link) if _complete(p)]
    if olds:
        root.mkdir(parents=True, exist_ok=True)
        version = root / LEGACY_ID
        if version.exists():
            shutil.rmtree(version)
        os.replace(olds[-1], version)
        point(link, version)
        return f"index restored from {olds[-1].name}"
    return ""


def _owner_dead(rest: str) -> bool:
    """For a ``<pid>-<hex>`` name suffix: whether process ``pid`` is gone."""
    pid = rest.split("-", 1)[0]
    return pid.isdigit() and not pid_alive(int(pid))


def cleanup(link: Path, keep_previous: bool = True) -> list[Path]:
    """Remove dead builds' temp dirs and versions other than the current and previous one.

    Runs under the write lock only. "Previous" is the newest version older than the
    current one; a complete version newer than the current one was built by a writer
    that died before making it current, and goes.
    """
    removed: list[Path] = []
    root = versions_root(link)
    cur = current(link)
    for p in sorted(root.glob(f"{TMP_PREFIX}*")):
        if _owner_dead(p.name.removeprefix(TMP_PREFIX)):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    for p in sorted(link.parent.glob(f".{link.name}.link-*")):
        if p.is_symlink() and _owner_dead(p.name.split(".link-", 1)[1]):
            p.unlink()
            removed.append(p)
    for p in sorted(link.parent.glob(f".{link.name}*.dropped-*")):
        if _owner_dead(p.name.split(".dropped-", 1)[1]):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    if cur is None or cur.parent.resolve() != root.resolve():
        return removed
    versions = sorted(p for p in root.glob("*") if not p.name.startswith(".") and p.is_dir())
    older = [p for p in versions if p.name < cur.name]
    keep = {cur.name}
    if keep_previous and older:
        keep.add(older[-1].name)
    for p in versions:
        if p.name not in keep:
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed
