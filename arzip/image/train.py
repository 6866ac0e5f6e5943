"""Training: random pixels of the training photos, their causal context, mixture NLL in bits.

Every pixel of every training image (in all 8 flips/rotations) is a sample; a batch draws
pixels at random, so one step already mixes many images. Contexts are gathered by the same
function the coder uses (arzip.image.neighbourhood.gather). The run checkpoints every few
minutes and resumes from its checkpoint, so it can be spread over several sessions.
Single process on CPU or one GPU; under torchrun each rank trains on its own random pixels
and DistributedDataParallel averages the gradients. arzip.image.export then makes the exact
model file.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from ..training import Checkpoint, Log, cosine_lr, log_to_logger
from . import neighbourhood
from .exact import CHANNELS, ModelConfig
from .model import ImageModel, nll_bits

WARMUP_STEPS = 500
LR_FLOOR = 0.02  # the cosine ends at this share of the base learning rate

VALIDATION_EVERY_TENTH = 0  # sources whose hash % 10 equals this are held out


def split_files(train_dir: Path, gray: bool = False) -> tuple[list[Path], list[Path]]:
    """Training crops split into (train, validation) by source image, so that crops of one
    photo never land on both sides: the RGB crops, or for a gray model every crop (RGB ones
    are converted to luma)."""
    manifest = train_dir / "MANIFEST.csv"
    rows = []
    if manifest.exists():
        with open(manifest, newline="") as f:
            rows = [(r["file"], r["source_repo"] + "/" + r["source_path"]) for r in csv.DictReader(f)
                    if gray or r.get("mode", "RGB") == "RGB"]
    else:
        found = sorted(train_dir.glob("*.png")) + (sorted(train_dir.glob("gray/*.png")) if gray else [])
        rows = [(str(p.relative_to(train_dir)), p.name) for p in found]
    rows = [(train_dir / name, hashlib.sha256(source.encode()).digest()) for name, source in rows
            if (train_dir / name).exists()]
    held_out = {h for _, h in rows if h[0] % 10 == VALIDATION_EVERY_TENTH}
    if not held_out and len({h for _, h in rows}) > 1:  # small folders: hold out one source
        held_out = {min(h for _, h in rows)}
    train = [p for p, h in rows if h not in held_out]
    val = [p for p, h in rows if h in held_out]
    if not train:
        raise ValueError(f"{train_dir}: no RGB PNG to train on")
    return train, val


def load_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        if im.mode != "RGB":
            raise ValueError(f"{path}: mode {im.mode}, expected RGB")
        return np.asarray(im, dtype=np.uint8)


def load_gray(path: Path) -> np.ndarray:
    """A crop as luma, given as three equal channels (what a gray model sees)."""
    with Image.open(path) as im:
        gray = np.asarray(im.convert("L"), dtype=np.uint8)
    return np.repeat(gray[..., None], CHANNELS, axis=2)


def load_for(config: ModelConfig):
    return load_gray if config.gray else load_rgb


class PixelSampler:
    """Holds the padded training images (all 8 dihedral variants) flattened in one array and
    draws (context, pixel) batches from it."""

    def __init__(self, images: list[np.ndarray], context: neighbourhood.Context, augment: bool = True,
                 seed: int = 0):
        self.context = context
        variants = []
        for img in images:
            for k in range(4 if augment else 1):
                r = np.rot90(img, k)
                variants.append(r)
                if augment:
                    variants.append(r[:, ::-1])
        padded = [context.pad(np.ascontiguousarray(v)) for v in variants]
        self.padded_widths = np.array([p.shape[1] for p in padded], dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum([p.size for p in padded])[:-1]]).astype(np.int64)
        self.data = np.concatenate([p.reshape(-1) for p in padded])
        self.heights = np.array([v.shape[0] for v in variants])
        self.widths = np.array([v.shape[1] for v in variants])
        self.rng = np.random.default_rng(seed)

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self.rng.integers(0, len(self.heights), size)
        ys = (self.rng.random(size) * self.heights[idx]).astype(np.int64)
        xs = (self.rng.random(size) * self.widths[idx]).astype(np.int64)
        widths = self.padded_widths[idx]
        base = self.starts[idx] + self.context.pixel_base(ys, xs, widths, CHANNELS)
        ctx = neighbourhood.gather(self.data, base, self.context.flat_offsets(widths, CHANNELS))
        cur = neighbourhood.gather(self.data, base, np.arange(CHANNELS))
        return torch.from_numpy(ctx).float(), torch.from_numpy(cur).float()


def image_context(image: np.ndarray, context: neighbourhood.Context) -> tuple[torch.Tensor, torch.Tensor]:
    """Context and value of every pixel of one image, in raster order (for evaluation)."""
    h, w, c = image.shape
    padded = context.pad(image)
    ys, xs = np.divmod(np.arange(h * w, dtype=np.int64), w)
    base = context.pixel_base(ys, xs, padded.shape[1], c)
    flat = padded.reshape(-1)
    return (torch.from_numpy(neighbourhood.gather(flat, base, context.flat_offsets(padded.shape[1], c))),
            torch.from_numpy(neighbourhood.gather(flat, base, np.arange(c))))


def coded_nll(model: ImageModel, context: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
    """(B, coded channels) bits of the channels the model codes (all three, or a gray model's first)."""
    return nll_bits(model(context, current), current)[:, :model.config.coded_channels]


@torch.no_grad()
def evaluate_bpsp(model: ImageModel, images: list[np.ndarray], chunk: int = 65536) -> float:
    """Bits per coded subpixel of the float model over whole images (one tile, raster order)."""
    model.eval()
    images = [im[..., model.config.coding_order] for im in images]
    total_bits, total_sub = 0.0, 0
    for img in images:
        ctx, cur = image_context(img, model.context)
        for i in range(0, len(ctx), chunk):
            c, x = ctx[i:i + chunk].float(), cur[i:i + chunk].float()
            total_bits += float(coded_nll(model, c, x).double().sum())
        total_sub += img.shape[0] * img.shape[1] * model.config.coded_channels
    model.train()
    return total_bits / total_sub


def train(train_dir: Path, out_dir: Path, steps: int, batch_size: int = 4096, lr: float = 2e-3,
          config: ModelConfig = ModelConfig(), checkpoint_minutes: float = 3.0,
          device: str = "auto", seed: int = 0, init: Path | None = None, log: Log = log_to_logger) -> Path:
    """Train (or resume) a model in out_dir; returns the path of the float weights. init: float
    weights to start from (e.g. an RGB model's, to fine-tune a gray one) when not resuming."""
    distributed = "LOCAL_RANK" in os.environ
    if distributed:
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
    else:
        rank, world = 0, 1
    if rank != 0:
        log = lambda message: None  # noqa: E731 - rank 0 speaks for the run
    if device == "auto":
        device = f"cuda:{os.environ.get('LOCAL_RANK', 0)}" if torch.cuda.is_available() else "cpu"
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    train_files, val_files = split_files(train_dir, config.gray)
    load = load_for(config)
    log(f"train: {len(train_files)} images, validation: {len(val_files)} images, device {device}, "
        f"{world} process{'es' if world > 1 else ''} x {batch_size} pixels per step")
    sampler = PixelSampler([load(p)[..., config.coding_order] for p in train_files],
                           neighbourhood.CONTEXTS[config.context], seed=seed + rank)
    val_images = [load(p) for p in val_files]

    model = ImageModel(config).to(device)
    checkpoint = Checkpoint(out_dir / "checkpoint.pt")
    if init is not None and not checkpoint.exists():
        model.load_state_dict(load_file(str(init)))
        log(f"starting from {init}")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    step = 0
    history: list[dict] = []
    if checkpoint.exists():
        state = checkpoint.load(model, opt, map_location=device)
        step, history = state["step"], state["history"]
        sampler.rng = np.random.default_rng(seed + rank + step)
        log(f"resumed at step {step}")
    net = torch.nn.parallel.DistributedDataParallel(model) if distributed else model

    def save(final: bool = False) -> None:
        if rank != 0:
            return
        checkpoint.save(model, opt, step=step, history=history, config=asdict(config))
        if final:
            weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
            save_file(weights, str(out_dir / "float.safetensors"),
                      metadata={"config": json.dumps(asdict(config))})
            meta = {"train_dir": str(train_dir), "train_files": len(train_files),
                    "validation_files": [str(p.relative_to(train_dir)) for p in val_files], "steps": steps,
                    "batch_size": batch_size, "lr": lr, "seed": seed, "history": history}
            (out_dir / "training.json").write_text(json.dumps(meta, indent=1))

    t_last_ckpt = time.time()
    t0 = time.time()
    run_loss = 0.0
    while step < steps:
        for g in opt.param_groups:
            g["lr"] = cosine_lr(step, steps, lr, WARMUP_STEPS, LR_FLOOR)
        ctx, cur = sampler.batch(batch_size)
        ctx, cur = ctx.to(device, non_blocking=True), cur.to(device, non_blocking=True)
        loss = nll_bits(net(ctx, cur), cur)[:, :config.coded_channels].mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 50 == 0:
            run_loss += float(loss.detach())
        step += 1
        if step % 1000 == 0 and rank == 0:
            log(f"step {step}/{steps}  train {run_loss / 20:.4f} bpsp  lr {cosine_lr(step, steps, lr, WARMUP_STEPS, LR_FLOOR):.2e}"
                f"  {(time.time() - t0):.0f}s")
            history.append({"step": step, "train_bpsp": run_loss / 20, "seconds": time.time() - t0})
            run_loss = 0.0
        if time.time() - t_last_ckpt > checkpoint_minutes * 60:
            if rank == 0 and val_images:
                v = evaluate_bpsp(model, val_images[:8])
                history.append({"step": step, "val8_bpsp": v})
                log(f"step {step}: validation (8 images) {v:.4f} bpsp")
            save()
            t_last_ckpt = time.time()
    if rank == 0 and val_images:
        v = evaluate_bpsp(model, val_images)
        history.append({"step": step, "val_bpsp": v})
        log(f"final validation {v:.4f} bpsp over {len(val_images)} images")
    save(final=True)
    if distributed:  # leave together: a rank exiting while rank 0 still evaluates aborts gloo
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return out_dir / "float.safetensors"
