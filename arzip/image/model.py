"""The image model in float: what training optimises (arzip.image.train).

For each pixel a small MLP reads the causal context (arzip.image.neighbourhood) and produces a
feature vector; one head per channel turns it, together with the channels already coded in
the same pixel (R for G; R and G for B), into a mixture of K discretized logistics over 0..255.
Every head also has a direct linear path from the raw context, so the network learns
"linear predictor + nonlinear correction", which trains fast and generalises well.

The coder runs the integer form of the same function (arzip.image.exact, made from these
weights by arzip.image.export); the clamps here (activation cap, mean and scale ranges) are
the ones the integer form enforces, so training sees the same function up to rounding.
"""
from __future__ import annotations

import math
from dataclasses import asdict

import torch
import torch.nn.functional as F
from torch import nn

from . import neighbourhood
from .exact import (ACT_CAP, CHANNELS, INPUT_SCALE, LOG2_SCALE_MAX, LOG2_SCALE_MIN, MEAN_RANGE, MEAN_UNIT,
                    ModelConfig)


class ImageModel(nn.Module):
    """Float model: context (B, context.size * 3) and current pixel (B, 3), both uint8 values as
    float with channels in the config's coding order, -> mixture parameters (B, 3 channels,
    3 kinds [logit, mean, log2 scale], K)."""

    def __init__(self, config: ModelConfig = ModelConfig()):
        super().__init__()
        self.config = config
        self.context = neighbourhood.CONTEXTS[config.context]
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
