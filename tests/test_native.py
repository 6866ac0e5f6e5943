"""arzip.native: the argument keys that pick a native export agree with numba's types, kernels
are told apart across processes, and a module built here codes the byte path with the JIT's
bits, without importing numba."""
from __future__ import annotations

import collections
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from arzip import native
from arzip.native import build, store

Pair = collections.namedtuple("Pair", "a b")

VALUES = [
    np.zeros(5, np.int64), np.zeros((3, 4), np.uint8), np.zeros((3, 4), np.float32)[:, ::2],
    np.zeros((4, 3), np.uint16, order="F"), np.frombuffer(b"abcd", np.uint8), np.zeros(3, np.bool_),
    5, 2.5, True, np.int32(3), np.uint32(7), np.float64(1.0), np.bool_(False), None,
    (1, np.zeros(2, np.int64)), (np.zeros(2, np.uint32), np.zeros(2, np.uint32)), Pair(1, np.zeros(2)),
]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_a_values_key_is_its_numba_types_key(value):
    """What selects an export at run time (native.signature_key, without numba) is what the
    build files it under (build._type_key of numba's type for the same value)."""
    from numba import typeof
    assert native.signature_key((value,)) == build._type_key(typeof(value))


def test_keys_tell_apart_what_numba_compiles_apart():
    """As many keys as numba types (a Python float and a numpy float64 are one type)."""
    from numba import typeof
    assert len({native.signature_key((v,)) for v in VALUES}) == len({typeof(v) for v in VALUES}) == 15


def test_closures_are_told_apart_by_their_constants():
    def make(k):
        def f(x):
            return x + k
        return f
    assert native.identity(make(np.arange(3))) == native.identity(make(np.arange(3)))
    assert native.identity(make(np.arange(3))) != native.identity(make(np.arange(4)))
    assert native.identity(make(2)).startswith("tests.test_native:test_closures_are_told_apart_by_their_constants")


def test_a_module_is_keyed_by_sources_and_processor(monkeypatch, tmp_path):
    monkeypatch.delenv("ARZIP_NATIVE_DIR", raising=False)
    monkeypatch.setenv("ARZIP_CACHE_DIR", str(tmp_path))
    if store.processor() is None:
        assert store.folder() is None
        return
    here = store.folder()
    assert here.parent == tmp_path / "native"
    monkeypatch.setattr(store, "processor", lambda: "another processor|avx512f")
    assert store.folder() != here
    assert store.load(tmp_path / "nothing") is None


_ROUND_TRIP = """
import arzip
text = b"".join(b"record %d: ok, value %d\\n" % (i, i * 7 % 31) for i in range(200))
blob = arzip.compress(text)
assert arzip.decompress(blob) == text
"""
_BYTE_PATH = _ROUND_TRIP + """
import json, sys
from arzip import native
print(json.dumps({"mode": native.mode(), "blob": blob.hex(), "numba": "numba" in sys.modules,
                  "missed": sorted(native.missed)}))
"""


def _run(env: dict) -> dict:
    result = subprocess.run([sys.executable, "-c", _BYTE_PATH], capture_output=True, text=True, timeout=600,
                            env={**os.environ, **env})
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_native_module_gives_the_jits_bits_without_numba(tmp_path):
    """The byte path's kernels exported by the build's own compiler into a module: a process on
    it writes the same archive as one on the JIT, and never imports numba."""
    on_jit = _run({"ARZIP_NATIVE": "jit"})
    assert on_jit["mode"] == "jit" and on_jit["numba"]
    exec(_ROUND_TRIP, {})  # this process compiles the signatures the module is to export
    entries = [e for e in build.exports() if e[0].startswith(("arzip.bytes", "arzip.mixing"))]
    table = build.compile_module(entries, tmp_path)
    (tmp_path / store.TABLE_NAME).write_text(json.dumps({"exports": table}))
    on_module = _run({"ARZIP_NATIVE": "on", "ARZIP_NATIVE_DIR": str(tmp_path)})
    assert on_module["mode"] == "native"
    assert on_module["blob"] == on_jit["blob"]
    assert on_module["missed"] == [] and not on_module["numba"]


def test_a_build_is_started_once_per_machine(monkeypatch, tmp_path):
    """The CLI starts a background build only where a module could be and none is built, being
    built or failed; never with ARZIP_NATIVE=jit (as this suite runs)."""
    assert not build.needs_build()
    monkeypatch.setenv("ARZIP_NATIVE", "on")
    monkeypatch.setenv("ARZIP_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("ARZIP_NATIVE_DIR", raising=False)
    target = store.folder()
    if target is None:
        assert not build.needs_build()
        return
    assert build.needs_build()
    target.parent.mkdir(parents=True)
    lock, failed = target.parent / build.LOCK_NAME, target.parent / f"{target.name}.failed"
    lock.write_text(str(os.getpid()))  # a live build
    assert not build.needs_build()
    lock.write_text("999999999")  # a build that died
    assert build.needs_build()
    lock.unlink()
    failed.touch()
    assert not build.needs_build()
    failed.unlink()
    target.mkdir()
    assert not build.needs_build()


def test_a_first_compile_is_announced_once():
    said = []
    native.on_first_compile(lambda: said.append(1))

    @native.kernel(cache=False)
    def twice(x):
        return x * 2

    @native.kernel(cache=False)
    def thrice(x):
        return x * 3
    assert twice(2) + thrice(2) == 10
    assert said == [1]


def test_the_first_compile_is_said_once(tmp_path):
    """A command that compiles (numba's cache empty) says so in one line, first; the next one,
    which loads what the first compiled, says nothing of it."""
    import subprocess
    import tempfile

    from arzip.cli import COMPILING
    text = tmp_path / "notes.txt"
    text.write_bytes(b"a short note to compress, twice\n" * 8)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache"), "ARZIP_NATIVE": "jit"}

    def compress() -> str:
        r = subprocess.run([sys.executable, "-m", "arzip.cli", "compress", "-f", str(text)], capture_output=True,
                           text=True, env=env, cwd=tempfile.gettempdir(), timeout=600)
        assert r.returncode == 0, r.stderr
        return r.stderr
    assert compress().startswith(COMPILING + "\n")
    assert COMPILING not in compress()
