"""Photos beside the bits the model spends on them: where is the model weak?

    python bench/explain_maps.py ../shared/data/kodak/kodim05.png ... [--out bench/results/maps] [--level N]

For each image writes OUT/<name>.png: the photo on the left, the heat map of bits per pixel
(R+G+B, under the chosen level's model) on the right, with bits per channel in the title.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from arzip import explain, registry
from arzip.formats.picture import read_rgb8


def side_by_side(path: Path, out: Path, level: int | None) -> str:
    pixels = read_rgb8(path.read_bytes(), path.name)
    model = registry.model_for_level(level)
    bits = explain.explain_image(pixels, model)
    plt = explain.pyplot()
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(13, 6.2 * pixels.shape[0] / pixels.shape[1] + 0.7))
    ax0.imshow(pixels)
    ax0.set_axis_off()
    explain.plot_bits(fig, ax1, bits)
    summary = f"{path.name}: {explain.describe(bits)}"
    fig.suptitle(f"{summary}, model {model}", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / f"{path.stem}.png", dpi=90)
    plt.close(fig)
    return summary


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
