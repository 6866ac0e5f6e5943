"""Public API: compress and decompress images as arrays, archives as bytes, and files on disk.

The data paths: image file -> picture (samples + what rewrites the file) -> picture_codec
(each plane through a learned model, image_codec, or the byte path) -> container;
any other bytes -> byte_archive (blocks) -> byte_codec (network + mixer + coder, step by step)
-> byte_container.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
from glob import escape as glob_escape
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

import numba
import numpy as np

from . import byte_archive, container, picture, registry, schedule, transforms
from .byte_mixer import NetTables
from .errors import ArzipError, FormatError, UnsupportedInput

# torch and the image codec are imported on first use: the byte path never needs them, and
# importing torch costs a second and a quarter of a gigabyte.

SUFFIX = ".arz"


MAX_DEFAULT_THREADS = 8  # per-wave batches are a few hundred pixels: more threads hardly help


def default_threads() -> int:
    """The cores this process may run on, at most MAX_DEFAULT_THREADS."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, MAX_DEFAULT_THREADS))


_threads: int | None = None
_device = "cpu"
DEFAULT_MAX_PIXELS = container.MAX_PIXELS
_max_pixels = DEFAULT_MAX_PIXELS


def set_max_pixels(n: int) -> None:
    """Refuse images (archives and inputs) of more than n pixels before allocating anything for
    them: a header claiming 10^6 x 10^6 pixels is an error at once."""
    global _max_pixels
    if n < 1:
        raise ArzipError(f"--max-pixels must be at least 1 (got {n})")
    _max_pixels = n


def set_threads(n: int) -> None:
    """Use n threads for the image network and the table kernels."""
    global _threads
    if n < 1:
        raise ArzipError(f"--threads must be at least 1 (got {n})")
    _threads = n
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)


def current_threads() -> int:
    return _threads or default_threads()


def set_device(name: str) -> str:
    """Run the image network on 'cpu', 'cuda' (or 'cuda:N'), or 'auto' (a GPU when torch sees
    one, decided when an image is first coded). Archives do not depend on it: every layer is
    exact on any device. Returns the device name (or 'auto')."""
    global _device
    if name.split(":")[0] not in ("cpu", "cuda", "auto"):
        raise ArzipError(f"unknown device '{name}' (use cpu, cuda or auto)")
    if name.startswith("cuda") and not _torch().cuda.is_available():
        raise ArzipError(f"device '{name}' requested, but torch sees no CUDA GPU")
    _device = name
    return name


def _torch():
    import torch
    if _threads is not None:
        torch.set_num_threads(_threads)
    return torch


def _image_device() -> str:
    if _device == "auto":
        return "cuda" if _torch().cuda.is_available() else "cpu"
    return _device


def _picture_of(image) -> picture.Picture:
    """A Picture from what the API accepts: a Picture, a PIL image, or a numpy array of shape
    (H, W) or (H, W, C), C = 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA, uint8 or uint16."""
    if isinstance(image, picture.Picture):
        return image
    if hasattr(image, "mode") and hasattr(image, "getpalette"):  # a PIL image
        return picture.from_pil(image)
    pixels = np.asarray(image)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    color_types = {1: picture.GRAY, 2: picture.GRAY_ALPHA, 3: picture.RGB, 4: picture.RGBA}
    if pixels.ndim != 3 or pixels.shape[2] not in color_types or pixels.dtype not in (np.uint8, np.uint16):
        raise UnsupportedInput(f"expected an (H, W[, 1..4]) uint8 or uint16 array, got {pixels.dtype} "
                               f"{pixels.shape}")
    if pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise UnsupportedInput("empty image")
    return picture.new(pixels, color_types[pixels.shape[2]], 16 if pixels.dtype == np.uint16 else 8)


def compress_image(image, model: str | None = None, level: int | None = None) -> bytes:
    """An image -> .arz archive bytes: a numpy array ((H, W) or (H, W, C) uint8/uint16, C = 1..4),
    a PIL image or a Picture. The colour planes go through the named model, or the one behind
    compression level 1 (fastest) .. 9 (smallest); other kinds of image through the coder that
    suits them (arzip/picture_codec.py)."""
    from . import picture_codec
    return picture_codec.encode(_picture_of(image), level, model, _image_device())


def decompress_picture(blob: bytes) -> picture.Picture:
    """.arz image archive -> Picture (samples, colour type, depth, format), checksum verified."""
    from . import picture_codec
    if container.kind_of(blob[:6]) != container.KIND_IMAGE:
        raise FormatError("not an image archive (use decompress)")
    return picture_codec.decode(blob, _image_device(), _max_pixels)


