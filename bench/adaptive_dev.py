"""Development harness for the adaptive image model (arzip/image/adaptive.py): the ideal code
length (model NLL) of a few validation crops under the network alone and under the adaptive
model around it, and the kernel's time. Never run on Kodak (the benchmark).

    python bench/adaptive_dev.py [--count 6] [--size 256] [--level 5]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from arzip import registry
from arzip.formats.picture import read_rgb8
from arzip.image import adaptive, codec
from arzip.image.exact import CHANNELS
from arzip.image.train import split_files
from arzip.image.waves import layout_for

TRAIN = Path(__file__).resolve().parents[2] / "shared" / "data" / "train"


def adaptive_bits(model, image: np.ndarray, disabled: int = 0) -> tuple[float, float, float]:
    """(adaptive NLL bits, network NLL bits, kernel seconds) of one image."""
    sched = codec.schedule_of(model, layout_for(*image.shape[:2]), *image.shape[:2])
    flat = sched.buffer(image[..., model.config.coding_order]).reshape(-1)
    state = adaptive.AdaptiveState(flat.size, int(np.diff(sched.bounds).max()))
    row = sched.cols * CHANNELS
    bits_total = net_total = kernel = 0.0
    for waves, feats, current, values in codec.chunk_inputs(model, image, sched):
        sizes = np.diff(sched.bounds[waves.start:waves.stop + 1])
        starts = np.concatenate([[0], np.cumsum(sizes)])
        first, last = sched.bounds[waves.start], sched.bounds[waves.stop]
        base_all, ys, xs = sched.base[first:last], sched.ys[first:last], sched.xs[first:last]
        per_channel = []
        for c in range(CHANNELS):
            outputs = model.channel_tables(c, feats, current)[0]
            tables = model.full_tables(c, outputs)
            node_p = np.zeros((len(tables), 256), dtype=np.int64)
            mean = np.zeros(len(tables), dtype=np.int64)
            adaptive.network_bits(tables, node_p, mean)
            v = values[:, c]
            net_total += float(-np.log2(tables[np.arange(len(v)), v] / tables.sum(axis=1)).sum())
            per_channel.append((node_p, mean, v))
        t0 = time.perf_counter()
        probs = np.zeros(8 * CHANNELS * len(base_all), dtype=np.int64)
        bits = np.zeros_like(probs)
        k = 0
        for w in range(len(sizes)):
            a, b = starts[w], starts[w + 1]
            for c in range(CHANNELS):
                node_p, mean, v = per_channel[c]
                k = adaptive.encode_batch(state.arrays, state.batch, flat, base_all[a:b], ys[a:b], xs[a:b], c, row,
                                          node_p[a:b], mean[a:b], v[a:b], disabled, probs, bits, k)
        kernel += time.perf_counter() - t0
        p = np.where(bits[:k] == 1, probs[:k], 4096 - probs[:k]) / 4096
        bits_total += float(-np.log2(p).sum())
    return bits_total, net_total, kernel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=6)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--level", type=int, default=5)
    parser.add_argument("--disable", type=int, default=0, help="input families left out (adaptive.NO_*)")
    parser.add_argument("--images", nargs="*", type=Path, help="whole images instead of validation crops "
                        "(a measurement, never a tuning set)")
    args = parser.parse_args()
    model = registry.load(registry.model_for_level(args.level))
    _, val = split_files(TRAIN)
    tot_a = tot_n = 0.0
    sub = 0
    for path in args.images or val[::max(1, len(val) // args.count)][:args.count]:
        image = read_rgb8(path.read_bytes())
        h, w = image.shape[:2]
        s = args.size
        if not args.images:
            image = np.ascontiguousarray(image[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s])
        a, n, t = adaptive_bits(model, image, args.disable)
        tot_a, tot_n, sub = tot_a + a, tot_n + n, sub + image.size
        print(f"{path.name}: network {n / image.size:.4f}  adaptive {a / image.size:.4f} bpsp "
              f"({100 * (a / n - 1):+.2f} %)  kernel {t:.2f} s", flush=True)
    print(f"total: network {tot_n / sub:.4f}  adaptive {tot_a / sub:.4f} bpsp ({100 * (tot_a / tot_n - 1):+.2f} %)")


if __name__ == "__main__":
    main()
