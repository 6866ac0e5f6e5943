"""Every limit of arzip/limits.py, walked from both sides: the encoder never writes what the
decoder refuses, and the decoder refuses what breaks a limit before it allocates or decodes.
A new limit without a walk here fails test_every_limit_is_walked."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from arzip import api, limits, registry
from arzip.bytes import codec as byte_codec
from arzip.errors import FormatError, UnsupportedInput
from arzip.formats import picture
from arzip.image import container as image_container, network_parts

from .conftest import png_bytes


def _header(**changes) -> image_container.Header:
    base = image_container.Header(picture.RGB, 8, 0, 4, 3, bytes(16), b"\x00\x00\x00", (), ())
    return replace(base, **changes)


def walk_max_pixels(small_photo, monkeypatch):
    assert api.DEFAULT_MAX_PIXELS == image_container.MAX_PIXELS == limits.MAX_PIXELS
    from arzip import cli
    assert cli.MAX_PIXELS == limits.MAX_PIXELS  # --max-pixels' default
    h, w = small_photo.shape[:2]
    archive = api.compress_image(small_photo)
    try:
        api.set_max_pixels(h * w - 1)
        with pytest.raises(UnsupportedInput, match="over the limit"):  # the encoder refuses the array...
            api.compress_image(small_photo)
        assert api.info(api.compress(png_bytes(small_photo)))["kind"] == "bytes"  # ...and codes the file as bytes
        with pytest.raises(FormatError, match="over the limit"):  # the decoder refuses the archive
            api.decompress_image(archive)
        api.set_max_pixels(h * w)
        assert np.array_equal(api.decompress_image(archive), small_photo)
    finally:
        api.set_max_pixels(api.DEFAULT_MAX_PIXELS)


def walk_max_wrapper(small_photo, monkeypatch):
    wrapper = bytes(range(256)) * 20  # 5120 bytes that deflate poorly
    monkeypatch.setattr(limits, "MAX_WRAPPER", len(wrapper) - 1)
    with pytest.raises(UnsupportedInput, match="over the archive's limit"):
        image_container.pack(_header(wrapper=wrapper), [])
    monkeypatch.setattr(limits, "MAX_WRAPPER", len(wrapper))
    blob = image_container.pack(_header(wrapper=wrapper), [])
    assert image_container.read_header(blob).wrapper == wrapper
    monkeypatch.setattr(limits, "MAX_WRAPPER", len(wrapper) - 1)
    with pytest.raises(FormatError, match="wrapper"):
        image_container.read_header(blob)


def walk_max_models(small_photo, monkeypatch):
    models = tuple((f"m{i}", bytes(8)) for i in range(limits.MAX_MODELS + 1))
    with pytest.raises(UnsupportedInput, match="too many"):
        image_container.pack(_header(models=models), [])
    assert image_container.read_header(image_container.pack(_header(models=models[:-1]), [])).models == models[:-1]


def walk_max_parts(small_photo, monkeypatch):
    part = image_container.Part(image_container.PLANE_COLOURS, image_container.METHOD_BYTES)
    with pytest.raises(UnsupportedInput, match="too many"):
        image_container.pack(_header(parts=(part,) * (limits.MAX_PARTS + 1)), [b""] * (limits.MAX_PARTS + 1))
    blob = image_container.pack(_header(parts=(part,) * limits.MAX_PARTS), [b""] * limits.MAX_PARTS)
    assert len(image_container.read_header(blob).parts) == limits.MAX_PARTS  # the count's one byte holds it


def walk_max_model_name(small_photo, monkeypatch):
    with pytest.raises(UnsupportedInput, match="too many"):
        image_container.pack(_header(models=(("x" * (limits.MAX_MODEL_NAME + 1), bytes(8)),)), [])
    name = "x" * limits.MAX_MODEL_NAME
    assert image_container.read_header(image_container.pack(_header(models=((name, bytes(8)),)), [])).models[0][0] \
        == name


def walk_min_bits_binary(small_photo, monkeypatch):
    """The least a binary coder spends: the byte model on 64 kB of zeros (its cheapest input)
    and a flat plane through the quick mixing profile stay above the bound, and a payload one
    decision's worth too short for the bound is refused."""
    zeros = bytes(1 << 16)
    payload, _, _ = byte_codec.encode_block(registry.load_bytes(registry.bytes_model()), zeros)
    limits.check_justified(len(payload), 8 * len(zeros), limits.MIN_BITS_BINARY, "test")
    assert 8 * len(payload) > 2 * 8 * len(zeros) * limits.MIN_BITS_BINARY * 0.9  # the bound is half the least cost
    flat = np.full((64, 96, 3), 128, np.uint8)
    how = network_parts.NetworkCoding.for_level(5)
    payload, _, _ = network_parts.encode_plane(flat, registry.model_for_level(5), how, "cpu")
    limits.check_justified(len(payload), flat.size, limits.MIN_BITS_BINARY, "test")
    decisions = int(8 * (100 + 64) / limits.MIN_BITS_BINARY) + 1
    with pytest.raises(FormatError, match="cannot code"):
        limits.check_justified(100, decisions, limits.MIN_BITS_BINARY, "test")
    limits.check_justified(100, decisions - 2, limits.MIN_BITS_BINARY, "test")


def walk_min_bits_categorical(small_photo, monkeypatch):
    """The network alone (level 4) on a flat plane, its cheapest input, stays above the bound."""
    flat = np.full((64, 96, 3), 128, np.uint8)
    how = network_parts.NetworkCoding.for_level(4)
    payload, _, _ = network_parts.encode_plane(flat, registry.model_for_level(4), how, "cpu")
    limits.check_justified(len(payload), flat.size, limits.MIN_BITS_CATEGORICAL, "test")
    assert limits.MIN_BITS_CATEGORICAL < limits.MIN_BITS_BINARY


WALKS = {"MAX_PIXELS": walk_max_pixels, "MAX_WRAPPER": walk_max_wrapper, "MAX_MODELS": walk_max_models,
         "MAX_PARTS": walk_max_parts, "MAX_MODEL_NAME": walk_max_model_name,
         "MIN_BITS_BINARY": walk_min_bits_binary, "MIN_BITS_CATEGORICAL": walk_min_bits_categorical}


def test_every_limit_is_walked():
    assert {name for name in vars(limits) if name.isupper() and not name.startswith("_")} == set(WALKS)


@pytest.mark.parametrize("name", sorted(WALKS))
def test_limit(name, small_photo, monkeypatch):
    WALKS[name](small_photo, monkeypatch)
