"""Benchmark arzip against standard lossless image codecs on a folder of PNGs.

Why: the only number that matters for arzip is how many bits it spends per subpixel compared
with what people already use (PNG, lossless WebP, lossless JPEG XL), and at what speed. This
script measures that on a fixed image set so results can be compared between model versions.

How: every 8-bit RGB `*.png` in DIR (sorted by name) is encoded and decoded by each codec, one
image at a time on the calling thread(s); every decode is compared with the original pixels and
the run aborts if any differs. Sizes are reported in bits per subpixel (bpsp = 8 * bytes /
(H * W * 3)); totals are total bits over total subpixels, not a mean of per-image rates.
Times come from time.perf_counter around a single encode and a single decode; model loading and
JIT compilation are kept out of them by a warm-up on a small image first.

    python bench/images.py DIR [--name SET] [--out bench/results] [--threads N] [--limit N]
                               [--skip-slow] [--list training.json]

writes OUT/SET.md (readable summary), OUT/SET.json (all raw numbers) and OUT/SET.png (bar
chart of total bpsp per codec); SET defaults to DIR's folder name.
"""
from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import platform
import shlex
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import imagecodecs
import matplotlib
import numpy as np
from PIL import Image

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

import arzip.api as api  # noqa: E402
from arzip import registry  # noqa: E402
from arzip.errors import UnsupportedInput  # noqa: E402
from arzip.formats.picture import read_rgb8  # noqa: E402


@dataclass(frozen=True)
class Codec:
    name: str
    encode: Callable[[np.ndarray], bytes]
    decode: Callable[[bytes], np.ndarray]


def pillow_png_optimized(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def make_codecs(threads: int, skip_slow: bool, level: int | None) -> list[Codec]:
    """arzip first, then the references; webp and jxl get the same thread count as arzip."""
    codecs = [
        Codec("arzip", lambda a: api.compress_image(a, level=level), api.decompress_image),
        Codec("png", imagecodecs.png_encode, imagecodecs.png_decode),
        Codec("png-opt", pillow_png_optimized, imagecodecs.png_decode),
        Codec("webp-ll",
              lambda a: imagecodecs.webp_encode(a, level=100, lossless=True, method=6,
                                                numthreads=threads),
              imagecodecs.webp_decode),
        Codec("jxl-e7",
              lambda a: imagecodecs.jpegxl_encode(a, lossless=True, effort=7, numthreads=threads),
              lambda b: imagecodecs.jpegxl_decode(b, numthreads=threads)),
    ]
    if not skip_slow:
        codecs.append(Codec(
            "jxl-e9",
            lambda a: imagecodecs.jpegxl_encode(a, lossless=True, effort=9, numthreads=threads),
            lambda b: imagecodecs.jpegxl_decode(b, numthreads=threads)))
    return codecs


CODEC_NOTES = {
    "arzip": "arzip.api.compress_image (learned model + range coder)",
    "png": "imagecodecs png_encode, default level",
    "png-opt": "Pillow PNG save with optimize=True",
    "webp-ll": "imagecodecs webp_encode lossless=True level=100 method=6 (max effort)",
    "jxl-e7": "imagecodecs jpegxl_encode lossless=True effort=7 (libjxl default)",
    "jxl-e9": "imagecodecs jpegxl_encode lossless=True effort=9",
}


def listed_names(path: Path) -> set[str]:
    """File names from a training run's training.json (its validation_files) or a text file."""
    text = path.read_text()
    if path.suffix == ".json":
        return set(json.loads(text)["validation_files"])
    return {line.strip() for line in text.splitlines() if line.strip()}


def load_images(folder: Path, limit: int | None, only: set[str] | None = None) -> list[tuple[str, np.ndarray]]:
    """The 8-bit RGB PNGs of folder (those named in `only`, if given), sorted by name; anything
    else is skipped with a warning."""
    images = []
    for path in sorted(folder.glob("*.png")):
        if only is not None and path.name not in only:
            continue
        try:
            pixels = read_rgb8(path.read_bytes(), path.name)
        except UnsupportedInput as e:
            print(f"warning: skipping {e}", file=sys.stderr)
            continue
        images.append((path.name, pixels))
        if limit is not None and len(images) == limit:
            break
    return images


def measure(codec: Codec, pixels: np.ndarray, image: str) -> tuple[bytes, dict]:
    t0 = time.perf_counter()
    blob = codec.encode(pixels)
    t1 = time.perf_counter()
    decoded = codec.decode(blob)
    t2 = time.perf_counter()
    if not np.array_equal(decoded, pixels):
        sys.exit(f"error: {codec.name} decode of {image} differs from the original "
                 f"(decoded {decoded.dtype} {decoded.shape}, original {pixels.shape})")
    return blob, {"bytes": len(blob), "encode_s": t1 - t0, "decode_s": t2 - t1}


def bpsp(nbytes: int, subpixels: int) -> float:
    return 8 * nbytes / subpixels


def run_image(codecs: list[Codec], name: str, pixels: np.ndarray) -> dict:
    h, w, _ = pixels.shape
    row: dict = {"name": name, "width": w, "height": h, "subpixels": pixels.size, "codecs": {}}
    for codec in codecs:
        blob, row["codecs"][codec.name] = measure(codec, pixels, name)
        if codec.name == "arzip":
            meta = api.info(blob)
            row["arzip"] = {k: meta[k] for k in ("nll_bits", "header_bytes", "payload_bytes")}
    return row


def arzip_extras(nll_bits: float, payload_bytes: int, subpixels: int) -> dict:
    return {"nll_bpsp": nll_bits / subpixels,
            "payload_over_nll_percent": 100 * (8 * payload_bytes / nll_bits - 1)}


def totals(rows: list[dict], codec_names: list[str]) -> dict:
    subpixels = sum(r["subpixels"] for r in rows)
    out: dict = {"images": len(rows), "subpixels": subpixels, "codecs": {}}
    for name in codec_names:
        runs = [r["codecs"][name] for r in rows]
        nbytes = sum(m["bytes"] for m in runs)
        out["codecs"][name] = {
            "bytes": nbytes, "bpsp": bpsp(nbytes, subpixels),
            "median_encode_s": statistics.median(m["encode_s"] for m in runs),
            "median_decode_s": statistics.median(m["decode_s"] for m in runs)}
    nll = sum(r["arzip"]["nll_bits"] for r in rows)
    payload = sum(r["arzip"]["payload_bytes"] for r in rows)
    out["arzip"] = {"nll_bits": nll, "payload_bytes": payload,
                    "header_bytes": sum(r["arzip"]["header_bytes"] for r in rows),
                    **arzip_extras(nll, payload, subpixels)}
    return out


# -- reporting ---------------------------------------------------------------------------------

def md_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(c) for c in col) for col in zip(header, *rows)]
    lines = [header, ["-" * w for w in widths], *rows]
    return "\n".join("| " + " | ".join(c.ljust(w) for c, w in zip(line, widths)) + " |"
                     for line in lines)


