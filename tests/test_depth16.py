"""The full-depth model of 16-bit images (arzip/image/depth16.py): exact round trips of every
shape, range and channel count, a rate at the model's NLL, the reduction by base and step,
colour channels predicting one another, damage and refusal, and the archive part it makes."""
from __future__ import annotations

import io
import time
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from arzip import api
from arzip.errors import FormatError
from arzip.formats import picture
from arzip.image import container, depth16, gray16, pixel_parts, planes

from .conftest import peak_memory, skimage_photo


def scan_like(channels: int = 1) -> np.ndarray:
    """A smooth 16-bit image with noise, like a scan or a raw photo: a photo crop at 12 bits of
    range, each channel with its own noise."""
    photo = skimage_photo("astronaut")[100:164, 180:276].astype(np.int64)
    noise = np.random.default_rng(2).integers(0, 24, photo.shape)
    image = photo * 16 + noise
    return (image[..., 1:2] if channels == 1 else image[..., :channels]).astype(np.uint16)


@pytest.mark.parametrize("shape", [(1, 1), (1, 37), (37, 1), (2, 3), (5, 131)])
@pytest.mark.parametrize("fill", ["zeros", "max", "noise", "ramp"])
@pytest.mark.parametrize("channels", [1, 3])
def test_every_shape_and_range_round_trips(shape, fill, channels):
    rng = np.random.default_rng(sum(shape))
    shape = (*shape, channels)
    image = {"zeros": np.zeros(shape), "max": np.full(shape, 65535), "noise": rng.integers(0, 65536, shape),
             "ramp": np.indices(shape).sum(0) * 4099 % 65536}[fill].astype(np.uint16)
    costs = np.zeros(shape)
    payload, nll = depth16.encode(image, costs)
    assert costs.sum() == pytest.approx(nll) and depth16.encode(image) == (payload, nll)
    assert np.array_equal(depth16.decode(payload, *shape), image)


