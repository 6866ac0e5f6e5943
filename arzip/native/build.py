"""Building this machine's native module: `arzip build-kernels` (the CLI starts it once, in the
background, at low priority, the first time it runs without one).

1. Run a workload in this process with numba's JIT: every kind of image at every level and the
   byte path, compressed and decompressed, so that each kernel is compiled for each argument
   types the coders pass it.
2. Export every compiled signature of every kernel with numba's ahead-of-time compiler
   (numba.pycc) into one extension module, compiled for this processor, whose Python wrappers
   release the interpreter lock as the JIT kernels do (nogil).
3. Run the same workload in a fresh process on the module and compare every archive and every
   decoded byte with step 1's; only a module that gives the same bits is moved into place.

Kernels with options other than the defaults (error_model, fastmath), and inlined helpers, are
left to the kernels that call them: the module compiles them into their callers with their own
options, as the JIT does. numba.pycc is pending deprecation in numba; where it is missing or
fails, the build fails, says why in its log, and arzip goes on with numba's JIT.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .. import native
from . import store

LOCK_STALE_S = 3600  # a build lock older than this was left by a build that died
LOCK_NAME = "build.lock"  # one build at a time per cache, whatever the sources: a checkout edited
                          # between commands starts the next build only when the last is done
PLAIN_OPTIONS = {"cache", "nogil", "nopython", "boundscheck"}


def workload() -> str:
    """Compress and decompress one small input of every kind and level; the digest of every
    archive and decoded output."""
    from PIL import Image
    import io

    from .. import api
    digest = hashlib.sha256()

    def round_trip(blob: bytes) -> None:
        digest.update(blob)
        digest.update(api.decompress(blob))

    rng = np.random.default_rng(1)

    def photo_like(height: int, width: int) -> np.ndarray:
        y, x = np.mgrid[0:height, 0:width]
        smooth = y * 3 + x * 2 + rng.integers(0, 12, y.shape)
        return np.stack([smooth % 256, (smooth * 2 + 40) % 256, (255 - smooth) % 256], -1).astype(np.uint8)

    rgb = photo_like(48, 40)
    gray = rgb[..., 0].copy()
    smooth = rgb[..., 0].astype(np.int64) * 13
    for level in range(1, 10):
        round_trip(api.compress_image(rgb, level=level))
        round_trip(api.compress_image(gray, level=level))
    large = photo_like(200, 240)  # waves of many pixels: the decoder's views of its buffers are strided
    for level in (1, None, 9):
        round_trip(api.compress_image(large, level=level))
        round_trip(api.compress_image(large[..., 1].copy(), level=level))
    round_trip(api.compress_image(np.dstack([rgb, gray])))
    round_trip(api.compress_image(np.dstack([gray, 255 - gray])))
    round_trip(api.compress_image((smooth * 257 % 65536).astype(np.uint16)))
    round_trip(api.compress_image(np.stack([smooth * 251 % 65536] * 3, -1).astype(np.uint16)))
    for mode in ("P", "1"):
        out = io.BytesIO()
        Image.fromarray(rgb).convert(mode).save(out, format="PNG")
        round_trip(api.compress(out.getvalue()))
    for options in ({"quality": 85}, {"quality": 90, "progressive": True, "subsampling": 0},
                    {"quality": 80, "restart_marker_blocks": 3}):  # JPEGs: baseline, progressive, restarts
        out = io.BytesIO()
        Image.fromarray(large).save(out, format="JPEG", **options)
        for level in (None, 9):
            round_trip(api.compress(out.getvalue(), level=level))
    out = io.BytesIO()
    Image.fromarray(gray).save(out, format="JPEG", quality=75)
    round_trip(api.compress(out.getvalue()[:-300]))  # gray, truncated
    text = b"".join(b"line %d of a small log: value=%d status=ok\n" % (i, i * i % 97) for i in range(300))
    round_trip(api.compress(text))
    round_trip(api.compress(rng.integers(0, 256, 3000, dtype=np.uint8).tobytes() + text))
    x86, arm64 = bytearray(), bytearray()  # machine code: calls to 16 shared functions (arzip.bytes.branch)
    for k in range(2500):
        x86 += b"\xe8" + ((k % 16) * 64 - len(x86) - 5).to_bytes(4, "little", signed=True) + b"\x48\x89\xc7"
        arm64 += (0x94000000 | (((k % 16) * 64 - len(arm64)) // 4 & 0x3FFFFFF)).to_bytes(4, "little") + b"\xfd\x03\x00\x91"
    for code in (x86, arm64):
        for level in (None, 9):
            round_trip(api.compress(bytes(code), level=level))
    return digest.hexdigest()


def _type_key(t) -> str:
    """native.signature_key's string for a numba type (what a value of that type gives)."""
    from numba.core import types
    from numba.np.numpy_support import as_dtype
    if isinstance(t, types.Array):
        return f"{as_dtype(t.dtype).str}{t.ndim}{t.layout}{'' if t.mutable else 'r'}{'' if t.aligned else 'u'}"
    if isinstance(t, types.Boolean):
        return np.dtype(np.bool_).str
    if isinstance(t, (types.Integer, types.Float)):
        return as_dtype(t).str
    if isinstance(t, types.BaseNamedTuple):
        return f"{t.instance_class.__qualname__}({','.join(_type_key(i) for i in t.types)})"
    if isinstance(t, types.BaseTuple):
        return f"({','.join(_type_key(i) for i in t.types)})"
    if isinstance(t, types.NoneType):
        return "none"
    return f"?{t}"


