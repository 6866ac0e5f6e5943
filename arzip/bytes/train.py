"""Pretraining the byte network (arzip.bytes.model) on a corpus folder (arzip.bytes.corpus);
arzip.bytes.export then makes the exact model file.

Each step draws random positions, the same number from every corpus file (so no one source
dominates), and minimises the bits of the next byte given the CONTEXT bytes before it. The last
1 % of every file is held out for validation. Checkpoints every few minutes; rerunning the same
command resumes.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from ..training import Checkpoint, Log, cosine_lr, log_to_logger
from .exact import ByteNetConfig
from .model import ByteNet, nll_bits

HELD_OUT = 0.01
CHECKPOINT_SECONDS = 180
WARMUP_STEPS = 300


class ByteSampler:
    def __init__(self, corpus: Path, context: int, train: bool, seed: int):
        files = sorted(corpus.glob("*.txt"))
        if not files:
            raise ValueError(f"{corpus}: no corpus files (*.txt); build them with arzip train-bytes --build-corpus")
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


def evaluate(model: ByteNet, sampler: ByteSampler, n: int = 65536) -> float:
    """Bits per byte on n held-out positions (a fixed draw: the sampler is reseeded)."""
    sampler.rng = np.random.default_rng(12345)
    with torch.no_grad():
        ctx, byte = sampler.batch(n)
        return float(nll_bits(model(ctx), byte).mean())


def train(corpus: Path, out_dir: Path, steps: int, batch_size: int = 2048, lr: float = 3e-3,
          config: ByteNetConfig = ByteNetConfig(), seed: int = 0, log: Log = log_to_logger) -> ByteNet:
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = ByteNet(config)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    checkpoint = Checkpoint(out_dir / "checkpoint.pt")
    step = 0
    if checkpoint.exists():
        step = checkpoint.load(model, opt)["step"]
        log(f"resumed at step {step}")
    sampler = ByteSampler(corpus, config.context, True, seed + step)
    val = ByteSampler(corpus, config.context, False, 0)

    last, t0, running = time.time(), time.time(), []
    while step < steps:
        for g in opt.param_groups:
            g["lr"] = cosine_lr(step, steps, lr, WARMUP_STEPS)
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
            checkpoint.save(model, opt, step=step, config=config.__dict__)
            last = time.time()
    return model
