"""The byte network as shipped: its integer form, loaded from a model file, run by the mixer.

The network (trained in float by arzip.bytes.model and arzip.bytes.train, quantized by
arzip.bytes.export) maps the previous CONTEXT bytes to one logit
per node of the byte's bit tree (node 1 is the top bit; after bit b the node becomes
2 * node + b). Its integer form: embeddings in [-1023, 1023]; a first layer with integer weights
and bias whose output is shifted right per row, clipped to [0, 4095] (relu included); an output
layer of int32 weights giving logits at scale 2^(row shift), shifted to the mixer's stretch
units (logit * 256). Every step is integer arithmetic, so any machine gets the same values.

This module needs numpy only: coding files does not load torch.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from .mixer import NetTables
from .network import HIDDEN_MAX

NODES = 256          # node 0 is unused; nodes 1..255 are the tree's decisions
EMBED_MAX = 1023     # integer embeddings lie in [-1023, 1023] (int8 cost 0.7 % on validation)
STRETCH_FRAC = 8     # mixer inputs are logits * 2^8


@dataclass(frozen=True)
class ByteNetConfig:
    context: int = 16   # previous bytes seen
    embed: int = 16     # embedding width per (position, byte value)
    hidden: int = 384


class ExactByteNet:
    """The integer tensors of a byte network: embed (context*256, embed) int16, hidden_w
    (hidden, context*embed), hidden_b (hidden,), hidden_exp (hidden,) right shift of each row
    plus act_exp, out_w (256, hidden) int32, out_b (256,), out_shift (256,)."""

    def __init__(self, tensors: dict[str, np.ndarray], config: ByteNetConfig):
        self.config = config
        self.tensors = tensors
        self.out_w = tensors["out_w"].astype(np.int32)
        self.out_b = tensors["out_b"].astype(np.int64)
        self.out_shift = tensors["out_shift"].astype(np.int64)
        self.act_shift = tensors["hidden_exp"].astype(np.int64) - int(tensors["act_exp"][0])

    def tables(self) -> NetTables:
        """The lookup tables the mixer kernel runs the network with: the first layer summed
        per (position, byte value), so a position costs context * hidden integer additions."""
        cfg = self.config
        emb = self.tensors["embed"].astype(np.int64).reshape(cfg.context, 256, cfg.embed)
        w = self.tensors["hidden_w"].astype(np.int64).reshape(-1, cfg.context, cfg.embed)
        first = np.einsum("kbe,hke->kbh", emb, w)
        return NetTables(first=np.ascontiguousarray(first.astype(np.int32)),
                         first_bias=self.tensors["hidden_b"].astype(np.int64), act_shift=self.act_shift,
                         out_w=self.out_w, out_b=self.out_b, out_shift=self.out_shift)

    def hidden_of(self, context: np.ndarray) -> np.ndarray:
        """(n, CONTEXT) bytes -> (n, hidden) activations by a plain matmul over the embedded
        context: the reference the lookup tables are tested against."""
        idx = context.astype(np.int64) + np.arange(self.config.context) * 256
        x = self.tensors["embed"].astype(np.int64)[idx].reshape(len(context), -1)
        acc = x @ self.tensors["hidden_w"].astype(np.int64).T + self.tensors["hidden_b"].astype(np.int64)
        shifted = np.where(self.act_shift >= 0, acc >> np.maximum(self.act_shift, 0),
                           acc << np.maximum(-self.act_shift, 0))
        return np.clip(shifted, 0, HIDDEN_MAX).astype(np.uint16)

    def logits(self, context: np.ndarray) -> np.ndarray:
        """(n, CONTEXT) bytes -> (n, NODES) node logits in stretch units (before the mixer's
        clipping to +-2047), for measuring the integer form."""
        acc = self.hidden_of(context).astype(np.int64) @ self.out_w.T.astype(np.int64) + self.out_b
        return acc >> self.out_shift

    def save(self, path: str | Path, name: str) -> None:
        save_file(self.tensors, str(path), metadata={"name": name, "kind": "bytes",
                                                      "config": json.dumps(asdict(self.config))})

    @classmethod
    def load(cls, path: str | Path) -> "ExactByteNet":
        with safe_open(str(path), "np") as f:
            meta = f.metadata() or {}
        if meta.get("kind") != "bytes":
            raise ValueError(f"{path}: not a byte model")
        return cls(load_file(str(path)), ByteNetConfig(**json.loads(meta["config"])))
