"""What arzip costs before it codes anything: install size, start-up time and memory, and the
bytes a small archive spends beyond its data, measured in a fresh virtual environment.

Why: a compressor that takes a second and 760 MiB to compress a 41-byte text, or a gigabyte of
install, is not one people reach for. The targets: `arzip --help` and `--version` within 0.2 s,
compressing a 1 kB text within 0.5 s and 150 MiB, small byte archives within about 20 bytes of
overhead, and a fresh install well under half of the 1.2 GB it once took.

How: `python -m venv` and `pip install <this checkout>` (no extras: what a user gets) into a
temporary folder, whose size is then measured (pip's own cache excluded). One untimed
compression compiles and caches the numba kernels (its time is reported as the first run
after install). Then each command runs REPEAT times as a fresh process; the table gives the
median wall time and the largest peak RSS (os.wait4). Sizes are of arzip's archives against
gzip -9 and zstd -19 on the same inputs; the text is the Zen of Python (stable, and text-like),
cut or repeated to length.

    python bench/startup.py [--venv DIR] [--repeat 5] [--out bench/results] [--name startup]

writes OUT/NAME.md and OUT/NAME.json (with --venv, an existing environment is measured instead
of a fresh one).
"""
from __future__ import annotations

import argparse
import codecs
import contextlib
import datetime
import gzip
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def zen(n: int) -> bytes:
    with contextlib.redirect_stdout(io.StringIO()):  # importing `this` prints the Zen
        import this
    text = codecs.decode(this.s, "rot13").encode()
    return (text * (n // len(text) + 1))[:n]


def timed(cmd: list[str], stdin: Path | None = None) -> tuple[float, int, bytes]:
    """(wall seconds, peak RSS in MiB, stdout) of one fresh process."""
    with tempfile.TemporaryFile() as out, open(stdin or os.devnull, "rb") as src:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=src, stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            sys.exit(f"{' '.join(cmd)} failed ({proc.returncode})")
        out.seek(0)
        return wall, usage.ru_maxrss // 1024, out.read()


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--venv", type=Path, help="measure this environment instead of installing a fresh one")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument("--name", default="startup")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="arzip-startup-"))
    try:
        venv = args.venv
        if venv is None:
            venv = work / "venv"
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--no-cache-dir", str(ROOT)], check=True)
        arzip = str(venv / "bin" / "arzip")
        inputs = {"empty": b"", "41 B text": zen(41), "1 kB text": zen(1000), "30 kB text": zen(30_000)}
        for name, data in inputs.items():
            (work / name.replace(" ", "-")).write_bytes(data)
        text_1k = work / "1-kB-text"
        photo = ROOT / "examples" / "astronaut.png"
        first_run = timed([arzip, "compress", "-c", str(text_1k)])[0]  # compiles and caches the kernels
        first_photo = timed([arzip, "compress", "-c", str(photo)])[0]  # the image kernels too
        archive_1k = work / "1k.arz"
        archive_1k.write_bytes(timed([arzip, "compress", "-c", str(text_1k)])[2])
        commands = {"arzip --version": [arzip, "--version"], "arzip --help": [arzip, "--help"],
                    "compress 1 kB text": [arzip, "compress", "-c", str(text_1k)],
                    "decompress 1 kB text": [arzip, "decompress", "-c", str(archive_1k)],
                    "compress examples/astronaut.png (512x512, level 5)": [arzip, "compress", "-c", str(photo)]}
        rows = []
        for label, cmd in commands.items():
            runs = [timed(cmd) for _ in range(args.repeat)]
            rows.append({"command": label, "wall_s": statistics.median(r[0] for r in runs),
                         "peak_rss_mib": max(r[1] for r in runs)})
            print(f"{label}: {rows[-1]['wall_s']:.3f} s, {rows[-1]['peak_rss_mib']} MiB", file=sys.stderr)
        sizes = []
        import zstandard
        for name, data in inputs.items():
            blob = timed([arzip, "compress", "-c", str(work / name.replace(" ", "-"))])[2]
            sizes.append({"input": name, "bytes": len(data), "arzip": len(blob), "gzip-9": len(gzip.compress(data, 9)),
                          "zstd-19": len(zstandard.ZstdCompressor(level=19).compress(data))})
        meta = {"date": datetime.date.today().isoformat(), "machine": platform.processor() or platform.machine(),
                "python": platform.python_version(), "fresh_venv": args.venv is None,
                "venv_mib": folder_size(venv) / 2 ** 20, "first_run_s": first_run, "first_photo_s": first_photo,
                "repeat": args.repeat,
                "command": "python bench/startup.py " + " ".join(sys.argv[1:])}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps({"meta": meta, "commands": rows, "sizes": sizes},
                                                           indent=1) + "\n")
    (args.out / f"{args.name}.md").write_text(report(meta, rows, sizes))


def report(meta: dict, rows: list[dict], sizes: list[dict]) -> str:
    lines = [f"# Start-up and small files ({meta['date']}, Python {meta['python']})", "",
             f"`{meta['command']}`", "",
             f"- environment: {'a fresh venv with `pip install .`' if meta['fresh_venv'] else 'an existing venv'}, "
             f"{meta['venv_mib']:.0f} MiB installed",
             f"- first compression after install (compiles and caches the kernels): a 1 kB text "
             f"{meta['first_run_s']:.1f} s, then the example photo {meta['first_photo_s']:.1f} s", "",
             f"Each command as a fresh process, median of {meta['repeat']} runs, largest peak RSS:", "",
             "| command | wall s | peak RSS MiB |", "|---|---|---|"]
    lines += [f"| {r['command']} | {r['wall_s']:.3f} | {r['peak_rss_mib']} |" for r in rows]
    lines += ["", "Archive sizes in bytes (the Zen of Python, cut or repeated to length):", "",
              "| input | bytes | arzip | gzip -9 | zstd -19 |", "|---|---|---|---|---|"]
    lines += [f"| {s['input']} | {s['bytes']} | {s['arzip']} | {s['gzip-9']} | {s['zstd-19']} |" for s in sizes]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
