"""A JPEG's coefficient planes through the coefficient model (arzip/jpeg/model.py), in
segments of whole bands coded side by side, and back.

Why segments: the model learns as it goes, so one stream is one thread. A photo's bands are cut
into segments, each coded from fresh tables into a stream of its own, so both cores work on
one file in both directions (Lepton cuts its files the same way). The cut costs a little rate
(each segment learns from nothing, and its first row sees no row above), so small images stay
whole; where the cuts go is recorded in the archive, not derived, so the policy may change
without changing the format.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import native
from ..errors import FormatError
from ..mixing import arithmetic
from . import contexts, model
from .transcode import Geometry

# images of fewer blocks are one segment: at the default profile from 4,096 blocks (a 512x512
# 4:2:0 photo has 6,144), where the prior (prior.py) makes the cut cost about half a point of
# the coefficients' bytes and both cores halve the time; at the strong profile, whose purpose is
# the smallest file, from 16,384 (a 1-megapixel 4:2:0 photo has 23 k)
SPLIT_MIN_BLOCKS = 1 << 12
SPLIT_MIN_BLOCKS_STRONG = 1 << 14
WORST_BYTES_PER_BLOCK = 3200  # at most about 2,060 decisions of at most 12 bits
LEAST_DECISIONS_PER_BLOCK = 13  # every block: 6 for its count, 3 for each edge's last non-zero, 1 for DC


@dataclass(frozen=True)
class Layout:
    """The planes as the model's kernel sees them: one (blocks, 64) array, component c's
    plane from block offset[c], width[c] blocks a row, rows[c] block rows a band."""
    offset: np.ndarray
    width: np.ndarray
    rows: np.ndarray
    quant: np.ndarray   # (components, 64) int64, zeros read as 1 (a divisor of the predictions)
    bands: int
    blocks: int


def layout_of(geometry: Geometry) -> Layout:
    """The band structure of geometry's planes: a band is one MCU row (one block row when the
    frame has one component); FormatError where the planes do not cut into whole bands."""
    comps = geometry.components
    rows = [comp.v if len(comps) > 1 else 1 for comp in comps]
    bands = comps[0].blocks_y // rows[0]
    offset, at = [], 0
    for comp, r in zip(comps, rows):
        if comp.blocks_y != bands * r or comp.blocks_x <= 0:
            raise FormatError("corrupted archive (a JPEG plane is not whole bands)")
        offset.append(at)
        at += comp.blocks_y * comp.blocks_x
    quant = np.maximum(np.stack([np.asarray(comp.quant, dtype=np.int64) for comp in comps]), 1)
    return Layout(np.array(offset, dtype=np.int64), np.array([comp.blocks_x for comp in comps], dtype=np.int64),
                  np.array(rows, dtype=np.int64), quant, bands, at)


def joined(planes: list[np.ndarray]) -> np.ndarray:
    """The planes as one (blocks, 64) int16 array: the array they are views of where they lie
    one after another in it (as transcode.take_apart makes them), else a copy."""
    base = planes[0].base
    if (isinstance(base, np.ndarray) and base.dtype == np.int16 and base.ndim == 2 and base.flags.c_contiguous
            and sum(p.size for p in planes) == base.size and all(p.base is base and p.flags.c_contiguous for p in planes)):
        at = base.ctypes.data
        for p in planes:
            if p.ctypes.data != at:
                break
            at += p.nbytes
        else:
            return base
    return np.concatenate([p.reshape(-1, 64) for p in planes]).astype(np.int16, copy=False)


def segment_bands(lay: Layout, coefs: np.ndarray, split_min_blocks: int) -> list[int]:
    """How many bands each segment codes: for a large image, two segments of about the same
    work (the model's time goes with the non-zero coefficients, which gather where the
    picture is busy, so equal halves of the rows would leave one thread idle), else one. The
    thread count plays no part: an archive is the same on every machine."""
    if lay.blocks < split_min_blocks or lay.bands < 4:
        return [lay.bands]
    work = np.zeros(lay.bands, dtype=np.int64)
    for off, w, r in zip(lay.offset, lay.width, lay.rows):
        n = lay.bands * r * w
        work += np.count_nonzero(coefs[off:off + n].reshape(lay.bands, -1), axis=1) + r * w  # every block costs something
    before = np.cumsum(work)
    cut = int(np.clip(np.searchsorted(before, before[-1] / 2), 1, lay.bands - 1))
    return [cut, lay.bands - cut]


def _encoder(geometry: Geometry, planes: list[np.ndarray], strong: bool):
    """(the layout, the planes as one array, one_segment): one_segment(first, bands, st) codes
    bands first.. on st's tables, which it adapts, into (stream, NLL per kind of decision)."""
    encode_bands = model.KERNELS[False, strong]
    lay = layout_of(geometry)
    coefs = joined(planes)
    counts = np.zeros(lay.blocks, dtype=np.int8)
    dc_residuals = np.zeros(lay.blocks, dtype=np.int32)

    def one_segment(first: int, bands: int, st: contexts.State) -> tuple[bytes, np.ndarray]:
        coder, nll = arithmetic.encoder_state(), np.zeros(contexts.COST_KINDS)
        buf = np.empty(int(sum(lay.width * lay.rows)) * WORST_BYTES_PER_BLOCK + 8, dtype=np.uint8)
        pieces = []
        for b in range(first, first + bands):
            end = encode_bands(coefs, lay.offset, lay.width, lay.rows, lay.quant, counts, dc_residuals, b, b + 1, first,
                               st.cells, st.weights, st.apm, buf, 0, coder, nll)
            pieces.append(buf[:end].tobytes())
        end = arithmetic.flush(coder, buf, 0)
        pieces.append(buf[:end].tobytes())
        return b"".join(pieces), nll

    return lay, coefs, one_segment


