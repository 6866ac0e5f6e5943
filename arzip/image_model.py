"""The RGB image model: its float form (what training optimises) and its exact form (what the
coder uses).

For each pixel a small MLP reads the causal context (arzip.causal) and produces a feature
vector; one head per channel turns it, together with the channels already coded in the same
pixel (R for G; R and G for B), into a mixture of K discretized logistics over 0..255.
Every head also has a direct linear path from the raw context, so the network learns
"linear predictor + nonlinear correction", which trains fast and generalises well.

The exact form is built from the trained weights with the integer layers of arzip.exact; the
clamps below (activation cap, mean and scale ranges) are the ones the integer form enforces,
so training sees the same function up to rounding.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from . import causal, exact, tables

ACT_CAP = 8.0     # hidden activations are relu clipped to [0, ACT_CAP]
MEAN_RANGE = 192.0  # means live in [-192, 192] around 128
LOG2_SCALE_MIN = -3.0
LOG2_SCALE_MAX = 6.0
INPUT_SCALE = 64.0  # network input is (v - 128) / 64
CHANNELS = 3


@dataclass(frozen=True)
class ModelConfig:
    hidden: int = 128
    head_hidden: int = 32
    components: int = 4
    context: str = "c22"  # a name in causal.CONTEXTS
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


class ImageModel(nn.Module):
    """Float model: context (B, context.size * 3) and current pixel (B, 3), both uint8 values as
    float with channels in the config's coding order, -> mixture parameters (B, 3 channels,
    3 kinds [logit, mean, log2 scale], K)."""

    def __init__(self, config: ModelConfig = ModelConfig()):
        super().__init__()
        self.config = config
        self.context = causal.CONTEXTS[config.context]
        n_in = self.context.size * CHANNELS
        k = config.components
        self.trunk1 = nn.Linear(n_in, config.hidden)
        self.trunk2 = nn.Linear(config.hidden, config.hidden)
        # head c sees the trunk features and the c channels already coded in this pixel
        self.head_hidden = nn.ModuleList(
            nn.Linear(config.hidden + c, config.head_hidden) for c in range(CHANNELS))
        # output layer of head c: [head features, raw context, coded channels] -> 3K params
        self.head_out = nn.ModuleList(
            nn.Linear(config.head_hidden + n_in + c, 3 * k) for c in range(CHANNELS))
        self._init_outputs()

    def _init_outputs(self) -> None:
        k = self.config.components
        for c, layer in enumerate(self.head_out):
            with torch.no_grad():
                layer.weight.mul_(0.1)
                layer.bias.zero_()
                # means start as the average of the left and upper neighbours of the same channel
                w = layer.weight[k:2 * k]
                left = self.context.offsets.index((0, -1))
                up = self.context.offsets.index((-1, 0))
                base = self.config.head_hidden
                w[:, base + left * CHANNELS + c] += 0.5 / MEAN_UNIT
                w[:, base + up * CHANNELS + c] += 0.5 / MEAN_UNIT
                layer.bias[k:2 * k] = torch.linspace(-0.05, 0.05, k)
                layer.bias[2 * k:] = 2.0  # scale about 4 grey levels

    def forward(self, context: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
        x = (context - 128.0) / INPUT_SCALE
        cur = (current - 128.0) / INPUT_SCALE
        h = act(self.trunk1(x))
        h = act(self.trunk2(h))
        outs = []
        for c in range(CHANNELS):
            z = act(self.head_hidden[c](torch.cat([h, cur[:, :c]], dim=1)))
            outs.append(self.head_out[c](torch.cat([z, x, cur[:, :c]], dim=1)))
        raw = torch.stack(outs, dim=1).unflatten(2, (3, self.config.components))
        return to_params(raw)

    def config_dict(self) -> dict:
        return asdict(self.config)


MEAN_UNIT = 64.0  # the mean output is in units of 64 grey levels


def act(x: torch.Tensor) -> torch.Tensor:
    return torch.clamp(x, 0.0, ACT_CAP)


def to_params(raw: torch.Tensor) -> torch.Tensor:
    """Raw head outputs -> (logit [log2 units], mean [grey levels - 128], log2 scale), clamped as
    the integer form clamps them."""
    logit = raw[:, :, 0]
    mean = torch.clamp(raw[:, :, 1] * MEAN_UNIT, -MEAN_RANGE, MEAN_RANGE)
    log2_scale = torch.clamp(raw[:, :, 2], LOG2_SCALE_MIN, LOG2_SCALE_MAX)
    return torch.stack([logit, mean, log2_scale], dim=2)


def nll_bits(params: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Negative log2-likelihood of target values (B, 3) under the mixtures (B, 3, 3, K)."""
    logit, mean, log2_scale = params[:, :, 0], params[:, :, 1], params[:, :, 2]
    v = target.unsqueeze(-1) - 128.0
    inv_s = torch.exp2(-log2_scale)
    plus = (v + 0.5 - mean) * inv_s
    minus = (v - 0.5 - mean) * inv_s
    mid = (v - mean) * inv_s
    log_cdf_plus = -F.softplus(-plus)
    log_one_minus_cdf_minus = -F.softplus(minus)
    # log(sigmoid(plus) - sigmoid(minus)), computed on the side of the mean where it is stable
    flip = (mid > 0).to(plus.dtype)
    a = plus * (1 - flip) - minus * flip
    b = minus * (1 - flip) - plus * flip
    diff = torch.sigmoid(a) - torch.sigmoid(b)
    log_pdf_mid = mid - 2 * F.softplus(mid) - log2_scale * math.log(2)
    log_prob_mid = torch.where(diff > 1e-6, torch.log(diff.clamp_min(1e-12)), log_pdf_mid)
    lo = target.unsqueeze(-1) <= 0
    hi = target.unsqueeze(-1) >= 255
    log_prob = torch.where(lo, log_cdf_plus, torch.where(hi, log_one_minus_cdf_minus, log_prob_mid))
    log_weights = torch.log_softmax(logit * math.log(2), dim=-1)
    return -torch.logsumexp(log_weights + log_prob, dim=-1) / math.log(2)


