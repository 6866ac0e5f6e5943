"""Binary netpbm files (PBM P4, PGM P5, PPM P6, PAM P7), read and written exactly.

Pillow scales samples when maxval is not 255 or 65535, and reads no PAM; netpbm is simple
enough to do here: the header is kept byte for byte (comments included), and the raster is
the samples, so the rewritten file is identical to the input.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..errors import FormatError, UnsupportedInput

_PNM_HEADER = re.compile(rb"(P[456])((?:\s+(?:#[^\n]*\n)*)+)(\d+)((?:\s+(?:#[^\n]*\n)*)+)(\d+)")
_MAXVAL = re.compile(rb"((?:\s+(?:#[^\n]*\n)*)+)(\d+)\s")
_PAM_CHANNELS = {1: 0, 2: 4, 3: 2, 4: 6}  # PAM depth -> PNG colour type


@dataclass
class Netpbm:
    header: bytes           # the file's header, byte for byte
    samples: np.ndarray     # (H, W, C) uint8 (or 0/1 for PBM), uint16 when maxval > 255
    color_type: int         # PNG numbering: 0 gray, 2 RGB, 4 gray+alpha, 6 RGBA
    depth: int              # bits per stored sample: 1 (PBM), 8 or 16


def is_netpbm(data: bytes) -> bool:
    return len(data) > 2 and data[:2] in (b"P4", b"P5", b"P6", b"P7") and data[2:3].isspace()


def _pam_header(data: bytes, name: str) -> tuple[int, int, int, int, int]:
    end = data.find(b"ENDHDR\n")
    if end < 0:
        raise UnsupportedInput(f"{name}: damaged PAM header")
    fields: dict[bytes, bytes] = {}
    for line in data[3:end].split(b"\n"):
        words = line.split(b"#")[0].split()
        if words:
            fields[words[0]] = words[1] if len(words) > 1 else b""
    try:
        w, h, d, m = (int(fields[k]) for k in (b"WIDTH", b"HEIGHT", b"DEPTH", b"MAXVAL"))
    except (KeyError, ValueError):
        raise UnsupportedInput(f"{name}: damaged PAM header") from None
    return end + len(b"ENDHDR\n"), w, h, d, m


def read(data: bytes, name: str = "input", max_pixels: int = 1 << 32) -> Netpbm:
    start, w, h, channels, color_type, maxval = _header(data, name)
    if not (0 < w and 0 < h and w * h <= max_pixels and 0 < maxval < 65536):
        raise UnsupportedInput(f"{name}: netpbm image of {w}x{h}, maxval {maxval}, is not supported")
    if data[:2] == b"P4":
        row = (w + 7) // 8
        raster = np.frombuffer(data, np.uint8, h * row, start) if len(data) >= start + h * row else None
        depth, end = 1, start + h * row
    else:
        dtype = np.dtype(">u2") if maxval > 255 else np.dtype(np.uint8)
        end = start + h * w * channels * dtype.itemsize
        raster = np.frombuffer(data, dtype, h * w * channels, start) if len(data) >= end else None
        depth = 16 if maxval > 255 else 8
    if raster is None:
        raise UnsupportedInput(f"{name}: truncated netpbm file")
    if end != len(data):  # several images in one file, or trailing bytes: keep them as bytes
        raise UnsupportedInput(f"{name}: netpbm file with data after the image")
    if depth == 1:
        samples = np.unpackbits(raster.reshape(h, row), axis=1)[:, :w, None]
    else:
        samples = raster.reshape(h, w, channels).astype(np.uint16 if depth == 16 else np.uint8)
    return Netpbm(bytes(data[:start]), np.ascontiguousarray(samples), color_type, depth)


def _header(data: bytes, name: str) -> tuple[int, int, int, int, int, int]:
    """(where the raster starts, width, height, channels, PNG colour type, maxval) of a header."""
    if not is_netpbm(data):
        raise UnsupportedInput(f"{name}: not a binary netpbm file")
    if data[:2] == b"P7":
        start, w, h, channels, maxval = _pam_header(data, name)
        if channels not in _PAM_CHANNELS:
            raise UnsupportedInput(f"{name}: PAM with {channels} channels is not supported")
        color_type = _PAM_CHANNELS[channels]
    else:
        m = _PNM_HEADER.match(data)
        if not m:
            raise UnsupportedInput(f"{name}: damaged netpbm header")
        w, h, start = int(m.group(3)), int(m.group(5)), m.end()
        channels, color_type = (3, 2) if m.group(1) == b"P6" else (1, 0)
        maxval = 1
        if m.group(1) != b"P4":
            mv = _MAXVAL.match(data, start)
            if not mv:
                raise UnsupportedInput(f"{name}: damaged netpbm header")
            maxval, start = int(mv.group(2)), mv.end()
        elif not data[start:start + 1].isspace():
            raise UnsupportedInput(f"{name}: damaged netpbm header")
        else:
            start += 1
    return start, w, h, channels, color_type, maxval


def write(header: bytes, samples: np.ndarray, depth: int) -> bytes:
    """The file: header, then the samples' raster. FormatError when the header does not describe
    these samples (a damaged archive's wrapper)."""
    try:
        start, w, h, channels, _, maxval = _header(header, "archive")
    except UnsupportedInput:
        start = -1
    if start != len(header) or (h, w, channels) != samples.shape or depth != (
            1 if header[:2] == b"P4" else 16 if maxval > 255 else 8):
        raise FormatError("corrupted archive (the netpbm header does not fit the image)")
    if depth == 1:
        raster = np.packbits(samples[..., 0].astype(np.uint8), axis=1).tobytes()
    elif depth == 16:
        raster = samples.astype(">u2").tobytes()
    else:
        raster = samples.astype(np.uint8).tobytes()
    return header + raster
