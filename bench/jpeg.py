"""JPEG files: arzip against Lepton, JPEG XL's JPEG transcoding, xz and zstd.

Why: a JPEG is already entropy-coded, so a byte coder saves little on it; the tools that save
about 20 % re-code the DCT coefficients (Lepton, JPEG XL's lossless JPEG transcoding). arzip's
JPEG path has to beat them and keep every file byte-exact, on camera originals and on the odd
files real collections hold (truncated, trailing garbage, CMYK, arithmetic-coded). The
acceptance: arzip's default level saves at least as much as Lepton in total over the files both
code, and on no camera photo more than 1 point less. This measures it, with the speed.

How: one run reads each set (a section of the report; `--sets`):
  real        ../shared/data/jpeg: Lepton's own test images, camera originals and odd files
              (its SOURCES.md says what each is);
  skimage     the JPEGs bundled in the installed scikit-image (skimage/data/*.jpg);
  matplotlib  the JPEGs bundled in the installed matplotlib (mpl-data/**/*.jpg);
  made        the "bench" half made by bench/jpeg_corpus.py (made first if its folder has no
              manifest; the "tune" half is for tuning the model and is never reported here).
A set whose folder or package is missing is skipped and said so.
Every file is coded, in this process, by each coder; each call is timed once (wall clock,
time.perf_counter) and every decode is compared with the original bytes:
  arzip        arzip.compress(data) (default level), decoded with arzip.decompress;
  arzip-9      arzip.compress(data, level=9) (`--levels` picks arzip's columns: default, any
               level number, and bytes);
  arzip-bytes  arzip.compress(data, as_="bytes"): arzip's generic byte path;
  lepton       lepton_jpeg_python.compress_bytes / decompress_bytes, default configuration;
  jxl          imagecodecs.jpegxl_encode_jpeg / jpegxl_decode_jpeg (libjxl's lossless JPEG
               transcoding, its default effort);
  xz-9e        lzma.compress(preset=9 | PRESET_EXTREME);
  zstd-19      zstandard level 19 (the zstd command line when the package is missing).
A coder that raises marks the file "refused"; a decode that raises or gives other bytes marks
it "decode error" / "MISMATCH", and such a file counts as not coded by that coder. arzip runs
with its default thread count, Lepton and libjxl with theirs. arzip's compress of a JPEG decodes
its own archive and compares it with the file before it returns (as `arzip compress` does), so
its compress time includes that check; the byte path's does not (`--verify` would add a
decode). Model loading
and compilation are kept out of the times by a warm-up on a 70 kB JPEG made here. Which path
arzip took is arzip.api.info(archive)["kind"]: "jpeg" (the coefficient model) or "bytes".

Each file is also classified by a marker scan written here (nothing is decoded): the SOF type
(baseline, extended, progressive, arithmetic, lossless, hierarchical), DRI > 0 (restart), and
"odd": no EOI (truncated), bytes after the EOI, CMYK (4 components) or gray. A "camera photo"
is a file with an Exif APP1 segment, an EOI, 1 or 3 components (not CMYK) and at least 0.1
megapixels.
"Saved %" is 1 - total coded bytes / total original bytes, over the files that coder coded
exactly, and again over the files that both arzip (default level) and Lepton coded.

    python bench/jpeg.py [--sets real,skimage,matplotlib,made] [--levels default,9,bytes]
                         [--limit N] [--out bench/results] [--name jpeg] [--made DIR]

writes OUT/NAME.md and OUT/NAME.json; progress goes to stderr. `--limit N` takes the first N
files (by name) of each set, for a quick run; `--levels none` leaves arzip out.
"""
from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import importlib.util
import json
import lzma
import os
import platform
import shlex
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import jpeg_corpus  # noqa: E402

DEFAULT_SETS = ["real", "skimage", "matplotlib", "made"]
DEFAULT_LEVELS = ["default", "9", "bytes"]
REAL_DIR = HERE.parents[1] / "shared" / "data" / "jpeg"
OTHERS = ["lepton", "jxl", "xz-9e", "zstd-19"]
CAMERA_MIN_PIXELS = 100_000

# ---------------------------------------------------------------------------------------------
# Marker scan: what kind of JPEG a file is, without decoding it.

