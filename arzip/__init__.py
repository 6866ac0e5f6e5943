"""arzip: lossless compression with learned, integer-exact autoregressive models.

    import arzip
    blob = arzip.compress(data)              # any file's bytes -> .arz bytes (lossless images as pixels)
    data = arzip.decompress(blob)            # checksum-verified: the same bytes, or the image file
    blob = arzip.compress_image(pixels)      # numpy (H, W[, C]) uint8/uint16 array or PIL image -> .arz
    pixels = arzip.decompress_image(blob)    # (H, W, C) samples;  decompress_pil(blob) -> PIL image
    blob = arzip.compress_bytes(data)        # force the byte path
    arzip.info(blob)                         # header summary as a dict

Importing arzip also registers a Pillow plugin: Image.open("x.arz"), img.save("x.arz").
The functions keep no state between calls beyond cached models, so they work from worker
processes (multiprocessing, Dask, Ray) as they are.

The functions are loaded on first use (PEP 562): `import arzip`, and with it `arzip --help`, does
not pay for numpy, numba and the codecs.
"""
from . import pillow_plugin
from .errors import ArzipError, FormatError, ModelError, UnsupportedInput

pillow_plugin.register()

_API = ("compress", "decompress", "compress_image", "decompress_image", "decompress_picture", "decompress_pil",
        "compress_bytes", "decompress_bytes", "info", "compress_file", "decompress_file", "set_threads")
__all__ = [*_API, "Picture", "ArzipError", "FormatError", "ModelError", "UnsupportedInput"]


def __getattr__(name: str):
    if name in _API:
        from . import api
        return getattr(api, name)
    if name == "Picture":
        from .formats.picture import Picture
        return Picture
    raise AttributeError(f"module 'arzip' has no attribute {name!r}")
