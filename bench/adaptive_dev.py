"""Development harness and ablations of the adaptive image model (arzip/image/adaptive.py):
the ideal code length (model NLL) of images under the network alone and under a mixing
profile around it (arzip.image.mixing_codec, the encoder itself), with input families left
out, and the encoder's time. Tune on validation crops only; whole images (--images) are for
measurements, never for tuning.

    python bench/adaptive_dev.py [--count 6] [--size 256] [--level 5] [--profile light]
                                 [--without contexts ...] [--stripes 2] [--images FILES...]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from arzip import registry
from arzip.formats.picture import read_rgb8
from arzip.image import codec, mixing_codec, profiles
from arzip.image.train import split_files
from arzip.image.waves import layout_for

TRAIN = Path(__file__).resolve().parents[2] / "shared" / "data" / "train"
FAMILIES = ("network", "predictors", "contexts", "position", "apms", "cross")


def adaptive_bits(model, image: np.ndarray, profile: profiles.Profile, stripes: int = 1) -> tuple[float, float]:
    """(adaptive NLL bits, seconds the encoder took) of one image, cut into `stripes` stripes of
    rows each coded afresh (what arzip.image.planes does at the default level, side by side)."""
    rows = -(-image.shape[0] // stripes)
    layout = layout_for(min(rows, image.shape[0]), image.shape[1])
    t0 = time.perf_counter()
    bits = sum(mixing_codec.encode_image(model, np.ascontiguousarray(image[y:y + rows]), layout, profile)[1]
               for y in range(0, image.shape[0], rows))
    return bits, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=6)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--level", type=int, default=5, help="the level whose network is the prior")
    parser.add_argument("--profile", choices=sorted(profiles.PROFILES), default="light")
    parser.add_argument("--without", nargs="*", choices=FAMILIES, default=[],
                        help="input families left out (profiles.Profile.without)")
    parser.add_argument("--stripes", type=int, default=1, help="stripes of rows, each coded afresh")
    parser.add_argument("--images", nargs="*", type=Path, help="whole images instead of validation crops "
                        "(a measurement, never a tuning set)")
    args = parser.parse_args()
    model = registry.load(registry.model_for_level(args.level))
    profile = profiles.PROFILES[args.profile].without(**{family: True for family in args.without})
    _, val = split_files(TRAIN)
    mixing_codec.encode_image(model, np.zeros((16, 16, 3), np.uint8), 0, profile)  # compile before timing
    tot_a = tot_n = seconds = 0.0
    sub = 0
    for path in args.images or val[::max(1, len(val) // args.count)][:args.count]:
        image = read_rgb8(path.read_bytes())
        h, w = image.shape[:2]
        s = args.size
        if not args.images:
            image = np.ascontiguousarray(image[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s])
        a, t = adaptive_bits(model, image, profile, args.stripes)
        n = codec.image_nll(model, image, layout_for(*image.shape[:2]))
        tot_a, tot_n, sub, seconds = tot_a + a, tot_n + n, sub + image.size, seconds + t
        print(f"{path.name}: network {n / image.size:.4f}  adaptive {a / image.size:.4f} bpsp "
              f"({100 * (a / n - 1):+.2f} %)  encode {t:.2f} s", flush=True)
    print(f"total: network {tot_n / sub:.4f}  adaptive {tot_a / sub:.4f} bpsp ({100 * (tot_a / tot_n - 1):+.2f} %)"
          f"  encode {seconds:.1f} s ({args.profile}, without {args.without or 'nothing'}, {args.stripes} stripe(s))")


if __name__ == "__main__":
    main()
