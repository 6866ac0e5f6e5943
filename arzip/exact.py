"""Integer-exact building blocks: linear layers whose float arithmetic cannot round, and the
lookup-table construction of integer frequency tables.

Why this works: every value flowing through the network is an integer, and every layer is
quantized so that the largest possible |partial sum| (sum over inputs of |weight| * max|input|,
plus |bias|) is below 2^24 for float32 layers and below 2^53 for float64 layers. Every partial
sum of such a dot product is then an exactly representable integer, so the result does not depend
on summation order, blocking, thread count, FMA use or device. Rescaling between layers is a
multiplication by a power of two and a floor, both exact. The mixture-of-logistics tables are
built from integers only, with lookup tables that ship inside the model file (never recomputed
with libm on the decoding machine).
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import torch

F32_LIMIT = 2 ** 24
F64_LIMIT = 2 ** 53

# Frequency-table constants (shared by the float reference in image_model via the clamps).
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
PARALLEL_MIN_ROWS = 4096  # smaller batches run the numba kernels on one thread


def build_luts(log2_scale_min: float, log2_scale_max: float) -> dict[str, np.ndarray]:
    """The tables that replace exp/sigmoid. Computed once when a model is exported and stored
    in its file; decoding never recomputes them."""
    c = LUT_STEPS * LUT_ZMAX
    z = (np.arange(2 * c + 1) - c) / LUT_STEPS
    sigmoid = np.round((2 ** CDF_BITS) / (1 + np.exp(-z))).astype(np.int64)
    n_scales = int(round((log2_scale_max - log2_scale_min) * 2 ** LOG2_SCALE_FRAC)) + 1
    log2_s = log2_scale_min + np.arange(n_scales) / 2 ** LOG2_SCALE_FRAC
    inv_scale = np.round(2.0 ** (INV_BITS - log2_s)).astype(np.int64)
    exp2 = np.round(2.0 ** (WEIGHT_BITS - np.arange(WEIGHT_BITS * 2 ** LOGIT_FRAC + 1)
                            / 2 ** LOGIT_FRAC)).astype(np.int64)
    return {"lut_sigmoid": sigmoid, "lut_inv_scale": inv_scale, "lut_exp2": exp2}


@dataclass
class ExactLinear:
    """y_int = W_int @ x_int + b_int, exact in `dtype`. Row i of y_int equals the float layer's
    output times 2^row_exp[i] (up to weight rounding)."""
    weight: torch.Tensor   # (out, in), integer values, dtype float32 or float64
    bias: torch.Tensor     # (out,)
    row_exp: torch.Tensor  # (out,) int64

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias, x, self.weight.t())

    def columns(self, start: int, stop: int, with_bias: bool) -> "ExactLinear":
        """The part of the layer acting on input columns [start, stop): lets a layer be applied
        in pieces (for inputs that become known at different times) with the same exact sum."""
        bias = self.bias if with_bias else torch.zeros_like(self.bias)
        return ExactLinear(self.weight[:, start:stop].contiguous(), bias, self.row_exp)


def quantize_linear(weight: np.ndarray, bias: np.ndarray, in_exp: np.ndarray, in_max: np.ndarray,
                    dtype: torch.dtype, max_row_exp: int = 40) -> ExactLinear:
    """Quantize a float layer acting on inputs given as integers x_int = x * 2^in_exp with
    |x_int| <= in_max, choosing per output row the finest power-of-two scale whose worst-case
    partial sum stays below the dtype's exact-integer limit."""
    limit = F32_LIMIT if dtype == torch.float32 else F64_LIMIT
    weight = weight.astype(np.float64)
    bias = bias.astype(np.float64)
    real_bound = np.abs(weight) @ (in_max / 2.0 ** in_exp) + np.abs(bias)
    row_exp = np.floor(np.log2(limit / np.maximum(real_bound, 1e-30))).astype(np.int64) - 1
    row_exp = np.minimum(row_exp, max_row_exp)
    while True:
        wq = np.round(weight * 2.0 ** (row_exp[:, None] - in_exp[None, :]))
        bq = np.round(bias * 2.0 ** row_exp)
        bound = np.abs(wq) @ in_max.astype(np.float64) + np.abs(bq)
        over = bound >= limit
        if not over.any():
            break
        row_exp = row_exp - over
    return ExactLinear(torch.tensor(wq, dtype=dtype), torch.tensor(bq, dtype=dtype),
                       torch.tensor(row_exp, dtype=torch.int64))


