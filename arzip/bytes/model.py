"""The byte network in float, for training: p(bit | the bits of this byte so far, the previous
CONTEXT bytes). arzip.bytes.export quantizes it to the integer form that is shipped
(arzip.bytes.exact).

A byte is coded as 8 binary decisions down a tree: node 1 is the first (top) bit, and after each
bit b the node becomes 2 * node + b, so nodes 1..255 cover every decision. The network maps the
previous bytes to one logit per node ("hierarchical softmax"), so a byte's probability is the
product of its 8 path decisions and only those 8 output rows are ever needed.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .exact import NODES, ByteNetConfig


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
