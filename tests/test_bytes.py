"""The byte path: any file comes back byte for byte, the model is exact however the work is cut,
nothing expands beyond its bound, damage is reported."""
from __future__ import annotations

import io
import os
import sysconfig
from pathlib import Path

import numpy as np
import pytest
import torch

import arzip
from arzip import registry
from arzip.container import varint
from arzip.bytes import archive as byte_archive, cm as byte_cm, codec as byte_codec, container as byte_container
from arzip.bytes import mixer as byte_mixer
from arzip.bytes.exact import ByteNetConfig
from arzip.bytes.export import to_exact
from arzip.bytes.model import ByteNet
from arzip.errors import FormatError

from .test_cli import arzip as run_cli
from .test_cli import assert_one_line_error


def text_sample(n: int = 60_000) -> bytes:
    """Real English prose and code that ship with Python (not the benchmark files)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    return ((stdlib / "argparse.py").read_bytes() + (stdlib / "textwrap.py").read_bytes())[:n]


SAMPLES = {
    "empty": b"",
    "one byte": b"\x00",
    "all values": bytes(range(256)) * 3,
    "random": np.random.default_rng(1).integers(0, 256, 50_000, dtype=np.uint8).tobytes(),
    "repetitive": b"abcabcabd" * 20_000,
    "text": text_sample(),
    "binary": np.arange(30_000, dtype="<u4").tobytes() + np.linspace(0, 1, 5000).tobytes(),
}


@pytest.mark.parametrize("name", SAMPLES)
def test_round_trip(name):
    data = SAMPLES[name]
    blob = arzip.compress_bytes(data)
    assert arzip.decompress_bytes(blob) == data
    assert arzip.decompress(blob) == data
    info = arzip.info(blob)
    assert info["kind"] == "bytes" and info["original_bytes"] == len(data)


def test_text_beats_xz_and_random_never_expands():
    import lzma
    text = SAMPLES["text"]
    assert len(arzip.compress_bytes(text)) < 0.9 * len(lzma.compress(text, preset=9 | lzma.PRESET_EXTREME))
    noise = SAMPLES["random"]
    blob = arzip.compress_bytes(noise)
    overhead = len(arzip.compress_bytes(b""))  # header + end record
    assert len(blob) <= len(noise) * 1.001 + overhead + 15  # one block record header
    assert arzip.info(blob)["methods"] == {"stored": 1}


def test_network_tables_equal_the_matmul():
    """The mixer kernel runs the network by integer table lookups; they must give exactly the
    activations of the plain matmul over the embedded context, and the float network's logits
    up to quantization."""
    torch.manual_seed(3)
    width = 12
    model = ByteNet(ByteNetConfig(context=width, embed=8, hidden=64))
    ctx = np.random.default_rng(0).integers(0, 256, (300, width), dtype=np.uint8)
    net = to_exact(model, torch.from_numpy(ctx))
    tables = net.tables()
    expected = net.hidden_of(ctx)
    assert expected.max() > 0
    data = ctx.reshape(-1)
    hidden = np.zeros((1, tables.first.shape[2]), dtype=np.int64)
    for row in range(len(ctx)):
        byte_mixer._activations(0, width, data, row * width, tables.first, tables.first_bias, tables.act_shift,
                                hidden)
        assert np.array_equal(hidden[0], expected[row]), row
    with torch.no_grad():
        float_logits = model(torch.from_numpy(ctx)).numpy()
    assert np.abs(net.logits(ctx) / 256 - float_logits)[:, 1:].max() < 0.1


def test_encoder_chunks_and_threads_do_not_change_bits(monkeypatch):
    net = registry.load_bytes(registry.bytes_model())
    data = SAMPLES["text"]
    reference, _, segments = byte_codec.encode_block(net, data)
    monkeypatch.setattr(byte_codec, "CHUNK_BITS", 8 * segments * 7)  # 7 steps per coder call
    assert byte_codec.encode_block(net, data)[0] == reference
    arzip.set_threads(1)
    try:
        assert byte_codec.encode_block(net, data)[0] == reference
    finally:
        arzip.set_threads(2)
    assert byte_codec.decode_block(net, reference, len(data), segments, sized=True) == data


def test_segment_counts_round_trip():
    net = registry.load_bytes(registry.bytes_model())
    data = SAMPLES["text"][:20_000]
    sizes = {}
    for segments in (1, 3, 64, 20_000):
        payload, _, _ = byte_codec.encode_block(net, data, segments)
        assert byte_codec.decode_block(net, payload, len(data), segments, sized=True) == data
        sizes[segments] = len(payload)
    assert sizes[1] < sizes[20_000]  # context is worth something


def test_many_blocks_mixed_methods(monkeypatch):
    monkeypatch.setattr(byte_container, "BLOCK_SIZE", 16_384)
    data = SAMPLES["text"][:32_768] + SAMPLES["random"][:16_384] + SAMPLES["text"][:9_000]
    blob = arzip.compress_bytes(data)
    info = arzip.info(blob)
    methods = info["methods"]  # 16 kB blocks try both models
    assert info["blocks"] == 4 and methods.pop("stored") == 1 and sum(methods.values()) == 3
    assert set(methods) <= {"cm3", "model"}
    assert arzip.decompress_bytes(blob) == data


def corrupt(blob: bytes, at: int) -> bytes:
    return blob[:at] + bytes([blob[at] ^ 0x40]) + blob[at + 1:]


def test_damage_is_reported():
    blob = arzip.compress_bytes(SAMPLES["text"][:20_000])
    for at in (0, 5, 8, 40, len(blob) // 2, len(blob) - 10, len(blob) - 1):
        with pytest.raises(FormatError):
            arzip.decompress_bytes(corrupt(blob, at))
    for cut in (3, 20, len(blob) // 2, len(blob) - 1):
        with pytest.raises(FormatError, match="truncated|not an arz"):
            arzip.decompress_bytes(blob[:cut])
    with pytest.raises(FormatError, match="trailing"):
        arzip.decompress_bytes(blob + b"x")


def test_lying_block_lengths_are_refused_before_allocating():
    blob = arzip.compress_bytes(b"hello world")
    head = io.BytesIO(blob)
    byte_container.read_header(head)
    at = head.tell()
    assert blob[at + 1] == 11  # the block's raw_len, a one-byte varint
    bad = blob[:at + 1] + varint(1 << 30) + blob[at + 2:]  # raw_len 1 GiB
    with pytest.raises(FormatError, match="block of"):
        arzip.decompress_bytes(bad)


def test_small_files_cost_little_beyond_their_coded_data():
    """Version 4: a 10-byte header, a block record of 4 bytes (under 128 bytes; 6 under 16 kB)
    and a 5-byte end: 19 bytes (gzip spends 18), 21 for 1 kB."""
    assert len(arzip.compress_bytes(b"")) == 15
    for data, overhead in ((b"hello world, this is a small text file.\n", 19), (SAMPLES["text"][:1000], 21)):
        blob = arzip.compress_bytes(data)
        block = byte_container.read_compact_record(io.BytesIO(blob[10:]))
        assert block.method in byte_container.SEGMENTED
        assert len(blob) - len(block.coded) == overhead
        assert arzip.decompress_bytes(blob) == data


def test_tables_are_sized_to_the_block():
    """A 1 kB block allocates 4 MB of tables, not 700 MB; a block of 8 MiB the full
    sizes; version-3 archives always the full sizes."""
    net = registry.load_bytes(registry.bytes_model())
    small = byte_mixer.MixerState(1000, 1, net, sized=True).arrays
    assert small[19].nbytes + small[20].nbytes < 8 << 20
    assert byte_mixer.table_bits(byte_container.BLOCK_SIZE, True)[0].tolist() == byte_mixer.LINE_BITS.tolist()
    assert byte_mixer.table_bits(1000, False)[1] == byte_mixer.MATCH_BITS


def test_classical_block_bomb_is_bounded():
    import zlib
    bomb = zlib.compress(b"\0" * 5_000_000, 9)
    block = byte_container.Block(byte_container.METHOD_ZLIB, 100, 0, bomb)
    with pytest.raises(FormatError, match="wrong length"):
        byte_archive.decode_block(None, block, 4)


# -- command line ----------------------------------------------------------------------------

def test_cli_any_file(tmp_path):
    src = tmp_path / "notes.txt"
    src.write_bytes(SAMPLES["text"])
    r = run_cli("compress", src)
    assert r.returncode == 0, r.stderr
    assert "bits per byte" in r.stderr and "cm3 block" in r.stderr
    arz = tmp_path / "notes.txt.arz"
    assert src.read_bytes() == SAMPLES["text"]
    assert_one_line_error(run_cli("decompress", arz), "already exists")
    r = run_cli("decompress", arz, "-o", tmp_path / "back.txt")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "back.txt").read_bytes() == SAMPLES["text"]
    r = run_cli("info", arz)
    assert r.returncode == 0 and "arz bytes" in r.stdout and "bits per byte" in r.stdout
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]


def test_cli_streams(tmp_path):
    import subprocess
    import sys
    src = tmp_path / "data.bin"
    src.write_bytes(SAMPLES["binary"])
    env = {**os.environ}
    cmd = [sys.executable, "-m", "arzip.cli"]
    a = subprocess.run(cmd + ["compress", "-c", str(src)], capture_output=True, env=env, timeout=300)
    assert a.returncode == 0, a.stderr
    b = subprocess.run(cmd + ["compress", "-"], input=src.read_bytes(), capture_output=True, env=env, timeout=300)
    assert b.returncode == 0 and b.stdout == a.stdout
    c = subprocess.run(cmd + ["decompress", "-"], input=a.stdout, capture_output=True, env=env, timeout=300)
    assert c.returncode == 0 and c.stdout == SAMPLES["binary"]
    (tmp_path / "x.arz").write_bytes(a.stdout)
    d = subprocess.run(cmd + ["decompress", "-c", str(tmp_path / "x.arz")], capture_output=True, env=env,
                       timeout=300)
    assert d.returncode == 0 and d.stdout == SAMPLES["binary"]
    assert not (tmp_path / "x").exists()


def test_cli_png_as_bytes_and_lossy_files(tmp_path, png_file):
    original = png_file.read_bytes()
    r = run_cli("compress", png_file, "--as", "bytes", "-o", tmp_path / "p.arz")
    assert r.returncode == 0, r.stderr
    r = run_cli("decompress", tmp_path / "p.arz", "-o", tmp_path / "p.png")
    assert r.returncode == 0 and (tmp_path / "p.png").read_bytes() == original
    # a JPEG (lossy) must come back byte for byte, through its coefficients or, forced, as bytes
    from PIL import Image
    jpg = tmp_path / "photo.jpg"
    Image.open(png_file).save(jpg, quality=90)
    r = run_cli("compress", "--as", "bytes", jpg)
    assert r.returncode == 0 and "bits per byte" in r.stderr, r.stderr
    jpg_bytes = jpg.read_bytes()
    jpg.unlink()
    assert run_cli("decompress", tmp_path / "photo.jpg.arz").returncode == 0
    assert jpg.read_bytes() == jpg_bytes


def test_cli_corrupt_bytes_archive(tmp_path):
    arz = tmp_path / "t.arz"
    arz.write_bytes(corrupt(arzip.compress_bytes(SAMPLES["text"][:5000]), 60))
    assert_one_line_error(run_cli("decompress", arz, "-o", tmp_path / "out"), "corrupted|checksum")
    assert not (tmp_path / "out").exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]


def test_train_export_and_code(tmp_path):
    """The training command's pieces end to end on a tiny corpus: train, resume, export, code."""
    from arzip.bytes.exact import ExactByteNet
    from arzip.bytes.export import export
    from arzip.bytes.train import train
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_bytes(text_sample(40_000))
    config = ByteNetConfig(context=4, embed=4, hidden=16)
    run = tmp_path / "run"
    train(corpus, run, 30, batch_size=64, config=config, log=lambda m: None)
    model = train(corpus, run, 40, batch_size=64, config=config, log=lambda m: None)  # resumes at 30
    assert (run / "log.jsonl").exists()
    path = export(model, corpus, run, "tiny", log=lambda m: None)
    net = ExactByteNet.load(path).tables()
    data = SAMPLES["text"][:3000]
    payload, nll, segments = byte_codec.encode_block(net, data)
    assert byte_codec.decode_block(net, payload, len(data), segments, sized=True) == data
    assert abs(8 * len(payload) - nll) < 0.01 * nll + 64  # rate = NLL


