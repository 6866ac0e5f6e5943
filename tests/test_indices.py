"""The index model of palette indices and 2 and 4-bit gray (arzip/image/indices.py): exact
round trips of every shape and depth, a rate at the model's NLL and below the byte path,
damage and refusal, and the archive part it makes."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from arzip import api
from arzip.errors import FormatError
from arzip.formats import picture
from arzip.image import container, indices, pixel_parts, planes

from .conftest import skimage_photo


def quantized(colours: int = 16) -> Image.Image:
    """A photo crop quantized to a few colours without dithering: flat regions of labels."""
    return Image.fromarray(np.ascontiguousarray(skimage_photo("astronaut")[100:164, 180:276])).quantize(
        colours, dither=Image.Dither.NONE)


@pytest.mark.parametrize("shape", [(1, 1), (1, 37), (37, 1), (2, 3), (5, 131)])
@pytest.mark.parametrize("top", [0, 1, 3, 15, 255])
def test_every_shape_and_depth_round_trips(shape, top):
    image = np.random.default_rng(sum(shape) + top).integers(0, top + 1, shape).astype(np.uint8)
    costs = np.zeros(shape)
    payload, nll = indices.encode(image, costs)
    assert payload[0] == max(1, top.bit_length()) and costs.sum() == pytest.approx(nll)
    assert np.array_equal(indices.decode(payload, *shape, 8), image)


def test_rate_is_the_models_nll_and_below_the_byte_path():
    im = quantized()
    image = np.asarray(im)
    payload, nll = indices.encode(image)
    assert 8 * len(payload) <= nll * 1.01 + 64
    pic = picture.new(image[..., None], picture.PALETTE, 8, np.asarray(im.getpalette()[:48]).reshape(16, 3))
    assert len(payload) < 0.9 * planes._whole_as_bytes(pic).size


def test_damaged_payloads_decode_to_something_or_are_refused():
    payload, _ = indices.encode(np.asarray(quantized()))
    rng = np.random.default_rng(3)
    for truncated in (payload[: len(payload) // 2], payload[:1]):  # refused once the decoder reads past the end
        with pytest.raises(ValueError, match="ends before the image"):
            indices.decode(truncated, 64, 96, 8)
    try:
        assert indices.decode(bytes(rng.integers(1, 9, 1, np.uint8)) + bytes(50), 64, 96, 8).shape == (64, 96)
    except ValueError:
        pass
    for refused in (b"", b"\x00", b"\x09" + payload[1:], payload):
        with pytest.raises(FormatError, match="bits per value"):
            indices.decode(refused, 64, 96, 3)  # more bits per value than a 3-bit image holds


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_palette_images_of_every_depth_take_the_index_part(bits):
    im = quantized(min(12, 2 ** bits))
    buf = io.BytesIO()
    im.save(buf, "PNG", bits=bits)
    blob = api.compress(buf.getvalue())
    assert [p["method"] for p in api.info(blob)["parts"]] == ["indices"]
    with Image.open(io.BytesIO(api.decompress(blob))) as back, Image.open(buf) as original:
        assert back.mode == "P" and np.array_equal(np.asarray(back), np.asarray(original))
        assert back.getpalette() == original.getpalette()


@pytest.mark.parametrize("depth", [2, 4])
def test_2_and_4_bit_gray_images_take_the_index_part(depth):
    gray = (skimage_photo("camera")[100:164, 100:196] >> (8 - depth))[..., None].astype(np.uint8)
    blob = api.compress(picture.write(picture.new(gray, picture.GRAY, depth)))
    assert [p["method"] for p in api.info(blob)["parts"]] == ["indices"]
    assert np.array_equal(picture.read(api.decompress(blob), "x.png").samples, gray)


def test_an_index_part_of_an_image_that_is_not_palette_or_gray_is_refused():
    part = container.Part(container.PLANE_SAMPLES, container.METHOD_INDICES)
    pic = picture.new(np.zeros((4, 4, 3), np.uint8), picture.RGB, 8)
    with pytest.raises(FormatError, match="not palette or gray"):
        pixel_parts.decode_part(pic, part, indices.encode(np.zeros((4, 4), np.uint8))[0])


def test_a_synthetic_8_bit_gray_image_may_take_the_index_part():
    """A gray screenshot (flat panels, text): exact contexts beat the learned gray model, and
    the index model is tried because the image looks synthetic."""
    from PIL import ImageDraw
    im = Image.new("L", (240, 160), 235)
    draw = ImageDraw.Draw(im)
    for i in range(5):
        draw.rectangle([10, 10 + 28 * i, 230, 32 + 28 * i], fill=250, outline=180)
        draw.text((16, 14 + 28 * i), f"setting {i}: value {i * 7}", fill=40)
    gray = np.asarray(im)[..., None]
    blob = api.compress(picture.write(picture.new(gray, picture.GRAY, 8)))
    assert [p["method"] for p in api.info(blob)["parts"]] == ["indices"]
    assert np.array_equal(picture.read(api.decompress(blob), "x.png").samples, gray)
