"""The JPEG path end to end: api and command line, the coefficient model's round trip, levels,
the byte path for what cannot go through coefficients, and damaged archives.
(tests/test_jpeg_transcode.py covers taking files apart and putting them back.)"""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import arzip
from arzip import api, container, registry
from arzip.errors import ArzipError, FormatError
from arzip.jpeg import codec, contexts, prior, train, transcode
from arzip.jpeg.transcode import ComponentGeometry, Geometry

from .conftest import JPEG, arzip as run_arzip, assert_one_line_error

pytestmark = JPEG  # one worker compiles the JPEG kernels (tests/conftest.py)


def jpeg(pixels: np.ndarray, **options) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", **options)
    return buf.getvalue()


@pytest.fixture(scope="module")
def crop(photo) -> np.ndarray:
    return np.ascontiguousarray(photo[64:192, 160:352])  # 128x192, texture and edges


@pytest.mark.parametrize("options", [dict(quality=90), dict(quality=60, subsampling=0), dict(quality=75, subsampling=1),
                                     dict(quality=85, progressive=True), dict(quality=80, optimize=True),
                                     dict(quality=80, restart_marker_blocks=5)],
                         ids=["q90-420", "q60-444", "q75-422", "progressive", "optimized", "restarts"])
def test_jpegs_come_back_byte_for_byte_and_smaller(crop, options):
    data = jpeg(crop, **options)
    blob = arzip.compress(data)
    assert api.info(blob)["kind"] == "jpeg"
    assert arzip.decompress(blob) == data
    assert len(blob) < 0.95 * len(data)  # the side (headers, tables) weighs on a 5 kB file


def test_gray_and_cmyk_jpegs(crop):
    cmyk = io.BytesIO()
    Image.fromarray(crop).convert("CMYK").save(cmyk, format="JPEG", quality=85)
    for data in (jpeg(crop[..., 0], quality=85), cmyk.getvalue()):
        blob = arzip.compress(data)
        assert api.info(blob)["kind"] == "jpeg"
        assert arzip.decompress(blob) == data


def test_levels_below_9_take_the_default_profile_and_level_9_the_strong_one(crop):
    data = jpeg(crop, quality=90)
    default, strong = arzip.compress(data), arzip.compress(data, level=9)
    assert "default" in api.info(default)["method"] and "strong" in api.info(strong)["method"]
    assert arzip.decompress(default) == data and arzip.decompress(strong) == data


def test_archives_name_the_shipped_prior_and_a_missing_one_is_a_clear_error(crop, monkeypatch):
    data = jpeg(crop, quality=90)
    blob = arzip.compress(data)
    summary = api.info(blob)
    assert summary["prior"] == registry.jpeg_prior()
    assert bytes.fromhex(summary["prior_sha256"]) == registry.hash_prefix(registry.jpeg_prior(), 8)
    monkeypatch.setattr(registry, "find_by_hash_prefix", lambda prefix: None)
    with pytest.raises(FormatError, match=summary["prior_sha256"]):
        arzip.decompress(blob)


