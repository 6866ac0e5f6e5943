"""The .arz container: damaged, truncated, foreign or unsupported archives are clear errors."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from arzip import api, registry
from arzip.container import MAGIC
from arzip.errors import FormatError, ModelError
from arzip.formats import picture
from arzip.image import container



@pytest.fixture(scope="module")
def blob(small_photo) -> bytes:
    return api.compress_image(small_photo)


def rebuild(blob: bytes, **changes) -> bytes:
    """The archive with header fields changed (header CRC valid again)."""
    h, payloads = container.unpack(blob)
    fields = {k: getattr(h, k) for k in ("color_type", "depth", "format", "width", "height", "checksum",
                                         "wrapper", "models", "parts")}
    fields.update(changes)
    return container.pack(container.Header(**fields), payloads)


def test_layout_fields(blob, small_photo):
    h = container.read_header(blob)
    assert blob[:4] == MAGIC
    assert (h.width, h.height, h.color_type, h.depth) == (small_photo.shape[1], small_photo.shape[0], 2, 8)
    (part,) = h.parts
    assert h.models[part.model][0] == registry.model_for_level()
    assert h.checksum == picture.new(small_photo, picture.RGB, 8).checksum()
    assert h.nll_bits > 0 and h.size < 100  # a compact header: tiny images must not pay for it


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
    part = container.read_header(blob).parts[0]
    with pytest.raises(FormatError, match="tile layout 7"):
        api.decompress_image(rebuild(blob, parts=(replace(part, layout=7),)))


def test_changed_scale_offsets_are_caught(blob, small_photo):
    """A header whose adaptation was altered (CRC resealed) decodes to other tables: the pixel
    checksum turns that into an error; a mixing part, which has no offsets, is refused."""
    network_alone = api.compress_image(small_photo, level=4)
    for archive, error in ((network_alone, "checksum mismatch|does not decode"), (blob, "scale offsets")):
        part = container.read_header(archive).parts[0]
        with pytest.raises(FormatError, match=error):
            api.decompress_image(rebuild(archive, parts=(replace(part, scale_offsets=(6, 0, 0)),)))


def test_parts_that_do_not_fit_the_image(blob):
    part = container.read_header(blob).parts[0]
    with pytest.raises(FormatError, match="do not fit"):
        api.decompress_image(rebuild(blob, parts=(replace(part, plane=container.PLANE_ALPHA),)))
    with pytest.raises(FormatError, match="colour type"):
        api.decompress_image(rebuild(blob, depth=5))


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
    h, (payload,) = container.unpack(blob)
    damaged = bytearray(payload)
    damaged[10] ^= 0x55
    forged = container.pack(h, [bytes(damaged)])  # pack computes a fresh CRC for it
    with pytest.raises(FormatError, match="checksum mismatch|does not decode"):
        api.decompress_image(forged)


def test_model_not_installed_is_named(blob):
    h = container.read_header(blob)
    name = h.models[0][0]
    with pytest.raises(FormatError, match=f"'{name}'.*not installed"):
        api.decompress_image(rebuild(blob, models=((name, bytes(8)),)))


def test_absurd_geometry_rejected_before_allocation(blob):
    with pytest.raises(FormatError, match="over the limit"):
        api.decompress_image(rebuild(blob, width=10 ** 6, height=10 ** 6))


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
