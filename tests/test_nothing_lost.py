"""Every input's bytes or its contract come back, and hostile archives cost little: one test per
finding of the review that found arzip 0.1.0 losing data or spending without bound (issue 25).
Each of these failed on 0.1.0."""
from __future__ import annotations

import io
import os
import stat
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from arzip import api, container, files, limits
from arzip.bytes import container as byte_container
from arzip.errors import ArzipError, FormatError, UnsupportedInput
from arzip.formats import picture, png
from arzip.image import container as image_container

from .conftest import png_bytes

ZIP_END = b"PK\x05\x06" + bytes(18)  # an empty zip archive: what is appended to PNGs in the wild


def _file_round_trip(tmp_path, name: str, data: bytes, **options) -> tuple[bytes, api.Report]:
    """compress --rm, then decompress: what comes back, and compress's report."""
    src = tmp_path / name
    src.write_bytes(data)
    report = api.compress_file(src, remove_source=True, **options)
    assert not src.exists()
    api.decompress_file(report.target, remove_source=True)
    return src.read_bytes(), report


def test_bytes_after_a_pngs_iend_come_back(tmp_path, small_photo):
    data = png_bytes(small_photo) + ZIP_END
    back, report = _file_round_trip(tmp_path, "photo.png", data)
    assert report.kind == "image" and report.contract == "pixels and chunks exact, image data re-deflated"
    assert back.endswith(b"IEND\xaeB`\x82" + ZIP_END)
    assert png.without_image_data(back) == png.without_image_data(data)


def test_an_iend_holding_data_goes_the_byte_path(tmp_path, small_photo):
    data = png_bytes(small_photo)
    assert data.endswith(png._chunk(b"IEND", b""))
    data = data[:-12] + png._chunk(b"IEND", b"data")
    back, report = _file_round_trip(tmp_path, "odd.png", data)
    assert report.kind == "bytes" and back == data


def test_tiff_tags_come_back_byte_for_byte(tmp_path, small_photo):
    buf = io.BytesIO()
    Image.fromarray(small_photo).save(buf, "TIFF", tiffinfo={270: "a description", 282: 300.0, 283: 300.0, 296: 2,
                                                            33550: (0.5, 0.5, 0.0)})  # GeoTIFF's pixel scale
    data = buf.getvalue()
    back, report = _file_round_trip(tmp_path, "scan.tif", data)
    assert report.kind == "image" and report.contract == "bytes exact"
    assert back == data


def test_webp_exif_and_xmp_come_back(tmp_path, small_photo):
    buf = io.BytesIO()
    exif, xmp = b"II*\x00\x08\x00\x00\x00\x00\x00", b"<x:xmpmeta>golden</x:xmpmeta>"
    Image.fromarray(small_photo).save(buf, "WEBP", lossless=True, exif=exif, xmp=xmp, icc_profile=b"icc" * 50)
    data = buf.getvalue()
    back, report = _file_round_trip(tmp_path, "photo.webp", data)
    assert report.kind == "image"
    assert report.contract in ("bytes exact", "pixels and metadata chunks exact, image data re-encoded")
    with Image.open(io.BytesIO(back)) as im:
        assert (im.info["exif"], im.info["xmp"], im.info["icc_profile"]) == (exif, xmp, b"icc" * 50)
        assert np.array_equal(np.asarray(im), small_photo)


def test_a_webp_chunk_pillow_would_drop_sends_the_file_the_byte_path(tmp_path, small_photo):
    buf = io.BytesIO()
    Image.fromarray(small_photo).save(buf, "WEBP", lossless=True)
    riff = buf.getvalue()
    body = riff[12:] + b"ABCD" + (4).to_bytes(4, "little") + b"note"  # an unknown chunk
    data = b"RIFF" + (4 + len(body)).to_bytes(4, "little") + b"WEBP" + body
    back, report = _file_round_trip(tmp_path, "odd.webp", data)
    assert report.kind == "bytes" and back == data


def test_pbm_padding_bits_come_back(tmp_path):
    data = b"P4\n5 2\n" + bytes([0b10100111, 0b01010001])  # the low three bits of each row are padding
    back, report = _file_round_trip(tmp_path, "page.pbm", data)
    assert back == data


