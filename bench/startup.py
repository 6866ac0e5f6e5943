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

    python bench/startup.py --breakdown [--venv DIR] [--repeat 5] [--out bench/results]

writes OUT/startup-breakdown.{md,json}: where a fresh process's first file goes, for each path
(a photo, other kinds of image, bytes) and both directions. Each probe is a fresh process that
times, in turn: importing the command line (click, arzip.cli), importing the codecs behind the
API (numpy, numba and what numba imports, arzip's modules and the tables they build), the
first call (loading the cached numba kernels and the model, then the coding), and the same call
again in the same process (the coding alone). "Getting ready" is the first call less the
second. The interpreter's own start (`python -c pass`) and the command line's whole wall time
(`arzip compress`, fresh process) are measured beside them.
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


# A fresh process's phases, printed as JSON: run as `python -c PROBE OP INPUT OUTPUT`.
PROBE = """
import json, sys, time
t0 = time.perf_counter()
import arzip.cli
t1 = time.perf_counter()
from arzip import api
api.set_threads(api.default_threads())
t2 = time.perf_counter()
op, src, dst = sys.argv[1:4]
run = (lambda: api.compress_file(src, dst, force=True)) if op == "compress" else \\
    (lambda: api.decompress_file(src, dst, force=True))
run()
t3 = time.perf_counter()
run()
t4 = time.perf_counter()
print(json.dumps({"import_cli": t1 - t0, "import_api": t2 - t1, "first_call": t3 - t2, "second_call": t4 - t3,
                  "scipy_imported": "scipy" in sys.modules, "modules": len(sys.modules)}))
"""


def breakdown_inputs(work: Path) -> dict[str, Path]:
    """The probes' inputs: a photo (Kodak's first when ../shared is there, else the bundled
    example), other kinds of image, and a 1 kB text."""
    import numpy as np
    from PIL import Image
    kodak = ROOT.parent / "shared" / "data" / "kodak" / "kodim01.png"
    rng = np.random.default_rng(0)
    made = {"16x16 RGB PNG": Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)),
            "palette PNG 64x64": Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).quantize(16),
            "1-bit PNG 128x128": Image.fromarray(rng.integers(0, 2, (128, 128), dtype=np.uint8) * 255).convert("1"),
            "16-bit gray PNG 64x64": Image.fromarray(rng.integers(0, 65536, (64, 64), dtype=np.uint16))}
    out = {f"photo ({'kodim01' if kodak.exists() else 'examples/astronaut.png'})":
           kodak if kodak.exists() else ROOT / "examples" / "astronaut.png"}
    for name, im in made.items():
        out[name] = work / (name.split()[0] + ".png")
        im.save(out[name])
    out["1 kB text"] = work / "text.txt"
    out["1 kB text"].write_bytes(zen(1000))
    return out


def breakdown(venv: Path, work: Path, repeat: int) -> list[dict]:
    """Medians over `repeat` fresh processes of each phase, per input and direction."""
    python, arzip = str(venv / "bin" / "python"), str(venv / "bin" / "arzip")
    start = statistics.median(timed([python, "-c", "pass"])[0] for _ in range(repeat))
    rows = []
    for name, path in breakdown_inputs(work).items():
        archive, restored = work / "probe.arz", work / ("restored" + path.suffix)
        subprocess.run([arzip, "compress", "-f", "-q", "-o", str(archive), str(path)], check=True)  # compiles once
        for op, src, dst in (("compress", path, archive), ("decompress", archive, restored)):
            probes = [json.loads(timed([python, "-c", PROBE, op, str(src), str(dst)])[2]) for _ in range(repeat)]
            cli = statistics.median(timed([arzip, op, "-f", "-q", "-o", str(dst), str(src)])[0] for _ in range(repeat))
            row = {"input": name, "op": op, "python_start_s": start, "cli_wall_s": cli,
                   **{k: statistics.median(p[k] for p in probes) for k in ("import_cli", "import_api", "first_call",
                                                                           "second_call")},
                   "scipy_imported": probes[0]["scipy_imported"]}
            row["ready_s"] = row["first_call"] - row["second_call"]
            rows.append(row)
            print(f"{name} {op}: cli {cli:.3f} s, import api {row['import_api']:.3f}, ready {row['ready_s']:.3f}, "
                  f"coding {row['second_call']:.3f}", file=sys.stderr)
    return rows


def breakdown_report(rows: list[dict], meta: dict) -> str:
    lines = [f"# Where a fresh process's first file goes ({meta['date']}, Python {meta['python']})", "",
             f"`{meta['command']}`; medians of {meta['repeat']} fresh processes each; {meta['threads']} threads. "
             f"The interpreter itself starts in {rows[0]['python_start_s']:.3f} s. numba imported scipy: "
             f"{'yes' if rows[0]['scipy_imported'] else 'no'}.", "",
             "| input | op | arzip wall s | import CLI | import codecs | getting ready | coding | the rest | "
             "not coding |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        rest = r["cli_wall_s"] - r["import_cli"] - r["import_api"] - r["first_call"]
        lines.append(f"| {r['input']} | {r['op']} | {r['cli_wall_s']:.3f} | {r['import_cli']:.3f} | "
                     f"{r['import_api']:.3f} | {r['ready_s']:.3f} | {r['second_call']:.3f} | {rest:.3f} | "
                     f"{100 * (1 - r['second_call'] / max(r['cli_wall_s'], 1e-9)):.0f} % |")
    lines += ["", "getting ready = the first call in a process less the second (loading the cached numba kernels "
              "and the model, building tables); coding = the second call; the rest = the command's wall time less "
              "the probe's phases (the interpreter's start and exit, the command line's own work)."]
    return "\n".join(lines) + "\n"


def fresh_venv(work: Path) -> Path:
    """A new virtual environment in work with arzip installed as a user gets it (no extras)."""
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--no-cache-dir", str(ROOT)], check=True)
    return venv


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--venv", type=Path, help="measure this environment instead of installing a fresh one")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument("--name", default="startup")
    ap.add_argument("--breakdown", action="store_true", help="where the first file's time goes, per path")
    args = ap.parse_args()
    if args.breakdown:
        return main_breakdown(args)

    work = Path(tempfile.mkdtemp(prefix="arzip-startup-"))
    try:
        venv = args.venv or fresh_venv(work)
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


def main_breakdown(args) -> None:
    """The --breakdown run (in --venv, or a fresh one)."""
    work = Path(tempfile.mkdtemp(prefix="arzip-startup-"))
    try:
        venv = args.venv or fresh_venv(work)
        rows = breakdown(venv, work, args.repeat)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    meta = {"date": datetime.date.today().isoformat(), "python": platform.python_version(), "repeat": args.repeat,
            "threads": os.cpu_count(), "command": "python bench/startup.py " + " ".join(sys.argv[1:])}
    write_breakdown(args.out, meta, rows)


def write_breakdown(out: Path, meta: dict, rows: list[dict]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "startup-breakdown.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    (out / "startup-breakdown.md").write_text(breakdown_report(rows, meta))


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
