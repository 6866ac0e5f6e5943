"""Command line: `arzip compress|decompress|test|info|explain|build-kernels|train|train-bytes`, in the
gzip/zstd tradition. The only module that talks to the terminal: the library reports through
return values, callbacks and exceptions, and this module prints them (progress bar included).

Every failure becomes one line on stderr, `arzip: error: ...`, and exit status 1; no traceback
(set ARZIP_DEBUG=1 to see one). An input skipped with a warning, `arzip: warning: ...`, makes the
exit status 2 where nothing failed, as in gzip: a script sees that not every file was done.

Longer than 400 lines: every command lives here, because this is the one module that may print.
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import itertools
import json
import os
import re
import signal
import sys
import traceback
from pathlib import Path

import click

from . import container, files
from .errors import ArzipError
from .files import STDIO
from .image.container import MAX_PIXELS


class _Uninterrupted(importlib.abc.Loader):
    """A module loader whose execution Ctrl-C and SIGTERM wait for: an interrupt in the middle of
    importing the codecs (numpy, numba: the first half second) would leave a module half
    executed, and the next use of it fail with a misleading error. The signal is delivered as
    soon as the import is done, and unwinds from there."""

    def __init__(self, loader: importlib.abc.Loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            self.loader.exec_module(module)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _lazy(name: str):
    """The module `name`, executed on its first attribute access (importlib's LazyLoader): `--help`
    and `--version` answer without importing numpy, numba and the codecs behind the API. A module
    already imported (arzip.cli imported by a program that uses the API) is that module."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    spec.loader = importlib.util.LazyLoader(_Uninterrupted(spec.loader))
    module = sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


api, many = _lazy("arzip.api"), _lazy("arzip.many")
THREADS_HELP = ("threads for an image's stripes side by side and the encoder's large batches (default: "
                "OMP_NUM_THREADS, else the available cores); the output does not depend on it")


COMPILING = "arzip: compiling its kernels for this machine (numba, once: later runs load them from its cache)"
DEVICE_HELP = ("where the image network runs: cpu, cuda (needs torch: arzip[train]) or auto (a CUDA GPU "
               "when torch sees one); same output")


def _setup(threads: int | None, device: str = "cpu", max_pixels: int = MAX_PIXELS,
           max_output: int | None = None) -> None:
    if threads is None:
        env = os.environ.get("OMP_NUM_THREADS", "")
        threads = int(env) if env.isdigit() and int(env) > 0 else api.default_threads()
    api.set_threads(threads)
    api.set_device(device)
    api.set_max_pixels(max_pixels)
    api.set_max_output(max_output)


def _levels(levels: list[int]) -> str:
    if not levels:
        return "none (chosen with --model)"
    if len(levels) == 1:
        return str(levels[0])
    return f"{levels[0]}-{levels[-1]}" if levels == list(range(levels[0], levels[-1] + 1)) else \
        ",".join(map(str, levels))


def _kb(n: int) -> str:
    return f"{n / 1000:.1f} kB"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="arzip", message=(
    f"%(prog)s %(version)s (writes .arz format version {container.FORMAT_VERSION}, reads versions "
    f"{', '.join(map(str, container.READABLE_VERSIONS))})"))
def cli() -> None:
    """arzip: lossless compression of photos and any file with learned, integer-exact models."""


def level_flags(command):
    """-1 .. -9, as in gzip: each sets the compression level."""
    for n in range(9, 0, -1):
        command = click.option(f"-{n}", "level", flag_value=n, type=int, hidden=True)(command)
    return command


class _Size(click.ParamType):
    """A byte count as people write one: 1048576, 512K, 512M, 2G, 1T (powers of 1024, as in the
    sizes of memory and disks a limit is chosen by)."""
    name = "size"
    _SHIFTS = {"": 0, "K": 10, "M": 20, "G": 30, "T": 40}

    def convert(self, value, param, ctx) -> int:
        match = re.fullmatch(r"(\d+)([KMGT]?)", value.strip(), re.IGNORECASE)
        if match is None:
            self.fail(f"{value!r} is not a size (an integer of bytes, or with K, M, G or T: 512M)", param, ctx)
        return int(match[1]) << self._SHIFTS[match[2].upper()]