def test_a_bmp_header_pillow_does_not_write_comes_back(tmp_path, small_photo):
    data = bytearray(_bmp(small_photo))
    data[38:46] = (11811).to_bytes(4, "little") * 2  # 300 dpi in pixels per metre: Pillow writes its own
    back, report = _file_round_trip(tmp_path, "scan.bmp", bytes(data))
    assert report.kind == "image" and report.contract == "bytes exact" and back == bytes(data)


def _bmp(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "BMP")
    return buf.getvalue()


def test_a_wrapper_over_the_limit_goes_the_byte_path(tmp_path, small_photo, monkeypatch):
    """A 1x1 PNG whose private chunk is over the wrapper limit (64 MiB; 4 kB here) was written as an
    image archive that decompress refused ("wrapper too large")."""
    monkeypatch.setattr(limits, "MAX_WRAPPER", 4096)
    raw = png_bytes(small_photo[:1, :1])
    data = raw[:33] + png._chunk(b"prVt", os.urandom(5000)) + raw[33:]
    back, report = _file_round_trip(tmp_path, "tiny.png", data)
    assert report.kind == "bytes" and back == data


def _bmp_archive_with_wrapper(small_photo, wrapper: bytes) -> bytes:
    header, payloads = image_container.unpack(api.compress(_bmp(small_photo)))
    from dataclasses import replace
    return image_container.pack(replace(header, wrapper=wrapper), payloads)


@pytest.mark.parametrize("wrapper", [b"{}", b"[]", b'{"mode": "RGB"}', b'{"mode": "P", "options": {}}', b"\xff"])
def test_test_fails_where_decompress_fails(tmp_path, small_photo, wrapper):
    """A CRC-valid archive whose BMP file data is damaged: `arzip test` said OK and decompress
    failed with "internal error: KeyError"; now both say it is corrupted, in one line."""
    path = tmp_path / "bad.bmp.arz"
    path.write_bytes(_bmp_archive_with_wrapper(small_photo, wrapper))
    with pytest.raises(FormatError, match="corrupted archive"):
        api.test_file(path)
    with pytest.raises(FormatError, match="corrupted archive"):
        api.decompress_file(path, tmp_path / "bad.bmp")
    assert not (tmp_path / "bad.bmp").exists()


def test_arzip_test_runs_the_files_writer(tmp_path, small_photo):
    path = tmp_path / "p.png.arz"
    path.write_bytes(api.compress(png_bytes(small_photo) + ZIP_END))
    report = api.test_file(path)
    assert report.target_bytes == len(api.decompress(path.read_bytes()))  # the written file's size


def _byte_archive(*records: bytes) -> bytes:
    """A byte archive naming the installed byte model, with these block records."""
    from arzip import registry
    model = registry.hash_prefix(registry.bytes_model(), byte_container.COMPACT_MODEL_HASH_BYTES)
    return container.prefix(container.KIND_BYTES) + model + b"".join(records) + b"\xff" + bytes(4)


def _model_block(raw_len: int, segments: int, coded: bytes) -> bytes:
    return bytes([byte_container.METHOD_MODEL]) + container.varint(raw_len) + container.varint(len(coded)) + \
        container.varint(segments) + coded


def test_a_hostile_segment_count_is_refused_before_allocating():
    """27 bytes asked for about 27 GB: the segment count was checked only against the block length."""
    blob = _byte_archive(_model_block(8 << 20, 8 << 20, bytes(4)))
    assert len(blob) < 40
    with pytest.raises(FormatError, match="segments"):
        api.decompress(blob)


def test_a_tiny_model_block_cannot_claim_megabytes(monkeypatch):
    """A 25-byte archive cost 10 s of CPU before its CRC failed: a model block of 8 MiB with a
    4-byte payload. Its payload cannot hold 8 Mi bytes' decisions: refused at once."""
    blob = _byte_archive(_model_block(8 << 20, 64, bytes(4)))
    t0 = time.process_time()
    with pytest.raises(FormatError, match="cannot code"):
        api.decompress(blob)
    assert time.process_time() - t0 < 1.0


def _image_header_claiming(width: int, height: int, payload: bytes) -> bytes:
    header = image_container.Header(picture.RGB, 8, 0, width, height, bytes(16), b"\x00\x00\x00",
                                    (("rgb-mlp1", bytes(8)),),
                                    (image_container.Part(image_container.PLANE_COLOURS,
                                                          image_container.METHOD_QUICK_MIXING, 0),))
    return image_container.pack(header, [payload])


