"""Compiled kernels: one ahead-of-time module per machine, or numba's just-in-time compiler.

Why: before it runs its first cached kernel, numba costs a fresh process about half a second
(its import, the refresh of its registries, which imports scipy where scipy is installed, and a
slower interpreter exit): more than coding a small file or the last third of a photo takes
(bench/results/startup-breakdown.md). A command run from a script, one file at a time, pays it
every time.

How: every kernel is written once, as a numba function, and decorated with `kernel` instead of
`numba.njit`. Where this machine has a native module (arzip.native.store: built once, in the
background, by arzip.native.build, keyed by the package's sources and the processor), `kernel`
gives a `Native`: a call looks up the module's export for its arguments' types and runs it
(without the interpreter lock, like the numba kernels), and numba is never imported. A call the
module has no export for compiles with numba as before, so nothing depends on the build having
foreseen every use. Elsewhere (no module yet, another system, ARZIP_NATIVE=jit) `kernel` is
numba.njit with numba's disk cache: today's behaviour. Both compile the same numba functions
with the same LLVM, and the build checks that its module gives the same bits before it is used.

The thread count the coders split work by lives here too (it was numba's, which would import
numba for a number).
"""
from __future__ import annotations

import os
import threading
from typing import Any, Callable

import numpy as np

from . import store

_DEFAULTS = {"cache": True, "nogil": True}
_loaded: store.Loaded | None = store.load()
jit_kernels: list = []  # in JIT mode, every dispatcher made, for arzip.native.build to export
missed: set[str] = set()  # in native mode, the calls numba had to serve: "identity(argument key)"


def mode() -> str:
    """'native' where this process runs the machine's ahead-of-time module, else 'jit'."""
    return "jit" if _loaded is None else "native"


def on_first_compile(announce: Callable[[], None]) -> None:
    """Call announce() once, when numba starts compiling a kernel rather than loading it from its
    disk cache (the long wait of a first run, which the CLI says on the terminal)."""
    if _loaded is not None:
        return
    from numba.core import event

    class _Once(event.Listener):
        said = False

        def on_start(self, ev: Any) -> None:
            if not self.said:
                self.said = True
                announce()

        def on_end(self, ev: Any) -> None:
            pass
    event.register("numba:compile", _Once())


def kernel(**options: Any) -> Callable[[Callable], Any]:
    """The decorator of every compiled function: numba.njit(cache=True, nogil=True, **options),
    or, with a native module loaded, a Native that runs the module's exports."""
    options = {**_DEFAULTS, **options}

    def wrap(f: Callable) -> Any:
        if _loaded is None:
            import numba
            dispatcher = numba.njit(**options)(f)
            jit_kernels.append(dispatcher)
            return dispatcher
        return Native(f, options, _loaded)
    return wrap


def intrinsic(f: Callable) -> Any:
    """numba.extending.intrinsic, applied only when numba is in use: an intrinsic is code a
    kernel inlines, never called from Python, so a native process needs only its name."""
    if _loaded is None:
        from numba.extending import intrinsic as numba_intrinsic
        return numba_intrinsic(f)
    return Native(f, {"intrinsic": True}, _loaded)


class Native:
    """A kernel of the native module: its exports by argument types, and numba for the rest."""

    def __init__(self, f: Callable, options: dict, loaded: store.Loaded) -> None:
        self.py_func, self.options = f, options
        self.ident = identity(f)
        self._exports = loaded.exports_of(self.ident)
        self._jitted: Any = None
        self._last: tuple[tuple, tuple, Callable] | None = None  # the last call's arguments, keys, export

    def __call__(self, *args: Any) -> Any:
        last = self._last  # one read: threads may replace it in between
        export = _same_export(args, last) if last is not None else None
        if export is not None:
            return export(*args)
        keys = tuple(_value_key(a) for a in args)
        key = ",".join(keys)
        export = self._exports.get(key)
        if export is None:
            missed.add(f"{self.ident}({key})")
            return self.jitted()(*args)
        self._last = (args, keys, export)
        return export(*args)

    def jitted(self) -> Any:
        """The numba function (compiled on first call, from numba's disk cache where it can),
        for calls the module has no export for, and for numba compiling a kernel that calls
        this one."""
        if self._jitted is None:
            _let_numba_see_natives()
            if self.options.get("intrinsic"):
                from numba.extending import intrinsic as numba_intrinsic
                self._jitted = numba_intrinsic(self.py_func)
            else:
                import numba
                self._jitted = numba.njit(**self.options)(self.py_func)
        return self._jitted

    def __repr__(self) -> str:
        return f"<Native {self.ident}>"


