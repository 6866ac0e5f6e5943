"""Benchmark arzip's byte path against the classical general-purpose compressors.

Why: on files that are not photos arzip promises to be far smaller than the classical tools on
text and never worse than xz on anything else; this measures both, and the speed, on fixed
files so results can be compared between model versions.

How: every file in each group folder (default: the Canterbury corpus, the two large Canterbury
files and the enwik8 prefix under ../shared/data/files, and `kinds`: the kinds of file people
keep, made by bench/file_kinds.py) is compressed and decompressed by
arzip's byte path (`arzip.bytes.archive.compress_stream`, what `arzip.compress_bytes` runs, which
also reports the model's NLL; in this process, after a warm-up so model loading and JIT
compilation are not counted) and by gzip -9, bzip2 -9, xz -9e, zstd -19 and brotli -11
(their Python bindings, same settings as the command-line tools). Every arzip decode is
compared with the original and the run aborts if any differs. arzip runs at its default level
and at -9 (the strong profile, one segment per block where the default cuts a block of 1 MiB or
more in two). Rates are bits per byte (8 * compressed / original); a group's total is total
compressed bits over total bytes.

    python bench/files.py [DATA_DIR] [--groups canterbury,canterbury_large,enwik8_partial,kinds]
                          [--out bench/results] [--name files] [--threads N (default 2)]

writes OUT/NAME.md and OUT/NAME.json.
"""
from __future__ import annotations

import argparse
import bz2
import datetime
import gzip
import importlib.metadata
import io
import json
import lzma
import platform
import sys
import time
from pathlib import Path

import brotli
import zstandard

import file_kinds

import arzip
from arzip import registry
from arzip.bytes import archive as byte_archive, container as byte_container

REFERENCES = {
    "gzip-9": lambda d: gzip.compress(d, 9, mtime=0),
    "bzip2-9": lambda d: bz2.compress(d, 9),
    "xz-9e": lambda d: lzma.compress(d, preset=9 | lzma.PRESET_EXTREME),
    "zstd-19": lambda d: zstandard.ZstdCompressor(level=19).compress(d),
    "brotli-11": lambda d: brotli.compress(d, quality=11),
}
DEFAULT_GROUPS = ["canterbury", "canterbury_large", "enwik8_partial", "kinds"]
KINDS = "kinds"  # bench/file_kinds.py's files (made into bench/.cache/file-kinds when missing)
CODECS = ["arzip", "arzip-9", *REFERENCES]


def _arzip(path: Path, data: bytes, level: int) -> tuple[int, float, float, byte_archive.Summary]:
    """(archive bytes, compress s, decompress s, summary) of the byte path at `level`."""
    name = registry.bytes_model()
    out = io.BytesIO()
    t0 = time.perf_counter()
    summary = byte_archive.compress_stream(io.BytesIO(data), out, registry.load_bytes(name),
                                           registry.hash_prefix(name, byte_container.COMPACT_MODEL_HASH_BYTES), level)
    t1 = time.perf_counter()
    blob = out.getvalue()
    back = arzip.decompress_bytes(blob)
    t2 = time.perf_counter()
    if back != data:
        sys.exit(f"{path}: decoded bytes differ from the original")
    return len(blob), t1 - t0, t2 - t1, summary


def measure(path: Path) -> dict:
    """arzip at the default level and at -9 (the strong profile, one segment a block), and the
    references."""
    data = path.read_bytes()
    size, encode_s, decode_s, summary = _arzip(path, data, byte_archive.DEFAULT_LEVEL)
    methods = {m: summary.methods.count(m) for m in sorted(set(summary.methods))}
    row = {"file": path.name, "bytes": len(data), "arzip": size, "encode_s": encode_s, "decode_s": decode_s,
           "nll_bits": summary.nll_bits, "methods": methods}
    row["arzip-9"], row["encode9_s"], row["decode9_s"], _ = _arzip(path, data, 9)
    for name, fn in REFERENCES.items():
        row[name] = len(fn(data))
    return row


def bpb(compressed: int, n: int) -> float:
    return 8 * compressed / n if n else 0.0


