"""The bilevel models of 1-bit images (arzip/mixing/bilevel.py, written; arzip/image/bilevel.py,
read): exact round trips of every shape, a rate at the model's NLL, and the archive part the
written one makes."""
from __future__ import annotations

import numpy as np
import pytest

from arzip import api
from arzip.errors import FormatError
from arzip.formats import picture
from arzip.image import bilevel as first_bilevel, container, pixel_parts
from arzip.mixing import bilevel

MODELS = pytest.mark.parametrize("model", [bilevel, first_bilevel], ids=["strong", "first"])

from .conftest import peak_memory, skimage_photo


def text_like() -> np.ndarray:
    return (skimage_photo("text")[:96, :160] > 110).astype(np.uint8)


@pytest.mark.parametrize("shape", [(1, 1), (1, 37), (37, 1), (2, 3), (5, 131), (131, 5)])
@pytest.mark.parametrize("fill", ["zeros", "ones", "noise", "stripes"])
@MODELS
def test_every_shape_round_trips(shape, fill, model):
    rng = np.random.default_rng(sum(shape))
    image = {"zeros": np.zeros(shape), "ones": np.ones(shape), "noise": rng.integers(0, 2, shape),
             "stripes": np.indices(shape).sum(0) % 3 == 0}[fill].astype(np.uint8)
    payload, _ = model.encode(image)
    assert np.array_equal(model.decode(payload, *shape), image)


@MODELS
def test_rate_is_the_models_nll_and_far_below_raw(model):
    image = (skimage_photo("text") > 110).astype(np.uint8)  # 172 x 448: 0.156 bits per pixel
    costs = np.zeros(image.shape)
    payload, nll = model.encode(image, costs)
    assert (costs >= 0).all() and costs.sum() == pytest.approx(nll, rel=1e-9)
    assert model.encode(image) == (payload, nll)
    assert 8 * len(payload) <= nll * 1.01 + 64
    assert 8 * len(payload) < 0.2 * image.size


def test_the_strong_model_codes_a_page_smaller():
    """A page of text lines (the photo's text, tiled): the strong model's wider contexts see the
    glyphs and the line above that the first model's templates do not reach."""
    page = np.tile(text_like(), (6, 4))
    assert len(bilevel.encode(page)[0]) < 0.9 * len(first_bilevel.encode(page)[0])


@MODELS
def test_damaged_payloads_decode_to_something_or_are_refused_in_bounded_time(model):
    """A payload that ends before the image does is refused once its decoder reads past the end."""
    payload, _ = model.encode(text_like())
    rng = np.random.default_rng(3)
    for truncated in (payload[: len(payload) // 2], b""):
        with pytest.raises(ValueError, match="ends before the image"):
            model.decode(truncated, 96, 160)
    try:
        assert model.decode(bytes(rng.integers(0, 256, 200, dtype=np.uint8)), 96, 160).shape == (96, 160)
    except ValueError:
        pass


@pytest.mark.parametrize("color_type", [picture.GRAY, picture.PALETTE])
def test_one_bit_images_take_the_bilevel_part(color_type):
    """On a page of text the bilevel model beats the index model, which is tried too."""
    samples = (skimage_photo("text") > 110).astype(np.uint8)[..., None]
    pic = picture.new(samples, color_type, 1, palette=np.array([[0, 0, 0], [255, 255, 255]]) if color_type else None)
    blob = api.compress_image(pic)
    assert [p["method"] for p in api.info(blob)["parts"]] == ["bilevel strong"]
    back = api.decompress_picture(blob)
    assert np.array_equal(back.samples, samples) and back.color_type == color_type


@pytest.mark.parametrize("method", [container.METHOD_BILEVEL, container.METHOD_BILEVEL_STRONG])
def test_a_bilevel_part_of_an_image_that_is_not_1_bit_is_refused(method):
    part = container.Part(container.PLANE_SAMPLES, method)
    pic = picture.new(np.zeros((4, 4, 1), np.uint8), picture.GRAY, 8)
    with pytest.raises(FormatError, match="not 1-bit"):
        pixel_parts.decode_part(pic, part, bilevel.encode(np.zeros((4, 4), np.uint8))[0])


@MODELS
def test_encoding_holds_about_a_byte_per_pixel(model):
    """A 4-megapixel page is coded as decided: the pixels, the tables (the hashed contexts' 16 MB)
    and the output, not 16 bytes of bit and probability per pixel (64 MB here)."""
    page = np.tile(text_like(), (21, 13))[:2000, :2000]
    (payload, _), peak = peak_memory(lambda: model.encode(page))
    assert peak < 32 * 2 ** 20, peak
    assert np.array_equal(model.decode(payload, *page.shape), page)
