"""Pictures to coded parts and back: which coder takes which plane of which kind of image.

  - 8-bit RGB, and the colours of 8-bit RGBA: the learned RGB model of the chosen level;
  - 8-bit gray, and the gray of gray+alpha: the learned gray model (both through
    arzip/image/network_parts.py: stripes, side by side);
  - alpha planes of 8-bit images: the smaller of the full-depth model (arzip/image/depth16.py,
    one channel: alpha is mostly flat, two-valued or smooth edges, which 2-D prediction codes
    well) and the byte path over PNG-filtered scanlines (long repeats);
  - palette images: their colours through the RGB model when the palette's colours are
    distinct (so they map back to indices);
  - palette images (always), 1, 2 and 4-bit gray, and 8-bit gray that looks synthetic: their
    values through the index model (arzip/image/indices.py: exact 2-D contexts, mixed);
  - 1-bit images (gray, or palette indices): also the bilevel model (arzip/mixing/bilevel.py);
  - 16-bit images of every colour type: their samples through the full-depth model
    (arzip/image/depth16.py: blended predictors, mixed; method 6's 16-bit gray model,
    arzip/image/gray16.py, is still read); and those whose samples are 8-bit values times 257
    or 256 also as that 8-bit image, through the learned models;
  - everything else (odd netpbm maxvals): the whole sample array through the byte path,
    serialised by the transform that suits it (arzip/formats/serialise.py).

The byte path over the whole sample array is also tried whenever an image looks synthetic
(many exact repeats: screenshots, charts, graphics) or a learned or full-depth model does not
clearly beat deflate on it. The smallest coding wins. The byte path itself falls back to zlib on
PNG's own filtered scanlines (and to storing), and a PNG file's own image data is a candidate as
it is, so an image never costs more than its PNG's image data plus the header.
"""
from __future__ import annotations

import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np

from .. import limits, native, registry
from ..bytes import archive as byte_archive
from ..container import IMAGE_MODEL_HASH_BYTES
from ..errors import FormatError
from ..formats import serialise
from ..formats.picture import CHANNELS, FORMATS, GRAY, GRAY_ALPHA, PALETTE, RGB, RGBA, Picture
from . import container, network_parts, pixel_parts, wrapper

SYNTHETIC_REPEATS = 0.3  # share of pixels equal to their left neighbour above which an image
                         # is treated as synthetic and the byte path is tried too
MODEL_MUST_BEAT_DEFLATE = 0.8  # a learned coding above this share of zlib's size: try bytes too
_DEPTHS = {GRAY: (1, 2, 4, 8, 16), RGB: (8, 16), PALETTE: (1, 2, 4, 8), GRAY_ALPHA: (8, 16), RGBA: (8, 16)}


@dataclass
class _Coding:
    """One way to code a picture: its parts, their payloads and the models they name."""
    parts: list[container.Part] = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list)
    models: list[tuple[str, bytes]] = field(default_factory=list)

    @classmethod
    def whole(cls, method: int, payload: bytes, nll_bits: float, transform: int = 0) -> "_Coding":
        """One part holding every sample, coded without a named model."""
        return cls([container.Part(container.PLANE_SAMPLES, method, container.NO_MODEL, transform,
                                   nll_bits=nll_bits)], [payload])

    def model_index(self, name: str) -> int:
        ref = (name, registry.hash_prefix(name, IMAGE_MODEL_HASH_BYTES))
        if ref not in self.models:
            self.models.append(ref)
        return self.models.index(ref)

    @property
    def size(self) -> int:
        """Bytes of the payloads and of what the header spends on models and parts."""
        return sum(map(len, self.payloads)) + sum(len(n) + 9 for n, _ in self.models) + 16 * len(self.parts)

    def add_model_part(self, plane: int, image: np.ndarray, name: str, how: network_parts.NetworkCoding,
                       device: str) -> None:
        """An (H, W, 3) uint8 plane through a learned image model (arzip.image.network_parts)."""
        payload, nll, layout = network_parts.encode_plane(image, name, how, device)
        self.parts.append(container.Part(plane, how.method, self.model_index(name), 0, layout, nll_bits=nll))
        self.payloads.append(payload)

    def add_bytes_part(self, plane: int, stream: bytes, transform: int) -> None:
        """A plane serialised by a transform (arzip.formats.serialise), through the byte path."""
        name = registry.bytes_model()
        ref_cost = 0 if any(n == name for n, _ in self.models) else len(name) + 10
        payload, nll, used_model = byte_archive.encode_part(stream, registry.load_bytes(name), ref_cost)
        model = self.model_index(name) if used_model else container.NO_MODEL  # tiny images: no bytes spent
        self.parts.append(container.Part(plane, container.METHOD_BYTES, model, transform, nll_bits=nll))
        self.payloads.append(payload)


