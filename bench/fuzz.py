"""Fuzz the archive readers: mutated, truncated and spliced archives of every kind.

    python bench/fuzz.py [--cases 10000] [--workers 2] [--seed 0] [--out bench/results]

The seeds are small archives of every kind arzip writes: images through the RGB and gray
models, RGBA (model + alpha through the full-depth model or the byte path), palette, 4-bit and
1-bit images through the index and bilevel models, 16-bit images through the full-depth model,
the byte path and (widened 8-bit) the RGB model, and files coded as bytes (model, lzma and
stored blocks). Each case
applies one random mutation (bit flips, overwritten bytes, truncation, deletion, insertion
of junk, duplicated ranges, splices of two archives, or a payload edit with the CRCs
recomputed so that it reaches the decoders) and decodes the result with arzip.decompress in
a worker process. Required: every case ends in an arzip error or in exactly the original
output; no other exception (a traceback), no case over 10 s (a hang), bounded memory (the
workers' peak resident memory is recorded). Writes results/fuzz.{md,json}.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor, TimeoutError as FutureTimeout
from pathlib import Path

import numpy as np

HANG_SECONDS = 10.0


PARTS = {"rgb-model": ["quick mixing"], "rgb-medium": ["medium mixing"], "rgb-mixing": ["mixing"],
         "gray-model": ["quick mixing"], "rgba-model+alpha-full-depth": ["quick mixing", "full depth"],
         "rgba-model+alpha-bytes": ["quick mixing", "bytes"], "palette-indices": ["indices"],
         "gray4-indices": ["indices"], "1bit-indices": ["indices"], "1bit-bilevel": ["bilevel"], "16bit-bytes": ["bytes"],
         "16bit-gray-full-depth": ["full depth"], "16bit-rgb-full-depth": ["full depth"],
         "16bit-widened-model": ["quick mixing"]}


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
    text = (Path(__file__).resolve().parents[1] / "README.md").read_bytes()[:3000]
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
        "bytes-model": arzip.compress_bytes(text),
        "bytes-lzma": arzip.compress_bytes(rng.integers(0, 256, 500, dtype=np.uint8).tobytes() * 100),
        "bytes-stored": arzip.compress_bytes(bytes(rng.integers(0, 256, 500, dtype=np.uint8))),
    }
    for name, blob in out.items():
        kind = container.kind_of(blob[:6])
        assert kind in (1, 2), name
        summary = arzip.info(blob)  # each seed holds the coding its name says
        assert ([p["method"] for p in summary["parts"]] == PARTS[name] if name in PARTS else
                summary["methods"] == {name.split("-")[1]: 1}), name
    return out


def mutate(blob: bytes, other: bytes, rng: np.random.Generator) -> tuple[str, bytes]:
    from arzip import container
    from arzip.image import container as image_container
    data = bytearray(blob)
    n = len(data)
    kind = int(rng.integers(0, 8))
    if kind == 0:
        for _ in range(int(rng.integers(1, 5))):
            data[int(rng.integers(0, n))] ^= 1 << int(rng.integers(0, 8))
        return "bit flips", bytes(data)
    if kind == 1:
        i = int(rng.integers(0, n))
        data[i:i + 4] = rng.integers(0, 256, len(data[i:i + 4]), dtype=np.uint8).tobytes()
        return "overwrite", bytes(data)
    if kind == 2:
        return "truncate", bytes(data[:int(rng.integers(0, n))])
    if kind == 3:
        i, j = sorted(rng.integers(0, n, 2))
        return "delete", bytes(data[:i] + data[j:])
    if kind == 4:
        i = int(rng.integers(0, n + 1))
        return "insert", bytes(data[:i]) + rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes() + bytes(data[i:])
    if kind == 5:
        i, j = sorted(rng.integers(0, n, 2))
        return "duplicate", bytes(data[:j] + data[i:j] + data[j:])
    if kind == 6:
        return "splice", bytes(data[:int(rng.integers(0, n))]) + other[int(rng.integers(0, len(other))):]
    # a payload edit behind valid CRCs (image archives), or behind the header (byte archives)
    if container.kind_of(blob[:6]) == container.KIND_IMAGE:
        header, payloads = image_container.unpack(blob)
        k = int(rng.integers(0, len(payloads)))
        p = bytearray(payloads[k])
        if p:
            p[int(rng.integers(0, len(p)))] ^= 1 << int(rng.integers(0, 8))
        payloads[k] = bytes(p)
        return "payload edit, CRCs recomputed", image_container.pack(header, payloads)
    i = int(rng.integers(min(40, n - 1), n))
    data[i] ^= 1 << int(rng.integers(0, 8))
    return "payload edit", bytes(data)


def check(case: tuple[int, str, str, bytes, bytes]) -> tuple[int, str, str, str, float, int]:
    """(case, seed, mutation, outcome, seconds, peak KiB): outcome is 'error', 'exact', or
    'WRONG OUTPUT' / 'TRACEBACK ...'."""
    from arzip import api
    from arzip.errors import ArzipError
    index, seed, how, data, expected = case
    t0 = time.perf_counter()
    try:
        out = api.decompress(data)
        outcome = "exact" if out == expected else "WRONG OUTPUT"
    except ArzipError:
        outcome = "error"
    except Exception as e:  # noqa: BLE001 - exactly what the fuzzer looks for
        outcome = f"TRACEBACK {type(e).__name__}: {e}"[:300]
    return index, seed, how, outcome, time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _warm() -> None:
    import arzip.api  # noqa: F401 - import and JIT before the clock starts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=10000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    a = ap.parse_args()
    from arzip import api
    corpus = seeds()
    expected = {name: api.decompress(blob) for name, blob in corpus.items()}
    names = list(corpus)
    rng = np.random.default_rng(a.seed)
    counts: dict[str, int] = {}
    bad, slowest, peak_kib, done = [], 0.0, 0, 0
    t_start = time.time()
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(a.workers, mp_context=ctx, initializer=_warm)
    i = 0
    while i < a.cases:
        batch = []
        for _ in range(min(200, a.cases - i)):
            seed = names[int(rng.integers(len(names)))]
            other = corpus[names[int(rng.integers(len(names)))]]
            how, data = mutate(corpus[seed], other, rng)
            batch.append((i, seed, how, data, expected[seed]))
            i += 1
        futures = [pool.submit(check, case) for case in batch]
        for case, future in zip(batch, futures):
            try:
                index, seed, how, outcome, seconds, kib = future.result(timeout=HANG_SECONDS * 3)
            except FutureTimeout:
                bad.append({"case": case[0], "seed": case[1], "mutation": case[2], "outcome": "HANG"})
                pool.shutdown(wait=False, cancel_futures=True)
                pool = ProcessPoolExecutor(a.workers, mp_context=ctx, initializer=_warm)
                break
            done += 1
            counts[outcome if not outcome.startswith(("TRACEBACK", "WRONG")) else "bad"] = counts.get(
                outcome if not outcome.startswith(("TRACEBACK", "WRONG")) else "bad", 0) + 1
            slowest, peak_kib = max(slowest, seconds), max(peak_kib, kib)
            if seconds > HANG_SECONDS:
                bad.append({"case": index, "seed": seed, "mutation": how, "outcome": f"slow: {seconds:.1f} s"})
            elif outcome.startswith(("TRACEBACK", "WRONG")):
                bad.append({"case": index, "seed": seed, "mutation": how, "outcome": outcome})
        print(f"{done} cases, {len(bad)} bad, slowest {slowest:.2f} s", flush=True)
    pool.shutdown()
    result = {"cases": done, "seeds": {k: len(v) for k, v in corpus.items()}, "outcomes": counts, "bad": bad,
              "slowest_case_s": slowest, "worker_peak_rss_mib": peak_kib / 1024, "wall_s": time.time() - t_start,
              "command": " ".join(["python", *sys.argv])}
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "fuzz.json").write_text(json.dumps(result, indent=1) + "\n")
    md = (f"# Fuzzing the archive readers\n\n`{result['command']}`: {done} cases over {len(corpus)} seed archives "
          f"({', '.join(f'{k} {v} B' for k, v in result['seeds'].items())}), {result['wall_s']:.0f} s.\n\n"
          f"| outcome | cases |\n|---|---|\n"
          f"| clear arzip error | {counts.get('error', 0)} |\n| decoded exactly (mutation without effect) | "
          f"{counts.get('exact', 0)} |\n| traceback or wrong output | {counts.get('bad', 0)} |\n"
          f"| hang (over {HANG_SECONDS:.0f} s) | {sum(1 for b in bad if b['outcome'] == 'HANG' or b['outcome'].startswith('slow'))} |\n\n"
          f"Slowest case {slowest:.2f} s; peak resident memory of a worker {peak_kib / 1024:.0f} MiB.\n")
    if bad:
        md += "\n## Failures\n\n" + "".join(f"- case {b['case']} ({b['seed']}, {b['mutation']}): {b['outcome']}\n" for b in bad)
    (a.out / "fuzz.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
