"""The coefficient model's tables: which context cells, weight sets and APM rows each kind
of decision uses, laid out in one array each (arzip/jpeg/model.py walks the blocks,
arzip/jpeg/decisions.py codes the decisions), its constants, and one segment's fresh state.
"""
from __future__ import annotations

import numpy as np

from ..mixing.logistic import apm_init

MIX_SHIFT = 16
INPUTS = 6          # at most 5 context cells and the bias
COUNT_LIMIT = 255
MIX_LR = 6          # the mixers' learning rate once a weight set has settled
MIX_LR_FRESH = 96   # and on top of it while it is new, fading as 1024 / (1024 + updates)
WEIGHT_INIT_DIV = 4
APM_RATE = 7
MAX_CLASS = 16      # |v| < 2^16: int16 coefficients
KINDS = 3           # component 0, component 1, components 2 and 3

# the 7x7 interior in zigzag order (natural indices row * 8 + column)
INTERIOR = np.array([9, 10, 17, 25, 18, 11, 12, 19, 26, 33, 41, 34, 27, 20, 13, 14, 21, 28, 35, 42, 49, 57, 50,
                     43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47,
                     55, 62, 63], dtype=np.int64)
# the edges: row 0 (columns 1..7), then column 0 (rows 1..7)
EDGES = np.array([1, 2, 3, 4, 5, 6, 7, 8, 16, 24, 32, 40, 48, 56], dtype=np.int64)
# the DCT basis at the block's first sample, C(k) cos(k pi / 16) * 4096 (at its last: times (-1)^k)
BASIS = np.array([2896, 4017, 3784, 3406, 2896, 2276, 1567, 799], dtype=np.int64)
# buckets of a count of non-zeros 0..49
NZ_BUCKET = np.array([0, 1, 2, 3, 4, 4, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7] + [8] * 8 + [9] * 26, dtype=np.int64)
NZB = 10
PM = 12             # classes of the neighbours' weighted magnitude

# context regions: (name, cells), laid out one after another in one table
_REGIONS = [
    ("count_a", KINDS * 64 * NZB), ("count_b", KINDS * 64 * NZB * NZB), ("count_c", KINDS * 64 * 16),
    ("zero_a", KINDS * 49 * NZB * PM), ("zero_b", KINDS * 49 * 8 * 8), ("zero_c", KINDS * 49 * NZB * 8),
    ("zero_d", KINDS * 49 * NZB * PM),
    ("class_a", KINDS * 49 * MAX_CLASS * PM), ("class_b", KINDS * 8 * MAX_CLASS * NZB * 8),
    ("class_c", KINDS * 49 * MAX_CLASS * 8),
    ("sign", KINDS * 64 * 9 * 8 * 3), ("mantissa", KINDS * 64 * (MAX_CLASS + 1) * MAX_CLASS),
    ("mantissa_near", KINDS * (MAX_CLASS + 1) * MAX_CLASS * 4),
    ("zero_x", KINDS * 49 * 13), ("class_x", KINDS * 49 * MAX_CLASS * 13),
    ("edge_zero_x", KINDS * 14 * 13), ("edge_sign_x", KINDS * 14 * 9 * 8), ("edge_class_x", KINDS * 14 * MAX_CLASS * 13), ("edge_last_a", KINDS * 2 * 8 * NZB), ("edge_last_b", KINDS * 2 * 8 * 8), ("edge_last_c", KINDS * 2 * 8 * 9),
    ("edge_last_x", KINDS * 2 * 8 * 9),
    ("edge_zero_a", KINDS * 14 * 24), ("edge_sign", KINDS * 14 * 24), ("edge_zero_b", KINDS * 14 * 12 * 8), ("edge_zero_c", KINDS * 14 * NZB * 8),
    ("edge_class_a", KINDS * 14 * MAX_CLASS * 24 * 3), ("edge_class_b", KINDS * 14 * MAX_CLASS * 12),
    ("edge_class_c", KINDS * 14 * MAX_CLASS * 8), ("edge_mantissa", KINDS * 14 * (MAX_CLASS + 1) * MAX_CLASS * 5),
    ("edge_mantissa_near", KINDS * 14 * (MAX_CLASS + 1) * MAX_CLASS * 4),
    ("dc_a", KINDS * (MAX_CLASS + 1) * 17), ("dc_b", KINDS * (MAX_CLASS + 1) * NZB * 2),
    ("dc_c", KINDS * (MAX_CLASS + 1) * 17 * 4), ("dc_x", KINDS * (MAX_CLASS + 1) * 24),
]
REGION = {}
_at = 0
for _name, _size in _REGIONS:
    REGION[_name] = _at
    _at += _size
