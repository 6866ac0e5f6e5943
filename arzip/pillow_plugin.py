"""Pillow plugin: after `import arzip`, `Image.open("x.arz")` reads an arz image and
`img.save("x.arz")` (or `format="ARZ"`, with `level=1..9`) writes one.

Opening reads only the header (size and mode are known at once); the pixels are decoded on
`load()`, as with any Pillow format. 16-bit colour images have no Pillow mode: opening one is
refused (use arzip.decompress_image for its samples).
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageFile, ImagePalette

from . import container, picture

FORMAT = "ARZ"
_MODES = {(picture.GRAY, 1): ("1", "L"), (picture.GRAY, 8): ("L", "L"), (picture.GRAY_ALPHA, 8): ("LA", "LA"),
          (picture.PALETTE, 1): ("P", "P"), (picture.PALETTE, 2): ("P", "P"), (picture.PALETTE, 4): ("P", "P"),
          (picture.PALETTE, 8): ("P", "P"), (picture.RGB, 8): ("RGB", "RGB"), (picture.RGBA, 8): ("RGBA", "RGBA"),
          (picture.GRAY, 16): ("I;16", "I;16")}  # (colour type, depth) -> (mode, raw mode of the samples)


def _accept(prefix: bytes) -> bool:
    return prefix[:4] == container.MAGIC and prefix[5:6] == bytes([container.KIND_IMAGE])


class ArzImageFile(ImageFile.ImageFile):
    format = FORMAT
    format_description = "arzip lossless image"

    def _open(self) -> None:
        blob = self.fp.read()
        try:
            header = container.read_header(blob)
        except container.FormatError as e:
            raise SyntaxError(str(e)) from None
        key = (header.color_type, header.depth)
        if key not in _MODES:
            raise SyntaxError(f"a {header.depth}-bit {picture.COLOR_NAMES.get(header.color_type, '?')} "
                              "image has no Pillow mode (use arzip.decompress_image)")
        self._mode = _MODES[key][0]
        self._size = (header.width, header.height)
        if header.color_type == picture.PALETTE:
            stub = picture.Picture(np.zeros((0, 0, 1), np.uint8), header.color_type, header.depth,
                                   picture.FORMATS[header.format], header.wrapper)
            self.palette = ImagePalette.raw("RGB", stub.palette.tobytes())
        self.tile = [ImageFile._Tile("arz", (0, 0) + self.size, 0, _MODES[key][1])]


class ArzDecoder(ImageFile.PyDecoder):
    """Decodes the whole archive at once (the coder has no use for Pillow's partial buffers)."""
    _pulls_fd = True

    def decode(self, buffer) -> tuple[int, int]:
        from .api import decompress_picture
        self.fd.seek(0)
        pic = decompress_picture(self.fd.read())
        samples = pic.samples
        if pic.depth == 1 and pic.color_type == picture.GRAY:
            samples = samples * np.uint8(255)
        elif pic.depth == 16:
            samples = samples.astype("<u2")
        self.set_as_raw(np.ascontiguousarray(samples).tobytes(), self.args[0])
        return -1, 0


def _save(im: Image.Image, fp, filename) -> None:
    from .api import compress_image
    fp.write(compress_image(picture.from_pil(im), level=im.encoderinfo.get("level")))


def register() -> None:
    Image.register_open(FORMAT, ArzImageFile, _accept)
    Image.register_decoder("arz", ArzDecoder)
    Image.register_save(FORMAT, _save)
    Image.register_extension(FORMAT, ".arz")
