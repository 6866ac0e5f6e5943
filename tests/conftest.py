"""Shared fixtures: real photos (scikit-image's, Kodak when present) and small helpers."""
from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import tempfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# The suite runs on numba's JIT, and its commands start no background build of native kernels
# (tests/test_native.py builds a small module of its own and runs it).
os.environ["ARZIP_NATIVE"] = "jit"

# the shared data folder sits beside the checkout (../shared/data); tests pass without it
KODAK = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "kodak"
# Tests that code JPEG files share one pytest-xdist worker (README's command: --dist loadgroup):
# the JPEG path's kernels take about 85 s to compile from a cold cache (a fresh CI venv), and
# two workers would each compile them.
JPEG = pytest.mark.xdist_group("jpeg")


def skimage_photo(name: str) -> np.ndarray:
    from skimage import data
    return np.ascontiguousarray(getattr(data, name)())


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """A real RGB photograph (scikit-image's astronaut, 512x512)."""
    return skimage_photo("astronaut")


@pytest.fixture(scope="session")
def small_photo(photo) -> np.ndarray:
    """A 48x80 crop with texture and edges: fast enough for many tests."""
    return np.ascontiguousarray(photo[100:148, 200:280])


def png_bytes(pixels: np.ndarray, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", **kw)
    return buf.getvalue()


@pytest.fixture
def png_file(tmp_path, small_photo) -> Path:
    path = tmp_path / "photo.png"
    path.write_bytes(png_bytes(small_photo))
    return path


def arzip(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the CLI from outside the source tree, so that the installed package (and its
    installed models) is what runs. The line a command prints when numba compiles (once per
    machine and path: whether it appears depends on numba's cache, not on the test) is left out
    of stderr; tests/test_native.py checks it."""
    from arzip.cli import COMPILING
    r = subprocess.run([sys.executable, "-m", "arzip.cli", *map(str, args)], cwd=tempfile.gettempdir(),
                       capture_output=True, text=True, timeout=300, env=env)
    r.stderr = r.stderr.replace(COMPILING + "\n", "")
    return r


def assert_one_line_error(r: subprocess.CompletedProcess, pattern: str = "") -> None:
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("arzip: error: "), r.stderr
    assert "Traceback" not in r.stderr
    assert re.search(pattern, lines[0]), lines[0]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def peak_memory(run: Callable[[], object]) -> tuple[object, int]:
    """run()'s result and the peak bytes of Python objects and numpy arrays allocated while it
    ran (tracemalloc; what existed before is not counted, nor what compiled kernels allocate
    inside themselves)."""
    tracemalloc.start()
    try:
        result = run()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
