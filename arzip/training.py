"""What the two trainers share (arzip.image.train, arzip.bytes.train): the learning-rate
schedule, checkpoints that make a run resumable, and the quantization of a float layer into
the integer weights an exact model ships.

Training code only: nothing that codes or decodes imports this module (tests/test_layout.py).
Trainers report through a `log` callable, by default this module's logger; the CLI passes one
that writes to stderr.
"""
from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

Log = Callable[[str], None]
log_to_logger: Log = logging.getLogger("arzip.training").info


def cosine_lr(step: int, steps: int, base: float, warmup: int, floor: float = 0.0) -> float:
    """Linear warm-up over `warmup` steps, then a cosine from base down to floor * base."""
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return base * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


class Checkpoint:
    """A run's state in one file (model, optimizer, step and whatever else the trainer keeps),
    replaced atomically, so that a run killed at any moment resumes from its last save when
    the same command is run again."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def exists(self) -> bool:
        return self.path.exists()

    def load(self, model: torch.nn.Module, opt: torch.optim.Optimizer, map_location=None) -> dict:
        """Restore model and optimizer; returns the rest of the saved state (step, ...)."""
        state = torch.load(self.path, map_location=map_location, weights_only=False)
        model.load_state_dict(state.pop("model"))
        opt.load_state_dict(state.pop("opt"))
        return state

    def save(self, model: torch.nn.Module, opt: torch.optim.Optimizer, **state) -> None:
        tmp = self.path.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), **state}, tmp)
        os.replace(tmp, self.path)


@dataclass
class QuantizedLinear:
    """Integer weights and bias (held in float64) of a layer y_int = W_int @ x_int + b_int, whose
    row i equals the float layer's output times 2^row_exp[i] (up to weight rounding)."""
    weight: np.ndarray   # (out, in)
    bias: np.ndarray     # (out,)
    row_exp: np.ndarray  # (out,) int64


def quantize_linear(weight: np.ndarray, bias: np.ndarray, in_exp: np.ndarray, in_max: np.ndarray,
                    limit: float, max_row_exp: int = 40) -> QuantizedLinear:
    """Quantize a float layer acting on inputs given as integers x_int = x * 2^in_exp with
    |x_int| <= in_max, choosing per output row the finest power-of-two scale whose worst-case
    partial sum stays below `limit`: 2^24 for layers summed in float32, 2^53 in float64 (every
    partial sum is then an exact integer, whatever the order: arzip.image.exact), 2^31 for
    layers summed in integers."""
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
    return QuantizedLinear(wq, bq, row_exp)
