"""A binary arithmetic coder in compiled integer code, for models that code bit by bit inside
their own kernels (arzip.image.adaptive's light profile): the decoder must learn from every
bit before it predicts the next batch, and a call into a Python-level coder per batch of bits
would cost more than the model itself.

The classic carry-less 32-bit coder of the PAQ family: the interval [low, high] is split in
proportion to the 12-bit probability p of a 1 (the 1 takes the lower part), and whenever low
and high agree in their top byte that byte is written and both shift left by 8. The encoder's
final 4 bytes are low's. Reading past the end of the data reads zeros, so a damaged stream
decodes to some values in bounded time (the archive's checksum then rejects them). State:
int64 arrays, [low, high] for the encoder, [low, high, x, read position] for the decoder.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..native import kernel


TOP = 0xFF000000
M32 = 0xFFFFFFFF


def encoder_state() -> np.ndarray:
    return np.array([0, M32], dtype=np.int64)


def decoder_state(data: np.ndarray) -> np.ndarray:
    """The decoder of `data` (uint8), its first 4 bytes read."""
    state = np.array([0, M32, 0, 0], dtype=np.int64)
    _read_first(state, data)
    return state


@kernel()
def _read_first(state, data):
    for _ in range(4):
        state[2] = (state[2] << 8) | _byte(data, state[3])
        state[3] += 1


def encode_bands(coder: np.ndarray, height: int, rows_per_band: int, worst_bytes_per_row: int,
                 code_band: Callable[[int, int, np.ndarray], int], head: bytes = b"") -> bytes:
    """head, then the encoder's bytes of an image coded band by band, then flushed: code_band(y0, y1, buf)
    codes rows y0..y1-1 into buf (uint8, room for the band's worst case) from index 0 and
    returns where it ended. The coder's state carries across bands, and being carry-less it
    never touches a byte once written, so the bytes are those of one long buffer; memory is the
    output and one band's worst case (the kernels do not check bounds)."""
    pieces = [head]
    for y0 in range(0, height, rows_per_band):
        y1 = min(height, y0 + rows_per_band)
        buf = np.empty((y1 - y0) * worst_bytes_per_row + 8, dtype=np.uint8)
        pieces.append(buf[:code_band(y0, y1, buf)].tobytes())
    end = np.empty(4, dtype=np.uint8)
    pieces.append(end[:flush(coder, end, 0)].tobytes())
    return b"".join(pieces)


BAND_PIXELS = 1 << 16  # the decoder's bands: enough pixels that a call's overhead does not show


def decode_bands(coder: np.ndarray, data: np.ndarray, height: int, width: int,
                 decode_band: Callable[[int, int], None]) -> None:
    """Decode an image band by band, decode_band(y0, y1) decoding rows y0..y1-1 from `data` with
    the decoder `coder` (bands of about BAND_PIXELS; the encoder's bands may differ, the coder's
    state carries across). A legitimate stream is read to its last byte
    and no further (the decoder reads one byte for each the encoder wrote), so one whose decoder
    has read past its end codes fewer rows than its header claims: a damaged or hostile payload,
    refused (ValueError) at the end of that band instead of decoding zeros for the rest of a
    large image."""
    rows = max(1, BAND_PIXELS // max(1, width))
    for y0 in range(0, height, rows):
        decode_band(y0, min(height, y0 + rows))
        check_within(coder, data)


def check_within(coder: np.ndarray, data: np.ndarray) -> None:
    """ValueError when the decoder `coder` has read past the end of `data`: a legitimate stream
    is read to its last byte and no further, so the stream codes fewer values than asked of it."""
    if coder[3] > data.shape[0]:
        raise ValueError("the coded data ends before the image does")


@kernel(inline="always")
def _byte(data, pos):
    return np.int64(data[pos]) if pos < data.shape[0] else 0


@kernel(inline="always")
def _split(low, high, p):
    """The last value of the 1's part of [low, high]; p in 1..4095 out of 4096."""
    span = high - low
    return low + (span >> 12) * p + (((span & 0xFFF) * p) >> 12)


@kernel(inline="always")
def encode_bit(state, bit, p, out, at):
    """encode() of one bit, for models that code as they go; returns the new end of out."""
    low, high = state[0], state[1]
    mid = _split(low, high, p)
    if bit:
        high = mid
    else:
        low = mid + 1
    while ((low ^ high) & TOP) == 0:
        out[at] = high >> 24
        at += 1
        low = (low << 8) & M32
        high = ((high << 8) & M32) | 0xFF
    state[0], state[1] = low, high
    return at


@kernel()
def encode(state, bits, probs, out, at):
    """Code bits[i] with probability probs[i] / 4096 of a 1, appending to out (uint8) from index
    `at`; returns the new end. out must have room for 2 bytes per bit plus 4."""
    for i in range(bits.shape[0]):
        at = encode_bit(state, bits[i], probs[i], out, at)
    return at


@kernel()
def flush(state, out, at):
    """The encoder's last 4 bytes; returns the new end."""
    for k in range(4):
        out[at + k] = (state[0] >> (24 - 8 * k)) & 0xFF
    return at + 4


@kernel(inline="always")
def decode_bit(state, data, p):
    """The next bit, coded with probability p / 4096 of a 1."""
    low, high, x = state[0], state[1], state[2]
    mid = _split(low, high, p)
    bit = 1 if x <= mid else 0
    if bit:
        high = mid
    else:
        low = mid + 1
    while ((low ^ high) & TOP) == 0:
        low = (low << 8) & M32
        high = ((high << 8) & M32) | 0xFF
        x = ((x << 8) & M32) | _byte(data, state[3])
        state[3] += 1
    state[0], state[1], state[2] = low, high, x
    return bit
