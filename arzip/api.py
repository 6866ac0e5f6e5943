"""Public API: compress and decompress images as arrays, archives as bytes, and files on disk.

The data paths (docs/ARCHITECTURE.md): image file -> formats.picture (samples + what rewrites
the file) -> image.planes (each plane through a learned model, image.codec, or the byte path)
-> image.container; any other bytes -> bytes.archive (blocks) -> bytes.codec (network + mixer
+ coder, step by step) -> bytes.container. Output files are written by arzip.files.

Longer than 400 lines: the public functions, arrays, bytes and files, stay in the one module
users read, with the limits and checks (--verify, --max-size) they share.
"""
from __future__ import annotations

import importlib.util
import io
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from . import container, files, limits, native, registry
from .bytes import archive as byte_archive, container as byte_container
from .bytes.mixer import NetTables
from .errors import ArzipError, FormatError, UnsupportedInput
from .files import STDIO
from .formats import picture, rewrite, serialise
from .image import container as image_container, waves

# The image codec is imported on first use: the byte path never needs it. Coding never needs
# torch (the exact networks run on numpy and numba); only a GPU device does.

MAX_DEFAULT_THREADS = 8  # per-wave batches are a few hundred pixels: more threads hardly help


def default_threads() -> int:
    """The cores this process may run on, at most MAX_DEFAULT_THREADS."""
    return min(native.cores(), MAX_DEFAULT_THREADS)


_threads: int | None = None
_device = "cpu"
DEFAULT_MAX_PIXELS = limits.MAX_PIXELS
_max_pixels = DEFAULT_MAX_PIXELS
_max_output: int | None = None


def set_max_pixels(n: int) -> None:
    """Refuse images (archives and inputs) of more than n pixels before allocating anything for
    them: a header claiming 10^6 x 10^6 pixels is an error at once."""
    global _max_pixels
    if n < 1:
        raise ArzipError(f"--max-pixels must be at least 1 (got {n})")
    _max_pixels = n


def set_max_output(n: int | None) -> None:
    """Refuse to decode archives that give more than n bytes (None: no limit), before the
    output passes n: what a service that decodes uploads sets (the CLI's --max-size). An image
    is refused before its decoding if its samples alone are larger."""
    global _max_output
    if n is not None and n < 0:
        raise ArzipError(f"--max-size must not be negative (got {n})")
    _max_output = n


def _check_output(n: int, what: str = "the output") -> None:
    if _max_output is not None and n > _max_output:
        raise ArzipError(f"{what} would be over the size limit of {_max_output:,} bytes (--max-size)")


class _Limited:
    """A writer that refuses to take more than the output limit."""

    def __init__(self, f) -> None:
        self.f, self.count = f, 0

    def write(self, data: bytes) -> int:
        self.count += len(data)
        _check_output(self.count)
        return self.f.write(data)


def set_threads(n: int) -> None:
    """Use up to n threads for coding an image: its stripes side by side (arzip.image.planes) and
    the encoder's large batches in row pieces (arzip.image.pieces). Idle threads wait passively."""
    global _threads
    if n < 1:
        raise ArzipError(f"--threads must be at least 1 (got {n})")
    _threads = n
    native.set_threads(n)


def current_threads() -> int:
    return _threads or default_threads()


def set_device(name: str) -> str:
    """Run the image network's matmuls on 'cpu', 'cuda' (or 'cuda:N'), or 'auto' (a GPU when torch
    is installed and sees one, decided when an image is first coded). Archives do not depend on
    it: every layer is exact on any device. Only a GPU needs torch (`arzip[train]`). Returns the
    device name (or 'auto')."""
    global _device
    if name.split(":")[0] not in ("cpu", "cuda", "auto"):
        raise ArzipError(f"unknown device '{name}' (use cpu, cuda or auto)")
    if name.startswith("cuda") and not _cuda_available():
        raise ArzipError(f"device '{name}' requested, but no CUDA GPU is available to torch "
                         "(a GPU needs torch: pip install 'arzip[train]')")
    _device = name
    return name


