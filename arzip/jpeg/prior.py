"""The coefficient model's prior: a trained starting state for its tables (context cells,
mixer weights, APM rows), read from a model file.

Why: every segment of a JPEG starts from fresh tables and spends its first blocks learning
what every photo's coefficients have in common; a 512x512 photo is over before the tables
settle. Starting from the state the model reaches on other photos, with each cell's count
capped so the file's own statistics still take over quickly, saves about a point of the file
on such photos and makes cutting a small image into two segments (both cores) cheap. The
state is data, not code: it is trained by arzip/jpeg/train.py and shipped in models/ with a
card, and an archive names it by its hash.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .contexts import CELLS, INPUTS, WEIGHT_SETS, State

FORMAT = "arzip-jpeg-prior-1"
APM_KNOTS = 33


def load(path: str | Path) -> State:
    """The prior in the model file at path; ValueError where its tables do not fit this model."""
    from safetensors import safe_open
    with safe_open(str(path), framework="numpy") as f:
        meta = json.loads((f.metadata() or {}).get("arzip", "{}"))
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path}: not a JPEG prior ({meta.get('format')!r})")
        cells, weights, apm = f.get_tensor("cells"), f.get_tensor("weights"), f.get_tensor("apm")
    if cells.shape != (CELLS,) or weights.shape != (WEIGHT_SETS, INPUTS + 1) or apm.shape != (WEIGHT_SETS * APM_KNOTS,):
        raise ValueError(f"{path}: tables of the wrong shape for this coefficient model")
    state = State.__new__(State)
    state.cells = cells.astype(np.uint32)
    state.weights = weights.astype(np.int64)
    state.apm = apm.astype(np.int64)
    return state


def save(state: State, path: str | Path, metadata: dict) -> None:
    """Write state as a prior file (the narrowest integer types that hold its tables). The
    metadata is one JSON value under one key: safetensors writes several keys in an order that
    changes from run to run, and the same training must give the same file (and hash)."""
    from safetensors.numpy import save_file
    assert np.abs(state.weights).max() < 1 << 31 and 0 <= state.apm.min() and state.apm.max() < 1 << 16
    save_file({"cells": state.cells.astype(np.uint32), "weights": state.weights.astype(np.int32),
               "apm": state.apm.astype(np.uint16)}, str(path),
              metadata={"arzip": json.dumps({"format": FORMAT, **metadata}, sort_keys=True)})


def settled(state: State, count_cap: int, uses_cap: int) -> State:
    """A copy of state whose cells count at most count_cap updates and whose weight sets at most
    uses_cap: the trained probabilities and weights, held loosely enough that a file moves them."""
    out = State(state)
    v = out.cells.astype(np.int64)
    out.cells[:] = ((v & ~np.int64(1023)) | np.minimum(v & 1023, count_cap)).astype(np.uint32)
    out.weights[:, INPUTS] = np.minimum(out.weights[:, INPUTS], uses_cap)
    return out