max_size_option = click.option(
    "--max-size", "max_output", type=_Size(), metavar="SIZE",
    help="refuse an archive whose output is over SIZE bytes (K, M, G, T: powers of 1024, e.g. 512M); "
         "default: no limit")


def _output(file: Path, output: Path | None, stdout: bool, force: bool, binary: bool) -> Path | None:
    """-c and '-' mean stdout; archives are not written to a terminal without -f (as zstd)."""
    if stdout or (output is None and file == STDIO):
        output = STDIO
    if output == STDIO and binary and sys.stdout.isatty() and not force:
        raise ArzipError("refusing to write compressed data to a terminal (use -f to force, or -o FILE)")
    return output


def batch_options(command):
    """What every command working on many files takes."""
    for option in reversed([
            click.option("-q", "--quiet", is_flag=True, help="print nothing but errors"),
            click.option("-v", "--verbose", is_flag=True, help="end with a summary: files, bytes in and out"),
            click.option("-r", "--recursive", is_flag=True, help="work on the files in folders given"),
            click.option("-j", "--jobs", type=click.IntRange(1), default=1, show_default=True,
                         help="worker processes (files in parallel)"),
            click.option("--threads", type=int, help=THREADS_HELP),
            click.option("--max-pixels", type=click.IntRange(1), default=MAX_PIXELS,
                         show_default=True, help="refuse images over this many pixels")]):
        command = option(command)
    return command


def output_options(default: str, source: str, done: str):
    """The inputs and what compress and decompress take about their outputs."""
    def decorate(command):
        for option in reversed([
                click.argument("inputs", metavar="FILES...", nargs=-1, required=True, type=click.Path(path_type=Path)),
                click.option("-o", "--output", type=click.Path(path_type=Path),
                             help=f"output path, for one input (default {default}; '-' is stdout)"),
                click.option("-c", "--stdout", is_flag=True, help="write to stdout (FILE '-' reads stdin)"),
                click.option("-f", "--force", is_flag=True,
                             help="overwrite an existing output; read an input that is a symbolic link"),
                click.option("-k", "--keep", is_flag=True, hidden=True,
                             help=f"keep the {source} (always done without --rm)"),
                click.option("--rm", is_flag=True, help=f"remove each {source} once its {done}")]):
            command = option(command)
        return command
    return decorate


def _summary_line(report: api.Report) -> str:
    change = 100 * (report.target_bytes / report.source_bytes - 1) if report.source_bytes else 0.0
    if report.kind == "image":
        return (f"{report.source}: {report.image_kind} image, {_kb(report.source_bytes)} -> "
                f"{_kb(report.target_bytes)}, {8 * report.target_bytes / report.subpixels:.2f} bpsp (input file "
                f"{8 * report.source_bytes / report.subpixels:.2f} bpsp, {change:+.1f} %); {report.contract}")
    if report.kind == "jpeg":
        return (f"{report.source}: JPEG, {_kb(report.source_bytes)} -> {_kb(report.target_bytes)} ({change:+.1f} %, "
                f"coded through its DCT coefficients); {report.contract}")
    bpb = 8 * report.target_bytes / report.source_bytes if report.source_bytes else 0.0
    return (f"{report.source}: {_kb(report.source_bytes)} -> {_kb(report.target_bytes)}, {bpb:.3f} bits per "
            f"byte ({_methods(report.methods)}); {report.contract}")


class _NoBar:
    """What _run_many uses of a tqdm bar, where none is drawn."""

    def update(self, n: int) -> None:
        pass

    def write(self, line: str, file=None) -> None:
        click.echo(line, err=True)

    def close(self) -> None:
        pass