def encode(geometry: Geometry, planes: list[np.ndarray], strong: bool, prior: contexts.State | None,
           split_min_blocks: int) -> tuple[list[tuple[int, bytes]], np.ndarray]:
    """([(bands, stream)] per segment, the model's NLL in bits per kind of decision,
    contexts.COST_NAMES) of the planes, with the default or the strong profile of the model,
    each segment's tables starting from prior's (fresh where None); an image of at least
    split_min_blocks blocks is cut in two segments."""
    lay, coefs, one_segment = _encoder(geometry, planes, strong)
    splits = segment_bands(lay, coefs, split_min_blocks)
    firsts = [sum(splits[:i]) for i in range(len(splits))]
    done = native.side_by_side(lambda first, bands: one_segment(first, bands, contexts.State(prior)),
                         list(zip(firsts, splits)))
    return [(bands, stream) for bands, (stream, _) in zip(splits, done)], sum(n for _, n in done)


def decode(geometry: Geometry, segments: list[tuple[int, bytes]], strong: bool,
           prior: contexts.State | None = None) -> list[np.ndarray]:
    """The planes of encode's segments (with the same prior); FormatError where they do not
    cover the bands or a stream ends before its bands do."""
    decode_bands = model.KERNELS[True, strong]
    lay = layout_of(geometry)
    if sum(bands for bands, _ in segments) != lay.bands or any(bands <= 0 for bands, _ in segments):
        raise FormatError("corrupted archive (JPEG segments do not cover the image)")
    coefs = np.zeros((lay.blocks, 64), dtype=np.int16)
    counts = np.zeros(lay.blocks, dtype=np.int8)
    dc_residuals = np.zeros(lay.blocks, dtype=np.int32)

    def one(first: int, bands: int, stream: bytes) -> None:
        st = contexts.State(prior)
        data = np.frombuffer(stream, dtype=np.uint8).copy()
        coder = arithmetic.decoder_state(data)
        for b in range(first, first + bands):
            decode_bands(coefs, lay.offset, lay.width, lay.rows, lay.quant, counts, dc_residuals, b, b + 1, first,
                                st.cells, st.weights, st.apm, data, 0, coder, np.zeros(1))
            arithmetic.check_within(coder, data)

    firsts, at = [], 0
    for bands, _ in segments:
        firsts.append(at)
        at += bands
    native.side_by_side(one, [(f, bands, stream) for f, (bands, stream) in zip(firsts, segments)])
    planes, at = [], 0
    for comp in geometry.components:
        n = comp.blocks_y * comp.blocks_x
        planes.append(coefs[at:at + n].reshape(comp.blocks_y, comp.blocks_x, 64))
        at += n
    return planes


def learn(geometry: Geometry, planes: list[np.ndarray], strong: bool, st: contexts.State) -> float:
    """Code the planes as one segment on st's tables, adapting them in place (the stream is
    dropped); returns the NLL in bits. How a prior is trained (arzip/jpeg/train.py)."""
    lay, _, one_segment = _encoder(geometry, planes, strong)
    return float(one_segment(0, lay.bands, st)[1].sum())
