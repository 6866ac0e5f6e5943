"""Public API: compress and decompress images as arrays, archives as bytes, and files on disk.

The data paths: pixels -> image_codec (exact model + coder, wave by wave) -> container;
any other bytes -> byte_archive (blocks) -> byte_codec (network + mixer + coder, step by step)
-> byte_container.
"""
from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

import numba
import numpy as np

from . import byte_archive, container, image_io, registry, schedule
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


def set_threads(n: int) -> None:
    """Use n threads for the image network and the table kernels."""
    global _threads
    if n < 1:
        raise ArzipError(f"--threads must be at least 1 (got {n})")
    _threads = n
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)


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


def compress_image(pixels: np.ndarray, model: str | None = None, level: int | None = None) -> bytes:
    """(H, W, 3) uint8 RGB array -> .arz archive bytes, with the named model or the one behind
    compression level 1 (fastest) .. 9 (smallest); default: the default level. Levels the
    manifest lists as adaptive also fit the model's scales to the image (recorded in the
    header)."""
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise UnsupportedInput(f"expected an (H, W, 3) uint8 RGB array, got {pixels.dtype} "
                               f"{pixels.shape} (other image kinds are not supported yet)")
    if pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise UnsupportedInput("empty image")
    pixels = np.ascontiguousarray(pixels)
    from . import image_codec
    name = model or registry.model_for_level(level)
    exact_model = registry.load(name, _image_device())
    layout = schedule.layout_for(*pixels.shape[:2])
    offsets = image_codec.NO_OFFSETS
    if model is None and registry.adapts(level):
        offsets = image_codec.choose_scale_offsets(exact_model, pixels, layout)
    payload, nll = image_codec.encode_image(exact_model, pixels, layout, offsets)
    method = container.METHOD_MODEL
    if len(payload) >= pixels.size:  # e.g. pure noise: the raw pixels are smaller
        payload, method, offsets = pixels.tobytes(), container.METHOD_STORED, image_codec.NO_OFFSETS
    header = container.Header(
        kind=container.KIND_IMAGE, mode=container.MODE_RGB8, method=method, layout=layout,
        scale_offsets=offsets, model_name=name,
        model_sha256=bytes.fromhex(registry.model_sha256(name))[:16],
        width=pixels.shape[1], height=pixels.shape[0], nll_bits=nll,
        checksum=container.pixel_checksum(pixels.tobytes()), payload_len=len(payload),
        payload_crc=0)
    return container.pack(header, payload)


def _installed(name: str, sha16: bytes) -> str:
    """The installed model whose file hash starts with sha16 (an archive's record of its model)."""
    installed = registry.find_by_hash_prefix(sha16)
    if installed is None:
        raise FormatError(f"archive was made with model '{name}' (sha256 {sha16.hex()}...), "
                          "which is not installed")
    return installed


def _model_for(header: container.Header) -> str:
    return _installed(header.model_name, header.model_sha256)


def decompress_image(blob: bytes) -> np.ndarray:
    """.arz archive bytes -> (H, W, 3) uint8 array, checksum verified."""
    header, payload = container.unpack(blob)
    if header.method == container.METHOD_STORED:
        if len(payload) != header.subpixels:
            raise FormatError("corrupted archive (stored payload has the wrong size)")
        pixels = np.frombuffer(payload, dtype=np.uint8).reshape(header.height, header.width, 3).copy()
        return _verified(pixels, header)
    from . import image_codec
    model = registry.load(_model_for(header), _image_device())
    try:
        pixels = image_codec.decode_image(model, payload, header.height, header.width, header.layout,
                                          header.scale_offsets)
    except (ValueError, RuntimeError, IndexError, AssertionError) as e:  # constriction asserts on bad data
        raise FormatError(f"corrupted archive (payload does not decode: {e})") from None
    return _verified(pixels, header)


def _verified(pixels: np.ndarray, header: container.Header) -> np.ndarray:
    if container.pixel_checksum(pixels.tobytes()) != header.checksum:
        raise FormatError("checksum mismatch: the decoded image differs from the original "
                          "(corrupted archive or a different model build)")
    return pixels


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


def compress(data: bytes, level: int | None = None, as_: str = "auto") -> bytes:
    """Any file's bytes -> archive. as_="auto" codes an 8-bit RGB PNG as an image (its pixels
    are kept exactly) and everything else as bytes; "bytes" and "image" force a path."""
    _check_path(as_)
    image = _image_of(data, as_)
    return compress_image(image[0], level=level) if image else compress_bytes(data)


PATHS = ("auto", "bytes", "image")


def _check_path(as_: str) -> None:
    if as_ not in PATHS:
        raise ArzipError(f"unknown path '{as_}' (use auto, bytes or image)")


def _wants_image(head: bytes, as_: str) -> bool:
    """Whether a file starting with head goes to the image path."""
    return as_ == "image" or (as_ == "auto" and image_io.is_png(head))


def _image_of(data: bytes, as_: str, name: str = "input") -> tuple[np.ndarray, list[str]] | None:
    """(pixels, metadata not kept) when the image path takes data, None for the byte path;
    an image the image path cannot code goes the byte path unless as_ forces "image"."""
    if not _wants_image(data, as_):
        return None
    try:
        return image_io.read_png_rgb8(data, name)
    except UnsupportedInput:
        if as_ == "image":
            raise
        return None