def _cuda_available() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch
    return torch.cuda.is_available()


def _image_device() -> str:
    if _device == "auto":
        return "cuda" if _cuda_available() else "cpu"
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
    suits them (arzip/image/planes.py). Images over the pixel limit (set_max_pixels) are refused:
    the decoder would refuse their archive."""
    from .image import planes
    pic = _picture_of(image)
    if pic.width * pic.height > _max_pixels:
        raise UnsupportedInput(f"an image of {pic.width}x{pic.height} pixels is over the limit of {_max_pixels} "
                               "pixels (raise it with set_max_pixels / --max-pixels)")
    return planes.encode(pic, level, model, _image_device())


def decompress_picture(blob: bytes) -> picture.Picture:
    """.arz image archive -> Picture (samples, colour type, depth, format), checksum verified."""
    from .image import planes
    if container.kind_of(blob[:container.PREFIX_SIZE]) != container.KIND_IMAGE:
        raise FormatError("not an image archive (use decompress)")
    if _max_output is not None:  # the samples alone, before anything is decoded
        header = image_container.read_header(blob, _max_pixels)
        _check_output(header.width * header.height * picture.CHANNELS.get(header.color_type, 1) *
                      (2 if header.depth == 16 else 1), "the image")
    return planes.decode(blob, _image_device(), _max_pixels)


def decompress_image(blob: bytes) -> np.ndarray:
    """.arz image archive -> (H, W, C) array of the samples (uint8, or uint16 for 16-bit
    images; palette images give their indices: decompress_pil gives the colours)."""
    return decompress_picture(blob).samples


def decompress_pil(blob: bytes):
    """.arz image archive -> PIL image in the original's mode (16-bit colour has none: refused)."""
    return picture.to_pil(decompress_picture(blob))


def compress_bytes(data: bytes, level: int | None = None) -> bytes:
    """Any bytes -> .arz archive bytes (the byte path: the context-mixing coder, or a classical
    coder per block where that is smaller; level 9 codes with the coder's strong profile and
    large blocks on one core: smaller and slower)."""
    out = io.BytesIO()
    _compress_bytes_stream(io.BytesIO(data), out, level)
    return out.getvalue()


def decompress_bytes(blob: bytes) -> bytes:
    """.arz archive of the bytes kind -> the original bytes, checksum verified."""
    out = io.BytesIO()
    byte_archive.decompress_stream(io.BytesIO(blob), _Limited(out), _byte_net)
    return out.getvalue()


def is_jpeg(head: bytes) -> bool:
    """Whether a file starting with head is a JPEG (SOI and a marker)."""
    return head[:3] == b"\xff\xd8\xff"


def compress_jpeg(data: bytes, level: int | None = None) -> bytes:
    """A JPEG file -> .arz archive through its DCT coefficients (arzip/jpeg/), verified before
    it is returned; UnsupportedInput where the file cannot go that way (arithmetic-coded,
    12-bit, lossless, damaged beyond what its side data holds, over the pixel limit)."""
    from .jpeg import archive as jpeg_archive
    name, prior = registry.bytes_model(), registry.jpeg_prior()
    return jpeg_archive.compress(data, registry.default_level() if level is None else level,
                                 lambda: registry.load_bytes(name), registry.hash_prefix(name, 4),
                                 registry.load_jpeg_prior(prior), registry.hash_prefix(prior, 8), _max_pixels).blob


def decompress_jpeg(blob: bytes) -> bytes:
    """.arz archive of the JPEG kind -> the JPEG file, byte for byte, checksum verified."""
    from .jpeg import archive as jpeg_archive
    from .jpeg import container as jpeg_container
    header = jpeg_container.unpack(blob)
    _check_output(header.original_len)
    return jpeg_archive.decompress(blob, lambda: registry.load_bytes(registry.installed(None, header.byte_model_sha)),
                                   lambda: registry.load_jpeg_prior(registry.installed(None, header.prior_sha)),
                                   _max_pixels)