def exports() -> list[tuple[str, str, object, object]]:
    """(identity, argument key, function, signature) for every compiled signature of every
    kernel with plain options that Python code can call."""
    found = []
    for dispatcher in native.jit_kernels:
        if set(dispatcher.targetoptions) - PLAIN_OPTIONS:
            continue
        for sig in dispatcher.nopython_signatures:
            key = ",".join(_type_key(t) for t in sig.args)
            if "?" not in key:
                found.append((native.identity(dispatcher.py_func), key, dispatcher.py_func, sig))
    return found


def compile_module(entries: list, folder: Path, log: Callable[[str], None] = lambda line: None
                   ) -> dict[str, dict[str, str]]:
    """The native module of `entries` in `folder`, and its table identity -> key -> export."""
    import warnings
    with warnings.catch_warnings():  # pycc is pending deprecation: the module docstring says what then
        warnings.simplefilter("ignore")
        import numba.pycc.compiler as pycc_compiler
        from numba.pycc import CC

    from numba.core import compiler
    from numba.core.registry import cpu_target

    def jit_flags() -> compiler.Flags:
        """The flags numba's JIT compiles a plain kernel with, and the interpreter lock released
        around each call (nogil): pycc's own defaults type some kernels differently."""
        flags = compiler.Flags()
        cpu_target.options.parse_as_flags(flags, {"nopython": True, "nogil": True})
        flags.release_gil = True
        return flags

    pycc_compiler.Flags = jit_flags

    def compiled(entries: list) -> dict[str, dict[str, str]]:
        cc = CC(store.MODULE_NAME)
        cc.output_dir = str(folder)
        cc.target_cpu = "host"
        table: dict[str, dict[str, str]] = {}
        for n, (ident, key, func, sig) in enumerate(entries):
            if key not in table.get(ident, {}):
                cc.export(f"k{n}", sig)(func)
                table.setdefault(ident, {})[key] = f"k{n}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cc.compile()
        return table

    try:
        return compiled(entries)
    except Exception:  # noqa: BLE001  numba raises many kinds; find the kernels at fault below
        pass
    # a kernel that numba's AOT typing refuses must not sink the others: it stays on the JIT
    aot_context = cpu_target.target_context.with_aot_codegen(store.MODULE_NAME)
    check_flags = jit_flags()
    check_flags.no_compile = True
    accepted = []
    for ident, key, func, sig in entries:
        try:
            compiler.compile_extra(cpu_target.typing_context, aot_context, func, sig.args, sig.return_type,
                                   check_flags, locals={})
        except Exception as e:  # noqa: BLE001
            log(f"{ident} ({key}) left to numba: {str(e).splitlines()[0]}")
        else:
            accepted.append((ident, key, func, sig))
    return compiled(accepted)


def _held(lock: Path) -> bool:
    """Whether a live build holds `lock` (a file naming the builder's process): a lock whose
    process is gone, or older than LOCK_STALE_S, was left by a build that died."""
    try:
        pid = int(lock.read_text() or 0)
        fresh = time.time() - lock.stat().st_mtime <= LOCK_STALE_S
    except (OSError, ValueError):
        return False
    if not fresh or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except PermissionError:  # alive, another user's
        return True
    except OSError:
        return False
    return True


