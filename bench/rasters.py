"""Files that hold a raster (DICOM, FITS, TIFF of several pages): arzip against the byte-oriented
compressors people archive them with.

    pip install -e '.[bench]'                        # pydicom, astropy, tifffile (scikit-image's)
    python bench/rasters.py [--out bench/results]

The files are real ones that ship with pydicom and astropy (no download), and TIFFs written here
from real pixels:
- DICOM: pydicom's bundled files whose pixel data is uncompressed (CT and MR slices, an
  ultrasound colour frame, a palette image, a big-endian file), and J2K_pixelrep_mismatch (a
  512x512 CT slice, its JPEG 2000 pixel data decoded and written uncompressed, as PACS archives
  hold them). 693_J2KI and JPEG2000 are left out: the full-depth model was tuned on them.
- FITS: astropy's bundled test files that hold an 8 or 16-bit image.
- TIFF: the CT slice and the 12-bit MR image, each cut into pages of 64 rows (16-bit, one
  little-endian, one big-endian signed), as tifffile writes stacks.
Each file is compressed with `arzip.compress` (auto: the raster path where it finds the samples
and where that is smaller), with `-9`, and through the byte path alone, then decoded and
compared byte for byte. Rates are bits per byte of the file; speeds are arzip's default level,
compress and decompress, per MB of the file. Writes results/rasters.{md,json}.
"""
from __future__ import annotations

import argparse
import gzip
import importlib.metadata
import io
import json
import lzma
import platform
import time
from pathlib import Path

import numpy as np
import zstandard

from arzip import api

CODECS = {
    "gzip-9": lambda d: gzip.compress(d, 9, mtime=0),
    "xz-9e": lambda d: lzma.compress(d, preset=9 | lzma.PRESET_EXTREME),
    "zstd-19": lambda d: zstandard.ZstdCompressor(level=19).compress(d),
}
DICOM_FILES = ["CT_small.dcm", "MR_small.dcm", "MR_small_bigendian.dcm", "ExplVR_BigEnd.dcm", "examples_overlay.dcm",
               "examples_palette.dcm", "examples_rgb_color.dcm", "SC_rgb_jpeg_dcmd.dcm"]
FITS_FILES = ["fixed-1890.fits", "test0.fits", "scale.fits", "checksum.fits", "o4sp040b0_raw.fits"]


def _uncompressed_dicom(name: str) -> bytes:
    """A compressed DICOM of pydicom's written again with its pixel data decoded."""
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.uid import ExplicitVRLittleEndian
    ds = pydicom.dcmread(get_testdata_file(name))
    pixels = np.ascontiguousarray(ds.pixel_array)
    ds.PixelData = pixels.astype(pixels.dtype.newbyteorder("<")).tobytes()
    ds["PixelData"].VR = "OW"
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def files() -> dict[str, tuple[str, bytes]]:
    """name -> (kind, bytes)."""
    import astropy
    import pydicom
    import tifffile
    from pydicom.data import get_testdata_file
    out = {name: ("DICOM", Path(get_testdata_file(name)).read_bytes()) for name in DICOM_FILES}
    out["J2K_pixelrep_mismatch (uncompressed).dcm"] = ("DICOM", _uncompressed_dicom("J2K_pixelrep_mismatch.dcm"))
    fits_dir = Path(astropy.__file__).parent / "io" / "fits" / "tests" / "data"
    out.update({name: ("FITS", (fits_dir / name).read_bytes()) for name in FITS_FILES})
    ct = pydicom.dcmread(get_testdata_file("J2K_pixelrep_mismatch.dcm")).pixel_array.astype(np.int16)
    mr = pydicom.dcmread(get_testdata_file("examples_overlay.dcm")).pixel_array.astype(np.uint16)
    for name, pixels, order in (("ct-pages-be-signed.tif", ct, ">"), ("mr-pages.tif", mr[:256], "<")):
        buf = io.BytesIO()
        tifffile.imwrite(buf, pixels.reshape(-1, 64, pixels.shape[1]), byteorder=order, photometric="minisblack")
        out[name] = ("TIFF", buf.getvalue())
    return out


def measure(data: bytes) -> dict:
    row: dict = {"bytes": len(data)}
    t = time.perf_counter()
    blob = api.compress(data)
    row["compress_s"] = time.perf_counter() - t
    t = time.perf_counter()
    back = api.decompress(blob)
    row["decompress_s"] = time.perf_counter() - t
    assert back == data
    info = api.info(blob)
    row["arzip"], row["path"] = len(blob), info["kind"] + (f" ({info['format']})" if info["kind"] == "image" else "")
    strong = api.compress(data, level=9)
    assert api.decompress(strong) == data
    as_bytes = api.compress(data, as_="bytes")
    assert api.decompress(as_bytes) == data
    row["arzip-9"], row["arzip bytes"] = len(strong), len(as_bytes)
    for name, codec in CODECS.items():
        row[name] = len(codec(data))
    return row


COLUMNS = ["arzip", "arzip-9", "arzip bytes", *CODECS]


def markdown(results: dict) -> str:
    rows = results["files"]
    lines = [f"# Files that hold a raster: arzip against byte compressors\n",
             f"{results['date']}, {results['machine']}, arzip {results['arzip']}. Bits per byte of the file "
             f"(8 x compressed / original); totals are total bits over total bytes. Made by `python bench/rasters.py`.\n",
             "| kind | files | bytes | " + " | ".join(COLUMNS) + " | arzip vs xz | arzip MB/s compress / decompress |",
             "|---|---|---|" + "---|" * len(COLUMNS) + "---|---|"]
    for kind in ("DICOM", "FITS", "TIFF", "all"):
        group = [r for r in rows if kind in ("all", r["kind"])]
        n = sum(r["bytes"] for r in group)
        rates = [8 * sum(r[c] for r in group) / n for c in COLUMNS]
        speed = (n / 1e6 / sum(r["compress_s"] for r in group), n / 1e6 / sum(r["decompress_s"] for r in group))
        lines.append(f"| {kind} | {len(group)} | {n:,} | " + " | ".join(f"{v:.3f}" for v in rates) +
                     f" | {100 * (rates[0] / rates[COLUMNS.index('xz-9e')] - 1):+.1f} % | {speed[0]:.2f} / {speed[1]:.2f} |")
    lines += ["", "| file | kind | bytes | arzip's path | " + " | ".join(COLUMNS) + " | compress s | decompress s |",
              "|---|---|---|---|" + "---|" * len(COLUMNS) + "---|---|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['kind']} | {r['bytes']:,} | {r['path']} | " +
                     " | ".join(f"{8 * r[c] / r['bytes']:.3f}" for c in COLUMNS) +
                     f" | {r['compress_s']:.2f} | {r['decompress_s']:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = ap.parse_args()
    inputs = files()
    api.compress(next(iter(inputs.values()))[1])  # warm-up: models and compiled kernels loaded
    rows = []
    for name, (kind, data) in inputs.items():
        rows.append({"name": name, "kind": kind, **measure(data)})
        print(name, rows[-1])
    results = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {api.current_threads()} thread(s)",
               "arzip": importlib.metadata.version("arzip"), "files": rows}
    out = Path(args.out)
    (out / "rasters.json").write_text(json.dumps(results, indent=1))
    (out / "rasters.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
