"""The gray model against its starting point and against the byte path, on its validation crops.

    python bench/gray_model.py            # -> bench/results/gray-model.md

Compares, on the validation crops that models/training/gray-mlp1/training.json lists (gray
crops and RGB crops as luma, ../shared/data/train): gray-mlp1 alone (levels 1-4) and with
context mixing around it (levels 5-9, arzip/image/mixing_codec.py: whole archives of
arzip.compress_image at level 5 (the quick profile, as for colour) and 9 (full, as 6-8), stripes and
header included); rgb-mlp1 coding the
first channel of the same gray-given-as-RGB input (where fine-tuning started); and the byte
path over MED residuals (what gray images without a learned model get), the last on every 4th
crop. The others are exact code lengths in bits per pixel, one tile.
"""
from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import numpy as np

import arzip
from arzip import registry
from arzip.bytes import archive as byte_archive
from arzip.formats import serialise
from arzip.image import codec as image_codec
from arzip.image.train import load_gray
from arzip.image.waves import LAYOUT_SINGLE

ROOT = Path(__file__).resolve().parents[1]


def bpp(model, images) -> float:
    return sum(image_codec.image_nll(model, im, LAYOUT_SINGLE) for im in images) / sum(
        im.shape[0] * im.shape[1] for im in images)


def main() -> None:
    meta = json.loads((ROOT / "models/training/gray-mlp1/training.json").read_text())
    train_dir = Path(meta["train_dir"])
    if not train_dir.is_absolute():
        train_dir = ROOT / train_dir
    images = [load_gray(train_dir / name) for name in meta["validation_files"]]
    gray = registry.load("gray-mlp1")
    first_channel = copy.copy(registry.load("rgb-mlp1"))
    first_channel.config = dataclasses.replace(first_channel.config, gray=True)
    net = registry.load_bytes(registry.bytes_model())
    every4 = images[::4]
    byte_bits = sum(8 * len(byte_archive.encode_part(serialise.serialise(im[..., :1], 8, 0, serialise.MED), net)[0])
                    for im in every4)
    pixels = sum(im.shape[0] * im.shape[1] for im in images)
    mixing = {level: sum(8 * len(arzip.compress_image(np.ascontiguousarray(im[..., 0]), level=level))
                             for im in images) / pixels
              for level in (5, 9)}
    rows = [("gray-mlp1", len(images), bpp(gray, images)),
            *[(f"gray-mlp1 with {registry.mixing_profile(level, gray=True)} context mixing (level {level}, archive)",
               len(images), bits) for level, bits in mixing.items()],
            ("rgb-mlp1, first channel of gray as RGB", len(images), bpp(first_channel, images)),
            ("gray-mlp1 (every 4th crop)", len(every4), bpp(gray, every4)),
            ("byte path, MED residuals (every 4th crop)", len(every4),
             byte_bits / sum(im.shape[0] * im.shape[1] for im in every4))]
    lines = ["# gray-mlp1 on its validation crops", "", "Made by `python bench/gray_model.py`.", "",
             "| coder | crops | bits per pixel |", "|---|---|---|"]
    lines += [f"| {name} | {n} | {v:.4f} |" for name, n, v in rows]
    (ROOT / "bench/results/gray-model.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