def test_the_prior_saves_fewer_bytes_than_fresh_tables_and_decodes_only_with_itself(crop):
    parts = transcode.take_apart(jpeg(crop, quality=90), 1 << 30)
    shipped = registry.load_jpeg_prior(registry.jpeg_prior())
    fresh, _ = codec.encode(parts.geometry, parts.planes, False, None, codec.SPLIT_MIN_BLOCKS)
    primed, _ = codec.encode(parts.geometry, parts.planes, False, shipped, codec.SPLIT_MIN_BLOCKS)
    assert sum(len(s) for _, s in primed) < 0.97 * sum(len(s) for _, s in fresh)
    for a, b in zip(parts.planes, codec.decode(parts.geometry, primed, False, shipped)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises((ValueError, FormatError, AssertionError)):  # fresh tables read the stream as something else
        for a, b in zip(parts.planes, codec.decode(parts.geometry, primed, False, None)):
            np.testing.assert_array_equal(a, b)


def test_training_a_prior_caps_its_counts_and_writes_the_same_file_twice(tmp_path, crop):
    files = []
    for i, q in enumerate((60, 85, 95)):
        files.append(tmp_path / f"{i}.jpg")
        files[-1].write_bytes(jpeg(crop[:, 32 * i:], quality=q))
    state = train.train(files)
    assert (state.cells & 1023).max() == train.COUNT_CAP
    assert state.weights[:, contexts.INPUTS].max() <= train.USES_CAP
    for name in ("a", "b"):
        prior.save(state, tmp_path / f"{name}.safetensors", {"training_files": len(files)})
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()
    back = prior.load(tmp_path / "a.safetensors")
    assert all(np.array_equal(getattr(back, k), getattr(state, k)) for k in ("cells", "weights", "apm"))
    (tmp_path / "c.safetensors").write_bytes(b"not a prior")
    with pytest.raises(Exception):
        prior.load(tmp_path / "c.safetensors")


def test_info_reports_the_parts_and_the_models_nll(crop):
    data = jpeg(crop, quality=90)
    summary = api.info(arzip.compress(data))
    assert summary["original_bytes"] == len(data) and summary["contract"] == "bytes exact"
    assert abs(summary["payload_over_nll_percent"]) < 1  # rate = NLL


def test_a_damaged_jpeg_comes_back_exactly_through_one_path_or_the_other(crop):
    data = jpeg(crop, quality=85)
    cut = data[:len(data) * 2 // 3]  # truncated inside the scan
    rng = np.random.default_rng(3)
    mangled = bytearray(data)
    for i in rng.integers(700, len(data) - 10, 20):
        mangled[i] ^= 0x5A
    for broken in (cut, cut + bytes(300), bytes(mangled), data + b"trailing garbage" * 10):
        assert arzip.decompress(arzip.compress(broken)) == broken


def test_a_file_that_only_starts_like_a_jpeg_goes_the_byte_path():
    data = b"\xff\xd8\xff\xe0" + b"not a JPEG at all, " * 50
    blob = arzip.compress(data)
    assert api.info(blob)["kind"] == "bytes"
    assert arzip.decompress(blob) == data
    with pytest.raises(ArzipError):
        arzip.compress(data, as_="jpeg")


def test_damaged_archives_are_refused_with_an_arzip_error(crop):
    data = jpeg(crop, quality=85)
    blob = arzip.compress(data)
    rng = np.random.default_rng(11)
    for _ in range(40):
        bad = bytearray(blob)
        for i in rng.integers(container.PREFIX_SIZE, len(bad), 3):
            bad[i] ^= int(rng.integers(1, 256))
        try:
            out = arzip.decompress(bytes(bad))
        except ArzipError:
            continue
        assert out == data  # a flip the format does not read
    for n in (7, 20, len(blob) // 2, len(blob) - 1):
        with pytest.raises(ArzipError):
            arzip.decompress(blob[:n])


def _random_planes(seed: int, blocks_y: int = 6, blocks_x: int = 5) -> tuple[Geometry, list[np.ndarray]]:
    """Planes of sparse coefficients with every magnitude class, up to int16's limits."""
    rng = np.random.default_rng(seed)
    comps, planes = [], []
    for c, (h, v) in enumerate([(2, 2), (1, 1), (1, 1)]):
        by, bx = blocks_y * v, blocks_x * h
        plane = np.zeros((by, bx, 64), np.int16)
        mask = rng.random(plane.shape) < 0.2
        plane[mask] = rng.integers(-40, 41, mask.sum())
        plane[0, 0, :4] = [-32768, 32767, 1000, -1]
        plane[..., 0] = rng.integers(-1024, 1024, (by, bx))
        planes.append(plane)
        comps.append(ComponentGeometry(c + 1, h, v, by, bx, rng.integers(0, 60, 64).astype(np.uint16)))
    return Geometry(bx * 8, by * 8, 8, False, tuple(comps)), planes


@pytest.mark.parametrize("strong", [False, True])
def test_the_coefficient_model_decodes_what_it_encodes(strong):
    geometry, planes = _random_planes(1)
    segments, costs = codec.encode(geometry, planes, strong, None, codec.SPLIT_MIN_BLOCKS)
    assert costs.shape == (contexts.COST_KINDS,) and costs.sum() > 0
    back = codec.decode(geometry, segments, strong, None)
    for a, b in zip(planes, back):
        np.testing.assert_array_equal(a, b)


def test_large_images_are_coded_in_two_segments_that_decode_the_same():
    geometry, planes = _random_planes(2, blocks_y=70, blocks_x=60)  # 25,200 blocks, 70 bands
    segments, _ = codec.encode(geometry, planes, False, None, codec.SPLIT_MIN_BLOCKS_STRONG)
    assert len(segments) == 2 and sum(bands for bands, _ in segments) == 70
    for a, b in zip(planes, codec.decode(geometry, segments, False, None)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(FormatError):
        codec.decode(geometry, [(segments[0][0], segments[0][1])], False, None)  # bands missing


def test_command_line_compress_and_decompress_a_jpeg(tmp_path, crop):
    src = tmp_path / "photo.jpg"
    src.write_bytes(jpeg(crop, quality=88))
    r = run_arzip("compress", src)
    assert r.returncode == 0, r.stderr
    assert "JPEG" in r.stderr and "coefficients" in r.stderr
    src.rename(tmp_path / "original.jpg")
    r = run_arzip("decompress", tmp_path / "photo.jpg.arz")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "photo.jpg").read_bytes() == (tmp_path / "original.jpg").read_bytes()
    r = run_arzip("info", tmp_path / "photo.jpg.arz")
    assert "arz JPEG" in r.stdout
    assert_one_line_error(run_arzip("decompress", "--to", "png", "-f", tmp_path / "photo.jpg.arz"), "--to")


def test_the_jpeg_tests_share_one_worker(request):
    """Under README's `--dist loadgroup` the JPEG tests run on one worker, which compiles the
    JPEG path once; pytest-xdist marks that by the group's name at the end of the test's id
    (pytest 9.2 dropped it, and the suite compiled the JPEG path on both workers)."""
    if request.config.getvalue("loadgroup"):
        assert request.node.nodeid.endswith("@jpeg")
