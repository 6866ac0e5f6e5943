"""The image model's integer-exact form: what the coder runs, loaded from a shipped model file.

The architecture (arzip.image.model trains its float form): for each pixel a small MLP reads
the causal context (arzip.image.neighbourhood) and produces a feature vector; one head per
channel turns it, with the channels already coded in the same pixel (R for G; R and G for B),
into a mixture of K discretized logistics over 0..255, and has a direct linear path from the
raw context as well ("linear predictor + nonlinear correction").

Why the exact form cannot round: every value flowing through it is an integer, and every
layer is quantized (arzip.image.export) so that the largest possible |partial sum| (sum over
inputs of |weight| * max|input|, plus |bias|) is below 2^24 for float32 layers and below 2^53
for float64 layers. Every partial sum of such a dot product is then an exactly representable
integer, so the result does not depend on summation order, blocking, thread count, FMA use or
device. Rescaling between layers is a multiplication by a power of two and a floor, both exact.
The frequency tables are then built with integers only (arzip.image.tables).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
from safetensors import safe_open
from threadpoolctl import threadpool_limits

from ..native import kernel
from . import blas, neighbourhood, pieces, tables

F32_LIMIT = 2 ** 24
F64_LIMIT = 2 ** 53
CHANNELS = 3
# The clamps of the float model, which the integer form enforces too (training sees the same
# function up to rounding).
ACT_CAP = 8.0       # hidden activations are relu clipped to [0, ACT_CAP]
MEAN_RANGE = 192.0  # means live in [-192, 192] around 128
MEAN_UNIT = 64.0    # the float model's mean output is in units of 64 grey levels
LOG2_SCALE_MIN = -3.0
LOG2_SCALE_MAX = 6.0
INPUT_SCALE = 64.0  # the float model's input is (v - 128) / 64
# Fixed points of the integer form.
ACT_FRAC = 8                                  # hidden activations in 1/256
ACT_MAX = int(ACT_CAP * 2 ** ACT_FRAC)        # 2048
INPUT_FRAC = 6                                # x_int = v - 128 = x * 2^6
INPUT_MAX = 128
FORMAT_NAME = "arzip-image-model"
FORMAT_VERSION = 1
LUT_NAMES = ("lut_sigmoid", "lut_inv_scale", "lut_exp2")


@dataclass(frozen=True)
class ModelConfig:
    hidden: int = 128
    head_hidden: int = 32
    components: int = 4
    context: str = "c22"  # a name in neighbourhood.CONTEXTS
    channel_order: str = "RGB"  # the order a pixel's channels are coded in
    # gray: trained on grayscale images given as three equal channels, and only the first
    # channel is coded; the other two heads are unused. One architecture serves both kinds.
    gray: bool = False

    def __post_init__(self) -> None:
        if sorted(self.channel_order) != sorted("RGB"):
            raise ValueError(f"channel order must be a permutation of RGB, not {self.channel_order!r}")

    @property
    def coded_channels(self) -> int:
        return 1 if self.gray else CHANNELS

    @property
    def coding_order(self) -> list[int]:
        """RGB channel indices in coding order: image[..., coding_order] is what the model sees."""
        return ["RGB".index(ch) for ch in self.channel_order]


def constants() -> dict:
    """Fixed-point constants a model file was made for; a mismatch means wrong tables."""
    return {"act_frac": ACT_FRAC, "act_cap": ACT_CAP, "input_frac": INPUT_FRAC,
            "cdf_bits": tables.CDF_BITS, "lut_steps": tables.LUT_STEPS, "lut_zmax": tables.LUT_ZMAX,
            "inv_bits": tables.INV_BITS, "mean_frac": tables.MEAN_FRAC,
            "log2_scale_frac": tables.LOG2_SCALE_FRAC, "logit_frac": tables.LOGIT_FRAC,
            "weight_bits": tables.WEIGHT_BITS, "floor_shift": tables.FLOOR_SHIFT,
            "min_weight": tables.MIN_WEIGHT, "window": tables.WINDOW,
            "mean_range": MEAN_RANGE, "log2_scale_range": [LOG2_SCALE_MIN, LOG2_SCALE_MAX]}


@dataclass
class ExactLinear:
    """y_int = x_int @ W_int.T + b_int, exact in the weights' dtype. Row i of y_int equals the
    float layer's output times 2^row_exp[i] (up to weight rounding)."""
    weight: np.ndarray   # (out, in), integer values, dtype float32 or float64
    bias: np.ndarray     # (out,)
    row_exp: np.ndarray  # (out,) int64

    def __post_init__(self) -> None:
        self.weight_t = np.ascontiguousarray(self.weight.T)  # what the matmul reads

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = x @ self.weight_t
        out += self.bias
        return out

    def columns(self, start: int, stop: int, with_bias: bool) -> "ExactLinear":
        """The part of the layer acting on input columns [start, stop): lets a layer be applied
        in pieces (for inputs that become known at different times) with the same exact sum."""
        bias = self.bias if with_bias else np.zeros_like(self.bias)
        return ExactLinear(self.weight[:, start:stop], bias, self.row_exp)


