"""Fuzzing the archive reader: any damaged archive is a FormatError or decodes exactly."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arzip import api
from arzip.errors import FormatError

IMAGE = np.random.default_rng(5).integers(90, 160, size=(9, 13, 3), dtype=np.uint8)
IMAGE[3:6] = 200  # some structure, so the model codes it (not stored raw)


@pytest.fixture(scope="module")
def blob() -> bytes:
    return api.compress_image(IMAGE)


def check(data: bytes) -> None:
    try:
        out = api.decompress_image(data)
    except FormatError:
        return
    assert np.array_equal(out, IMAGE)  # anything that decodes must be the original


mutation = st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(1, 255)), min_size=1, max_size=4)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutation)
def test_bit_flips(blob, flips):
    data = bytearray(blob)
    for pos, xor in flips:
        data[pos % len(data)] ^= xor
    check(bytes(data))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 10 ** 6), st.integers(0, 10 ** 6), st.binary(max_size=40))
def test_splices_and_cuts(blob, a, b, junk):
    i, j = sorted((a % (len(blob) + 1), b % (len(blob) + 1)))
    check(blob[:i] + junk + blob[j:])