def test_a_pixel_bomb_is_refused_at_once():
    """A 53-byte archive claiming 16000x16000 pixels took 16 s and 681 MB."""
    blob = _image_header_claiming(16000, 16000, bytes(8))
    with pytest.raises(FormatError, match="over the limit"):
        api.decompress(blob)
    try:  # with the limit raised, the payload is too short for the model decisions it claims
        api.set_max_pixels(1 << 30)
        t0 = time.process_time()
        with pytest.raises(FormatError, match="cannot code"):
            api.decompress(blob)
        assert time.process_time() - t0 < 1.0
    finally:
        api.set_max_pixels(api.DEFAULT_MAX_PIXELS)


def test_the_default_pixel_limit_is_near_pillows():
    assert api.DEFAULT_MAX_PIXELS <= 2 * Image.MAX_IMAGE_PIXELS  # Pillow's error limit
    assert api.DEFAULT_MAX_PIXELS >= 11648 * 8736  # a 102-megapixel camera's photo


def test_output_limit(tmp_path, small_photo):
    text = bytes(range(256)) * 40
    image_blob, text_blob = api.compress(png_bytes(small_photo)), api.compress(text)
    try:
        api.set_max_output(1000)
        for blob in (image_blob, text_blob):
            with pytest.raises(ArzipError, match="size limit"):
                api.decompress(blob)
        path = tmp_path / "t.arz"
        path.write_bytes(text_blob)
        with pytest.raises(ArzipError, match="size limit"):
            api.decompress_file(path, tmp_path / "t")
        with pytest.raises(ArzipError, match="size limit"):
            api.test_file(path)
        assert not (tmp_path / "t").exists()
        api.set_max_output(len(text))
        assert api.decompress(text_blob) == text
    finally:
        api.set_max_output(None)


def test_temporary_outputs_are_private_while_written(tmp_path):
    old = os.umask(0)
    try:
        target = tmp_path / "out.bin"
        with files.open_output(target, force=False) as f:
            f.write(b"secret")
            assert stat.S_IMODE(os.fstat(f.fileno()).st_mode) == 0o600
        assert stat.S_IMODE(target.stat().st_mode) == 0o666  # then the mode a new file gets
        keep = files.Metadata(0o640, 0, 0)
        with files.open_output(tmp_path / "kept.bin", force=False, keep=keep) as f:
            assert stat.S_IMODE(os.fstat(f.fileno()).st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / "kept.bin").stat().st_mode) == 0o640
    finally:
        os.umask(old)


def test_verify_removes_an_archive_that_does_not_give_the_input_back(tmp_path, small_photo, monkeypatch):
    src = tmp_path / "photo.png"
    src.write_bytes(png_bytes(small_photo))
    monkeypatch.setattr(picture, "keeps", lambda *args: False)  # as if decoding gave something else
    with pytest.raises(ArzipError, match="verification failed"):
        api.compress_file(src, remove_source=True)
    assert src.exists() and not (tmp_path / "photo.png.arz").exists()
    text = tmp_path / "notes.txt"
    text.write_bytes(b"notes " * 100)
    monkeypatch.setattr(api, "_same_bytes", lambda *args: False)
    with pytest.raises(ArzipError, match="verification failed"):
        api.compress_file(text, verify=True)
    assert text.exists() and not (tmp_path / "notes.txt.arz").exists()


def test_info_says_the_contract_and_the_release(tmp_path, small_photo):
    import importlib.metadata
    image = api.info(api.compress(png_bytes(small_photo)))
    assert image["contract"] == "pixels and chunks exact, image data re-deflated"
    assert image["written_by"] == f"arzip {importlib.metadata.version('arzip')}"
    assert api.info(api.compress(b"abc" * 10))["contract"] == "bytes exact"
    assert api.info(api.compress(_bmp(small_photo)))["contract"] == "bytes exact"


def test_the_package_version_names_the_format_it_writes():
    """The package version changes whenever what the encoder writes changes: every format
    version names the release that writes it, and this release writes the newest."""
    import importlib.metadata
    assert container.WRITTEN_BY[container.FORMAT_VERSION] == f"arzip {importlib.metadata.version('arzip')}"
    assert set(container.WRITTEN_BY) == set(container.READABLE_VERSIONS)
    assert len(set(container.WRITTEN_BY.values())) == len(container.WRITTEN_BY)


