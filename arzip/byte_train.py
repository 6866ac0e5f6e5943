"""Pretraining the byte network (arzip.byte_model) on a corpus folder (arzip.byte_corpus).

Each step draws random positions, the same number from every corpus file (so no one source
dominates), and minimises the bits of the next byte given the CONTEXT bytes before it. The last
1 % of every file is held out for validation. Checkpoints every few minutes; rerunning the same
command resumes.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from .byte_model import ByteNet, nll_bits, to_exact
from .byte_net import STRETCH_FRAC, ByteNetConfig, ExactByteNet

HELD_OUT = 0.01
CHECKPOINT_SECONDS = 180


class ByteSampler:
    def __init__(self, corpus: Path, context: int, train: bool, seed: int):
        files = sorted(corpus.glob("*.txt"))
        if not files:
            raise ValueError(f"{corpus}: no corpus files (*.txt); build them with python -m arzip.byte_corpus")
        self.parts = []
        for path in files:
            data = np.fromfile(path, dtype=np.uint8)
            cut = int(len(data) * (1 - HELD_OUT))
            self.parts.append(data[:cut] if train else data[cut:])
        self.context = context
        self.rng = np.random.default_rng(seed)

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        per = -(-size // len(self.parts))
        rows = []
        for data in self.parts:
            start = self.rng.integers(0, len(data) - self.context - 1, per)
            rows.append(data[start[:, None] + np.arange(self.context + 1)])
        window = torch.from_numpy(np.concatenate(rows)[:size])
        return window[:, :-1], window[:, -1]


def lr_at(step: int, steps: int, base: float, warmup: int = 300) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    return base * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


def evaluate(model: ByteNet, sampler: ByteSampler, n: int = 65536) -> float:
    """Bits per byte on n held-out positions (a fixed draw: the sampler is reseeded)."""
    sampler.rng = np.random.default_rng(12345)
    with torch.no_grad():
        ctx, byte = sampler.batch(n)
        return float(nll_bits(model(ctx), byte).mean())


def train(corpus: Path, out_dir: Path, steps: int, batch_size: int = 2048, lr: float = 3e-3,
          config: ByteNetConfig = ByteNetConfig(), seed: int = 0, log=print) -> ByteNet:
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = ByteNet(config)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    ckpt = out_dir / "checkpoint.pt"
    step = 0
    if ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step = state["step"]
        log(f"resumed at step {step}")
    sampler = ByteSampler(corpus, config.context, True, seed + step)
    val = ByteSampler(corpus, config.context, False, 0)

    def save() -> None:
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                    "config": config.__dict__}, out_dir / "checkpoint.tmp")
        (out_dir / "checkpoint.tmp").replace(ckpt)

    last, t0, running = time.time(), time.time(), []
    while step < steps:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps, lr)
        ctx, byte = sampler.batch(batch_size)
        loss = nll_bits(model(ctx), byte).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        running.append(loss.item())
        step += 1
        if step % 1000 == 0 or step == steps:
            v = evaluate(model, val)
            log(json.dumps({"step": step, "train_bpb": round(float(np.mean(running)), 4),
                            "val_bpb": round(v, 4), "seconds": round(time.time() - t0)}))
            with open(out_dir / "log.jsonl", "a") as f:
                f.write(json.dumps({"step": step, "train_bpb": float(np.mean(running)), "val_bpb": v}) + "\n")
            running = []
        if time.time() - last > CHECKPOINT_SECONDS or step == steps:
            save()
            last = time.time()
    return model


def export(model: ByteNet, corpus: Path, out_dir: Path, name: str, log=print) -> Path:
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
