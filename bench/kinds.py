"""arzip on every kind of image, against optimized PNG, WebP lossless and JPEG XL lossless.

    pip install -e '.[bench]'                       # imagecodecs, pyoxipng, matplotlib, pydicom
    python bench/kinds.py [--out bench/results] [--threads 1]
    python bench/kinds.py --render                  # kinds.md again from kinds.json

The test set is built by this script, so anyone can rebuild it exactly, from images that ship
with scikit-image under CC0 or in the public domain (astronaut: NASA; coffee, chelsea, camera,
grass, brick, horse, rocket, coins, page, immunohistochemistry: CC0 or public domain; text:
public domain; see each function's docstring in
skimage.data) and from graphics drawn here (matplotlib charts, a user-interface mock-up):

  RGB photo, gray photo, RGBA photo (photos under an alpha mask: a soft disc, a hard disc, a
  matte that follows the photo), RGB graphics (line, bar and pie charts, a heat map, a UI
  mock-up), palette (dithered photos and quantized graphics), 1-bit (silhouette, scanned text,
  line art, a thresholded page scan),
  16-bit gray and 16-bit RGB (photos resampled in floating point to 16 bits plus sensor-like
  noise: no real 16-bit photo ships with scikit-image; these are synthetic and say so).

Real 16-bit images come from pydicom's bundled test files (`pydicom.data.get_testdata_file`,
no download): two CT slices (CT_small, 128x128, and J2K_pixelrep_mismatch, 512x512, whose
signed values are shifted by +2048 into unsigned ones as a PNG must hold them) and two MR
images (MR_small, 64x64; examples_overlay, 300x484, 12 bits stored). pydicom's
liver_1frame, a 512x512 segmentation mask, is a real 1-bit image. The full-depth model
(arzip/image/depth16.py) was tuned on other images: two other pydicom files (693_J2KI, a CT
slice, and JPEG2000, a nuclear-medicine image) and synthetic 16-bit rocket, moon and retina
(models/EXPERIMENTS.md, K5), never on these.

Every file is compressed from its PNG with `arzip.compress` and decoded back; the decoded
samples are checked against the original. "png-opt" is the smaller of oxipng (level 6, all
filters) and Pillow's optimize=True where Pillow can write the mode: the "optimized PNG" the
issue compares with. WebP lossless takes 8-bit RGB(A) (gray, 1-bit and palette images are
given as their RGB colours); JPEG XL lossless (efforts 7 and 9) takes every kind. Rates are bits
per pixel, totals are total bits over total pixels of the kind; arzip's decode time (the faster of
two decodes of each file, after a warm-up that loads the models and compiled kernels) is given
per megapixel of the kind. Writes results/kinds.{md,json}.
"""
from __future__ import annotations

import argparse
import io
import json
import platform
import shlex
import sys
import time
from pathlib import Path

import imagecodecs
import matplotlib
import numpy as np
import oxipng
from PIL import Image, ImageDraw

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from skimage import data as skdata  # noqa: E402

import arzip  # noqa: E402
from arzip import api  # noqa: E402
from arzip.formats import png  # noqa: E402

GRAY, RGB, PALETTE, GRAY_ALPHA, RGBA = 0, 2, 3, 4, 6


def _png(samples: np.ndarray, color_type: int, depth: int, palette: np.ndarray | None = None) -> bytes:
    chunks = [(b"PLTE", palette.tobytes())] if palette is not None else []
    return png.write(png.Png(samples.shape[1], samples.shape[0], depth, color_type, 0,
                             np.ascontiguousarray(samples), chunks, len(chunks)), level=6)


def _pil_png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def _figure(draw) -> np.ndarray:
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=80)
    draw(ax)
    fig.tight_layout()
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return rgb


