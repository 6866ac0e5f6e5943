"""constriction's rounding pinned: fixed tables and probabilities must give fixed compressed
words, and its quantiser must follow the rule docs/FORMAT.md writes down. Its `perfect=False`
quantiser turns float tables into integer frequencies by a rule its version defines; archives
of levels 1-4 and 8-9 and of the byte path depend on it, so pyproject.toml pins the exact
version, and these tests fail the day an upgrade codes the same input differently.

The rule is read back from constriction itself: a range decoder that starts on crafted words
decodes the symbol whose quantised CDF interval holds a chosen point, so a bisection over the
points finds every interval's left end exactly."""
from __future__ import annotations

import hashlib

import constriction
import numpy as np
import pytest

from arzip.coder import _BITS, _FAMILY, PROB_ONE, Decoder, Encoder

PRECISION = 24  # constriction's default range coder: u32 words, 24-bit probabilities

WORDS_SHA256 = "8564b07780db74f5f5e709d05136613adf794d62b704017b0001d56888df170d"  # constriction 0.5.0


def _inputs():
    rng = np.random.default_rng(2026)
    tables = rng.integers(1, 2 ** 20, (500, 33)).astype(np.float64)
    tables[::7, 5] = 2 ** 40  # lopsided rows
    symbols = rng.integers(0, 33, 500)
    p = rng.integers(1, 4096, 2000)
    bits = (rng.integers(0, 4096, 2000) < p).astype(np.int64)
    return tables, symbols, p, bits


def test_constriction_codes_fixed_input_to_fixed_words():
    tables, symbols, p, bits = _inputs()
    encoder = Encoder()
    encoder.encode(symbols, tables)
    encoder.encode_bits(bits, p)
    payload = encoder.finish()
    assert hashlib.sha256(payload).hexdigest() == WORDS_SHA256
    decoder = Decoder(payload)
    assert np.array_equal(decoder.decode(tables), symbols)
    assert np.array_equal(decoder.decode_bit_probs(p / 4096), bits)


def _decoded_at(family, params: tuple, point: int) -> int:
    """The symbol a fresh range decoder reads when its 24-bit quantile is `point` (its state
    starts at lower 0 and range 2^64 - 1, whose top 40 bits scale the quantile)."""
    state = point * ((2 ** 64 - 1) >> PRECISION)
    words = np.array([state >> 32, state & 0xFFFFFFFF, 0, 0], dtype=np.uint32)
    return int(constriction.stream.queue.RangeDecoder(words).decode(family, *params)[0])


def _constriction_cdf(family, params: tuple, n: int) -> list[int]:
    """The left ends of the n quantised intervals, found by bisection."""
    lefts = [0]
    for symbol in range(1, n):
        lo, hi = lefts[-1], 2 ** PRECISION
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if _decoded_at(family, params, mid) >= symbol else (mid + 1, hi)
        lefts.append(lo)
    return lefts


def format_categorical_cdf(table: np.ndarray) -> list[int]:
    """docs/FORMAT.md's rule for a table of n non-negative integer frequencies (held in f64):
    left_i = trunc(S_i * scale) + i, S_i the running f64 sum before entry i, scale = f64 of
    (2^24 - n) / (f64 sum of the table)."""
    n = len(table)
    scale = float(2 ** PRECISION - n) / float(sum(table.tolist()))
    lefts, running = [], 0.0
    for i, f in enumerate(table.tolist()):
        lefts.append(int(running * scale) + i)
        running += f
    return lefts


def format_bit_cdf(p: int) -> list[int]:
    """docs/FORMAT.md's rule for a bit whose probability of a 1 is p / 4096: the 0 gets
    [0, floor((4096 - p) (2^24 - 2) / 4096) + 1), the 1 the rest of [0, 2^24)."""
    return [0, ((PROB_ONE - p) * (2 ** PRECISION - 2)) // PROB_ONE + 1]


@pytest.mark.parametrize("kind", ["window", "full with zeros", "lopsided"])
def test_constriction_quantises_tables_as_the_format_says(kind):
    rng = np.random.default_rng(len(kind))
    for _ in range(3):
        if kind == "window":  # 33 entries summing to 2^24, as the image model's window tables
            table = np.diff(np.concatenate([[0], np.sort(rng.integers(0, 2 ** 24, 32)), [2 ** 24]]))
        elif kind == "full with zeros":  # 256 entries, a window of 32 zeroed: the escape stage
            table = rng.integers(0, 2 ** 16, 256)
            start = int(rng.integers(0, 225))
            table[start:start + 32] = 0
        else:
            table = rng.integers(1, 50, 40)
            table[3] = 2 ** 40
        table = table.astype(np.float64)
        assert _constriction_cdf(_FAMILY, (table[None],), len(table)) == format_categorical_cdf(table)


def test_constriction_quantises_bits_as_the_format_says():
    for p in [1, 2, 3, 100, 2047, 2048, 2049, 4000, 4094, 4095, *range(5, 4095, 97)]:
        assert _constriction_cdf(_BITS, (np.array([p / PROB_ONE]),), 2) == format_bit_cdf(p), p