def test_noise_skips_the_model_but_keeps_lzma(monkeypatch):
    """A random-looking block is not handed to the byte model (seconds per megabyte to lose its
    header), yet a repeat inside it still reaches lzma; text still goes to the model."""
    rng = np.random.default_rng(7)
    noise = rng.bytes(1 << 16)
    text = (b"the model still codes text " * 4000)[:1 << 16]
    assert byte_archive.looks_random(noise) and byte_archive.looks_random(noise * 4)
    assert not byte_archive.looks_random(text) and not byte_archive.looks_random(noise[:1000])
    net = registry.load_bytes(registry.bytes_model())
    real_encode = byte_cm.encode_block
    called = []
    monkeypatch.setattr(byte_cm, "encode_block", lambda *a, **k: called.append(1) or real_encode(*a, **k))
    record, _ = byte_archive.code_block(net, noise)
    assert record.method == byte_container.METHOD_STORED and not called
    record, _ = byte_archive.code_block(net, noise * 4)
    assert record.method == byte_container.METHOD_LZMA and len(record.coded) < len(noise) * 1.1 and not called
    assert byte_archive.decode_block(net, record, 4) == noise * 4
    byte_archive.code_block(net, text)
    assert called


def test_cm_segments_round_trip_and_levels(monkeypatch):
    """A large block is coded as two segments side by side (the same archive on one thread or
    two), level 9 keeps it one; both decode, and damaged segment lengths are refused."""
    monkeypatch.setattr(byte_cm, "SPLIT_MIN", 4096)
    net = registry.load_bytes(registry.bytes_model())
    data = SAMPLES["text"][:20_000]  # above SMALL_BLOCK: cm alone
    assert byte_cm.segments_for(len(data), 5) == 2 and byte_cm.segments_for(len(data), 9) == 1
    cm = byte_cm.method_for(5)
    payload, nll = byte_cm.encode_block(net, data, 2, cm)
    arzip.set_threads(1)
    try:
        assert byte_cm.encode_block(net, data, 2, cm)[0] == payload
    finally:
        arzip.set_threads(2)
    assert byte_cm.decode_block(net, payload, len(data), 2, cm) == data
    assert 8 * len(payload) == pytest.approx(nll, rel=0.01)
    whole, _ = byte_cm.encode_block(net, data, 1, cm)
    assert len(whole) < len(payload)  # one segment learns from all the block
    blob = arzip.compress_bytes(data)
    assert arzip.info(blob)["methods"] == {"cm3": 1} and arzip.decompress_bytes(blob) == data
    with pytest.raises(ValueError):
        byte_cm.decode_block(net, b"\xff\xff\xff\x7f" + payload[4:], len(data), 2, cm)


