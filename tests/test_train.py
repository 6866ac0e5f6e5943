"""Training is a command of the project: a tiny run must produce a usable exact model."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from arzip.image import codec as image_codec
from arzip.image.exact import ExactImageModel, ModelConfig
from arzip.image.export import export
from arzip.image.train import split_files, train
from arzip.image.waves import LAYOUT_SINGLE


@pytest.fixture
def train_dir(tmp_path, photo):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(12):
        y, x = divmod(i, 4)
        Image.fromarray(np.ascontiguousarray(photo[y * 96:(y + 1) * 96, x * 96:(x + 1) * 96])).save(
            folder / f"crop{i:02d}.png")
    return folder


def test_split_keeps_validation_apart(train_dir):
    tr, val = split_files(train_dir)
    assert tr and val and not set(tr) & set(val)
    assert len(tr) + len(val) == 12


@pytest.mark.parametrize("context,order", [("c22", "RGB"), ("c44", "GBR")])
def test_tiny_training_run_exports_a_working_model(train_dir, tmp_path, photo, context, order):
    out = tmp_path / "run"
    cfg = ModelConfig(hidden=16, head_hidden=8, components=2, context=context, channel_order=order)
    train(train_dir, out, steps=200, batch_size=256, config=cfg, log=lambda m: None)
    path = export(out, "tiny", log=lambda m: None)
    report = json.loads((out / "export.json").read_text())
    assert report["validation_images"] >= 1
    assert abs(report["quantization_cost_percent"]) < 2.0
    model = ExactImageModel.load(path)
    img = np.ascontiguousarray(photo[110:140, 120:161])
    payload, nll = image_codec.encode_image(model, img, LAYOUT_SINGLE)
    assert np.array_equal(image_codec.decode_image(model, payload, *img.shape[:2], LAYOUT_SINGLE), img)
    assert nll / img.size < 8.0
    bits = image_codec.bits_map(model, img, LAYOUT_SINGLE)
    assert bits.sum() == pytest.approx(nll)
    # the map is in RGB order whatever the coding order: changing the last-coded channel of the
    # last pixel (nobody's context) changes that subpixel's bits alone
    last = "RGB".index(order[-1])
    changed = img.copy()
    changed[-1, -1, last] ^= 0x40
    diff = np.argwhere(image_codec.bits_map(model, changed, LAYOUT_SINGLE) != bits)
    assert diff.tolist() == [[img.shape[0] - 1, img.shape[1] - 1, last]]
    # resuming a finished run does no more steps and keeps the result
    weights = (out / "float.safetensors").read_bytes()
    messages: list[str] = []
    train(train_dir, out, steps=200, batch_size=256, config=cfg, log=messages.append)
    assert "resumed at step 200" in messages
    assert torch.load(out / "checkpoint.pt", weights_only=False)["step"] == 200
    assert (out / "float.safetensors").read_bytes() == weights


def test_distributed_training_with_torchrun(train_dir, tmp_path):
    """The same command under torchrun: 2 CPU processes (gloo), DistributedDataParallel."""
    out = tmp_path / "ddp"
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                        "-m", "arzip.cli", "train", str(train_dir), "--out", str(out), "--steps", "40",
                        "--batch-size", "128", "--hidden", "8", "--head-hidden", "4", "--components", "2",
                        "--threads", "1"], capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stderr.count("2 processes x 128 pixels per step") == 1  # rank 0 alone logs
    assert torch.load(out / "checkpoint.pt", weights_only=False)["step"] == 40
    model = ExactImageModel.load(out / "ddp.safetensors")
    assert model.config.hidden == 8
