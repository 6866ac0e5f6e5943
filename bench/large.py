"""Time and peak memory of arzip against image size, up to 8000 x 8000 (64 megapixels).

    python bench/large.py [--sides 1000 2000 4000 8000] [--threads 2] [--out bench/results] [--name large]

Builds a photo-like mosaic of each size from scikit-image's photos (astronaut, coffee,
chelsea, rocket: public domain / CC0), each tile downscaled by a random factor (so no two
tiles repeat exactly and they keep a photo's sharpness), and runs `arzip compress` and
`arzip decompress` on its PNG as fresh processes (bench/memory.py's `run`: wall time and peak
resident memory from os.wait4, start-up included). Writes results/large.{md,json}: per size,
seconds, seconds per megapixel (constant when time is linear in pixels), peak MiB and what
coded the image.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data as skdata

sys.path.insert(0, str(Path(__file__).parent))
from memory import run  # noqa: E402


def mosaic(side: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    photos = [Image.fromarray(p) for p in (skdata.astronaut(), skdata.coffee(), skdata.chelsea(), skdata.rocket())]
    out = np.zeros((side, side, 3), np.uint8)
    y = 0
    while y < side:
        x, row_h = 0, int(rng.integers(150, 290))
        while x < side:
            photo = photos[int(rng.integers(len(photos)))]
            width = int(photo.width * row_h / photo.height * rng.uniform(0.7, 1.0))  # no two tiles alike
            tile = np.asarray(photo.resize((max(1, width), row_h), Image.BICUBIC))
            tile = tile[:, :side - x][:side - y]
            out[y:y + tile.shape[0], x:x + tile.shape[1]] = tile
            x += tile.shape[1]
        y += row_h
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sides", type=int, nargs="+", default=[1000, 2000, 4000, 8000])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    ap.add_argument("--name", default="large", help="results file name (default large)")
    a = ap.parse_args()
    threads = ["--threads", str(a.threads)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        png, arz, back = Path(tmp) / "x.png", Path(tmp) / "x.png.arz", Path(tmp) / "back.png"
        Image.fromarray(mosaic(64)).save(png)
        run(["compress", str(png), "-o", str(arz), "-f", "-q"])  # warm the JIT cache
        for side in a.sides:
            pixels = mosaic(side)
            Image.fromarray(pixels).save(png)
            c_wall, c_mem = run(["compress", str(png), "-o", str(arz), "-f", "-q", *threads])
            d_wall, d_mem = run(["decompress", str(arz), "-o", str(back), "-f", "-q", *threads])
            with Image.open(back) as im:
                if not np.array_equal(np.asarray(im), pixels):
                    sys.exit(f"error: {side}x{side}: decoded image differs")
            info = json.loads(subprocess.run([sys.executable, "-m", "arzip.cli", "info", str(arz), "--json"],
                                             capture_output=True, text=True, check=True).stdout)
            mp = side * side / 1e6
            rows.append({"side": side, "megapixels": mp, "compress_s": c_wall, "decompress_s": d_wall,
                         "compress_peak_mib": c_mem, "decompress_peak_mib": d_mem,
                         "bits_per_subpixel": info["bits_per_subpixel"],
                         "parts": [f"{p['plane']}:{p['method']}" for p in info["parts"]]})
            print(rows[-1], flush=True)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / f"{a.name}.json").write_text(json.dumps({"threads": a.threads, "rows": rows}, indent=1) + "\n")
    md = (f"# arzip on large images (threads {a.threads}, start-up included)\n\n`{' '.join(['python', *sys.argv])}`\n\n"
          "| size | MP | compress s | s/MP | decompress s | s/MP | compress peak MiB | decompress peak MiB | bpsp | coded as |\n"
          "|---|---|---|---|---|---|---|---|---|---|\n"
          + "".join(f"| {r['side']}x{r['side']} | {r['megapixels']:.0f} | {r['compress_s']:.1f} | "
                    f"{r['compress_s'] / r['megapixels']:.2f} | {r['decompress_s']:.1f} | "
                    f"{r['decompress_s'] / r['megapixels']:.2f} | {r['compress_peak_mib']:.0f} | "
                    f"{r['decompress_peak_mib']:.0f} | {r['bits_per_subpixel']:.3f} | {', '.join(r['parts'])} |\n"
                    for r in rows))
    (a.out / f"{a.name}.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