def totals_table(tot: dict) -> str:
    rows = [[name, f"{t['bpsp']:.3f}", f"{t['median_encode_s']:.2f}", f"{t['median_decode_s']:.2f}"]
            for name, t in tot["codecs"].items()]
    return md_table(["codec", "total bpsp", "median encode s", "median decode s"], rows)


def per_image_table(rows: list[dict], tot: dict, references: list[str]) -> str:
    header = ["image", "size", "arzip", "NLL", "payload-NLL %", "header B", "enc s", "dec s",
              *references]
    lines = []
    for r in rows:
        az, extra = r["codecs"]["arzip"], arzip_extras(
            r["arzip"]["nll_bits"], r["arzip"]["payload_bytes"], r["subpixels"])
        lines.append([
            r["name"], f"{r['width']}x{r['height']}", f"{bpsp(az['bytes'], r['subpixels']):.3f}",
            f"{extra['nll_bpsp']:.3f}", f"{extra['payload_over_nll_percent']:+.2f}",
            str(r["arzip"]["header_bytes"]), f"{az['encode_s']:.2f}", f"{az['decode_s']:.2f}",
            *(f"{bpsp(r['codecs'][c]['bytes'], r['subpixels']):.3f}" for c in references)])
    az, extra = tot["codecs"]["arzip"], tot["arzip"]
    lines.append([
        f"**total ({tot['images']})**", "", f"**{az['bpsp']:.3f}**", f"{extra['nll_bpsp']:.3f}",
        f"{extra['payload_over_nll_percent']:+.2f}", str(extra["header_bytes"]),
        f"{az['median_encode_s']:.2f} (median)", f"{az['median_decode_s']:.2f} (median)",
        *(f"**{tot['codecs'][c]['bpsp']:.3f}**" for c in references)])
    lines.append(["median encode s", "", "", "", "", "", "", "",
                  *(f"{tot['codecs'][c]['median_encode_s']:.2f}" for c in references)])
    return md_table(header, lines)


def write_markdown(path: Path, meta: dict, rows: list[dict], tot: dict) -> None:
    references = [c for c in tot["codecs"] if c != "arzip"]
    notes = "\n".join(f"- `{c}`: {CODEC_NOTES[c]}" for c in tot["codecs"])
    path.write_text(f"""# {meta['set']}: arzip vs lossless codecs

- date: {meta['date']}
- machine: {meta['machine']}, {meta['cpu_count']} logical CPUs
- arzip model: `{meta['model']}` (sha256 {meta['model_sha256'][:16]}...), level: {meta['level'] or 'default'}, threads: {meta['threads']}
- reference codecs: {meta['codec_versions']}
- command: `{meta['command']}`

Rates are bits per subpixel (8 * bytes / (H * W * 3)); totals are total bits / total subpixels.
Every decode was checked to be pixel-exact.

{notes}

## Totals

{totals_table(tot)}

## Per image

bpsp per codec; for arzip also the model's NLL (ideal code length) in bpsp, how much the payload
exceeds it, the container header size and its encode/decode times.

{per_image_table(rows, tot, references)}
""")


