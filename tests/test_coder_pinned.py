"""constriction's rounding pinned: fixed tables and probabilities must give fixed compressed
words. Its `perfect=False` quantiser turns float tables into integer frequencies by a rule its
version defines; archives of levels 1-4 and 8-9 and of the byte path depend on it, so
pyproject.toml pins the exact version, and this test fails the day an upgrade codes the same
input differently."""
from __future__ import annotations

import hashlib

import numpy as np

from arzip.coder import Decoder, Encoder

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
