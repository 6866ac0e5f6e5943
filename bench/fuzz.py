"""Fuzz the archive readers: mutated, truncated and spliced archives of every kind, and header
fields rewritten with the CRCs recomputed.

    python bench/fuzz.py [--cases 10000] [--workers 2] [--seed 0] [--mutations all|field]
                         [--memory-limit-gib 3] [--cpu-cap 20] [--out bench/results]
    python bench/fuzz.py [--seed 0] [--mutations all|field] --only CASE[,CASE...] [--out DIR]   (replay)

The seeds are small archives of every kind arzip writes: images through the RGB and gray
models, RGBA (model + alpha through the full-depth model or the byte path), palette, 4-bit and
1-bit images through the index and bilevel models, 16-bit images through the full-depth model,
the byte path and (widened 8-bit) the RGB model, files coded as bytes (the first model's,
cm blocks in one and two segments, lzma and stored blocks), and JPEG files through their coefficients (baseline, progressive, with restart
markers, cut mid-scan; the side through lzma, or at level 9 the byte model). Each case applies
one random mutation from one family and decodes the result with arzip.decompress in a worker
process. The families: bit flips, overwritten bytes, truncation, deletion, insertion of junk,
duplicated ranges, splices of two archives, a payload edit with the CRCs recomputed, and
"field": ONE header field parsed by the container code and set to an edge value (0, 1, max-1,
max, 2^k +- 1, a random value, another valid enum value, a wrapper of another format, JSON
junk, ...), the archive re-serialised with its CRCs recomputed so that the value reaches the
decoders (image archives: image_container.pack of the changed header, or the raw header bytes
rewritten and resealed; byte archives, whose records carry no CRC of their own: a block
record's method, varints or segments rewritten; JPEG archives:
jpeg_container.pack of the changed header, segments dropped, doubled or split, a length moved
or the bytes behind it resized, or the side's raw bytes changed (one of its fields, a byte of a
scan header's marker segment, any byte) and stored). `--mutations field` makes every case a
field mutation.

Required: every case ends in an arzip error or in exactly the original output (a change to
the format byte or the wrapper makes a valid archive of another file: there the output may
also be any file that reads back to the original pixels); no other exception (a traceback),
no MemoryError (each worker's address space is capped by RLIMIT_AS, so that a runaway
allocation fails instead of swapping), no case over 10 s of CPU (a case is stopped at --cpu-cap
seconds of CPU, a worker killed when a case runs past a wall-clock limit: a hang), no worker
crash. Per case the worker measures the CPU seconds of the decode (getrusage user + sys, all
threads) and its peak resident memory growth (VmHWM, reset through /proc/self/clear_refs before
the case, less VmRSS before it; and the ru_maxrss delta, a lower bound). Writes {out}/fuzz.{md,json}.
"""
from __future__ import annotations

import argparse
import dataclasses
import io
import json
import math
import multiprocessing
import resource
import signal
import struct
import sys
import time
import zlib
from concurrent.futures import ProcessPoolExecutor, TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from functools import lru_cache
from pathlib import Path

import numpy as np

SLOW_CPU_S = 10.0     # a case over this much CPU is a failure ("slow")
ACCEPTED = ("error", "exact", "same pixels, other file")


BYTE_METHODS = {"bytes-model": "model", "bytes-cm": "cm3", "bytes-cm-two-segments": "cm3", "bytes-cm-level9": "cm7-strong",
                "bytes-lzma": "lzma", "bytes-stored": "stored", "bytes-code": "branch",
                "bytes-code-level9": "branch", "bytes-bitmap": "bitmap"}
PARTS = {"rgb-model": ["quick mixing"], "rgb-medium": ["medium mixing"], "rgb-mixing": ["mixing"],
         "gray-model": ["quick mixing"], "rgba-model+alpha-full-depth": ["quick mixing", "full depth"],
         "rgba-model+alpha-bytes": ["quick mixing", "bytes"], "palette-indices": ["indices"],
         "gray4-indices": ["indices"], "1bit-indices": ["indices"], "1bit-bilevel": ["bilevel strong"], "16bit-bytes": ["bytes"],
         "16bit-gray-full-depth": ["full depth"], "16bit-rgb-full-depth": ["full depth"],
         "16bit-widened-model": ["quick mixing"]}


