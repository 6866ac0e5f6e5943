"""Golden archives (tests/golden/): written once by an earlier arzip and never rewritten, they
must keep decoding to the samples and bytes recorded beside them. A failure here means a
change broke archives people already have."""
from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import arzip
from arzip import container
from arzip.formats import picture

from .conftest import JPEG

GOLDEN = Path(__file__).resolve().parent / "golden"
MANIFEST = json.loads((GOLDEN / "manifest.json").read_text())


def test_every_golden_archive_is_listed():
    assert sorted(p.relative_to(GOLDEN).as_posix() for p in GOLDEN.rglob("*.arz")) == \
        sorted(f"{name}.arz" for name in MANIFEST)


@JPEG  # it codes the JPEG inputs too
def test_this_arzip_writes_the_golden_archives_of_its_version():
    """Re-encoding every input of the current version's folder gives its archive byte for byte:
    a change that alters coded bits fails here, and needs a new format version."""
    spec = importlib.util.spec_from_file_location("make_golden", GOLDEN / "make_golden.py")
    make_golden = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_golden)
    assert make_golden.FOLDER == f"v{container.FORMAT_VERSION}"
    assert make_golden.check() == 0


def test_every_readable_version_has_golden_archives():
    assert {entry["format_version"] for entry in MANIFEST.values()} == set(container.READABLE_VERSIONS)
    for name, entry in MANIFEST.items():
        assert (GOLDEN / f"{name}.arz").read_bytes()[4] == entry["format_version"]


@pytest.mark.parametrize("name", [pytest.param(name, marks=JPEG) if "/jpeg-" in name else name
                                  for name in sorted(MANIFEST)])
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