def test_patch_is_checked_against_the_original():
    from arzip.formats import rewrite
    original, rewritten = b"head-ORIGINAL-tail", b"head-rewritten-tail"
    found = rewrite.patch(original, rewritten)
    assert found["middle"] == b"ORIGINAL".hex() and rewrite.apply_patch(rewritten, found) == original
    with pytest.raises(FormatError, match="byte for byte"):  # another writer's rewrite
        rewrite.apply_patch(b"head-rewritten-tail!", found)
    assert rewrite.patch(os.urandom(1 << 18), os.urandom(1 << 18)) is None  # nothing in common
    assert zlib.crc32(original) == found["crc32"]


@pytest.mark.parametrize("fmt", range(len(picture.FORMATS)))
def test_a_wrapper_of_another_format_is_refused(small_photo, fmt):
    """The fuzzer's find: a PNG archive whose format byte said netpbm (CRC recomputed) wrote the
    PNG's chunks as a netpbm header before the samples, a file that is no image, with no error."""
    from dataclasses import replace
    blob = api.compress(png_bytes(small_photo))
    header, payloads = image_container.unpack(blob)
    changed = image_container.pack(replace(header, format=fmt), payloads)
    if picture.FORMATS[fmt] == "png":
        assert api.decompress(changed) == api.decompress(blob)
    else:
        with pytest.raises(FormatError, match="corrupted archive"):
            api.decompress(changed)


@pytest.mark.parametrize("wrapper", [b"\x00\x00\x00" + bytes(1 << 22),  # 512 Ki empty records of type 0000
                                     b"[" * (1 << 20)])  # JSON nested far past Python's stack
def test_a_hostile_wrapper_is_refused_at_its_first_bad_record(small_photo, wrapper):
    """The fuzzer's find: 64 MiB of zeros in a PNG wrapper were parsed into 8 Mi chunk records
    (+1 GB) before the check that refused them."""
    from dataclasses import replace
    import tracemalloc
    for blob in (api.compress(png_bytes(small_photo)), api.compress(_bmp(small_photo))):
        header, payloads = image_container.unpack(blob)
        changed = image_container.pack(replace(header, wrapper=wrapper), payloads)
        tracemalloc.start()
        with pytest.raises(FormatError, match="corrupted archive"):
            api.decompress(changed)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        if wrapper[0] == 0:  # 8 Mi records had cost far more than the wrapper itself
            assert peak < 6 * len(wrapper), peak


def test_version_says_which_format_it_writes():
    from .conftest import arzip
    r = arzip("--version")
    assert r.returncode == 0 and f"writes .arz format version {container.FORMAT_VERSION}" in r.stdout


def test_the_outputs_folder_is_synced_before_the_input_goes(tmp_path, monkeypatch):
    """--rm: a crash just after the unlink must not find the input gone and the output's name not on disk."""
    import pathlib
    calls = []
    real_fsync, real_unlink = os.fsync, pathlib.Path.unlink
    monkeypatch.setattr(files.os, "fsync", lambda fd: (calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"))),
                                                       real_fsync(fd))[1])
    monkeypatch.setattr(pathlib.Path, "unlink", lambda path, **kw: (calls.append(("unlink", str(path))),
                                                                     real_unlink(path, **kw))[1])
    src = tmp_path / "notes.txt"
    src.write_bytes(b"notes " * 50)
    api.compress_file(src, remove_source=True)
    assert not src.exists()
    assert calls.index(("fsync", str(tmp_path))) < calls.index(("unlink", str(src)))


@pytest.mark.parametrize("renamed", [b"PLTe", b"acTL", b"IEND"])
def test_a_wrapper_that_would_write_an_unreadable_png_is_refused(renamed):
    """The fuzzer's find: a palette PNG's wrapper with its PLTE chunk renamed (CRC recomputed)
    decoded to a PNG no reader takes (a palette image without a palette)."""
    from dataclasses import replace
    indices = np.arange(48, dtype=np.uint8).reshape(6, 8, 1) % 4
    blob = api.compress_image(picture.new(indices, picture.PALETTE, 8, np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0],
                                                                                 [0, 0, 255]], np.uint8)))
    header, payloads = image_container.unpack(blob)
    assert b"PLTE" in header.wrapper
    changed = image_container.pack(replace(header, wrapper=header.wrapper.replace(b"PLTE", renamed)), payloads)
    with pytest.raises(FormatError, match="corrupted archive"):
        api.decompress(changed)
