"""From the trained float byte network to the exact model file that ships (arzip.bytes.exact):
quantization, and what it costs on held-out corpus positions.

Training code only; the byte path reads the file with arzip.bytes.exact.ExactByteNet.load.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..training import Log, log_to_logger, quantize_linear
from .exact import EMBED_MAX, STRETCH_FRAC, ExactByteNet
from .network import HIDDEN_MAX
from .model import ByteNet, nll_bits
from .train import ByteSampler, evaluate


def to_exact(model: ByteNet, calibration: torch.Tensor) -> ExactByteNet:
    """Quantize: embeddings to [-EMBED_MAX, EMBED_MAX] with one power-of-two scale, the hidden
    layer by quantize_linear, activations to [0, HIDDEN_MAX] at a scale that covers the calibration
    contexts' 99.99th percentile, the output layer in int32 with a per-row shift."""
    cfg = model.config
    emb = model.embed.weight.detach().double().numpy()
    emb_exp = int(np.floor(np.log2(EMBED_MAX / np.abs(emb).max())))
    emb_q = np.clip(np.round(emb * 2.0 ** emb_exp), -EMBED_MAX, EMBED_MAX)
    n_in = cfg.context * cfg.embed
    # the mixer sums this layer in integers (int32 table entries, int64 sums): bound the
    # worst-case sum by 2^31 rather than float32's 2^24, for 7 more bits of weight precision
    layer = quantize_linear(model.hidden.weight.detach().numpy(), model.hidden.bias.detach().numpy(),
                            np.full(n_in, emb_exp), np.full(n_in, EMBED_MAX), limit=2 ** 31)
    with torch.no_grad():
        h = model.hidden_of(calibration).double().numpy()
    top = max(float(np.quantile(h, 0.9999)), 1e-6)
    act_exp = int(np.floor(np.log2(HIDDEN_MAX / top)))
    w = model.out.weight.detach().double().numpy()
    b = model.out.bias.detach().double().numpy()
    # integer logit = w_q . a_q + b_q at scale 2^(w_exp + act_exp), |sum| < 2^31; the mixer
    # shifts it down to 2^STRETCH_FRAC
    bound = np.abs(w).sum(1) * HIDDEN_MAX + np.abs(b) * 2.0 ** act_exp
    w_exp = np.minimum(np.floor(np.log2((2 ** 31 - 1) / np.maximum(bound, 1e-30))), 24).astype(np.int64)
    out_w = np.round(w * 2.0 ** w_exp[:, None])
    out_b = np.round(b * 2.0 ** (w_exp + act_exp))
    shift = w_exp + act_exp - STRETCH_FRAC
    if (shift < 0).any():
        raise ValueError("output layer too coarse for the stretch scale")
    tensors = {"embed": emb_q.astype(np.int16), "hidden_w": layer.weight.astype(np.int32),
               "hidden_b": layer.bias.astype(np.int32), "hidden_exp": layer.row_exp,
               "act_exp": np.array([act_exp], dtype=np.int64), "out_w": out_w.astype(np.int32),
               "out_b": out_b.astype(np.int64), "out_shift": shift.astype(np.int64)}
    return ExactByteNet(tensors, cfg)


def export(model: ByteNet, corpus: Path, out_dir: Path, name: str, log: Log = log_to_logger) -> Path:
    """Exact model file out_dir/name.safetensors; logs the float and exact validation bits."""
    val = ByteSampler(corpus, model.config.context, False, 0)
    calibration, _ = ByteSampler(corpus, model.config.context, True, 99).batch(65536)
    exact_net = to_exact(model, calibration)
    path = out_dir / f"{name}.safetensors"
    exact_net.save(path, name)
    log(f"exported {path}; validation {evaluate(model, val):.4f} bits per byte (float), "
        f"{evaluate_exact(exact_net, val):.4f} (exact logits)")
    return path


def evaluate_exact(net: ExactByteNet, sampler: ByteSampler, n: int = 65536) -> float:
    """Bits per byte of the exact form's integer node logits (as the mixer receives them, before
    clipping) on the same held-out positions as evaluate(): the cost of quantization."""
    sampler.rng = np.random.default_rng(12345)
    ctx, byte = sampler.batch(n)
    logits = torch.from_numpy(net.logits(ctx.numpy()).astype(np.float64)) / 2 ** STRETCH_FRAC
    return float(nll_bits(logits, byte).mean())
