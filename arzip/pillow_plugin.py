"""Pillow plugin: after `import arzip`, `Image.open("x.arz")` reads an arz image and
`img.save("x.arz")` (or `format="ARZ"`, with `level=1..9`) writes one.

Opening reads only the header (size and mode are known at once); the pixels are decoded on
`load()`, as with any Pillow format. 16-bit colour images have no Pillow mode: opening one is
refused (use arzip.decompress_image for its samples).

Registering costs Pillow's own import only: `import arzip` (and so the command line) stays
quick, and the codec is imported when an archive is first opened or saved.
"""
from __future__ import annotations

from PIL import Image, ImageFile, ImagePalette

from . import container
from .errors import FormatError

FORMAT = "ARZ"


def _accept(prefix: bytes) -> bool:
    return prefix[:4] == container.MAGIC and prefix[5:6] == bytes([container.KIND_IMAGE])


class ArzImageFile(ImageFile.ImageFile):
    format = FORMAT
    format_description = "arzip lossless image"

    def _open(self) -> None:
        import numpy as np

        from .formats import picture
        from .image.container import read_header
        blob = self.fp.read()
        try:
            header = read_header(blob)
        except FormatError as e:
            raise SyntaxError(str(e)) from None
        mode = picture.pillow_mode(header.color_type, header.depth)
        if mode is None:
            raise SyntaxError(f"a {header.depth}-bit {picture.COLOR_NAMES.get(header.color_type, '?')} "
                              "image has no Pillow mode (use arzip.decompress_image)")
        self._mode = mode
        self._size = (header.width, header.height)
        if header.color_type == picture.PALETTE:
            stub = picture.Picture(np.zeros((0, 0, 1), np.uint8), header.color_type, header.depth,
                                   picture.FORMATS[header.format], header.wrapper)
            self.palette = ImagePalette.raw("RGB", stub.palette.tobytes())
        self.tile = [ImageFile._Tile("arz", (0, 0) + self.size, 0, None)]


class ArzDecoder(ImageFile.PyDecoder):
    """Decodes the whole archive at once (the coder has no use for Pillow's partial buffers)."""
    _pulls_fd = True

    def decode(self, buffer) -> tuple[int, int]:
        from .api import decompress_picture
        from .formats import picture
        self.fd.seek(0)
        im = picture.to_pil(decompress_picture(self.fd.read()))
        self.set_as_raw(im.tobytes(), im.mode)  # raw data in the mode's own layout
        return -1, 0


def _save(im: Image.Image, fp, filename) -> None:
    from .api import compress_image
    from .formats import picture
    fp.write(compress_image(picture.from_pil(im), level=im.encoderinfo.get("level")))


def register() -> None:
    Image.register_open(FORMAT, ArzImageFile, _accept)
    Image.register_decoder("arz", ArzDecoder)
    Image.register_save(FORMAT, _save)
    Image.register_extension(FORMAT, ".arz")
