"""arzip: lossless image compression with a learned, integer-exact autoregressive model.

    import arzip
    blob = arzip.compress_image(pixels)      # (H, W, 3) uint8 RGB array -> .arz bytes
    pixels = arzip.decompress_image(blob)    # checksum-verified
    arzip.info(blob)                         # header summary as a dict
"""
from .api import compress_file, compress_image, decompress_file, decompress_image, info, set_threads
from .errors import ArzipError, FormatError, ModelError, UnsupportedInput

__all__ = ["compress_image", "decompress_image", "info", "compress_file", "decompress_file",
           "set_threads", "ArzipError", "FormatError", "ModelError", "UnsupportedInput"]
