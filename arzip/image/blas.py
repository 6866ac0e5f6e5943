"""numpy's own BLAS matrix products, called from compiled code (numba), so that the decoder
runs a whole stripe's waves, network and mixing, in one call that never takes the interpreter.

Why: numpy releases the interpreter lock around each BLAS call, but a wave's features took
several small calls into numpy and numba, and the lock handed back and forth between stripes
decoded side by side serialized them: the features ran 1.0-1.2 times faster on two threads
than on one (models/EXPERIMENTS.md K27). Called from a compiled loop, the same BLAS routines
run side by side at 2 times.

How: the compiled code is given the routine's address as a 64-bit integer and calls it through
`_call_gemm`, an intrinsic that makes the address a function pointer, so the compiled callers
stay in numba's disk cache and in the native module (the address is an argument, not a
constant). The routines are those of the OpenBLAS that numpy's wheels bundle (64-bit integers,
`scipy_cblas_?gemm64_`); `gemms()` finds them through threadpoolctl and checks them on a small
product against numpy, or returns None, and the callers use numpy's matmul instead. The products
are of integers whose sums are exact in any order (arzip.image.exact), so either way gives the
same bits.
"""
from __future__ import annotations

import ctypes
import functools
import platform
from typing import NamedTuple

import numpy as np

from ..native import intrinsic, kernel

ROW_MAJOR, NO_TRANS = 101, 111  # CBLAS enumerations


class Gemms(NamedTuple):
    """The addresses of the single and double precision products (arguments of matmul)."""
    sgemm: int
    dgemm: int

    def of(self, dtype: np.dtype) -> int:
        """The product for matrices of `dtype` (float32 or float64)."""
        return self.sgemm if np.dtype(dtype) == np.float32 else self.dgemm


@intrinsic
def _call_gemm(typingctx, address, order, trans_a, trans_b, n, m, k, alpha, a, lda, b, ldb, beta, out, ldo):
    """cblas ?gemm at `address`: pointers pass as 64-bit integers, as the 64-bit calling
    conventions pass pointers; alpha and beta are of the matrices' float type."""
    from llvmlite import ir
    from numba import types

    signature = types.void(address, order, trans_a, trans_b, n, m, k, alpha, a, lda, b, ldb, beta, out, ldo)

    def codegen(context, builder, sig, args):
        real = context.get_value_type(sig.args[7])
        i64 = ir.IntType(64)
        routine = ir.FunctionType(ir.VoidType(), [i64] * 6 + [real] + [i64] * 4 + [real] + [i64] * 2)
        pointer = builder.inttoptr(args[0], routine.as_pointer())
        builder.call(pointer, list(args[1:]))
        return context.get_dummy_value()
    return signature, codegen


@kernel()
def matmul(gemm, a, b, out, n):
    """out[:n] = a[:n] @ b (C-contiguous rows, any row strides of a and out; b contiguous), by the
    routine at address gemm."""
    k, m = b.shape
    _call_gemm(gemm, np.int64(ROW_MAJOR), np.int64(NO_TRANS), np.int64(NO_TRANS), np.int64(n), np.int64(m),
               np.int64(k), a.dtype.type(1.0), np.int64(a.ctypes.data), np.int64(a.strides[0] // a.itemsize),
               np.int64(b.ctypes.data), np.int64(m), a.dtype.type(0.0), np.int64(out.ctypes.data),
               np.int64(out.strides[0] // out.itemsize))


@functools.cache
def gemms() -> Gemms | None:
    """numpy's BLAS products callable from compiled code, or None where they are not found or
    do not give numpy's results on a check."""
    if platform.architecture()[0] != "64bit":
        return None
    from threadpoolctl import threadpool_info  # only a decoder of whole waves asks
    for info in threadpool_info():
        if info.get("internal_api") != "openblas":
            continue
        try:
            lib = ctypes.CDLL(info["filepath"])
            found = Gemms(*(ctypes.cast(getattr(lib, f"scipy_cblas_{t}gemm64_"), ctypes.c_void_p).value
                            for t in "sd"))
        except (OSError, AttributeError):
            continue
        if _agrees(found):
            return found
    return None


def _agrees(found: Gemms) -> bool:
    """Whether the routines give numpy's products on small integer matrices (rows of a larger
    buffer, as the decoder passes them)."""
    for dtype, gemm in ((np.float32, found.sgemm), (np.float64, found.dgemm)):
        a = (np.arange(63).reshape(9, 7) * 37 % 199 - 99).astype(dtype)  # no random generator to import
        b = (np.arange(35).reshape(7, 5) * 53 % 197 - 98).astype(dtype)
        out = np.zeros((9, 5), dtype)
        matmul(gemm, a, b, out, 6)
        if not np.array_equal(out[:6], a[:6] @ b) or out[6:].any():
            return False
    return True
