"""numpy's own BLAS matrix products, called from compiled code (numba), so that the decoder
runs a whole stripe's waves, network and mixing, in one call that never takes the interpreter.

Why: numpy releases the interpreter lock around each BLAS call, but a wave's features took
several small calls into numpy and numba, and the lock handed back and forth between stripes
decoded side by side serialized them: the features ran 1.0-1.2 times faster on two threads
than on one (models/EXPERIMENTS.md K27). Called from a compiled loop, the same BLAS routines
run side by side at 2 times.

How: numba calls a C function whose address it is given at run time through its wrapper-address
protocol, so the compiled callers stay in numba's disk cache (the address is an argument, not
a constant). The routines are those of the OpenBLAS that numpy's wheels bundle (64-bit
integers, `scipy_cblas_?gemm64_`); `gemms()` finds them through threadpoolctl and checks them
on a small product against numpy, or returns None, and the callers use numpy's matmul instead.
The products are of integers whose sums are exact in any order (arzip.image.exact), so either
way gives the same bits.
"""
from __future__ import annotations

import ctypes
import functools
import platform
from typing import NamedTuple

import numba
import numba.experimental.function_type  # noqa: F401  registers the wrapper-address protocol's type
import numpy as np
from numba import types
from threadpoolctl import threadpool_info

ROW_MAJOR, NO_TRANS = 101, 111  # CBLAS enumerations
_I64, _F32, _F64 = types.int64, types.float32, types.float64


class _Routine(types.WrapperAddressProtocol):
    """A cblas ?gemm of 64-bit integers at a known address; pointers pass as 64-bit integers,
    which the 64-bit calling conventions pass as they pass pointers."""

    def __init__(self, address: int, real: types.Type) -> None:
        self.address, self.real = address, real

    def __wrapper_address__(self) -> int:
        return self.address

    def signature(self) -> types.Type:
        r = self.real
        return types.void(_I64, _I64, _I64, _I64, _I64, _I64, r, _I64, _I64, _I64, _I64, r, _I64, _I64)


class Gemms(NamedTuple):
    """The single and double precision products (arguments of matmul)."""
    sgemm: _Routine
    dgemm: _Routine

    def of(self, dtype: np.dtype) -> _Routine:
        """The product for matrices of `dtype` (float32 or float64)."""
        return self.sgemm if np.dtype(dtype) == np.float32 else self.dgemm


@numba.njit(cache=True, nogil=True)
def matmul(gemm, a, b, out, n):
    """out[:n] = a[:n] @ b (C-contiguous rows, any row strides of a and out; b contiguous)."""
    k, m = b.shape
    gemm(ROW_MAJOR, NO_TRANS, NO_TRANS, n, m, k, a.dtype.type(1.0), np.int64(a.ctypes.data), a.strides[0] //
         a.itemsize, np.int64(b.ctypes.data), m, a.dtype.type(0.0), np.int64(out.ctypes.data),
         out.strides[0] // out.itemsize)


@functools.cache
def gemms() -> Gemms | None:
    """numpy's BLAS products callable from compiled code, or None where they are not found or
    do not give numpy's results on a check."""
    if platform.architecture()[0] != "64bit":
        return None
    for info in threadpool_info():
        if info.get("internal_api") != "openblas":
            continue
        try:
            lib = ctypes.CDLL(info["filepath"])
            found = Gemms(*(_Routine(ctypes.cast(getattr(lib, f"scipy_cblas_{t}gemm64_"), ctypes.c_void_p).value, r)
                            for t, r in (("s", _F32), ("d", _F64))))
        except (OSError, AttributeError):
            continue
        if _agrees(found):
            return found
    return None


def _agrees(found: Gemms) -> bool:
    """Whether the routines give numpy's products on small integer matrices (rows of a larger
    buffer, as the decoder passes them)."""
    rng = np.random.default_rng(0)
    for dtype, gemm in ((np.float32, found.sgemm), (np.float64, found.dgemm)):
        a = rng.integers(-99, 99, (9, 7)).astype(dtype)
        b = rng.integers(-99, 99, (7, 5)).astype(dtype)
        out = np.zeros((9, 5), dtype)
        matmul(gemm, a, b, out, 6)
        if not np.array_equal(out[:6], a[:6] @ b) or out[6:].any():
            return False
    return True