def decompress_image(blob: bytes) -> np.ndarray:
    """.arz image archive -> (H, W, C) array of the samples (uint8, or uint16 for 16-bit
    images; palette images give their indices: decompress_pil gives the colours)."""
    return decompress_picture(blob).samples


def decompress_pil(blob: bytes):
    """.arz image archive -> PIL image in the original's mode (16-bit colour has none: refused)."""
    return picture.to_pil(decompress_picture(blob))


def compress_bytes(data: bytes) -> bytes:
    """Any bytes -> .arz archive bytes (the byte path: byte model, or a classical coder per
    block where that is smaller)."""
    out = io.BytesIO()
    _compress_bytes_stream(io.BytesIO(data), out)
    return out.getvalue()


def decompress_bytes(blob: bytes) -> bytes:
    """.arz archive of the bytes kind -> the original bytes, checksum verified."""
    out = io.BytesIO()
    byte_archive.decompress_stream(io.BytesIO(blob), out, _byte_net)
    return out.getvalue()


def compress(data: bytes, level: int | None = None, as_: str = "auto", suffix: str = "") -> bytes:
    """Any file's bytes -> archive. as_="auto" codes an image file arzip can rewrite exactly
    (PNG of any mode, netpbm, BMP, TIFF, TGA, QOI, lossless WebP) as an image, and everything
    else as bytes; "bytes" and "image" force a path. suffix: the file's name suffix (TGA has
    no magic number)."""
    _check_path(as_)
    pic = _picture_from_file(data, as_, suffix=suffix)
    return compress_image(pic, level=level) if pic else compress_bytes(data)


PATHS = ("auto", "bytes", "image")


def _check_path(as_: str) -> None:
    if as_ not in PATHS:
        raise ArzipError(f"unknown path '{as_}' (use auto, bytes or image)")


def _picture_from_file(data: bytes, as_: str, name: str = "input", suffix: str = "") -> picture.Picture | None:
    """The picture when the image path takes data, None for the byte path; an image the image
    path cannot rewrite exactly goes the byte path unless as_ forces "image"."""
    if as_ == "bytes":
        return None
    try:
        return picture.read(data, name, suffix, _max_pixels)
    except UnsupportedInput:
        if as_ == "image":
            raise
        return None


def decompress(blob: bytes, to: str | None = None) -> bytes:
    """Archive -> the original bytes (bytes kind), or the image file (image kind) in its own
    format, or in `to` ("png")."""
    if container.kind_of(blob[:6]) == container.KIND_BYTES:
        return decompress_bytes(blob)
    return picture.write(decompress_picture(blob), to)


def _byte_net(name: str, sha16: bytes) -> NetTables:
    return registry.load_bytes(registry.installed(name, sha16))


def _compress_bytes_stream(src: BinaryIO, dst: BinaryIO) -> byte_archive.Summary:
    name = registry.bytes_model()
    return byte_archive.compress_stream(src, dst, registry.load_bytes(name), name,
                                        bytes.fromhex(registry.model_sha256(name))[:16])


def info(blob: bytes) -> dict:
    """Summary of an archive, from its headers alone (no decoding)."""
    if container.kind_of(blob[:6]) == container.KIND_BYTES:
        return _bytes_info(blob)
    header, _ = container.unpack(blob, _max_pixels)
    subpixels = header.width * header.height * picture.CHANNELS.get(header.color_type, 1)
    parts = []
    for part in header.parts:
        name, sha8 = header.models[part.model] if part.model != container.NO_MODEL else ("none", b"")
        installed = registry.find_by_hash_prefix(sha8) if sha8 else None
        entry = {"plane": container.PLANES[part.plane], "method": container.METHODS[part.method],
                 "model": name, "model_sha256": registry.model_sha256(installed) if installed else sha8.hex(),
                 "bytes": part.payload_len, "nll_bits": part.nll_bits}
        if part.method == container.METHOD_MODEL:
            entry.update(levels=registry.levels_of(installed) if installed else [],
                         layout=schedule.LAYOUTS.get(part.layout, "?"), scale_offsets=list(part.scale_offsets))
        else:
            entry["transform"] = transforms.TRANSFORMS.get(part.transform, "?")
        parts.append(entry)
    payload = sum(p.payload_len for p in header.parts)
    return {
        "kind": "image",
        "format_version": container.FORMAT_VERSION,
        "width": header.width,
        "height": header.height,
        "mode": f"{header.depth}-bit {picture.COLOR_NAMES.get(header.color_type, '?')}",
        "format": picture.FORMATS[header.format] if header.format < len(picture.FORMATS) else "?",
        "parts": parts,
        "compressed_bytes": len(blob),
        "header_bytes": header.size,
        "payload_bytes": payload,
        "bits_per_subpixel": 8 * len(blob) / subpixels,
        "nll_bits": header.nll_bits,
        "nll_bits_per_subpixel": header.nll_bits / subpixels,
        "payload_over_nll_percent": 100 * (8 * payload / header.nll_bits - 1) if header.nll_bits > 0 else 0.0,
    }


