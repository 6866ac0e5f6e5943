"""Pictures to coded parts and back: which coder takes which plane of which kind of image.

  - 8-bit RGB, and the colours of 8-bit RGBA: the learned RGB model of the chosen level;
  - 8-bit gray, and the gray of gray+alpha: the learned gray model;
  - alpha planes of 8-bit images: the smaller of the full-depth model (arzip/image/depth16.py,
    one channel: alpha is mostly flat, two-valued or smooth edges, which 2-D prediction codes
    well) and the byte path over PNG-filtered scanlines (long repeats);
  - palette images: their colours through the RGB model when the palette's colours are
    distinct (so they map back to indices), else their indices through the byte path;
  - 1-bit images (gray, or palette indices): their pixels through the bilevel model
    (arzip/image/bilevel.py: 2-D contexts, mixed);
  - palette images (also through their colours, above), 1, 2 and 4-bit gray, and 8-bit gray
    that looks synthetic: their values through the index model (arzip/image/indices.py: exact 2-D contexts of the values, mixed);
  - 16-bit images of every colour type: their samples through the full-depth model
    (arzip/image/depth16.py: blended predictors, mixed; method 6's 16-bit gray model,
    arzip/image/gray16.py, is still read);
  - everything else (odd netpbm maxvals): the whole sample array through the byte path,
    serialised by the transform that suits it (arzip/formats/serialise.py).

The byte path over the whole sample array is also tried whenever an image looks synthetic
(many exact repeats: screenshots, charts, graphics) or a learned or full-depth model does not
clearly beat deflate on it; the smaller coding wins. The byte path itself falls back to zlib on PNG's own
filtered scanlines (and to storing), and a PNG file's own image data is a candidate as it is,
so an image never costs more than its PNG's image data plus the header.
"""
from __future__ import annotations

import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numba
import numpy as np

from .. import registry
from ..bytes import archive as byte_archive
from ..container import IMAGE_MODEL_HASH_BYTES, read_varint, varint
from ..errors import FormatError
from ..formats import serialise
from ..formats.picture import CHANNELS, FORMATS, GRAY, GRAY_ALPHA, PALETTE, RGB, RGBA, Picture
from . import container, pixel_parts, profiles, waves

STRIPE_PIXELS = 1 << 22  # larger images go through a learned model in stripes of about this size
SIDE_BY_SIDE_MIN_PIXELS = 1 << 16  # light and medium mixing cut images from this size into two stripes at least,
                                   # so that two cores code one image side by side
SYNTHETIC_REPEATS = 0.3  # share of pixels equal to their left neighbour above which an image
                         # is treated as synthetic and the byte path is tried too
MODEL_MUST_BEAT_DEFLATE = 0.8  # a learned coding above this share of zlib's size: try bytes too
_DEPTHS = {GRAY: (1, 2, 4, 8, 16), RGB: (8, 16), PALETTE: (1, 2, 4, 8), GRAY_ALPHA: (8, 16), RGBA: (8, 16)}


@dataclass(frozen=True)
class NetworkCoding:
    """How a level codes planes through a learned model: with context mixing around it
    (arzip.image.mixing_codec, a profile of arzip.image.profiles.PROFILES), or alone."""
    mixing: str | None

    @classmethod
    def for_level(cls, level: int | None, gray: bool = False) -> "NetworkCoding":
        return cls(registry.mixing_profile(level, gray))

    @property
    def method(self) -> int:
        if self.mixing is None:
            return container.METHOD_MODEL
        return {v: k for k, v in container.MIXING_PROFILES.items()}[self.mixing]


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

    def add_model_part(self, plane: int, image: np.ndarray, name: str, how: "NetworkCoding", device: str) -> None:
        """An (H, W, 3) uint8 plane through a learned image model (alone, or with context mixing
        around it), in stripes of rows when it is large (memory stays bounded by a stripe, time
        linear in pixels; the adaptive model starts afresh in every stripe). Light and medium
        mixing cut every image into two stripes at least, which two threads code side by side."""
        from . import codec, exact, mixing_codec  # loaded only when a plane goes through a learned model
        model = registry.load(name, device)
        method = how.method
        rows = stripe_rows(*image.shape[:2], method)
        layout = waves.layout_for(min(rows, image.shape[0]), image.shape[1])
        stripes = [np.ascontiguousarray(image[y:y + rows]) for y in range(0, image.shape[0], rows)]
        with exact.single_threaded_blas():
            if how.mixing:
                profile = profiles.PROFILES[how.mixing]
                coded = _side_by_side(lambda stripe: mixing_codec.encode_image(model, stripe, layout, profile),
                                      stripes, method in container.SIDE_BY_SIDE_METHODS)
            else:
                coded = [codec.encode_image(model, stripe, layout) for stripe in stripes]
        payloads, nll = [p for p, _ in coded], sum(n for _, n in coded)
        payload = payloads[0] if len(payloads) == 1 else b"".join(varint(len(p)) + p for p in payloads)
        self.parts.append(container.Part(plane, method, self.model_index(name), 0, layout, nll_bits=nll))
        self.payloads.append(payload)

    def add_bytes_part(self, plane: int, stream: bytes, transform: int) -> None:
        """A plane serialised by a transform (arzip.formats.serialise), through the byte path."""
        name = registry.bytes_model()
        ref_cost = 0 if any(n == name for n, _ in self.models) else len(name) + 10
        payload, nll, used_model = byte_archive.encode_part(stream, registry.load_bytes(name), ref_cost)
        model = self.model_index(name) if used_model else container.NO_MODEL  # tiny images: no bytes spent
        self.parts.append(container.Part(plane, container.METHOD_BYTES, model, transform, nll_bits=nll))
        self.payloads.append(payload)