def _run_many(op: str, inputs: tuple[Path, ...], output: Path | None, stdout: bool, force: bool,
              options: dict, quiet: bool, verbose: bool, recursive: bool, jobs: int, threads: int | None,
              device: str, max_pixels: int, describe, max_output: int | None = None) -> None:
    """Expand the inputs, run one job per file, print each file's line (describe) unless -q and every failure,
    a summary with -v (after Ctrl-C too: many.run reports every file done first); exit 1 if any file failed,
    else 2 if any was skipped with a warning. Links are read with -f, and always by test, which writes
    and removes nothing."""
    paths, warnings, errors = many.expand(list(inputs), op, recursive, force=force or op == "test")
    for warning in warnings:
        click.echo(f"arzip: warning: {warning}", err=True)
    for error in errors:
        click.echo(f"arzip: error: {error}", err=True)
    if not paths:
        raise SystemExit(1 if errors else 2 if warnings else 0)
    if (output is not None or stdout) and len(paths) != 1:
        raise ArzipError(f"-o and -c take exactly one input ({len(paths)} given)")
    target = _output(paths[0], output, stdout, force, binary=op == "compress") if len(paths) == 1 else None
    workers = min(jobs, len(paths))
    _setup(threads if threads or workers == 1 else max(1, api.default_threads() // workers), device, max_pixels,
           max_output)
    from . import native
    if not quiet:
        native.on_first_compile(lambda: click.echo(COMPILING, err=True))
    failures: list[many.Outcome] = []
    outcomes: list[many.Outcome] = []
    if quiet or len(paths) == 1 or not sys.stderr.isatty():
        bar = _NoBar()
    else:
        from tqdm import tqdm  # only for a bar: a one-file command does not pay for its import
        bar = tqdm(total=len(paths), unit="file", file=sys.stderr, leave=False)

    def report(outcome: many.Outcome) -> None:
        outcomes.append(outcome)
        bar.update(1)
        if outcome.error:
            failures.append(outcome)
            bar.write(f"arzip: error: {outcome.error}", file=sys.stderr)
        elif not quiet and describe:
            bar.write(describe(outcome.report), file=sys.stderr)

    try:
        many.run([many.Job(op, path, target, options) for path in paths], workers, report,
                 threads=api.current_threads(), device=device, max_pixels=max_pixels, max_output=max_output)
    finally:  # an interrupt goes on to main() (exit 130 or 143) after the summary of the files done
        bar.close()
        if verbose:
            done = [o.report for o in outcomes if o.report]
            size_in, size_out = sum(r.source_bytes for r in done), sum(r.target_bytes for r in done)
            ratio = f", {size_in / size_out:.3f}:1" if size_out and op == "compress" else ""
            click.echo(f"arzip: {len(done)} file{'s' if len(done) != 1 else ''} {op}ed, {size_in:,} bytes in, "
                       f"{size_out:,} bytes out{ratio}; {len(failures) + len(errors)} failed, {len(warnings)} "
                       "skipped", err=True)
    _build_native_kernels(quiet)
    if failures or errors or warnings:
        raise SystemExit(1 if failures or errors else 2)


def _build_native_kernels(quiet: bool) -> None:
    """Start building this machine's native kernels in the background, once (arzip.native): a
    command that ran on numba's JIT paid about half a second of getting ready, which the native
    module saves every later command."""
    from . import native
    if native.mode() == "native":
        return
    from .native import build
    if build.needs_build():
        log = build.start_in_background()
        if not quiet:
            click.echo("arzip: building native kernels for this machine in the background, at low priority (once, "
                       f"a few minutes; log {log}); later commands start faster", err=True)


@cli.command()
@output_options("FILE.arz", "input", "archive is written, synced and verified")
@click.option("--as", "as_", type=click.Choice(["auto", "bytes", "image", "jpeg"]), default="auto",
              show_default=True,
              help="auto: an image file arzip can rewrite exactly (PNG, netpbm, BMP, TIFF, TGA, QOI, "
                   "lossless WebP) is coded as pixels, a JPEG through its DCT coefficients, anything else as bytes")
@click.option("--device", default="cpu", show_default=True, help=DEVICE_HELP)
@click.option("--model", help="image model name (overrides the level)")
@click.option("--verify", is_flag=True, help="decode each archive written and compare it with the input (--rm "
              "does too); on a mismatch the archive is removed, the input kept, and the exit status is 1")
@click.option("--level", "level", type=click.IntRange(1, 9), help="1 (fastest) .. 9 (smallest); default 5")
@level_flags
@batch_options
def compress(inputs: tuple[Path, ...], output: Path | None, stdout: bool, force: bool, keep: bool, rm: bool,
             as_: str, device: str, model: str | None, verify: bool, level: int | None, quiet: bool, verbose: bool,
             recursive: bool, jobs: int, threads: int | None, max_pixels: int) -> None:
    """Compress each FILE to FILE.arz; inputs are kept (unless --rm). A lossless image (PNG of
    any mode, netpbm, BMP, TIFF, TGA, QOI, lossless WebP) is coded as pixels: its pixels, mode,
    depth, palette and PNG metadata come back exactly, in its own format. A JPEG is coded through
    its DCT coefficients and comes back byte for byte. Any other file is coded as bytes: the
    same bytes come back. -1 .. -9 choose the level."""
    if rm and keep:
        raise ArzipError("--rm and -k contradict each other")
    options = {"force": force, "model": model, "level": level, "as_": as_, "remove_source": rm, "verify": verify}
    _run_many("compress", inputs, output, stdout, force, options, quiet, verbose, recursive, jobs, threads,
              device, max_pixels, _summary_line)


def _methods(methods) -> str:
    if not methods:
        return "empty"
    counts = {m: list(methods).count(m) for m in dict.fromkeys(methods)}
    return ", ".join(f"{n} {m} block{'s' if n > 1 else ''}" for m, n in counts.items())


@cli.command()
@output_options("FILE without .arz", "archive", "output is written and verified")
@click.option("--to", type=click.Choice(["png"]), help="write an image as PNG (default: its own format)")
@click.option("--device", default="cpu", show_default=True, help=DEVICE_HELP)
@max_size_option
@batch_options
def decompress(inputs: tuple[Path, ...], output: Path | None, stdout: bool, force: bool, keep: bool, rm: bool,
               to: str | None, device: str, max_output: int | None, quiet: bool, verbose: bool, recursive: bool,
               jobs: int, threads: int | None, max_pixels: int) -> None:
    """Decompress each FILE.arz to FILE (the original bytes, or the image in its own format);
    refuses to overwrite without -f. `arzip -d` is the same (with other flags too: -dc, -dkf)."""
    if rm and keep:
        raise ArzipError("--rm and -k contradict each other")
    options = {"force": force, "to": to, "remove_source": rm}
    _run_many("decompress", inputs, output, stdout, force, options, quiet, verbose, recursive, jobs, threads,
              device, max_pixels, None, max_output)


@cli.command("test")
@click.argument("inputs", metavar="FILES...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--device", default="cpu", show_default=True, help=DEVICE_HELP)
@max_size_option
@batch_options
def test(inputs: tuple[Path, ...], device: str, max_output: int | None, quiet: bool, verbose: bool,
         recursive: bool, jobs: int, threads: int | None, max_pixels: int) -> None:
    """Decode each archive completely and check it, writing nothing (as gzip -t; `arzip -t` is the same)."""
    _run_many("test", inputs, None, False, False, {}, quiet, verbose, recursive, jobs, threads, device,
              max_pixels, lambda r: f"{r.source}: OK ({r.kind}, {r.target_bytes:,} bytes)", max_output)


@cli.command()
@click.argument("inputs", metavar="FILES...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="print one JSON object a line, one per file (its key "
              "'file' names it)")
def info(inputs: tuple[Path, ...], as_json: bool) -> None:
    """Describe each archive without decoding it (`arzip -l` is the same). One that cannot be
    read is an error line, the others are still described, and the exit status is 1."""
    failed = False
    for file in inputs:
        try:
            summary = api.info(files.read_input(file))
        except ArzipError as e:
            failed = True
            message = str(e)
            click.echo(f"arzip: error: {message if message.startswith(str(file)) else f'{file}: {message}'}",
                       err=True)
            continue
        click.echo(json.dumps({"file": str(file), **summary}) if as_json else _info_text(file, summary))
    if failed:
        raise SystemExit(1)


def _info_text(file: Path, summary: dict) -> str:
    """An archive's description in lines, as `arzip info` prints it."""
    contract = f"  contract   {summary['contract']}"
    if summary["kind"] == "jpeg":
        return (f"{file}: arz JPEG, {summary['original_bytes']} bytes\n{contract}\n"
                f"  method     {summary['method']} (level {summary['level']}), {summary['segments']} segment(s)\n"
                f"  prior      {summary['prior']} (sha256 {summary['prior_sha256']}...)\n"
                f"  parts      coefficients {summary['coefficient_bytes']} bytes, the rest of the file "
                f"{summary['side_bytes']} bytes (from {summary['side_raw_bytes']})\n"
                f"  size       {summary['compressed_bytes']} bytes, {summary['saved_percent']:.2f} % saved\n"
                f"  model NLL  {summary['nll_bits'] / 8:.0f} bytes (coefficients "
                f"{summary['payload_over_nll_percent']:+.3f} % over it)")
    if summary["kind"] == "bytes":
        methods = ", ".join(f"{n} {m}" for m, n in summary["methods"].items()) or "none"
        nll = f"\n  model NLL  {summary['nll_bits_per_byte']:.3f} bits per byte" if "nll_bits" in summary else ""
        return (f"{file}: arz bytes, {summary['original_bytes']} bytes\n{contract}\n"
                f"  model      {summary['model']} (sha256 {summary['model_sha256'][:16]}...)\n"
                f"  blocks     {summary['blocks']} ({methods})\n"
                f"  size       {summary['compressed_bytes']} bytes, {summary['bits_per_byte']:.3f} bits per byte"
                + nll)
    lines = [f"{file}: arz image, {summary['width']}x{summary['height']} {summary['mode']} "
             f"({summary['format']})", contract]
    for part in summary["parts"]:
        model = f"{part['model']} (sha256 {part['model_sha256'][:16]}...)" if part["model_sha256"] else "classical"
        if part["method"] == "model":
            what = f"model {model}"
            how = (f"{part['layout']} layout, log2-scale offsets "
                   f"{' '.join(f'{o:+d}' for o in part['scale_offsets'])} (1/32), levels {_levels(part['levels'])}")
        elif "layout" in part:  # context mixing (full, medium, light) around a network
            what = f"{part['method'].replace('mixing', 'context mixing')} around {model}"
            how = f"{part['layout']} layout, levels {_levels(part['levels'])}"
        elif part["method"] in ("bilevel", "bilevel strong"):
            what, how = "bilevel model", "2-D contexts, mixed" if part["method"] == "bilevel" else "seven 2-D contexts, mixed"
        elif part["method"] == "16-bit gray":
            what, how = "16-bit gray model", "full depth, mixed"
        elif part["method"] == "indices":
            what, how = "index model", "exact 2-D contexts, mixed"
        elif part["method"] == "full depth":
            what, how = "full-depth model", "blended predictors, mixed"
        else:
            what, how = f"{part['method']} {model}", f"{part['transform']} transform"
        lines.append(f"  {part['plane']:<10} {what}, {how}: {part['bytes']} bytes")
    lines.append(f"  size       {summary['compressed_bytes']} bytes ({summary['header_bytes']} header + "
                 f"{summary['payload_bytes']} payload), {summary['bits_per_subpixel']:.3f} bits per subpixel")
    lines.append(f"  model NLL  {summary['nll_bits_per_subpixel']:.3f} bits per subpixel "
                 f"(payload {summary['payload_over_nll_percent']:+.3f} % over it)")
    return "\n".join(lines)


@cli.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), help="heat map PNG (default FILE.bits.png)")
@click.option("-f", "--force", is_flag=True, help="overwrite an existing output")
@click.option("--threads", type=int, help=THREADS_HELP)
@click.option("--model", help="RGB network for an image file, as compress --model (an archive names its own)")
def explain(file: Path, output: Path | None, force: bool, threads: int | None, model: str | None) -> None:
    """Draw FILE (an image of any kind, or the .arz of one) beside a map of the bits its archive spends
    on each pixel, at native size, and print bits per subpixel. An image is compressed first (default level)."""
    from . import explain as explain_mod
    _setup(threads)
    output = output or file.with_name(file.name + ".bits.png")
    data = files.read_input(file)
    files.check_target(file, output, force)
    pic, found = explain_mod.explain_file(data, str(file), file.suffix, model=model)
    summary = f"{file}: {pic.kind} {pic.width}x{pic.height}, {found.describe()}"
    files.write_atomic(output, explain_mod.picture_png(explain_mod.viewable(pic), found, summary), force)
    click.echo(f"{summary}; map in {output}")