def worst_case_bound(layer: ExactLinear, in_max: np.ndarray) -> float:
    """Largest |partial sum| the layer can produce; tests check it against the dtype limit."""
    w = layer.weight.double().abs().numpy()
    return float((w @ in_max.astype(np.float64) + layer.bias.double().abs().numpy()).max())


def requantize_scale(row_exp: torch.Tensor, out_exp: int, dtype: torch.dtype,
                     device: torch.device) -> torch.Tensor:
    """Per-row powers of two taking accumulators (scale 2^row_exp) to 2^out_exp fixed point."""
    return torch.exp2((out_exp - row_exp).to(torch.float64)).to(device, dtype)


def requantize(acc: torch.Tensor, scale: torch.Tensor, cap: int) -> torch.Tensor:
    """relu, rescale by a power of two, floor, clip to [0, cap]: every step exact in float."""
    return torch.clamp(torch.floor(acc * scale), 0, cap)


# Sums of integers below 2^53 are exact in float64 in any order, so the head kernels may let the
# compiler reorder and fuse them into vector instructions.
_EXACT_SUMS = {"reassoc", "contract", "nnan", "ninf", "nsz"}


HEAD_BLOCK = 64  # rows per inner block: the innermost loops run over rows, in vector registers


@numba.njit(cache=True, nogil=True, fastmath=_EXACT_SUMS)
def _head_rows(hidden_part, cur, w_hidden_cur_t, hidden_scale, act_max, out_part, w_out_hidden_t, w_out_cur_t,
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


@numba.njit(cache=True, nogil=True)
def _head_serial(hidden_part, cur, w_hidden_cur_t, hidden_scale, act_max, out_part, w_out_hidden_t, w_out_cur_t,
                 out):
    _head_rows(hidden_part, cur, w_hidden_cur_t, hidden_scale, act_max, out_part, w_out_hidden_t, w_out_cur_t,
               out, 0, out.shape[0])


@numba.njit(cache=True, nogil=True, parallel=True)
def _head_parallel(hidden_part, cur, w_hidden_cur_t, hidden_scale, act_max, out_part, w_out_hidden_t,
                   w_out_cur_t, out):
    n = out.shape[0]
    block = 256
    for b in numba.prange((n + block - 1) // block):
        _head_rows(hidden_part, cur, w_hidden_cur_t, hidden_scale, act_max, out_part, w_out_hidden_t, w_out_cur_t,
                   out, b * block, min(n, (b + 1) * block))


@dataclass
class IntegerHead:
    """The part of a two-layer head that waits for the pixel's own earlier channels, run by a
    numba kernel on the CPU. The partial sums of everything else come from the torch layers
    (CPU or GPU); all of it is integer arithmetic below the exact limits, so the kernel and the
    float layers give the same integers."""
    w_hidden_cur_t: np.ndarray  # (n_cur, hidden) integer weights, float64
    hidden_scale: np.ndarray    # (hidden,) power of two to the activation fixed point
    act_max: float
    w_out_hidden_t: np.ndarray  # (hidden, n_out)
    w_out_cur_t: np.ndarray     # (n_cur, n_out)

    def __call__(self, hidden_part: np.ndarray, out_part: np.ndarray, cur: np.ndarray) -> np.ndarray:
        """hidden_part (m, hidden) float32, out_part (m, n_out) float64, cur (>= n_cur, m)
        float64 -> (m, n_out) integer outputs held in float64."""
        out = np.empty(out_part.shape, dtype=np.float64)
        parallel = numba.get_num_threads() > 1 and len(out) >= PARALLEL_MIN_ROWS
        kernel = _head_parallel if parallel else _head_serial
        kernel(hidden_part, cur, self.w_hidden_cur_t, self.hidden_scale, self.act_max, out_part,
               self.w_out_hidden_t, self.w_out_cur_t, out)
        return out


@numba.njit(cache=True, nogil=True)
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


@numba.njit(cache=True, nogil=True)
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


@numba.njit(cache=True, nogil=True)
def _mixture(acc, r, shifts, n_comp, mean_lim, ls_lo, ls_hi, lut_inv, lut_exp2, weight, mean, inv):
    """Decode row r's integer head outputs into mixture weights, means (1/64 grey levels around
    128) and inverse scales. Returns the index of the heaviest component (first on ties)."""
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
        ls = np.int64(acc[r, 2 * n_comp + k]) >> shifts[2 * n_comp + k]
        inv[k] = lut_inv[min(max(ls, ls_lo), ls_hi) - ls_lo]
    return best


@numba.njit(cache=True, nogil=True)
def _edge(j):
    """Upper edge of value j in 1/64 grey levels around 128."""
    return np.int64(64 * (j - 128) + 32)


@numba.njit(cache=True, nogil=True)
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


@numba.njit(cache=True, nogil=True)
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


@numba.njit(cache=True, nogil=True)
def _tables(acc, shifts, n_comp, mean_lim, ls_lo, ls_hi, lut_sig, lut_inv, lut_exp2, out, starts,
            window, row0, row1):
    """Rows row0..row1 of either the window tables (window=True) or the full tables."""
    weight = np.zeros(n_comp, dtype=np.int64)
    mean = np.zeros(n_comp, dtype=np.int64)
    inv = np.zeros(n_comp, dtype=np.int64)
    scratch = np.zeros(256, dtype=np.int64)
    for r in range(row0, row1):
        best = _mixture(acc, r, shifts, n_comp, mean_lim, ls_lo, ls_hi, lut_inv, lut_exp2, weight, mean, inv)
        if window:
            _window_row(r, n_comp, weight, mean, inv, best, lut_sig, out, starts, scratch)
        else:
            _full_row(r, n_comp, weight, mean, inv, lut_sig, out, scratch)


@numba.njit(cache=True, nogil=True)
def _tables_serial(acc, shifts, n_comp, mean_lim, ls_lo, ls_hi, lut_sig, lut_inv, lut_exp2, out, starts,
                   window):
    _tables(acc, shifts, n_comp, mean_lim, ls_lo, ls_hi, lut_sig, lut_inv, lut_exp2, out, starts, window,
            0, acc.shape[0])


@numba.njit(cache=True, nogil=True, parallel=True)
def _tables_parallel(acc, shifts, n_comp, mean_lim, ls_lo, ls_hi, lut_sig, lut_inv, lut_exp2, out,
                     starts, window):
    """Same tables as _tables_serial: rows are independent, blocks of them run in parallel."""
    n = acc.shape[0]
    block = 256
    for b in numba.prange((n + block - 1) // block):
        _tables(acc, shifts, n_comp, mean_lim, ls_lo, ls_hi, lut_sig, lut_inv, lut_exp2, out, starts,
                window, b * block, min(n, (b + 1) * block))



def mixture_tables(acc: np.ndarray, shifts: np.ndarray, n_comp: int, log2_scale_min: float,
                   log2_scale_max: float, mean_range: float, luts: dict[str, np.ndarray],
                   window: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(n, 3K) integer head outputs -> (tables, window starts).

    window=False: (n, 256) integer frequencies of every value.
    window=True: (n, WINDOW + 1): the frequencies of values starts[i] .. starts[i]+WINDOW-1,
    then the total frequency of all other values (the escape), so that every value keeps
    exactly the probability the full table gives it. Frequencies are integers in float64."""
    acc = np.ascontiguousarray(acc, dtype=np.float64)
    n = acc.shape[0]
    out = np.empty((n, WINDOW + 1 if window else 256), dtype=np.float64)
    starts = np.zeros(n, dtype=np.int64)
    parallel = numba.get_num_threads() > 1 and n >= PARALLEL_MIN_ROWS
    kernel = _tables_parallel if parallel else _tables_serial
    kernel(acc, shifts.astype(np.int64), n_comp, int(mean_range * 2 ** MEAN_FRAC),
           int(round(log2_scale_min * 2 ** LOG2_SCALE_FRAC)), int(round(log2_scale_max * 2 ** LOG2_SCALE_FRAC)),
           luts["lut_sigmoid"], luts["lut_inv_scale"], luts["lut_exp2"], out, starts, window)
    return out, starts


def output_shifts(row_exp: torch.Tensor, n_comp: int) -> np.ndarray:
    """Right shifts taking head-output rows (logits, means, log2 scales) to their fixed points."""
    frac = np.repeat([LOGIT_FRAC, MEAN_FRAC, LOG2_SCALE_FRAC], n_comp)
    shifts = row_exp.numpy() - frac
    if (shifts < 0).any():
        raise ValueError("output layer too coarse for its fixed point")
    return shifts.astype(np.int64)


def use_exact_matmul() -> None:
    """Forbid reduced-precision float32 matmuls (TF32, bf16 passes): they would round."""
    torch.set_float32_matmul_precision("highest")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False