def _lock(path: Path) -> bool:
    """Take the build lock, unless a live build holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not _held(path):
        path.unlink(missing_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return False
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    return True


def build(log: Callable[[str], None]) -> Path | None:
    """Build, check and install this machine's module; its folder, or None where there is
    nothing to build or the build failed (the reason given to `log`)."""
    target = store.folder()
    if target is None:
        log("this system does not say what its processor can do; arzip stays on numba's JIT")
        return None
    if target.exists():
        log(f"already built: {target}")
        return target
    lock = target.parent / LOCK_NAME
    if not _lock(lock):
        log(f"another build holds {lock}")
        return None
    try:
        started = time.perf_counter()
        expected = workload()
        entries = exports()
        log(f"workload compiled in {time.perf_counter() - started:.1f} s; exporting {len(entries)} signatures")
        work = Path(tempfile.mkdtemp(prefix=f"{target.name}.", dir=target.parent))
        try:
            table = compile_module(entries, work, log)
            (work / store.TABLE_NAME).write_text(json.dumps({"exports": table}, indent=0, sort_keys=True))
            log(f"compiled in {time.perf_counter() - started:.1f} s; checking its bits against the JIT's")
            report = work / "check.json"
            checker = subprocess.Popen([sys.executable, "-c", "import sys; from arzip.native.build import check; "
                                        "check(sys.argv[1])", str(report)], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE, text=True, cwd=work,
                                       env=_this_package_env(ARZIP_NATIVE="on", ARZIP_NATIVE_DIR=str(work)))
            errors = checker.communicate()[1]
            got = json.loads(report.read_text()) if checker.returncode == 0 and report.exists() else None
            if got is not None and got["key"] != target.name:  # an upgrade or an edit meanwhile
                log("the package's sources changed during the build; nothing installed")
                return None
            if got is None or got["digest"] != expected:
                reason = errors.strip()[-500:] if got is None else "different bits"
                log(f"the module's check failed ({reason}); arzip stays on numba's JIT")
                (target.parent / f"{target.name}.failed").write_text(errors[-5000:] or reason)
                return None
            report.unlink()
            os.replace(work, target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        log(f"done in {time.perf_counter() - started:.1f} s: {target}; calls of the check left to numba: "
            f"{', '.join(got['missed']) or 'none'}")
        return target
    finally:
        lock.unlink(missing_ok=True)


def check(report: str) -> None:
    """The workload on the module named by ARZIP_NATIVE_DIR: its digest, the calls it left to
    numba and the key of the sources it ran, written to `report` as JSON."""
    if native.mode() != "native":
        raise SystemExit("the module did not load")
    digest = workload()
    Path(report).write_text(json.dumps({"digest": digest, "missed": sorted(native.missed), "key": store.key()}))


def needs_build() -> bool:
    """Whether this machine could have a module and has none, built or being built or failed."""
    if native.mode() == "native" or not store.enabled():
        return False
    target = store.folder()
    if target is None or target.exists():
        return False
    return not (_held(target.parent / LOCK_NAME) or (target.parent / f"{target.name}.failed").exists())


def start_in_background() -> Path:
    """Start `arzip build-kernels` detached, at the lowest priority, its output in a log beside
    the modules; the log's path."""
    log = store.cache_root() / "native" / "build.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        subprocess.Popen([sys.executable, "-m", "arzip.cli", "build-kernels"], stdin=subprocess.DEVNULL, stdout=out,
                         stderr=out, cwd=log.parent, start_new_session=True, preexec_fn=lambda: os.nice(19),
                         env=_this_package_env(ARZIP_NATIVE="jit"))
    return log


def _this_package_env(**extra: str) -> dict[str, str]:
    """The environment for a child Python that must import the very package this process runs
    (a checkout's or an installed one), whatever folder it starts in."""
    path = os.pathsep.join(filter(None, [str(store.PACKAGE.parent), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, **extra}


if __name__ == "__main__":  # `python -m arzip.native.build`: the command line's build-kernels
    from ..cli import main
    sys.argv = ["arzip", "build-kernels", *sys.argv[1:]]
    main()
