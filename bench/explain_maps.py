"""Photos beside the bits the model spends on them: where is the model weak?

    python bench/explain_maps.py ../shared/data/kodak/kodim05.png ... [--out bench/results/maps] [--level N]

For each image writes OUT/<name>.png: the photo on the left, the heat map of bits per pixel
(R+G+B, under the chosen level's model) on the right, with bits per channel in the title.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

from arzip import explain, registry  # noqa: E402
from arzip.image_io import read_png_rgb8  # noqa: E402


def side_by_side(path: Path, out: Path, level: int | None) -> str:
    pixels, _ = read_png_rgb8(path.read_bytes(), path.name)
    model = registry.model_for_level(level)
    bits = explain.explain_image(pixels, model)
    per_pixel = bits.sum(axis=2)
    r, g, b = bits.reshape(-1, 3).mean(axis=0)
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(13, 6.2 * pixels.shape[0] / pixels.shape[1] + 0.7))
    ax0.imshow(pixels)
    ax0.set_axis_off()
    im = ax1.imshow(per_pixel, cmap="inferno", vmin=0, vmax=float(np.percentile(per_pixel, 99.5)))
    ax1.set_axis_off()
    fig.colorbar(im, ax=ax1, fraction=0.035, pad=0.02, label="bits per pixel (R+G+B)")
    summary = f"{bits.mean():.3f} bpsp (R {r:.2f}, G {g:.2f}, B {b:.2f})"
    fig.suptitle(f"{path.name}, model {model}: {summary}", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / f"{path.stem}.png", dpi=90)
    plt.close(fig)
    return f"{path.name}: {summary}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "maps")
    ap.add_argument("--level", type=int)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    for path in a.images:
        print(side_by_side(path, a.out, a.level))


if __name__ == "__main__":
    main()
