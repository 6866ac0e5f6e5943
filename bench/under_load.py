"""Does arzip's threading ever hurt on a busy machine? Encode and decode time of Kodak images with
one thread and with the default threads, on an idle machine and with one busy process per core.

Why: threads that busy-wait (an OpenMP or BLAS pool spinning between batches) take the cores
other processes need, and on a loaded machine a two-thread decode once took 92.7 s against
4.2 s with one thread. arzip now runs its network's matmuls on one BLAS thread and gives its own
threads only independent stripes, which wait on futures (passively); the promise is that the
default is never more than 10 % slower than one thread, busy machine or not.

How: for each scenario ("idle", and "busy": one `while True: pass` process per available core,
started before and killed after) and each thread count (1, and the default), a fresh Python
process warms up (imports, compiled kernels, models), then times arzip.compress_image and
arzip.decompress_image of every image at every level, checking the round trip. Wall times are
per image; the table gives the median over images and the ratio default / one thread.

    python bench/under_load.py [KODAK_DIR] [--images kodim05,kodim13,kodim23] [--levels 5,9]
                               [--out bench/results] [--name under-load]

writes OUT/NAME.md and OUT/NAME.json.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUSY = "while True: pass"


def worker(paths: list[str], levels: list[int], threads: int) -> dict:
    """Timings of this process (run with --worker): {level: {image: [encode_s, decode_s]}}."""
    import numpy as np
    from PIL import Image

    import arzip
    arzip.set_threads(threads)
    warm = np.asarray(Image.open(paths[0]).convert("RGB"))[:256, :256]
    for level in levels:  # models loaded, kernels compiled, thread pools started
        arzip.decompress_image(arzip.compress_image(warm, level=level))
    out: dict = {}
    for level in levels:
        for path in paths:
            image = np.asarray(Image.open(path).convert("RGB"))
            t0 = time.perf_counter()
            blob = arzip.compress_image(image, level=level)
            t1 = time.perf_counter()
            back = arzip.decompress_image(blob)
            t2 = time.perf_counter()
            if not np.array_equal(back, image):
                sys.exit(f"{path}: level {level} round trip differs")
            out.setdefault(str(level), {})[Path(path).stem] = [t1 - t0, t2 - t1]
    return out


def run(paths: list[Path], levels: list[int], threads: int, busy: int) -> dict:
    """A fresh worker process, with `busy` spinning processes beside it."""
    spinners = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(busy)]
    try:
        cmd = [sys.executable, __file__, "--worker", "--threads", str(threads), "--levels",
               ",".join(map(str, levels)), *map(str, paths)]
        result = subprocess.run(cmd, capture_output=True, text=True, check=True)
    finally:
        for p in spinners:
            p.kill()
            p.wait()
    return json.loads(result.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="*")
    ap.add_argument("--images", default="kodim05,kodim13,kodim23")
    ap.add_argument("--levels", default="5,9")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument("--name", default="under-load")
    args = ap.parse_args()
    levels = [int(v) for v in args.levels.split(",")]
    if args.worker:
        print(json.dumps(worker(args.data, levels, args.threads)))
        return

    from arzip.api import default_threads
    kodak = Path(args.data[0] if args.data else HERE.parent.parent / "shared" / "data" / "kodak")
    paths = [kodak / f"{name}.png" for name in args.images.split(",")]
    cores, default = len(os.sched_getaffinity(0)), default_threads()
    rows = []
    for scenario, busy in (("idle", 0), ("busy", cores)):
        for threads in sorted({1, default}):
            timings = run(paths, levels, threads, busy)
            for level in levels:
                per_image = timings[str(level)]
                rows.append({"scenario": scenario, "busy_processes": busy, "threads": threads, "level": level,
                             "encode_s": statistics.median(v[0] for v in per_image.values()),
                             "decode_s": statistics.median(v[1] for v in per_image.values()),
                             "images": per_image})
                print(f"{scenario:5} threads {threads} level {level}: encode {rows[-1]['encode_s']:.2f} s, "
                      f"decode {rows[-1]['decode_s']:.2f} s", file=sys.stderr)
    meta = {"date": datetime.date.today().isoformat(), "machine": platform.processor() or platform.machine(),
            "cores": cores, "default_threads": default, "images": args.images.split(","), "levels": levels,
            "command": "python bench/under_load.py " + " ".join(sys.argv[1:])}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    (args.out / f"{args.name}.md").write_text(report(meta, rows))


def report(meta: dict, rows: list[dict]) -> str:
    lines = [f"# Threads under load ({meta['date']}, {meta['cores']} cores)", "",
             f"Median wall seconds per image over {', '.join(meta['images'])} (Kodak), in one process after a "
             "warm-up; *busy*: one spinning process per core beside it. Ratio: default threads / one thread "
             "(the promise: at most 1.10).", "",
             f"`{meta['command']}`", "",
             "| scenario | level | encode, 1 thread | encode, default | ratio | decode, 1 thread | decode, default | ratio |",
             "|---|---|---|---|---|---|---|---|"]
    default = meta["default_threads"]
    for scenario in ("idle", "busy"):
        for level in meta["levels"]:
            one = next(r for r in rows if r["scenario"] == scenario and r["level"] == level and r["threads"] == 1)
            dflt = next(r for r in rows if r["scenario"] == scenario and r["level"] == level
                        and r["threads"] == default)
            lines.append(f"| {scenario} | {level} | {one['encode_s']:.2f} | {dflt['encode_s']:.2f} | "
                         f"{dflt['encode_s'] / one['encode_s']:.2f} | {one['decode_s']:.2f} | {dflt['decode_s']:.2f} | "
                         f"{dflt['decode_s'] / one['decode_s']:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