def _charts() -> list[np.ndarray]:
    x = np.linspace(0, 10, 200)

    def lines(ax):
        for k in range(4):
            ax.plot(x, np.sin(x + k) * np.exp(-x / (5 + k)), label=f"series {k}")
        ax.legend()
        ax.grid(True)
        ax.set_title("Damped oscillations")

    def bars(ax):
        ax.bar(["north", "south", "east", "west", "centre"], [23, 17, 35, 29, 12], color="tab:green")
        ax.set_ylabel("units sold")
        ax.set_title("Sales by region")

    def pie(ax):
        ax.pie([35, 25, 20, 12, 8], labels=["rent", "food", "travel", "books", "other"], autopct="%1.0f%%",
               shadow=True, startangle=90)
        ax.set_title("Monthly budget")

    def heatmap(ax):
        yy, xx = np.mgrid[-3:3:120j, -3:3:160j]
        im = ax.imshow(np.sin(xx * yy) + np.cos(xx) * 0.5, cmap="viridis")
        plt.colorbar(im, ax=ax)
        ax.set_title("A smooth field")

    return [_figure(lines), _figure(bars), _figure(pie), _figure(heatmap)]


def _ui_mockup() -> np.ndarray:
    im = Image.new("RGB", (480, 320), (245, 245, 245))
    d = ImageDraw.Draw(im)
    d.rectangle([0, 0, 480, 28], fill=(40, 44, 52))
    d.text((10, 8), "arzip - settings", fill=(230, 230, 230))
    for i, label in enumerate(["Level", "Threads", "Device", "Output folder", "Keep inputs"]):
        y = 50 + 45 * i
        d.text((20, y + 8), label, fill=(20, 20, 20))
        d.rounded_rectangle([160, y, 440, y + 30], radius=6, fill="white", outline=(180, 180, 180))
        d.text((170, y + 8), ["5 (default)", "2", "auto", "/home/user/photos", "yes"][i], fill=(60, 60, 60))
    d.rounded_rectangle([340, 280, 440, 308], radius=6, fill=(30, 120, 220))
    d.text((370, 288), "Save", fill="white")
    return np.asarray(im)


def _to_16bit(photo: np.ndarray, seed: int) -> np.ndarray:
    """A 16-bit image from an 8-bit photo: upsampled 2x with bicubic interpolation in floating
    point (smooth values between the 8-bit steps), plus Gaussian noise of 40 (about 1/6 of an
    8-bit step), cropped to 384x384."""
    img = Image.fromarray(photo)
    channels = [np.asarray(Image.fromarray(np.asarray(img if img.mode == "L" else img.getchannel(c),
                                                      np.float32) * 257.0, "F")
                           .resize((2 * img.width, 2 * img.height), Image.BICUBIC))
                for c in ([0] if img.mode == "L" else range(3))]
    out = np.dstack(channels)[:384, :384]
    out = out + np.random.default_rng(seed).normal(0, 40, out.shape)
    return np.clip(np.rint(out), 0, 65535).astype(np.uint16)


def _alpha_mask(h: int, w: int, soft: bool) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    r = np.hypot((y - h / 2) / (h / 2), (x - w / 2) / (w / 2))
    if soft:
        return (np.clip((1.0 - r) * 4, 0, 1) * 255).astype(np.uint8)
    return ((r < 0.8) * 255).astype(np.uint8)


def _matte(photo: np.ndarray) -> np.ndarray:
    """A cut-out that follows the photo: its bright regions opaque, with edges antialiased as
    a matting tool leaves them."""
    from PIL import ImageFilter
    bright = (photo.astype(np.int64).mean(axis=2) > 100).astype(np.uint8) * 255
    return np.asarray(Image.fromarray(bright).filter(ImageFilter.GaussianBlur(1.2)))


