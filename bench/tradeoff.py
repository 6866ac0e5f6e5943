"""Size against speed: every arzip level, JPEG XL efforts 1-9, WebP lossless and PNG on one plot.

    python bench/tradeoff.py DIR [--name SET] [--out bench/results] [--threads N] [--limit N]

Writes OUT/SET-tradeoff.{md,json,png}: total bits per subpixel against median encode (and
decode) seconds per image. Levels that share a model and a way of coding (the network alone,
or a context-mixing profile) are measured once and listed together.
Every decode is checked to be pixel-exact (images.measure).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import imagecodecs
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

sys.path.insert(0, str(Path(__file__).parent))
from images import Codec, load_images, measure, md_table, pillow_png_optimized  # noqa: E402

import arzip.api as api  # noqa: E402
from arzip import registry  # noqa: E402


def codecs(threads: int) -> list[tuple[str, str, Codec]]:
    """(family, label, codec) for every point of the plot."""
    out = []
    by_setting: dict[tuple[str, str | None], list[int]] = {}
    for level in registry.LEVELS:
        setting = (registry.model_for_level(level), registry.mixing_profile(level))
        by_setting.setdefault(setting, []).append(level)
    for (model, mixes), levels in by_setting.items():
        how = f", {mixes} context mixing" if mixes else ""
        label = f"arzip -{levels[0]}" + (f"..-{levels[-1]}" if len(levels) > 1 else "") + f" ({model}{how})"
        out.append(("arzip", label, Codec(label, lambda a, lv=levels[0]: api.compress_image(a, level=lv),
                                          api.decompress_image)))
    for effort in range(1, 10):
        out.append(("jpeg-xl", f"jxl e{effort}", Codec(
            f"jxl e{effort}",
            lambda a, e=effort: imagecodecs.jpegxl_encode(a, lossless=True, effort=e, numthreads=threads),
            lambda b: imagecodecs.jpegxl_decode(b, numthreads=threads))))
    out.append(("webp", "webp-ll", Codec("webp-ll", lambda a: imagecodecs.webp_encode(
        a, level=100, lossless=True, method=6, numthreads=threads), imagecodecs.webp_decode)))
    out.append(("png", "png-opt", Codec("png-opt", pillow_png_optimized, imagecodecs.png_decode)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument("--name")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    ap.add_argument("--threads", type=int, default=api.default_threads(),
                    help="threads for every codec (default: arzip's default, the available cores)")
    ap.add_argument("--limit", type=int)
    a = ap.parse_args()
    images = load_images(a.dir, a.limit)
    if not images:
        sys.exit(f"error: {a.dir}: no 8-bit RGB PNGs")
    name = a.name or a.dir.resolve().name
    api.set_threads(a.threads)
    points = []
    subpixels = sum(p.size for _, p in images)
    for family, label, codec in codecs(a.threads):
        measure(codec, images[0][1][:256, :256].copy(), "warm-up")  # every code path a photo takes
        runs = [measure(codec, pixels, img)[1] for img, pixels in images]
        points.append({"family": family, "label": label,
                       "bpsp": 8 * sum(r["bytes"] for r in runs) / subpixels,
                       "median_encode_s": statistics.median(r["encode_s"] for r in runs),
                       "median_decode_s": statistics.median(r["decode_s"] for r in runs)})
        print(f"{label}: {points[-1]['bpsp']:.3f} bpsp, encode {points[-1]['median_encode_s']:.2f} s, "
              f"decode {points[-1]['median_decode_s']:.2f} s", flush=True)

    a.out.mkdir(parents=True, exist_ok=True)
    stem = a.out / f"{name}-tradeoff"
    stem.with_suffix(".json").write_text(json.dumps({"images": len(images), "threads": a.threads,
                                                     "points": points}, indent=1) + "\n")
    table = md_table(["codec", "total bpsp", "median encode s", "median decode s"],
                     [[p["label"], f"{p['bpsp']:.3f}", f"{p['median_encode_s']:.2f}",
                       f"{p['median_decode_s']:.2f}"] for p in points])
    stem.with_suffix(".md").write_text(
        f"# {name}: size against speed ({len(images)} images, {a.threads} thread(s))\n\n"
        f"`{' '.join(['python', *sys.argv])}`\n\n{table}\n")
    fig, ax = plt.subplots(figsize=(8, 5))
    colors = {"arzip": "tab:red", "jpeg-xl": "tab:blue", "webp": "tab:green", "png": "tab:gray"}
    for family in colors:
        fam = [p for p in points if p["family"] == family]
        ax.plot([p["median_encode_s"] for p in fam], [p["bpsp"] for p in fam], "o-" if len(fam) > 1 else "o",
                color=colors[family], label=family)
        for p in fam:
            ax.annotate(p["label"].split(" (")[0], (p["median_encode_s"], p["bpsp"]), fontsize=7,
                        xytext=(4, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("median encode seconds per image (log scale)")
    ax.set_ylabel("total bits per subpixel")
    ax.set_title(f"{name}: size against speed, lower left is better")
    ax.legend()
    fig.tight_layout()
    fig.savefig(stem.with_suffix(".png"), dpi=110)
    plt.close(fig)
    print(table)


if __name__ == "__main__":
    main()