def _bytes_info(blob: bytes) -> dict:
    scan = byte_archive.scan(io.BytesIO(blob))
    installed = registry.find_by_hash_prefix(scan["model_sha16"])
    n = scan["total_len"]
    return {
        "kind": "bytes",
        "format_version": container.FORMAT_VERSION,
        "original_bytes": n,
        "model": scan["model"],
        "model_sha256": registry.model_sha256(installed) if installed else scan["model_sha16"].hex(),
        "blocks": scan["blocks"],
        "methods": scan["methods"],
        "compressed_bytes": len(blob),
        "bits_per_byte": 8 * len(blob) / n if n else 0.0,
        "nll_bits": scan["nll_bits"],
        "nll_bits_per_byte": scan["nll_bits"] / n if n else 0.0,
    }


# -- files ------------------------------------------------------------------------------------

STDIO = Path("-")


@dataclass(frozen=True)
class Report:
    """What one file operation did; the CLI turns it into its summary line."""
    source: Path
    target: Path
    source_bytes: int
    target_bytes: int
    kind: str                  # "image" or "bytes"
    subpixels: int = 0         # images
    image_kind: str = ""       # images: e.g. "8-bit RGB"
    methods: tuple[str, ...] = ()  # bytes: how each block was coded


def default_output(source: Path, decompress: bool) -> Path:
    if source == STDIO:
        return STDIO
    if not decompress:
        return source.with_name(source.name + SUFFIX)
    if source.name.endswith(SUFFIX) and len(source.name) > len(SUFFIX):
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


def compress_file(source: str | Path, target: str | Path | None = None, force: bool = False,
                  model: str | None = None, level: int | None = None, as_: str = "auto",
                  remove_source: bool = False) -> Report:
    """Compress a file (or stdin, '-') to target (default source + .arz; '-' is stdout). An image
    file arzip can rewrite exactly goes the image path unless as_="bytes"; anything else goes
    the byte path, streamed. remove_source: delete the source once the archive is written,
    synced and verified by decoding it."""
    source = Path(source)
    target = Path(target) if target is not None else default_output(source, decompress=False)
    _check_path(as_)
    _check_removal(source, target, remove_source)
    with open_input(source) as src:
        check_target(source, target, force)
        head = src.read(16)
        if as_ == "image" or (as_ == "auto" and picture.sniff(head, source.suffix)):
            data = head + _read_all(src, source)
            pic = _picture_from_file(data, as_, str(source), source.suffix)
            if pic:
                blob = compress_image(pic, model, level)
                write_atomic(target, blob, force)
                if remove_source:
                    _verify_image(target, pic.checksum())
                    _remove(source)
                return Report(source, target, len(data), len(blob), "image",
                              pic.samples.size, image_kind=pic.kind)
            src, head = io.BytesIO(data), b""
        with open_output(target, force) as dst:
            summary = _compress_bytes_stream(_Prefixed(head, src), dst)
    if remove_source:
        _verify_bytes(target, source)
        _remove(source)
    return Report(source, target, summary.raw_bytes, summary.archive_bytes, "bytes", methods=summary.methods)


def decompress_file(source: str | Path, target: str | Path | None = None,
                    force: bool = False, to: str | None = None, remove_source: bool = False) -> Report:
    """Restore an archive (or stdin, '-') to target: the original bytes, or the image file in
    its own format (or in `to`: "png"; the default name then ends in .png). remove_source:
    delete the archive once the output is written (decoding verified its checksum)."""
    source = Path(source)
    if target is None:
        target = default_output(source, decompress=True)
        if to and target != STDIO:
            target = target.with_suffix(picture.SUFFIXES[to])
    target = Path(target)
    _check_removal(source, target, remove_source)
    with open_input(source) as src:
        check_target(source, target, force)
        head = src.read(6)
        if container.kind_of(head) == container.KIND_BYTES:
            if to:
                raise ArzipError(f"{source}: --to applies to images; this archive holds a file coded as bytes")
            counter = _CountingReader(src, len(head))
            with open_output(target, force) as dst:
                n = byte_archive.decompress_stream(_Prefixed(head, counter), dst, _byte_net)
            report = Report(source, target, counter.count, n, "bytes")
        else:
            blob = head + _read_all(src, source)
            pic = decompress_picture(blob)
            data = picture.write(pic, to)
            write_atomic(target, data, force)
            report = Report(source, target, len(blob), len(data), "image", pic.samples.size, image_kind=pic.kind)
    if remove_source:
        _remove(source)
    return report


