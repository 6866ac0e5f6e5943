"""Integer-exact layers: linear layers whose float arithmetic cannot round, and the int-valued
kernel for the small per-channel part of a head (arzip.tables turns head outputs into
frequency tables).

Why this works: every value flowing through the network is an integer, and every layer is
quantized so that the largest possible |partial sum| (sum over inputs of |weight| * max|input|,
plus |bias|) is below 2^24 for float32 layers and below 2^53 for float64 layers. Every partial
sum of such a dot product is then an exactly representable integer, so the result does not depend
on summation order, blocking, thread count, FMA use or device. Rescaling between layers is a
multiplication by a power of two and a floor, both exact.
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import torch

F32_LIMIT = 2 ** 24
F64_LIMIT = 2 ** 53


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
                    dtype: torch.dtype, max_row_exp: int = 40, limit: float | None = None) -> ExactLinear:
    """Quantize a float layer acting on inputs given as integers x_int = x * 2^in_exp with
    |x_int| <= in_max, choosing per output row the finest power-of-two scale whose worst-case
    partial sum stays below the dtype's exact-integer limit (or `limit`, for layers summed in
    integers)."""
    if limit is None:
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
    """relu, rescale by a power of two, floor, clip to [0, cap]: every step exact in float.
    Works in place on acc (a fresh layer output)."""
    return acc.mul_(scale).floor_().clamp_(0, cap)


# Sums of integers below 2^53 are exact in float64 in any order, so the head kernels may let the
# compiler reorder and fuse them into vector instructions.
_EXACT_SUMS = {"reassoc", "contract", "nnan", "ninf", "nsz"}


HEAD_BLOCK = 64  # rows per inner block: the innermost loops run over rows, in vector registers


@numba.njit(cache=True, nogil=True, fastmath=_EXACT_SUMS)
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
    numba kernel on the CPU. The partial sums of everything else come from the torch layers
    (CPU or GPU); all of it is integer arithmetic below the exact limits, so the kernel and the
    float layers give the same integers."""
    w_hidden_cur_t: np.ndarray  # (n_cur, hidden) integer weights, float64
    hidden_scale: np.ndarray    # (hidden,) power of two to the activation fixed point
    act_max: float
    w_out_hidden_t: np.ndarray  # (hidden, n_out)
    w_out_cur_t: np.ndarray     # (n_cur, n_out)

    @property
    def params(self) -> tuple:
        """The weights as head_rows takes them."""
        return (self.w_hidden_cur_t, self.hidden_scale, self.act_max, self.w_out_hidden_t, self.w_out_cur_t)


def use_exact_matmul() -> None:
    """Forbid reduced-precision float32 matmuls (TF32, bf16 passes): they would round."""
    torch.set_float32_matmul_precision("highest")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False

