"""The bilevel models' development set, and their rate on it: where the 1-bit models are tuned
(models/EXPERIMENTS.md C44), never on the benchmark (Canterbury's ptt5, bench/kinds.py's 1-bit
images, which are scikit-image's horse, text, page and line art: none of them is here).

The set: bytes_dev.py's page.bits (man text drawn at 1728 x 2376 pixels with Pillow's bitmap
font); three fax-shaped pages of this machine's man pages drawn with Pillow's scalable font and
blurred as a scanner blurs, two of them with a scanner's noise (fax-noisy, fax-dense) and one
without (fax-clean), each with a box, a diagonal and a circle.

    python bench/bilevel_dev.py [first|strong]
"""
from __future__ import annotations

import argparse
import gzip
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bytes_dev  # noqa: E402


def _man_lines() -> list[str]:
    lines: list[str] = []
    for path in sorted(Path("/usr/share/man/man1").glob("*.gz"))[:60]:
        lines += gzip.decompress(path.read_bytes()).decode("latin-1").splitlines()
    return lines


def _fax(lines: list[str], size: int, seed: int, noisy: bool) -> np.ndarray:
    """A 1728 x 2376 page of text lines and a drawing, blurred (and with noise) and thresholded."""
    page = Image.new("L", (1728, 2376), 255)
    draw, font = ImageDraw.Draw(page), ImageFont.load_default(size=size)
    for k, line in enumerate(lines):
        y = 40 + int(size * 1.3) * k
        if y > 2300:
            break
        draw.text((60, y), line[:110], fill=0, font=font)
    draw.rectangle((900, 1500, 1600, 2000), outline=0, width=3)
    draw.line((900, 1500, 1600, 2000), fill=0, width=2)
    draw.ellipse((1000, 1600, 1300, 1900), outline=0, width=2)
    scan = np.asarray(page.filter(ImageFilter.GaussianBlur(1.2)), float) / 255
    if noisy:
        scan = np.clip(scan + np.random.default_rng(seed).normal(0, 0.12, scan.shape), 0, 1)
        scan = np.asarray(Image.fromarray((scan * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.6)),
                          float) / 255
    return (scan < 0.5).astype(np.uint8)


def images() -> dict[str, np.ndarray]:
    lines = _man_lines()
    page = np.frombuffer(bytes_dev._page(lines[-3000:]), np.uint8)
    return {"page.bits": np.unpackbits(page).reshape(2376, 1728),
            "fax-noisy": _fax(lines[:400], 22, 1, True),
            "fax-dense": _fax(lines[800:1400], 30, 3, True),
            "fax-clean": _fax(lines[400:800], 18, 2, False)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", nargs="?", default="strong", choices=["first", "strong"],
                    help="arzip/image/bilevel.py (part method 5) or arzip/mixing/bilevel.py (10, block method 14)")
    args = ap.parse_args()
    if args.model == "first":
        from arzip.image import bilevel
    else:
        from arzip.mixing import bilevel
    total = 0
    for name, image in images().items():
        t = time.perf_counter()
        payload, _ = bilevel.encode(np.ascontiguousarray(image))
        total += len(payload)
        print(f"{name:12s} {image.shape[1]:5d} x {image.shape[0]:4d}  {len(payload):7,} B  "
              f"{8 * len(payload) / image.size:.4f} bpp  {image.size / 1e6 / (time.perf_counter() - t):.1f} Mpx/s")
    print(f"total {total:,} bytes")


if __name__ == "__main__":
    main()