def build_set() -> dict[str, list[tuple[str, bytes]]]:
    astronaut, coffee, chelsea = skdata.astronaut(), skdata.coffee(), skdata.chelsea()
    rocket, ihc = skdata.rocket(), skdata.immunohistochemistry()
    camera, grass, brick, coins = skdata.camera(), skdata.grass(), skdata.brick(), skdata.coins()
    charts = _charts()
    ui = _ui_mockup()
    kinds: dict[str, list[tuple[str, bytes]]] = {}
    kinds["RGB photo"] = [(n, _png(p[:384, :384], RGB, 8)) for n, p in
                          (("astronaut", astronaut), ("coffee", coffee), ("chelsea", chelsea), ("rocket", rocket),
                           ("immunohistochemistry", ihc))]
    kinds["gray photo"] = [(n, _png(p[:384, :384, None], GRAY, 8)) for n, p in
                           (("camera", camera), ("grass", grass), ("brick", brick), ("coins", coins))]
    kinds["RGBA photo"] = [
        ("coffee-soft-mask", _png(np.dstack([coffee[:384, :384], _alpha_mask(384, 384, True)]), RGBA, 8)),
        ("chelsea-cut-out", _png(np.dstack([chelsea[:300, :384], _alpha_mask(300, 384, False)]), RGBA, 8)),
        ("astronaut-matte", _png(np.dstack([astronaut[:384, :384], _matte(astronaut[:384, :384])]), RGBA, 8)),
        ("rocket-soft-mask", _png(np.dstack([rocket[:384, :384], _alpha_mask(384, 384, True)]), RGBA, 8))]
    kinds["RGB graphics"] = [("line-chart", _png(charts[0], RGB, 8)), ("bar-chart", _png(charts[1], RGB, 8)),
                             ("pie-chart", _png(charts[2], RGB, 8)), ("heatmap", _png(charts[3], RGB, 8)),
                             ("ui-mockup", _png(ui, RGB, 8))]
    kinds["palette"] = [
        ("coffee-256-dithered", _pil_png(Image.fromarray(coffee[:384, :384]).quantize(256))),
        ("line-chart-32", _pil_png(Image.fromarray(charts[0]).quantize(32, dither=Image.Dither.NONE))),
        ("heatmap-64", _pil_png(Image.fromarray(charts[3]).quantize(64, dither=Image.Dither.NONE))),
        ("astronaut-16-dithered", _pil_png(Image.fromarray(astronaut[:384, :384]).quantize(16))),
        ("ui-mockup-16", _pil_png(Image.fromarray(ui).quantize(16, dither=Image.Dither.NONE)))]
    text_bits = (skdata.text() > 110).astype(np.uint8)
    lines = (np.asarray(Image.fromarray(charts[0]).convert("L")) > 200).astype(np.uint8)
    page = (skdata.page() > 120).astype(np.uint8)
    kinds["1-bit"] = [("horse", _png((~skdata.horse()).astype(np.uint8)[..., None], GRAY, 1)),
                      ("text", _png(text_bits[..., None], GRAY, 1)), ("line-art", _png(lines[..., None], GRAY, 1)),
                      ("page", _png(page[..., None], GRAY, 1))]
    kinds["1-bit"].append(("liver-mask (DICOM)", _png(_dicom("liver_1frame.dcm").astype(np.uint8)[..., None], GRAY, 1)))
    kinds["16-bit gray (real: CT, MR)"] = [
        ("CT_small", _png(_dicom("CT_small.dcm").astype(np.uint16)[..., None], GRAY, 16)),
        ("CT-512", _png((_dicom("J2K_pixelrep_mismatch.dcm").astype(np.int32) + 2048).astype(np.uint16)[..., None],
                        GRAY, 16)),
        ("MR_small", _png(_dicom("MR_small.dcm").astype(np.uint16)[..., None], GRAY, 16)),
        ("MR-overlay", _png(_dicom("examples_overlay.dcm").astype(np.uint16)[..., None], GRAY, 16))]
    kinds["16-bit gray (synthetic)"] = [(n, _png(_to_16bit(p, i), GRAY, 16)) for i, (n, p) in
                                        enumerate((("camera", camera), ("grass", grass), ("brick", brick),
                                                   ("coins", coins)))]
    kinds["16-bit RGB (synthetic)"] = [(n, _png(_to_16bit(p, 10 + i), RGB, 16)) for i, (n, p) in
                                       enumerate((("astronaut", astronaut), ("coffee", coffee), ("chelsea", chelsea),
                                                  ("immunohistochemistry", ihc)))]
    return kinds


def _dicom(name: str) -> np.ndarray:
    """The pixels of one of pydicom's bundled test files (non-negative, checked)."""
    import pydicom
    from pydicom.data import get_testdata_file
    pixels = pydicom.dcmread(get_testdata_file(name)).pixel_array
    if name != "J2K_pixelrep_mismatch.dcm" and pixels.min() < 0:
        sys.exit(f"{name}: negative values")
    return pixels


