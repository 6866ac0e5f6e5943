"""Integer frequency tables: the tail of a channel's head (the part that waits for the pixel's
earlier channels), its outputs -> a mixture of discretized logistics -> integer frequencies for
the coder, built with integers only, in one compiled kernel per batch.

The sigmoid, inverse-scale and exp2 functions are lookup tables computed once when a model is
exported and shipped inside its file, never recomputed with libm on the decoding machine, so
every machine builds the same integers. Two kinds of table: the full 256-value table, and the
window table (WINDOW values around the heaviest component's mean plus one escape entry holding
the exact mass of all other values), which is what most values are coded with. A large batch
runs in row pieces side by side (arzip.image.pieces).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..native import kernel
from . import pieces

CDF_BITS = 24          # each component's CDF is an integer in [0, 2^24]
LUT_STEPS = 64         # sigmoid lookup table: 64 entries per unit of z ...
LUT_ZMAX = 16          # ... over z in [-16, 16]
INV_BITS = 24          # fixed point of the inverse-scale table
MEAN_FRAC = 6          # means in 1/64 grey level
LOG2_SCALE_FRAC = 5    # log2 scales in 1/32 steps
LOGIT_FRAC = 4         # mixture logits (log2 units) in 1/16 steps
WEIGHT_BITS = 16       # mixture weights: 2^16 for the largest component
FLOOR_SHIFT = 22       # every value gets at least total / 2^22
MIN_WEIGHT = 2 ** (WEIGHT_BITS - 10)  # lighter mixture components are left out
WINDOW = 32            # first coding stage: 32 values around the heaviest mean, plus an escape
HEAD_BLOCK = 64  # rows per inner block of the head kernel: the innermost loops run over rows

# Sums of integers below 2^53 are exact in float64 in any order, so the head kernels may let the
# compiler reorder and fuse them into vector instructions.
_EXACT_SUMS = {"reassoc", "contract", "nnan", "ninf", "nsz"}


@kernel(fastmath=_EXACT_SUMS)
def head_rows(hidden_part, out_part, cur, w_hidden_cur_t, hidden_scale, act_max, w_out_hidden_t, w_out_cur_t,
              out, row0, row1):
    """Rows row0..row1 of a two-layer head, with integer values held in float64 (the same
    integers the float layers give):
    z = clip(floor((hidden_part + W_hc @ cur) * hidden_scale), 0, act_max);
    out = out_part + W_oh @ z + W_oc @ cur."""
    n_hidden, n_out, n_cur = hidden_part.shape[1], out_part.shape[1], w_hidden_cur_t.shape[0]
    z = np.empty((n_hidden, HEAD_BLOCK), dtype=np.float64)
    acc = np.empty((n_out, HEAD_BLOCK), dtype=np.float64)
    for r0 in range(row0, row1, HEAD_BLOCK):
        nb = min(HEAD_BLOCK, row1 - r0)
        for b in range(nb):
            for j in range(n_hidden):
                z[j, b] = hidden_part[r0 + b, j]
            for o in range(n_out):
                acc[o, b] = out_part[r0 + b, o]
        for i in range(n_cur):
            for j in range(n_hidden):
                w = w_hidden_cur_t[i, j]
                for b in range(nb):
                    z[j, b] += w * cur[i, r0 + b]
            for o in range(n_out):
                w = w_out_cur_t[i, o]
                for b in range(nb):
                    acc[o, b] += w * cur[i, r0 + b]
        for j in range(n_hidden):
            scale = hidden_scale[j]
            for b in range(nb):
                z[j, b] = min(max(np.floor(z[j, b] * scale), 0.0), act_max)
        for j in range(n_hidden):
            for o in range(n_out):
                w = w_out_hidden_t[j, o]
                for b in range(nb):
                    acc[o, b] += w * z[j, b]
        for b in range(nb):
            for o in range(n_out):
                out[r0 + b, o] = acc[o, b]


@dataclass
class IntegerHead:
    """The part of a two-layer head that waits for the pixel's own earlier channels, run by a
    numba kernel on the CPU. The partial sums of everything else come from the exact layers
    (arzip.image.exact, on the CPU or a GPU); all of it is integer arithmetic below the exact
    limits, so the kernel and the float layers give the same integers."""
    w_hidden_cur_t: np.ndarray  # (n_cur, hidden) integer weights, float64
    hidden_scale: np.ndarray    # (hidden,) power of two to the activation fixed point
    act_max: float
    w_out_hidden_t: np.ndarray  # (hidden, n_out)
    w_out_cur_t: np.ndarray     # (n_cur, n_out)

    @property
    def params(self) -> tuple:
        """The weights as head_rows takes them."""
        return (self.w_hidden_cur_t, self.hidden_scale, self.act_max, self.w_out_hidden_t, self.w_out_cur_t)


@kernel(inline="always")
def _cdf(d: np.int64, inv: np.int64, lut: np.ndarray) -> np.int64:
    """Logistic CDF at distance d (1/64 grey levels) from the mean for inverse scale inv, as an
    integer in [0, 2^CDF_BITS]: table lookup with integer linear interpolation."""
    q = d * inv
    i = q >> INV_BITS
    frac = q & ((1 << INV_BITS) - 1)
    c = LUT_STEPS * LUT_ZMAX
    idx = i + c
    if idx < 0:
        return 0
    if idx >= 2 * c:
        return lut[2 * c]
    lo = lut[idx]
    return lo + (((lut[idx + 1] - lo) * frac) >> INV_BITS)


@kernel()
def _component(hist, w, mean, inv, lut_sig, full):
    """Add w times one discretized logistic (integer CDF differences) to hist."""
    c_lut = LUT_STEPS * LUT_ZMAX
    # only edges with |d| * inv < (c_lut + 1) * 2^INV_BITS are not saturated
    span = ((c_lut + 1) << INV_BITS) // inv + 1
    # the upper edge of value j, in 1/64 grey levels around 128, is 64 * (j - 128) + 32
    j_lo = max(0, (mean - span + 8192 - 32) // 64 - 1)
    j_hi = min(254, (mean + span + 8192 - 32) // 64 + 1)
    prev = _cdf(np.int64(64 * (j_lo - 1 - 128) + 32) - mean, inv, lut_sig) if j_lo > 0 else 0
    for j in range(j_lo, j_hi + 1):
        cur = _cdf(np.int64(64 * (j - 128) + 32) - mean, inv, lut_sig)
        hist[j] += w * (cur - prev)
        prev = cur
    hist[j_hi + 1] += w * (full - prev)


@kernel()
def _mixture(acc, r, shifts, n_comp, mean_lim, ls_lo, ls_hi, ls_offset, lut_inv, lut_exp2, weight, mean, inv):
    """Decode row r's integer head outputs into mixture weights, means (1/64 grey levels around
    128) and inverse scales (log2 scales moved by ls_offset, the image's adaptation). Returns the
    index of the heaviest component (first on ties)."""
    n_exp = lut_exp2.shape[0]
    top, best = np.int64(acc[r, 0]) >> shifts[0], 0
    for k in range(1, n_comp):
        logit = np.int64(acc[r, k]) >> shifts[k]
        if logit > top:
            top, best = logit, k
    for k in range(n_comp):
        logit = np.int64(acc[r, k]) >> shifts[k]
        w = lut_exp2[min(top - logit, n_exp - 1)]
        weight[k] = w if w >= MIN_WEIGHT else 0  # lighter than 2^-10 of the top: left out
        m = np.int64(acc[r, n_comp + k]) >> shifts[n_comp + k]
        mean[k] = min(max(m, -mean_lim), mean_lim)
        ls = (np.int64(acc[r, 2 * n_comp + k]) >> shifts[2 * n_comp + k]) + ls_offset
        inv[k] = lut_inv[min(max(ls, ls_lo), ls_hi) - ls_lo]
    return best


@kernel(inline="always")
def _edge(j):
    """Upper edge of value j in 1/64 grey levels around 128."""
    return np.int64(64 * (j - 128) + 32)


@kernel()
def _full_row(r, n_comp, weight, mean, inv, lut_sig, out, hist):
    """All 256 integer frequencies of row r."""
    full = lut_sig[lut_sig.shape[0] - 1]
    hist[:] = 0
    total = 0
    for k in range(n_comp):
        if weight[k]:
            _component(hist, weight[k], mean[k], inv[k], lut_sig, full)
            total += weight[k] * full
    floor = max(total >> FLOOR_SHIFT, 1)
    for j in range(256):
        out[r, j] = hist[j] + floor


@kernel()
def _window_row(r, n_comp, weight, mean, inv, best, lut_sig, out, starts, win):
    """The WINDOW frequencies around the heaviest component's mean, then one escape entry
    holding exactly the frequency mass of all values outside the window."""
    full = lut_sig[lut_sig.shape[0] - 1]
    center = (mean[best] >> MEAN_FRAC) + 128
    ws = min(max(center - WINDOW // 2, 0), 256 - WINDOW)
    starts[r] = ws
    for i in range(WINDOW):
        win[i] = 0
    total = 0
    for k in range(n_comp):
        w = weight[k]
        if w == 0:
            continue
        total += w * full
        prev = _cdf(_edge(ws - 1) - mean[k], inv[k], lut_sig) if ws > 0 else 0
        for i in range(WINDOW):
            j = ws + i
            cur = full if j == 255 else _cdf(_edge(j) - mean[k], inv[k], lut_sig)
            win[i] += w * (cur - prev)
            prev = cur
    floor = max(total >> FLOOR_SHIFT, 1)
    inside = 0
    for i in range(WINDOW):
        out[r, i] = win[i] + floor
        inside += win[i] + floor
    out[r, WINDOW] = total + 256 * floor - inside


@kernel()
def _table_rows(acc, mix, window, out, starts, row0, row1):
    """Rows row0..row1 of either the window tables (window=True) or the full tables; mix holds
    (shifts, n_comp, mean_lim, ls_lo, ls_hi, ls_offset, lut_sig, lut_inv, lut_exp2)."""
    shifts, n_comp, mean_lim, ls_lo, ls_hi, ls_offset, lut_sig, lut_inv, lut_exp2 = mix
    weight = np.zeros(n_comp, dtype=np.int64)
    mean = np.zeros(n_comp, dtype=np.int64)
    inv = np.zeros(n_comp, dtype=np.int64)
    scratch = np.zeros(256, dtype=np.int64)
    for r in range(row0, row1):
        best = _mixture(acc, r, shifts, n_comp, mean_lim, ls_lo, ls_hi, ls_offset, lut_inv, lut_exp2, weight,
                        mean, inv)
        if window:
            _window_row(r, n_comp, weight, mean, inv, best, lut_sig, out, starts, scratch)
        else:
            _full_row(r, n_comp, weight, mean, inv, lut_sig, out, scratch)


@kernel()
def rows(acc, mix, window, out, starts, head, hidden_part, out_part, cur, row0, row1):
    """Rows row0..row1: first the head outputs (when head is given; else acc holds them), then
    their tables. One kernel for both saves a round trip through Python per batch (and the
    adaptive model's wave decoder calls it from compiled code, arzip.image.adaptive)."""
    if head is not None:
        head_rows(hidden_part, out_part, cur, *head, acc, row0, row1)
    _table_rows(acc, mix, window, out, starts, row0, row1)


@kernel()
def mixture_rows(acc, mix, params, mean_out, head, hidden_part, out_part, cur, row0, row1):
    """Rows row0..row1: the head outputs (head_rows) and then each row's mixture itself, for the
    adaptive model's mixture prior, which evaluates the mixture's CDF only at the few edges a
    value's bits visit (mixture_below) instead of building a table of every value: params[r] =
    (the K components' weights, means and inverse scales, the floor mass of every value) and
    mean_out[r] the mixture's mean value, clipped to 0..255."""
    head_rows(hidden_part, out_part, cur, *head, acc, row0, row1)
    shifts, n_comp, mean_lim, ls_lo, ls_hi, ls_offset, lut_sig, lut_inv, lut_exp2 = mix
    full = lut_sig[lut_sig.shape[0] - 1]
    weight = np.zeros(n_comp, dtype=np.int64)
    mean = np.zeros(n_comp, dtype=np.int64)
    inv = np.zeros(n_comp, dtype=np.int64)
    for r in range(row0, row1):
        _mixture(acc, r, shifts, n_comp, mean_lim, ls_lo, ls_hi, ls_offset, lut_inv, lut_exp2, weight, mean, inv)
        weights = 0
        moment = 0  # sum of weight * mean, the means in 1/64 grey levels from 0
        for k in range(n_comp):
            params[r, k] = weight[k]
            params[r, n_comp + k] = mean[k]
            params[r, 2 * n_comp + k] = inv[k]
            weights += weight[k]
            moment += weight[k] * (mean[k] + (128 << MEAN_FRAC))
        params[r, 3 * n_comp] = max(weights * full >> FLOOR_SHIFT, 1)
        mean_out[r] = min(max((moment + weights * (1 << (MEAN_FRAC - 1))) // (weights << MEAN_FRAC), 0), 255)


@kernel(inline="always")
def mixture_below(params, i, v, lut_sig):
    """The mixture prior's mass of the values below v (0..256) for row i of mixture_rows' params:
    each component's CDF at the upper edge of value v - 1, weighted, plus the floor of each
    value below v. The masses of all values sum to mixture_total."""
    n_comp = (params.shape[1] - 1) // 3
    if v >= 256:
        return mixture_total(params, i, lut_sig)
    below = params[i, 3 * n_comp] * v
    if v > 0:
        for k in range(n_comp):
            w = params[i, k]
            if w:
                below += w * _cdf(_edge(v - 1) - params[i, n_comp + k], params[i, 2 * n_comp + k], lut_sig)
    return below


@kernel(inline="always")
def mixture_total(params, i, lut_sig):
    """The mixture prior's mass of all 256 values of row i."""
    n_comp = (params.shape[1] - 1) // 3
    weights = 0
    for k in range(n_comp):
        weights += params[i, k]
    return weights * lut_sig[lut_sig.shape[0] - 1] + 256 * params[i, 3 * n_comp]


def _run(acc: np.ndarray, mix: tuple, window: bool, head: tuple | None = None,
         hidden_part: np.ndarray | None = None, out_part: np.ndarray | None = None,
         cur: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    n = acc.shape[0]
    out = np.empty((n, WINDOW + 1 if window else 256), dtype=np.float64)
    starts = np.zeros(n, dtype=np.int64)
    pieces.side_by_side(lambda piece: rows(acc, mix, window, out, starts, head, hidden_part, out_part, cur,
                                           piece.start, piece.stop), pieces.row_pieces(n))
    return out, starts




@dataclass
class MixtureTables:
    """How one channel's integer head outputs (n, 3K) become frequency tables: the right shifts
    to the fixed points of logits, means and log2 scales, their clamps, and the lookup tables;
    plus an offset added to every log2 scale (in 1/32 steps), which an encoder may choose per
    image and record in the archive."""
    shifts: np.ndarray  # (3K,)
    n_comp: int
    mean_lim: int       # |mean| bound, 1/64 grey levels
    ls_lo: int          # log2 scale bounds, 1/32 steps
    ls_hi: int
    luts: dict[str, np.ndarray]
    ls_offset: int = 0

    @classmethod
    def build(cls, row_exp: np.ndarray, n_comp: int, log2_scale_min: float, log2_scale_max: float,
              mean_range: float, luts: dict[str, np.ndarray]) -> "MixtureTables":
        return cls(output_shifts(row_exp, n_comp), n_comp, int(mean_range * 2 ** MEAN_FRAC),
                   int(round(log2_scale_min * 2 ** LOG2_SCALE_FRAC)),
                   int(round(log2_scale_max * 2 ** LOG2_SCALE_FRAC)), luts)

    @property
    def params(self) -> tuple:
        return (self.shifts, self.n_comp, self.mean_lim, self.ls_lo, self.ls_hi, self.ls_offset,
                self.luts["lut_sigmoid"], self.luts["lut_inv_scale"], self.luts["lut_exp2"])

    def full(self, acc: np.ndarray) -> np.ndarray:
        """(n, 256) integer frequencies (held in float64) of every value."""
        return _run(np.ascontiguousarray(acc, dtype=np.float64), self.params, False)[0]

    def window(self, acc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, WINDOW + 1) tables and (n,) starts: the frequencies of values starts[i] ..
        starts[i]+WINDOW-1, then the total frequency of all other values (the escape), so that
        every value keeps exactly the probability its full table gives it."""
        return _run(np.ascontiguousarray(acc, dtype=np.float64), self.params, True)

    def head_tables(self, head: IntegerHead, hidden_part: np.ndarray, out_part: np.ndarray,
                    cur: np.ndarray, window: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Run the head (head_rows) and build the tables of its outputs in one kernel: (head
        outputs, window tables and their starts), or with window=False (head outputs, full
        tables, zeros)."""
        acc = np.empty(out_part.shape, dtype=np.float64)
        out, starts = _run(acc, self.params, window, head.params, hidden_part, out_part, cur)
        return acc, out, starts

    def head_mixtures(self, head: IntegerHead, hidden_part: np.ndarray, out_part: np.ndarray,
                      cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run the head and decode its outputs into mixtures (mixture_rows): ((n, 3K + 1) int64
        params, (n,) int64 mean values)."""
        n = out_part.shape[0]
        acc = np.empty(out_part.shape, dtype=np.float64)
        params, mean = np.empty((n, 3 * self.n_comp + 1), dtype=np.int64), np.empty(n, dtype=np.int64)
        pieces.side_by_side(lambda piece: mixture_rows(acc, self.params, params, mean, head.params, hidden_part,
                                                       out_part, cur, piece.start, piece.stop), pieces.row_pieces(n))
        return params, mean


def output_shifts(row_exp: np.ndarray, n_comp: int) -> np.ndarray:
    """Right shifts taking head-output rows (logits, means, log2 scales) to their fixed points."""
    frac = np.repeat([LOGIT_FRAC, MEAN_FRAC, LOG2_SCALE_FRAC], n_comp)
    shifts = row_exp - frac
    if (shifts < 0).any():
        raise ValueError("output layer too coarse for its fixed point")
    return shifts.astype(np.int64)