# ---------------------------------------------------------------------------------------------
# Exact form: what the coder uses. Same function as ImageModel up to rounding, computed with
# integers only (see arzip.exact for why the float matmuls below cannot round).

ACT_FRAC = 8                                  # hidden activations in 1/256
ACT_MAX = int(ACT_CAP * 2 ** ACT_FRAC)        # 2048
INPUT_FRAC = 6                                # x_int = v - 128 = x * 2^6
INPUT_MAX = 128
FORMAT_NAME = "arzip-image-model"
FORMAT_VERSION = 1


@dataclass
class PixelFeatures:
    """Everything about a batch of pixels that does not depend on the pixel's own channels."""
    head_hidden: list[np.ndarray]  # per channel (m, head_hidden) partial sums (trunk part + bias)
    head_out: list[np.ndarray]     # per channel (m, 3K) float64 partial sums (context part + bias)


class ExactImageModel:
    """Integer-exact inference for ImageModel, plus the integer frequency tables.

    The trunk and the context parts of the heads (most of the multiply-adds) run as exact float
    matmuls in torch, on the CPU or a GPU; the small remainder of each head, which must wait for
    the pixel's earlier channels, runs on the CPU in a numba kernel that goes on to build the
    channel's frequency tables (exact.head_rows, arzip.tables)."""

    def __init__(self, tensors: dict[str, torch.Tensor], config: ModelConfig,
                 hidden_dtype: torch.dtype = torch.float32):
        self.config = config
        self.hidden_dtype = hidden_dtype  # trunk and head hidden layers; float64 suits wide models
        self.context = causal.CONTEXTS[config.context]
        self.tensors = tensors
        self.luts = {k: tensors[k].numpy().astype(np.int64) for k in LUT_NAMES}
        self.device = torch.device("cpu")
        self._build()

    def _build(self) -> None:
        t, dev, h, hh = self.tensors, self.device, self.config.hidden, self.config.head_hidden
        n_in = self.context.size * CHANNELS

        def layer(prefix: str, dtype: torch.dtype) -> exact.ExactLinear:
            return exact.ExactLinear(t[prefix + ".weight"].to(dev, dtype), t[prefix + ".bias"].to(dev, dtype),
                                     t[prefix + ".row_exp"])

        self.trunk1, self.trunk2 = layer("trunk1", self.hidden_dtype), layer("trunk2", self.hidden_dtype)
        hid = [layer(f"head_hidden.{c}", self.hidden_dtype) for c in range(CHANNELS)]
        out = [layer(f"head_out.{c}", torch.float64) for c in range(CHANNELS)]
        # pieces applied before the pixel's own channels are known, for all channels at once
        self.hidden_trunk = _stack([l.columns(0, h, True) for l in hid])
        self.out_context = _stack([l.columns(hh, hh + n_in, True) for l in out])
        self.scale1 = exact.requantize_scale(self.trunk1.row_exp, ACT_FRAC, self.hidden_dtype, dev)
        self.scale2 = exact.requantize_scale(self.trunk2.row_exp, ACT_FRAC, self.hidden_dtype, dev)
        self.heads = []
        for c in range(CHANNELS):
            w_hid, w_out = t[f"head_hidden.{c}.weight"].numpy(), t[f"head_out.{c}.weight"].numpy()
            self.heads.append(exact.IntegerHead(
                w_hidden_cur_t=np.ascontiguousarray(w_hid[:, h:h + c].T, dtype=np.float64),
                hidden_scale=exact.requantize_scale(t[f"head_hidden.{c}.row_exp"], ACT_FRAC, torch.float64,
                                                    torch.device("cpu")).numpy(),
                act_max=float(ACT_MAX),
                w_out_hidden_t=np.ascontiguousarray(w_out[:, :hh].T, dtype=np.float64),
                w_out_cur_t=np.ascontiguousarray(w_out[:, hh + n_in:hh + n_in + c].T, dtype=np.float64)))
        self.mixtures = [tables.MixtureTables.build(l.row_exp, self.config.components, LOG2_SCALE_MIN,
                                                    LOG2_SCALE_MAX, MEAN_RANGE, self.luts) for l in out]

    def to(self, device: str | torch.device) -> "ExactImageModel":
        self.device = torch.device(device)
        self._build()
        return self

    @classmethod
    def from_float(cls, model: ImageModel, hidden_dtype: torch.dtype = torch.float32) -> "ExactImageModel":
        """Quantize a trained float model. hidden_dtype float64 lets the hidden layers keep finer
        weights (their exact-sum bound is 2^53 instead of 2^24) at some speed: worth it for wide
        layers, whose many inputs force coarse float32 weights."""
        cfg, k = model.config, model.config.components
        n_in = model.context.size * CHANNELS
        sd = {name: p.detach().double().cpu().numpy() for name, p in model.state_dict().items()}
        tensors: dict[str, torch.Tensor] = {}

        def put(name: str, w: np.ndarray, b: np.ndarray, in_exp: list[int], in_max: list[int],
                dtype: torch.dtype) -> None:
            q = exact.quantize_linear(w, b, np.array(in_exp), np.array(in_max), dtype)
            tensors[name + ".weight"] = q.weight.to(torch.int64)
            tensors[name + ".bias"] = q.bias.to(torch.int64)
            tensors[name + ".row_exp"] = q.row_exp

        put("trunk1", sd["trunk1.weight"], sd["trunk1.bias"], [INPUT_FRAC] * n_in, [INPUT_MAX] * n_in,
            hidden_dtype)
        put("trunk2", sd["trunk2.weight"], sd["trunk2.bias"], [ACT_FRAC] * cfg.hidden,
            [ACT_MAX] * cfg.hidden, hidden_dtype)
        for c in range(CHANNELS):
            put(f"head_hidden.{c}", sd[f"head_hidden.{c}.weight"], sd[f"head_hidden.{c}.bias"],
                [ACT_FRAC] * cfg.hidden + [INPUT_FRAC] * c, [ACT_MAX] * cfg.hidden + [INPUT_MAX] * c,
                hidden_dtype)
            w, b = sd[f"head_out.{c}.weight"].copy(), sd[f"head_out.{c}.bias"].copy()
            w[k:2 * k] *= MEAN_UNIT  # rows of the means, in grey levels
            b[k:2 * k] *= MEAN_UNIT
            put(f"head_out.{c}", w, b, [ACT_FRAC] * cfg.head_hidden + [INPUT_FRAC] * (n_in + c),
                [ACT_MAX] * cfg.head_hidden + [INPUT_MAX] * (n_in + c), torch.float64)
        for name, lut in tables.build_luts(LOG2_SCALE_MIN, LOG2_SCALE_MAX).items():
            tensors[name] = torch.from_numpy(lut)
        return cls(tensors, cfg, hidden_dtype)

    def save(self, path: str | Path, name: str) -> None:
        meta = {"format": FORMAT_NAME, "version": str(FORMAT_VERSION), "name": name,
                "config": json.dumps(asdict(self.config)), "constants": json.dumps(constants()),
                "hidden_dtype": str(self.hidden_dtype).removeprefix("torch.")}
        save_file({k: v.contiguous() for k, v in self.tensors.items()}, str(path), metadata=meta)

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
        exact.use_exact_matmul()
        x = torch.from_numpy(context).to(self.device).to(self.hidden_dtype).sub_(128.0)
        h = exact.requantize(self.trunk1(x), self.scale1, ACT_MAX)
        h = exact.requantize(self.trunk2(h), self.scale2, ACT_MAX)
        hidden = self.hidden_trunk(h).cpu().numpy()
        out = self.out_context(x.double()).cpu().numpy()
        hh, n_out = self.config.head_hidden, 3 * self.config.components
        return PixelFeatures([hidden[:, c * hh:(c + 1) * hh] for c in range(CHANNELS)],
                             [out[:, c * n_out:(c + 1) * n_out] for c in range(CHANNELS)])

    def channel_tables(self, c: int, feats: PixelFeatures, current: np.ndarray,
                       scale_offset: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Channel c given the pixels' channels 0..c-1 (current: (3, m) float64 holding v - 128;
        later rows are not read): its integer head outputs (m, 3K), window tables and window
        starts (arzip.tables), log2 scales moved by scale_offset (1/32 steps)."""
        return self._mixture(c, scale_offset).head_window(self.heads[c], feats.head_hidden[c],
                                                          feats.head_out[c], current)

    def full_tables(self, c: int, outputs: np.ndarray, scale_offset: int = 0) -> np.ndarray:
        """(m, 256) integer frequency tables of channel c from its head outputs."""
        return self._mixture(c, scale_offset).full(outputs)

    def _mixture(self, c: int, scale_offset: int) -> tables.MixtureTables:
        mix = self.mixtures[c]
        return mix if scale_offset == 0 else replace(mix, ls_offset=scale_offset)


LUT_NAMES = ("lut_sigmoid", "lut_inv_scale", "lut_exp2")


def constants() -> dict:
    """Fixed-point constants a model file was made for; a mismatch means wrong tables."""
    return {"act_frac": ACT_FRAC, "act_cap": ACT_CAP, "input_frac": INPUT_FRAC,
            "cdf_bits": tables.CDF_BITS, "lut_steps": tables.LUT_STEPS, "lut_zmax": tables.LUT_ZMAX,
            "inv_bits": tables.INV_BITS, "mean_frac": tables.MEAN_FRAC,
            "log2_scale_frac": tables.LOG2_SCALE_FRAC, "logit_frac": tables.LOGIT_FRAC,
            "weight_bits": tables.WEIGHT_BITS, "floor_shift": tables.FLOOR_SHIFT,
            "min_weight": tables.MIN_WEIGHT, "window": tables.WINDOW,
            "mean_range": MEAN_RANGE, "log2_scale_range": [LOG2_SCALE_MIN, LOG2_SCALE_MAX]}


def _stack(layers: list[exact.ExactLinear]) -> exact.ExactLinear:
    return exact.ExactLinear(torch.cat([l.weight for l in layers]), torch.cat([l.bias for l in layers]),
                             torch.cat([l.row_exp for l in layers]))