@cli.command("build-kernels")
def build_kernels() -> None:
    """Build this machine's native kernels now (arzip.native): later commands start without
    numba. The first command without them starts this in the background by itself; run it in a
    Dockerfile or CI image to have them from the start. Set ARZIP_NATIVE=jit to stay on numba."""
    from .native import build
    if build.build(log=lambda line: click.echo(f"arzip: build-kernels: {line}", err=True)) is None:
        raise SystemExit(1)


@cli.command()
@click.argument("train_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="run folder: checkpoint, float weights and the exact model file")
@click.option("--name", help="model name (default: the run folder's name)")
@click.option("--steps", default=120000, show_default=True)
@click.option("--batch-size", default=4096, show_default=True)
@click.option("--lr", default=2e-3, show_default=True)
@click.option("--hidden", default=128, show_default=True)
@click.option("--head-hidden", default=32, show_default=True)
@click.option("--components", default=4, show_default=True)
@click.option("--context", default="c22", show_default=True,
              help="causal neighbourhood (arzip/image/neighbourhood.py)")
@click.option("--channel-order", default="RGB", show_default=True,
              type=click.Choice(["".join(p) for p in itertools.permutations("RGB")]),
              help="order the channels are coded in")
@click.option("--gray", is_flag=True,
              help="a grayscale model: every crop as luma (three equal channels), the first one coded")
@click.option("--init", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="float weights to start from (e.g. an RGB run's float.safetensors)")
@click.option("--device", default="auto", show_default=True, help="cpu, cuda or auto")
@click.option("--threads", type=int, help="CPU training threads (default: torch's choice)")
@click.option("--seed", default=0, show_default=True)
@click.option("--exact-float64", is_flag=True,
              help="export the hidden layers as exact float64 (finer weights, slower; for wide models)")
def train(train_dir: Path, out_dir: Path, name: str | None, steps: int, batch_size: int, lr: float,
          hidden: int, head_hidden: int, components: int, context: str, channel_order: str, gray: bool,
          init: Path | None, device: str, threads: int | None, seed: int, exact_float64: bool) -> None:
    """Train an image model on the PNGs in TRAIN_DIR (resumes from OUT's checkpoint). Under
    torchrun every process trains on its own pixels and DistributedDataParallel averages the
    gradients: `torchrun --nproc_per_node=N -m arzip.cli train ...`."""
    import torch

    from .image.exact import ModelConfig
    from .image.export import export
    from .image.train import train as run_training
    if threads:
        torch.set_num_threads(threads)
    config = ModelConfig(hidden=hidden, head_hidden=head_hidden, components=components, context=context,
                         channel_order=channel_order, gray=gray)
    run_training(train_dir, out_dir, steps, batch_size, lr, config, device=device, seed=seed, init=init,
                 log=lambda m: click.echo(m, err=True))
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, one process exports
        export(out_dir, name or out_dir.name, exact_float64, log=lambda m: click.echo(m, err=True))


@cli.command("train-bytes")
@click.argument("corpus", type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="run folder: checkpoint, log and the exact model file")
@click.option("--name", help="model name (default: the run folder's name)")
@click.option("--build-corpus", is_flag=True,
              help="first build CORPUS from what this machine can install (arzip/bytes/corpus.py)")
@click.option("--steps", default=80000, show_default=True)
@click.option("--batch-size", default=2048, show_default=True)
@click.option("--lr", default=3e-3, show_default=True)
@click.option("--context", default=16, show_default=True, help="previous bytes the network sees")
@click.option("--embed", default=16, show_default=True)
@click.option("--hidden", default=384, show_default=True)
@click.option("--threads", type=int, help="CPU training threads (default: torch's choice)")
@click.option("--seed", default=0, show_default=True)
def train_bytes(corpus: Path, out_dir: Path, name: str | None, build_corpus: bool, steps: int, batch_size: int,
                lr: float, context: int, embed: int, hidden: int, threads: int | None, seed: int) -> None:
    """Pretrain the byte network on the *.txt files in CORPUS (resumes from OUT's checkpoint)."""
    import torch

    from .bytes.corpus import build
    from .bytes.exact import ByteNetConfig
    from .bytes.export import export
    from .bytes.train import train as run_training
    if threads:
        torch.set_num_threads(threads)
    log = lambda m: click.echo(m, err=True)  # noqa: E731
    if build_corpus:
        for name, sha in build(corpus).items():
            log(f"{name}: {(corpus / name).stat().st_size:,} bytes, sha256 {sha}")
    model = run_training(corpus, out_dir, steps, batch_size, lr, ByteNetConfig(context, embed, hidden), seed, log)
    export(model, corpus, out_dir, name or out_dir.name, log)


class _Terminated(KeyboardInterrupt):
    """SIGTERM: unwinds like Ctrl-C, so temporary files are removed on the way out."""


def _terminate(signum, frame) -> None:
    raise _Terminated


def _interrupt_behind(e: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C or SIGTERM that e was raised while handling, if any: an interrupt in the
    first moments can leave a module half imported or a process pool half started, and what
    then fails is the interrupt's doing, not a bug."""
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, KeyboardInterrupt):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None


def _interrupted(e: BaseException) -> None:
    """Report an interrupt in one line and exit with 128 + the signal."""
    cause = _interrupt_behind(e)
    terminated = isinstance(cause, _Terminated) or isinstance(e.__context__, _Terminated)  # click wraps it
    click.echo(f"arzip: error: {'terminated' if terminated else 'interrupted'}", err=True)
    sys.exit(128 + (signal.SIGTERM if terminated else signal.SIGINT))


_GZIP_MODES = {"d": "decompress", "t": "test", "l": "info"}


def _gzip_args(args: list[str]) -> list[str]:
    """gzip's spellings of the commands: -d (decompress), -t (test) or -l (info), alone or among
    other short flags (-dc, -kdf, -c -d), name the command where the arguments start with a flag.
    A value-taking option's value (-o FILE, -oFILE, --to png) is never read as flags."""
    if not args or not args[0].startswith("-"):
        return args
    takes_value = {opt for name in set(_GZIP_MODES.values()) for p in cli.commands[name].params
                   if isinstance(p, click.Option) and not p.is_flag for opt in p.opts}
    modes, rest, i = [], [], 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            rest += args[i - 1:]
            break
        if arg in takes_value:
            rest += args[i - 1:i + 1]
            i += 1
        elif arg.startswith("-") and arg[1:2] not in ("", "-"):
            letters = arg[1:]
            cut = next((n for n, c in enumerate(letters) if f"-{c}" in takes_value), len(letters))
            modes += [_GZIP_MODES[c] for c in letters[:cut] if c in _GZIP_MODES]
            kept = "".join(c for c in letters[:cut] if c not in _GZIP_MODES) + letters[cut:]
            rest += [f"-{kept}"] if kept else []
            if cut == len(letters) - 1:  # "-co FILE": the next argument is the value
                rest += args[i:i + 1]
                i += 1
        else:
            rest.append(arg)
    if len(set(modes)) > 1:
        raise ArzipError("-d, -t and -l each name a command; give one")
    return [modes[0], *rest] if modes else args


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    try:
        cli.main(args=_gzip_args(sys.argv[1:]), prog_name="arzip", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        click.echo(f"arzip: error: {e.format_message()}", err=True)
        sys.exit(1)
    except ArzipError as e:
        click.echo(f"arzip: error: {e}", err=True)
        sys.exit(1)
    except (KeyboardInterrupt, click.exceptions.Abort) as e:  # shells' convention: 128 + the signal
        _interrupted(e)
    except Exception as e:  # a bug: still one line, details on request
        if _interrupt_behind(e) is not None:  # raised while unwinding from Ctrl-C or SIGTERM
            _interrupted(e)
        if os.environ.get("ARZIP_DEBUG"):
            traceback.print_exc()
        click.echo(f"arzip: error: internal error: {type(e).__name__}: {e}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