def _zen(n: int) -> bytes:
    """The Zen of Python, repeated to n bytes."""
    import codecs
    import contextlib
    with contextlib.redirect_stdout(io.StringIO()):  # importing `this` prints the Zen
        import this
    text = codecs.decode(this.s, "rot13").encode()
    return (text * (n // len(text) + 1))[:n]


def _numbered(n: int) -> bytes:
    """n numbered lines with their squares: text that cm codes smaller than lzma, in one segment
    or two."""
    return b"".join(f"line {i}: arzip fuzzes its readers; {i * i}\n".encode() for i in range(n))


def _two_segments(data: bytes) -> bytes:
    """data's byte archive with its block cut in two cm segments, as a block of 1 MiB or more would be."""
    import arzip
    from arzip.bytes import cm
    saved, cm.SPLIT_MIN = cm.SPLIT_MIN, len(data)
    try:
        return arzip.compress_bytes(data)
    finally:
        cm.SPLIT_MIN = saved


@lru_cache(maxsize=None)
def _golden_inputs():
    """tests/golden/make_golden.py, whose generators make the code-like seeds."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("make_golden", Path(__file__).resolve().parents[1] / "tests" / "golden"
                                                  / "make_golden.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def seeds() -> dict[str, bytes]:
    from skimage import data as skdata

    import arzip
    from arzip import container
    from arzip.formats import picture
    photo = np.ascontiguousarray(skdata.astronaut()[200:224, 200:230])
    gray = np.ascontiguousarray(skdata.camera()[100:132, 100:140])
    rng = np.random.default_rng(1)
    chart = np.full((20, 30, 3), 255, np.uint8)
    chart[5:15, 3:9] = (200, 30, 30)
    from PIL import Image
    palette = Image.fromarray(chart).convert("P", palette=Image.ADAPTIVE, colors=4)
    text = _zen(3000)  # a text that does not change when the README does, so the cases stay the same
    out = {
        "rgb-model": arzip.compress_image(photo),
        "rgb-medium": arzip.compress_image(photo, level=6),
        "rgb-mixing": arzip.compress_image(photo, level=8),
        "gray-model": arzip.compress_image(gray),
        "rgba-model+alpha-full-depth": arzip.compress_image(
            np.dstack([photo, (photo[..., 0] > 120) * 255]).astype(np.uint8)),
        "rgba-model+alpha-bytes": arzip.compress_image(
            np.dstack([photo, np.tile(rng.integers(0, 256, (4, 5)), (6, 6))]).astype(np.uint8)),
        "palette-indices": arzip.compress_image(palette),
        "gray4-indices": arzip.compress_image(picture.new((gray >> 4)[..., None], picture.GRAY, 4)),
        "1bit-indices": arzip.compress_image(Image.fromarray(gray > 100)),
        "1bit-bilevel": arzip.compress_image(Image.fromarray(skdata.text() > 110)),
        "16bit-bytes": arzip.compress_image(np.tile(rng.integers(0, 65536, (4, 4, 3)), (6, 6, 1)).astype(np.uint16)),
        "16bit-gray-full-depth": arzip.compress_image((gray.astype(np.uint16) * 16 + rng.integers(0, 16, gray.shape))
                                                      .astype(np.uint16)),
        "16bit-rgb-full-depth": arzip.compress_image((photo.astype(np.uint16) * 16 + rng.integers(0, 16, photo.shape))
                                                     .astype(np.uint16)),
        "16bit-widened-model": arzip.compress_image(photo.astype(np.uint16) * 257),
        "bytes-model": arzip.compress_bytes(text[:2000]),  # 2,000 bytes: the first model wins over cm
        "bytes-cm": arzip.compress_bytes(_numbered(700)),  # above 16 KiB: the cm coder alone
        "bytes-cm-two-segments": _two_segments(_numbered(700)),
        "bytes-cm-level9": arzip.compress_bytes(_numbered(700), 9),  # the strong profile
        "bytes-lzma": arzip.compress_bytes(rng.integers(0, 256, 3000, dtype=np.uint8).tobytes() * 8),  # cm loses here
        "bytes-stored": arzip.compress_bytes(bytes(rng.integers(0, 256, 500, dtype=np.uint8))),
        "bytes-code": arzip.compress_bytes(_golden_inputs().machine_code("x86")),  # the branch transform
        "bytes-code-level9": arzip.compress_bytes(_golden_inputs().machine_code("sparc"), 9),
        "bytes-bitmap": arzip.compress_bytes(_golden_inputs()._page_bits()),  # a page: the strong bilevel model
        **jpeg_seeds(),
    }
    for name, blob in out.items():
        kind = container.kind_of(blob[:6])
        assert kind in (1, 2, 3), name
        summary = arzip.info(blob)  # each seed holds the coding its name says
        if kind == container.KIND_JPEG:
            assert summary["kind"] == "jpeg" and ("strong" in summary["method"]) == (name == "jpeg-level9") and \
                (summary["byte_model_sha256"] != "00000000") == (name == "jpeg-level9"), name
        else:
            assert ([p["method"] for p in summary["parts"]] == PARTS[name] if name in PARTS else
                    summary["methods"] == {BYTE_METHODS[name]: 1}), name
            if name.startswith("bytes-cm"):
                assert _byte_layout(blob)[1][0][3] == (2 if "two" in name else 1), name
        assert all(set_field(blob, f, i, None) == blob for f, i in fields_of(blob)), name  # the field
        # serialisers rebuild the seed byte for byte (they follow the container code's layout)
    return out


def jpeg_files() -> dict[str, bytes]:
    """Small JPEG files (Pillow, quality 85, a 64x48 crop of a photo): baseline, progressive,
    with restart markers every 2 MCUs, and the baseline cut in the middle of its scan."""
    from PIL import Image
    from skimage import data as skdata
    photo = Image.fromarray(np.ascontiguousarray(skdata.astronaut()[100:148, 180:244]))

    def jpeg(**options) -> bytes:
        f = io.BytesIO()
        photo.save(f, format="JPEG", quality=85, **options)
        return f.getvalue()
    baseline = jpeg()
    return {"baseline": baseline, "progressive": jpeg(progressive=True), "restart": jpeg(restart_marker_blocks=2),
            "truncated": baseline[:len(baseline) * 2 // 3]}


def jpeg_seeds() -> dict[str, bytes]:
    """JPEG archives (kind 3) of jpeg_files(), at the default level (the side through the
    classical coders and the coefficient model's default profile) and at level 9 (the side
    through the byte model, the strong profile)."""
    import arzip
    files = jpeg_files()
    out = {f"jpeg-{name}": arzip.compress(data) for name, data in files.items()}
    out["jpeg-level9"] = arzip.compress(files["baseline"], level=9)
    return out


FAMILIES = ("bit flips", "overwrite", "truncate", "delete", "insert", "duplicate", "splice",
            "payload edit, CRCs recomputed", "field")


def mutate(blob: bytes, other: bytes, rng: np.random.Generator, families: str = "all",
           field: str | None = None) -> tuple[str, str, str, bytes]:
    """(family, field, value, mutated archive): one random mutation of blob (other: an archive
    to splice in); families "field" makes every case a header-field mutation (of `field` if
    given)."""
    from arzip import container
    from arzip.image import container as image_container
    data = bytearray(blob)
    n = len(data)
    kind = len(FAMILIES) - 1 if families == "field" else int(rng.integers(0, len(FAMILIES)))
    if kind == 8:
        field, label, mutated = field_mutation(blob, rng, field)
        return "field", field, label, mutated
    if kind == 0:
        for _ in range(int(rng.integers(1, 5))):
            data[int(rng.integers(0, n))] ^= 1 << int(rng.integers(0, 8))
        return FAMILIES[kind], "", "", bytes(data)
    if kind == 1:
        i = int(rng.integers(0, n))
        data[i:i + 4] = rng.integers(0, 256, len(data[i:i + 4]), dtype=np.uint8).tobytes()
        return FAMILIES[kind], "", "", bytes(data)
    if kind == 2:
        return FAMILIES[kind], "", "", bytes(data[:int(rng.integers(0, n))])
    if kind == 3:
        i, j = sorted(rng.integers(0, n, 2))
        return FAMILIES[kind], "", "", bytes(data[:i] + data[j:])
    if kind == 4:
        i = int(rng.integers(0, n + 1))
        return FAMILIES[kind], "", "", (bytes(data[:i]) + rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8)
                                        .tobytes() + bytes(data[i:]))
    if kind == 5:
        i, j = sorted(rng.integers(0, n, 2))
        return FAMILIES[kind], "", "", bytes(data[:j] + data[i:j] + data[j:])
    if kind == 6:
        return FAMILIES[kind], "", "", bytes(data[:int(rng.integers(0, n))]) + other[int(rng.integers(0, len(other))):]
    # a payload edit behind valid CRCs (image archives), or behind the header (byte and JPEG archives)
    if container.kind_of(blob[:6]) == container.KIND_IMAGE:
        header, payloads = image_container.unpack(blob)
        k = int(rng.integers(0, len(payloads)))
        p = bytearray(payloads[k])
        if p:
            p[int(rng.integers(0, len(p)))] ^= 1 << int(rng.integers(0, 8))
        payloads[k] = bytes(p)
        return FAMILIES[kind], "", "", image_container.pack(header, payloads)
    if container.kind_of(blob[:6]) == container.KIND_JPEG:  # the side or a segment stream (no CRC of their own)
        from arzip.jpeg import container as jpeg_container
        i = int(rng.integers(min(jpeg_container.unpack(blob).size, n - 1), n))
        data[i] ^= 1 << int(rng.integers(0, 8))
        return FAMILIES[kind], "", "", bytes(data)
    i = int(rng.integers(min(40, n - 1), n))
    data[i] ^= 1 << int(rng.integers(0, 8))
    return FAMILIES[kind], "", "", bytes(data)


# -- header fields, changed one at a time with the CRCs recomputed ------------------------------

IMAGE_FIELDS = ("version", "kind", "color_type", "depth", "format", "width", "height", "width x height",
                "checksum", "wrapper", "wrapper codec", "wrapper len", "wrapper stream", "models count",
                "model name", "model hash", "parts count", "part plane", "part method", "part model",
                "part transform", "part layout", "part scale_offsets", "part nll_bits", "part payload_len",
                "part payload_crc", "bytes part method", "bytes part segments")
BYTES_FIELDS = ("byte archive version", "byte archive kind", "byte archive model hash", "block method", "block raw_len", "block coded_len",
                "block coded_len+data", "block segments", "block count", "end crc")
# a change to these makes a valid archive of another file (same pixels, another file format or
# wrapper): the output may be any file that reads back to the original pixels
FILE_FIELDS = frozenset({"format", "wrapper", "wrapper codec", "wrapper len", "wrapper stream"})
_NETWORK_ONLY = ("part layout", "part scale_offsets", "part payload_crc")  # fields network parts alone have
_SMALL_PART = struct.Struct("<BH")  # a byte-coded image part of one block: method, segments (arzip/bytes/archive.py)
IMAGE_VARINT_BITS = 70  # decode_varint reads up to shift 63: 10 bytes, 70 bits
BLOCK_VARINT_BITS = 42  # a block record's varints: up to shift 35


def _is_image(blob: bytes) -> bool:
    from arzip import container
    return container.kind_of(blob[:6]) == container.KIND_IMAGE


def _image_layout(blob: bytes):
    """(header, payloads, spans): spans maps the raw header fields ("wrapper len", ("part
    payload_len", 1), ...) to their (start, end) in blob, parsed in read_header's order."""
    from arzip import container
    from arzip.image import container as ic
    header, payloads = ic.unpack(blob)
    r = container.Reader(blob, 6)
    spans = {"version": (4, 5), "kind": (5, 6)}
    r.take(3), r.varint(), r.varint(), r.take(16)
    start = r.pos
    r.byte()
    spans["wrapper codec"] = (start, r.pos)
    at = r.pos
    r.take(r.varint())
    spans["wrapper len"] = _varint_span(blob, at)
    spans["wrapper stream"] = (start, r.pos)
    spans["models count"] = (r.pos, r.pos + 1)
    for i in range(r.byte()):
        at = r.pos
        r.take(r.byte())
        spans[("model name", i)] = (at, r.pos)
        r.take(container.IMAGE_MODEL_HASH_BYTES)
    spans["parts count"] = (r.pos, r.pos + 1)
    r.byte()
    for i, part in enumerate(header.parts):
        r.take(4 + (4 if part.method in ic.NETWORK_METHODS else 0) + 4)
        at = r.pos
        r.varint()
        spans[("part payload_len", i)] = (at, r.pos)
        if part.method in ic.NETWORK_METHODS:
            spans[("part payload_crc", i)] = (r.pos, r.pos + 4)
            r.take(4)
    assert r.pos == header.size - container.CRC.size
    return header, payloads, spans


def _varint_span(blob: bytes, at: int) -> tuple[int, int]:
    end = at
    while blob[end] & 0x80:
        end += 1
    return at, end + 1


def _reseal(blob: bytes, header_size: int, span: tuple[int, int], new: bytes) -> bytes:
    """blob with the header bytes in span replaced by new, the header CRC recomputed."""
    from arzip import container
    start, end = span
    return container.sealed(blob[:start] + new + blob[end:header_size - container.CRC.size]) + blob[header_size:]


def _byte_layout(blob: bytes) -> tuple[bytes, list[list], bytes]:
    """(header bytes, records [method, raw_len, coded_len, segments, coded], end CRC) of a
    version-4 byte archive."""
    from arzip.bytes import container as bc
    f = io.BytesIO(blob)
    head = bc.read_header(f)
    assert head.version >= 4
    records = []
    while not isinstance(record := bc.read_compact_record(f), bc.End):
        records.append([record.method, record.raw_len, len(record.coded), record.segments, record.coded])
    return blob[:6 + bc.COMPACT_MODEL_HASH_BYTES], records, record.checksum


def _byte_archive(head: bytes, records: list[list], crc: bytes) -> bytes:
    """A version-4 byte archive from its parts (what write_compact_block writes), each length
    field as given: coded_len need not be len(coded)."""
    from arzip import container
    from arzip.bytes import container as bc
    out = bytearray(head)
    for method, raw_len, coded_len, segments, coded in records:
        out += bytes([method]) + container.varint(raw_len) + container.varint(coded_len)
        if method in bc.SEGMENTED:
            out += container.varint(segments)
        out += coded
    return bytes(out) + bytes([bc.METHOD_END]) + crc


def fields_of(blob: bytes) -> list[tuple[str, int]]:
    """The (field, index) pairs a seed has: index is the model, part or block (0 for the others)."""
    from arzip.image import container as ic
    from arzip.bytes import container as bc
    if _is_jpeg(blob):
        return _jpeg_fields(blob)
    if not _is_image(blob):
        _, records, _ = _byte_layout(blob)
        out = [(f, 0) for f in BYTES_FIELDS if not f.startswith("block ")] + [("block count", 0)]
        for i, (method, *_rest) in enumerate(records):
            out += [(f, i) for f in BYTES_FIELDS if f.startswith("block ") and f != "block count"
                    and (f != "block segments" or method in bc.SEGMENTED)]
        return out
    header, payloads, _ = _image_layout(blob)
    out = [(f, 0) for f in IMAGE_FIELDS if not f.startswith(("model ", "part ", "bytes part "))]
    out += [(f, i) for i in range(len(header.models)) for f in ("model name", "model hash")]
    for i, (part, payload) in enumerate(zip(header.parts, payloads)):
        network = part.method in ic.NETWORK_METHODS
        out += [(f, i) for f in IMAGE_FIELDS if f.startswith("part ") and (network or f not in _NETWORK_ONLY)]
        if part.method == ic.METHOD_BYTES and len(payload) >= _SMALL_PART.size and \
                header.width * header.height * 8 <= bc.BLOCK_SIZE:  # a part of one block
            out += [("bytes part method", i), ("bytes part segments", i)]
    return out


def set_field(blob: bytes, field: str, index: int, value) -> bytes:
    """blob with one field (of model, part or block `index`) set to value and the CRCs
    recomputed; value None re-serialises the field as it is (blob comes back unchanged)."""
    if _is_jpeg(blob):
        return _set_jpeg_field(blob, field, index, value)
    return (_set_image_field if _is_image(blob) else _set_bytes_field)(blob, field, index, value)


def _set_image_field(blob: bytes, field: str, i: int, value) -> bytes:
    from arzip import container
    from arzip.image import container as ic
    header, payloads, spans = _image_layout(blob)
    parts, models = list(header.parts), list(header.models)
    raw = lambda span, new: _reseal(blob, header.size, span, new)  # noqa: E731
    if value is None:  # the field's value as it is, through the same path
        at = lambda key: blob[spans[key][0]:spans[key][1]]  # noqa: E731
        value = {"version": blob[4], "kind": blob[5], "wrapper codec": blob[spans["wrapper codec"][0]],
                 "wrapper len": container.read_varint(blob, spans["wrapper len"][0])[0],
                 "models count": len(models), "parts count": len(parts), "width x height": (header.width, header.height),
                 }.get(field)
        if field == "wrapper stream":
            return ic.pack(header, payloads)  # (the codec the writer chose)
        if field in ("model name", "part payload_crc"):
            value = at((field, i))[1:] if field == "model name" else at((field, i))
        elif field == "model hash":
            value = models[i][1]
        elif field == "part payload_len":
            value = len(payloads[i])
        elif field.startswith("part "):
            value = getattr(parts[i], field[5:])
        elif field.startswith("bytes part "):
            value = _SMALL_PART.unpack_from(payloads[i])[0 if field == "bytes part method" else 1]
        elif value is None:
            value = getattr(header, field)
    if field in ("version", "kind", "wrapper codec") or (field in ("models count", "parts count")
                                                        and isinstance(value, int)):
        return raw(spans[field], bytes([value]))
    if field == "wrapper len":
        return raw(spans[field], container.varint(value))
    if field == "wrapper stream":  # a deflate stream as the wrapper, codec 1
        return raw(spans[field], b"\x01" + container.varint(len(value)) + value)
    if field == "model name":
        return raw(spans[(field, i)], bytes([len(value)]) + value)
    if field == "part payload_len":
        return raw(spans[(field, i)], container.varint(value))
    if field == "part payload_crc":
        return raw(spans[(field, i)], value)
    if field in ("color_type", "depth", "format", "width", "height", "checksum", "wrapper"):
        header = dataclasses.replace(header, **{field: value})
    elif field == "width x height":
        header = dataclasses.replace(header, width=value[0], height=value[1])
    elif field == "model hash":
        models[i] = (models[i][0], value)
        header = dataclasses.replace(header, models=tuple(models))
    elif field == "models count":  # "no models", or "add NAME"
        models = [] if value == "no models" else models + [(value[4:], _model_hash(value[4:], 8))]
        header = dataclasses.replace(header, models=tuple(models))
    elif field == "parts count":  # "no parts", "drop part K", "duplicate part K"
        if value == "no parts":
            parts, payloads = [], []
        else:
            k = int(value.split()[-1])
            keep = [j for j in range(len(parts)) if j != k] if value.startswith("drop") else \
                list(range(len(parts))) + [k]
            parts, payloads = [parts[j] for j in keep], [payloads[j] for j in keep]
        header = dataclasses.replace(header, parts=tuple(parts))
    elif field.startswith("part "):
        parts[i] = dataclasses.replace(parts[i], **{field[5:]: value})
        header = dataclasses.replace(header, parts=tuple(parts))
    elif field in ("bytes part method", "bytes part segments"):
        method, segments = _SMALL_PART.unpack_from(payloads[i])
        method, segments = (value, segments) if field == "bytes part method" else (method, value)
        payloads[i] = _SMALL_PART.pack(method, segments) + payloads[i][_SMALL_PART.size:]
    else:
        raise KeyError(field)
    return ic.pack(header, payloads)


def _set_bytes_field(blob: bytes, field: str, i: int, value) -> bytes:
    from arzip.bytes import container as bc
    head, records, crc = _byte_layout(blob)
    if value is None:  # the field's value as it is, through the same path
        value = {"byte archive version": blob[4], "byte archive kind": blob[5], "byte archive model hash": head[6:],
                 "end crc": crc}.get(field)
        if field.startswith("block ") and field != "block count":
            value = records[i][{"block method": 0, "block raw_len": 1, "block coded_len": 2,
                                "block coded_len+data": 2, "block segments": 3}[field]]
        elif field == "block count":
            return _byte_archive(head, records, crc)
    if field in ("byte archive version", "byte archive kind"):
        at = 4 if field == "byte archive version" else 5
        return blob[:at] + bytes([value]) + blob[at + 1:]
    if field == "byte archive model hash":
        return _byte_archive(head[:6] + value, records, crc)
    if field == "end crc":
        return _byte_archive(head, records, value)
    if field == "block count":  # "drop block K", "duplicate block K"
        k = int(value.split()[-1])
        records = records[:k] + records[k + 1:] if value.startswith("drop") else records[:k + 1] + records[k:]
        return _byte_archive(head, records, crc)
    record = records[i]
    if field == "block method":
        if value in bc.SEGMENTED and record[0] not in bc.SEGMENTED:
            record[3] = 1  # a model or cm block has a segment count
        record[0] = value
    elif field == "block raw_len":
        record[1] = value
    elif field == "block coded_len":  # the varint alone: the coded bytes stay as they are
        record[2] = value
    elif field == "block coded_len+data":  # the coded bytes cut or repeated to the new length
        coded = record[4]
        record[2], record[4] = value, (coded * (value // max(1, len(coded)) + 1))[:value] if coded else bytes(value)
    elif field == "block segments":
        record[3] = value
    else:
        raise KeyError(field)
    return _byte_archive(head, records, crc)


# -- JPEG archives (kind 3): arzip/jpeg/container.py's header, its side and segment streams -------

JPEG_FIELDS = ("jpeg version", "jpeg kind", "jpeg method", "jpeg level", "jpeg original_len", "jpeg original_crc",
               "jpeg side_len", "jpeg side_coded_len", "jpeg side_coded_len+data", "jpeg byte model hash",
               "jpeg prior hash", "jpeg segment count", "jpeg segment bands", "jpeg segment stream_len", "jpeg segment stream_len+data",
               "jpeg nll_bits", "jpeg side bytes part method", "jpeg side bytes part segments", "jpeg side field",
               "jpeg side marker segment", "jpeg side bytes")
# "jpeg side_coded_len" moves the boundary between the side and segment 0 (segment 0's length
# compensated, so that the payload lengths still add up), "jpeg segment stream_len" the one
# between segment i and the part before it; the "+data" fields cut or repeat the bytes to the
# new length. The "jpeg side ..." fields below the byte-part ones change the side's raw bytes
# (one of its own fields, a byte of a marker segment in a scan's header, or any byte), the side
# then stored (method stored) and its lengths set to match.
JPEG_VARINT_BITS = 70  # the header's varints: decode_varint reads up to shift 63
SIDE_VARINT_BITS = 70  # the side's varints (arzip.container.Reader)


def _is_jpeg(blob: bytes) -> bool:
    from arzip import container
    return container.kind_of(blob[:6]) == container.KIND_JPEG


def _jpeg_layout(blob: bytes):
    """(header, coded side, segment streams, spans): spans maps the raw header fields to their
    (start, end) in blob, parsed in container.unpack's order."""
    from arzip import container
    from arzip.jpeg import container as jc
    h = jc.unpack(blob)
    r = container.Reader(blob, 6)
    spans = {"jpeg version": (4, 5), "jpeg kind": (5, 6), "jpeg method": (6, 7), "jpeg level": (7, 8)}
    r.take(2)
    for name in ("jpeg original_len", "crc", "jpeg side_len", "jpeg side_coded_len", "sha", "prior",
                 "jpeg segment count"):
        at = r.pos
        r.take(8) if name == "prior" else r.take(4) if name in ("crc", "sha") else r.varint()
        spans[name] = (at, r.pos)
    for i in range(len(h.segments)):
        for name in ("jpeg segment bands", "jpeg segment stream_len"):
            at = r.pos
            r.varint()
            spans[(name, i)] = (at, r.pos)
    r.take(8)
    assert r.pos == h.size - container.CRC.size
    at = h.size + h.side_coded_len
    streams = []
    for _, n in h.segments:
        streams.append(blob[at:at + n])
        at += n
    return h, blob[h.size:h.size + h.side_coded_len], streams, spans


def _jpeg_archive(h, side: bytes, streams) -> bytes:
    """A JPEG archive from its header (every field as given: the lengths need not match the
    bytes) and its payload."""
    from arzip.jpeg import container as jc
    return jc.pack(h) + side + b"".join(streams)


@lru_cache(maxsize=32)
def _jpeg_side(blob: bytes) -> bytes:
    """The raw side of a JPEG archive (decoded as arzip.api.decompress_jpeg does)."""
    from arzip import registry
    from arzip.bytes import archive as byte_archive
    h, side, _, _ = _jpeg_layout(blob)
    return byte_archive.decode_part(side, h.side_len, lambda: registry.load_bytes(
        registry.installed(None, h.byte_model_sha)), h.version)


def _side_slots(side: bytes) -> tuple[list[tuple[int, int, str, str]], list[tuple[int, int, int]]]:
    """(slots, chunks) of a raw side (arzip/jpeg/transcode.py's format), read as far as it
    reads: slots (start, end, "byte" or "varint", name) are its own fields, chunks (length
    field start, chunk start, chunk end) each scan's header bytes."""
    from arzip import container
    from arzip.errors import FormatError
    slots, chunks = [(0, 1, "byte", "side version")], []
    r = container.Reader(side, 1)

    def v(name: str) -> int:
        at = r.pos
        n = r.varint()
        slots.append((at, r.pos, "varint", name))
        return n
    try:
        for s in range(v("scan count")):
            at = r.pos
            n = v(f"scan {s} header length")
            chunks.append((at, r.pos, r.pos + n))
            r.take(n)
            slots.append((r.pos, r.pos + 1, "byte", f"scan {s} flags"))
            flags = r.byte()
            if flags & 3 == 2:
                r.take(v(f"scan {s} paddings length"))
            if flags >> 2 & 3 == 2:
                for j in range(v(f"scan {s} EOB runs count")):
                    v(f"scan {s} EOB run {j}")
            for j in range(v(f"scan {s} holes count")):
                v(f"scan {s} hole {j} MCUs before"), v(f"scan {s} hole {j} MCUs replaced")
                r.take(v(f"scan {s} hole {j} raw length"))
            r.take(v(f"scan {s} tail length"))
        r.take(v("trailer length"))
    except (FormatError, IndexError):
        pass
    return slots, chunks


def _marker_segments(side: bytes, chunks) -> list[tuple[int, int, int, int, int]]:
    """(chunk index, marker, segment start, payload start, end) of every marker segment in the
    side's scan headers (positions in side)."""
    from arzip.jpeg.markers import next_segment
    out = []
    for k, (_, start, end) in enumerate(chunks):
        chunk = side[start:end]
        pos = 2 if k == 0 and chunk[:2] == b"\xff\xd8" else 0
        while (segment := next_segment(chunk, pos)) is not None:
            marker, payload, nxt = segment
            out.append((k, marker, start + pos, start + payload, start + nxt))
            pos = nxt
    return out


def _jpeg_fields(blob: bytes) -> list[tuple[str, int]]:
    from arzip.bytes import container as bc
    h, side, _, _ = _jpeg_layout(blob)
    per_segment = ("jpeg segment bands", "jpeg segment stream_len", "jpeg segment stream_len+data")
    out = [(f, 0) for f in JPEG_FIELDS if f not in per_segment and not f.startswith("jpeg side bytes part")]
    out += [(f, i) for i in range(len(h.segments)) for f in per_segment]
    if h.side_len <= bc.BLOCK_SIZE and len(side) >= _SMALL_PART.size:  # a part of one block
        out += [("jpeg side bytes part method", 0), ("jpeg side bytes part segments", 0)]
    return out


def _set_jpeg_field(blob: bytes, field: str, i: int, value) -> bytes:
    from arzip import container
    from arzip.bytes import container as bc
    h, side, streams, spans = _jpeg_layout(blob)
    segments = list(h.segments)
    if value is None:  # the field's value as it is, through the same path
        if field in ("jpeg version", "jpeg kind"):
            value = blob[spans[field][0]]
        elif field == "jpeg segment count":
            return _jpeg_archive(h, side, streams)
        elif field in ("jpeg segment bands", "jpeg segment stream_len", "jpeg segment stream_len+data"):
            value = segments[i][0 if field == "jpeg segment bands" else 1]
        elif field in ("jpeg side bytes part method", "jpeg side bytes part segments"):
            value = _SMALL_PART.unpack_from(side)[0 if field.endswith("method") else 1]
        elif field in ("jpeg side field", "jpeg side marker segment", "jpeg side bytes"):
            value = _jpeg_side(blob)
        elif field == "jpeg byte model hash":
            value = h.byte_model_sha
        elif field == "jpeg prior hash":
            value = h.prior_sha
        elif field == "jpeg side_coded_len+data":
            value = h.side_coded_len
        else:
            value = getattr(h, field[5:])
    if field in ("jpeg version", "jpeg kind"):
        return _reseal(blob, h.size, spans[field], bytes([value]))
    if field == "jpeg segment count":  # "no segments", "drop segment K", "duplicate segment K",
        # "add an empty segment of B bands", "split segment K at band B[ and byte J]", or a count written alone
        if isinstance(value, int):
            return _reseal(blob, h.size, spans[field], container.varint(value))
        if value == "no segments":
            segments, streams = [], []
        elif value.startswith("add"):
            segments, streams = segments + [(int(value.split()[-2]), 0)], streams + [b""]
        elif value.startswith("split"):  # "split segment K at band B[ and byte J]": the stream cut at
            # byte J (else all of it in the first half)
            words = value.split()
            k, b = int(words[2]), int(words[5])
            j = int(words[-1]) if "byte" in words else len(streams[k])
            segments[k:k + 1] = [(b, j), (segments[k][0] - b, len(streams[k]) - j)]
            streams[k:k + 1] = [streams[k][:j], streams[k][j:]]
        else:
            k = int(value.split()[-1])
            keep = [j for j in range(len(segments)) if j != k] if value.startswith("drop") else \
                list(range(k + 1)) + list(range(k, len(segments)))
            segments, streams = [segments[j] for j in keep], [streams[j] for j in keep]
        return _jpeg_archive(dataclasses.replace(h, segments=tuple(segments)), side, streams)
    if field == "jpeg segment bands":
        segments[i] = (value, segments[i][1])
        return _jpeg_archive(dataclasses.replace(h, segments=tuple(segments)), side, streams)
    if field in ("jpeg side_coded_len", "jpeg segment stream_len"):  # a boundary moved: the neighbour
        # part's length compensated where it can be (else the lengths do not add up)
        lengths = [h.side_coded_len] + [n for _, n in segments]
        k = 0 if field == "jpeg side_coded_len" else i + 1
        other = 1 if k == 0 else k - 1
        if other < len(lengths) and lengths[other] + lengths[k] - value >= 0:
            lengths[other] += lengths[k] - value
        lengths[k] = value
        h = dataclasses.replace(h, side_coded_len=lengths[0],
                                segments=tuple((bands, n) for (bands, _), n in zip(segments, lengths[1:])))
        return _jpeg_archive(h, side, streams)
    if field == "jpeg side_coded_len+data":
        return _jpeg_archive(dataclasses.replace(h, side_coded_len=value), _resized(side, value), streams)
    if field == "jpeg segment stream_len+data":
        segments[i] = (segments[i][0], value)
        streams[i] = _resized(streams[i], value)
        return _jpeg_archive(dataclasses.replace(h, segments=tuple(segments)), side, streams)
    if field in ("jpeg side bytes part method", "jpeg side bytes part segments"):
        method, count = _SMALL_PART.unpack_from(side)
        method, count = (value, count) if field.endswith("method") else (method, value)
        return _jpeg_archive(h, _SMALL_PART.pack(method, count) + side[_SMALL_PART.size:], streams)
    if field in ("jpeg side field", "jpeg side marker segment", "jpeg side bytes"):  # value: the raw side
        if value == _jpeg_side(blob):
            return _jpeg_archive(h, side, streams)
        stored = _SMALL_PART.pack(bc.METHOD_STORED, 0) + value
        return _jpeg_archive(dataclasses.replace(h, side_len=len(value), side_coded_len=len(stored)), stored,
                             streams)
    if field == "jpeg byte model hash":
        h = dataclasses.replace(h, byte_model_sha=value)
    elif field == "jpeg prior hash":
        h = dataclasses.replace(h, prior_sha=value)
    elif field in ("jpeg method", "jpeg level", "jpeg original_len", "jpeg original_crc", "jpeg side_len",
                   "jpeg nll_bits"):
        h = dataclasses.replace(h, **{field[5:]: value})
    else:
        raise KeyError(field)
    return _jpeg_archive(h, side, streams)


def _resized(data: bytes, n: int) -> bytes:
    """data cut, or repeated, to n bytes (zeros where it is empty)."""
    return (data * (n // max(1, len(data)) + 1))[:n] if data else bytes(n)


def _pick(rng: np.random.Generator, seq):
    return seq[int(rng.integers(len(seq)))]


def _int_value(rng: np.random.Generator, bits: int, enum=(), near: int | None = None) -> int:
    """An edge value of an unsigned field of `bits` bits: 0, 1, max-1, max, 2^k +- 1, a random
    value, a valid enum value, or a value near the current one."""
    top = (1 << bits) - 1
    r = rng.random()
    if enum and r < 0.3:
        return int(_pick(rng, list(enum)))
    if near is not None and r < 0.5:
        return min(top, max(0, _pick(rng, [near - 1, near + 1, near - 2, near + 2, near * 2, near // 2])))
    if r < 0.6:
        return int.from_bytes(rng.bytes((bits + 7) // 8), "little") & top
    k = int(rng.integers(1, bits))
    return _pick(rng, [0, 1, top - 1, top, (1 << k) - 1, (1 << k) + 1])


def _bytes_value(rng: np.random.Generator, current: bytes, others=()) -> tuple[bytes, str]:
    """A fixed-size bytes field (a checksum, a hash): zeros, ones, random, one bit flipped, or
    another valid value."""
    n = len(current)
    r = int(rng.integers(0, 5))
    if r == 0:
        return bytes(n), "zeros"
    if r == 1:
        return b"\xff" * n, "0xff bytes"
    if r == 2 or (r == 4 and not others):
        flipped = bytearray(current)
        bit = int(rng.integers(0, 8 * n))
        flipped[bit // 8] ^= 1 << (bit % 8)
        return bytes(flipped), f"bit {bit} flipped"
    if r == 3:
        v = rng.bytes(n)
        return v, f"random {v.hex()}"
    v = _pick(rng, list(others))
    return v, f"{v.hex()} (another model's)"


JSON_JUNK = (b"{}", b"[]", b"null", b'"RGB"', b"0", b'{"mode": "RGB"}', b'{"options": {}}',
             b'{"mode": "RGB", "options": {}}', b'{"mode": "RGB", "options": []}', b'{"mode": null, "options": null}',
             b'{"mode": "Q", "options": {}}', b'{"mode": "P", "options": {}}', b'{"mode": "P", "options": {"palette": "zz"}}',
             b'{"mode": "RGB", "options": {"compression": "bogus"}}', b'{"mode": "RGB", "options": {"transparency": [1, 2]}}',
             b'{"mode": "RGBA", "options": {"transparency": "zz"}}', b'{"mode": "RGB", "options": {"patch": {}}}',
             b'{"mode": "RGB", "options": {"patch": {"crc32": 0}}}', b'{"mode": "RGB", "options": {"chunks": [1]}}',
             b"\xff\xfe{}", b"[" * 100000)


@lru_cache(maxsize=1)
def _wrapper_samples() -> tuple[tuple[str, bytes], ...]:
    """Wrappers of real files of every format (what picture.read keeps of them)."""
    from PIL import Image
    from arzip.formats import picture
    rgb = np.arange(60, dtype=np.uint8).reshape(4, 5, 3)
    files = []
    for fmt, im, options in (("PNG", Image.fromarray(rgb).convert("P"), {}), ("PNG", Image.fromarray(rgb), {"gamma": 0}),
                             ("PPM", Image.fromarray(rgb), {}), ("PPM", Image.fromarray(rgb[..., 0]), {}),
                             ("BMP", Image.fromarray(rgb), {}), ("BMP", Image.fromarray(rgb).convert("P"), {}),
                             ("TIFF", Image.fromarray(rgb), {}), ("TIFF", Image.fromarray(rgb), {"compression": "tiff_lzw"}),
                             ("TGA", Image.fromarray(rgb), {}), ("QOI", Image.fromarray(rgb), {}),
                             ("WEBP", Image.fromarray(rgb), {"lossless": True})):
        f = io.BytesIO()
        im.save(f, format=fmt, **options)
        files.append((f"{fmt} {im.mode}", f.getvalue()))
    files.append(("PAM", b"P7\nWIDTH 2\nHEIGHT 1\nDEPTH 4\nMAXVAL 255\nTUPLTYPE RGB_ALPHA\nENDHDR\n" + bytes(8)))
    out = []
    for name, data in files:
        try:
            out.append((name, picture.read(data, name).wrapper))
        except Exception:  # noqa: BLE001 - a format this build does not read as pixels
            pass
    return tuple(out)


def _max_wrapper() -> int:
    """The largest wrapper an image archive may hold (uncompressed)."""
    try:
        from arzip.limits import MAX_WRAPPER
    except ImportError:  # before arzip.limits
        from arzip.image.container import MAX_WRAPPER
    return MAX_WRAPPER


@lru_cache(maxsize=None)
def _deflated(what: str) -> bytes:
    n = _max_wrapper()
    if what == "bomb":  # one byte over the limit
        return zlib.compress(bytes(n + 1), 9)
    if what == "zeros at the limit":
        return zlib.compress(bytes(n), 9)
    if what == "'[' at the limit":
        return zlib.compress(b"[" * n, 9)
    raise KeyError(what)


@lru_cache(maxsize=None)
def _installed_models() -> tuple[str, ...]:
    from arzip import registry
    return tuple(registry.manifest()["models"])


def _model_hash(name: str, n: int) -> bytes:
    from arzip import registry
    return registry.hash_prefix(name, n)


EDITS = ("bit flip", "overwrite", "insert", "delete", "truncate")


def _edit(rng: np.random.Generator, data: bytes, kinds: int) -> tuple[bytes, int, int]:
    """(data with one edit, which edit: an index of EDITS below `kinds`, where): a bit flipped,
    up to 4 bytes overwritten, 1-8 random bytes inserted, 1-8 deleted, or the rest cut off."""
    edited = bytearray(data)
    op = int(rng.integers(0, kinds))
    at = int(rng.integers(0, len(data)))
    if op == 0:
        edited[at] ^= 1 << int(rng.integers(0, 8))
    elif op == 1:
        edited[at:at + 4] = rng.bytes(len(edited[at:at + 4]))
    elif op == 2:
        edited[at:at] = rng.bytes(int(rng.integers(1, 9)))
    elif op == 3:
        del edited[at:at + int(rng.integers(1, 9))]
    else:
        del edited[at:]
    return bytes(edited), op, at


def _wrapper_value(rng: np.random.Generator, w: bytes, heavy: bool = True) -> tuple[bytes, str]:
    r = int(rng.integers(0, 8 if heavy else 7))
    if r == 0 and w:
        edited, op, i = _edit(rng, w, 4)
        return edited, f"edited ({EDITS[op]} at {i})"
    if r <= 1:
        k = int(rng.integers(0, max(1, len(w))))
        return w[:k], f"truncated to {k} B"
    if r == 2:
        return b"", "empty"
    if r == 3:
        name, v = _pick(rng, _wrapper_samples())
        return v, f"a {name} file's wrapper"
    if r <= 5:
        v = _pick(rng, JSON_JUNK)
        return v, "JSON " + (repr(v[:8])[2:-1] + f"... ({len(v)} B)" if len(v) > 60 else repr(v)[2:-1])
    if r == 6:
        v = rng.bytes(int(rng.integers(1, 65)))
        return v, f"random {len(v)} B"
    v = _pick(rng, [bytes(1 << 20), b"[" * (1 << 20), b"P6\n" + b"9" * 1000 + b" 1\n255\n"])
    return v, f"{v[:3]!r}... ({len(v)} B)"


def draw_value(blob: bytes, field: str, i: int, rng: np.random.Generator, heavy: bool = True):
    """(value, label): an edge-case value for the field (of model, part or block i) of blob;
    heavy=False leaves out the wrappers of 1 MiB and over (seconds and a GiB to decode)."""
    from arzip.bytes import container as bc
    from arzip.image import container as ic
    if _is_jpeg(blob):
        return _draw_jpeg_value(blob, field, i, rng)
    if not _is_image(blob):
        head, records, crc = _byte_layout(blob)
        if field == "byte archive version":
            v = _int_value(rng, 8, (3, 4, 5))
        elif field == "byte archive kind":
            v = _int_value(rng, 8, (1, 2))
        elif field == "byte archive model hash":
            return _bytes_value(rng, head[6:], [_model_hash(m, bc.COMPACT_MODEL_HASH_BYTES) for m in _installed_models()])
        elif field == "end crc":
            return _bytes_value(rng, crc)
        elif field == "block count":
            v = f"{_pick(rng, ['drop', 'duplicate'])} block {int(rng.integers(len(records)))}"
            return v, v
        elif field == "block method":
            v = _int_value(rng, 8, (*bc.METHODS, bc.METHOD_END))
        elif field == "block raw_len":
            v = _int_value(rng, BLOCK_VARINT_BITS, (bc.BLOCK_SIZE, bc.BLOCK_SIZE + 1, 1 << 22), records[i][1])
        elif field == "block coded_len":
            v = _int_value(rng, BLOCK_VARINT_BITS, (records[i][1] + bc.CODED_SLACK, records[i][1] + bc.CODED_SLACK + 1),
                           records[i][2])
        elif field == "block coded_len+data":
            most = records[i][1] + bc.CODED_SLACK + 1
            v = _pick(rng, [0, 1, records[i][2] - 1, records[i][2] + 1, records[i][2] * 2, records[i][1],
                            most - 1, most, int(rng.integers(0, most + 1))])
        elif field == "block segments":
            v = _int_value(rng, BLOCK_VARINT_BITS, (0, 1, 2, 3, 255, 1 << 16, records[i][1], records[i][1] + 1),
                           records[i][3])
        else:
            raise KeyError(field)
        return v, f"block {i}: {v}" if field.startswith("block ") and len(records) > 1 else str(v)
    header, payloads, _ = _image_layout(blob)
    part = header.parts[i] if field.startswith(("part ", "bytes part ")) else None
    if field == "version":
        v = _int_value(rng, 8, (3, 4, 5))
    elif field == "kind":
        v = _int_value(rng, 8, (1, 2))
    elif field == "color_type":
        v = _int_value(rng, 8, (0, 2, 3, 4, 6))
    elif field == "depth":
        v = _int_value(rng, 8, (1, 2, 4, 8, 16))
    elif field == "format":
        v = _int_value(rng, 8, range(7))
    elif field in ("width", "height"):
        v = _int_value(rng, IMAGE_VARINT_BITS, (16000, 46341, 65535, 65536, 1 << 31, 1 << 32),
                       header.width if field == "width" else header.height)
    elif field == "width x height":
        w, h = header.width, header.height
        v = _pick(rng, [(h, w), (w * 2, h // 2), (w // 2, h * 2), (w * h, 1), (1, w * h), (w + 1, h - 1),
                        (16000, 16000), (1 << 16, 1 << 15)])
        return v, f"{v[0]}x{v[1]}"
    elif field == "checksum":
        return _bytes_value(rng, header.checksum)
    elif field == "wrapper":
        return _wrapper_value(rng, header.wrapper, heavy)
    elif field == "wrapper codec":
        v = _int_value(rng, 8, (0, 1))
    elif field == "wrapper len":
        stored = len(zlib.compress(header.wrapper, 9)) if len(zlib.compress(header.wrapper, 9)) < len(header.wrapper) \
            else len(header.wrapper)
        v = _int_value(rng, IMAGE_VARINT_BITS, (_max_wrapper(), _max_wrapper() + 1, len(blob), len(blob) + 1), stored)
    elif field == "wrapper stream":
        r = int(rng.integers(0 if heavy else 3, 6))
        if r <= 2:
            what = ("bomb", "zeros at the limit", "'[' at the limit")[r]
            return _deflated(what), f"deflate of {what} ({_max_wrapper() + (r == 0)} B)"
        z = zlib.compress(header.wrapper, 9)
        if r == 3:
            return z[:-1 - int(rng.integers(0, len(z) - 1))], "a truncated deflate stream"
        if r == 4:
            return z + rng.bytes(int(rng.integers(1, 9))), "a deflate stream and junk after it"
        junk = _pick(rng, JSON_JUNK[:-1])
        return zlib.compress(junk), f"deflate of JSON {repr(junk)[2:-1]}"
    elif field == "models count":
        r = rng.random()
        if r < 0.5:
            v = _int_value(rng, 8, (0, 1, 2), len(header.models))
        else:
            v = _pick(rng, ["no models"] + [f"add {m}" for m in _installed_models()])
        return v, str(v)
    elif field == "model name":
        v = _pick(rng, [b"", b"a" * 255, b"\xff\xfe", b"../../../etc/passwd", b"rgb-mlp1\x00",
                        *[m.encode() for m in _installed_models()],
                        bytes(rng.integers(32, 127, int(rng.integers(1, 40)), dtype=np.uint8))])
        return v, f"model {i}: {repr(v[:40])[2:-1]}" + (f"... ({len(v)} B)" if len(v) > 40 else "")
    elif field == "model hash":
        v, label = _bytes_value(rng, header.models[i][1], [_model_hash(m, 8) for m in _installed_models()])
        return v, f"model {i}: {label}"
    elif field == "parts count":
        n = len(header.parts)
        if rng.random() < 0.5:
            v = _int_value(rng, 8, (0, 1, 2, 3), n)
        else:
            v = _pick(rng, ["no parts", f"drop part {int(rng.integers(n))}", f"duplicate part {int(rng.integers(n))}"])
        return v, str(v)
    elif field == "part plane":
        v = _int_value(rng, 8, tuple(ic.PLANES))
    elif field == "part method":
        v = _int_value(rng, 8, tuple(ic.METHODS))
    elif field == "part model":
        v = _int_value(rng, 8, (0, 1, len(header.models), ic.NO_MODEL - 1, ic.NO_MODEL))
    elif field == "part transform":
        v = _int_value(rng, 8, (0, 1, 2, 3))
    elif field == "part layout":
        v = _int_value(rng, 8, (0, 1, 2, 3))
    elif field == "part scale_offsets":
        j = int(rng.integers(0, 3))
        offsets = list(part.scale_offsets)
        offsets[j] = _pick(rng, [-128, -127, -1, 0, 1, 126, 127, int(rng.integers(-128, 128))])
        v = tuple(offsets)
    elif field == "part nll_bits":
        v = _pick(rng, [0.0, -0.0, math.nan, math.inf, -math.inf, -1.0, 3.4e38, 1e-45, float(rng.normal() * 1e4)])
    elif field == "part payload_len":
        v = _int_value(rng, IMAGE_VARINT_BITS, (0, len(blob), 1 << 32), len(payloads[i]))
    elif field == "part payload_crc":
        crc = zlib.crc32(payloads[i])
        v = struct.pack("<I", _pick(rng, [0, 0xFFFFFFFF, crc ^ (1 << int(rng.integers(32))),
                                          int(rng.integers(0, 1 << 32))]))
        return v, f"part {i}: {v.hex()}" if len(header.parts) > 1 else v.hex()
    elif field == "bytes part method":
        v = _int_value(rng, 8, (*bc.METHODS, bc.METHOD_END))
    elif field == "bytes part segments":
        v = _int_value(rng, 16, (0, 1, 2, 3, 255), _SMALL_PART.unpack_from(payloads[i])[1])
    else:
        raise KeyError(field)
    return v, f"part {i}: {v}" if part is not None and len(header.parts) > 1 else str(v)


def _draw_jpeg_value(blob: bytes, field: str, i: int, rng: np.random.Generator):
    """(value, label) for a JPEG archive's field (of segment i)."""
    from arzip.bytes import container as bc
    from arzip.jpeg import container as jc
    h, side, _, _ = _jpeg_layout(blob)
    segments = h.segments
    huge = (1 << 32, 1 << 63, (1 << JPEG_VARINT_BITS) - 1)
    if field == "jpeg version":
        v = _int_value(rng, 8, (3, 4, 5, 6))
    elif field == "jpeg kind":
        v = _int_value(rng, 8, (1, 2, 4))
    elif field == "jpeg method":
        v = _int_value(rng, 8, (0, *jc.METHODS, max(jc.METHODS) + 1))
    elif field == "jpeg level":  # informational
        v = _int_value(rng, 8, range(0, 11))
    elif field == "jpeg original_len":
        n = h.original_len
        v = _int_value(rng, JPEG_VARINT_BITS, (0, 1, n - 1, n + 1, 2 * n, 1 << 30, 1 << 40, *huge), n)
    elif field == "jpeg original_crc":
        v = _pick(rng, [0, 0xFFFFFFFF, h.original_crc ^ (1 << int(rng.integers(32))), int(rng.integers(0, 1 << 32))])
        return v, f"{v:08x}"
    elif field == "jpeg side_len":
        n = h.side_len
        v = _int_value(rng, JPEG_VARINT_BITS, (0, 1, 2, n - 1, n + 1, 2 * n, len(side), bc.BLOCK_SIZE,
                                               bc.BLOCK_SIZE + 1, n + bc.BLOCK_SIZE, *huge), n)
    elif field in ("jpeg side_coded_len", "jpeg segment stream_len"):
        n = h.side_coded_len if field == "jpeg side_coded_len" else segments[i][1]
        payload = len(blob) - h.size
        v = _int_value(rng, JPEG_VARINT_BITS, (0, 1, 2, 3, n - 1, n + 1, n - 3, n + 3, payload, payload + 1, *huge), n)
    elif field in ("jpeg side_coded_len+data", "jpeg segment stream_len+data"):
        n = h.side_coded_len if field == "jpeg side_coded_len+data" else segments[i][1]
        most = h.side_len + bc.CODED_SLACK + 1 if field == "jpeg side_coded_len+data" else 64 * n + 64
        v = _pick(rng, [0, 1, 2, 3, 4, n - 1, n + 1, n // 2, 2 * n, most - 1, most, int(rng.integers(0, most + 1))])
    elif field == "jpeg byte model hash":
        return _bytes_value(rng, h.byte_model_sha, [_model_hash(m, jc.MODEL_HASH_BYTES) for m in _installed_models()])
    elif field == "jpeg prior hash":
        return _bytes_value(rng, h.prior_sha, [_model_hash(m, jc.PRIOR_HASH_BYTES) for m in _installed_models()]
                            + [jc.NO_PRIOR])
    elif field == "jpeg segment count":
        n = len(segments)
        r = rng.random()
        if r < 0.25:  # the count alone, the header after it as it is
            v = _int_value(rng, JPEG_VARINT_BITS, (0, 1, 2, jc.MAX_SEGMENTS, jc.MAX_SEGMENTS + 1), n)
            return v, f"count {v} (written alone)"
        k = int(rng.integers(n)) if n else 0
        choices = ["no segments", f"add an empty segment of {_pick(rng, [0, 1])} bands"]
        if n:
            split = f"split segment {k} at band {int(rng.integers(0, segments[k][0] + 1))}"
            choices += [f"drop segment {k}", f"duplicate segment {k}", split,
                        f"{split} and byte {int(rng.integers(0, segments[k][1] + 1))}"]
        v = _pick(rng, choices)
        return v, v
    elif field == "jpeg segment bands":
        b = segments[i][0]
        v = _int_value(rng, JPEG_VARINT_BITS, (0, 1, b - 1, b + 1, 2 * b, 1 << 16, *huge), b)
    elif field == "jpeg nll_bits":  # informational
        v = _pick(rng, [0.0, -0.0, math.nan, math.inf, -math.inf, -1.0, 1e308, 5e-324, float(rng.normal() * 1e4)])
    elif field == "jpeg side bytes part method":
        v = _int_value(rng, 8, (*bc.METHODS, bc.METHOD_END))
    elif field == "jpeg side bytes part segments":
        v = _int_value(rng, 16, (0, 1, 2, 3, 255), _SMALL_PART.unpack_from(side)[1])
    elif field in ("jpeg side field", "jpeg side marker segment", "jpeg side bytes"):
        return _side_value(_jpeg_side(blob), field, rng)
    else:
        raise KeyError(field)
    v = max(0, v) if isinstance(v, int) else v  # (n - 1 of an empty stream: lengths are unsigned)
    return v, f"segment {i}: {v}" if "segment " in field and len(segments) > 1 else str(v)


_MARKER_NAMES = {0xC0: "SOF0", 0xC1: "SOF1", 0xC2: "SOF2", 0xC4: "DHT", 0xDA: "SOS", 0xDB: "DQT", 0xDD: "DRI",
                 0xFE: "COM", **{0xE0 + k: f"APP{k}" for k in range(16)}}


def _side_value(side: bytes, field: str, rng: np.random.Generator) -> tuple[bytes, str]:
    """(new raw side, label): one of the side's own fields set to an edge value ("jpeg side
    field"), a marker segment of a scan's header edited ("jpeg side marker segment": a byte set,
    the segment dropped, doubled, cut, or another segment put before it; the header's length
    field follows), or any bytes of it changed ("jpeg side bytes")."""
    from arzip import container
    slots, chunks = _side_slots(side)
    if field == "jpeg side field":
        start, end, what, name = _pick(rng, slots)
        current = side[start] if what == "byte" else container.read_varint(side, start)[0]
        if what == "byte":
            v = _int_value(rng, 8, (0, 1, 2, 3, 4, 5, 8, 9, 10, 15, 16), current)
            new = bytes([v])
        else:
            v = _int_value(rng, SIDE_VARINT_BITS, (0, 1, 2, 255, 256, 32767, 32768, len(side), len(side) + 1,
                                                   1 << 32, 1 << 63), current)
            new = container.varint(v)
        return side[:start] + new + side[end:], f"{name}: {current} -> {v}"
    segments = _marker_segments(side, chunks) if field == "jpeg side marker segment" else []
    if segments:
        k, marker, start, payload, end = _pick(rng, segments)
        name = _MARKER_NAMES.get(marker, f"FF{marker:02X}")
        r = int(rng.integers(0, 10))
        if r <= 5:  # one byte (the first dozen, where the frame's and scan's parameters are, as often as the rest)
            at = start + int(rng.integers(0, min(12, end - start))) if r <= 2 or end - start <= 12 \
                else int(rng.integers(start, end))
            v = _pick(rng, [0, 1, 2, 3, 4, 8, 15, 16, 17, 63, 64, 0x7F, 0x80, 0xFE, 0xFF, side[at] ^ 1,
                            (side[at] + 1) & 0xFF, (side[at] - 1) & 0xFF, int(rng.integers(0, 256))])
            new, label = side[:at] + bytes([v]) + side[at + 1:], f"{name} byte {at - start}: {side[at]} -> {v}"
            return new, label
        if r == 6:
            edited, label = b"", "dropped"
        elif r == 7:
            edited, label = side[start:end] * 2, "doubled"
        elif r == 8:
            cut = int(rng.integers(start, end))
            edited, label = side[start:cut], f"cut to {cut - start} B"
        else:
            extra, what = _pick(rng, [(b"\xff\xdd\x00\x04\x00\x00", "DRI 0"), (b"\xff\xdd\x00\x04\x00\x01", "DRI 1"),
                                      (b"\xff\xdd\x00\x04\xff\xff", "DRI 65535"), (b"\xff\xd9", "EOI"),
                                      (b"\xff\xd0", "RST0"), (b"\xff\xe1\x00\x02", "an empty APP1"),
                                      (b"\xff\xdb\x00\x43\x00" + bytes(64), "a DQT of zeros"),
                                      (b"\xff\xc4\x00\x13\x00" + b"\x00" * 15 + b"\x01\x00", "a DHT of one 16-bit code"),
                                      (b"\xff\xc0\x00\x0b\x08\xff\xff\xff\xff\x01\x01\x11\x00", "an SOF0 of 65535x65535"),
                                      (b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00", "an SOS")])
            edited, label = extra + side[start:end], f"{what} put before it"
        length_at, c_start, c_end = chunks[k]
        chunk = side[c_start:start] + edited + side[end:c_end]
        new = side[:length_at] + container.varint(len(chunk)) + chunk + side[c_end:]
        return new, f"scan {k} header, {name} at {start - c_start}: {label}"
    edited, op, at = _edit(rng, side, 5)
    return edited, f"{EDITS[op]} at {at} of {len(side)} B"


def field_mutation(blob: bytes, rng: np.random.Generator, field: str | None = None) -> tuple[str, str, bytes]:
    """(field, value label, archive): one header field of blob (`field`, or one drawn uniformly
    among the field names the seed has), of a part, model or block drawn uniformly, set to an
    edge value other than its own, the CRCs recomputed."""
    pairs = fields_of(blob)
    if field is None:
        field = _pick(rng, sorted({f for f, _ in pairs}, key=[f for f, _ in pairs].index))
    index = _pick(rng, [i for f, i in pairs if f == field])
    for _ in range(20):  # a value that changes the archive
        value, label = draw_value(blob, field, index, rng)
        mutated = set_field(blob, field, index, value)
        if mutated != blob:
            break
    return field, label, mutated


# -- the worker -----------------------------------------------------------------------------------

class _CpuCap(BaseException):
    """Raised in a worker when a case has used --cpu-cap seconds of CPU (a BaseException, so
    that no decoder's except clause takes it for damage)."""


_armed = False
_cpu_cap = 20.0
_originals: dict[str, tuple[bytes, object]] = {}  # seed -> (its output, its samples): this worker's own decode


def _on_cpu_cap(signum, frame) -> None:
    if _armed:
        raise _CpuCap()


def _status_kib() -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "VmSize"):
                out[key] = int(rest.split()[0])
    return out


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # VmHWM := VmRSS (Linux 4.0+)
        return True
    except OSError:
        return False


def originals(corpus: dict[str, bytes]) -> dict[str, tuple[bytes, object]]:
    """Each seed's output and (image seeds) samples: what a mutated seed must decode to."""
    from arzip import api
    return {name: (api.decompress(blob), api.decompress_picture(blob).samples if _is_image(blob) else None)
            for name, blob in corpus.items()}


def _init(corpus: dict[str, bytes], memory_limit: int, cpu_cap: float) -> None:
    """Import, and decode every seed once: the outputs the cases are held to (by this worker's
    code: a replaced worker imports the code as it is then), and the JIT has compiled what the
    seeds use before any case is measured; then cap the address space and arm the CPU watchdog."""
    global _cpu_cap
    _originals.update(originals(corpus))
    if memory_limit:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, hard))
    _cpu_cap = cpu_cap
    signal.signal(signal.SIGPROF, _on_cpu_cap)


def _decode(case: dict) -> dict:
    """One measured decode: outcome, CPU seconds, peak RSS growth."""
    global _armed
    from arzip import api
    from arzip.errors import ArzipError
    peak_reset = _reset_peak()
    before = _status_kib()
    maxrss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    out = None
    try:
        try:
            _armed = True
            signal.setitimer(signal.ITIMER_PROF, _cpu_cap)  # process CPU, all threads
            out = api.decompress(case["data"])
        finally:
            _armed = False
            signal.setitimer(signal.ITIMER_PROF, 0)
        outcome = "exact" if out == _originals[case["seed"]][0] else "WRONG OUTPUT"
    except _CpuCap:
        outcome = f"over the {_cpu_cap:.0f} s CPU cap (stopped at the next Python line)"
    except ArzipError:
        outcome = "error"
    except MemoryError as e:
        outcome = f"MEMORY: MemoryError {e}"[:300]
    except Exception as e:  # noqa: BLE001 - exactly what the fuzzer looks for
        outcome = f"TRACEBACK {type(e).__name__}: {e}"[:300]
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.perf_counter() - t0
    after = _status_kib()
    if outcome == "WRONG OUTPUT" and case["field"] in FILE_FIELDS:
        outcome = _same_pixels(out, _originals[case["seed"]][1])
    return {"outcome": outcome, "cpu_s": r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime, "wall_s": wall,
            "rss_growth_kib": (after["VmHWM"] - before["VmRSS"]) if peak_reset else None,
            "maxrss_delta_kib": r1.ru_maxrss - maxrss0, "vm_kib": after["VmSize"]}


def _same_pixels(out: bytes, samples) -> str:
    """What a valid archive of another file (format or wrapper changed) may decode to: a file
    that reads back to the original pixels."""
    from arzip.formats import picture
    try:
        back = picture.read(out, "output").samples
    except Exception as e:  # noqa: BLE001
        return f"WRONG OUTPUT: an unreadable file ({type(e).__name__}: {e})"[:300]
    if samples is None or back.shape != samples.shape or not np.array_equal(back, samples):
        return "WRONG OUTPUT: other pixels"
    return "same pixels, other file"


def check(case: dict) -> dict:
    """The case decoded and measured; one over SLOW_CPU_S (but under the cap) runs again, so
    that a first run that compiled a kernel no seed uses is not taken for a slow archive."""
    result = _decode(case)
    if SLOW_CPU_S < result["cpu_s"] and not result["outcome"].startswith("over the"):
        again = _decode(case)
        again["first_run_cpu_s"] = result["cpu_s"]
        result = again
    result["index"] = case["index"]
    return result


# -- the driver -----------------------------------------------------------------------------------

def failure_class(result: dict) -> str | None:
    """None for an accepted case, else what failed: slow, MEMORY, TRACEBACK <type>, WRONG
    OUTPUT, HANG, CRASH."""
    outcome = result["outcome"]
    if outcome in ("HANG", "CRASH"):
        return outcome
    if outcome.startswith("MEMORY"):
        return "MEMORY"
    if outcome.startswith("TRACEBACK"):
        return outcome.split(":")[0]
    if outcome.startswith("WRONG"):
        return "WRONG OUTPUT"
    if outcome.startswith("over the") or result.get("cpu_s", 0) > SLOW_CPU_S:
        return "slow"
    return None


class Runner:
    """Cases through a pool of worker processes, in order; a case that kills its worker
    (CRASH) or runs past the wall-clock limit (HANG) is recorded and the pool replaced."""

    def __init__(self, workers: int, corpus: dict[str, bytes], memory_limit: int, cpu_cap: float) -> None:
        self.args = (workers, corpus, memory_limit, cpu_cap)
        self.wall_limit = 3 * cpu_cap + 60  # a case may run twice (check), plus slack for a loaded machine
        self.restarts = 0
        self.pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        workers, corpus, memory_limit, cpu_cap = self.args
        return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init,
                                   initargs=(corpus, memory_limit, cpu_cap))

    def _restart(self) -> None:
        for p in list((self.pool._processes or {}).values()):  # the workers this runner started
            if p.is_alive():
                p.kill()
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.restarts += 1
        self.pool = self._start()

    def run(self, cases: list[dict]) -> list[dict]:
        results: dict[int, dict] = {}
        pending, one_at_a_time = list(cases), False
        while pending:
            chunk = pending[:1] if one_at_a_time else pending
            futures = [(c, self.pool.submit(check, c)) for c in chunk]
            for case, future in futures:
                try:
                    results[case["index"]] = future.result(timeout=self.wall_limit)
                except FutureTimeout:
                    results[case["index"]] = {"index": case["index"], "outcome": "HANG", "cpu_s": math.nan}
                    self._restart()
                    break
                except BrokenProcessPool:
                    if len(chunk) == 1:  # the culprit, run alone
                        results[case["index"]] = {"index": case["index"], "outcome": "CRASH", "cpu_s": math.nan}
                    else:  # the culprit is one of the unfinished cases: run them one at a time
                        one_at_a_time = True
                    self._restart()
                    break
            pending = [c for c in pending if c["index"] not in results]
        return [results[c["index"]] for c in cases]

    def close(self) -> None:
        self.pool.shutdown()


def cases(corpus: dict[str, bytes], n: int, seed: int, mutations: str):
    """The n cases of a run, in order: each (index, seed name, family, field, value, archive)."""
    names = list(corpus)
    seed_fields = {name: {f for f, _ in fields_of(blob)} for name, blob in corpus.items()}
    all_fields = [f for f in (*IMAGE_FIELDS, *BYTES_FIELDS, *JPEG_FIELDS) if any(f in v for v in seed_fields.values())]
    all_fields = sorted(set(all_fields), key=all_fields.index)
    rng = np.random.default_rng(seed)
    for i in range(n):
        field = None
        if mutations == "field":  # every field name as often, then a seed that has it
            field = _pick(rng, all_fields)
            name = _pick(rng, [name for name in names if field in seed_fields[name]])
        else:
            name = names[int(rng.integers(len(names)))]
        other = corpus[names[int(rng.integers(len(names)))]]
        family, field, value, data = mutate(corpus[name], other, rng, mutations, field)
        yield {"index": i, "seed": name, "family": family, "field": field, "value": value, "data": data}


def replay(corpus: dict[str, bytes], a) -> None:
    """--only: the chosen cases of a run, decoded here with a full traceback, and written to
    --out as case-N.arz."""
    import traceback
    from arzip import api
    from arzip.errors import ArzipError
    wanted = {int(c) for c in a.only.split(",")}
    expected = originals(corpus)
    for case in cases(corpus, max(wanted) + 1, a.seed, a.mutations):
        if case["index"] not in wanted:
            continue
        where = ""
        if a.out:
            a.out.mkdir(parents=True, exist_ok=True)
            (a.out / f"case-{case['index']}.arz").write_bytes(case["data"])
            where = f", {a.out / ('case-%d.arz' % case['index'])}"
        print(f"case {case['index']}: {case['seed']}, {case['family']} {case['field']} = {case['value']} "
              f"({len(case['data'])} B{where})", flush=True)
        t0 = time.process_time()
        try:
            out = api.decompress(case["data"])
            print("  exact" if out == expected[case["seed"]][0] else f"  OTHER OUTPUT ({len(out)} B)")
        except ArzipError as e:
            print(f"  arzip error: {e}")
        except Exception:  # noqa: BLE001
            traceback.print_exc()
        print(f"  {time.process_time() - t0:.2f} s CPU", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=10000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mutations", choices=("all", "field"), default="all",
                    help="all: every family, header fields included; field: header-field mutations only")
    ap.add_argument("--memory-limit-gib", type=float, default=3.0,
                    help="each worker's address space (RLIMIT_AS); 0: no limit")
    ap.add_argument("--cpu-cap", type=float, default=20.0, help="CPU seconds at which a case is stopped")
    ap.add_argument("--only", help="CASE[,CASE...]: replay these cases of the run (same --seed and --mutations) "
                                   "in this process, with tracebacks (and each archive written to --out if given)")
    ap.add_argument("--out", type=Path, help="where fuzz.{md,json} go (default bench/results)")
    a = ap.parse_args()
    t_start = time.time()
    corpus = seeds()
    if a.only:
        return replay(corpus, a)
    a.out = a.out or Path(__file__).parent / "results"
    runner = Runner(a.workers, corpus, int(a.memory_limit_gib * (1 << 30)), a.cpu_cap)
    rows: list[dict] = []
    generated = cases(corpus, a.cases, a.seed, a.mutations)
    while len(rows) < a.cases:
        batch = [case for _, case in zip(range(200), generated)]
        for case, result in zip(batch, runner.run(batch)):
            rows.append({"case": case["index"], "seed": case["seed"], "family": case["family"], "field": case["field"],
                         "value": case["value"], "archive_bytes": len(case["data"]),
                         **{k: v for k, v in result.items() if k != "index"}})
        bad = [r for r in rows if failure_class(r)]
        worst = max((r["cpu_s"] for r in rows if r["cpu_s"] == r["cpu_s"]), default=0.0)
        print(f"{len(rows)} cases, {len(bad)} failures, worst CPU {worst:.2f} s", flush=True)
    runner.close()
    result = summarise(rows, corpus, a, time.time() - t_start, runner.restarts)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "fuzz.json").write_text(json.dumps(result, indent=1) + "\n")
    md = report(result)
    (a.out / "fuzz.md").write_text(md)
    print(md)


def _brief(r: dict) -> dict:
    keep = ("case", "seed", "family", "field", "value", "outcome", "cpu_s", "rss_growth_kib", "maxrss_delta_kib",
            "first_run_cpu_s")
    return {k: r[k] for k in keep if k in r and not (isinstance(r[k], float) and math.isnan(r[k]))}


def summarise(rows: list[dict], corpus: dict[str, bytes], a, wall: float, restarts: int) -> dict:
    by_family: dict[str, dict[str, int]] = {}
    by_field: dict[str, dict[str, int]] = {}
    failures: dict[str, list[dict]] = {}
    for r in rows:
        cls = failure_class(r) or r["outcome"]
        by_family.setdefault(r["family"], {})
        by_family[r["family"]][cls] = by_family[r["family"]].get(cls, 0) + 1
        if r["family"] == "field":
            by_field.setdefault(r["field"], {})
            by_field[r["field"]][cls] = by_field[r["field"]].get(cls, 0) + 1
        if failure_class(r):
            failures.setdefault(f"{r['field'] or r['family']} | {failure_class(r)}", []).append(_brief(r))
    measured = [r for r in rows if r["cpu_s"] == r["cpu_s"]]
    worst_cpu = max(measured, key=lambda r: r["cpu_s"], default=None)
    with_peak = [r for r in measured if r.get("rss_growth_kib") is not None]
    worst_rss = max(with_peak, key=lambda r: r["rss_growth_kib"], default=None)
    worst_maxrss = max(measured, key=lambda r: r["maxrss_delta_kib"], default=None)
    return {"command": " ".join(["python", *sys.argv]), "cases": len(rows), "mutations": a.mutations, "seed": a.seed,
            "seeds": {k: len(v) for k, v in corpus.items()}, "wall_s": wall,
            "memory_limit_gib": a.memory_limit_gib, "slow_cpu_s": SLOW_CPU_S, "cpu_cap_s": a.cpu_cap,
            "failures": sum(len(v) for v in failures.values()), "worker_restarts": restarts,
            "by_family": dict(sorted(by_family.items(), key=lambda kv: FAMILIES.index(kv[0]))),
            "by_field": dict(sorted(by_field.items(), key=lambda kv: (*IMAGE_FIELDS, *BYTES_FIELDS, *JPEG_FIELDS).index(kv[0]))),
            "failure_groups": {k: {"cases": len(v), "example": v[0], "more": v[1:20]} for k, v in sorted(failures.items())},
            "worst_cpu_case": worst_cpu and _brief(worst_cpu),
            "worst_rss_growth_case": worst_rss and _brief(worst_rss),
            "worst_maxrss_delta_case": worst_maxrss and _brief(worst_maxrss),
            "worker_peak_vm_mib": max((r.get("vm_kib", 0) for r in rows), default=0) / 1024,
            "jit_reruns": sum(1 for r in rows if "first_run_cpu_s" in r)}


def _table(title: str, counts: dict[str, dict[str, int]]) -> str:
    classes = [c for c in ACCEPTED if any(c in v for v in counts.values())]
    classes += sorted({c for v in counts.values() for c in v} - set(ACCEPTED))
    out = f"| {title} | cases | " + " | ".join(classes) + " |\n|---|---|" + "---|" * len(classes) + "\n"
    for key, v in counts.items():
        out += f"| {key} | {sum(v.values())} | " + " | ".join(str(v.get(c, "")) for c in classes) + " |\n"
    return out


def _case_line(r: dict) -> str:
    mem = f", peak RSS +{r['rss_growth_kib'] / 1024:.0f} MiB" if r.get("rss_growth_kib") is not None else ""
    rerun = f" (first run {r['first_run_cpu_s']:.1f} s)" if "first_run_cpu_s" in r else ""
    what = f"field {r['field']} = {r['value']}" if r.get("field") else r["family"]
    return (f"case {r['case']} ({r['seed']}, {what}): {r['outcome']}; "
            f"{r.get('cpu_s', math.nan):.2f} s CPU{rerun}{mem}")


def report(res: dict) -> str:
    md = (f"# Fuzzing the archive readers\n\n`{res['command']}`: {res['cases']} cases ({res['mutations']} mutations) "
          f"over {len(res['seeds'])} seed archives ({', '.join(f'{k} {v} B' for k, v in res['seeds'].items())}), "
          f"{res['wall_s']:.0f} s. Each worker's address space is capped at {res['memory_limit_gib']:g} GiB "
          f"(RLIMIT_AS: a runaway allocation is a MemoryError, counted as MEMORY); a case over "
          f"{res['slow_cpu_s']:.0f} s of CPU is slow (stopped at {res['cpu_cap_s']:.0f} s, or as soon as compiled code "
          f"returns after that; a worker that gives no answer in {3 * res['cpu_cap_s'] + 60:.0f} s is killed: HANG). "
          f"Accepted outcomes: an arzip error, exactly the original, or (format and wrapper fields only: a valid "
          f"archive of another file) a file that reads back to the original pixels.\n\n"
          f"**{res['failures']} failures.**\n\n## By mutation family\n\n" + _table("family", res["by_family"]))
    if res["by_field"]:
        md += "\n## Header fields (CRCs recomputed), by field\n\n" + _table("field", res["by_field"])
    md += "\n## Cost per case\n\n"
    if res["worst_cpu_case"]:
        md += f"- Worst CPU: {_case_line(res['worst_cpu_case'])}.\n"
    if res["worst_rss_growth_case"]:
        md += (f"- Worst peak memory: {_case_line(res['worst_rss_growth_case'])} (peak resident memory during the "
               "case, VmHWM reset through /proc/self/clear_refs before it, less the resident memory before it).\n")
    if res["worst_maxrss_delta_case"]:
        r = res["worst_maxrss_delta_case"]
        md += (f"- Worst ru_maxrss growth: +{r['maxrss_delta_kib'] / 1024:.0f} MiB, {_case_line(r)} (a lower bound: "
               "ru_maxrss only grows past the worker's earlier peak).\n")
    md += (f"- Largest worker address space {res['worker_peak_vm_mib']:.0f} MiB; {res['jit_reruns']} cases over "
           f"{res['slow_cpu_s']:.0f} s ran again (a first run compiling a kernel); {res['worker_restarts']} worker "
           "pool restarts.\n")
    if res["failure_groups"]:
        md += "\n## Failures, by field (or family) and kind: one example each\n\n| field / family | failure | cases | example |\n|---|---|---|---|\n"
        for key, g in res["failure_groups"].items():
            where, cls = key.split(" | ")
            md += f"| {where} | {cls} | {g['cases']} | {_case_line(g['example']).replace('|', '/')} |\n"
        md += ("\nfuzz.json lists up to 20 cases of each. Replay a case here, with its traceback and its archive "
               f"written out: `python bench/fuzz.py --seed {res['seed']} --mutations {res['mutations']} --only CASE "
               "--out /tmp/fuzz-cases` (the same code and seeds give the same cases).\n")
    return md


if __name__ == "__main__":
    main()
