"""A raster file's wrapper through the byte path (image header's wrapper codec 2, format version 12).

The wrapper of a DICOM, a FITS file or a TIFF coded as a raster (arzip/formats/raster.py) is
every byte of the file but its samples: data elements, cards, tables, image directories. Those are
structured bytes the byte path's models know: zlib's are 20-60 % larger on pydicom's and
astropy's test files (48 % in total). A PNG's chunks, mostly compressed already, stay with zlib
(container.pack), so no PNG loads the byte model for its chunks.
"""
from __future__ import annotations

import zlib

from .. import limits, registry
from ..bytes import archive as byte_archive
from ..container import IMAGE_MODEL_HASH_BYTES, Reader, varint
from ..errors import FormatError
from ..formats.picture import RASTER_FORMATS, Picture
from . import container

BY_BYTES_FROM = 512  # a raster file's wrapper from this size is tried through the byte path


def encode(pic: Picture, coding) -> bytes:
    """The header's wrapper field for codec 2 (model index | raw length | bytes part) where it
    is smaller than zlib's, else b"". coding: the picture's planes._Coding, whose model_index
    names the byte model when the part needs it."""
    if pic.format not in RASTER_FORMATS or len(pic.wrapper) < BY_BYTES_FROM:
        return b""
    name = registry.bytes_model()
    ref_cost = 0 if any(n == name for n, _ in coding.models) else len(name) + 1 + IMAGE_MODEL_HASH_BYTES
    payload, _, used_model = byte_archive.encode_part(pic.wrapper, registry.load_bytes(name), ref_cost)
    if len(payload) + (ref_cost if used_model else 0) + 8 >= len(zlib.compress(pic.wrapper, 9)):
        return b""
    model = coding.model_index(name) if used_model else container.NO_MODEL
    return bytes([model]) + varint(len(pic.wrapper)) + payload


def decode(header: container.Header) -> bytes:
    """The wrapper of an archive whose header holds it as codec 2."""
    r = Reader(header.wrapper_coded, 0)
    model, raw_len = r.byte(), r.varint()
    if raw_len > limits.MAX_WRAPPER or (model != container.NO_MODEL and model >= len(header.models)):
        raise FormatError("corrupted archive (wrapper)")

    def net():
        if model == container.NO_MODEL:
            raise FormatError("corrupted archive (a model-coded wrapper, but it names no model)")
        return registry.load_bytes(registry.installed(*header.models[model]))

    try:
        return byte_archive.decode_part(header.wrapper_coded[r.pos:], raw_len, net, header.version)
    except (ValueError, RuntimeError, IndexError, AssertionError) as e:
        raise FormatError(f"corrupted archive (wrapper does not decode: {e})") from None
