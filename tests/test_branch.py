"""The branch transform for machine code (arzip/bytes/branch.py, block method 11): it
undoes itself on any bytes, finds code and only code, and makes code smaller."""
from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arzip import api, registry
from arzip.bytes import branch, cm, container as byte_container
from arzip.errors import ArzipError

_SPEC = importlib.util.spec_from_file_location("make_golden", Path(__file__).parent / "golden" / "make_golden.py")
make_golden = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(make_golden)

ISAS = {"x86": branch.X86, "sparc": branch.SPARC, "arm64": branch.ARM64}
# bytes that make instructions a transform rewrites: E8/E9 with a 00/FF top byte, SPARC's call
# heads 0x40 and 0x7F, AArch64's BL 0x94 (its top byte, last in a little-endian word)
TRICKY = [0xE8, 0xE9, 0x00, 0xFF, 0x40, 0x7F, 0xC0, 0x94, 0x97]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(TRICKY) | st.integers(0, 255), min_size=0, max_size=300),
       st.sampled_from(sorted(ISAS.values())), st.lists(st.integers(0, 300), max_size=6))
def test_every_transform_undoes_itself_on_any_bytes(values, isa, cuts):
    original = np.array(values, dtype=np.uint8)
    bounds = sorted({min(c, len(original)) for c in cuts})
    regions = [(a, b) for a, b in zip(bounds[::2], bounds[1::2]) if b > a]
    data = original.copy()
    branch.rewrite(data, isa, regions, True)
    branch.rewrite(data, isa, regions, False)
    assert data.tobytes() == original.tobytes()


def test_x86_calls_to_one_function_become_one_address():
    """Three calls to the same target from three places: relative, three displacements; after
    the transform, one address three times."""
    code = bytearray(64)
    for at in (0, 20, 40):
        code[at:at + 5] = b"\xe8" + (50 - at - 5).to_bytes(4, "little", signed=True)
    data = np.frombuffer(bytes(code), dtype=np.uint8).copy()
    branch.rewrite(data, branch.X86, [(0, 64)], True)
    assert {data[at + 1:at + 5].tobytes() for at in (0, 20, 40)} == {(50).to_bytes(4, "little")}


@pytest.mark.parametrize("isa", sorted(ISAS))
def test_code_is_found_with_its_instruction_set(isa):
    code = make_golden.machine_code(isa)
    found, regions = branch.detect(code)
    assert found == ISAS[isa]
    table_start = len(code) - len(np.arange(0, 40000, 37)) * 4
    assert regions[0][0] == 0 and table_start - branch.WINDOW < regions[-1][1] < len(code)  # the table mostly left alone


@pytest.mark.parametrize("name", ["text", "noise", "numbers", "page", "empty"])
def test_what_is_not_code_is_left_alone(name):
    rng = np.random.default_rng(1)
    data = {"text": (api.__doc__ or "arzip") .encode() * 200,
            "noise": rng.integers(0, 256, 200_000, dtype=np.uint8).tobytes(),
            "numbers": rng.integers(-2 ** 20, 2 ** 20, 50_000).astype("<i4").tobytes(),  # many E8 .. 00 / FF
            "page": make_golden._page_bits() * 20,
            "empty": b""}[name]
    assert branch.detect(data) == (0, [])


@pytest.mark.parametrize("level", [None, 9])
@pytest.mark.parametrize("isa", sorted(ISAS))
def test_code_is_coded_after_the_transform_and_is_smaller_for_it(isa, level):
    code = make_golden.machine_code(isa)
    blob = api.compress_bytes(code, level)
    assert api.decompress(blob) == code
    block = byte_container.read_compact_record(io.BytesIO(blob[10:]))
    assert block.method == cm.BRANCH_METHOD and block.coded[0] == cm.method_for(level or 5, isa == "x86")
    net = registry.load_bytes(registry.bytes_model())
    without, _ = cm.encode_block(net, code, 1, block.coded[0])
    assert len(block.coded) < 0.95 * len(without)


def test_a_damaged_transform_description_is_an_error_not_a_wrong_file():
    code = make_golden.machine_code("x86")
    blob = api.compress_bytes(code)
    block = byte_container.read_compact_record(io.BytesIO(blob[10:]))  # after the 10-byte header
    payload = len(blob) - 5 - len(block.coded)  # where the payload starts (the end record is 5 bytes)
    assert blob[payload:payload + 2] == bytes([cm.method_for(5, True), branch.X86])  # the profile, the instruction set
    for at, value in ((0, 0), (0, 4), (0, cm.BRANCH_METHOD), (0, 200), (1, 0), (1, branch.SPARC), (1, 200)):
        damaged = bytearray(blob)
        damaged[payload + at] = value
        with pytest.raises(ArzipError):
            api.decompress(bytes(damaged))


@pytest.mark.parametrize("payload", [b"", b"\x09", b"\x01", b"\x01\x02\x00", b"\x01\x01\x00\x00",
                                     b"\x01\x01\x80\x80\x80\x80\x01\x10", b"\x01\xff\xff\x03"])
def test_descriptions_that_do_not_fit_the_block_are_refused(payload):
    with pytest.raises(ValueError):
        branch.read_description(payload, 4096)
