"""How many real PNGs could come back byte for byte by re-creating their deflate stream?

    python bench/png_deflate.py [--out bench/results]

arzip's PNG contract is "pixels and chunks exact, image data re-deflated" (docs/FORMAT.md). The
alternative is preflate's idea: record the zlib parameters (level, memLevel, strategy, window)
that turn the file's filtered scanlines back into its very IDAT stream, and deflate with them
on decoding. This measures how often such parameters exist, with this machine's zlib, on the
PNGs at hand: Kodak and the training crops (../shared/data, when present), scikit-image's and
matplotlib's bundled PNGs. A candidate is dropped as soon as the output it has produced so far
stops being a prefix of the file's stream, so the search is cheap.

It answers whether the re-creating path is worth building; that path would also need a deflate
implementation of its own (the system's zlib may be zlib-ng, which deflates differently), so
today's contract stays the default and `--rm` verifies under it.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import struct
import sys
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
_FEED = 1 << 14


def image_data(data: bytes) -> tuple[bytes, bytes] | None:
    """(IDAT stream, its inflated filtered scanlines) of a PNG, None if it is not one."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    pos, idat = 8, []
    while pos + 8 <= len(data):
        n, kind = struct.unpack_from(">I4s", data, pos)
        if kind == b"IDAT":
            idat.append(data[pos + 8:pos + 8 + n])
        if kind == b"IEND":
            break
        pos += 12 + n
    stream = b"".join(idat)
    try:
        return stream, zlib.decompress(stream)
    except zlib.error:
        return None


def _levels(stream: bytes) -> list[int]:
    """Levels to try, those the zlib header's FLEVEL names first."""
    hinted = {0: [1, 0], 1: [2, 3, 4, 5], 2: [6], 3: [9, 7, 8]}[stream[1] >> 6]
    return hinted + [lv for lv in range(10) if lv not in hinted]


def recreate(stream: bytes, raw: bytes) -> dict | None:
    """zlib parameters that deflate raw into exactly stream, or None."""
    wbits = (stream[0] >> 4) + 8
    for level in _levels(stream):
        for strategy in (zlib.Z_DEFAULT_STRATEGY, zlib.Z_FILTERED, zlib.Z_RLE, zlib.Z_HUFFMAN_ONLY, zlib.Z_FIXED):
            for mem in (8, 9, 7, 6, 5, 4, 3, 2, 1):
                out, ok = bytearray(), True
                c = zlib.compressobj(level, zlib.DEFLATED, wbits, mem, strategy)
                for i in range(0, len(raw), _FEED):
                    out += c.compress(raw[i:i + _FEED])
                    if out != stream[:len(out)]:
                        ok = False
                        break
                if ok and bytes(out + c.flush()) == stream:
                    return {"level": level, "strategy": strategy, "memLevel": mem, "wbits": wbits}
    return None


def corpora() -> dict[str, list[Path]]:
    import matplotlib
    import skimage
    found = {"scikit-image data": sorted(Path(skimage.__file__).parent.glob("data/*.png")),
             "matplotlib data": sorted(Path(p) for p in glob.glob(os.path.join(matplotlib.get_data_path(), "**", "*.png"),
                                                                    recursive=True))}
    for name in ("kodak", "train"):
        if (SHARED / name).is_dir():
            found[f"shared/{name}"] = sorted((SHARED / name).glob("*.png"))
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    ap.add_argument("--limit", type=int, default=60, help="PNGs per corpus at most (evenly spaced)")
    a = ap.parse_args()
    t0 = time.time()
    rows = {}
    for corpus, paths in corpora().items():
        paths = paths[::max(1, len(paths) // a.limit)][:a.limit]
        found, params = 0, {}
        for path in paths:
            parsed = image_data(path.read_bytes())
            if parsed is None:
                continue
            hit = recreate(*parsed)
            found += hit is not None
            if hit:
                key = f"level {hit['level']}, strategy {hit['strategy']}, memLevel {hit['memLevel']}"
                params[key] = params.get(key, 0) + 1
        rows[corpus] = {"pngs": len(paths), "recreated": found, "parameters": params}
        print(f"{corpus}: {found} of {len(paths)} re-created", flush=True)
    total = sum(r["pngs"] for r in rows.values())
    hits = sum(r["recreated"] for r in rows.values())
    result = {"zlib": zlib.ZLIB_RUNTIME_VERSION, "corpora": rows, "pngs": total, "recreated": hits,
              "seconds": round(time.time() - t0, 1), "command": " ".join(["python", *sys.argv])}
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "png-deflate.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"{hits} of {total} PNGs re-created with zlib {zlib.ZLIB_RUNTIME_VERSION}")


if __name__ == "__main__":
    main()
