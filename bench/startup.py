"""What arzip costs before it codes anything: install size, start-up time and memory, and the
bytes a small archive spends beyond its data, measured in a fresh virtual environment.

Why: a compressor that takes a second and 760 MiB to compress a 41-byte text, or a gigabyte of
install, is not one people reach for. The targets: `arzip --help` and `--version` within 0.2 s,
compressing a 1 kB text within 0.5 s and 150 MiB, small byte archives within about 20 bytes of
overhead, and a fresh install well under half of the 1.2 GB it once took.

How: `python -m venv` and `pip install <this checkout>` (no extras: what a user gets) into a
temporary folder, whose size is then measured (pip's own cache excluded). Two compressions on
numba's JIT compile and cache its kernels (their times are reported as the first runs after
install), `arzip build-kernels` builds the native module (in a cache folder of the run's own,
ARZIP_CACHE_DIR), and then each command runs REPEAT times as a fresh process on it; the table
gives the median wall time and the largest peak RSS (os.wait4). Sizes are of arzip's archives against
gzip -9 and zstd -19 on the same inputs; the text is the Zen of Python (stable, and text-like),
cut or repeated to length.

    python bench/startup.py [--venv DIR] [--repeat 5] [--out bench/results] [--name startup]

writes OUT/NAME.md and OUT/NAME.json (with --venv, an existing environment is measured instead
of a fresh one).

    python bench/startup.py --breakdown [--jit] [--venv DIR] [--repeat 5] [--out bench/results]

writes OUT/startup-breakdown.{md,json} (with --jit, on numba's JIT: startup-breakdown-jit): where
a fresh process's first file goes, for each path (a photo, other kinds of image, bytes) and both
directions. Each probe is a fresh process that times, in turn: importing the command line
(click, arzip.cli), importing the codecs behind the API (numpy, arzip's modules and the tables
they build, the native module; on the JIT numba and what it imports), the first call (loading
the model and, on the JIT, the cached kernels, then the coding), and the same call
again in the same process (the coding alone). "Getting ready" is the first call less the
second. The interpreter's own start (`python -c pass`) and the command line's whole wall time
(`arzip compress`, fresh process) are measured beside them.

    python bench/startup.py --acceptance [--repeat 5] [--out bench/results]

writes OUT/startup-acceptance.{md,json}: issue 26's acceptance items. In a fresh venv, with
ARZIP_CACHE_DIR a new empty folder: the README's first command (`arzip compress` of the
512x512 example) as the venv's very first, its wall time and what it says on stderr, the first
decompression, and how long the native build it starts in the background takes. Then, medians of
REPEAT fresh processes, `arzip compress` and `arzip decompress` of a 16x16 RGB PNG, a 1 kB text
and a photo, in the fresh venv (no scipy) and in the project's venv (.venv, with scipy), each on
its native module and on numba's JIT (ARZIP_NATIVE=jit, its cache warmed by one untimed run);
whether each imports numba and scipy; the photo's command line time against the same work (file
to file: api.compress_file, api.decompress_file) in a process that has already done it once;
and whether native and JIT write the same archives.
Every process runs in a temporary folder, so that `python -c` and `python -m` import the
installed arzip, not the checkout's.

In every mode the measured processes run as a user's shell runs them: without
PYTHONDONTWRITEBYTECODE (which this project's sandbox sets, and which made an editable checkout
recompile every module in every process), with the arzip they import compiled to bytecode first.
"""
from __future__ import annotations

