"""Storage tiers: where products are staged and how they are published.

Three tiers, each relocatable:

* ``fast``    tmpfs (RAM) for staging when it has room,
* ``stage``   local SSD for staging when tmpfs is too small,
* ``products`` the data root (HDD) holding the organised product tree.

Products are written under a staging directory and appear at their final
path only through an atomic rename, so a reader never sees half a product.
Staging names carry their writer's host, boot, PID and start time
(``owner.Owner``); ``clean_stale`` removes this host's entries whose writer
is gone (a process killed mid-write leaves litter that the next run sweeps
up). Another host's entries on a shared stage root may be in flight: they
are removed only past ``FOREIGN_STALE_SECONDS`` untouched, with a warning.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from ..pause_points import pause_point
from .owner import Owner

log = logging.getLogger(__name__)

STAGING_PREFIX = ".staging-"
PARTIAL_PREFIX = ".partial-"
OLD_PREFIX = ".replaced-"
#: Other hosts' (and unattributable) staging entries are kept this long after
#: their last change: far beyond any conversion or publish.
FOREIGN_STALE_SECONDS = 2 * 86400.0


class PathEscapeError(ValueError):
    """A relative product path tried to leave its tier's root."""


class DiskFull(OSError):
    """ENOSPC while writing ``path``: says which filesystem, how full, and what was going on."""

    def __init__(self, path: Path, doing: str, need_bytes: int | None = None):
        path = Path(path)
        probe = path
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        stats = os.statvfs(probe)
        free, total = free_bytes(probe), stats.f_blocks * stats.f_frsize
        need = f"; about {need_bytes / 1e6:.0f} MB needed" if need_bytes else ""
        super().__init__(errno.ENOSPC, f"no space left on device (ENOSPC) while {doing} {path}: "
                                       f"{free / 1e6:.1f} MB free of {total / 1e6:.1f} MB{need}")
        self.path, self.doing = path, doing

    def __str__(self) -> str:
        return self.strerror


def is_disk_full(exc: BaseException) -> bool:
    """ENOSPC (or EDQUOT, a full quota), also inside a ``shutil.Error`` list."""
    if isinstance(exc, shutil.Error) and exc.args and isinstance(exc.args[0], list):
        return any("[Errno 28]" in str(why) for *_, why in exc.args[0])
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def confined(root: Path, *parts: str | os.PathLike) -> Path:
    """``root / parts`` resolved, refusing anything that lands outside ``root``.

    Absolute parts and ``..`` are allowed only if the result stays inside, so
    ``confined(root, "/etc/passwd")`` and ``confined(root, "../x")`` raise.
    """
    root = Path(root).resolve()
    target = root.joinpath(*[os.fspath(p) for p in parts]).resolve()
    if target != root and root not in target.parents:
        raise PathEscapeError(f"{target} is outside the storage root {root}")
    return target