def test_cm_finds_records_and_beats_xz_on_them():
    """Fixed-length records (a table of numbers): the record contexts find the stride, and the
    block costs well under xz's."""
    import lzma
    rng = np.random.default_rng(3)
    rows = [f"{i:06d};{rng.integers(0, 50):03d};{1000 + 3 * i:08d};{'ABCD'[i % 4]}\n" for i in range(3000)]
    data = "".join(rows).encode()
    blob = arzip.compress_bytes(data)
    assert arzip.info(blob)["methods"] == {"cm3": 1} and arzip.decompress_bytes(blob) == data
    assert len(blob) < 0.8 * len(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))


def _page() -> bytes:
    """A page drawn at one bit a pixel, packed 8 to a byte: a fax's raw rows (of 108 bytes)."""
    from PIL import Image, ImageDraw

    from arzip import api, cli
    page = Image.new("1", (864, 600), 0)
    draw = ImageDraw.Draw(page)
    for k, line in enumerate((api.__doc__ + cli.__doc__).splitlines()[:38]):
        draw.text((6, 6 + 15 * k), line[:140], fill=1)
    return page.tobytes()


def test_cm_codes_a_1bit_page_through_its_rows(monkeypatch):
    """A 1-bit page coded by cm (the bitmap method switched off): the long record period finds
    the row length and the 1-bit image model predicts pixels from the rows above, so the default
    level costs far under xz, and less than without that model; level 9 writes the strong
    profile and both decode."""
    import lzma

    from arzip.bytes import pages
    monkeypatch.setattr(pages, "detect", lambda block: 0)
    data = _page()
    blob, strong = arzip.compress_bytes(data), arzip.compress_bytes(data, 9)
    assert arzip.info(blob)["methods"] == {"cm3": 1} and arzip.info(strong)["methods"] == {"cm7-strong": 1}
    assert arzip.decompress_bytes(blob) == data and arzip.decompress_bytes(strong) == data
    assert len(blob) < 0.75 * len(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))
    without = byte_cm.engine.PROFILES[byte_cm.DEFAULT_METHOD].copy()
    without[byte_cm.engine.P_BITMAP] = 0
    monkeypatch.setitem(byte_cm.engine.PROFILES, byte_cm.DEFAULT_METHOD, without)
    assert len(blob) < 0.95 * len(arzip.compress_bytes(data))