import argparse
import codecs
import contextlib
import datetime
import gzip
import hashlib
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
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def user_env(**extra: str) -> dict[str, str]:
    """This environment as a user's shell has it: no ARZIP_ settings of ours, and Python free to
    write and read its bytecode caches. With PYTHONDONTWRITEBYTECODE set (as some sandboxes and CI
    images set it), an editable checkout recompiles every arzip module from source in every process
    (about 0.1 s a command here), a cost no installed or ordinarily used copy pays."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARZIP_") and k != "PYTHONDONTWRITEBYTECODE"}
    return env | extra


def compile_bytecode(venv: Path) -> None:
    """Write the __pycache__ of the arzip that venv imports, as its first ordinary import would
    (pip does it at install time; an editable install on first use)."""
    subprocess.run([str(venv / "bin" / "python"), "-c", "import arzip, compileall, os; "
                    "compileall.compile_dir(os.path.dirname(arzip.__file__), quiet=1)"],
                   env=user_env(), cwd=tempfile.gettempdir(), check=True)


def zen(n: int) -> bytes:
    with contextlib.redirect_stdout(io.StringIO()):  # importing `this` prints the Zen
        import this
    text = codecs.decode(this.s, "rot13").encode()
    return (text * (n // len(text) + 1))[:n]


def timed(cmd: list[str], stdin: Path | None = None, env: dict[str, str] | None = None,
          cwd: Path | None = None) -> tuple[float, int, bytes]:
    """(wall seconds, peak RSS in MiB, stdout) of one fresh process (in env and cwd where given)."""
    with tempfile.TemporaryFile() as out, open(stdin or os.devnull, "rb") as src:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=src, stdout=out, stderr=subprocess.DEVNULL, env=env, cwd=cwd)
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
                  "scipy_imported": "scipy" in sys.modules, "numba_imported": "numba" in sys.modules,
                  "modules": len(sys.modules)}))
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


def breakdown(venv: Path, work: Path, repeat: int, jit: bool) -> list[dict]:
    """Medians over `repeat` fresh processes of each phase, per input and direction, on the
    native module (built first, in a cache of this run's own) or on numba's JIT."""
    python, arzip = str(venv / "bin" / "python"), str(venv / "bin" / "arzip")
    env = user_env(ARZIP_CACHE_DIR=str(work / "cache"), **({"ARZIP_NATIVE": "jit"} if jit else {}))
    compile_bytecode(venv)
    if not jit:
        subprocess.run([arzip, "build-kernels"], env=env, cwd=work, check=True, stderr=subprocess.DEVNULL)
    start = statistics.median(timed([python, "-c", "pass"], cwd=work)[0] for _ in range(repeat))
    rows = []
    for name, path in breakdown_inputs(work).items():
        archive, restored = work / "probe.arz", work / ("restored" + path.suffix)
        subprocess.run([arzip, "compress", "-f", "-q", "-o", str(archive), str(path)], check=True, env=env,
                       cwd=work)  # on the JIT: compiles once
        for op, src, dst in (("compress", path, archive), ("decompress", archive, restored)):
            probes = [json.loads(timed([python, "-c", PROBE, op, str(src), str(dst)], env=env, cwd=work)[2])
                      for _ in range(repeat)]
            cli = statistics.median(timed([arzip, op, "-f", "-q", "-o", str(dst), str(src)], env=env, cwd=work)[0]
                                    for _ in range(repeat))
            row = {"input": name, "op": op, "python_start_s": start, "cli_wall_s": cli,
                   **{k: statistics.median(p[k] for p in probes) for k in ("import_cli", "import_api", "first_call",
                                                                           "second_call")},
                   "scipy_imported": probes[0]["scipy_imported"], "numba_imported": probes[0]["numba_imported"]}
            row["ready_s"] = row["first_call"] - row["second_call"]
            rows.append(row)
            print(f"{name} {op}: cli {cli:.3f} s, import api {row['import_api']:.3f}, ready {row['ready_s']:.3f}, "
                  f"coding {row['second_call']:.3f}", file=sys.stderr)
    return rows


def breakdown_report(rows: list[dict], meta: dict) -> str:
    lines = [f"# Where a fresh process's first file goes ({meta['date']}, Python {meta['python']})", "",
             f"`{meta['command']}`; medians of {meta['repeat']} fresh processes each; {meta['threads']} threads. "
             f"Kernels: {meta['kernels']}. The interpreter itself starts in {rows[0]['python_start_s']:.3f} s. "
             f"numba imported: {'yes' if rows[0]['numba_imported'] else 'no'}; scipy imported: "
             f"{'yes' if rows[0]['scipy_imported'] else 'no'}.", "",
             "| input | op | arzip wall s | import CLI | import codecs | getting ready | coding | the rest | "
             "not coding |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        rest = r["cli_wall_s"] - r["import_cli"] - r["import_api"] - r["first_call"]
        lines.append(f"| {r['input']} | {r['op']} | {r['cli_wall_s']:.3f} | {r['import_cli']:.3f} | "
                     f"{r['import_api']:.3f} | {r['ready_s']:.3f} | {r['second_call']:.3f} | {rest:.3f} | "
                     f"{100 * (1 - r['second_call'] / max(r['cli_wall_s'], 1e-9)):.0f} % |")
    lines += ["", "getting ready = the first call in a process less the second (loading the model and, on the JIT, "
              "the cached numba kernels; building tables); coding = the second call; the rest = the command's wall time less "
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
    ap.add_argument("--acceptance", action="store_true", help="issue 26's acceptance items (native kernels)")
    ap.add_argument("--jit", action="store_true", help="--breakdown on numba's JIT instead of the native module")
    args = ap.parse_args()
    if args.breakdown:
        return main_breakdown(args)
    if args.acceptance:
        return main_acceptance(args)

    work = Path(tempfile.mkdtemp(prefix="arzip-startup-"))
    try:
        venv = args.venv or fresh_venv(work)
        arzip = str(venv / "bin" / "arzip")
        inputs = {"empty": b"", "41 B text": zen(41), "1 kB text": zen(1000), "30 kB text": zen(30_000)}
        for name, data in inputs.items():
            (work / name.replace(" ", "-")).write_bytes(data)
        text_1k = work / "1-kB-text"
        photo = ROOT / "examples" / "astronaut.png"
        env = user_env(ARZIP_CACHE_DIR=str(work / "cache"))  # this run's native module only
        compile_bytecode(venv)
        jit = {**env, "ARZIP_NATIVE": "jit"}  # the first runs compile on the JIT, starting no build
        first_run = timed([arzip, "compress", "-c", str(text_1k)], env=jit, cwd=work)[0]
        first_photo = timed([arzip, "compress", "-c", str(photo)], env=jit, cwd=work)[0]
        t0 = time.perf_counter()
        subprocess.run([arzip, "build-kernels"], env=env, cwd=work, check=True, stderr=subprocess.DEVNULL)
        build_s = time.perf_counter() - t0
        archive_1k = work / "1k.arz"
        archive_1k.write_bytes(timed([arzip, "compress", "-c", str(text_1k)], env=env, cwd=work)[2])
        commands = {"arzip --version": [arzip, "--version"], "arzip --help": [arzip, "--help"],
                    "compress 1 kB text": [arzip, "compress", "-c", str(text_1k)],
                    "decompress 1 kB text": [arzip, "decompress", "-c", str(archive_1k)],
                    "compress examples/astronaut.png (512x512, level 5)": [arzip, "compress", "-c", str(photo)]}
        rows = []
        for label, cmd in commands.items():
            runs = [timed(cmd, env=env, cwd=work) for _ in range(args.repeat)]
            rows.append({"command": label, "wall_s": statistics.median(r[0] for r in runs),
                         "peak_rss_mib": max(r[1] for r in runs)})
            print(f"{label}: {rows[-1]['wall_s']:.3f} s, {rows[-1]['peak_rss_mib']} MiB", file=sys.stderr)
        sizes = []
        import zstandard
        for name, data in inputs.items():
            blob = timed([arzip, "compress", "-c", str(work / name.replace(" ", "-"))], env=env, cwd=work)[2]
            sizes.append({"input": name, "bytes": len(data), "arzip": len(blob), "gzip-9": len(gzip.compress(data, 9)),
                          "zstd-19": len(zstandard.ZstdCompressor(level=19).compress(data))})
        meta = {"date": datetime.date.today().isoformat(), "machine": platform.processor() or platform.machine(),
                "python": platform.python_version(), "fresh_venv": args.venv is None,
                "venv_mib": folder_size(venv) / 2 ** 20, "first_run_s": first_run, "first_photo_s": first_photo,
                "native_build_s": build_s,
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
        rows = breakdown(venv, work, args.repeat, args.jit)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    meta = {"date": datetime.date.today().isoformat(), "python": platform.python_version(), "repeat": args.repeat,
            "threads": os.cpu_count(), "command": "python bench/startup.py " + " ".join(sys.argv[1:]),
            "kernels": "numba's JIT (ARZIP_NATIVE=jit)" if args.jit else "the native module (arzip build-kernels)"}
    write_breakdown(args.out, meta, rows, "startup-breakdown-jit" if args.jit else "startup-breakdown")


def write_breakdown(out: Path, meta: dict, rows: list[dict], name: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    (out / f"{name}.md").write_text(breakdown_report(rows, meta))


def report(meta: dict, rows: list[dict], sizes: list[dict]) -> str:
    lines = [f"# Start-up and small files ({meta['date']}, Python {meta['python']})", "",
             f"`{meta['command']}`", "",
             f"- environment: {'a fresh venv with `pip install .`' if meta['fresh_venv'] else 'an existing venv'}, "
             f"{meta['venv_mib']:.0f} MiB installed",
             f"- first compression after install, on numba's JIT (compiles and caches the kernels): a 1 kB text "
             f"{meta['first_run_s']:.1f} s, then the example photo {meta['first_photo_s']:.1f} s",
             f"- `arzip build-kernels` (this machine's native module, which the CLI otherwise starts in the "
             f"background): {meta['native_build_s']:.0f} s", "",
             f"Each command as a fresh process on the native module, median of {meta['repeat']} runs, largest peak "
             "RSS:", "",
             "| command | wall s | peak RSS MiB |", "|---|---|---|"]
    lines += [f"| {r['command']} | {r['wall_s']:.3f} | {r['peak_rss_mib']} |" for r in rows]
    lines += ["", "Archive sizes in bytes (the Zen of Python, cut or repeated to length):", "",
              "| input | bytes | arzip | gzip -9 | zstd -19 |", "|---|---|---|---|---|"]
    lines += [f"| {s['input']} | {s['bytes']} | {s['arzip']} | {s['gzip-9']} | {s['zstd-19']} |" for s in sizes]
    return "\n".join(lines) + "\n"


# The acceptance run (--acceptance): issue 26's items, the native module against numba's JIT.

BUILD_TIMEOUT_S = 15 * 60
SMALL_TARGET_S = 0.35  # a 16x16 PNG or a 1 kB text, compressed or decompressed, as a fresh process
RATIO_TARGET = 1.3  # the photo's command line wall time against the same work in a ready process

# What a process of a setting imports, after one round trip of each input: `python -c IMPORTS INPUT...`.
IMPORTS = """
import json, sys
import arzip
for path in sys.argv[1:]:
    arzip.decompress(arzip.compress(open(path, "rb").read()))
from arzip import native
print(json.dumps({"mode": native.mode(), "numba": "numba" in sys.modules, "scipy": "scipy" in sys.modules,
                  "missed": sorted(native.missed)}))
"""

# The same work as the command line in a process that has loaded everything: `python -c IN_PROCESS INPUT`.
# The command's own work, file to file (what `arzip compress` / `decompress` call), the second
# time in a process: `python -c IN_PROCESS PHOTO ARCHIVE RESTORED`.
IN_PROCESS = """
import json, sys
import time
from arzip import api
photo, archive, restored = sys.argv[1:4]
api.set_threads(api.default_threads())
api.decompress_file(api.compress_file(photo, archive, force=True).target, restored, force=True)
t0 = time.perf_counter()
api.compress_file(photo, archive, force=True)
t1 = time.perf_counter()
api.decompress_file(archive, restored, force=True)
t2 = time.perf_counter()
print(json.dumps({"compress": t1 - t0, "decompress": t2 - t1}))
"""


@dataclass
class Setting:
    """An environment and mode the commands run in: label (the report's column), name (a folder)."""
    label: str
    name: str
    venv: Path
    mode: str  # "native" or "jit" (ARZIP_NATIVE=jit)
    env: dict[str, str]


def machine() -> str:
    if platform.processor():
        return platform.processor()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.machine()


def run_logged(cmd: list[str], env: dict[str, str], cwd: Path) -> dict:
    """Wall seconds, exit status and stderr lines of one process run in cwd (written <tmp>, and the
    checkout's paths relative to it, in the command and its output)."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, cwd=cwd)
    seconds = time.perf_counter() - t0

    def short(text: str) -> str:
        return text.replace(str(cwd), "<tmp>").replace(f"{ROOT}/", "")
    return {"command": short(" ".join(cmd)), "seconds": seconds, "returncode": proc.returncode,
            "stderr": short(proc.stderr).splitlines()}


def first_command(venv: Path, env: dict[str, str], work: Path) -> tuple[dict, float]:
    """The README's first command as the venv's first, then the first decompression of its archive;
    and when the first command exited (time.perf_counter)."""
    arzip, example = str(venv / "bin" / "arzip"), str(ROOT / "examples" / "astronaut.png")
    archive = work / "astronaut.arz"
    compress = run_logged([arzip, "compress", "-f", "-o", str(archive), example], env, work)
    ended = time.perf_counter()
    decompress = run_logged([arzip, "decompress", "-f", "-o", str(work / "astronaut.png"), str(archive)], env, work)
    for label, step in (("first compress", compress), ("first decompress", decompress)):
        print(f"{label}: {step['seconds']:.1f} s, exit {step['returncode']}", file=sys.stderr)
    if compress["returncode"]:
        sys.exit("the first command failed:\n" + "\n".join(compress["stderr"][-15:]))
    return {"compress": compress, "decompress": decompress}, ended


def wait_for_build(cache: Path, since: float) -> dict:
    """Poll cache/native until the background build ends: its module folder appears (named by its
    key, no dot), a <key>.failed appears, or the build.lock goes without a folder; seconds since
    `since` (the first command's exit) and the tail of build.log."""
    native = cache / "native"
    seen_lock = False
    while True:
        entries = list(native.iterdir()) if native.is_dir() else []
        modules = [p.name for p in entries if p.is_dir() and "." not in p.name]
        failed = [p.name for p in entries if p.name.endswith(".failed")]
        locks = [p.name for p in entries if p.name.endswith(".lock")]
        seen_lock = seen_lock or bool(locks)
        elapsed = time.perf_counter() - since
        if modules or failed or (not locks and (seen_lock or elapsed > 60)) or elapsed > BUILD_TIMEOUT_S:
            break
        time.sleep(1)
    status = ("built" if modules else f"failed ({failed[0]})" if failed else "timed out" if locks
              else "no module after the lock went" if seen_lock else "never started (no lock within 60 s)")
    log = native / "build.log"
    tail = log.read_text(errors="replace").splitlines()[-12:] if log.exists() else []
    print(f"background build: {status} after {elapsed:.0f} s", file=sys.stderr)
    return {"status": status, "seconds": elapsed, "module": modules[0] if modules else None, "log_tail": tail}


def build_module(venv: Path, env: dict[str, str], work: Path) -> dict:
    """`python -m arzip.native.build` in venv (returns at once where the module exists)."""
    step = run_logged([str(venv / "bin" / "python"), "-m", "arzip.native.build"], env, work)
    step["stderr"] = step["stderr"][-15:]
    print(f"native build in {venv}: exit {step['returncode']} after {step['seconds']:.0f} s", file=sys.stderr)
    return step


def imports(s: Setting, inputs: list[Path], work: Path) -> dict:
    """The mode, whether numba and scipy got imported, and the calls left to numba, in one process
    that round-trips every input."""
    return json.loads(timed([str(s.venv / "bin" / "python"), "-c", IMPORTS, *map(str, inputs)], env=s.env,
                            cwd=work)[2])


def cli_times(s: Setting, inputs: dict[str, Path], work: Path, repeat: int) -> dict[str, dict[str, float]]:
    """Medians of `repeat` fresh processes of `arzip compress` and `arzip decompress`, per input,
    after one untimed run of each (numba's cache warm); the archives stay in work/<setting name>."""
    arzip = str(s.venv / "bin" / "arzip")
    folder = work / s.name
    folder.mkdir()
    times = {}
    for name, path in inputs.items():
        archive, restored = folder / f"{path.stem}.arz", folder / f"restored-{path.name}"
        commands = {"compress": [arzip, "compress", "-f", "-q", "-o", str(archive), str(path)],
                    "decompress": [arzip, "decompress", "-f", "-q", "-o", str(restored), str(archive)]}
        for cmd in commands.values():
            timed(cmd, env=s.env, cwd=work)
        times[name] = {op: statistics.median(timed(cmd, env=s.env, cwd=work)[0] for _ in range(repeat))
                       for op, cmd in commands.items()}
        print(f"{s.label}, {name}: " + ", ".join(f"{op} {t:.3f} s" for op, t in times[name].items()),
              file=sys.stderr)
    return times


def in_process(s: Setting, photo: Path, work: Path, repeat: int) -> dict[str, float]:
    """Medians of `repeat` fresh processes of the photo's compress and decompress, file to file as
    the command does them, each timed the second time in its process."""
    files = [str(photo), str(work / f"{s.name}-in-process.arz"), str(work / f"{s.name}-in-process{photo.suffix}")]
    runs = [json.loads(timed([str(s.venv / "bin" / "python"), "-c", IN_PROCESS, *files], env=s.env,
                             cwd=work)[2]) for _ in range(repeat)]
    return {op: statistics.median(r[op] for r in runs) for op in ("compress", "decompress")}


def archive_digests(settings: list[Setting], inputs: dict[str, Path], work: Path) -> dict[str, dict[str, str]]:
    """Per input, each setting's archive's SHA-256 (its first 16 digits)."""
    return {name: {s.label: hashlib.sha256((work / s.name / f"{path.stem}.arz").read_bytes()).hexdigest()[:16]
                   for s in settings} for name, path in inputs.items()}


def main_acceptance(args) -> None:
    """The --acceptance run: a fresh venv and cache folder, then the project's venv beside it."""
    work = Path(tempfile.mkdtemp(prefix="arzip-acceptance-"))
    out = args.out.resolve()
    try:
        cache = work / "cache"
        base = user_env(ARZIP_CACHE_DIR=str(cache))
        jit = base | {"ARZIP_NATIVE": "jit"}
        venv = fresh_venv(work)
        first, first_ended = first_command(venv, base, work)
        build = wait_for_build(cache, first_ended)
        if build["module"] is None:
            build["rerun"] = build_module(venv, base, work)
        dev = ROOT / ".venv"
        compile_bytecode(dev)
        dev_build = build_module(dev, base, work)
        settings = [Setting("fresh venv native", "fresh-native", venv, "native", base),
                    Setting("fresh venv jit", "fresh-jit", venv, "jit", jit),
                    Setting("dev venv (scipy) native", "dev-native", dev, "native", base),
                    Setting("dev venv (scipy) jit", "dev-jit", dev, "jit", jit)]
        chosen = breakdown_inputs(work)
        inputs = {name: path for name, path in chosen.items() if name.startswith(("photo", "16x16", "1 kB"))}
        photo_name = next(name for name in inputs if name.startswith("photo"))
        modules = {s.label: imports(s, list(inputs.values()), work) for s in settings}
        # a native setting without its module would measure the JIT under the wrong label
        measured = [s for s in settings if modules[s.label]["mode"] == s.mode]
        times = {s.label: cli_times(s, inputs, work, args.repeat) for s in measured}
        ready = {s.label: in_process(s, inputs[photo_name], work, args.repeat) for s in measured if s.mode == "native"}
        digests = archive_digests(measured, inputs, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    meta = {"date": datetime.date.today().isoformat(), "python": platform.python_version(), "machine": machine(),
            "repeat": args.repeat, "command": "python bench/startup.py " + " ".join(sys.argv[1:]),
            "photo": photo_name, "settings": [s.label for s in settings], "cores": os.cpu_count(),
            "load_average_at_end": os.getloadavg()}  # 1, 5 and 15 minutes: other work beside the run
    rows = [{"input": name, "op": op, "target_s": None if name == photo_name else SMALL_TARGET_S,
             **{label: t[name][op] for label, t in times.items()}} for name in inputs for op in ("compress", "decompress")]
    ratios = {label: {op: times[label][photo_name][op] / r[op] for op in r} for label, r in ready.items()}
    result = {"meta": meta, "first_command": first, "background_build": build, "dev_venv_build": dev_build,
              "rows": rows, "in_process": ready, "cli_over_in_process": ratios, "imports": modules,
              "archive_sha256": digests}
    out.mkdir(parents=True, exist_ok=True)
    (out / "startup-acceptance.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "startup-acceptance.md").write_text(acceptance_report(result))


def acceptance_report(r: dict) -> str:
    meta, first, build = r["meta"], r["first_command"], r["background_build"]
    lines = [f"# Issue 26 acceptance: native kernels ({meta['date']}, Python {meta['python']}, {meta['machine']})", "",
             f"`{meta['command']}`; load average at the end (1, 5, 15 min): "
             f"{', '.join(f'{x:.2f}' for x in meta['load_average_at_end'])} on {meta['cores']} cores", "",
             "## First command in a fresh venv", "",
             f"`pip install` of the checkout (no extras, no scipy), ARZIP_CACHE_DIR a new empty folder, then "
             f"`{first['compress']['command']}`: {first['compress']['seconds']:.2f} s, exit "
             f"{first['compress']['returncode']}; its stderr:", ""]
    lines += [f"> {line}" for line in first["compress"]["stderr"]] or ["> (nothing)"]
    lines += ["", f"- first decompression: {first['decompress']['seconds']:.2f} s, exit "
                  f"{first['decompress']['returncode']} (the background build running beside it)",
              f"- background native build: {build['status']}, {build['seconds']:.0f} s after the first command "
              "exited; the end of build.log:", ""]
    lines += [f"    {line}" for line in build["log_tail"]]
    if "rerun" in build:
        lines += ["", f"`python -m arzip.native.build` run again in the venv: exit {build['rerun']['returncode']}, "
                      f"{build['rerun']['seconds']:.0f} s; its stderr ends:", ""]
        lines += [f"    {line}" for line in build["rerun"]["stderr"]]
    dev = r["dev_venv_build"]
    lines += ["", f"The dev venv's module (`python -m arzip.native.build`, same cache folder): exit "
                  f"{dev['returncode']}, {dev['seconds']:.0f} s.", "",
              f"## Fresh processes: median wall seconds of {meta['repeat']}", "",
              "| input | op | " + " | ".join(meta["settings"]) + " | target |",
              "|---|---|" + "---|" * len(meta["settings"]) + "---|"]
    for row in r["rows"]:
        cells = [f"{row[label]:.3f}" if label in row else "not measured" for label in meta["settings"]]
        target = f"≤ {row['target_s']} s" if row["target_s"] else "—"
        lines.append(f"| {row['input']} | {row['op']} | " + " | ".join(cells) + f" | {target} |")
    lines += ["", "jit: ARZIP_NATIVE=jit, numba's cache warmed by one untimed run of each command. A native setting "
                  "whose process did not load its module is not measured. Every process runs without "
                  "PYTHONDONTWRITEBYTECODE, its arzip compiled to bytecode first (as pip and a first import do).", "",
              f"## {meta['photo']}: command line against a ready process (target ≤ {RATIO_TARGET})", "",
              "The same work in a ready process: `api.compress_file` / `api.decompress_file`, the second time in a "
              "fresh process, medians.", "",
              "| setting | op | arzip command s | in a ready process s | ratio |", "|---|---|---|---|---|"]
    for label, ratios in r["cli_over_in_process"].items():
        for op, ratio in ratios.items():
            cli = next(row[label] for row in r["rows"] if row["input"] == meta["photo"] and row["op"] == op)
            lines.append(f"| {label} | {op} | {cli:.3f} | {r['in_process'][label][op]:.3f} | {ratio:.2f} |")
    lines += ["", "## What each setting imports", "",
              "One process per setting round-tripping the three inputs with `arzip.compress` / `arzip.decompress`:", "",
              "| setting | mode | numba imported | scipy imported | calls left to numba |", "|---|---|---|---|---|"]
    for label, m in r["imports"].items():
        lines.append(f"| {label} | {m['mode']} | {'yes' if m['numba'] else 'no'} | {'yes' if m['scipy'] else 'no'} | "
                     f"{', '.join(m['missed']) or 'none'} |")
    lines += ["", "## Archives, native against jit", ""]
    for name, digests in r["archive_sha256"].items():
        same = len(set(digests.values())) == 1
        lines.append(f"- {name}: " + (f"byte-identical in the {len(digests)} measured settings" if same else
                                      "differ: " + ", ".join(f"{label} {d}" for label, d in digests.items())))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