def free_bytes(path: Path) -> int:
    """Free bytes available to this user on the filesystem holding ``path``."""
    path = Path(path)
    while not path.exists():
        path = path.parent
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2). False if unsupported."""
    renameat2 = getattr(_libc, "renameat2", None)
    if renameat2 is None:
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EXDEV, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), f"{a} <-> {b}")


def remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _fsync_tree(path: Path) -> None:
    paths = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _same_filesystem(a: Path, b: Path) -> bool:
    def device(p: Path) -> int:
        while not p.exists():
            p = p.parent
        return p.stat().st_dev

    return device(a) == device(b)


def _copy(source: Path, target: Path) -> None:
    """Copy a file or tree (symlinks as links), stopping at the first error.

    ``shutil.copytree`` goes on after a failed file and reports them all at
    the end: on a full disk, one error per file of the MS.
    """
    if not source.is_dir():
        shutil.copy2(source, target)
        return
    for root, dirs, files in os.walk(source):
        here = target / Path(root).relative_to(source)
        here.mkdir()
        for name in files + [d for d in dirs if (Path(root) / d).is_symlink()]:
            src = Path(root) / name
            if src.is_symlink():
                (here / name).symlink_to(os.readlink(src))
            else:
                shutil.copy2(src, here / name)
        dirs[:] = [d for d in dirs if not (Path(root) / d).is_symlink()]


def publish(staged: Path, final: Path) -> Path:
    """Move a finished file or directory to ``final`` atomically.

    Same filesystem: one rename (an existing product is swapped out in one
    step with renameat2, then deleted). Across filesystems: copy into a hidden
    partial sibling of ``final``, fsync, then rename. Re-publishing replaces
    the old product; readers see the old one or the new one, never a mixture.
    """
    staged, final = Path(staged), Path(final)
    if not staged.exists():
        raise FileNotFoundError(f"nothing staged at {staged}")
    final.parent.mkdir(parents=True, exist_ok=True)
    token = staging_token()
    if not _same_filesystem(staged, final.parent):
        partial = final.parent / f"{PARTIAL_PREFIX}{token}-{final.name}"
        try:
            _copy(staged, partial)
            _fsync_tree(partial)
        except BaseException as exc:
            remove_path(partial)  # a full disk must not keep half a product's bytes
            if is_disk_full(exc):
                raise DiskFull(final, "publishing") from exc
            raise
        remove_path(staged)
        staged = partial
        pause_point("publish:copied")
    if final.exists() or final.is_symlink():
        if _exchange(staged, final):
            pause_point("publish:swapped")
            remove_path(staged)  # now holds the previous product
            return final
        old = final.parent / f"{OLD_PREFIX}{token}-{final.name}"
        os.rename(final, old)
        os.rename(staged, final)
        remove_path(old)
    else:
        os.rename(staged, final)
    return final


def staging_token() -> str:
    """``<owner>-<random>``: unique, and tells ``clean_stale`` who wrote it."""
    return f"{Owner.current().token()}-{uuid.uuid4().hex[:8]}"


def _last_change(entry: Path) -> float:
    """Newest mtime of ``entry`` and its direct children (a writer adds files as it goes)."""
    newest = entry.lstat().st_mtime
    if entry.is_dir() and not entry.is_symlink():
        with contextlib.suppress(OSError), os.scandir(entry) as children:
            for child in children:
                newest = max(newest, child.stat(follow_symlinks=False).st_mtime)
    return newest


class StaleEntry(NamedTuple):
    path: Path
    why: str
    foreign: bool  # another host's (or nobody's): maybe a stuck writer there, worth a warning


def stale_entries(directory: Path, foreign_age: float = FOREIGN_STALE_SECONDS) -> list[StaleEntry]:
    """Staging/partial/replaced litter whose writer is gone, each with why.

    This host's entries qualify once their writer no longer runs; other
    hosts' (and names without an owner) only after ``foreign_age`` s untouched.
    Nothing is removed here (housekeeping's dry run lists these).
    """
    found: list[StaleEntry] = []
    directory = Path(directory)
    if not directory.is_dir():
        return found
    now = time.time()
    for entry in directory.iterdir():
        prefix = next((p for p in (STAGING_PREFIX, PARTIAL_PREFIX, OLD_PREFIX) if entry.name.startswith(p)), None)
        if prefix is None:
            continue
        owner = Owner.parse(entry.name[len(prefix):])
        try:
            if owner is not None and owner.on_this_host():
                if owner.running():
                    continue
                why = f"its writer, PID {owner.pid} on this host, is gone"
            else:
                age = now - _last_change(entry)
                if age <= foreign_age:
                    continue
                writer = f"host {owner.host}" if owner else "an unknown writer"
                why = f"staging by {writer} untouched for {age / 3600:.1f} h (limit {foreign_age / 3600:.1f} h)"
        except FileNotFoundError:  # its writer finished meanwhile
            continue
        found.append(StaleEntry(entry, why, foreign=not (owner is not None and owner.on_this_host())))
    return found


def clean_stale(directory: Path, foreign_age: float = FOREIGN_STALE_SECONDS) -> list[Path]:
    """Remove what ``stale_entries`` finds, logging each path and why.

    Another host's entry is logged as a warning: it may be a stuck writer there.
    """
    removed: list[Path] = []
    for entry, why, foreign in stale_entries(directory, foreign_age):
        log.log(logging.WARNING if foreign else logging.INFO, "removing %s: %s", entry, why)
        remove_path(entry)
        removed.append(entry)
    return removed


@dataclass(frozen=True)
class StorageTiers:
    """The data root and its tiers. Plain code; the Dagster resource wraps it."""

    data_root: Path
    fast_root: Path | None = None  # tmpfs; None disables the RAM tier
    stage_root: Path | None = None  # SSD staging; defaults to <data_root>/staging
    fast_margin: float = 0.25  # keep this fraction of tmpfs free after staging

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_root", Path(self.data_root).expanduser().resolve())
        if self.fast_root is not None:
            object.__setattr__(self, "fast_root", Path(self.fast_root).expanduser().resolve())
        stage = self.stage_root if self.stage_root is not None else self.data_root / "staging"
        object.__setattr__(self, "stage_root", Path(stage).expanduser().resolve())

    def product_path(self, *parts: str | os.PathLike) -> Path:
        """A path in the product tree, confined to the data root."""
        return confined(self.data_root, *parts)

    def staging_root_for(self, need_bytes: int) -> Path:
        """tmpfs if it holds ``need_bytes`` with the safety margin, else SSD."""
        if self.fast_root is not None:
            try:
                self.fast_root.mkdir(parents=True, exist_ok=True)
                stats = os.statvfs(self.fast_root)
                total = stats.f_blocks * stats.f_frsize
                if free_bytes(self.fast_root) - need_bytes >= self.fast_margin * total:
                    return self.fast_root
            except OSError:
                pass
        self.stage_root.mkdir(parents=True, exist_ok=True)
        return self.stage_root

    def sweep(self) -> list[Path]:
        """Remove dead writers' litter from both staging tiers (``clean_stale``).

        Both, not only the one about to be used: a writer killed on the other
        tier (chosen by free space then) would hold its space until housekeeping.
        """
        roots = [self.stage_root, *([self.fast_root] if self.fast_root is not None else [])]
        return [path for root in roots for path in clean_stale(root)]

    @contextlib.contextmanager
    def staging(self, label: str, need_bytes: int = 0) -> Iterator[Path]:
        """A private scratch directory, removed on exit whatever happens."""
        root = self.staging_root_for(need_bytes)
        self.sweep()
        safe_label = "".join(c if c.isalnum() or c in "-_.:" else "_" for c in label)
        path = root / f"{STAGING_PREFIX}{staging_token()}-{safe_label}"
        path.mkdir(parents=True)
        try:
            yield path
        finally:
            remove_path(path)

    def publish(self, staged: Path, *final_parts: str | os.PathLike) -> Path:
        """Publish a staged file/dir to a confined path under the data root."""
        final = self.product_path(*final_parts)
        clean_stale(final.parent)
        return publish(staged, final)