@pytest.mark.parametrize("channels", [2, 4])
def test_two_and_four_channels_round_trip(channels):
    image = scan_like(3)
    image = np.dstack([image, image[..., :1] // 3])[..., :channels] if channels == 4 else image[..., :channels]
    payload, _ = depth16.encode(np.ascontiguousarray(image))
    assert np.array_equal(depth16.decode(payload, *image.shape), image)


def test_rate_is_the_models_nll_and_below_the_other_codings():
    image = scan_like()
    costs = np.zeros(image.shape)
    payload, nll = depth16.encode(image, costs)
    assert (costs >= 0).all() and costs.sum() == pytest.approx(nll)
    assert 8 * len(payload) <= nll * 1.01 + 64
    pic = picture.new(image, picture.GRAY, 16)
    assert len(payload) < len(gray16.encode(image[..., 0])[0])
    assert len(payload) < planes._whole_as_bytes(pic).size


def test_samples_are_coded_at_their_real_depth():
    """12-bit data shifted left by 4, 8-bit data times 257 or with an offset: the base and step
    take out what never varies, so each costs what the plain samples do, plus a few bytes."""
    image = scan_like() >> 4
    eight = image >> 4
    for plain, scaled in ((image, image << 4), (image, image * 3 + 1000), (eight, eight * 257)):
        assert len(depth16.encode(scaled.astype(np.uint16))[0]) <= len(depth16.encode(plain)[0]) + 8
        assert np.array_equal(depth16.decode(depth16.encode(scaled.astype(np.uint16))[0], *image.shape),
                              scaled.astype(np.uint16))
    assert depth16.reduce(image << 4)[1] == [(int(image.min()) << 4, 16)]


def test_colour_channels_predict_one_another():
    """Three channels that move together (a photo's, without the noise) cost well under the
    three coded apart."""
    rgb = scan_like(3) // 16 * 16
    together = len(depth16.encode(rgb)[0])
    apart = sum(len(depth16.encode(np.ascontiguousarray(rgb[..., c:c + 1]))[0]) for c in range(3))
    assert together < 0.9 * apart


def test_damaged_payloads_decode_to_something_or_are_refused_in_bounded_time():
    image = scan_like(3)
    payload, _ = depth16.encode(image)
    rng = np.random.default_rng(3)
    started = time.perf_counter()
    with pytest.raises(ValueError, match="ends before the image"):  # the decoder read past the end
        depth16.decode(payload[: len(payload) // 2], *image.shape)
    for damaged in (payload[:6] + bytes(200), bytes(rng.integers(0, 256, 300, np.uint8))):
        try:
            assert depth16.decode(damaged, *image.shape).shape == image.shape
        except (FormatError, ValueError):
            pass
    with pytest.raises(FormatError, match="scale"):
        depth16.decode(b"\x00\x00", 2, 2, 1)  # a step of 0
    with pytest.raises(FormatError):
        depth16.decode(b"", 2, 2, 1)  # no scale at all
    assert time.perf_counter() - started < 30


@pytest.mark.parametrize("color_type,channels", [(picture.GRAY, 1), (picture.GRAY_ALPHA, 2), (picture.RGB, 3),
                                                 (picture.RGBA, 4)])
def test_16_bit_images_of_every_colour_type_take_the_full_depth_part(color_type, channels):
    rgb = scan_like(3)
    image = {1: rgb[..., 1:2], 2: np.dstack([rgb[..., 1], np.full(rgb.shape[:2], 65535)]), 3: rgb,
             4: np.dstack([rgb, np.full(rgb.shape[:2], 40000)])}[channels].astype(np.uint16)
    blob = api.compress(picture.write(picture.new(np.ascontiguousarray(image), color_type, 16)))
    assert [p["method"] for p in api.info(blob)["parts"]] == ["full depth"]
    with Image.open(io.BytesIO(api.decompress(blob))) as back:
        assert back.size == (image.shape[1], image.shape[0])
    assert np.array_equal(picture.read(api.decompress(blob), "x.png").samples, image)


def test_encoding_holds_about_two_bytes_per_sample():
    """A 0.8-megapixel 16-bit RGB image: the reduced samples at 2 bytes each (they were 8), no
    per-sample cost map unless asked for (8 more), the output twice and one band's worst case:
    under 4 bytes a sample beyond the input, plus the tables (8 MB at most), where the first
    cut took about 20 bytes a sample."""
    image = np.tile(scan_like(3), (12, 11, 1))[:768, :1024]
    (payload, _), peak = peak_memory(lambda: depth16.encode(image))
    assert peak < 2 * image.nbytes + 8 * 2 ** 20, (peak, image.nbytes)  # nbytes: 2 a sample
    assert np.array_equal(depth16.decode(payload, *image.shape), image)


def test_a_full_depth_part_of_an_image_that_is_not_16_bit_is_refused():
    part = container.Part(container.PLANE_SAMPLES, container.METHOD_DEPTH16)
    pic = picture.new(np.zeros((4, 4, 3), np.uint8), picture.RGB, 8)
    with pytest.raises(FormatError, match="not 16-bit, nor its alpha"):
        pixel_parts.decode_part(pic, part, depth16.encode(np.zeros((4, 4, 3), np.uint16))[0])


@pytest.mark.parametrize("color_type", [picture.RGBA, picture.GRAY_ALPHA])
def test_alpha_planes_of_8_bit_images_take_the_full_depth_part_where_it_is_smaller(color_type):
    """A soft disc (smooth edges, flat inside and out) is predicted in 2-D; the byte path's
    candidate is larger, and the archive round-trips."""
    photo = skimage_photo("astronaut")[100:164, 180:276]
    y, x = np.mgrid[:64, :96]
    alpha = np.clip((1.2 - np.hypot(y - 32, x - 48) / 32) * 400, 0, 255).astype(np.uint8)
    colours = photo if color_type == picture.RGBA else photo[..., 1:2]
    image = np.dstack([colours, alpha])
    blob = api.compress(picture.write(picture.new(np.ascontiguousarray(image), color_type, 8)))
    assert [(p["plane"], p["method"]) for p in api.info(blob)["parts"]][-1] == ("alpha", "full depth")
    assert np.array_equal(picture.read(api.decompress(blob), "x.png").samples, image)
    pic = picture.new(alpha[..., None], picture.GRAY, 8)
    assert len(depth16.encode(alpha[..., None])[0]) < planes._whole_as_bytes(pic).size


def test_an_alpha_part_above_8_bits_is_refused():
    part = container.Part(container.PLANE_ALPHA, container.METHOD_DEPTH16)
    pic = picture.new(np.zeros((4, 4, 4), np.uint8), picture.RGBA, 8)
    with pytest.raises(FormatError, match="alpha sample out of range"):
        pixel_parts.decode_part(pic, part, depth16.encode(np.full((4, 4, 1), 256, np.uint16))[0])


@pytest.mark.parametrize("factor", [257, 256])
@pytest.mark.parametrize("color_type", [picture.GRAY, picture.GRAY_ALPHA, picture.RGB, picture.RGBA])
def test_8_bit_images_widened_to_16_bits_cost_what_the_8_bit_image_does(factor, color_type):
    """Samples that are 8-bit values times 257 (or 256) go through the learned models as the
    8-bit image they widen: the archive is no larger than that image's (same header size), and
    decodes to the 16-bit samples."""
    photo = skimage_photo("astronaut")[100:164, 180:276]
    y, x = np.mgrid[:64, :96]
    alpha = np.clip((1.2 - np.hypot(y - 32, x - 48) / 32) * 400, 0, 255).astype(np.uint8)
    eight = {picture.GRAY: photo[..., 1:2], picture.GRAY_ALPHA: np.dstack([photo[..., 1], alpha]), picture.RGB: photo,
             picture.RGBA: np.dstack([photo, alpha])}[color_type]
    wide = np.ascontiguousarray(eight.astype(np.uint16) * factor)
    blob = api.compress(picture.write(picture.new(wide, color_type, 16)))
    assert api.info(blob)["parts"][0]["method"].endswith("mixing")
    assert len(blob) <= len(api.compress(picture.write(picture.new(np.ascontiguousarray(eight), color_type, 8))))
    assert np.array_equal(picture.read(api.decompress(blob), "x.png").samples, wide)


def test_a_widened_part_with_an_unknown_factor_is_refused():
    wide = picture.new(skimage_photo("astronaut")[100:116, 180:196].astype(np.uint16) * 257, picture.RGB, 16)
    parts = container.read_header(api.compress_image(wide)).parts
    assert planes.widening(wide, parts) == 257
    with pytest.raises(FormatError, match="widened how"):
        planes.widening(wide, (replace(parts[0], transform=7),))