def _distinct_palette(pic: Picture) -> np.ndarray | None:
    """The palette when its colours are distinct and cover every index used, else None."""
    palette = pic.palette
    if palette is None or len(palette) == 0 or int(pic.samples.max()) >= len(palette):
        return None
    keys = _colour_keys(palette)
    return palette if len(np.unique(keys)) == len(keys) else None


def _colour_keys(colours: np.ndarray) -> np.ndarray:
    c = colours.astype(np.int64)
    return (c[..., 0] << 16) | (c[..., 1] << 8) | c[..., 2]


def _learned(pic: Picture, level: int | None, model: str | None, device: str) -> _Coding | None:
    """The coding through learned models, for the kinds that have one; None for the rest."""
    ct, s = pic.color_type, pic.samples
    coding = _Coding()
    how = network_parts.NetworkCoding.for_level(level)
    rgb_model = model or registry.model_for_level(level)
    if pic.depth == 8 and ct in (RGB, RGBA):
        coding.add_model_part(container.PLANE_COLOURS, np.ascontiguousarray(s[..., :3]), rgb_model, how, device)
    elif pic.depth == 8 and ct in (GRAY, GRAY_ALPHA):
        gray = np.ascontiguousarray(np.repeat(s[..., :1], 3, axis=2))
        coding.add_model_part(container.PLANE_GRAY, gray, registry.gray_model(),
                              network_parts.NetworkCoding.for_level(level, True), device)
    elif ct == PALETTE and (palette := _distinct_palette(pic)) is not None:
        coding.add_model_part(container.PLANE_COLOURS, palette[s[..., 0]], rgb_model, how, device)
    else:
        return None
    if ct in (RGBA, GRAY_ALPHA):
        return _with_alpha(coding, np.ascontiguousarray(s[..., -1:]))
    return coding


def _with_alpha(coding: _Coding, alpha: np.ndarray) -> _Coding:
    """The coding with its (H, W, 1) alpha plane added as the smaller of two parts: the
    full-depth model's (2-D prediction: smooth edges, soft masks, two-valued cut-outs) and the
    byte path's over PNG-filtered rows (long repeats)."""
    from . import depth16
    as_bytes = _Coding(list(coding.parts), list(coding.payloads), list(coding.models))
    as_bytes.add_bytes_part(container.PLANE_ALPHA, serialise.serialise(alpha, 8, GRAY, serialise.PNG), serialise.PNG)
    payload, nll = depth16.encode(alpha)
    coding.parts.append(container.Part(container.PLANE_ALPHA, container.METHOD_DEPTH16, nll_bits=nll))
    coding.payloads.append(payload)
    return min(coding, as_bytes, key=lambda c: c.size)


