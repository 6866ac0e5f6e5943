"""Coding one block of bytes with the byte model: network + mixer + range coder, step by step.

The encoder knows every byte, so it runs the model over a chunk of steps in one compiled loop
and codes all their bits in one coder call. The decoder must learn each bit before it can
predict the next, so per bit it makes one model call and one coder call over the S segments of
the step. Both run exactly the same integer predict/update sequence (arzip.bytes.mixer).
"""
from __future__ import annotations

import numpy as np

from .. import coder
from . import mixer
from .mixer import NetTables

SEGMENT_BYTES = 16384   # bytes per segment: longer segments code a little better (EXPERIMENTS B17)
SEGMENTS_MIN = 16       # but at least this many (from 16 kB on; segments of 1 kB at least), for
SEGMENTS_MAX = 64       # decoding speed
CHUNK_BITS = 1 << 20    # encoder: bits coded per coder call (bounds its memory)


def segments_for(n: int) -> int:
    """How many segments a block of n bytes is coded in: each decoding step costs a fixed
    ~70 us of calls besides the model's work, so small files need shorter segments to decode
    at 100 kB/s, while large ones do best with few."""
    return max(1, min(n // 1024, SEGMENTS_MIN), min(n // SEGMENT_BYTES, SEGMENTS_MAX))


def encode_block(net: NetTables, block: bytes, segments: int | None = None) -> tuple[bytes, float, int]:
    """-> (payload, model NLL in bits, segments), tables sized to the block (format version 4)."""
    source = np.frombuffer(block, dtype=np.uint8)
    segments = segments or segments_for(len(source))
    state = mixer.MixerState(len(source), segments, net, sized=True)
    enc = coder.Encoder()
    nll = 0.0
    chunk = max(1, CHUNK_BITS // (8 * segments))
    probs = np.empty(min(state.steps, chunk) * segments * 8, dtype=np.int64)
    bits = np.empty_like(probs)
    for t0 in range(0, state.steps, chunk):
        t1 = min(state.steps, t0 + chunk)
        k = mixer.run_encoder(state.arrays, source, t0, t1, probs, bits)
        enc.encode_bits(bits[:k], probs[:k])
        nll += float(coder.bit_costs(bits[:k], probs[:k]).sum())
    return enc.finish(), nll, segments


def decode_block(net: NetTables, payload: bytes, n: int, segments: int, sized: bool) -> bytes:
    """The n bytes of a block that encode_block coded (sized: its tables sized to n, as from
    format version 4 on; False for version 3 archives)."""
    if not 1 <= segments <= max(1, n):
        raise ValueError(f"bad segment count {segments} for {n} bytes")
    state = mixer.MixerState(n, segments, net, sized)
    data, probs = state.data, state.coder_probs
    dec = coder.Decoder(payload)
    mixer.predict(state.arrays, 0, 0, state.active(0))
    for t in range(state.steps):
        active = state.active(t)
        active_next = state.active(t + 1) if t + 1 < state.steps else 0
        p = probs[:active]
        for j in range(8):
            bits = dec.decode_bit_probs(p)
            mixer.update_predict(state.arrays, t, j, bits, active, active_next)
    return data.tobytes()