def _same_export(args: tuple, last: tuple) -> Callable | None:
    """The last call's export where args are typed as its arguments were, found cheaply: a coder
    that calls a kernel once per bit passes the same state tuple of 50 arrays each time, which
    keying afresh would walk. The same objects, arrays of the same key, Python numbers of the
    same class. Holding the last call's arguments keeps them alive until the kernel's next
    call: one call's worth of memory per kernel."""
    previous, keys, export = last
    if len(args) != len(previous):
        return None
    for a, b, key in zip(args, previous, keys):
        if a is b:
            continue
        kind = type(a)
        if kind is np.ndarray:
            if _value_key(a) != key:
                return None
        elif kind is not type(b) or kind not in _NUMBERS:
            return None
    return export


_NUMBERS = (int, float, bool)
_registered = False


def _let_numba_see_natives() -> None:
    """Teach numba that a Native global in a kernel it compiles is the numba function behind it
    (only a call the native module cannot serve gets here)."""
    global _registered
    if _registered:
        return
    from numba.core.typing.typeof import typeof, typeof_impl

    @typeof_impl.register(Native)
    def _typeof_native(value: Native, context: Any) -> Any:
        return typeof(value.jitted(), context.purpose)
    _registered = True


def identity(f: Callable) -> str:
    """A kernel's name across processes: module and qualified name, and for a closure (the
    image models' per-profile kernels) a digest of the constants it closes over."""
    name = f"{f.__module__}:{f.__qualname__}"
    if not f.__closure__:
        return name
    import hashlib
    digest = hashlib.sha256()
    for cell in f.__closure__:
        _digest_value(digest, cell.cell_contents)
    return f"{name}:{digest.hexdigest()[:16]}"


def _digest_value(digest: Any, value: Any) -> None:
    if isinstance(value, np.ndarray):
        digest.update(f"a{value.dtype.str}{value.shape}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, (tuple, list)):
        digest.update(f"t{len(value)}".encode())
        for item in value:
            _digest_value(digest, item)
    elif isinstance(value, (bool, int, float, str, np.generic)) or value is None:
        digest.update(f"{type(value).__name__}:{value!r};".encode())
    else:
        raise TypeError(f"a kernel closes over {type(value).__name__}, which has no stable digest")


_BOOL = np.dtype(np.bool_).str
_INT = np.dtype(np.int64).str
_FLOAT = np.dtype(np.float64).str


def signature_key(args: tuple) -> str:
    """The argument types as numba types them, as a string: what selects a native export. An
    array's dtype, dimensions, layout and whether it is writable and aligned; a Python int or
    float as numba's int64 or float64; tuples item by item (named ones with their class)."""
    return ",".join(_value_key(a) for a in args)


def _value_key(v: Any) -> str:
    if isinstance(v, np.ndarray):
        flags = v.flags
        layout = "C" if flags.c_contiguous else "F" if flags.f_contiguous else "A"
        return f"{v.dtype.str}{v.ndim}{layout}{'' if flags.writeable else 'r'}{'' if flags.aligned else 'u'}"
    if isinstance(v, (bool, np.bool_)):
        return _BOOL
    if isinstance(v, int):
        return _INT
    if isinstance(v, float):
        return _FLOAT
    if isinstance(v, np.generic):
        return v.dtype.str
    if isinstance(v, tuple):
        inner = ",".join(_value_key(item) for item in v)
        return f"{type(v).__qualname__}({inner})" if hasattr(v, "_fields") else f"({inner})"
    if v is None:
        return "none"
    return f"?{type(v).__qualname__}"


# The thread count coders split work by (arzip.api.set_threads), per thread: a thread decoding
# one part of an image next to others sets its own to 1.
def cores() -> int:
    """The cores this process may run on."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


_threads = cores()
_this_thread = threading.local()


def threads() -> int:
    """How many threads this thread's coding may use."""
    return getattr(_this_thread, "n", _threads)


def side_by_side(work: Callable[..., Any], items: list[tuple]) -> list:
    """work(*item) for each item, on up to this thread's thread count of threads, each thread's
    own count set to 1 (the kernels release the interpreter lock; coders hand it independent
    segments, so the result is the same either way)."""
    from concurrent.futures import ThreadPoolExecutor
    workers = min(threads(), len(items))
    if workers <= 1:
        return [work(*item) for item in items]

    def one_thread(item: tuple):
        set_threads(1, this_thread_only=True)
        return work(*item)

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one_thread, items))


def set_threads(n: int, this_thread_only: bool = False) -> None:
    """Set the thread count for the process, or (this_thread_only) for the calling thread."""
    global _threads
    if this_thread_only:
        _this_thread.n = n
    else:
        _threads = n
        _this_thread.__dict__.pop("n", None)