def write_chart(path: Path, set_name: str, tot: dict) -> None:
    names = list(tot["codecs"])
    values = [tot["codecs"][n]["bpsp"] for n in names]
    fig, ax = plt.subplots(figsize=(1.2 * len(names) + 2, 4))
    bars = ax.bar(names, values, color=["tab:red" if n == "arzip" else "tab:gray" for n in names])
    ax.bar_label(bars, fmt="%.3f", padding=2)
    ax.set_ylabel("bits per subpixel (total)")
    ax.set_title(f"{set_name}: {tot['images']} images, lower is better")
    ax.set_ylim(0, 1.12 * max(values))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def progress_line(i: int, n: int, row: dict) -> str:
    sub, az = row["subpixels"], row["codecs"]["arzip"]
    extra = arzip_extras(row["arzip"]["nll_bits"], row["arzip"]["payload_bytes"], sub)
    refs = "  ".join(f"{c} {bpsp(m['bytes'], sub):.3f}" for c, m in row["codecs"].items()
                     if c != "arzip")
    return (f"[{i}/{n}] {row['name']} {row['width']}x{row['height']}: arzip "
            f"{bpsp(az['bytes'], sub):.3f} (nll {extra['nll_bpsp']:.3f}, "
            f"{extra['payload_over_nll_percent']:+.2f}%, enc {az['encode_s']:.2f}s "
            f"dec {az['decode_s']:.2f}s) | {refs}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", type=Path, help="folder of PNG images")
    parser.add_argument("--name", help="set name for the output files (default: folder name)")
    parser.add_argument("--out", type=Path, default=Path("bench/results"),
                        help="output folder (default: bench/results)")
    parser.add_argument("--threads", type=int, default=api.default_threads(),
                        help="threads for arzip, webp and jxl (default: arzip's default, the available cores)")
    parser.add_argument("--limit", type=int, help="only the first N images")
    parser.add_argument("--skip-slow", action="store_true", help="skip jxl-e9")
    parser.add_argument("--level", type=int, help="arzip compression level (default: arzip's default)")
    parser.add_argument("--arzip-only", action="store_true", help="benchmark arzip alone")
    parser.add_argument("--list", type=Path,
                        help="only these files: a training.json (its validation_files) or a text file of names")
    args = parser.parse_args()
    if args.threads < 1 or (args.limit is not None and args.limit < 1):
        parser.error("--threads and --limit must be at least 1")

    if not args.dir.is_dir():
        sys.exit(f"error: {args.dir}: not a folder")
    if not any(args.dir.glob("*.png")):
        sys.exit(f"error: {args.dir}: no *.png files")
    images = load_images(args.dir, args.limit, listed_names(args.list) if args.list else None)
    if not images:
        sys.exit(f"error: {args.dir}: no 8-bit RGB PNGs to benchmark")
    set_name = args.name or args.dir.resolve().name

    api.set_threads(args.threads)
    codecs = make_codecs(args.threads, args.skip_slow, args.level)
    if args.arzip_only:
        codecs = codecs[:1]
    # large enough for every code path a photo takes (two stripes side by side at the default level)
    warmup = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    for codec in codecs:
        measure(codec, warmup, "warm-up image")
    model_name = registry.model_for_level(args.level)
    model_info = {"model": model_name, "model_sha256": registry.model_sha256(model_name)}

    rows = []
    for i, (name, pixels) in enumerate(images, 1):
        rows.append(run_image(codecs, name, pixels))
        print(progress_line(i, len(images), rows[-1]), flush=True)
    tot = totals(rows, [c.name for c in codecs])

    meta = {
        "set": set_name,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()} {platform.processor() or ''}".strip(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "model": model_info["model"],
        "model_sha256": model_info["model_sha256"],
        "threads": args.threads,
        "level": args.level,
        "codec_versions": (f"imagecodecs {imagecodecs.__version__} ({imagecodecs.png_version()}, "
                           f"{imagecodecs.webp_version()}, {imagecodecs.jpegxl_version()})"),
        "command": shlex.join(["python", *sys.argv]),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_markdown(args.out / f"{set_name}.md", meta, rows, tot)
    (args.out / f"{set_name}.json").write_text(
        json.dumps({"meta": meta, "codecs": {c: CODEC_NOTES[c] for c in tot["codecs"]}, "images": rows, "totals": tot},
                   indent=1) + "\n")
    write_chart(args.out / f"{set_name}.png", set_name, tot)

    print()
    print(totals_table(tot))
    print(f"arzip: NLL {tot['arzip']['nll_bpsp']:.3f} bpsp, payload "
          f"{tot['arzip']['payload_over_nll_percent']:+.2f}% over NLL; "
          f"wrote {args.out / set_name}.{{md,json,png}}")


if __name__ == "__main__":
    main()