def test_a_1bit_page_is_coded_as_a_page(monkeypatch):
    """The same page: detect finds its row length, the bilevel model codes it (block method 14)
    well under the cm coder at either level, and it decodes."""
    from arzip.bytes import pages
    data = _page()
    assert pages.detect(data) == 108
    blob, strong = arzip.compress_bytes(data), arzip.compress_bytes(data, 9)
    assert arzip.info(blob)["methods"] == arzip.info(strong)["methods"] == {"bitmap": 1}
    assert arzip.decompress_bytes(blob) == data and arzip.decompress_bytes(strong) == data
    monkeypatch.setattr(pages, "detect", lambda block: 0)
    assert len(blob) < 0.9 * len(arzip.compress_bytes(data, 9))


@pytest.mark.parametrize("tail", [0, 1, 107])
def test_a_page_with_bytes_after_its_last_row_round_trips(tail):
    from arzip.bytes import pages
    data = _page() + bytes(range(tail))
    payload, _ = pages.encode(data, 108)
    assert pages.decode(payload, len(data)) == data


def test_only_pages_are_taken_for_pages():
    from arzip.bytes import pages
    rng = np.random.default_rng(5)
    records = np.zeros((4000, 13), np.uint8)  # fixed-length records, mostly zeros: a table, not a page
    records[:, :4] = rng.integers(0, 256, (4000, 4))
    for data in (Path(arzip.__file__).read_bytes() * 20, bytes(rng.integers(0, 256, 1 << 16, dtype=np.uint8)),
                 records.tobytes(), bytes(1 << 16)[:100]):
        assert pages.detect(data) == 0


