"""The parts a learned image model codes (arzip/image/codec.py alone, arzip/image/mixing_codec.py
with context mixing around it): a plane in stripes of rows, coded side by side where the
method says so, and decoded the same way.

Stripes keep memory bounded by a stripe and time linear in pixels (the adaptive model starts
afresh in every stripe); light and medium mixing cut every image of SIDE_BY_SIDE_MIN_PIXELS or
more into two stripes at least, which two threads code side by side. The rows per stripe are
part of the format: the decoder derives them from the geometry and the method.
"""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .. import native, registry
from ..container import read_varint, varint
from ..errors import FormatError
from . import container, profiles, waves

STRIPE_PIXELS = 1 << 22  # larger images go through a learned model in stripes of about this size
SIDE_BY_SIDE_MIN_PIXELS = 1 << 16  # light and medium mixing cut images from this size into two stripes at least,
                                   # so that two cores code one image side by side


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


def encode_plane(image: np.ndarray, name: str, how: NetworkCoding, device: str) -> tuple[bytes, float, int]:
    """An (H, W, 3) uint8 plane through the learned model `name` (alone, or with the mixing
    around it that `how` names) -> (payload, NLL in bits, tile layout)."""
    from . import codec, exact, mixing_codec  # loaded only when a plane goes through a learned model
    model = registry.load(name, device)
    method = how.method
    rows = stripe_rows(*image.shape[:2], method)
    layout = waves.layout_for(min(rows, image.shape[0]), image.shape[1])
    stripes = [np.ascontiguousarray(image[y:y + rows]) for y in range(0, image.shape[0], rows)]
    with exact.single_threaded_blas():
        if how.mixing:
            profile = profiles.PROFILES[how.mixing]
            coded = side_by_side(lambda stripe: mixing_codec.encode_image(model, stripe, layout, profile),
                                 stripes, method in container.SIDE_BY_SIDE_METHODS)
        else:
            coded = [codec.encode_image(model, stripe, layout) for stripe in stripes]
    payloads, nll = [p for p, _ in coded], sum(n for _, n in coded)
    payload = payloads[0] if len(payloads) == 1 else b"".join(varint(len(p)) + p for p in payloads)
    return payload, nll, layout


def decode_plane(height: int, width: int, part: container.Part, payload: bytes, name: str,
                 device: str) -> np.ndarray:
    """The (H, W, 3) uint8 plane of a learned model's part."""
    from . import codec, exact, mixing_codec
    if part.layout not in waves.LAYOUTS:
        raise FormatError(f"corrupted archive (unknown tile layout {part.layout})")
    if part.method != container.METHOD_MODEL and any(part.scale_offsets):
        raise FormatError("corrupted archive (scale offsets in a mixing part)")
    model = registry.load(name, device)
    rows = stripe_rows(height, width, part.method)
    image = np.empty((height, width, 3), np.uint8)
    stripes = list(enumerate(_stripes(payload, -(-height // rows))))

    def decode_stripe(item: tuple[int, bytes]) -> None:
        i, stripe = item
        h = min(rows, height - i * rows)
        profile = container.MIXING_PROFILES.get(part.method)
        image[i * rows:i * rows + h] = (
            mixing_codec.decode_image(model, stripe, h, width, part.layout, profiles.PROFILES[profile]) if profile else
            codec.decode_image(model, stripe, h, width, part.layout, part.scale_offsets))

    with exact.single_threaded_blas():
        side_by_side(decode_stripe, stripes, part.method in container.SIDE_BY_SIDE_METHODS)
    return image


def stripe_rows(height: int, width: int, method: int) -> int:
    """Rows per stripe of a model-coded plane (part of the format: the decoder derives it)."""
    rows = height if height * width <= STRIPE_PIXELS else max(1, STRIPE_PIXELS // width)
    if method in container.SIDE_BY_SIDE_METHODS and height * width >= SIDE_BY_SIDE_MIN_PIXELS:
        rows = min(rows, -(-height // 2))
    return rows


def side_by_side(code: Callable, stripes: list, parallel: bool) -> list:
    """code(stripe) for every stripe, in order; with parallel, up to arzip's thread count of them
    at once, each on one thread (the stripes are independent: each has its own adaptive model
    and its own stream, so the archive is the same whatever the threads)."""
    workers = min(native.threads(), len(stripes)) if parallel else 1  # arzip.api.set_threads sets it
    if workers == 1:
        return [code(stripe) for stripe in stripes]

    def one_thread(stripe):
        native.set_threads(1, this_thread_only=True)  # per calling thread: its table kernels stay on it
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
