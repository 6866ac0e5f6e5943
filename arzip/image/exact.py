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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open

from . import neighbourhood, tables

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
    """y_int = W_int @ x_int + b_int, exact in the weights' dtype. Row i of y_int equals the
    float layer's output times 2^row_exp[i] (up to weight rounding)."""
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


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch's intra-op threads set to n for a while: stripes coded side by side run one thread
    each, and torch's own pool on top of them would oversubscribe the cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def use_exact_matmul() -> None:
    """Forbid reduced-precision float32 matmuls (TF32, bf16 passes): they would round."""
    torch.set_float32_matmul_precision("highest")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


@dataclass
class PixelFeatures:
    """Everything about a batch of pixels that does not depend on the pixel's own channels."""
    head_hidden: list[np.ndarray]  # per channel (m, head_hidden) partial sums (trunk part + bias)
    head_out: list[np.ndarray]     # per channel (m, 3K) float64 partial sums (context part + bias)


class ExactImageModel:
    """Integer-exact inference, plus the integer frequency tables.

    The trunk and the context parts of the heads (most of the multiply-adds) run as exact float
    matmuls in torch, on the CPU or a GPU; the small remainder of each head, which must wait for
    the pixel's earlier channels, runs on the CPU in a numba kernel that goes on to build the
    channel's frequency tables (arzip.image.tables)."""

    def __init__(self, tensors: dict[str, torch.Tensor], config: ModelConfig,
                 hidden_dtype: torch.dtype = torch.float32):
        self.config = config
        self.hidden_dtype = hidden_dtype  # trunk and head hidden layers; float64 suits wide models
        self.context = neighbourhood.CONTEXTS[config.context]
        self.tensors = tensors
        self.luts = {k: tensors[k].numpy().astype(np.int64) for k in LUT_NAMES}
        self.device = torch.device("cpu")
        self._build()

    def _build(self) -> None:
        t, dev, h, hh = self.tensors, self.device, self.config.hidden, self.config.head_hidden
        n_in = self.context.size * CHANNELS

        def layer(prefix: str, dtype: torch.dtype) -> ExactLinear:
            return ExactLinear(t[prefix + ".weight"].to(dev, dtype), t[prefix + ".bias"].to(dev, dtype),
                               t[prefix + ".row_exp"])

        self.trunk1, self.trunk2 = layer("trunk1", self.hidden_dtype), layer("trunk2", self.hidden_dtype)
        hid = [layer(f"head_hidden.{c}", self.hidden_dtype) for c in range(CHANNELS)]
        out = [layer(f"head_out.{c}", torch.float64) for c in range(CHANNELS)]
        # pieces applied before the pixel's own channels are known, for all channels at once
        self.hidden_trunk = _stack([l.columns(0, h, True) for l in hid])
        self.out_context = _stack([l.columns(hh, hh + n_in, True) for l in out])
        self.scale1 = requantize_scale(self.trunk1.row_exp, ACT_FRAC, self.hidden_dtype, dev)
        self.scale2 = requantize_scale(self.trunk2.row_exp, ACT_FRAC, self.hidden_dtype, dev)
        self.heads = []
        for c in range(CHANNELS):
            w_hid, w_out = t[f"head_hidden.{c}.weight"].numpy(), t[f"head_out.{c}.weight"].numpy()
            self.heads.append(tables.IntegerHead(
                w_hidden_cur_t=np.ascontiguousarray(w_hid[:, h:h + c].T, dtype=np.float64),
                hidden_scale=requantize_scale(t[f"head_hidden.{c}.row_exp"], ACT_FRAC, torch.float64,
                                              torch.device("cpu")).numpy(),
                act_max=float(ACT_MAX),
                w_out_hidden_t=np.ascontiguousarray(w_out[:, :hh].T, dtype=np.float64),
                w_out_cur_t=np.ascontiguousarray(w_out[:, hh + n_in:hh + n_in + c].T, dtype=np.float64)))
        self.mixtures = [tables.MixtureTables.build(l.row_exp.numpy(), self.config.components, LOG2_SCALE_MIN,
                                                    LOG2_SCALE_MAX, MEAN_RANGE, self.luts) for l in out]

    def to(self, device: str | torch.device) -> "ExactImageModel":
        self.device = torch.device(device)
        self._build()
        return self

    @classmethod
    def load(cls, path: str | Path) -> "ExactImageModel":
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != FORMAT_NAME or meta.get("version") != str(FORMAT_VERSION):
                raise ValueError(f"{path}: not an arzip image model of version {FORMAT_VERSION}")
            if json.loads(meta["constants"]) != constants():
                raise ValueError(f"{path}: made for other fixed-point constants")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        dtype = {"float32": torch.float32, "float64": torch.float64}.get(meta.get("hidden_dtype", "float32"))
        if dtype is None:
            raise ValueError(f"{path}: unknown hidden layer type {meta['hidden_dtype']}")
        return cls(tensors, ModelConfig(**json.loads(meta["config"])), dtype)

    # -- inference ------------------------------------------------------------------------
    def pixel_features(self, context: np.ndarray) -> PixelFeatures:
        """context: (m, n_in) uint8 context values."""
        use_exact_matmul()
        x = torch.from_numpy(context).to(self.device).to(self.hidden_dtype).sub_(128.0)
        h = requantize(self.trunk1(x), self.scale1, ACT_MAX)
        h = requantize(self.trunk2(h), self.scale2, ACT_MAX)
        hidden = self.hidden_trunk(h).cpu().numpy()
        out = self.out_context(x.double()).cpu().numpy()
        hh, n_out = self.config.head_hidden, 3 * self.config.components
        return PixelFeatures([hidden[:, c * hh:(c + 1) * hh] for c in range(CHANNELS)],
                             [out[:, c * n_out:(c + 1) * n_out] for c in range(CHANNELS)])

    def channel_tables(self, c: int, feats: PixelFeatures, current: np.ndarray, scale_offset: int = 0,
                       window: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Channel c given the pixels' channels 0..c-1 (current: (3, m) float64 holding v - 128;
        later rows are not read): its integer head outputs (m, 3K), window tables and window
        starts (arzip.image.tables), log2 scales moved by scale_offset (1/32 steps); with
        window=False the full (m, 256) tables instead of the window tables."""
        return self._mixture(c, scale_offset).head_tables(self.heads[c], feats.head_hidden[c],
                                                          feats.head_out[c], current, window)

    def full_tables(self, c: int, outputs: np.ndarray, scale_offset: int = 0) -> np.ndarray:
        """(m, 256) integer frequency tables of channel c from its head outputs."""
        return self._mixture(c, scale_offset).full(outputs)

    def _mixture(self, c: int, scale_offset: int) -> tables.MixtureTables:
        mix = self.mixtures[c]
        return mix if scale_offset == 0 else replace(mix, ls_offset=scale_offset)


def _stack(layers: list[ExactLinear]) -> ExactLinear:
    return ExactLinear(torch.cat([l.weight for l in layers]), torch.cat([l.bias for l in layers]),
                       torch.cat([l.row_exp for l in layers]))