def _optimized_png(data: bytes) -> int:
    filters = [getattr(oxipng.RowFilter, f) for f in ("NoOp", "Sub", "Up", "Average", "Paeth", "MinSum",
                                                       "Entropy", "Bigrams", "BigEnt", "Brute")]
    sizes = [len(oxipng.optimize_from_memory(data, level=6, filter=filters))]
    p = png.read(data)
    if p.bit_depth <= 8 or p.color_type == GRAY:  # Pillow reduces 16-bit colour to 8 bits: no comparison
        with Image.open(io.BytesIO(data)) as im:
            buf = io.BytesIO()
            im.save(buf, "PNG", optimize=True)
            sizes.append(len(buf.getvalue()))
    return min(sizes)


def _colours(p: png.Png) -> np.ndarray:
    """8-bit RGB(A) or gray samples for codecs that take no palette or low depths."""
    s = p.samples
    if p.color_type == PALETTE:
        plte = next(d for t, d in p.chunks if t == b"PLTE")
        return np.frombuffer(plte, np.uint8).reshape(-1, 3)[s[..., 0]]
    if p.bit_depth < 8:
        return (s * (255 // ((1 << p.bit_depth) - 1))).astype(np.uint8)
    return s


def _decode_seconds(blob: bytes) -> float:
    t0 = time.perf_counter()
    arzip.decompress(blob)
    return time.perf_counter() - t0


def _warm_up() -> None:
    """Load the models and the compiled kernels (numba's disk cache) that the photos' default
    level decodes with, so that the first photo of a kind is not charged for them: an RGB and a
    gray photo crop, compressed and decompressed."""
    from skimage import data as skdata
    photo = np.ascontiguousarray(skdata.astronaut()[:64, :64])
    for image in (photo, np.ascontiguousarray(photo[..., 1])):
        arzip.decompress(arzip.compress_image(image))


def measure(name: str, data: bytes, threads: int) -> dict:
    p = png.read(data)
    pixels = p.width * p.height
    t0 = time.perf_counter()
    blob = arzip.compress(data)
    t1 = time.perf_counter()
    decoded = arzip.decompress(blob)
    t2 = time.perf_counter()
    decode_s = min(t2 - t1, _decode_seconds(blob))  # the faster of two decodes
    back = png.read(decoded)
    if not np.array_equal(back.samples, p.samples) or (back.color_type, back.bit_depth) != (p.color_type, p.bit_depth):
        sys.exit(f"error: {name}: arzip's decode differs from the original")
    info = api.info(blob)
    row = {"name": name, "pixels": pixels, "kind": f"{p.bit_depth}-bit {p.color_type}",
           "arzip": len(blob), "png-opt": _optimized_png(data), "encode_s": t1 - t0, "decode_s": decode_s,
           "arzip_parts": [f"{q['plane']}:{q['method']}" + (f"/{q['transform']}" if "transform" in q else "")
                           for q in info["parts"]], "arzip_nll_bits": info["nll_bits"]}
    colours = _colours(p)
    if colours.dtype == np.uint8:
        rgb = np.repeat(colours, 3, axis=2) if colours.shape[2] == 1 else (
            np.dstack([np.repeat(colours[..., :1], 3, axis=2), colours[..., 1:]]) if colours.shape[2] == 2 else colours)
        row["webp-ll"] = len(imagecodecs.webp_encode(np.ascontiguousarray(rgb), lossless=True, level=100, method=6,
                                                     numthreads=threads))
    samples = colours[..., 0] if colours.shape[2] == 1 else colours
    for effort in (7, 9):
        row[f"jxl-e{effort}"] = len(imagecodecs.jpegxl_encode(
            np.ascontiguousarray(samples), lossless=True, effort=effort, numthreads=threads,
            bitspersample=p.bit_depth if p.color_type != PALETTE and p.bit_depth < 8 else None))
    return row


CODECS = ["arzip", "png-opt", "webp-ll", "jxl-e7", "jxl-e9"]


def bpp(nbytes: int, pixels: int) -> str:
    return f"{8 * nbytes / pixels:.3f}"


def write_results(rows_by_kind: dict[str, list[dict]], out: Path, meta: dict) -> None:
    lines = ["# arzip on every kind of image", "",
             "Bits per pixel (lower is better, the smallest in bold); per kind, total bits over total pixels. Made by "
             f"`{meta['command']}` on {meta['machine']} ({meta['date']}); {meta['versions']}.", "",
             "| kind | images | arzip | png-opt | webp-ll | jxl-e7 | jxl-e9 | arzip vs png-opt | arzip vs best other | "
             "encode s (sum) | decode s (sum) | decode s per MP |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for kind, rows in rows_by_kind.items():
        px = sum(r["pixels"] for r in rows)
        tot = {c: sum(r[c] for r in rows) if all(c in r for r in rows) else None for c in CODECS}
        best = min(t for t in tot.values() if t is not None)
        cells = [("**{}**" if tot[c] == best else "{}").format(bpp(tot[c], px)) if tot[c] is not None else "-"
                 for c in CODECS]
        other = min(t for c, t in tot.items() if t is not None and c != "arzip")
        decode = sum(r["decode_s"] for r in rows)
        lines.append(f"| {kind} | {len(rows)} | {' | '.join(cells)} | "
                     f"{100 * (tot['arzip'] / tot['png-opt'] - 1):+.1f} % | {100 * (tot['arzip'] / other - 1):+.1f} % | "
                     f"{sum(r['encode_s'] for r in rows):.2f} | {decode:.2f} | {decode / px * 1e6:.2f} |")
    lines += ["", "## Per image", "", "| kind | image | pixels | arzip | png-opt | webp-ll | jxl-e7 | jxl-e9 | arzip parts |",
              "|---|---|---|---|---|---|---|---|---|"]
    for kind, rows in rows_by_kind.items():
        for r in rows:
            cells = [bpp(r[c], r["pixels"]) if c in r else "-" for c in CODECS]
            lines.append(f"| {kind} | {r['name']} | {r['pixels']} | {' | '.join(cells)} | {', '.join(r['arzip_parts'])} |")
    losses = [(kind, r, min((c for c in CODECS[1:] if c in r), key=lambda c: r[c]))
              for kind, rows in rows_by_kind.items() for r in rows]
    losses = [(kind, r, c) for kind, r, c in losses if r[c] < r["arzip"]]
    lines += ["", "## Images where another coder is smaller", ""]
    lines += [f"- {kind}, {r['name']}: {c} {bpp(r[c], r['pixels'])} against arzip {bpp(r['arzip'], r['pixels'])} "
              f"({100 * (r['arzip'] / r[c] - 1):+.1f} %)" for kind, r, c in losses] or ["None."]
    (out / "kinds.md").write_text("\n".join(lines) + "\n")
    (out / "kinds.json").write_text(json.dumps({"meta": meta, "kinds": rows_by_kind}, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--render", action="store_true", help="only rewrite kinds.md from the kinds.json in --out")
    args = ap.parse_args()
    if args.render:
        saved = json.loads((args.out / "kinds.json").read_text())
        write_results(saved["kinds"], args.out, saved["meta"])
        return
    arzip.set_threads(args.threads)
    _warm_up()
    rows_by_kind = {}
    for kind, files in build_set().items():
        rows_by_kind[kind] = [measure(name, data, args.threads) for name, data in files]
        for r in rows_by_kind[kind]:
            print(f"{kind:>24} {r['name']:<20} arzip {bpp(r['arzip'], r['pixels'])}  png-opt "
                  f"{bpp(r['png-opt'], r['pixels'])}  jxl {bpp(r['jxl-e7'], r['pixels'])}  "
                  f"{r['encode_s']:.2f}/{r['decode_s']:.2f}s  {','.join(r['arzip_parts'])}", flush=True)
    meta = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {args.threads} thread(s)",
            "command": shlex.join(["python", *sys.argv]),
            "versions": f"imagecodecs {imagecodecs.__version__}, pyoxipng, Pillow {Image.__version__}"}
    args.out.mkdir(parents=True, exist_ok=True)
    write_results(rows_by_kind, args.out, meta)


if __name__ == "__main__":
    main()
