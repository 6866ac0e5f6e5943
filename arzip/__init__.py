"""arzip: lossless compression with learned, integer-exact autoregressive models.

    import arzip
    blob = arzip.compress(data)              # any file's bytes -> .arz bytes (PNG photos as images)
    data = arzip.decompress(blob)            # checksum-verified
    blob = arzip.compress_image(pixels)      # (H, W, 3) uint8 RGB array -> .arz bytes
    pixels = arzip.decompress_image(blob)
    blob = arzip.compress_bytes(data)        # force the byte path
    arzip.info(blob)                         # header summary as a dict
"""
from .api import (compress, compress_bytes, compress_file, compress_image, decompress, decompress_bytes,
                  decompress_file, decompress_image, info, set_threads)
from .errors import ArzipError, FormatError, ModelError, UnsupportedInput

__all__ = ["compress", "decompress", "compress_image", "decompress_image", "compress_bytes",
           "decompress_bytes", "info", "compress_file", "decompress_file", "set_threads", "ArzipError",
           "FormatError", "ModelError", "UnsupportedInput"]