CELLS = _at
(R_COUNT_A, R_COUNT_B, R_COUNT_C, R_ZERO_A, R_ZERO_B, R_ZERO_C, R_ZERO_D, R_CLASS_A, R_CLASS_B, R_CLASS_C, R_SIGN,
 R_MANTISSA, R_MANTISSA_NEAR, R_ZERO_X, R_CLASS_X, R_EDGE_ZERO_X, R_EDGE_SIGN_X, R_EDGE_CLASS_X, R_EDGE_LAST_A, R_EDGE_LAST_B, R_EDGE_LAST_C, R_EDGE_LAST_X, R_EDGE_ZERO_A, R_EDGE_SIGN, R_EDGE_ZERO_B, R_EDGE_ZERO_C, R_EDGE_CLASS_A, R_EDGE_CLASS_B, R_EDGE_CLASS_C,
 R_EDGE_MANTISSA, R_EDGE_MANTISSA_NEAR, R_DC_A, R_DC_B, R_DC_C, R_DC_X) = (REGION[name] for name, _ in _REGIONS)

# weight sets (and APM rows): one per decision kind and position
W_COUNT = 0                                  # KINDS * 64 tree nodes
W_ZERO = W_COUNT + KINDS * 64                # KINDS * 49
W_CLASS = W_ZERO + KINDS * 49                # KINDS * 8 position buckets * MAX_CLASS
W_EDGE_ZERO = W_CLASS + KINDS * 8 * MAX_CLASS  # KINDS * 14
W_EDGE_CLASS = W_EDGE_ZERO + KINDS * 14      # KINDS * 14 * MAX_CLASS
W_DC = W_EDGE_CLASS + KINDS * 14 * MAX_CLASS  # KINDS * (MAX_CLASS + 1)
W_SIGN = W_DC + KINDS * (MAX_CLASS + 1)      # KINDS * 64
# the second mixer's weight sets, chosen by what the first's do not see
W2_COUNT = W_SIGN + KINDS * 64               # KINDS * 64 nodes * NZB guesses
W2_ZERO = W2_COUNT + KINDS * 64 * NZB        # KINDS * NZB * PM
W2_CLASS = W2_ZERO + KINDS * NZB * PM        # KINDS * MAX_CLASS * PM
W2_EDGE_ZERO = W2_CLASS + KINDS * MAX_CLASS * PM  # KINDS * 14 * 8
W2_EDGE_CLASS = W2_EDGE_ZERO + KINDS * 14 * 8     # KINDS * MAX_CLASS * 24 * 3
W2_DC = W2_EDGE_CLASS + KINDS * MAX_CLASS * 24 * 3  # KINDS * (MAX_CLASS + 1) * 17
W_EDGE_SIGN = W2_DC + KINDS * (MAX_CLASS + 1) * 17  # KINDS * 14
W2_EDGE_SIGN = W_EDGE_SIGN + KINDS * 14      # KINDS * 14 * 24
W_MANTISSA = W2_EDGE_SIGN + KINDS * 14 * 24   # KINDS * (MAX_CLASS + 1)
W2_MANTISSA = W_MANTISSA + KINDS * (MAX_CLASS + 1)  # KINDS * (MAX_CLASS + 1) * MAX_CLASS
W_EDGE_MANTISSA = W2_MANTISSA + KINDS * (MAX_CLASS + 1) * MAX_CLASS  # KINDS * 14
W2_EDGE_MANTISSA = W_EDGE_MANTISSA + KINDS * 14  # KINDS * 14 * 5
W_EDGE_LAST = W2_EDGE_MANTISSA + KINDS * 14 * 5  # KINDS * 2 edges * 8 tree nodes
W2_EDGE_LAST = W_EDGE_LAST + KINDS * 2 * 8      # KINDS * 2 * 8 * NZB
WEIGHT_SETS = W2_EDGE_LAST + KINDS * 2 * 8 * NZB

# what the encoder's NLL is split by
COST_NAMES = ("count", "interior zero", "interior class", "interior sign", "interior mantissa", "edge zero",
              "edge class", "dc", "edge sign", "edge mantissa")
COST_KINDS = len(COST_NAMES)
# -log2(p / 4096) for the encoder's NLL
COST = -np.log2(np.maximum(np.arange(4096), 1) / 4096.0)


class State:
    """One segment's adaptive tables: fresh, or a copy of a prior's (a trained starting state,
    arzip/jpeg/prior.py), which a segment then adapts as a fresh one would."""

    def __init__(self, prior: "State | None" = None) -> None:
        if prior is not None:
            self.cells, self.weights, self.apm = prior.cells.copy(), prior.weights.copy(), prior.apm.copy()
            return
        self.cells = np.zeros(CELLS, dtype=np.uint32)
        self.weights = np.full((WEIGHT_SETS, INPUTS + 1), (1 << MIX_SHIFT) // WEIGHT_INIT_DIV, dtype=np.int64)
        self.weights[:, INPUTS - 1:] = 0  # the bias, and the set's count of updates
        self.apm = apm_init(WEIGHT_SETS).astype(np.int64)