def decompress(blob: bytes) -> bytes:
    """Archive -> the original bytes (bytes kind), or a PNG of the exact pixels (image kind)."""
    if container.kind_of(blob[:6]) == container.KIND_BYTES:
        return decompress_bytes(blob)
    return image_io.write_png(decompress_image(blob))


def _byte_net(name: str, sha16: bytes) -> NetTables:
    return registry.load_bytes(_installed(name, sha16))


def _compress_bytes_stream(src: BinaryIO, dst: BinaryIO) -> byte_archive.Summary:
    name = registry.bytes_model()
    return byte_archive.compress_stream(src, dst, registry.load_bytes(name), name,
                                        bytes.fromhex(registry.model_sha256(name))[:16])


def info(blob: bytes) -> dict:
    """Summary of an archive, from its headers alone (no decoding)."""
    if container.kind_of(blob[:6]) == container.KIND_BYTES:
        return _bytes_info(blob)
    header, _ = container.unpack(blob)
    try:
        installed = _model_for(header)
        sha, levels = registry.model_sha256(installed), registry.levels_of(installed)
    except ArzipError:
        sha, levels = header.model_sha256.hex(), []
    bits = 8 * len(blob)
    return {
        "kind": container.KINDS[header.kind],
        "format_version": container.FORMAT_VERSION,
        "width": header.width,
        "height": header.height,
        "mode": container.MODES[header.mode],
        "method": container.METHODS[header.method],
        "layout": schedule.LAYOUTS[header.layout],
        "scale_offsets": list(header.scale_offsets),
        "model": header.model_name,
        "model_sha256": sha,
        "levels": levels,
        "compressed_bytes": len(blob),
        "header_bytes": header.size,
        "payload_bytes": header.payload_len,
        "bits_per_subpixel": bits / header.subpixels,
        "nll_bits": header.nll_bits,
        "nll_bits_per_subpixel": header.nll_bits / header.subpixels,
        "payload_over_nll_percent": 100 * (8 * header.payload_len / header.nll_bits - 1)
        if header.nll_bits > 0 else 0.0,
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
    methods: tuple[str, ...] = ()  # bytes: how each block was coded
    dropped_metadata: tuple[str, ...] = ()


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
                  model: str | None = None, level: int | None = None, as_: str = "auto") -> Report:
    """Compress a file (or stdin, '-') to target (default source + .arz; '-' is stdout). An 8-bit
    RGB PNG goes the image path unless as_="bytes"; anything else goes the byte path."""
    source = Path(source)
    target = Path(target) if target is not None else default_output(source, decompress=False)
    _check_path(as_)
    with open_input(source) as src:
        check_target(source, target, force)
        head = src.read(len(image_io.PNG_SIGNATURE))
        if _wants_image(head, as_):
            data = head + src.read()
            image = _image_of(data, as_, str(source))
            if image:
                pixels, dropped = image
                blob = compress_image(pixels, model, level)
                write_atomic(target, blob, force)
                return Report(source, target, len(data), len(blob), "image", pixels.size,
                              dropped_metadata=tuple(dropped))
            src, head = io.BytesIO(data), b""
        with open_output(target, force) as dst:
            summary = _compress_bytes_stream(_Prefixed(head, src), dst)
    return Report(source, target, summary.raw_bytes, summary.archive_bytes, "bytes", methods=summary.methods)


def decompress_file(source: str | Path, target: str | Path | None = None,
                    force: bool = False) -> Report:
    """Restore an archive (or stdin, '-') to target: the original bytes, or a PNG of the image."""
    source = Path(source)
    target = Path(target) if target is not None else default_output(source, decompress=True)
    with open_input(source) as src:
        check_target(source, target, force)
        head = src.read(6)
        if container.kind_of(head) == container.KIND_BYTES:
            counter = _CountingReader(src, len(head))
            with open_output(target, force) as dst:
                n = byte_archive.decompress_stream(_Prefixed(head, counter), dst, _byte_net)
            return Report(source, target, counter.count, n, "bytes")
        blob = head + src.read()
    pixels = decompress_image(blob)
    png = image_io.write_png(pixels)
    write_atomic(target, png, force)
    return Report(source, target, len(blob), len(png), "image", pixels.size)


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
        try:
            return f.read()
        except OSError as e:
            raise ArzipError(f"{path}: cannot read ({e.strerror})") from None


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


@contextlib.contextmanager
def open_output(target: Path, force: bool) -> Iterator[BinaryIO]:
    """A file to write target's content into ('-': stdout). For a path, the content goes to a
    temporary file beside target, synced and only then moved into place when the block ends
    without an error: the final name never holds a partial file. Without force an existing
    target is never replaced, even one that appeared while we were working."""
    if target == STDIO:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    parent = target.parent
    try:
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as e:
        raise ArzipError(f"{parent}: cannot write ({e.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if force:
            os.replace(tmp, target)
        else:
            try:
                os.link(tmp, target)  # fails if target exists: no race with another writer
            except FileExistsError:
                raise ArzipError(f"{target} already exists (use -f to overwrite)") from None
            except OSError:  # file system without hard links
                if target.exists():
                    raise ArzipError(f"{target} already exists (use -f to overwrite)") from None
                os.replace(tmp, target)
    except OSError as e:
        raise ArzipError(f"{target}: cannot write ({e.strerror})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_atomic(target: Path, data: bytes, force: bool) -> None:
    with open_output(target, force) as f:
        f.write(data)
