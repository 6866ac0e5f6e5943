"""Files on disk for the API and the CLI: inputs opened with one-line errors, and outputs that
never exist half-written.

An output is written to a temporary file beside its target (anonymous, O_TMPFILE, where the file
system allows, so that even SIGKILL leaves nothing behind; else a name with this process's id,
which later runs remove once the process is gone), synced, and only then linked into place:
the target's name never holds a partial file, and without force an existing file is never
replaced, not even one that appeared while we worked. '-' is stdin or stdout.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import stat
import sys
import tempfile
from dataclasses import dataclass
from glob import escape as glob_escape
from pathlib import Path
from typing import BinaryIO, Iterator

from .errors import ArzipError

SUFFIX = ".arz"
STDIO = Path("-")
_commits = 0  # outputs this process has begun to link into place (see commits)


def commits() -> int:
    """How many outputs this process has begun to link into place: arzip.many's workers compare
    it before and after a signal, so that a job whose output is on its way to its name finishes
    and is reported instead of being cut off with its output already there."""
    return _commits


def default_output(source: Path, decompress: bool) -> Path:
    if source == STDIO:
        return STDIO
    if not decompress:
        return source.with_name(source.name + SUFFIX)
    if source.name.endswith(SUFFIX):
        if source.name[:-len(SUFFIX)] in ("", ".", ".."):  # no file name, or a folder's
            raise ArzipError(f"{source}: no name left once {SUFFIX} is removed; use -o to name the output")
        return source.with_name(source.name[:-len(SUFFIX)])
    raise ArzipError(f"{source}: unknown suffix (expected {SUFFIX}); use -o to name the output")


@contextlib.contextmanager
def open_input(path: Path) -> Iterator[BinaryIO]:
    """The file (or stdin for '-') opened for reading, with one-line errors."""
    if path == STDIO:
        yield sys.stdin.buffer
        return
    if not path.exists():
        raise ArzipError(f"{path}: no such file")
    if path.is_dir():
        raise ArzipError(f"{path}: is a directory")
    try:
        f = open(path, "rb")
    except OSError as e:
        raise ArzipError(f"{path}: cannot read ({e.strerror})") from None
    with f:
        yield f


@dataclass(frozen=True)
class Metadata:
    """What gzip keeps of an input in its output: the permission bits and the times."""
    mode: int
    atime_ns: int
    mtime_ns: int


def metadata_of(path: Path, f: BinaryIO) -> Metadata | None:
    """The permission bits and times of the regular file `path`, open as f (None for stdin,
    pipes and devices: nothing to keep)."""
    if path == STDIO:
        return None
    try:
        st = os.fstat(f.fileno())
    except (OSError, ValueError, AttributeError):
        return None
    return Metadata(stat.S_IMODE(st.st_mode), st.st_atime_ns, st.st_mtime_ns) if stat.S_ISREG(st.st_mode) else None


def read_all(f: BinaryIO, path: Path) -> bytes:
    try:
        return f.read()
    except OSError as e:
        raise ArzipError(f"{path}: cannot read ({e.strerror})") from None


def read_input(path: Path) -> bytes:
    with open_input(path) as f:
        return read_all(f, path)


def check_target(source: Path, target: Path, force: bool) -> None:
    if target == STDIO:
        return
    if target.exists():
        if target.is_dir():
            raise ArzipError(f"{target}: is a directory")
        if source != STDIO and source.exists() and os.path.samefile(source, target):
            raise ArzipError(f"{target}: output would overwrite the input")
        if not force:
            raise ArzipError(f"{target} already exists (use -f to overwrite)")
    parent = target.parent
    if not parent.is_dir():
        raise ArzipError(f"{parent}: output folder does not exist")


_ANONYMOUS_OK: dict[int, bool] = {}  # per file system (st_dev): can anonymous files be linked?


def _anonymous_ok(parent: Path) -> bool:
    """Whether parent's file system lets an O_TMPFILE file be linked into place (probed once:
    some file systems and sandboxes refuse the link)."""
    dev = os.stat(parent).st_dev
    if dev not in _ANONYMOUS_OK:
        ok = False
        if hasattr(os, "O_TMPFILE") and os.path.isdir("/proc/self/fd"):
            try:
                fd = os.open(parent, os.O_TMPFILE | os.O_WRONLY, 0o600)
                probe = parent / f".arzip-probe.{os.getpid()}.tmp"
                try:
                    os.link(f"/proc/self/fd/{fd}", probe, follow_symlinks=True)
                    os.unlink(probe)
                    ok = True
                finally:
                    os.close(fd)
            except OSError:
                pass
        _ANONYMOUS_OK[dev] = ok
    return _ANONYMOUS_OK[dev]


def _remove_stale(parent: Path, name: str) -> None:
    """Temporary files of earlier runs for this target whose process is gone (killed with
    SIGKILL, which nothing can catch): removed, so they never accumulate."""
    for path in parent.glob(f".{glob_escape(name)}.*.tmp"):
        try:
            pid = int(path.name[len(name) + 2:].split(".", 1)[0])
            os.kill(pid, 0)
        except ProcessLookupError:
            path.unlink(missing_ok=True)
        except (ValueError, PermissionError, OSError):
            continue


def _temp_name(parent: Path, name: str) -> str | None:
    """None where parent's file system takes anonymous files (O_TMPFILE), so that even a
    process killed with SIGKILL leaves nothing behind; else a fresh name for a temporary file
    beside target `name`, named after this process, which later runs remove if it was left
    behind."""
    if _anonymous_ok(parent):
        return None
    _remove_stale(parent, name)
    return str(parent / f".{name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")


def _create(parent: Path, tmp: str | None) -> int:
    """The temporary file, open for writing: anonymous in parent, or new at tmp (never an
    existing file or a link). It is private (0600) while it is written: a private input's
    content is never readable by others on its way out; it takes its final mode when done."""
    if tmp is None:
        return os.open(parent, os.O_TMPFILE | os.O_WRONLY, 0o600)
    return os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_WRONLY | os.O_CLOEXEC, 0o600)


def _default_mode() -> int:
    """What a new file's mode would be: 0666 less the umask (read without changing it where
    /proc tells it)."""
    try:
        with open("/proc/self/status") as f:
            umask = next(int(line.split()[1], 8) for line in f if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError):
        umask = os.umask(0o022)
        os.umask(umask)
    return 0o666 & ~umask


def _publish(fd: int, tmp: str | None, target: Path, force: bool) -> str | None:
    """Give the written file its final name; returns a temporary name still to remove, if any.
    Without force the link fails if target exists: no race with another writer."""
    source = tmp or f"/proc/self/fd/{fd}"
    if force:
        if tmp is None:  # an anonymous file needs a name before it can replace one
            tmp = tempfile.mktemp(dir=target.parent, prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp")
            os.link(source, tmp, follow_symlinks=True)  # fails rather than replace a file of that name
        os.replace(tmp, target)
        return None
    try:
        os.link(source, target, follow_symlinks=True)
    except FileExistsError:
        raise ArzipError(f"{target} already exists (use -f to overwrite)") from None
    except OSError:
        if tmp is None:
            raise
        if target.exists():  # a file system without hard links: check, then rename
            raise ArzipError(f"{target} already exists (use -f to overwrite)") from None
        os.replace(tmp, target)
        return None
    return tmp


@contextlib.contextmanager
def open_output(target: Path, force: bool, keep: Metadata | None = None) -> Iterator[BinaryIO]:
    """A file to write target's content into ('-': stdout). For a path, the content goes to a
    temporary file beside target (anonymous where the system allows), synced and only then
    linked into place when the block ends without an error: the final name never holds a
    partial file. Without force an existing target is never replaced, even one that appeared
    while we were working. keep: the input's permission bits and times, which the output
    takes (as gzip does: a private file stays private)."""
    global _commits
    if target == STDIO:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    parent = target.parent
    tmp = None
    try:
        try:  # the name before the file: an interrupt just after its creation still finds it below
            tmp = _temp_name(parent, target.name)
            fd = _create(parent, tmp)
        except OSError as e:
            raise ArzipError(f"{parent}: cannot write ({e.strerror})") from None
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fchmod(f.fileno(), keep.mode if keep is not None else _default_mode())
            if keep is not None:
                os.utime(f.fileno(), ns=(keep.atime_ns, keep.mtime_ns))
            os.fsync(f.fileno())
            _commits += 1  # before the link: a signal from here on finds the job committed
            tmp = _publish(f.fileno(), tmp, target, force)
    except OSError as e:
        raise ArzipError(f"{target}: cannot write ({e.strerror})") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def write_atomic(target: Path, data: bytes, force: bool, keep: Metadata | None = None) -> None:
    with open_output(target, force, keep) as f:
        f.write(data)


def remove(source: Path, output: Path) -> None:
    """Delete source once its output is complete: the output's folder is synced first, so that
    a crash cannot leave the input gone and the output's name not yet on disk."""
    try:
        fd = os.open(output.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        source.unlink()
    except OSError as e:
        raise ArzipError(f"{source}: cannot remove ({e.strerror}); the output is complete") from None


class Digest:
    """A writer that keeps only the BLAKE2b-128 of what it is given."""

    def __init__(self) -> None:
        self.hash = hashlib.blake2b(digest_size=16)

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        return len(data)


class Prefixed:
    """A reader that first returns `head`, then reads from f."""

    def __init__(self, head: bytes, f) -> None:
        self.head, self.f = head, f

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            part, self.head = self.head, b""
            return part + self.f.read()
        part, self.head = self.head[:n], self.head[n:]
        return part + (self.f.read(n - len(part)) if n > len(part) else b"")


class CountingReader:
    def __init__(self, f, count: int = 0) -> None:
        self.f, self.count = f, count

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.count += len(data)
        return data
