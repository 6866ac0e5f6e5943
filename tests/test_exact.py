"""Exactness: the probability tables must not depend on threads, batch shape or device."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from arzip import api, causal, exact, image_codec, registry
from arzip.image_model import (ACT_MAX, CHANNELS, INPUT_MAX, ExactImageModel, ImageModel, ModelConfig,
                               nll_bits)
from arzip.train import PixelSampler, evaluate_bpsp


@pytest.fixture(scope="module")
def model() -> ExactImageModel:
    return registry.load(registry.model_for_level())


@pytest.fixture(scope="module")
def crop(photo) -> np.ndarray:
    return np.ascontiguousarray(photo[200:280, 150:246])  # 7680 pixels: big enough for the parallel kernel


def all_tables(model, image) -> list[np.ndarray]:
    """Every table and stage-1 symbol the coder would see, per channel, in stream order."""
    codes = [code for chunk in image_codec._chunks(model, image) for code in chunk.codes]
    out = []
    for c in range(CHANNELS):
        mine = codes[c::CHANNELS]
        out += [np.concatenate([k.window for k in mine]), np.concatenate([k.first for k in mine]),
                np.concatenate([k.full for k in mine])]
    return out


def same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.fixture(autouse=True)
def restore_threads():
    yield
    api.set_threads(1)


def test_tables_identical_across_threads_and_splits(model, crop, monkeypatch):
    api.set_threads(1)
    reference = all_tables(model, crop)
    assert reference[0].shape == (crop.shape[0] * crop.shape[1], exact.WINDOW + 1)
    assert len(reference[2]) > 0  # some values escaped the window: stage 2 is exercised
    for threads in (1, 2):
        api.set_threads(threads)
        for chunk in (1, 97, 5000, 100000):
            monkeypatch.setattr(image_codec, "CHUNK_PIXELS", chunk)
            assert same(all_tables(model, crop), reference), (threads, chunk)


def test_single_row_batches_match_large_batch(model, crop):
    """m=1 takes a different BLAS path (gemv) than a large batch (gemm): same integers."""
    ctx_def = model.context
    padded = ctx_def.pad(crop)
    ys, xs = np.divmod(np.arange(200) * 37 % (crop.shape[0] * crop.shape[1]), crop.shape[1])
    base = ctx_def.pixel_base(ys, xs, padded.shape[1], CHANNELS)
    ctx = image_codec._gather_context(padded.reshape(-1), base, ctx_def.flat_offsets(padded.shape[1], 3))
    cur = torch.from_numpy(crop[ys, xs].astype(np.float32) - 128)
    feats = model.pixel_features(ctx)
    batch = [model.channel_outputs(c, feats, cur) for c in range(CHANNELS)]
    perm = np.random.default_rng(0).permutation(len(ys))
    for i in perm[:40]:
        f1 = model.pixel_features(ctx[i:i + 1])
        for c in range(CHANNELS):
            assert np.array_equal(model.channel_outputs(c, f1, cur[i:i + 1])[0], batch[c][i])


def test_parallel_kernel_equals_serial(model):
    rng = np.random.default_rng(3)
    k = model.config.components
    acc = np.round(rng.normal(0, 2.0 ** 38, size=(5000, 3 * k)))
    shifts = model.shifts[1]
    args = (acc, shifts, k, -3.0, 6.0, 192.0, model.luts)
    for window in (False, True):
        api.set_threads(1)
        serial, starts = exact.mixture_tables(*args, window=window)
        api.set_threads(2)
        parallel, starts2 = exact.mixture_tables(*args, window=window)
        assert np.array_equal(serial, parallel) and np.array_equal(starts, starts2)
        assert (serial >= 1).all() and np.all(serial == np.round(serial))


def test_window_tables_hold_the_full_tables_probabilities(model):
    """Stage 1 + stage 2 give every value exactly the probability of its full table."""
    rng = np.random.default_rng(4)
    k = model.config.components
    acc = np.round(rng.normal(0, 2.0 ** 38, size=(3000, 3 * k)))
    args = (acc, model.shifts[0], k, -3.0, 6.0, 192.0, model.luts)
    full, _ = exact.mixture_tables(*args)
    window, starts = exact.mixture_tables(*args, window=True)
    rows = np.arange(len(acc))[:, None]
    inside = full[rows, starts[:, None] + np.arange(exact.WINDOW)[None, :]]
    assert np.array_equal(window[:, :exact.WINDOW], inside)
    assert np.array_equal(window.sum(axis=1), full.sum(axis=1))


def test_archive_written_with_one_thread_count_reads_with_another(crop):
    api.set_threads(1)
    blob1 = api.compress_image(crop)
    api.set_threads(2)
    blob2 = api.compress_image(crop)
    assert blob1 == blob2
    assert np.array_equal(api.decompress_image(blob1), crop)
    api.set_threads(1)
    assert np.array_equal(api.decompress_image(blob2), crop)


def test_every_layer_stays_below_the_exact_integer_limit(model):
    t, cfg = model.tensors, model.config
    n_in = model.context.size * CHANNELS
    layers = [(model.trunk1, [INPUT_MAX] * n_in, exact.F32_LIMIT),
              (model.trunk2, [ACT_MAX] * cfg.hidden, exact.F32_LIMIT)]
    for c in range(CHANNELS):
        w = t[f"head_hidden.{c}.weight"]
        layers.append((exact.ExactLinear(w.double(), t[f"head_hidden.{c}.bias"].double(), None),
                       [ACT_MAX] * cfg.hidden + [INPUT_MAX] * c, exact.F32_LIMIT))
        w = t[f"head_out.{c}.weight"]
        layers.append((exact.ExactLinear(w.double(), t[f"head_out.{c}.bias"].double(), None),
                       [ACT_MAX] * cfg.head_hidden + [INPUT_MAX] * (n_in + c), exact.F64_LIMIT))
    for layer, in_max, limit in layers:
        assert exact.worst_case_bound(layer, np.array(in_max)) < limit
    assert model.trunk1.weight.dtype == torch.float32


def test_luts_are_monotone_and_shipped(model):
    sig = model.luts["lut_sigmoid"]
    assert np.all(np.diff(sig) >= 0) and 0 <= sig[0] < 8 and 2 ** exact.CDF_BITS - 8 < sig[-1] <= 2 ** exact.CDF_BITS
    assert np.all(np.diff(model.luts["lut_inv_scale"]) < 0)
    assert np.all(np.diff(model.luts["lut_exp2"]) <= 0) and model.luts["lut_exp2"][-1] >= 1


def test_exact_form_computes_the_float_model(photo):
    """Train a small float model briefly, quantize it, and compare likelihoods: the integer
    form must cost at most a fraction of a percent more bits."""
    torch.manual_seed(0)
    net = ImageModel(ModelConfig(hidden=32, head_hidden=16, components=3))
    sampler = PixelSampler([photo[:256]], net.context, seed=0)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(150):
        ctx, cur = sampler.batch(1024)
        loss = nll_bits(net(ctx, cur), cur).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    test_img = np.ascontiguousarray(photo[300:364, 100:196])
    float_bpsp = evaluate_bpsp(net, [test_img])
    exact_bpsp = image_codec.image_nll(ExactImageModel.from_float(net), test_img) / test_img.size
    assert float_bpsp < 6.0
    assert abs(exact_bpsp / float_bpsp - 1) < 0.01


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
def test_gpu_tables_equal_cpu(model, crop):
    cpu = all_tables(model, crop)
    gpu_model = ExactImageModel(model.tensors, model.config).to("cuda")
    assert same(all_tables(gpu_model, crop), cpu)


@pytest.mark.parametrize("context", sorted(causal.CONTEXTS))
def test_waves_cover_each_pixel_once_after_its_context(context):
    h, w = 7, 11
    order = np.full((h, w), -1)
    for t, (ys, xs) in enumerate(causal.waves(h, w)):
        assert np.all(order[ys, xs] == -1)
        order[ys, xs] = t
    assert (order >= 0).all()
    for y in range(h):
        for x in range(w):
            for dy, dx in causal.CONTEXTS[context].offsets:
                if 0 <= y + dy < h and 0 <= x + dx < w:
                    assert order[y + dy, x + dx] < order[y, x]