def stripe_rows(height: int, width: int, method: int) -> int:
    """Rows per stripe of a model-coded plane (part of the format: the decoder derives it)."""
    rows = height if height * width <= STRIPE_PIXELS else max(1, STRIPE_PIXELS // width)
    if method in container.SIDE_BY_SIDE_METHODS and height * width >= SIDE_BY_SIDE_MIN_PIXELS:
        rows = min(rows, -(-height // 2))
    return rows


def _side_by_side(code: Callable, stripes: list, parallel: bool) -> list:
    """code(stripe) for every stripe, in order; with parallel, up to arzip's thread count of them
    at once, each on one thread (the stripes are independent: each has its own adaptive model
    and its own stream, so the archive is the same whatever the threads)."""
    workers = min(numba.get_num_threads(), len(stripes)) if parallel else 1  # arzip.api.set_threads sets it
    if workers == 1:
        return [code(stripe) for stripe in stripes]

    def one_thread(stripe):
        numba.set_num_threads(1)  # per calling thread: its table kernels stay on it
        return code(stripe)

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one_thread, stripes))


def _stripes(payload: bytes, count: int) -> list[bytes]:
    """A striped model payload: every stripe's varint length, then its bytes."""
    if count == 1:
        return [payload]
    out, pos = [], 0
    for _ in range(count):
        n, pos = read_varint(payload, pos)
        if pos + n > len(payload):
            raise FormatError("corrupted archive (stripe lengths)")
        out.append(payload[pos:pos + n])
        pos += n
    if pos != len(payload):
        raise FormatError("corrupted archive (stripe lengths)")
    return out


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
    how = NetworkCoding.for_level(level)
    rgb_model = model or registry.model_for_level(level)
    if pic.depth == 8 and ct in (RGB, RGBA):
        coding.add_model_part(container.PLANE_COLOURS, np.ascontiguousarray(s[..., :3]), rgb_model, how, device)
    elif pic.depth == 8 and ct in (GRAY, GRAY_ALPHA):
        gray = np.ascontiguousarray(np.repeat(s[..., :1], 3, axis=2))
        coding.add_model_part(container.PLANE_GRAY, gray, registry.gray_model(), NetworkCoding.for_level(level, True),
                              device)
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
    payload, costs = depth16.encode(alpha)
    coding.parts.append(container.Part(container.PLANE_ALPHA, container.METHOD_DEPTH16, nll_bits=float(costs.sum())))
    coding.payloads.append(payload)
    return min(coding, as_bytes, key=lambda c: c.size)


def _row_sample(pic: Picture) -> tuple[np.ndarray, int]:
    """Every k-th row, at most STRIPE_PIXELS pixels in all, and k: the cheap statistics below
    need not hold a second copy of a 100-megapixel image."""
    k = max(1, -(-pic.height * pic.width // STRIPE_PIXELS))
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
    from . import bilevel
    payload, nll = bilevel.encode(np.ascontiguousarray(pic.samples[..., 0]))
    return _Coding.whole(container.METHOD_BILEVEL, payload, nll)


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
    payload, costs = depth16.encode(np.ascontiguousarray(pic.samples))
    return _Coding.whole(container.METHOD_DEPTH16, payload, float(costs.sum()))


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
    candidates = [c for c in (learned, _bilevel(pic), _indices(pic, synthetic), _png_stream(pic)) if c is not None]
    if learned is None or synthetic or learned.size > MODEL_MUST_BEAT_DEFLATE * _deflated_size(pic, rows, k):
        candidates.append(_whole_as_bytes(pic))
    return _pack(pic, min(candidates, key=lambda c: c.size))


def _pack(pic: Picture, coding: _Coding) -> bytes:
    header = container.Header(pic.color_type, pic.depth, FORMATS.index(pic.format), pic.width, pic.height,
                              pic.checksum(), pic.wrapper, tuple(coding.models), tuple(coding.parts))
    return container.pack(header, coding.payloads)


def _expected_planes(pic: Picture, parts: tuple[container.Part, ...]) -> bool:
    """Whether the parts are a coding _learned or _whole_as_bytes makes for the picture (what
    the encoder may write, the decoder accepts: tests/test_images.py tries every coding)."""
    planes = [p.plane for p in parts]
    if planes == [container.PLANE_SAMPLES]:
        return True
    main = container.PLANE_GRAY if pic.color_type in (GRAY, GRAY_ALPHA) else container.PLANE_COLOURS
    alpha = [container.PLANE_ALPHA] if pic.color_type in (RGBA, GRAY_ALPHA) else []
    return (pic.depth == 8 or pic.color_type == PALETTE) and planes == [main] + alpha


def decode(blob: bytes, device: str = "cpu", max_pixels: int = container.MAX_PIXELS) -> Picture:
    """Image archive -> the picture, its checksum verified."""
    header, payloads = container.unpack(blob, max_pixels)
    ct, depth = header.color_type, header.depth
    if ct not in _DEPTHS or depth not in _DEPTHS[ct] or header.format >= len(FORMATS):
        raise FormatError(f"corrupted archive (colour type {ct}, depth {depth}, format {header.format})")
    shape = (header.height, header.width, CHANNELS[ct])
    pic = Picture(np.zeros(shape, np.uint16 if depth == 16 else np.uint8), ct, depth,
                  FORMATS[header.format], header.wrapper)
    if not _expected_planes(pic, header.parts):
        raise FormatError("corrupted archive (parts do not fit the image)")
    for part, payload in zip(header.parts, payloads):
        try:
            if part.method in container.NETWORK_METHODS:
                _decode_model_part(pic, part, payload, registry.installed(*header.models[part.model]), device)
            elif part.method in pixel_parts.METHODS:
                pixel_parts.decode_part(pic, part, payload)
            else:
                _decode_bytes_part(pic, part, payload, header.models, shape, header.version)
        except (ValueError, RuntimeError, IndexError, AssertionError) as e:  # constriction asserts on bad data
            raise FormatError(f"corrupted archive (payload does not decode: {e})") from None
    if pic.checksum() != header.checksum:
        raise FormatError("checksum mismatch: the decoded image differs from the original "
                          "(corrupted archive or a different model build)")
    return pic


def _decode_model_part(pic: Picture, part: container.Part, payload: bytes, name: str, device: str) -> None:
    from . import codec, exact, mixing_codec
    if part.layout not in waves.LAYOUTS:
        raise FormatError(f"corrupted archive (unknown tile layout {part.layout})")
    if part.method != container.METHOD_MODEL and any(part.scale_offsets):
        raise FormatError("corrupted archive (scale offsets in a mixing part)")
    model = registry.load(name, device)
    rows = stripe_rows(pic.height, pic.width, part.method)
    image = np.empty((pic.height, pic.width, 3), np.uint8)
    stripes = list(enumerate(_stripes(payload, -(-pic.height // rows))))

    def decode_stripe(item: tuple[int, bytes]) -> None:
        i, stripe = item
        height = min(rows, pic.height - i * rows)
        profile = container.MIXING_PROFILES.get(part.method)
        image[i * rows:i * rows + height] = (
            mixing_codec.decode_image(model, stripe, height, pic.width, part.layout,
                                      profiles.PROFILES[profile]) if profile else
            codec.decode_image(model, stripe, height, pic.width, part.layout, part.scale_offsets))

    with exact.single_threaded_blas():
        _side_by_side(decode_stripe, stripes, part.method in container.SIDE_BY_SIDE_METHODS)
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