SOF_KINDS = {0xC0: "baseline", 0xC1: "extended", 0xC2: "progressive", 0xC3: "lossless",
             0xC5: "hierarchical", 0xC6: "hierarchical", 0xC7: "hierarchical",
             0xC9: "arithmetic", 0xCA: "arithmetic", 0xCB: "lossless",
             0xCD: "hierarchical", 0xCE: "hierarchical", 0xCF: "hierarchical"}
SOF_NAMES = {m: f"SOF{m - 0xC0}" for m in SOF_KINDS}


def _exif_make_model(tiff: bytes) -> tuple[str, str]:
    """Make and Model from IFD0 of an Exif TIFF block ('' where absent or unreadable)."""
    try:
        order = {b"II": "<", b"MM": ">"}[tiff[:2]]
        ifd = struct.unpack(order + "I", tiff[4:8])[0]
        count = struct.unpack(order + "H", tiff[ifd:ifd + 2])[0]
        found = {}
        for k in range(count):
            e = ifd + 2 + 12 * k
            tag, typ, n = struct.unpack(order + "HHI", tiff[e:e + 8])
            if tag in (0x010F, 0x0110) and typ == 2:
                off = e + 8 if n <= 4 else struct.unpack(order + "I", tiff[e + 8:e + 12])[0]
                found[tag] = tiff[off:off + n].split(b"\0")[0].decode("latin-1").strip()
        return found.get(0x010F, ""), found.get(0x0110, "")
    except (KeyError, struct.error, IndexError):
        return "", ""


def scan(data: bytes) -> dict:
    """Walk the marker segments: SOF type, size, components, DRI, Exif, EOI and what follows it."""
    out = {"coding": "not-jpeg", "sof": None, "precision": None, "width": None, "height": None, "components": None,
           "restart": 0, "exif": False, "make": "", "model": "", "eoi": False, "after_eoi": 0, "scans": 0}
    n = len(data)
    if data[:2] != b"\xff\xd8":
        return out
    out["coding"] = "unknown"  # SOI but no SOF seen
    i = 2
    while i < n:
        if data[i] != 0xFF:  # not at a marker: bytes between segments; look for the next one
            j = data.find(b"\xff", i)
            if j < 0:
                break
            i = j
            continue
        while i < n and data[i] == 0xFF:  # fill bytes
            i += 1
        if i >= n:
            break
        m = data[i]
        i += 1
        if m == 0xD9:
            out["eoi"], out["after_eoi"] = True, n - i
            break
        if 0xD0 <= m <= 0xD7 or m in (0x01, 0x00):
            continue
        if i + 2 > n:
            break
        length = struct.unpack(">H", data[i:i + 2])[0]
        seg = data[i + 2:i + length]
        if m in SOF_KINDS and out["sof"] is None and len(seg) >= 6:
            out["sof"], out["coding"] = SOF_NAMES[m], SOF_KINDS[m]
            out["precision"] = seg[0]
            out["height"], out["width"] = struct.unpack(">HH", seg[1:5])
            out["components"] = seg[5]
        elif m == 0xDD and len(seg) >= 2:
            out["restart"] = max(out["restart"], struct.unpack(">H", seg[:2])[0])
        elif m == 0xE1 and seg[:6] == b"Exif\0\0" and not out["exif"]:
            out["exif"] = True
            out["make"], out["model"] = _exif_make_model(seg[6:])
        i += length
        if m == 0xDA:  # entropy-coded data: up to the next marker that is not a stuffed 00 or an RST
            out["scans"] += 1
            while True:
                j = data.find(b"\xff", i)
                if j < 0 or j + 1 >= n:
                    i = n
                    break
                b = data[j + 1]
                if b == 0x00 or 0xD0 <= b <= 0xD7:
                    i = j + 2
                elif b == 0xFF:
                    i = j + 1
                else:
                    i = j
                    break
    return out


def flags_of(s: dict) -> list[str]:
    """The kinds a file belongs to besides its coding: restart and the odd ones."""
    f = []
    if s["restart"]:
        f.append("restart")
    if s["coding"] != "not-jpeg" and not s["eoi"]:
        f.append("truncated")
    if s["after_eoi"]:
        f.append("after-EOI")
    if s["components"] == 4:
        f.append("CMYK")
    if s["components"] == 1:
        f.append("gray")
    if s["precision"] not in (None, 8):
        f.append(f"{s['precision']}-bit")
    return f


