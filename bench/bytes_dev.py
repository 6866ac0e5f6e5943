"""The byte path's development set, and the context-mixing coder's rate on it: where byte-model
changes are tuned (models/EXPERIMENTS.md, B1-B11 and C-numbers), never on the benchmark
(../shared/data/files, bench/file_kinds.py).

The set is B1's: the last 300 kB of the pretraining corpus's doc.txt and man.txt (built as
arzip/bytes/corpus.py builds them, from this machine's /usr/share/doc and /usr/share/man),
300 kB of click's Python sources (not in the corpus), the first 500 kB of the Python
interpreter's machine code (libpython where the executable is a launcher) and the xz binary;
since C13, for the structures of issue 28, a spreadsheet (xlwt's BIFF8 .xls of matplotlib's
goog.npz prices and jacksboro_fault_dem.npz elevations; kinds.py's benchmark uses neither) and
a 1-bit page (162 lines of the man pages drawn at 1728 x 2376 pixels, a fax page's shape) and
an Excel 2 worksheet of integer and number cells (records of 13 and 19 bytes). Each is
coded by arzip.bytes.cm as one segment (encode only: the decoder runs the same kernel), and
the rate is reported per file and in total.

    python bench/bytes_dev.py [--out bench/.cache/bytes-dev] [--tree PATH] [--method N]
                              [--profile A,B,...] [FILE ...]

--tree codes with the arzip of another checkout (a `git worktree` of a base commit), so that
two versions can be compared on the same files, alternating runs for timings; --method picks
the cm block method (default: the default level's), --profile replaces its engine profile for
a trial, and names code only those files of the set.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import shutil
import sys
import sysconfig
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / ".cache" / "bytes-dev"
KB = 1000


def _python_binary() -> Path:
    """The interpreter's machine code: its shared library where the executable is a launcher."""
    lib = Path(sysconfig.get_config_var("LIBDIR") or "") / (sysconfig.get_config_var("LDLIBRARY") or "")
    exe = Path(sys.executable).resolve()
    return lib if lib.is_file() and lib.stat().st_size > exe.stat().st_size else exe


