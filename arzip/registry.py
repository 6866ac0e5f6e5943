"""Shipped models: find them, check their hashes, load them once per process.

models/manifest.json lists every model file with its SHA-256; a file whose hash differs is
refused, so a damaged install can never produce wrong tables.
"""
from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

from .bytes.exact import ExactByteNet
from .bytes.mixer import NetTables
from .errors import FormatError, ModelError

if TYPE_CHECKING:  # the image models need torch, which the byte path never loads
    from .image.exact import ExactImageModel
    from .jpeg.contexts import State


def models_dir() -> Path:
    try:
        from importlib.resources import files
        path = Path(str(files("arzip.models")))
    except ModuleNotFoundError:  # running from a source tree without installing
        path = Path(__file__).resolve().parent.parent / "models"
    return path


@functools.lru_cache(maxsize=1)
def manifest() -> dict:
    path = models_dir() / "manifest.json"
    if not path.exists():
        raise ModelError(f"no model manifest at {path}")
    return json.loads(path.read_text())


LEVELS = range(1, 10)


def default_level() -> int:
    return int(manifest()["default_level"])


def model_for_level(level: int | None = None) -> str:
    """The model behind compression level 1 (fastest) .. 9 (smallest); None: the default."""
    level = default_level() if level is None else level
    if level not in LEVELS:
        raise ModelError(f"level must be 1..9 (got {level})")
    return manifest()["levels"][str(level)]


def mixing_profile(level: int | None = None, gray: bool = False) -> str | None:
    """The context-mixing profile (arzip.image.profiles.PROFILES) with which the level codes
    photos around the network (arzip.image.mixing_codec), or None: the network alone. Gray
    photos have a third of the work per pixel and gain less from mixing (no other channels to
    learn from), so they get a stronger profile at the same level."""
    level = default_level() if level is None else level
    return manifest().get("gray_mixing_levels" if gray else "mixing_levels", {}).get(str(level))


def levels_of(name: str) -> list[int]:
    """The levels a model serves (empty if it only serves explicit --model requests)."""
    return [int(lv) for lv, model in manifest()["levels"].items() if model == name]


def model_sha256(name: str) -> str:
    entry = manifest()["models"].get(name)
    if entry is None:
        known = ", ".join(sorted(manifest()["models"]))
        raise ModelError(f"model '{name}' is not installed (installed: {known})")
    return entry["sha256"]


def hash_prefix(name: str, length: int) -> bytes:
    """The first `length` bytes of the model file's SHA-256: how an archive names its model."""
    return bytes.fromhex(model_sha256(name))[:length]


def find_by_hash_prefix(prefix: bytes) -> str | None:
    for name, entry in manifest()["models"].items():
        if bytes.fromhex(entry["sha256"]).startswith(prefix):
            return name
    return None


def installed(name: str | None, sha_prefix: bytes) -> str:
    """The installed model an archive names by its file hash prefix (and, in older archives, by
    name too), or a FormatError naming it."""
    found = find_by_hash_prefix(sha_prefix)
    if found is None:
        named = f"model '{name}'" if name else "a model"
        raise FormatError(f"archive was made with {named} (sha256 {sha_prefix.hex()}...), which is not installed")
    return found


def _verified_file(name: str, kind: str) -> Path:
    """The named model's file, after checking its kind and its SHA-256 against the manifest."""
    expected = model_sha256(name)
    entry = manifest()["models"][name]
    if entry.get("kind", "image") != kind:
        raise ModelError(f"model '{name}' is a {entry.get('kind', 'image')} model, not a {kind} model")
    path = models_dir() / entry["file"]
    if not path.exists():
        raise ModelError(f"model file {path} is missing")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != expected:
        raise ModelError(f"model file {path} is damaged (sha256 {digest[:16]}..., "
                         f"expected {expected[:16]}...)")
    return path


@functools.lru_cache(maxsize=4)
def load(name: str, device: str = "cpu") -> "ExactImageModel":
    """The named shipped image model, its file hash verified, with its torch layers on `device`."""
    from .image.exact import ExactImageModel
    path = _verified_file(name, "image")  # gray models are image models of the same family
    try:
        model = ExactImageModel.load(path)
    except ValueError as e:
        raise ModelError(str(e)) from None
    return model.to(device) if device != "cpu" else model


def gray_model() -> str:
    """The model 8-bit gray planes are coded with (every level)."""
    name = manifest().get("gray_model")
    if name is None:
        raise ModelError("no gray model installed")
    return name


def bytes_model() -> str:
    """The model the byte path codes with."""
    return manifest()["bytes_model"]


def jpeg_prior() -> str:
    """The prior the JPEG path's coefficient model starts its tables from."""
    name = manifest().get("jpeg_prior")
    if name is None:
        raise ModelError("no JPEG prior installed")
    return name


@functools.lru_cache(maxsize=2)
def load_jpeg_prior(name: str) -> "State":
    """The named shipped JPEG prior, its file hash verified (arzip/jpeg/prior.py)."""
    from .jpeg import prior
    path = _verified_file(name, "jpeg")
    try:
        return prior.load(path)
    except (ValueError, KeyError) as e:
        raise ModelError(f"{path}: {e}") from None


@functools.lru_cache(maxsize=2)
def load_bytes(name: str) -> NetTables:
    """The named shipped byte model, its file hash verified, as the mixer's integer tables."""
    path = _verified_file(name, "bytes")
    try:
        return ExactByteNet.load(path).tables()
    except (ValueError, KeyError) as e:
        raise ModelError(f"{path}: {e}") from None


def install(model_file: Path, name: str, directory: Path, levels: list[int] = list(LEVELS),
            kind: str = "image") -> None:
    """Copy an exported model into a models folder, record its hash in the manifest and make it
    serve the given compression levels, or (kind "bytes") the byte path, or (kind "gray") the
    gray planes, or (kind "jpeg") the JPEG path's prior (used when shipping a newly trained
    model)."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{name}.safetensors"
    data = Path(model_file).read_bytes()
    target.write_bytes(data)
    path = directory / "manifest.json"
    doc = json.loads(path.read_text()) if path.exists() else {"default_level": 5, "levels": {},
                                                             "models": {}}
    doc["models"][name] = {"file": target.name, "kind": kind if kind in ("bytes", "jpeg") else "image",
                           "sha256": hashlib.sha256(data).hexdigest()}
    if kind == "bytes":
        doc["bytes_model"] = name
    elif kind == "jpeg":
        doc["jpeg_prior"] = name
    elif kind == "gray":
        doc["gray_model"] = name
    else:
        for level in levels:
            doc["levels"][str(level)] = name
    path.write_text(json.dumps(doc, indent=1) + "\n")
    manifest.cache_clear()
    load.cache_clear()
    load_bytes.cache_clear()
    load_jpeg_prior.cache_clear()
