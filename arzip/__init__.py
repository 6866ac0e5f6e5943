"""arzip: lossless compression with learned, integer-exact autoregressive models.

    import arzip
    blob = arzip.compress(data)              # any file's bytes -> .arz bytes (lossless images as pixels)
    data = arzip.decompress(blob)            # checksum-verified: the same bytes, or the image file
    blob = arzip.compress_image(pixels)      # numpy (H, W[, C]) uint8/uint16 array or PIL image -> .arz
    pixels = arzip.decompress_image(blob)    # (H, W, C) samples;  decompress_pil(blob) -> PIL image
    blob = arzip.compress_bytes(data)        # force the byte path
    blob = arzip.compress_jpeg(data)         # a JPEG through its DCT coefficients (compress picks it too)
    arzip.info(blob)                         # header summary as a dict

Importing arzip also registers a Pillow plugin: Image.open("x.arz"), img.save("x.arz") (when
Pillow is imported, before or after arzip).
The functions keep no state between calls beyond cached models, so they work from worker
processes (multiprocessing, Dask, Ray) as they are.

The functions are loaded on first use (PEP 562): `import arzip`, and with it `arzip --help`, does
not pay for numpy, numba and the codecs.
"""
import importlib.abc
import importlib.util
import sys

from .errors import ArzipError, FormatError, ModelError, UnsupportedInput


def _register_pillow_plugin() -> None:
    from . import pillow_plugin
    pillow_plugin.register()


class _WhenPillowLoads(importlib.abc.MetaPathFinder):
    """Registers the Pillow plugin as soon as PIL.Image has been imported, by whoever imports it:
    `import arzip` then need not import Pillow (a command that codes a PNG or a text never
    does), and Image.open("x.arz") works all the same."""

    def find_spec(self, name, path, target=None):
        if name != "PIL.Image":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenRegister(spec.loader)
        return spec


class _ThenRegister(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        self.loader.exec_module(module)
        _register_pillow_plugin()


if "PIL.Image" in sys.modules:
    _register_pillow_plugin()
else:
    sys.meta_path.insert(0, _WhenPillowLoads())

_API = ("compress", "decompress", "compress_image", "decompress_image", "decompress_picture", "decompress_pil",
        "compress_bytes", "decompress_bytes", "compress_jpeg", "decompress_jpeg", "info", "compress_file",
        "decompress_file", "set_threads")
__all__ = [*_API, "Picture", "ArzipError", "FormatError", "ModelError", "UnsupportedInput"]


def __getattr__(name: str):
    if name in _API:
        from . import api
        return getattr(api, name)
    if name == "Picture":
        from .formats.picture import Picture
        return Picture
    raise AttributeError(f"module 'arzip' has no attribute {name!r}")