def _spreadsheet() -> bytes:
    """A BIFF8 workbook of real numbers: daily prices (a date and six numbers a row) and a
    terrain model (elevations in metres, two decimals), the kind of file kennedy.xls is."""
    import io

    import matplotlib
    import numpy as np
    import xlwt
    data = Path(matplotlib.get_data_path()) / "sample_data"
    book = xlwt.Workbook()
    prices = np.load(data / "goog.npz", allow_pickle=True)["price_data"]
    sheet = book.add_sheet("prices")
    for j, name in enumerate(prices.dtype.names):
        sheet.write(0, j, name)
    for i, row in enumerate(prices, 1):
        sheet.write(i, 0, str(row["date"]))
        for j in range(1, 7):
            sheet.write(i, j, float(row[j]))
    elevation = np.load(data / "jacksboro_fault_dem.npz")["elevation"]
    sheet = book.add_sheet("dem")
    for i in range(elevation.shape[0]):
        for j in range(0, elevation.shape[1], 2):
            sheet.write(i, j // 2, round(float(elevation[i, j]) * 0.3048, 2))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _biff2() -> bytes:
    """An Excel 2 worksheet (BIFF2: records of a 16-bit type, a 16-bit length and the body), the
    format of the oldest spreadsheets people keep: jacksboro's elevations (150 rows of 200, in
    feet) as INTEGER cells (row, column, 3 attribute bytes, a 16-bit value: 13-byte records),
    then goog's prices and volumes as NUMBER cells (the value a double: 19 bytes)."""
    import struct

    import matplotlib
    import numpy as np
    data = Path(matplotlib.get_data_path()) / "sample_data"
    out = [struct.pack("<HHHH", 0x0009, 4, 0x0002, 0x0010)]  # BOF: BIFF2, a worksheet
    elevation = np.load(data / "jacksboro_fault_dem.npz")["elevation"]
    for i in range(150):
        for j in range(200):
            out.append(struct.pack("<HHHH3sH", 0x0002, 9, i, j, b"\x00\x00\x00", int(elevation[i, j])))
    prices = np.load(data / "goog.npz", allow_pickle=True)["price_data"]
    for i, row in enumerate(prices):
        for j, name in enumerate(("open", "high", "low", "close", "volume")):
            out.append(struct.pack("<HHHH3sd", 0x0003, 15, 150 + i, j, b"\x00\x03\x03", float(row[name])))
    out.append(struct.pack("<HH", 0x000A, 0))  # EOF
    return b"".join(out)


def _page(lines: list[str]) -> bytes:
    """A 1-bit page of text, 1728 x 2376 pixels packed 8 to a byte (rows of 216 bytes)."""
    from PIL import Image, ImageDraw, ImageFont
    page = Image.new("1", (1728, 2376), 0)
    draw, font = ImageDraw.Draw(page), ImageFont.load_default()
    for k, line in enumerate(lines[:162]):
        draw.text((60, 40 + 14 * k), line[:150], fill=1, font=font)
    return page.tobytes()


def make(out: Path) -> list[Path]:
    """Write the development files into `out` (kept once made: the corpus build reads a few
    thousand files)."""
    names = ["doc-tail.txt", "man-tail.txt", "click-src.py", "python-head.bin", "xz.bin", "prices-dem.xls",
             "page.bits", "dem-biff2.xls"]
    if all((out / n).is_file() for n in names):
        return [out / n for n in names]
    from arzip.bytes import corpus
    out.mkdir(parents=True, exist_ok=True)
    doc = corpus._tree(Path("/usr/share/doc"), None, gz=True)
    man = b"".join(corpus._tree(Path(f"/usr/share/man/{s}"), None, gz=True) for s in ("man1", "man5", "man8"))
    click_root = Path(importlib.util.find_spec("click").origin).parent
    click = b"\n".join(p.read_bytes() for p in sorted(click_root.rglob("*.py")))
    xz = shutil.which("xz")
    files = {"doc-tail.txt": doc[-300 * KB:], "man-tail.txt": man[-300 * KB:], "click-src.py": click[:300 * KB],
             "python-head.bin": _python_binary().read_bytes()[:500 * KB],
             "xz.bin": Path(xz).read_bytes() if xz else b""}
    files["prices-dem.xls"] = _spreadsheet()
    files["page.bits"] = _page(man.decode("latin-1").splitlines()[-3000:])
    files["dem-biff2.xls"] = _biff2()
    for name, data in files.items():
        (out / name).write_bytes(data)
    return [out / n for n in names]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--tree", type=Path, help="the checkout whose arzip codes the files")
    ap.add_argument("--method", type=int, help="the cm block method (engine profile) to code with "
                    "(default: the default level's)")
    ap.add_argument("--profile", help="comma-separated integers that replace the method's engine profile "
                    "(arzip/bytes/cm/engine.py PROFILES), for tuning")
    ap.add_argument("names", nargs="*", help="code only these of the set's files")
    args = ap.parse_args()
    if args.tree:
        sys.path.insert(0, str(args.tree.resolve()))
    files = make(args.out)
    from arzip import registry
    from arzip.bytes import cm
    args.method = args.method or cm.DEFAULT_METHOD
    if args.profile:
        cm.engine.PROFILES[args.method][:] = [int(v) for v in args.profile.split(",")]
    print(f"arzip from {Path(cm.__file__).resolve().parents[2]}", file=sys.stderr)
    net = registry.load_bytes(registry.bytes_model())
    cm.encode_block(net, b"warm-up: compile the kernel " * 20, 1, args.method)
    total_bits = total_bytes = 0
    for path in files:
        data = path.read_bytes()
        if not data or (args.names and path.name not in args.names):
            continue
        t = time.perf_counter()
        payload, nll = cm.encode_block(net, data, 1, args.method)
        seconds = time.perf_counter() - t
        total_bits += 8 * len(payload)
        total_bytes += len(data)
        print(f"{path.name:16s} {len(data):9,} B  {8 * len(payload) / len(data):.4f} bpb  "
              f"(NLL {nll / len(data):.4f})  {len(data) / 1e3 / seconds:.0f} kB/s")
    print(f"dev total {total_bits / total_bytes:.4f} bpb over {total_bytes:,} bytes")


if __name__ == "__main__":
    main()