ODD = {"truncated", "after-EOI", "CMYK", "gray"}


def is_camera(s: dict) -> bool:
    return bool(s["exif"] and s["eoi"] and s["components"] in (1, 3)
                and (s["width"] or 0) * (s["height"] or 0) >= CAMERA_MIN_PIXELS)


def kind_label(s: dict) -> str:
    return " ".join([s["coding"], *flags_of(s)])

# ---------------------------------------------------------------------------------------------
# Coders


def _zstd():
    try:
        import zstandard
        c, d = zstandard.ZstdCompressor(level=19), zstandard.ZstdDecompressor()
        return (c.compress, lambda b: d.decompress(b)), f"zstandard {zstandard.__version__}"
    except ImportError:
        exe = shutil.which("zstd")
        if not exe:
            return None, "missing"

        def run(args, data):
            return subprocess.run([exe, *args], input=data, stdout=subprocess.PIPE, check=True).stdout
        ver = subprocess.run([exe, "--version"], stdout=subprocess.PIPE, text=True).stdout.strip()
        return (lambda d: run(["-19", "-c", "-q"], d), lambda b: run(["-d", "-c", "-q"], b)), ver


def coders(levels: list[str]) -> tuple[dict, dict]:
    """name -> (compress, decompress), and the versions."""
    out, versions = {}, {"python": platform.python_version()}
    if levels:
        import arzip
        from arzip import api
        versions["arzip"] = importlib.metadata.version("arzip")
        versions["arzip threads"] = api.current_threads()
        for lv in levels:
            if lv == "default":
                out["arzip"] = (lambda d: arzip.compress(d), arzip.decompress)
            elif lv == "bytes":
                out["arzip-bytes"] = (lambda d: arzip.compress(d, as_="bytes"), arzip.decompress)
            else:
                out[f"arzip-{int(lv)}"] = (lambda d, lv=int(lv): arzip.compress(d, level=lv), arzip.decompress)
    try:
        import lepton_jpeg_python as lep
        out["lepton"] = (lep.compress_bytes, lep.decompress_bytes)
        versions["lepton_jpeg_python"] = importlib.metadata.version("lepton_jpeg_python")
    except ImportError:
        versions["lepton_jpeg_python"] = "missing"
    try:
        import imagecodecs
        if not imagecodecs.JPEGXL.available:
            raise ImportError
        out["jxl"] = (imagecodecs.jpegxl_encode_jpeg, imagecodecs.jpegxl_decode_jpeg)
        libjxl = [p for p in imagecodecs.version().split(", ") if p.startswith("libjxl")]
        versions["imagecodecs"] = f"{imagecodecs.__version__} ({libjxl[0] if libjxl else 'libjxl ?'})"
    except ImportError:
        versions["imagecodecs"] = "missing (or without JPEG XL)"
    out["xz-9e"] = (lambda d: lzma.compress(d, preset=9 | lzma.PRESET_EXTREME), lzma.decompress)
    versions["xz"] = f"liblzma (Python {platform.python_version()})"
    z, versions["zstd"] = _zstd()
    if z:
        out["zstd-19"] = z
    return out, versions


def _message(e: BaseException) -> str:
    """The exception's first line, without the Rust source locations Lepton appends."""
    text = f"{type(e).__name__}: {e}".split("\n")[0]
    return text.split("  at ")[0].strip()[:300]


def run_one(name: str, fns, data: bytes) -> dict:
    enc, dec = fns
    try:
        t0 = time.perf_counter()
        blob = enc(data)
        t1 = time.perf_counter()
    except BaseException as e:  # a Rust panic arrives as pyo3's PanicException (a BaseException)
        if isinstance(e, KeyboardInterrupt):
            raise
        return {"status": "refused", "error": _message(e)}
    r = {"bytes": len(blob), "enc_s": t1 - t0}
    if name.startswith("arzip"):
        try:
            from arzip import api
            r["path"] = api.info(blob)["kind"]
        except Exception as e:  # noqa: BLE001
            r["path"] = f"? ({type(e).__name__})"
    try:
        t2 = time.perf_counter()
        back = dec(blob)
        t3 = time.perf_counter()
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            raise
        r.update(status="decode error", error=_message(e))
        return r
    r["dec_s"] = t3 - t2
    r["status"] = "ok" if bytes(back) == data else "MISMATCH"
    return r


