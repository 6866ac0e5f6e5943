"""The byte network in float, for training: p(bit | the bits of this byte so far, the previous
CONTEXT bytes), and its quantization to the integer form that is shipped (arzip.byte_net).

A byte is coded as 8 binary decisions down a tree: node 1 is the first (top) bit, and after each
bit b the node becomes 2 * node + b, so nodes 1..255 cover every decision. The network maps the
previous bytes to one logit per node ("hierarchical softmax"), so a byte's probability is the
product of its 8 path decisions and only those 8 output rows are ever needed.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from . import exact
from .byte_net import ACT_MAX, EMBED_MAX, NODES, STRETCH_FRAC, ByteNetConfig, ExactByteNet


class ByteNet(nn.Module):
    """Position-specific byte embeddings -> one ReLU layer -> 255 node logits."""

    def __init__(self, config: ByteNetConfig = ByteNetConfig()):
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.context * 256, config.embed)
        nn.init.normal_(self.embed.weight, std=0.3)
        self.hidden = nn.Linear(config.context * config.embed, config.hidden)
        self.out = nn.Linear(config.hidden, NODES)
        self.register_buffer("position_base", torch.arange(config.context) * 256)

    def hidden_of(self, context: torch.Tensor) -> torch.Tensor:
        """context: (n, CONTEXT) previous bytes, oldest first -> (n, hidden)."""
        e = self.embed(context.long() + self.position_base)
        return torch.relu(self.hidden(e.flatten(1)))

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        return self.out(self.hidden_of(context))


def path_nodes(byte: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(n,) bytes -> ((n, 8) node of each decision, (n, 8) the bit decided there)."""
    shifts = torch.arange(7, -1, -1, device=byte.device)
    bits = (byte.long()[:, None] >> shifts) & 1
    prefix = byte.long()[:, None] >> (shifts + 1)                 # bits above this one
    nodes = prefix + (1 << (7 - shifts))                          # leading 1 marks the depth
    return nodes, bits


def nll_bits(logits: torch.Tensor, byte: torch.Tensor) -> torch.Tensor:
    """-log2 p(byte) of each row under the node logits."""
    nodes, bits = path_nodes(byte)
    z = logits.gather(1, nodes)
    return nn.functional.binary_cross_entropy_with_logits(
        z, bits.to(z.dtype), reduction="none").sum(1) / np.log(2)


def to_exact(model: ByteNet, calibration: torch.Tensor) -> ExactByteNet:
    """Quantize: embeddings to [-EMBED_MAX, EMBED_MAX] with one power-of-two scale, the hidden
    layer by exact.quantize_linear, activations to [0, ACT_MAX] at a scale that covers the calibration
    contexts' 99.99th percentile, the output layer in int32 with a per-row shift."""
    cfg = model.config
    emb = model.embed.weight.detach().double().numpy()
    emb_exp = int(np.floor(np.log2(EMBED_MAX / np.abs(emb).max())))
    emb_q = np.clip(np.round(emb * 2.0 ** emb_exp), -EMBED_MAX, EMBED_MAX)
    n_in = cfg.context * cfg.embed
    # the mixer sums this layer in integers (int32 table entries, int64 sums): bound the
    # worst-case sum by 2^31 rather than float32's 2^24, for 7 more bits of weight precision
    layer = exact.quantize_linear(model.hidden.weight.detach().numpy(), model.hidden.bias.detach().numpy(),
                                  np.full(n_in, emb_exp), np.full(n_in, EMBED_MAX), torch.float64,
                                  limit=2 ** 31)
    with torch.no_grad():
        h = model.hidden_of(calibration).double().numpy()
    top = max(float(np.quantile(h, 0.9999)), 1e-6)
    act_exp = int(np.floor(np.log2(ACT_MAX / top)))
    w = model.out.weight.detach().double().numpy()
    b = model.out.bias.detach().double().numpy()
    # integer logit = w_q . a_q + b_q at scale 2^(w_exp + act_exp), |sum| < 2^31; the mixer
    # shifts it down to 2^STRETCH_FRAC
    bound = np.abs(w).sum(1) * ACT_MAX + np.abs(b) * 2.0 ** act_exp
    w_exp = np.minimum(np.floor(np.log2((2 ** 31 - 1) / np.maximum(bound, 1e-30))), 24).astype(np.int64)
    out_w = np.round(w * 2.0 ** w_exp[:, None])
    out_b = np.round(b * 2.0 ** (w_exp + act_exp))
    shift = w_exp + act_exp - STRETCH_FRAC
    if (shift < 0).any():
        raise ValueError("output layer too coarse for the stretch scale")
    tensors = {"embed": emb_q.astype(np.int16), "hidden_w": layer.weight.numpy().astype(np.int32),
               "hidden_b": layer.bias.numpy().astype(np.int32), "hidden_exp": layer.row_exp.numpy(),
               "act_exp": np.array([act_exp], dtype=np.int64), "out_w": out_w.astype(np.int32),
               "out_b": out_b.astype(np.int64), "out_shift": shift.astype(np.int64)}
    return ExactByteNet(tensors, cfg)
