"""The compiled binary arithmetic coder of the mixing engine: exact round trips, a code length
within a hair of the ideal, and bounded, quiet behaviour on damaged streams."""
from __future__ import annotations

import numba
import numpy as np

from arzip.mixing import arithmetic


def _code(bits: np.ndarray, probs: np.ndarray) -> bytes:
    state, out = arithmetic.encoder_state(), np.empty(2 * len(bits) + 4, dtype=np.uint8)
    end = arithmetic.flush(state, out, arithmetic.encode(state, bits, probs, out, 0))
    return out[:end].tobytes()


@numba.njit(cache=True)
def _bits(state, data, probs):
    out = np.zeros(probs.shape[0], dtype=np.int64)
    for i in range(probs.shape[0]):
        out[i] = arithmetic.decode_bit(state, data, probs[i])
    return out


def _read(blob: bytes, probs: np.ndarray) -> np.ndarray:
    data = np.frombuffer(blob, dtype=np.uint8)
    return _bits(arithmetic.decoder_state(data), data, probs)


def test_round_trip_at_the_ideal_length():
    rng = np.random.default_rng(0)
    probs = rng.integers(1, 4096, 100_000)
    bits = (rng.integers(0, 4096, len(probs)) < probs).astype(np.int64)
    blob = _code(bits, probs)
    assert np.array_equal(_read(blob, probs), bits)
    ideal = -np.log2(np.where(bits == 1, probs, 4096 - probs) / 4096).sum()
    assert 8 * len(blob) < ideal * 1.0005 + 32


def test_extreme_probabilities_and_surprises():
    probs = np.array([4095] * 5000 + [1] * 5000 + [4095, 1] * 100, dtype=np.int64)
    bits = np.array([1] * 5000 + [0] * 5000 + [0, 1] * 100, dtype=np.int64)  # 200 surprises at the end
    assert np.array_equal(_read(_code(bits, probs), probs), bits)


def test_damaged_and_short_streams_decode_in_bounded_time():
    rng = np.random.default_rng(1)
    probs = rng.integers(1, 4096, 20_000)
    for blob in (b"", b"\x00", rng.bytes(7), rng.bytes(3000)):
        assert _read(blob, probs).shape == probs.shape