def compress(data: bytes, level: int | None = None, as_: str = "auto", suffix: str = "") -> bytes:
    """Any file's bytes -> archive. as_="auto" codes an image file arzip can rewrite exactly
    (PNG of any mode, netpbm, BMP, TIFF, TGA, QOI, lossless WebP) as an image, a JPEG through
    its coefficients, and everything else as bytes; "bytes", "image" and "jpeg" force a path.
    suffix: the file's name suffix (TGA has no magic number)."""
    _check_path(as_)
    if as_ == "jpeg" or (as_ == "auto" and is_jpeg(data)):
        return _compress_jpeg_or_bytes(data, as_, level)
    pic = _picture_from_file(data, as_, suffix=suffix)
    return _compress_picture(pic, data, as_, level=level) if pic else compress_bytes(data, level)


def _compress_jpeg_or_bytes(data: bytes, as_: str, level: int | None) -> bytes:
    """A JPEG's archive through its coefficients, or the byte path's where it cannot go that
    way (unless the JPEG path was forced)."""
    try:
        return compress_jpeg(data, level)
    except UnsupportedInput:
        if as_ == "jpeg":
            raise
        return compress_bytes(data, level)


# A file holding a raster (DICOM, FITS, a TIFF Pillow cannot rewrite) up to this size is also
# coded as bytes, and the smaller archive kept: in a small file the header is much of the file, and
# its bytes cost more apart from the samples they describe than beside them.
RASTER_ALSO_AS_BYTES = 256 << 10


def _compress_picture(pic: picture.Picture, data: bytes, as_: str, **how) -> bytes:
    """An image file's archive; where its archive would break a limit (arzip.limits), the byte
    path's unless the image path was forced."""
    try:
        blob = compress_image(pic, **how)
    except UnsupportedInput:
        if as_ == "image":
            raise
        return compress_bytes(data, how.get("level"))
    if as_ == "auto" and pic.format in picture.RASTER_FORMATS and len(data) <= RASTER_ALSO_AS_BYTES:
        return min(blob, compress_bytes(data, how.get("level")), key=len)
    return blob


PATHS = ("auto", "bytes", "image", "jpeg")


def _check_path(as_: str) -> None:
    if as_ not in PATHS:
        raise ArzipError(f"unknown path '{as_}' (use auto, bytes, image or jpeg)")


def _picture_from_file(data: bytes, as_: str, name: str = "input", suffix: str = "") -> picture.Picture | None:
    """The picture when the image path takes data, None for the byte path; an image the image
    path cannot rewrite exactly goes the byte path unless as_ forces "image"."""
    if as_ in ("bytes", "jpeg"):
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
    kind = container.kind_of(blob[:container.PREFIX_SIZE])
    if kind != container.KIND_IMAGE and to:
        raise ArzipError(f"--to applies to images; this archive holds a file coded as {container.KINDS[kind]}")
    if kind == container.KIND_BYTES:
        return decompress_bytes(blob)
    if kind == container.KIND_JPEG:
        return decompress_jpeg(blob)
    data = picture.write(decompress_picture(blob), to)
    _check_output(len(data))
    return data


def _byte_net(head: byte_container.Head) -> NetTables:
    return registry.load_bytes(registry.installed(head.model_name, head.model_sha))


def _compress_bytes_stream(src: BinaryIO, dst: BinaryIO, level: int | None = None) -> byte_archive.Summary:
    name = registry.bytes_model()
    return byte_archive.compress_stream(src, dst, registry.load_bytes(name),
                                        registry.hash_prefix(name, byte_container.COMPACT_MODEL_HASH_BYTES),
                                        byte_archive.DEFAULT_LEVEL if level is None else level)


