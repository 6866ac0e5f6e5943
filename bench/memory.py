"""Peak memory and wall time of the arzip command line on one image, start-up included.

    python bench/memory.py IMAGE.png [--threads N] [--out bench/results]

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
    ap.add_argument("image", type=Path)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        arz, png = Path(tmp) / "x.arz", Path(tmp) / "x.png"
        run(["compress", str(a.image), "-o", str(arz), "-q"])  # warm the JIT cache
        c_wall, c_mem = run(["compress", str(a.image), "-o", str(arz), "-f", "-q", "--threads", str(a.threads)])
        d_wall, d_mem = run(["decompress", str(arz), "-o", str(png), "-f", "-q", "--threads", str(a.threads)])
    result = {"image": a.image.name, "threads": a.threads, "compress_wall_s": c_wall,
              "compress_peak_mib": c_mem, "decompress_wall_s": d_wall, "decompress_peak_mib": d_mem}
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "memory.json").write_text(json.dumps(result, indent=1) + "\n")
    md = (f"# arzip process cost on {a.image.name} ({a.threads} thread(s), start-up included)\n\n"
          f"| command | wall s | peak memory MiB |\n|---|---|---|\n"
          f"| compress | {c_wall:.2f} | {c_mem:.0f} |\n| decompress | {d_wall:.2f} | {d_mem:.0f} |\n")
    (a.out / "memory.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