def group_totals(rows: list[dict]) -> dict:
    n = sum(r["bytes"] for r in rows)
    out = {"bytes": n, "nll_bpb": sum(r["nll_bits"] for r in rows) / n}
    for key in ("encode_s", "decode_s", "encode9_s", "decode9_s"):
        out[key] = sum(r[key] for r in rows)
    for codec in CODECS:
        out[codec] = bpb(sum(r[codec] for r in rows), n)
    return out


def markdown(results: dict) -> str:
    codecs = CODECS
    lines = ["# Files: arzip byte path vs classical compressors", "",
             f"{results['date']}, {results['machine']}, {results['threads']} thread(s), arzip "
             f"{results['arzip_version']}, byte model `{results['model']}`. Bits per byte "
             "(8 x compressed / original); totals are total bits over total bytes. "
             "Made by `python bench/files.py`.", "",
             "## Totals", "",
             "| group | bytes | " + " | ".join(codecs) + " | arzip model NLL | arzip kB/s compress / decompress"
             " | arzip-9 kB/s |",
             "|---|---|" + "---|" * len(codecs) + "---|---|---|"]
    for group, t in results["totals"].items():
        lines.append(f"| {group} | {t['bytes']:,} | " + " | ".join(f"{t[c]:.3f}" for c in codecs)
                     + f" | {t['nll_bpb']:.3f} | {t['bytes'] / 1e3 / t['encode_s']:.0f} / "
                     f"{t['bytes'] / 1e3 / t['decode_s']:.0f} | {t['bytes'] / 1e3 / t['encode9_s']:.0f} / "
                     f"{t['bytes'] / 1e3 / t['decode9_s']:.0f} |")
    above = [f"{g}/{r['file']}" for g, rows in results["files"].items() for r in rows if r["arzip"] >= r["xz-9e"]]
    lines += ["", f"Files where arzip (default) is not below xz -9e: {', '.join(above) if above else 'none'}."]
    lines += ["", "## Every file", "",
              "| group | file | bytes | " + " | ".join(codecs) + " | vs best of xz, zstd | blocks | "
              "compress s | decompress s |",
              "|---|---|---|" + "---|" * len(codecs) + "---|---|---|---|"]
    for group, rows in results["files"].items():
        for r in rows:
            best = min(r["xz-9e"], r["zstd-19"])
            methods = ", ".join(f"{n} {m}" for m, n in r["methods"].items())
            lines.append(f"| {group} | {r['file']} | {r['bytes']:,} | "
                         + " | ".join(f"{bpb(r[c], r['bytes']):.3f}" for c in codecs)
                         + f" | {100 * (r['arzip'] / best - 1):+.1f} % | {methods} | {r['encode_s']:.2f} | "
                         f"{r['decode_s']:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", nargs="?", default=str(Path(__file__).resolve().parents[2] / "shared/data/files"))
    ap.add_argument("--groups", default=",".join(DEFAULT_GROUPS))
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    ap.add_argument("--name", default="files")
    ap.add_argument("--threads", type=int, default=2, help="arzip's threads (default 2: both cores)")
    args = ap.parse_args()
    arzip.set_threads(args.threads)
    arzip.decompress_bytes(arzip.compress_bytes(b"warm-up: load the model, compile the kernels " * 50))
    files, totals = {}, {}
    for group in args.groups.split(","):
        folder = Path(args.data) / group
        if group == KINDS:
            folder = file_kinds.DEFAULT_OUT if (file_kinds.DEFAULT_OUT / "MANIFEST.json").is_file() else file_kinds.make()
        paths = sorted(p for p in folder.iterdir() if p.is_file() and p.name != "MANIFEST.json")
        files[group] = []
        for p in paths:
            row = measure(p)
            files[group].append(row)
            print(f"{group}/{p.name}: {bpb(row['arzip'], row['bytes']):.3f} bpb (xz {bpb(row['xz-9e'], row['bytes']):.3f})"
                  f" {row['encode_s']:.2f} s / {row['decode_s']:.2f} s", file=sys.stderr)
        totals[group] = group_totals(files[group])
    results = {"date": datetime.date.today().isoformat(), "machine": f"{platform.machine()} {platform.processor()}",
               "threads": args.threads, "arzip_version": importlib.metadata.version("arzip"),
               "model": registry.bytes_model(), "totals": totals, "files": files}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / f"{args.name}.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
