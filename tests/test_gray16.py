"""The 16-bit gray model of part method 6 (arzip/image/gray16.py), which arzip no longer writes
but still reads (tests/golden/v4/gray16-full-depth.png.arz) and explains: its kernel's exact
round trips of every shape and range, a rate at the model's NLL, damage and refusal."""
from __future__ import annotations

import numpy as np
import pytest

from arzip.errors import FormatError
from arzip.formats import picture
from arzip.image import container, gray16, pixel_parts, planes

from .conftest import skimage_photo


def ct_like() -> np.ndarray:
    """A smooth 16-bit image with noise, like a scan: camera resampled to 12 bits of range."""
    camera = skimage_photo("camera")[100:196, 120:248].astype(np.int64)
    noise = np.random.default_rng(2).integers(0, 24, camera.shape)
    return (camera * 16 + noise).astype(np.uint16)


@pytest.mark.parametrize("shape", [(1, 1), (1, 37), (37, 1), (2, 3), (5, 131)])
@pytest.mark.parametrize("fill", ["zeros", "max", "noise", "ramp"])
def test_every_shape_and_range_round_trips(shape, fill):
    rng = np.random.default_rng(sum(shape))
    image = {"zeros": np.zeros(shape), "max": np.full(shape, 65535), "noise": rng.integers(0, 65536, shape),
             "ramp": np.indices(shape).sum(0) * 4099 % 65536}[fill].astype(np.uint16)
    payload, _ = gray16.encode(image)
    assert np.array_equal(gray16.decode(payload, *shape), image)


def test_rate_is_the_models_nll_and_below_the_byte_path():
    image = ct_like()
    payload, costs = gray16.encode(image)
    assert costs.shape == image.shape and (costs >= 0).all()
    assert 8 * len(payload) <= costs.sum() * 1.01 + 64
    pic = picture.new(image[..., None], picture.GRAY, 16)
    assert len(payload) < planes._whole_as_bytes(pic).size


def test_damaged_payloads_decode_to_something_in_bounded_time():
    payload, _ = gray16.encode(ct_like())
    rng = np.random.default_rng(3)
    for damaged in (payload[: len(payload) // 2], b"", bytes(rng.integers(0, 256, 300, dtype=np.uint8))):
        assert gray16.decode(damaged, 96, 128).shape == (96, 128)


def test_a_16_bit_gray_part_of_an_image_that_is_not_16_bit_gray_is_refused():
    part = container.Part(container.PLANE_SAMPLES, container.METHOD_GRAY16)
    pic = picture.new(np.zeros((4, 4, 3), np.uint16), picture.RGB, 16)
    with pytest.raises(FormatError, match="not 16-bit gray"):
        pixel_parts.decode_part(pic, part, gray16.encode(np.zeros((4, 4), np.uint16))[0])