def warm_up(cs: dict) -> None:
    """Load arzip's models and compile its kernels (and start the others) before any timing, on
    JPEGs made here (gradients plus noise): each kind of scan the sets hold (baseline, progressive,
    restart intervals, one component per scan), a small image and one over
    arzip.jpeg.archive.STRONG_BELOW_BLOCKS blocks (the two profiles of the coefficient model), a
    truncated one. On numba's JIT each first use compiles for seconds; a timing that included it
    measured the compiler (89 s for the first file of non-interleaved scans in one run)."""
    import io
    import numpy as np
    from PIL import Image

    def photo_like(h: int, w: int) -> Image.Image:
        g = np.add.outer(np.arange(h), np.arange(w)) * (512 / (h + w))
        px = np.stack([g, g[::-1], g[:, ::-1]], -1) + np.random.default_rng(0).normal(0, 12, (h, w, 3))
        return Image.fromarray(np.clip(px, 0, 255).astype(np.uint8))

    def jpeg(im: Image.Image, **options) -> bytes:
        buf = io.BytesIO()
        im.save(buf, "JPEG", **options)
        return buf.getvalue()

    small, large = photo_like(384, 512), photo_like(1536, 2048)  # 18,432 and 73,728 blocks at 4:2:0
    jpegs = [jpeg(small, quality=90), jpeg(large, quality=90), jpeg(small, quality=85, progressive=True),
             jpeg(large, quality=85, progressive=True), jpeg(small, quality=80, restart_marker_blocks=3),
             jpeg(small.convert("L"), quality=80), jpeg(small, quality=80, subsampling=0)[:-2000]]
    for name, fns in cs.items():
        for jpg in jpegs if name.startswith("arzip") and name != "arzip-bytes" else jpegs[:1]:
            r = run_one(name, fns, jpg)
            if r["status"] != "ok":
                print(f"warm-up: {name}: {r['status']} {r.get('error', '')}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# Sets


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def set_files(name: str, made: Path) -> tuple[list[Path], str]:
    """The files of a set and where they come from ([] and why, where it is missing)."""
    if name == "real":
        if not REAL_DIR.is_dir():
            return [], f"{REAL_DIR} missing"
        return sorted(REAL_DIR.glob("*.jpg")), str(REAL_DIR)
    if name in ("skimage", "matplotlib"):
        root = _package_dir(name)
        if root is None:
            return [], f"{name} not installed"
        base = root / "data" if name == "skimage" else root / "mpl-data"
        files = sorted(p for p in base.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg") and p.is_file())
        return files, f"{base} ({name} {importlib.metadata.version('scikit-image' if name == 'skimage' else name)})"
    if name == "made":
        if not (made / "MANIFEST.csv").exists():
            print(f"made set: {made} has no manifest; making it (bench/jpeg_corpus.py --split bench)", file=sys.stderr)
            made = jpeg_corpus.make("bench", folder=made)
        return sorted(made.glob("*.jpg")), f"{made} (bench/jpeg_corpus.py, bench split; {jpeg_corpus.encoder_name()})"
    raise SystemExit(f"unknown set {name!r} (use {', '.join(DEFAULT_SETS)})")

# ---------------------------------------------------------------------------------------------
# Totals


def ok(row: dict, coder: str) -> bool:
    return row["coders"].get(coder, {}).get("status") == "ok"


def totals(rows: list[dict], names: list[str]) -> dict:
    t = {"files": len(rows), "bytes": sum(r["bytes"] for r in rows), "coders": {}}
    for c in names:
        done = [r for r in rows if ok(r, c)]
        orig = sum(r["bytes"] for r in done)
        coded = sum(r["coders"][c]["bytes"] for r in done)
        enc = sum(r["coders"][c]["enc_s"] for r in done)
        dec = sum(r["coders"][c]["dec_s"] for r in done)
        status = [r["coders"].get(c, {}).get("status", "not run") for r in rows]
        t["coders"][c] = {"coded_files": len(done), "original_bytes": orig, "coded_bytes": coded,
                          "saved": 1 - coded / orig if orig else None, "enc_s": enc, "dec_s": dec,
                          "enc_MBps": orig / 1e6 / enc if enc else None, "dec_MBps": orig / 1e6 / dec if dec else None,
                          "refused": status.count("refused"), "decode_error": status.count("decode error"),
                          "mismatch": status.count("MISMATCH")}
        if c.startswith("arzip"):
            t["coders"][c]["coefficient_path"] = sum(1 for r in rows if r["coders"].get(c, {}).get("path") == "jpeg")
    if "arzip" in names and "lepton" in names:
        common = [r for r in rows if ok(r, "arzip") and ok(r, "lepton")]
        t["both"] = {"files": len(common), "bytes": sum(r["bytes"] for r in common), "coders": {}}
        for c in names:
            done = [r for r in common if ok(r, c)]
            orig = sum(r["bytes"] for r in done)
            t["both"]["coders"][c] = {"coded_files": len(done), "original_bytes": orig,
                                      "saved": 1 - sum(r["coders"][c]["bytes"] for r in done) / orig if orig else None}
    return t


def by_kind(rows: list[dict], names: list[str]) -> list[dict]:
    """Per coding kind and per flag: files, bytes, share through arzip's coefficient path per
    arzip column, and arzip's and Lepton's saved % over the files both coded."""
    groups: dict[str, list[dict]] = {}
    for r in rows:
        s = r["scan"]
        keys = [s["coding"], *flags_of(s)]
        flags = set(flags_of(s))
        keys.append("odd (any of truncated, after-EOI, CMYK, gray)" if flags & ODD else "not odd")
        if r["camera"]:
            keys.append("camera photo")
        for k in keys:
            groups.setdefault(k, []).append(r)
    out = []
    for k, rs in groups.items():
        g = {"kind": k, "files": len(rs), "bytes": sum(r["bytes"] for r in rs), "coefficient_path": {}}
        for c in names:
            if c.startswith("arzip"):
                g["coefficient_path"][c] = sum(1 for r in rs if r["coders"].get(c, {}).get("path") == "jpeg")
        if "arzip" in names and "lepton" in names:
            common = [r for r in rs if ok(r, "arzip") and ok(r, "lepton")]
            orig = sum(r["bytes"] for r in common)
            g["both_files"] = len(common)
            for c in ("arzip", "lepton"):
                g[f"both_saved_{c}"] = 1 - sum(r["coders"][c]["bytes"] for r in common) / orig if orig else None
        out.append(g)
    return out


def acceptance(rows: list[dict]) -> dict | None:
    """arzip default saves at least as much as Lepton in total (files both coded), and on no
    camera photo more than 1 point less."""
    common = [r for r in rows if ok(r, "arzip") and ok(r, "lepton")]
    if not common:
        return None
    orig = sum(r["bytes"] for r in common)
    a = 1 - sum(r["coders"]["arzip"]["bytes"] for r in common) / orig
    lp = 1 - sum(r["coders"]["lepton"]["bytes"] for r in common) / orig
    cams = []
    for r in rows:
        if not r["camera"]:
            continue
        c = {"set": r["set"], "file": r["file"], "bytes": r["bytes"]}
        if ok(r, "arzip") and ok(r, "lepton"):
            c["arzip_saved"] = 1 - r["coders"]["arzip"]["bytes"] / r["bytes"]
            c["lepton_saved"] = 1 - r["coders"]["lepton"]["bytes"] / r["bytes"]
            c["points"] = 100 * (c["arzip_saved"] - c["lepton_saved"])
        else:
            c["points"] = None
            c["note"] = f"arzip {r['coders'].get('arzip', {}).get('status')}, lepton {r['coders'].get('lepton', {}).get('status')}"
        cams.append(c)
    compared = [c for c in cams if c["points"] is not None]
    below = [c for c in compared if c["points"] < -1]
    return {"files": len(common), "bytes": orig, "arzip_saved": a, "lepton_saved": lp, "total_ok": a >= lp,
            "camera": cams, "camera_compared": len(compared), "camera_below_1_point": [c["file"] for c in below],
            "camera_ok": bool(compared) and not below}

# ---------------------------------------------------------------------------------------------
# Report


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.2f}"


def _rate(x) -> str:
    return "-" if x is None else f"{x:.3g}" if x < 1000 else f"{x:,.0f}"


def markdown(res: dict) -> str:
    names = res["coders"]
    arz = [c for c in names if c.startswith("arzip")]
    v = res["versions"]
    L = ["# JPEG files: arzip against Lepton, JPEG XL transcoding, xz and zstd", "",
         f"Command: `{res['command']}`", "",
         f"Run on {res['date']}, {res['machine']}. Python {v['python']}"
         + (f", arzip {v['arzip']} ({v['arzip threads']} thread(s), its default)" if "arzip" in v else "")
         + f", lepton_jpeg_python {v['lepton_jpeg_python']}, imagecodecs {v['imagecodecs']}, zstd: {v['zstd']}"
         + f", Pillow {v.get('Pillow', '?')}." + (f" Quick run: first {res['limit']} file(s) of each set."
                                                   if res["limit"] else ""), "",
         "Columns: `arzip` = `arzip.compress(data)` (default level); `arzip-N` = `level=N`; `arzip-bytes` = "
         "`as_=\"bytes\"` (the generic byte path); `lepton` = `lepton_jpeg_python.compress_bytes` (default "
         "config); `jxl` = `imagecodecs.jpegxl_encode_jpeg` (libjxl lossless JPEG transcoding, default effort); "
         "`xz-9e` = lzma preset 9|EXTREME; `zstd-19` = zstd level 19. **Saved %** = 1 - total coded bytes / total "
         "original bytes over the files that coder coded and decoded byte-exact (the count is in brackets). "
         "MB/s = original bytes / 10^6 / wall seconds of one in-process call (summed over files). arzip's compress "
         "of a JPEG includes decoding its archive and comparing it with the file (what `arzip compress` does). "
         "\"path\": `arzip.api.info(archive)[\"kind\"]`, `jpeg` = coefficient model, "
         "`bytes` = byte path. Every decode was compared with the original.", ""]
    for where, sets in res["sets"].items():
        if sets.get("skipped"):
            L.append(f"- set `{where}` skipped: {sets['skipped']}")
        else:
            L.append(f"- set `{where}`: {sets['source']}, {len(sets['files'])} file(s)")
    L.append("")

    # Totals
    groups = [(s, d["totals"]) for s, d in res["sets"].items() if not d.get("skipped")] + [("all", res["totals"])]
    L += ["## Saved % per coder (files that coder coded exactly)", "",
          "| set | files | original bytes | " + " | ".join(names) + " |", "|---|---:|---:|" + "---:|" * len(names)]
    for s, t in groups:
        L.append(f"| {s} | {t['files']} | {t['bytes']:,} | " + " | ".join(
            f"{_pct(t['coders'][c]['saved'])} ({t['coders'][c]['coded_files']})" for c in names) + " |")
    if "arzip" in names and "lepton" in names:
        L += ["", "## Saved % over the files both arzip (default) and Lepton coded", "",
              "A coder that did not code all of these files is given over those it did (count in brackets).", "",
              "| set | files | original bytes | " + " | ".join(names) + " |", "|---|---:|---:|" + "---:|" * len(names)]
        for s, t in groups:
            b = t.get("both")
            if b:
                L.append(f"| {s} | {b['files']} | {b['bytes']:,} | " + " | ".join(
                    f"{_pct(b['coders'][c]['saved'])}" + ("" if b["coders"][c]["coded_files"] == b["files"]
                                                          else f" ({b['coders'][c]['coded_files']})") for c in names)
                    + " |")
    acc = res.get("acceptance")
    if acc:
        L += ["", "## Acceptance (all sets of this run together)", "",
              f"- In total over the {acc['files']} files both coded ({acc['bytes']:,} bytes): arzip saves "
              f"{_pct(acc['arzip_saved'])} %, Lepton {_pct(acc['lepton_saved'])} %: "
              f"**{'met' if acc['total_ok'] else 'NOT met'}** (arzip >= Lepton).",
              f"- Camera photos (an Exif APP1, an EOI, gray or 3 components, at least {CAMERA_MIN_PIXELS:,} pixels): "
              f"{acc['camera_compared']} compared; more than 1 point below Lepton: "
              + (", ".join(acc["camera_below_1_point"]) or "none")
              + f": **{'met' if acc['camera_ok'] else 'NOT met'}**.", "",
              "| set | camera photo | bytes | arzip saved % | Lepton saved % | points |", "|---|---|---:|---:|---:|---:|"]
        for c in acc["camera"]:
            L.append(f"| {c['set']} | {c['file']} | {c['bytes']:,} | {_pct(c.get('arzip_saved'))} | "
                     f"{_pct(c.get('lepton_saved'))} | "
                     + (f"{c['points']:+.2f}" if c["points"] is not None else c.get("note", "-")) + " |")

    # Speed
    L += ["", "## Speed: MB/s compress / decompress (totals over the files each coded)", "",
          "| set | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for s, t in groups:
        cells = [f"{_rate(t['coders'][c]['enc_MBps'])} / {_rate(t['coders'][c]['dec_MBps'])}" for c in names]
        L.append(f"| {s} | " + " | ".join(cells) + " |")

    if arz:  # the coefficient path alone: a refused file's byte path is another path's speed
        L += ["", "arzip's columns over the files each sent through the coefficient path (path `jpeg`):", "",
              "| set | " + " | ".join(arz) + " |", "|---|" + "---:|" * len(arz)]
        for s, _ in groups:
            cells = []
            for c in arz:
                done = [f for f in res["files"] if (s == "all" or f["set"] == s) and ok(f, c)
                        and f["coders"][c].get("path") == "jpeg"]
                enc = sum(f["coders"][c]["enc_s"] for f in done)
                dec = sum(f["coders"][c]["dec_s"] for f in done)
                size = sum(f["bytes"] for f in done) / 1e6
                cells.append(f"{_rate(size / enc if enc else None)} / {_rate(size / dec if dec else None)} ({len(done)})")
            L.append(f"| {s} | " + " | ".join(cells) + " |")

    # Kinds
    if arz:
        L += ["", "## By kind: share sent through arzip's coefficient path", "",
              "Kinds from the marker scan; a file is in its coding row and in each flag row that applies. "
              "Saved % over the files of the kind that both arzip (default) and Lepton coded.", "",
              "| kind | files | bytes | " + " | ".join(f"{c} via jpeg" for c in arz)
              + (" | both coded | arzip saved % | Lepton saved % |" if "lepton" in names else " |"),
              "|---|---:|---:|" + "---:|" * len(arz) + ("---:|---:|---:|" if "lepton" in names else "")]
        for g in res["kinds"]:
            cells = [f"{g['coefficient_path'][c]}/{g['files']} ({100 * g['coefficient_path'][c] / g['files']:.0f} %)"
                     for c in arz]
            extra = (f" | {g['both_files']} | {_pct(g['both_saved_arzip'])} | {_pct(g['both_saved_lepton'])}"
                     if "both_files" in g else "")
            L.append(f"| {g['kind']} | {g['files']} | {g['bytes']:,} | " + " | ".join(cells) + extra + " |")

    # Files
    def cell(r, c):
        x = r["coders"].get(c)
        if x is None:
            return "-"
        if x["status"] != "ok":
            return x["status"]
        return f"{x['bytes']:,}"

    L += ["", "## Every file: bytes", "",
          "`refused`: the coder raised; `decode error` / `MISMATCH`: its decode raised / gave other bytes "
          "(messages below). `cam` = camera photo.", "",
          "| set | file | kind | original | " + " | ".join(names)
          + (" | " + " | ".join(f"{c} path" for c in arz) if arz else "") + " |",
          "|---|---|---|---:|" + "---:|" * len(names) + "---|" * len(arz)]
    for r in res["files"]:
        L.append(f"| {r['set']} | {r['file']} | {r['kind']}{' cam' if r['camera'] else ''} | {r['bytes']:,} | "
                 + " | ".join(cell(r, c) for c in names)
                 + (" | " + " | ".join(r["coders"].get(c, {}).get("path", "-") for c in arz) if arz else "") + " |")
    L += ["", "## Every file: MB/s compress / decompress", "",
          "| set | file | original | " + " | ".join(names) + " |", "|---|---|---:|" + "---:|" * len(names)]
    for r in res["files"]:
        cells = []
        for c in names:
            x = r["coders"].get(c, {})
            cells.append(f"{_rate(r['bytes'] / 1e6 / x['enc_s'])} / {_rate(r['bytes'] / 1e6 / x['dec_s'])}"
                         if x.get("status") == "ok" else x.get("status", "-"))
        L.append(f"| {r['set']} | {r['file']} | {r['bytes']:,} | " + " | ".join(cells) + " |")
    errs = [(r, c, x) for r in res["files"] for c, x in r["coders"].items() if x.get("status") != "ok"]
    if errs:
        L += ["", "## Refusals and errors", "", "| set | file | coder | status | message |", "|---|---|---|---|---|"]
        for r, c, x in errs:
            msg = x.get("error", "the decoded bytes differ from the original").replace("|", "\\|").replace("\n", " ")
            L.append(f"| {r['set']} | {r['file']} | {c} | {x['status']} | {msg} |")
    return "\n".join(L) + "\n"


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{platform.node()}: {model}, {cores} usable core(s), {platform.system()} {platform.release()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", default=",".join(DEFAULT_SETS), help=f"comma-separated, of {', '.join(DEFAULT_SETS)}")
    ap.add_argument("--levels", default=",".join(DEFAULT_LEVELS),
                    help="arzip's columns: default, a level number, bytes; 'none' for no arzip")
    ap.add_argument("--limit", type=int, default=0, help="only the first N files (by name) of each set")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument("--name", default="jpeg")
    ap.add_argument("--made", type=Path, default=jpeg_corpus.DEFAULT_OUT / "bench",
                    help="the made set's folder (made here if it has no MANIFEST.csv)")
    args = ap.parse_args()
    levels = [x for x in args.levels.split(",") if x and x != "none"]
    for lv in levels:
        if lv not in ("default", "bytes") and not lv.isdigit():
            raise SystemExit(f"--levels: {lv!r} is not default, bytes or a level number")
    cs, versions = coders(levels)
    from PIL import Image
    versions["Pillow"] = Image.__version__
    names = list(cs)
    print(f"coders: {', '.join(names)}; warming up", file=sys.stderr)
    warm_up(cs)

    res = {"command": "python " + shlex.join(["bench/jpeg.py", *sys.argv[1:]]),
           "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"), "machine": machine(),
           "versions": versions, "limit": args.limit, "coders": names, "sets": {}, "files": []}
    for s in args.sets.split(","):
        files, source = set_files(s, args.made)
        if not files:
            print(f"set {s}: skipped ({source})", file=sys.stderr)
            res["sets"][s] = {"skipped": source}
            continue
        if args.limit:
            files = files[:args.limit]
        rows = []
        for k, p in enumerate(files, 1):
            data = p.read_bytes()
            sc = scan(data)
            row = {"set": s, "file": p.name, "bytes": len(data), "scan": sc, "kind": kind_label(sc),
                   "camera": is_camera(sc), "coders": {}}
            print(f"[{s} {k}/{len(files)}] {p.name} ({len(data):,} B, {row['kind']})", file=sys.stderr)
            for c, fns in cs.items():
                r = run_one(c, fns, data)
                row["coders"][c] = r
                if r["status"] == "ok":
                    msg = (f"{r['bytes']:,} B ({100 * (1 - r['bytes'] / len(data)):.2f} % saved), "
                           f"{r['enc_s']:.2f} s / {r['dec_s']:.2f} s" + (f", path {r['path']}" if "path" in r else ""))
                else:
                    msg = f"{r['status']}: {r.get('error', '')}"
                print(f"    {c:12s} {msg}", file=sys.stderr)
            rows.append(row)
        res["sets"][s] = {"source": source, "files": [r["file"] for r in rows], "totals": totals(rows, names)}
        res["files"] += rows
    res["totals"] = totals(res["files"], names)
    res["kinds"] = by_kind(res["files"], names)
    if "arzip" in names and "lepton" in names:
        res["acceptance"] = acceptance(res["files"])
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(res, indent=1) + "\n")
    md = markdown(res)
    (out / f"{args.name}.md").write_text(md)
    bad = [(r["set"], r["file"], c) for r in res["files"] for c, x in r["coders"].items()
           if c.startswith("arzip") and x["status"] in ("MISMATCH", "decode error")]
    print(f"wrote {out / (args.name + '.md')} and .json", file=sys.stderr)
    if bad:
        print(f"ARZIP DID NOT ROUND-TRIP: {bad}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