def _row_sample(pic: Picture) -> tuple[np.ndarray, int]:
    """Every k-th row, at most a stripe's pixels in all, and k: the cheap statistics below need
    not hold a second copy of a 100-megapixel image."""
    k = max(1, -(-pic.height * pic.width // network_parts.STRIPE_PIXELS))
    return np.ascontiguousarray(pic.samples[::k]), k


def _looks_synthetic(rows: np.ndarray) -> bool:
    if rows.shape[1] < 2:
        return True
    return bool((rows[:, 1:] == rows[:, :-1]).all(axis=2).mean() > SYNTHETIC_REPEATS)


def _deflated_size(pic: Picture, rows: np.ndarray, k: int) -> int:
    """About what deflate makes of the image's PNG scanlines (zlib level 1 on the row sample)."""
    return k * len(zlib.compress(serialise.serialise(rows, pic.depth, pic.color_type, serialise.PNG), 1))


def _whole_as_bytes(pic: Picture) -> _Coding:
    """Every sample through the byte path, with the transform whose stream deflates smaller."""
    options = [serialise.PNG]
    if pic.color_type != PALETTE and pic.depth >= 8:
        options.append(serialise.MED)
    streams = {t: serialise.serialise(pic.samples, pic.depth, pic.color_type, t) for t in options}
    best = min(options, key=lambda t: len(zlib.compress(streams[t], 1)))
    coding = _Coding()
    coding.add_bytes_part(container.PLANE_SAMPLES, streams[best], best)
    return coding


def _bilevel(pic: Picture) -> _Coding | None:
    """A 1-bit image's pixels through the bilevel model (gray, or a palette of two colours'
    indices); None for other images."""
    if pic.depth != 1 or pic.color_type not in (GRAY, PALETTE):
        return None
    from ..mixing import bilevel
    payload, nll = bilevel.encode(np.ascontiguousarray(pic.samples[..., 0]))
    return _Coding.whole(container.METHOD_BILEVEL_STRONG, payload, nll)


def _indices(pic: Picture, synthetic: bool = False) -> _Coding | None:
    """A palette image's indices, or a 1, 2 or 4-bit gray image's values, through the index
    model (beside the bilevel model for 1-bit images: each wins on some); an 8-bit gray image's
    too when it looks synthetic (gray charts and screenshots: exact contexts beat the learned
    model on some). None for other images."""
    if not (pic.color_type == PALETTE or (pic.color_type == GRAY and (pic.depth <= 4 or
                                                                        (pic.depth == 8 and synthetic)))):
        return None
    from . import indices
    payload, nll = indices.encode(np.ascontiguousarray(pic.samples[..., 0]))
    return _Coding.whole(container.METHOD_INDICES, payload, nll)


def _full_depth(pic: Picture) -> _Coding | None:
    """A 16-bit image's samples through the full-depth model; None for other images."""
    if pic.depth != 16:
        return None
    from . import depth16
    payload, nll = depth16.encode(np.ascontiguousarray(pic.samples))
    return _Coding.whole(container.METHOD_DEPTH16, payload, nll)


WIDENINGS = {0: 257, 1: 256}  # a model part's transform in a 16-bit image: what its 8-bit samples are multiplied by


def _widened(pic: Picture, level: int | None, model: str | None, device: str) -> _Coding | None:
    """A 16-bit image whose samples are all 8-bit values times 257 (v | v << 8, as converters
    widen 8-bit images) or times 256 (the low byte zero): those 8-bit values through the learned
    models, as the 8-bit image they are, the parts marked with the widening. None otherwise."""
    if pic.depth != 16 or pic.color_type == PALETTE:
        return None
    for transform, factor in WIDENINGS.items():
        if not (pic.samples % factor).any():
            eight = Picture((pic.samples // factor).astype(np.uint8), pic.color_type, 8)
            coding = _learned(eight, level, model, device)
            coding.parts[0] = replace(coding.parts[0], transform=transform)  # the main plane says it
            return coding
    return None


def _png_stream(pic: Picture) -> _Coding | None:
    """The PNG file's own deflated scanlines, kept as they are: with this candidate no archive of
    a PNG is larger than the file's image data plus arzip's header, whatever the models do (an
    optimized PNG's, too). None for other inputs, and for streams the byte path's one-block
    part cannot hold."""
    stream = pic.deflated_scanlines
    raw_len = serialise.raw_length(pic.samples.shape, pic.depth, serialise.PNG)
    if not stream or raw_len > byte_archive.bc.BLOCK_SIZE or len(stream) > raw_len + byte_archive.bc.CODED_SLACK // 2:
        return None
    nll = 8.0 * len(stream)  # no model ran: the part's NLL is its bits
    return _Coding.whole(container.METHOD_BYTES, byte_archive.deflated_part(stream), nll, serialise.PNG)


def encode(pic: Picture, level: int | None = None, model: str | None = None, device: str = "cpu") -> bytes:
    """A picture -> image archive, with the smallest of the learned coding (where one applies),
    the byte path over all samples (where it has a chance) and a PNG file's own image data."""
    rows, k = _row_sample(pic)
    synthetic = _looks_synthetic(rows)
    learned = _learned(pic, level, model, device) or _full_depth(pic)
    candidates = [c for c in (learned, _bilevel(pic), _indices(pic, synthetic), _png_stream(pic),
                              _widened(pic, level, model, device)) if c is not None]
    if learned is None or synthetic or learned.size > MODEL_MUST_BEAT_DEFLATE * _deflated_size(pic, rows, k):
        candidates.append(_whole_as_bytes(pic))
    return _pack(pic, min(candidates, key=lambda c: c.size))


def _pack(pic: Picture, coding: _Coding) -> bytes:
    wrapper_coded = wrapper.encode(pic, coding)  # first: it may name the byte model
    header = container.Header(pic.color_type, pic.depth, FORMATS.index(pic.format), pic.width, pic.height,
                              pic.checksum(), pic.wrapper, tuple(coding.models), tuple(coding.parts),
                              wrapper_coded=wrapper_coded)
    return container.pack(header, coding.payloads)


def _expected_planes(pic: Picture, parts: tuple[container.Part, ...]) -> bool:
    """Whether the parts are a coding _learned or _whole_as_bytes makes for the picture (what
    the encoder may write, the decoder accepts: tests/test_images.py tries every coding)."""
    planes = [p.plane for p in parts]
    if planes == [container.PLANE_SAMPLES]:
        return True
    main = container.PLANE_GRAY if pic.color_type in (GRAY, GRAY_ALPHA) else container.PLANE_COLOURS
    alpha = [container.PLANE_ALPHA] if pic.color_type in (RGBA, GRAY_ALPHA) else []
    return (pic.depth in (8, 16) or pic.color_type == PALETTE) and planes == [main] + alpha


def widening(pic: Picture, parts: tuple[container.Part, ...]) -> int | None:
    """What the 8-bit samples of a 16-bit image's planes are multiplied by (_widened: the main
    plane's transform says it; an alpha part's transform keeps its own meaning), or None for a
    picture coded at its own depth."""
    if pic.depth != 16 or [p.plane for p in parts] == [container.PLANE_SAMPLES]:
        return None
    if parts[0].transform not in WIDENINGS:
        raise FormatError("corrupted archive (an 8-bit plane of a 16-bit image, widened how?)")
    return WIDENINGS[parts[0].transform]


def decode(blob: bytes, device: str = "cpu", max_pixels: int = container.MAX_PIXELS) -> Picture:
    """Image archive -> the picture, its checksum verified."""
    header, payloads = container.unpack(blob, max_pixels)
    ct, depth = header.color_type, header.depth
    if ct not in _DEPTHS or depth not in _DEPTHS[ct] or header.format >= len(FORMATS):
        raise FormatError(f"corrupted archive (colour type {ct}, depth {depth}, format {header.format})")
    shape = (header.height, header.width, CHANNELS[ct])
    for part, payload in zip(header.parts, payloads):
        _check_justified(part, len(payload), shape)
    file_data = wrapper.decode(header) if header.wrapper_coded else header.wrapper
    pic = Picture(np.zeros(shape, np.uint16 if depth == 16 else np.uint8), ct, depth,
                  FORMATS[header.format], file_data)
    if not _expected_planes(pic, header.parts):
        raise FormatError("corrupted archive (parts do not fit the image)")
    factor = widening(pic, header.parts)
    coded = Picture(np.zeros(shape, np.uint8), ct, 8, pic.format, pic.wrapper) if factor else pic

    def decode_part(job: tuple[container.Part, bytes]) -> None:
        part, payload = job
        try:
            if part.method in container.NETWORK_METHODS:
                _decode_model_part(coded, part, payload, registry.installed(*header.models[part.model]), device)
            elif part.method in pixel_parts.METHODS:
                pixel_parts.decode_part(coded, part, payload)
            else:
                _decode_bytes_part(coded, part, payload, header.models, shape, header.version)
        except (ValueError, RuntimeError, IndexError, AssertionError) as e:  # constriction asserts on bad data
            raise FormatError(f"corrupted archive (payload does not decode: {e})") from None

    _side_by_side(decode_part, list(zip(header.parts, payloads)))
    if factor:
        pic.samples[...] = coded.samples.astype(np.uint16) * factor
    if pic.checksum() != header.checksum:
        raise FormatError("checksum mismatch: the decoded image differs from the original "
                          "(corrupted archive or a different model build)")
    return pic


def _check_justified(part: container.Part, payload_bytes: int, shape: tuple[int, int, int]) -> None:
    """A model-coded part's payload must be long enough for the samples it claims (arzip.limits):
    a header claiming a large image over a few payload bytes is refused before its model runs.
    Byte-coded parts are checked block by block (arzip.bytes.archive)."""
    if part.method == container.METHOD_BYTES:
        return
    channels = {container.PLANE_COLOURS: 3, container.PLANE_SAMPLES: shape[2]}.get(part.plane, 1)
    min_bits = limits.MIN_BITS_CATEGORICAL if part.method == container.METHOD_MODEL else limits.MIN_BITS_BINARY
    limits.check_justified(payload_bytes, shape[0] * shape[1] * channels, min_bits,
                           f"{container.PLANES[part.plane]} part")


def _side_by_side(decode_part: Callable[[tuple[container.Part, bytes]], None],
                  jobs: list[tuple[container.Part, bytes]]) -> None:
    """Decode the parts, the first on this thread and, with more than one thread (arzip.api.set_threads),
    the others beside it on threads of their own: an RGBA image's alpha plane (one compiled call
    on one thread) beside its colours (whose stripes keep the other threads busy), instead of
    after them with all but one core idle. The parts fill disjoint samples."""
    if len(jobs) == 1 or native.threads() == 1:
        for job in jobs:
            decode_part(job)
        return

    def on_own_thread(job: tuple[container.Part, bytes]) -> None:
        native.set_threads(1, this_thread_only=True)  # per thread: the part's kernels stay on it
        decode_part(job)

    with ThreadPoolExecutor(len(jobs) - 1, thread_name_prefix="arzip-parts") as pool:
        later = [pool.submit(on_own_thread, job) for job in jobs[1:]]
        decode_part(jobs[0])
        for done in later:
            done.result()


def _decode_model_part(pic: Picture, part: container.Part, payload: bytes, name: str, device: str) -> None:
    """A learned model's plane into the picture: its gray, its colours, or a palette image's
    indices of the colours decoded (every colour must be in the palette)."""
    image = network_parts.decode_plane(pic.height, pic.width, part, payload, name, device)
    if part.plane == container.PLANE_GRAY:
        pic.samples[..., 0] = image[..., 0]
    elif pic.color_type == PALETTE:
        palette = pic.palette
        if palette is None or len(palette) == 0:
            raise FormatError("corrupted archive (palette image without a palette)")
        keys = _colour_keys(palette)
        order = np.argsort(keys)
        found = np.searchsorted(keys[order], _colour_keys(image)).clip(0, len(keys) - 1)
        if not np.array_equal(keys[order][found], _colour_keys(image)):
            raise FormatError("corrupted archive (a colour outside the palette)")
        pic.samples[..., 0] = order[found]
    else:
        pic.samples[..., :3] = image


def _decode_bytes_part(pic: Picture, part: container.Part, payload: bytes,
                       models: tuple[tuple[str, bytes], ...], shape: tuple[int, int, int], version: int) -> None:
    if part.transform not in serialise.TRANSFORMS:
        raise FormatError(f"corrupted archive (unknown transform {part.transform})")
    alpha = part.plane == container.PLANE_ALPHA
    plane_shape = (shape[0], shape[1], 1) if alpha else shape
    depth, ct = (8, GRAY) if alpha else (pic.depth, pic.color_type)
    def net():
        if part.model >= len(models):
            raise FormatError("corrupted archive (a model-coded block, but the part names no model)")
        return registry.load_bytes(registry.installed(*models[part.model]))

    raw_len = serialise.raw_length(plane_shape, depth, part.transform)
    stream = byte_archive.decode_part(payload, raw_len, net, version)
    plane = serialise.deserialise(stream, plane_shape, depth, ct, part.transform)
    if alpha:
        pic.samples[..., -1] = plane[..., 0]
    else:
        pic.samples[...] = plane