def worst_case_bound(layer: ExactLinear, in_max: np.ndarray) -> float:
    """Largest |partial sum| the layer can produce; tests check it against the dtype limit."""
    w = np.abs(layer.weight.astype(np.float64))
    return float((w @ in_max.astype(np.float64) + np.abs(layer.bias.astype(np.float64))).max())


def requantize_scale(row_exp: np.ndarray, out_exp: int, dtype: np.dtype) -> np.ndarray:
    """Per-row powers of two taking accumulators (scale 2^row_exp) to 2^out_exp fixed point."""
    return np.exp2((out_exp - row_exp).astype(np.float64)).astype(dtype)


def single_threaded_blas() -> threadpool_limits:
    """BLAS on one thread while the network runs (a context manager). Its matmuls come one wave at
    a time, batches too small for BLAS threads to pay for their hand-offs, and BLAS threads
    busy-wait, taking the cores of a busy machine; arzip's own threads (stripes side by side,
    arzip.image.pieces) give the parallelism and wait passively."""
    return threadpool_limits(1, user_api="blas")


@dataclass
class PixelFeatures:
    """Everything about a batch of pixels that does not depend on the pixel's own channels."""
    head_hidden: list[np.ndarray]  # per coded channel (m, head_hidden) partial sums (trunk part + bias)
    head_out: list[np.ndarray]     # per coded channel (m, 3K) float64 partial sums (context part + bias)