def test_a_damaged_page_block_is_refused():
    from arzip.bytes import pages
    data = _page()
    payload, _ = pages.encode(data, 108)
    for damaged in (payload[:1], payload[:len(payload) // 3], b"", b"\x07" + payload[1:], b"\xff" * 6):
        try:
            assert len(pages.decode(damaged, len(data))) == len(data)
        except FormatError:
            pass


def _make_golden():
    """tests/golden/make_golden.py, whose seeded generators make some of these inputs."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("make_golden", Path(__file__).parent / "golden" / "make_golden.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _strong_without(monkeypatch, field: int) -> None:
    """Level 9's cm profile with one of its models switched off (engine.PROFILES[field] = 0)."""
    without = byte_cm.engine.PROFILES[byte_cm.STRONG_METHOD].copy()
    without[field] = 0
    monkeypatch.setitem(byte_cm.engine.PROFILES, byte_cm.STRONG_METHOD, without)


def test_level9_long_match_follows_the_longer_context(monkeypatch):
    """Sentences of short common words, then repeated with a changed byte every 20: after each
    change the short match model (5 bytes) often latches on to another sentence that shares a
    few words, the long one (12 bytes) on the one being repeated, so level 9 with it costs less."""
    rng = np.random.default_rng(7)
    words = [bytes(rng.integers(97, 123, rng.integers(1, 4), dtype=np.uint8)) for _ in range(40)]
    sentences = [b" ".join(words[k] for k in rng.integers(0, 40, 30)) + b".\n" for _ in range(40)]
    again = bytearray(b"".join(sentences[k] for k in rng.integers(0, 40, 200)))
    for at in range(0, len(again), 20):
        again[at] = 48 + at % 10
    data = b"".join(sentences) + bytes(again)
    blob = arzip.compress_bytes(data, 9)
    assert arzip.info(blob)["methods"] == {"cm7-strong": 1} and arzip.decompress_bytes(blob) == data
    _strong_without(monkeypatch, byte_cm.engine.P_LONG_MATCH)
    assert len(blob) < 0.99 * len(arzip.compress_bytes(data, 9))


def test_level9_text_contexts_pay_on_nested_text(monkeypatch):
    """Indented, nested JSON: level 9's text contexts (the open brackets, the line's indentation
    and first byte, case-folded order 5, order-3 indirect) make it smaller than without them."""
    make_golden = _make_golden()
    data = make_golden.nested_json(depth=5, items=120)
    blob = arzip.compress_bytes(data, 9)
    assert arzip.decompress_bytes(blob) == data
    _strong_without(monkeypatch, byte_cm.engine.P_TEXT)
    assert len(blob) < 0.99 * len(arzip.compress_bytes(data, 9))


def test_level9_field_contexts_pay_on_a_table(monkeypatch):
    """A table of tab-separated fields: level 9's field contexts (the field's index and the
    position in it; with the byte at that position of the same field in the line before) make it
    smaller than level 9 without them (its first four text contexts only)."""
    make_golden = _make_golden()
    data = make_golden.table()
    blob = arzip.compress_bytes(data, 9)
    assert arzip.decompress_bytes(blob) == data
    fewer = byte_cm.engine.PROFILES[byte_cm.STRONG_METHOD].copy()
    fewer[byte_cm.engine.P_TEXT] = 4
    monkeypatch.setitem(byte_cm.engine.PROFILES, byte_cm.STRONG_METHOD, fewer)
    assert len(blob) < 0.99 * len(arzip.compress_bytes(data, 9))


@pytest.mark.parametrize("method", [byte_cm.DEFAULT_METHOD, byte_cm.STRONG_METHOD])
def test_the_x86_model_pays_on_x86_code(method, monkeypatch):
    """x86 code after the branch transform: the level's method with the x86 model (13 below level
    9, 12 at it) codes it smaller than the same profile without it, and decodes it."""
    from arzip import registry
    from arzip.bytes import branch
    make_golden = _make_golden()
    code = make_golden.machine_code("x86", functions=600)
    found = branch.detect(code)
    net = registry.load_bytes(registry.bytes_model())
    with_model = byte_cm.CODE_METHODS.get(method, method)
    payload, _ = byte_cm.encode_block(net, code, 1, with_model, found)
    assert byte_cm.decode_block(net, payload, len(code), 1, byte_cm.BRANCH_METHOD) == code
    without = byte_cm.engine.PROFILES[with_model].copy()
    without[byte_cm.engine.P_EXE] = 0
    monkeypatch.setitem(byte_cm.engine.PROFILES, with_model, without)
    plain, _ = byte_cm.encode_block(net, code, 1, with_model, found)
    assert len(payload) < 0.99 * len(plain)
