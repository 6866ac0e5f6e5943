"""Entropy coding of symbol batches with constriction's range coder.

Each call codes a whole batch: symbols (n,) with their integer frequency tables (n, 256), or bits
with their 12-bit probabilities of a 1 (the byte model). Tables and probabilities are integers
(or integers / 4096) held in float64, so constriction's own rescaling sees bit-identical input on
every machine. `perfect=False` is set on both sides, as the format requires.
"""
from __future__ import annotations

import constriction
import numpy as np

_FAMILY = constriction.stream.model.Categorical(perfect=False)
_BITS = constriction.stream.model.Bernoulli(perfect=False)
PROB_ONE = 4096  # bit probabilities are integers p / PROB_ONE, 0 < p < PROB_ONE


class Encoder:
    def __init__(self) -> None:
        self._coder = constriction.stream.queue.RangeEncoder()

    def encode(self, symbols: np.ndarray, tables: np.ndarray) -> None:
        if len(symbols):
            self._coder.encode(np.ascontiguousarray(symbols, dtype=np.int32), _FAMILY, tables)

    def encode_bits(self, bits: np.ndarray, p1: np.ndarray) -> None:
        """bits (n,) in {0, 1}, p1 (n,) integer probabilities of a 1 in units of 1/PROB_ONE."""
        if len(bits):
            self._coder.encode(np.ascontiguousarray(bits, dtype=np.int32), _BITS, p1 / PROB_ONE)

    def finish(self) -> bytes:
        return self._coder.get_compressed().astype("<u4").tobytes()


class Decoder:
    def __init__(self, payload: bytes) -> None:
        if len(payload) % 4:
            raise ValueError("payload length is not a multiple of 4")
        words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
        self._coder = constriction.stream.queue.RangeDecoder(words)

    def decode(self, tables: np.ndarray) -> np.ndarray:
        if not len(tables):
            return np.zeros(0, dtype=np.int32)
        return self._coder.decode(_FAMILY, tables)

    def decode_bit_probs(self, p: np.ndarray) -> np.ndarray:
        """Bits whose probabilities of a 1 are p (float64, already divided by PROB_ONE)."""
        return self._coder.decode(_BITS, p)


def symbol_bits(symbols: np.ndarray, tables: np.ndarray) -> np.ndarray:
    """-log2 probability of each symbol under its (unnormalised) table: what coding it costs."""
    return -np.log2(tables[np.arange(len(symbols)), symbols] / tables.sum(axis=1))


def bit_costs(bits: np.ndarray, p1: np.ndarray) -> np.ndarray:
    """-log2 probability of each bit, p1 its integer probability of a 1 (units of 1/PROB_ONE)."""
    return -np.log2(np.where(bits == 1, p1, PROB_ONE - p1) / PROB_ONE)
