"""Development harness for the adaptive image model (arzip/image/adaptive.py): the ideal code
length (model NLL) of a few validation crops under the network alone and under the adaptive
model around it (arzip.image.mixing_codec, the encoder itself), and the encoder's time. Tune
on validation crops only; whole images (--images) are for measurements, never for tuning.

    python bench/adaptive_dev.py [--count 6] [--size 256] [--level 5]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from arzip import registry
from arzip.formats.picture import read_rgb8
from arzip.image import codec, mixing_codec
from arzip.image.train import split_files
from arzip.image.waves import layout_for

TRAIN = Path(__file__).resolve().parents[2] / "shared" / "data" / "train"


def adaptive_bits(model, image: np.ndarray, disabled: int = 0) -> tuple[float, float, float]:
    """(adaptive NLL bits, network NLL bits, seconds the adaptive encoder took) of one image."""
    layout = layout_for(*image.shape[:2])
    t0 = time.perf_counter()
    bits = mixing_codec.encode_image(model, image, layout, disabled)[1]
    seconds = time.perf_counter() - t0
    return bits, codec.image_nll(model, image, layout), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=6)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--level", type=int, default=5)
    parser.add_argument("--disable", type=int, default=0, help="input families left out (adaptive.NO_*)")
    parser.add_argument("--images", nargs="*", type=Path, help="whole images instead of validation crops "
                        "(a measurement, never a tuning set)")
    args = parser.parse_args()
    model = registry.load(registry.model_for_level(args.level))
    _, val = split_files(TRAIN)
    tot_a = tot_n = 0.0
    sub = 0
    for path in args.images or val[::max(1, len(val) // args.count)][:args.count]:
        image = read_rgb8(path.read_bytes())
        h, w = image.shape[:2]
        s = args.size
        if not args.images:
            image = np.ascontiguousarray(image[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s])
        a, n, t = adaptive_bits(model, image, args.disable)
        tot_a, tot_n, sub = tot_a + a, tot_n + n, sub + image.size
        print(f"{path.name}: network {n / image.size:.4f}  adaptive {a / image.size:.4f} bpsp "
              f"({100 * (a / n - 1):+.2f} %)  encode {t:.2f} s", flush=True)
    print(f"total: network {tot_n / sub:.4f}  adaptive {tot_a / sub:.4f} bpsp ({100 * (tot_a / tot_n - 1):+.2f} %)")


if __name__ == "__main__":
    main()
