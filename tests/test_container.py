"""The .arz container: damaged, truncated, foreign or unsupported archives are clear errors."""
from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from arzip import api, container
from arzip.errors import FormatError, ModelError
from arzip import registry

NAME_OFFSET = 13  # magic 4, version, kind, mode, method, layout, 3 scale offsets, name length


@pytest.fixture(scope="module")
def blob(small_photo) -> bytes:
    return api.compress_image(small_photo)


def reseal(data: bytearray, header_size: int) -> bytes:
    """Recompute the header CRC after editing header fields."""
    end = header_size - 4
    data[end:header_size] = struct.pack("<I", zlib.crc32(bytes(data[:end])))
    return bytes(data)


def test_layout_fields(blob, small_photo):
    h = container.read_header(blob)
    assert blob[:4] == container.MAGIC
    assert (h.width, h.height) == (small_photo.shape[1], small_photo.shape[0])
    assert h.model_name == registry.model_for_level()
    assert h.checksum == container.pixel_checksum(small_photo.tobytes())
    assert h.nll_bits > 0


@pytest.mark.parametrize("data", [b"", b"\x89AR", b"hello world, not an archive", b"\x89PNG\r\n\x1a\n" + bytes(50)])
def test_not_an_archive(data):
    with pytest.raises(FormatError, match="not an arz archive"):
        api.decompress_image(data)


def test_unknown_version(blob):
    data = bytearray(blob)
    data[4] = 99
    with pytest.raises(FormatError, match="version 99"):
        api.decompress_image(bytes(data))


def test_unknown_layout(blob):
    data = bytearray(blob)
    data[8] = 7  # the layout byte
    with pytest.raises(FormatError, match="tile layout 7"):
        api.decompress_image(reseal(data, container.read_header(blob).size))


def test_changed_scale_offsets_are_caught(blob):
    """A header whose adaptation was altered (CRC resealed) decodes to other tables: the pixel
    checksum turns that into an error."""
    data = bytearray(blob)
    data[9] = (data[9] + 6) % 256  # the first channel's log2-scale offset
    with pytest.raises(FormatError, match="checksum mismatch|does not decode"):
        api.decompress_image(reseal(data, container.read_header(blob).size))


def test_every_truncation_is_an_error(blob):
    for n in list(range(0, 120)) + list(range(120, len(blob), max(1, len(blob) // 50))):
        with pytest.raises(FormatError):
            api.decompress_image(blob[:n])


def test_trailing_garbage(blob):
    with pytest.raises(FormatError):
        api.decompress_image(blob + b"\0")


def test_corrupted_bytes_anywhere_are_errors(blob, small_photo):
    rng = np.random.default_rng(0)
    for pos in list(range(0, 90)) + list(rng.integers(90, len(blob), 40)):
        data = bytearray(blob)
        data[pos] ^= 1 << int(rng.integers(0, 8))
        with pytest.raises(FormatError):
            api.decompress_image(bytes(data))


def test_payload_corruption_behind_a_valid_crc_is_caught_by_the_pixel_checksum(blob):
    """Even a payload whose CRC was forged decodes to an error, never to silent wrong pixels."""
    h = container.read_header(blob)
    data = bytearray(blob)
    data[h.size + 10] ^= 0x55
    payload = bytes(data[h.size:])
    end = h.size - 4
    tail_off = end - 4  # payload_crc sits just before the header CRC
    data[tail_off:end] = struct.pack("<I", zlib.crc32(payload))
    with pytest.raises(FormatError, match="checksum mismatch|does not decode"):
        api.decompress_image(reseal(data, h.size))


def test_model_not_installed_is_named(blob):
    h = container.read_header(blob)
    data = bytearray(blob)
    name_off = NAME_OFFSET
    sha_off = name_off + len(h.model_name)
    data[sha_off:sha_off + 16] = bytes(16)
    with pytest.raises(FormatError, match=f"'{h.model_name}'.*not installed"):
        api.decompress_image(reseal(data, h.size))


def test_absurd_geometry_rejected_before_allocation(blob):
    h = container.read_header(blob)
    data = bytearray(blob)
    geo = NAME_OFFSET + len(h.model_name) + 16
    data[geo:geo + 8] = struct.pack("<II", 10 ** 6, 10 ** 6)
    with pytest.raises(FormatError, match="image size"):
        api.decompress_image(reseal(data, h.size))


def test_damaged_model_file_is_refused(tmp_path, monkeypatch):
    src = registry.models_dir()
    for f in src.iterdir():
        if f.is_file():
            (tmp_path / f.name).write_bytes(f.read_bytes())
    name = registry.model_for_level()
    path = tmp_path / f"{name}.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    monkeypatch.setattr(registry, "models_dir", lambda: tmp_path)
    registry.manifest.cache_clear()
    registry.load.cache_clear()
    try:
        with pytest.raises(ModelError, match="damaged"):
            registry.load(name)
    finally:
        monkeypatch.undo()
        registry.manifest.cache_clear()
        registry.load.cache_clear()
