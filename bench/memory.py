"""Peak memory and wall time of the arzip command line on one file, start-up included.

    python bench/memory.py IMAGE.png [--threads N] [--levels 1 5 9] [--out bench/results]
    python bench/memory.py ANY_FILE --name memory-bytes --levels 5 9   # the byte path

Runs `arzip compress` and `arzip decompress` as fresh processes and reads each one's peak
resident memory from os.wait4's rusage, so the figure is what a user's process needs.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(args: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MiB) of one arzip process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "arzip.cli", *args], stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"arzip {' '.join(args)} failed: {err.strip()}")
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image", type=Path, help="a PNG (image path) or any other file (byte path)")
    ap.add_argument("--name", default="memory", help="results file name (default memory)")
    ap.add_argument("--threads", type=int, help="default: arzip's default (the available cores)")
    ap.add_argument("--levels", type=int, nargs="+", default=[5])
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    a = ap.parse_args()
    threads = ["--threads", str(a.threads)] if a.threads else []
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        arz, png = Path(tmp) / "x.arz", Path(tmp) / "x.out"
        warm = Path(tmp) / f"warm{a.image.suffix}"  # a large file's first 64 KiB warm the JIT cache as well
        warm.write_bytes(a.image.read_bytes() if a.image.stat().st_size <= 1 << 20 else a.image.open("rb").read(1 << 16))
        for level in a.levels:
            run(["compress", str(warm), "-o", str(arz), "-f", "-q", f"-{level}"])
            c_wall, c_mem = run(["compress", str(a.image), "-o", str(arz), "-f", "-q", f"-{level}", *threads])
            d_wall, d_mem = run(["decompress", str(arz), "-o", str(png), "-f", "-q", *threads])
            rows.append({"level": level, "compress_wall_s": c_wall, "compress_peak_mib": c_mem,
                         "decompress_wall_s": d_wall, "decompress_peak_mib": d_mem})
    result = {"image": a.image.name, "threads": a.threads or "default", "levels": rows}
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / f"{a.name}.json").write_text(json.dumps(result, indent=1) + "\n")
    md = (f"# arzip process cost on {a.image.name}, {a.image.stat().st_size:,} bytes (threads: {result['threads']}, start-up included)\n\n"
          f"`{' '.join(['python', *sys.argv])}`\n\n"
          f"| level | compress wall s | compress peak MiB | decompress wall s | decompress peak MiB |\n"
          f"|---|---|---|---|---|\n"
          + "".join(f"| {r['level']} | {r['compress_wall_s']:.2f} | {r['compress_peak_mib']:.0f} | "
                    f"{r['decompress_wall_s']:.2f} | {r['decompress_peak_mib']:.0f} |\n" for r in rows))
    (a.out / f"{a.name}.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
