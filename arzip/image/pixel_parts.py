"""The parts that arzip's own pixel models code, without a network or the byte path: each
decoder checks that the part fits the image before it decodes (a damaged header must not send
a 16-bit model's output into an 8-bit image).

  - bilevel (part method 10, arzip/mixing/bilevel.py; method 5, arzip/image/bilevel.py, read
    only): the pixels of a 1-bit gray or palette image;
  - 16-bit gray (method 6, arzip/image/gray16.py): the pixels of a 16-bit gray image, read only;
  - full depth (method 7, arzip/image/depth16.py): every sample of a 16-bit image, or the alpha
    plane of an 8-bit one;
  - indices (method 8, arzip/image/indices.py): a palette image's indices, or a gray image's
    values of at most 8 bits.
"""
from __future__ import annotations

from ..errors import FormatError
from ..formats.picture import GRAY, PALETTE, Picture
from . import container


def decode_part(pic: Picture, part: container.Part, payload: bytes) -> None:
    """Decode a part of one of METHODS into the picture's samples."""
    DECODERS[part.method](pic, part, payload)


def _bilevel(pic: Picture, part: container.Part, payload: bytes) -> None:
    if part.plane != container.PLANE_SAMPLES or pic.depth != 1 or pic.color_type not in (GRAY, PALETTE):
        raise FormatError("corrupted archive (a bilevel part of an image that is not 1-bit)")
    if part.method == container.METHOD_BILEVEL_STRONG:
        from ..mixing import bilevel
    else:
        from . import bilevel
    pic.samples[..., 0] = bilevel.decode(payload, pic.height, pic.width)


def _gray16(pic: Picture, part: container.Part, payload: bytes) -> None:
    if part.plane != container.PLANE_SAMPLES or pic.depth != 16 or pic.color_type != GRAY:
        raise FormatError("corrupted archive (a 16-bit gray part of an image that is not 16-bit gray)")
    from . import gray16
    pic.samples[..., 0] = gray16.decode(payload, pic.height, pic.width)


def _full_depth(pic: Picture, part: container.Part, payload: bytes) -> None:
    """Every sample of a 16-bit image, or the alpha plane of an 8-bit one (planes._expected_planes
    has checked that the image has one)."""
    from . import depth16
    if part.plane == container.PLANE_SAMPLES and pic.depth == 16:
        pic.samples[...] = depth16.decode(payload, pic.height, pic.width, pic.samples.shape[2])
    elif part.plane == container.PLANE_ALPHA and pic.depth == 8:
        alpha = depth16.decode(payload, pic.height, pic.width, 1)
        if alpha.size and alpha.max() > 255:
            raise FormatError("corrupted archive (an 8-bit alpha sample out of range)")
        pic.samples[..., -1] = alpha[..., 0]
    else:
        raise FormatError("corrupted archive (a full-depth part of an image that is not 16-bit, nor its alpha)")


def _indices(pic: Picture, part: container.Part, payload: bytes) -> None:
    if part.plane != container.PLANE_SAMPLES or pic.depth > 8 or pic.color_type not in (GRAY, PALETTE):
        raise FormatError("corrupted archive (an index part of an image that is not palette or gray)")
    from . import indices
    pic.samples[..., 0] = indices.decode(payload, pic.height, pic.width, pic.depth)


DECODERS = {container.METHOD_BILEVEL: _bilevel, container.METHOD_BILEVEL_STRONG: _bilevel, container.METHOD_GRAY16: _gray16, container.METHOD_DEPTH16: _full_depth,
            container.METHOD_INDICES: _indices}
METHODS = tuple(DECODERS)
