"""Where this machine's native module lives, and loading it.

A module is valid for one set of sources (every .py file of the package: a changed kernel, or a
changed function a kernel calls, is another key), one processor (it is compiled for the host's
instruction set, so a home directory shared with another machine must not hand it code that
machine cannot run), one Python and one numpy. Its folder, under ARZIP_CACHE_DIR or
~/.cache/arzip, is named by a digest of all of them; a machine that differs builds its own.
Only Linux says what its processor can do cheaply (/proc/cpuinfo); elsewhere arzip stays on
numba's own disk cache.

ARZIP_NATIVE=jit (or off) keeps a process on numba, never loading or building a module.
"""
from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np

MODULE_NAME = "arzip_native"
TABLE_NAME = "exports.json"
PACKAGE = Path(__file__).resolve().parent.parent


def enabled() -> bool:
    """Whether this process may load (and the CLI may build) a native module."""
    return os.environ.get("ARZIP_NATIVE", "").lower() not in ("jit", "off", "0", "no")


def cache_root() -> Path:
    base = os.environ.get("ARZIP_CACHE_DIR")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "arzip"


def processor() -> str | None:
    """The processor's model and instruction-set flags (Linux), or None where unknown."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    model = flags = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = " ".join(sorted(value.split()))
        if model and flags:
            break
    return f"{model}|{flags}" if flags else None


def sources_digest() -> str:
    """A digest of the package's Python sources: any change to a kernel, or to what it calls,
    gives another module."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE)
        if name.parts[0] == "models":  # installed beside the code, absent from a checkout: no kernels
            continue
        digest.update(str(name).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def key() -> str | None:
    """The folder name of this machine's module, or None where arzip cannot tell processors apart."""
    cpu = processor()
    if cpu is None:
        return None
    parts = (sources_digest(), cpu, sys.version, sys.platform, np.__version__)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def folder() -> Path | None:
    """This machine's module folder (ARZIP_NATIVE_DIR names one outright: the build's check)."""
    named = os.environ.get("ARZIP_NATIVE_DIR")
    if named:
        return Path(named)
    k = key()
    return None if k is None else cache_root() / "native" / k


class Loaded:
    """A native module and its table: kernel identity -> argument key -> export name."""

    def __init__(self, module: Any, table: dict[str, dict[str, str]]) -> None:
        self.module, self.table = module, table

    def exports_of(self, ident: str) -> dict[str, Callable]:
        return {key: getattr(self.module, name) for key, name in self.table.get(ident, {}).items()}


def load(place: Path | None = None) -> Loaded | None:
    """This machine's module, or None (none built yet, disabled, unreadable)."""
    if not enabled():
        return None
    place = place or folder()
    if place is None:
        return None
    table_path = place / TABLE_NAME
    try:
        table = json.loads(table_path.read_text())
        suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
        spec = importlib.util.spec_from_file_location(MODULE_NAME, place / (MODULE_NAME + suffix))
        if spec is None or spec.loader is None:
            return None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except (OSError, ValueError, ImportError):
        return None
    return Loaded(module, table["exports"])