def info(blob: bytes) -> dict:
    """Summary of an archive, from its headers alone (no decoding)."""
    kind = container.kind_of(blob[:container.PREFIX_SIZE])
    if kind == container.KIND_BYTES:
        return _bytes_info(blob)
    if kind == container.KIND_JPEG:
        return _jpeg_info(blob)
    header, _ = image_container.unpack(blob, _max_pixels)
    subpixels = header.width * header.height * picture.CHANNELS.get(header.color_type, 1)
    parts = []
    for part in header.parts:
        name, sha8 = header.models[part.model] if part.model != image_container.NO_MODEL else ("none", b"")
        installed = registry.find_by_hash_prefix(sha8) if sha8 else None
        entry = {"plane": image_container.PLANES[part.plane], "method": image_container.METHODS[part.method],
                 "model": name, "model_sha256": registry.model_sha256(installed) if installed else sha8.hex(),
                 "bytes": part.payload_len, "nll_bits": part.nll_bits}
        if part.method in image_container.NETWORK_METHODS:
            profile = image_container.MIXING_PROFILES.get(part.method)  # the levels that code this way
            gray = part.plane == image_container.PLANE_GRAY  # the gray model serves every level
            served = list(registry.LEVELS) if gray and installed == registry.gray_model() else \
                registry.levels_of(installed) if installed else []
            levels = [lv for lv in served if registry.mixing_profile(lv, gray) == profile]
            entry.update(levels=levels,
                         layout=waves.LAYOUTS.get(part.layout, "?"), scale_offsets=list(part.scale_offsets))
        elif part.method == image_container.METHOD_BYTES:
            entry["transform"] = serialise.TRANSFORMS.get(part.transform, "?")
        parts.append(entry)
    payload = sum(p.payload_len for p in header.parts)
    return {
        "kind": "image",
        "format_version": header.version,
        "written_by": container.WRITTEN_BY[header.version],
        "contract": _contract(header),
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
    """Byte archives of version 4 do not record the model's NLL (it would cost small archives
    more than their data); those of version 3 do."""
    scan = byte_archive.scan(io.BytesIO(blob))
    head = scan["head"]
    installed = registry.find_by_hash_prefix(head.model_sha)
    n, nll = scan["total_len"], scan["nll_bits"]
    out = {
        "kind": "bytes",
        "format_version": head.version,
        "written_by": container.WRITTEN_BY[head.version],
        "contract": rewrite.BYTES_EXACT,
        "original_bytes": n,
        "model": installed or head.model_name or "not installed",
        "model_sha256": registry.model_sha256(installed) if installed else head.model_sha.hex(),
        "blocks": scan["blocks"],
        "methods": scan["methods"],
        "compressed_bytes": len(blob),
        "bits_per_byte": 8 * len(blob) / n if n else 0.0,
    }
    if nll is not None:
        out.update(nll_bits=nll, nll_bits_per_byte=nll / n if n else 0.0)
    return out


def _jpeg_info(blob: bytes) -> dict:
    from .jpeg import archive as jpeg_archive
    head = jpeg_archive.info(blob)
    n = head["original_bytes"]
    installed = registry.find_by_hash_prefix(bytes.fromhex(head["byte_model_sha256"]))
    prior = bytes.fromhex(head["prior_sha256"])
    prior_name = (registry.find_by_hash_prefix(prior) or "not installed") if any(prior) else "none (fresh tables)"
    return {"kind": "jpeg", "format_version": container.version_of(blob[:container.PREFIX_SIZE]),
            "written_by": "arzip 0.3.0", "contract": rewrite.BYTES_EXACT, **head,
            "byte_model": installed or "none", "prior": prior_name, "compressed_bytes": len(blob),
            "bits_per_byte": 8 * len(blob) / n if n else 0.0, "saved_percent": 100 * (1 - len(blob) / n) if n else 0.0}


def _contract(header: image_container.Header) -> str:
    """What an image archive gives back of its file: its picture's contract (arzip.formats.rewrite),
    except that files in Pillow's formats were rewritten from their pixels alone before format
    version 5."""
    fmt = picture.FORMATS[header.format] if header.format < len(picture.FORMATS) else "?"
    if fmt not in ("png", "pnm") and header.version < 5:
        return rewrite.PIXELS
    try:
        return picture.Picture(np.zeros((0, 0, 1), np.uint8), header.color_type, header.depth, fmt,
                               header.wrapper).contract
    except FormatError:
        return "unknown (damaged file data)"


# -- files ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Report:
    """What one file operation did; the CLI turns it into its summary line."""
    source: Path
    target: Path
    source_bytes: int
    target_bytes: int
    kind: str                  # "image", "jpeg" or "bytes"
    contract: str = rewrite.BYTES_EXACT  # what decompressing gives back (arzip.formats.rewrite)
    subpixels: int = 0         # images
    image_kind: str = ""       # images: e.g. "8-bit RGB"
    methods: tuple[str, ...] = ()  # bytes: how each block was coded


def compress_file(source: str | Path, target: str | Path | None = None, force: bool = False,
                  model: str | None = None, level: int | None = None, as_: str = "auto",
                  remove_source: bool = False, verify: bool = False) -> Report:
    """Compress a file (or stdin, '-') to target (default source + .arz; '-' is stdout). An image
    file arzip can rewrite under its contract goes the image path unless as_="bytes"; anything
    else goes the byte path, streamed. verify: decode the written archive and compare what it
    gives with the input under the file's contract; on a mismatch the archive is removed and
    ArzipError raised. remove_source: verify, then delete the source (its folder synced first)."""
    source = Path(source)
    target = Path(target) if target is not None else files.default_output(source, decompress=False)
    _check_path(as_)
    _check_removal(source, target, remove_source)
    verify = verify or remove_source
    if verify and STDIO in (source, target):
        raise ArzipError("--verify needs a named input and output (not '-' or -c)")
    with files.open_input(source) as src:
        files.check_target(source, target, force)
        keep = files.metadata_of(source, src)
        head = src.read(132)  # a DICOM file says what it is at byte 128
        if as_ == "jpeg" or (as_ == "auto" and is_jpeg(head)):
            data = head + files.read_all(src, source)
            try:
                blob = compress_jpeg(data, level)
            except UnsupportedInput:
                if as_ == "jpeg":
                    raise
                src, head = io.BytesIO(data), b""
            else:
                files.write_atomic(target, blob, force, keep)
                if verify:
                    _verified(target, lambda: decompress_jpeg(_read_back(target)) == data)
                if remove_source:
                    files.remove(source, target)
                return Report(source, target, len(data), len(blob), "jpeg")
        elif as_ == "image" or (as_ == "auto" and picture.sniff(head, source.suffix)):
            data = head + files.read_all(src, source)
            pic = _picture_from_file(data, as_, str(source), source.suffix)
            if pic:
                blob = _compress_picture(pic, data, as_, model=model, level=level)
                files.write_atomic(target, blob, force, keep)
                if container.kind_of(blob[:container.PREFIX_SIZE]) == container.KIND_IMAGE:
                    if verify:
                        _verified(target, lambda: picture.keeps(decompress_picture(_read_back(target)), data,
                                                             pic.checksum()))
                    report = Report(source, target, len(data), len(blob), "image", pic.contract,
                                    pic.samples.size, image_kind=pic.kind)
                else:
                    if verify:
                        _verified(target, lambda: decompress_bytes(_read_back(target)) == data)
                    report = Report(source, target, len(data), len(blob), "bytes")
                if remove_source:
                    files.remove(source, target)
                return report
            src, head = io.BytesIO(data), b""
        with files.open_output(target, force, keep) as dst:
            summary = _compress_bytes_stream(files.Prefixed(head, src), dst, level)
    if verify:
        _verified(target, lambda: _same_bytes(target, source))
    if remove_source:
        files.remove(source, target)
    return Report(source, target, summary.raw_bytes, summary.archive_bytes, "bytes", methods=summary.methods)


def decompress_file(source: str | Path, target: str | Path | None = None,
                    force: bool = False, to: str | None = None, remove_source: bool = False) -> Report:
    """Restore an archive (or stdin, '-') to target: the original bytes, or the image file in
    its own format (or in `to`: "png"; the default name then ends in .png). remove_source:
    delete the archive once the output is written (decoding verified its checksum)."""
    source = Path(source)
    if target is None:
        target = files.default_output(source, decompress=True)
        if to and target != STDIO:
            target = target.with_suffix(picture.SUFFIXES[to])
    target = Path(target)
    _check_removal(source, target, remove_source)
    with files.open_input(source) as src:
        files.check_target(source, target, force)
        report = _restore(source, src, target, force, to)
    if remove_source:
        files.remove(source, target)
    return report


def test_file(source: str | Path) -> Report:
    """Decode an archive (or stdin, '-') completely and check it, writing nothing (gzip -t): all
    that decompress does but the final write, the file's writer included."""
    source = Path(source)
    with files.open_input(source) as src:
        return _restore(source, src, None, False, None)


def _restore(source: Path, src: BinaryIO, target: Path | None, force: bool, to: str | None) -> Report:
    """Decode the archive read from src, by its kind, and write what it holds to target; with
    no target (arzip test) decode, check and write it to nowhere."""
    keep = files.metadata_of(source, src)
    head = src.read(container.PREFIX_SIZE)
    kind = container.kind_of(head)
    if kind != container.KIND_IMAGE and to:
        raise ArzipError(f"{source}: --to applies to images; this archive holds a file coded as "
                         f"{container.KINDS[kind]}")
    if kind == container.KIND_BYTES:
        counter = files.CountingReader(src, len(head))
        archive = files.Prefixed(head, counter)
        if target is None:
            n = byte_archive.decompress_stream(archive, _Limited(files.Digest()), _byte_net)
        else:
            with files.open_output(target, force, keep) as dst:
                n = byte_archive.decompress_stream(archive, _Limited(dst), _byte_net)
        return Report(source, target or STDIO, counter.count, n, "bytes")
    blob = head + files.read_all(src, source)
    if kind == container.KIND_JPEG:
        data = decompress_jpeg(blob)
        if target is not None:
            files.write_atomic(target, data, force, keep)
        return Report(source, target or STDIO, len(blob), len(data), "jpeg")
    pic = decompress_picture(blob)
    data = picture.write(pic, to)
    _check_output(len(data))
    if target is not None:
        files.write_atomic(target, data, force, keep)
    return Report(source, target or STDIO, len(blob), len(data), "image", pic.contract, pic.samples.size,
                  image_kind=pic.kind)


def _check_removal(source: Path, target: Path, remove_source: bool) -> None:
    if remove_source and STDIO in (source, target):
        raise ArzipError("--rm needs a named input and output (not '-' or -c)")


def _read_back(target: Path) -> bytes:
    with open(target, "rb") as f:
        return f.read()


def _verified(target: Path, matches) -> None:
    """matches() decodes the written archive and compares; unless it says they match (and
    raises nothing), the archive is removed and the input kept."""
    try:
        ok = matches()
    except ArzipError as e:
        ok, why = False, f" ({e})"
    else:
        why = ""
    if not ok:
        target.unlink(missing_ok=True)
        raise ArzipError(f"{target}: verification failed{why}; the archive was removed, the input kept")


def _same_bytes(target: Path, source: Path) -> bool:
    """Whether the byte archive written at target decodes to source's bytes (compared through
    their BLAKE2b digests, streamed: neither is held in memory)."""
    decoded, original = files.Digest(), files.Digest()
    with open(target, "rb") as f:
        byte_archive.decompress_stream(f, decoded, _byte_net)
    with open(source, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            original.write(chunk)
    return decoded.hash.digest() == original.hash.digest()
