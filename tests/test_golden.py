"""Golden archives (tests/golden/): written once by an earlier arzip and never rewritten, they
must keep decoding to the samples and bytes recorded beside them. A failure here means a
change broke archives people already have."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

import arzip
from arzip.formats import picture

GOLDEN = Path(__file__).resolve().parent / "golden"
MANIFEST = json.loads((GOLDEN / "manifest.json").read_text())


def test_every_golden_archive_is_listed():
    assert sorted(p.name for p in GOLDEN.glob("*.arz")) == sorted(f"{name}.arz" for name in MANIFEST)


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_golden_archive_decodes_to_its_recorded_hash(name):
    entry = MANIFEST[name]
    blob = (GOLDEN / f"{name}.arz").read_bytes()
    if "samples_sha256" in entry:  # an image: its samples, and the file written from them
        pic = arzip.decompress_picture(blob)
        samples = np.ascontiguousarray(pic.samples)
        assert f"{samples.dtype.name} {list(samples.shape)}" == entry["samples"]
        assert hashlib.sha256(samples.tobytes()).hexdigest() == entry["samples_sha256"]
        decoded = picture.write(pic)
    else:
        decoded = arzip.decompress(blob)
    assert hashlib.sha256(decoded).hexdigest() == entry["decoded_sha256"]
