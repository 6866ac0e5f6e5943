"""Pillow plugin: after `import arzip`, `Image.open("x.arz")` reads an arz image and
`img.save("x.arz")` (or `format="ARZ"`, with `level=1..9`) writes one.

Opening reads only the header (size and mode are known at once); the pixels are decoded on
`load()`, as with any Pillow format. 16-bit colour images have no Pillow mode: opening one is
refused (use arzip.decompress_image for its samples).

What im.info holds beside the pixels (transparency, ICC profile, dpi, text) is saved as the PNG
chunks Pillow's PNG writer would make of it (tRNS, iCCP, pHYs, tEXt/iTXt), and opening gives
back what Pillow's PNG reader makes of an archive's chunks: an archive opens with the info its
decompressed PNG opens with, whether it was saved here or compressed from a PNG file.

Registering costs Pillow's own import only: `import arzip` (and so the command line) stays
quick, and the codec is imported when an archive is first opened or saved.
"""
from __future__ import annotations

import io
import struct
import zlib

from PIL import Image, ImageFile, ImagePalette, PngImagePlugin

from . import container
from .errors import FormatError, UnsupportedInput

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
        if picture.FORMATS[header.format] == "png":
            self.info.update(_png_info(header))
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


def _png_info(header) -> dict:
    """What Pillow's PNG reader puts in im.info for an archive's PNG chunks, read by that reader
    itself: the same rules, and the same values, as for the decompressed PNG. It reads them from
    a PNG of one pixel of the image's kind (what the chunks mean depends on it), no image data
    and every chunk: opening reads no pixels, and the size is not checked twice."""
    import numpy as np

    from .formats import picture, png
    pixel = np.zeros((1, 1, picture.CHANNELS[header.color_type]), np.uint16 if header.depth == 16 else np.uint8)
    try:
        interlace, _, chunks = picture._png_chunks(header.wrapper)
        stub = png.write(png.Png(1, 1, header.depth, header.color_type, interlace, pixel, chunks, len(chunks)),
                         image_data=b"")
        with Image.open(io.BytesIO(stub), formats=["PNG"]) as im:
            return dict(im.info)
    except (FormatError, OSError, ValueError, SyntaxError, EOFError) as e:
        raise SyntaxError(f"the image's PNG chunks cannot be read ({e})") from None


def _save(im: Image.Image, fp, filename) -> None:
    from .api import compress_image
    from .formats import picture
    if im.mode not in picture._PILLOW_MODES:
        raise UnsupportedInput(f"Pillow mode {im.mode} is not supported")
    color_type, depth = picture._PILLOW_MODES[im.mode]
    pic = picture.new(picture._samples_of(im), color_type, depth, chunks=_chunks(im))
    fp.write(compress_image(pic, level=im.encoderinfo.get("level")))


def _chunks(im: Image.Image) -> list[tuple[bytes, bytes]]:
    """The PNG chunks of im's palette, transparency, ICC profile, dpi and text (save()'s keywords
    first, then im.info), in the order PNG requires (iCCP before PLTE, tRNS after it), made as
    Pillow's PNG writer makes them, so that its reader gives the same info back. Text is every
    str value of im.info (and im.text, an opened PNG's chunks after its image data included)."""
    def get(key):
        return im.encoderinfo.get(key, im.info.get(key))

    chunks = []
    if get("icc_profile"):
        chunks.append((b"iCCP", b"ICC Profile\0\0" + zlib.compress(get("icc_profile"))))
    transparency = get("transparency")
    if im.mode == "P":
        palette = bytes(im.getpalette() or [])
        chunks.append((b"PLTE", palette))
        if isinstance(transparency, int):  # the one transparent index
            transparency = b"\xff" * max(0, min(255, transparency)) + b"\0"
        elif transparency is None and im.palette is not None and im.palette.mode == "RGBA":  # alpha in it
            transparency = bytes(im.getpalette("RGBA")[3::4])
        if transparency is not None:
            chunks.append((b"tRNS", bytes(transparency[:len(palette) // 3])))
    elif transparency is not None and im.mode in ("1", "L", "I;16"):
        value = (1 if transparency else 0) if im.mode == "1" else max(0, min(65535, transparency))
        chunks.append((b"tRNS", struct.pack(">H", value)))
    elif transparency is not None and im.mode == "RGB":
        chunks.append((b"tRNS", struct.pack(">3H", *transparency)))
    dpi = get("dpi")
    if dpi:
        chunks.append((b"pHYs", struct.pack(">IIB", int(dpi[0] / 0.0254 + 0.5), int(dpi[1] / 0.0254 + 0.5), 1)))
    text = PngImagePlugin.PngInfo()
    for key, value in {**im.info, **getattr(im, "text", {})}.items():
        if isinstance(value, str):
            text.add_text(key, value)  # tEXt where Latin-1 holds it, else iTXt (an iTXt keeps its language)
    return chunks + [(kind, data) for kind, data, _ in text.chunks]


def register() -> None:
    Image.register_open(FORMAT, ArzImageFile, _accept)
    Image.register_decoder("arz", ArzDecoder)
    Image.register_save(FORMAT, _save)
    Image.register_extension(FORMAT, ".arz")