class ExactImageModel:
    """Integer-exact inference, plus the integer frequency tables.

    The trunk and the context parts of the heads (most of the multiply-adds) run as exact float
    matmuls in numpy (or torch on a GPU, arzip.image.exact_gpu); the small remainder of each head,
    which must wait for the pixel's earlier channels, runs in a numba kernel that goes on to
    build the channel's frequency tables (arzip.image.tables)."""

    def __init__(self, tensors: dict[str, np.ndarray], config: ModelConfig, hidden_dtype: type = np.float32):
        self.config = config
        self.hidden_dtype = np.dtype(hidden_dtype)  # trunk and head hidden layers; float64 suits wide models
        self.context = neighbourhood.CONTEXTS[config.context]
        self.tensors = tensors
        self.luts = {k: tensors[k].astype(np.int64) for k in LUT_NAMES}
        self.device = "cpu"
        self._gpu = None  # arzip.image.exact_gpu.GpuLayers when the matmuls run on a GPU
        t, h, hh = tensors, config.hidden, config.head_hidden
        n_in = self.context.size * CHANNELS

        def layer(prefix: str, dtype: np.dtype) -> ExactLinear:
            return ExactLinear(t[prefix + ".weight"].astype(dtype), t[prefix + ".bias"].astype(dtype),
                               t[prefix + ".row_exp"].astype(np.int64))

        self.trunk1, self.trunk2 = layer("trunk1", self.hidden_dtype), layer("trunk2", self.hidden_dtype)
        hid = [layer(f"head_hidden.{c}", self.hidden_dtype) for c in range(CHANNELS)]
        out = [layer(f"head_out.{c}", np.dtype(np.float64)) for c in range(CHANNELS)]
        # pieces applied before the pixel's own channels are known, for all coded channels at once (a
        # gray model's unused heads are left out: a quarter of its multiply-adds)
        coded = range(config.coded_channels)
        self.hidden_trunk = _stack([hid[c].columns(0, h, True) for c in coded])
        self.out_context = _stack([out[c].columns(hh, hh + n_in, True) for c in coded])
        self.scale1 = requantize_scale(self.trunk1.row_exp, ACT_FRAC, self.hidden_dtype)
        self.scale2 = requantize_scale(self.trunk2.row_exp, ACT_FRAC, self.hidden_dtype)
        self.heads = []
        for c in range(CHANNELS):
            w_hid, w_out = t[f"head_hidden.{c}.weight"], t[f"head_out.{c}.weight"]
            self.heads.append(tables.IntegerHead(
                w_hidden_cur_t=np.ascontiguousarray(w_hid[:, h:h + c].T, dtype=np.float64),
                hidden_scale=requantize_scale(hid[c].row_exp, ACT_FRAC, np.dtype(np.float64)),
                act_max=float(ACT_MAX),
                w_out_hidden_t=np.ascontiguousarray(w_out[:, :hh].T, dtype=np.float64),
                w_out_cur_t=np.ascontiguousarray(w_out[:, hh + n_in:hh + n_in + c].T, dtype=np.float64)))
        self.mixtures = [tables.MixtureTables.build(l.row_exp, self.config.components, LOG2_SCALE_MIN,
                                                    LOG2_SCALE_MAX, MEAN_RANGE, self.luts) for l in out]

    def to(self, device: str) -> "ExactImageModel":
        """The matmuls on `device` ('cpu', or 'cuda[:N]' through torch, which must be installed):
        the results are the same integers either way."""
        if device == "cpu":
            self._gpu = None
        else:
            from .exact_gpu import GpuLayers
            self._gpu = GpuLayers(self, device)
        self.device = device
        return self

    @classmethod
    def load(cls, path: str | Path) -> "ExactImageModel":
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            if meta.get("format") != FORMAT_NAME or meta.get("version") != str(FORMAT_VERSION):
                raise ValueError(f"{path}: not an arzip image model of version {FORMAT_VERSION}")
            if json.loads(meta["constants"]) != constants():
                raise ValueError(f"{path}: made for other fixed-point constants")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        dtype = {"float32": np.float32, "float64": np.float64}.get(meta.get("hidden_dtype", "float32"))
        if dtype is None:
            raise ValueError(f"{path}: unknown hidden layer type {meta['hidden_dtype']}")
        return cls(tensors, ModelConfig(**json.loads(meta["config"])), dtype)

    # -- inference ------------------------------------------------------------------------
    def pixel_features(self, context: np.ndarray) -> PixelFeatures:
        """context: (m, n_in) uint8 context values. On the CPU a large batch (the encoder's) is
        cut into row pieces run side by side (arzip.image.pieces)."""
        if self._gpu is not None:
            hidden, out = self._gpu.trunk(context)
        else:
            done = pieces.side_by_side(lambda rows: self._trunk(context[rows]), pieces.row_pieces(len(context)))
            hidden, out = np.concatenate([d[0] for d in done]), np.concatenate([d[1] for d in done])
        return self.split(hidden, out)

    def wave_trunk(self, capacity: int) -> "WaveTrunk":
        """The layers wave_features runs, with buffers for waves of up to `capacity` pixels."""
        f, n_in = self.hidden_dtype, self.trunk1.weight.shape[1]
        return WaveTrunk(
            self.trunk1.weight_t, self.trunk1.bias, self.scale1, self.trunk2.weight_t, self.trunk2.bias, self.scale2,
            self.hidden_trunk.weight_t, self.hidden_trunk.bias, self.out_context.weight_t, self.out_context.bias,
            np.empty((capacity, n_in), dtype=f), np.empty((capacity, n_in)),
            np.empty((capacity, self.trunk1.weight.shape[0]), dtype=f),
            np.empty((capacity, self.trunk2.weight.shape[0]), dtype=f),
            np.empty((capacity, self.hidden_trunk.weight.shape[0]), dtype=f),
            np.empty((capacity, self.out_context.weight.shape[0])))

    def wave_features(self, flat: np.ndarray, base: np.ndarray, offsets: np.ndarray,
                      trunk: "WaveTrunk") -> PixelFeatures:
        """pixel_features of the context flat[base[:, None] + offsets] (the decoder's one wave),
        left in rows 0..n of trunk.hidden and trunk.out, which are kept from wave to wave (the
        features returned are views of them): gathering, offsetting and requantizing in compiled
        code and the matmuls in place, the same integers as pixel_features with a tenth of its
        calls into numpy. The decoder calls it per wave where it cannot run a stripe's waves in
        one compiled call (trunk_features, with BLAS from compiled code: arzip.image.blas)."""
        n, t = len(base), trunk
        if self._gpu is not None:  # the same integers, copied into the buffers the decoder reads
            hidden, out = self._gpu.trunk(neighbourhood.gather(flat, base, offsets))
            t.hidden[:n], t.out[:n] = hidden, out
            return self.split(t.hidden[:n], t.out[:n])
        x, x64, h1, h2, hidden, out = t.x[:n], t.x64[:n], t.h1[:n], t.h2[:n], t.hidden[:n], t.out[:n]
        _context_rows(flat, base, offsets, x, x64)
        np.matmul(x, t.w1, out=h1)
        requantize(h1, t.b1, t.s1, ACT_MAX)
        np.matmul(h1, t.w2, out=h2)
        requantize(h2, t.b2, t.s2, ACT_MAX)
        np.matmul(h2, t.wh, out=hidden)
        hidden += t.bh
        np.matmul(x64, t.wo, out=out)
        out += t.bo
        return self.split(hidden, out)

    def split(self, hidden: np.ndarray, out: np.ndarray) -> PixelFeatures:
        """The features of stacked head parts (hidden: (m, coded channels * head_hidden), out:
        (m, coded channels * 3K)) as per-channel column views."""
        hh, n_out = self.config.head_hidden, 3 * self.config.components
        coded = range(self.config.coded_channels)
        return PixelFeatures([hidden[:, c * hh:(c + 1) * hh] for c in coded],
                             [out[:, c * n_out:(c + 1) * n_out] for c in coded])

    def _trunk(self, context: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(head hidden partial sums, head output partial sums) of (m, n_in) uint8 contexts."""
        x = context.astype(self.hidden_dtype)
        x -= 128
        h = x @ self.trunk1.weight_t
        requantize(h, self.trunk1.bias, self.scale1, ACT_MAX)
        h = h @ self.trunk2.weight_t
        requantize(h, self.trunk2.bias, self.scale2, ACT_MAX)
        return self.hidden_trunk(h), self.out_context(x.astype(np.float64))

    def channel_tables(self, c: int, feats: PixelFeatures, current: np.ndarray, scale_offset: int = 0,
                       window: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Channel c given the pixels' channels 0..c-1 (current: (3, m) float64 holding v - 128;
        later rows are not read): its integer head outputs (m, 3K), window tables and window
        starts (arzip.image.tables), log2 scales moved by scale_offset (1/32 steps); with
        window=False the full (m, 256) tables instead of the window tables."""
        return self._mixture(c, scale_offset).head_tables(self.heads[c], feats.head_hidden[c],
                                                          feats.head_out[c], current, window)

    def channel_mixtures(self, c: int, feats: PixelFeatures, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Channel c's mixtures given the pixels' channels 0..c-1 (as channel_tables), without
        tables: ((m, 3K + 1) int64 mixture parameters, (m,) int64 mean values), what the adaptive
        model's mixture prior reads (arzip.image.tables.mixture_rows)."""
        return self.mixtures[c].head_mixtures(self.heads[c], feats.head_hidden[c], feats.head_out[c], current)

    def full_tables(self, c: int, outputs: np.ndarray, scale_offset: int = 0) -> np.ndarray:
        """(m, 256) integer frequency tables of channel c from its head outputs."""
        return self._mixture(c, scale_offset).full(outputs)

    def _mixture(self, c: int, scale_offset: int) -> tables.MixtureTables:
        mix = self.mixtures[c]
        return mix if scale_offset == 0 else replace(mix, ls_offset=scale_offset)


class WaveTrunk(NamedTuple):
    """The layers that run before a pixel's own channels are known (ExactImageModel.wave_trunk),
    and buffers for a wave's pixels, kept from wave to wave: one value that compiled code
    takes whole (trunk_features)."""
    w1: np.ndarray      # trunk1 (in, hidden) in the hidden layers' float type, its bias and requantize scale
    b1: np.ndarray
    s1: np.ndarray
    w2: np.ndarray      # trunk2
    b2: np.ndarray
    s2: np.ndarray
    wh: np.ndarray      # the heads' hidden layers' trunk parts, stacked over the coded channels
    bh: np.ndarray
    wo: np.ndarray      # the heads' output layers' context parts (float64), stacked
    bo: np.ndarray
    x: np.ndarray       # (capacity, n_in) the context - 128, in the hidden layers' type
    x64: np.ndarray     # the same in float64
    h1: np.ndarray      # (capacity, hidden) trunk1's activations
    h2: np.ndarray      # trunk2's
    hidden: np.ndarray  # (capacity, coded channels * head_hidden) the heads' hidden partial sums
    out: np.ndarray     # (capacity, coded channels * 3K) the heads' output partial sums


@kernel()
def trunk_features(gemm, gemm64, flat, base, offsets, t):
    """ExactImageModel.wave_features in one compiled call, the matrix products through BLAS
    (arzip.image.blas: gemm for the hidden layers' float type, gemm64 for float64): the same
    integers."""
    n = base.shape[0]
    _context_rows(flat, base, offsets, t.x[:n], t.x64[:n])
    blas.matmul(gemm, t.x, t.w1, t.h1, n)
    requantize(t.h1[:n], t.b1, t.s1, ACT_MAX)
    blas.matmul(gemm, t.h1, t.w2, t.h2, n)
    requantize(t.h2[:n], t.b2, t.s2, ACT_MAX)
    blas.matmul(gemm, t.h2, t.wh, t.hidden, n)
    blas.matmul(gemm64, t.x64, t.wo, t.out, n)
    for i in range(n):
        for j in range(t.bh.shape[0]):
            t.hidden[i, j] += t.bh[j]
        for j in range(t.bo.shape[0]):
            t.out[i, j] += t.bo[j]


@kernel()
def _context_rows(flat, base, offsets, x, x64):
    """x[i] = x64[i] = flat[base[i] + offsets] - 128: the network's input, in both float types."""
    for i in range(base.shape[0]):
        for k in range(offsets.shape[0]):
            v = np.int64(flat[base[i] + offsets[k]]) - 128
            x[i, k] = v
            x64[i, k] = v


@kernel()
def requantize(acc, bias, scale, cap):
    """A layer's accumulators acc (without the bias) to the next layer's input, in place: add the
    bias, rescale by a power of two, floor, relu and clip to [0, cap]; every step exact in acc's
    float type."""
    for i in range(acc.shape[0]):
        for j in range(acc.shape[1]):
            acc[i, j] = min(max(np.floor((acc[i, j] + bias[j]) * scale[j]), 0), cap)


def _stack(layers: list[ExactLinear]) -> ExactLinear:
    return ExactLinear(np.concatenate([l.weight for l in layers]), np.concatenate([l.bias for l in layers]),
                       np.concatenate([l.row_exp for l in layers]))
