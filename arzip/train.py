"""Training: random pixels of the training photos, their causal context, mixture NLL in bits.

Every pixel of every training image (in all 8 flips/rotations) is a sample; a batch draws
pixels at random, so one step already mixes many images. The run checkpoints every few
minutes and resumes from its checkpoint, so it can be spread over several sessions.
Single process on CPU or one GPU; under torchrun each rank trains on its own random pixels
and DistributedDataParallel averages the gradients.
"""
from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

from . import causal
from .image_model import CHANNELS, ImageModel, ModelConfig, nll_bits

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

    def __init__(self, images: list[np.ndarray], context: causal.Context, augment: bool = True,
                 seed: int = 0):
        self.context = context
        variants = []
        for img in images:
            for k in range(4 if augment else 1):
                r = np.rot90(img, k)
                variants.append(r)
                if augment:
                    variants.append(r[:, ::-1])
        self.shapes = [v.shape[:2] for v in variants]
        padded = [context.pad(np.ascontiguousarray(v)) for v in variants]
        self.padded_widths = np.array([p.shape[1] for p in padded], dtype=np.int64)
        sizes = np.array([p.size for p in padded], dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        self.data = torch.from_numpy(np.concatenate([p.reshape(-1) for p in padded]))
        self.heights = np.array([s[0] for s in self.shapes])
        self.widths = np.array([s[1] for s in self.shapes])
        self.rng = np.random.default_rng(seed)
        self.offset_tables = {w: torch.from_numpy(context.flat_offsets(int(w), CHANNELS))
                              for w in set(self.padded_widths.tolist())}

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self.rng.integers(0, len(self.shapes), size)
        ys = (self.rng.random(size) * self.heights[idx]).astype(np.int64)
        xs = (self.rng.random(size) * self.widths[idx]).astype(np.int64)
        base = self.starts[idx] + self.context.pixel_base(ys, xs, self.padded_widths[idx], CHANNELS)
        base_t = torch.from_numpy(base)
        # all images share one padded width when they share one size (the usual case)
        widths = set(self.padded_widths[idx].tolist())
        if len(widths) == 1:
            offs = self.offset_tables[widths.pop()]
            ctx = self.data[base_t[:, None] + offs[None, :]]
        else:
            ctx = torch.stack([self.data[b + self.offset_tables[int(w)]]
                               for b, w in zip(base.tolist(), self.padded_widths[idx])])
        cur = self.data[base_t[:, None] + torch.arange(CHANNELS)[None, :]]
        return ctx.float(), cur.float()


def image_context(image: np.ndarray, context: causal.Context) -> tuple[torch.Tensor, torch.Tensor]:
    """Context and value of every pixel of one image, in raster order (for evaluation)."""
    h, w, c = image.shape
    padded = context.pad(image)
    flat = torch.from_numpy(padded.reshape(-1))
    ys, xs = np.divmod(np.arange(h * w, dtype=np.int64), w)
    base = torch.from_numpy(context.pixel_base(ys, xs, padded.shape[1], c))
    offs = torch.from_numpy(context.flat_offsets(padded.shape[1], c))
    return flat[base[:, None] + offs[None, :]], flat[base[:, None] + torch.arange(c)[None, :]]


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


def lr_at(step: int, steps: int, base_lr: float, warmup: int = 500) -> float:
    if step < warmup:
        return base_lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return base_lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def train(train_dir: Path, out_dir: Path, steps: int, batch_size: int = 4096, lr: float = 2e-3,
          config: ModelConfig = ModelConfig(), checkpoint_minutes: float = 3.0,
          device: str = "auto", seed: int = 0, init: Path | None = None, log=print) -> Path:
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
                           causal.CONTEXTS[config.context], seed=seed + rank)
    val_images = [load(p) for p in val_files]

    model = ImageModel(config).to(device)
    if init is not None and not (out_dir / "checkpoint.pt").exists():
        from safetensors.torch import load_file
        model.load_state_dict(load_file(str(init)))
        log(f"starting from {init}")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    step = 0
    ckpt_path = out_dir / "checkpoint.pt"
    history: list[dict] = []
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location=device, weights_only=False)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["opt"])
        step, history = ckpt["step"], ckpt["history"]
        sampler.rng = np.random.default_rng(seed + rank + step)
        log(f"resumed at step {step}")
    net = torch.nn.parallel.DistributedDataParallel(model) if distributed else model

    def save(final: bool = False) -> None:
        if rank != 0:
            return
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                    "history": history, "config": asdict(config)}, ckpt_path.with_suffix(".tmp"))
        os.replace(ckpt_path.with_suffix(".tmp"), ckpt_path)
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
            g["lr"] = lr_at(step, steps, lr)
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
            log(f"step {step}/{steps}  train {run_loss / 20:.4f} bpsp  lr {lr_at(step, steps, lr):.2e}"
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


def export(out_dir: Path, name: str, hidden_float64: bool = False, log=print) -> Path:
    """Quantize a run's float weights into the exact model file `out_dir/name.safetensors` and
    record what quantization costs on the validation images (float vs exact bits).
    hidden_float64: exact hidden layers in float64 (finer weights; for wide models)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    from .image_codec import image_nll
    from .image_model import ExactImageModel
    from .schedule import LAYOUT_SINGLE

    meta = json.loads((out_dir / "training.json").read_text())
    with safe_open(str(out_dir / "float.safetensors"), framework="pt") as f:
        config = json.loads(f.metadata()["config"])
    model = ImageModel(ModelConfig(**config))
    model.load_state_dict(load_file(str(out_dir / "float.safetensors")))
    exact_model = ExactImageModel.from_float(model, torch.float64 if hidden_float64 else torch.float32)
    path = out_dir / f"{name}.safetensors"
    exact_model.save(path, name)
    exact_model = ExactImageModel.load(path)
    val_dir = Path(meta["train_dir"])
    images = [load_for(model.config)(val_dir / n) for n in meta["validation_files"] if (val_dir / n).exists()]
    report = {"name": name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
              "parameters": sum(p.numel() for p in model.parameters()),
              "hidden_dtype": "float64" if hidden_float64 else "float32"}
    if images:
        subpixels = sum(im.shape[0] * im.shape[1] for im in images) * model.config.coded_channels
        report["validation_images"] = len(images)
        report["float_bpsp"] = evaluate_bpsp(model, images)
        # one tile, as the float evaluation: the difference is the quantization alone
        report["exact_bpsp"] = sum(image_nll(exact_model, im, LAYOUT_SINGLE) for im in images) / subpixels
        report["quantization_cost_percent"] = 100 * (report["exact_bpsp"] / report["float_bpsp"] - 1)
        log(f"validation: float {report['float_bpsp']:.4f} bpsp, exact {report['exact_bpsp']:.4f} bpsp "
            f"({report['quantization_cost_percent']:+.3f} %)")
    (out_dir / "export.json").write_text(json.dumps(report, indent=1))
    log(f"wrote {path} (sha256 {report['sha256']})")
    return path

