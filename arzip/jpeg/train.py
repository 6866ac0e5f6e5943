"""Training the coefficient model's prior (arzip/jpeg/prior.py) on a folder of JPEG files.

The model is adaptive, so training is coding: the strong profile's encoder runs over every
training file in name order, one file after another on the same tables, and the tables it ends
with, each cell's count and each weight set's update count capped (COUNT_CAP, USES_CAP), are the
prior. Both profiles start from it (the default profile reads a subset of its tables). The
caps were chosen on the tune split (models/EXPERIMENTS.md J22): a cell that keeps its full count
of a few hundred updates follows the new file too slowly.

    python -m arzip.jpeg.train bench/.cache/jpeg-made/train --validate bench/.cache/jpeg-made/tune \
        --out /tmp/jpeg-prior1.safetensors
    python -c "from pathlib import Path; from arzip import registry; \
        registry.install(Path('/tmp/jpeg-prior1.safetensors'), 'jpeg-prior1', Path('models'), kind='jpeg')"

(the second command copies the file into models/ and makes it the JPEG path's prior in the
manifest).

The training files come from `python bench/jpeg_corpus.py --split train` (the tune half's
photos the tune files do not use; never the bench half, ../shared/data/jpeg or Kodak).
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import time
from pathlib import Path

from . import codec, prior, transcode
from .contexts import State

log = logging.getLogger(__name__)
COUNT_CAP = 8
USES_CAP = 1000
MAX_PIXELS = 1 << 28


def train(files: list[Path]) -> State:
    """The settled state after coding `files` in turn on one set of tables."""
    state = State()
    for path in files:
        parts = transcode.take_apart(path.read_bytes(), MAX_PIXELS)
        codec.learn(parts.geometry, parts.planes, True, state)
    return prior.settled(state, COUNT_CAP, USES_CAP)


def coded_bytes(files: list[Path], start: State | None, strong: bool, split_min_blocks: int) -> tuple[int, int]:
    """(the files' bytes, their coefficient streams' bytes) with tables starting from `start`."""
    original = coded = 0
    for path in files:
        data = path.read_bytes()
        parts = transcode.take_apart(data, MAX_PIXELS)
        segments, _ = codec.encode(parts.geometry, parts.planes, strong, start, split_min_blocks)
        original += len(data)
        coded += sum(len(stream) for _, stream in segments)
    return original, coded


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path, help="training JPEGs (*.jpg, in name order)")
    ap.add_argument("--validate", type=Path, help="JPEGs to report the prior's gain on")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    files = sorted(args.folder.glob("*.jpg"))
    if not files:
        raise SystemExit(f"{args.folder}: no *.jpg files")
    started = time.perf_counter()
    state = train(files)
    listing = hashlib.sha256("\n".join(f"{p.name} {hashlib.sha256(p.read_bytes()).hexdigest()}"
                                       for p in files).encode()).hexdigest()
    prior.save(state, args.out, {"training_files": len(files), "training_list_sha256": listing,
                                 "count_cap": COUNT_CAP, "uses_cap": USES_CAP})
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    log.info(f"{args.out}: {len(files)} training files, {time.perf_counter() - started:.1f} s, sha256 {digest}")
    if args.validate:
        held = sorted(args.validate.glob("*.jpg"))
        for strong, split in ((False, codec.SPLIT_MIN_BLOCKS), (True, codec.SPLIT_MIN_BLOCKS_STRONG)):
            original, fresh = coded_bytes(held, None, strong, split)
            _, primed = coded_bytes(held, state, strong, split)
            log.info(f"{args.validate} ({len(held)} files, {original:,} bytes), {'strong' if strong else 'default'} "
                  f"profile: coefficients {fresh:,} bytes fresh, {primed:,} from the prior "
                  f"({100 * (primed / fresh - 1):+.2f} %; {100 * (fresh - primed) / original:+.2f} points of the files)")


if __name__ == "__main__":
    main()