def test_file(source: str | Path) -> Report:
    """Decode an archive (or stdin, '-') completely and check it, writing nothing (gzip -t)."""
    source = Path(source)
    with open_input(source) as src:
        head = src.read(6)
        if container.kind_of(head) == container.KIND_BYTES:
            counter = _CountingReader(src, len(head))
            n = byte_archive.decompress_stream(_Prefixed(head, counter), _Digest(), _byte_net)
            return Report(source, STDIO, counter.count, n, "bytes")
        blob = head + _read_all(src, source)
    pic = decompress_picture(blob)
    return Report(source, STDIO, len(blob), pic.samples.nbytes, "image", pic.samples.size, image_kind=pic.kind)


class _Digest:
    """A writer that keeps only the BLAKE2b-128 of what it is given."""

    def __init__(self) -> None:
        self.hash = hashlib.blake2b(digest_size=16)

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        return len(data)


def _read_all(f: BinaryIO, path: Path) -> bytes:
    try:
        return f.read()
    except OSError as e:
        raise ArzipError(f"{path}: cannot read ({e.strerror})") from None


def _check_removal(source: Path, target: Path, remove_source: bool) -> None:
    if remove_source and STDIO in (source, target):
        raise ArzipError("--rm needs a named input and output (not '-' or -c)")


def _verify_image(target: Path, checksum: bytes) -> None:
    """Decode the written archive back from disk: it must give the very samples that went in."""
    with open(target, "rb") as f:
        pic = decompress_picture(f.read())
    if pic.checksum() != checksum:
        raise ArzipError(f"{target}: verification failed; the input was kept")


def _verify_bytes(target: Path, source: Path) -> None:
    """Decode the written archive back from disk and compare it with the input, byte for byte
    (through their BLAKE2b digests)."""
    decoded, original = _Digest(), _Digest()
    with open(target, "rb") as f:
        byte_archive.decompress_stream(f, decoded, _byte_net)
    with open(source, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            original.write(chunk)
    if decoded.hash.digest() != original.hash.digest():
        raise ArzipError(f"{target}: verification failed; the input was kept")


def _remove(source: Path) -> None:
    try:
        source.unlink()
    except OSError as e:
        raise ArzipError(f"{source}: cannot remove ({e.strerror}); the output is complete") from None


class _Prefixed:
    """A reader that first returns `head`, then reads from f."""

    def __init__(self, head: bytes, f) -> None:
        self.head, self.f = head, f

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            part, self.head = self.head, b""
            return part + self.f.read()
        part, self.head = self.head[:n], self.head[n:]
        return part + (self.f.read(n - len(part)) if n > len(part) else b"")


class _CountingReader:
    def __init__(self, f, count: int = 0) -> None:
        self.f, self.count = f, count

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.count += len(data)
        return data


def read_input(path: Path) -> bytes:
    with open_input(path) as f:
        return _read_all(f, path)


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


def _temp_file(parent: Path, name: str) -> tuple[int, str | None]:
    """An open file in parent for target `name`: anonymous (O_TMPFILE) where the file system
    allows, so that even a process killed with SIGKILL leaves nothing behind; else a temporary
    file named after this process, which later runs remove if it was left behind."""
    if _anonymous_ok(parent):
        return os.open(parent, os.O_TMPFILE | os.O_WRONLY, 0o666), None
    _remove_stale(parent, name)
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{name}.{os.getpid()}.", suffix=".tmp")
    os.fchmod(fd, 0o666 & ~_umask())
    return fd, tmp


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
def open_output(target: Path, force: bool) -> Iterator[BinaryIO]:
    """A file to write target's content into ('-': stdout). For a path, the content goes to a
    temporary file beside target (anonymous where the system allows), synced and only then
    linked into place when the block ends without an error: the final name never holds a
    partial file. Without force an existing target is never replaced, even one that appeared
    while we were working."""
    if target == STDIO:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    parent = target.parent
    try:
        fd, tmp = _temp_file(parent, target.name)
    except OSError as e:
        raise ArzipError(f"{parent}: cannot write ({e.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
            tmp = _publish(f.fileno(), tmp, target, force)
    except OSError as e:
        raise ArzipError(f"{target}: cannot write ({e.strerror})") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def write_atomic(target: Path, data: bytes, force: bool) -> None:
    with open_output(target, force) as f:
        f.write(data)
