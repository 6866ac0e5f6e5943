"""Exactness: the probability tables must not depend on threads, batch shape or device."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from arzip import api, registry
from arzip.image import blas, codec, exact, neighbourhood, pieces, tables, waves
from arzip.image.exact import ACT_FRAC, ACT_MAX, CHANNELS, INPUT_MAX, ExactImageModel, ModelConfig
from arzip.image.export import quantize
from arzip.image.model import ImageModel, nll_bits
from arzip.image.train import PixelSampler, evaluate_bpsp, image_context


@pytest.fixture(scope="module", params=[5, 9])
def model(request) -> ExactImageModel:
    """The default model (float32 hidden layers) and the strongest (float64 hidden layers)."""
    return registry.load(registry.model_for_level(request.param))


@pytest.fixture(scope="module")
def crop(photo) -> np.ndarray:
    return np.ascontiguousarray(photo[200:296, 150:246])  # 9216 pixels: one chunk of them is cut in two pieces


def all_tables(model, image, layout=waves.LAYOUT_QUADRANTS) -> list[np.ndarray]:
    """Every table and stage-1 symbol the coder would see, per channel, in stream order."""
    codes = [code for chunk in codec._chunks(model, image, layout, codec.NO_OFFSETS) for code in chunk.codes]
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
    assert reference[0].shape == (crop.shape[0] * crop.shape[1], tables.WINDOW + 1)
    assert len(reference[2]) > 0  # some values escaped the window: stage 2 is exercised
    for threads in (1, 2):
        api.set_threads(threads)
        for chunk in (1, 97, 5000, 100000):
            monkeypatch.setattr(codec, "CHUNK_PIXELS", chunk)
            assert same(all_tables(model, crop), reference), (threads, chunk)


def test_single_row_batches_match_large_batch(model, crop):
    """m=1 takes a different BLAS path (gemv) than a large batch (gemm): same integers."""
    sched = codec.schedule_of(model, waves.LAYOUT_SINGLE, *crop.shape[:2])
    flat = sched.buffer(crop).reshape(-1)
    base = sched.base[np.arange(200) * 37 % len(sched.base)]
    ctx = neighbourhood.gather(flat, base, sched.offsets)
    cur = np.ascontiguousarray(flat[base[:, None] + np.arange(CHANNELS)].T - 128.0)
    feats = model.pixel_features(ctx)
    batch = [model.channel_tables(c, feats, cur) for c in range(CHANNELS)]
    perm = np.random.default_rng(0).permutation(len(base))
    for i in perm[:40]:
        f1 = model.pixel_features(ctx[i:i + 1])
        for c in range(CHANNELS):
            one = model.channel_tables(c, f1, cur[:, i:i + 1])
            assert all(np.array_equal(x[0], y[i]) for x, y in zip(one, batch[c]))


@pytest.mark.parametrize("compiled", [False, True])
@pytest.mark.parametrize("gray", [False, True])
def test_wave_features_equal_pixel_features(model, crop, gray, compiled):
    """The decoder's per-wave features (compiled gathering and requantizing, matmuls in reused
    buffers, each wave smaller than the last one) are pixel_features' integers, for RGB and gray
    models (a gray model computes its coded channel's head parts only), whether the matmuls are
    numpy's (wave_features) or BLAS called from compiled code (trunk_features)."""
    if gray:
        model = registry.load(registry.gray_model())
    gemms = blas.gemms()
    if compiled and gemms is None:
        pytest.skip("numpy's BLAS is not callable from compiled code here")
    sched = codec.schedule_of(model, waves.LAYOUT_SINGLE, *crop.shape[:2])
    flat = sched.buffer(crop).reshape(-1)
    trunk = model.wave_trunk(300)
    for n in (300, 17, 1):
        base = sched.base[np.arange(n) * 37 % len(sched.base)]
        want = model.pixel_features(neighbourhood.gather(flat, base, sched.offsets))
        trunk.hidden.fill(np.nan)
        trunk.out.fill(np.nan)
        if compiled:
            exact.trunk_features(gemms.of(model.hidden_dtype), gemms.dgemm, flat, base, sched.offsets, trunk)
            got = model.split(trunk.hidden[:n], trunk.out[:n])
        else:
            got = model.wave_features(flat, base, sched.offsets, trunk)
        assert len(got.head_hidden) == len(want.head_hidden) == model.config.coded_channels
        for a, b in zip(got.head_hidden + got.head_out, want.head_hidden + want.head_out):
            assert a.dtype == b.dtype and np.array_equal(a, b)


def test_integer_heads_equal_float_layers(model, crop):
    """The int64 head (numba) gives the integers the float layers of the model file give."""
    sched = codec.schedule_of(model, waves.LAYOUT_SINGLE, *crop.shape[:2])
    flat = sched.buffer(crop).reshape(-1)
    base = sched.base[:3000]
    ctx = neighbourhood.gather(flat, base, sched.offsets)
    cur = np.ascontiguousarray(flat[base[:, None] + np.arange(CHANNELS)].T - 128.0)
    feats = model.pixel_features(ctx)
    t, hh, n_in = model.tensors, model.config.head_hidden, ctx.shape[1]
    x = ctx.astype(np.float64) - 128
    for c in range(CHANNELS):
        w_hid, w_out = t[f"head_hidden.{c}.weight"].astype(np.float64), t[f"head_out.{c}.weight"].astype(np.float64)
        cur_c = cur[:c].T.astype(np.float64)
        acc = feats.head_hidden[c].astype(np.float64) + cur_c @ w_hid[:, model.config.hidden:].T
        z = np.clip(np.floor(acc * np.exp2(ACT_FRAC - t[f"head_hidden.{c}.row_exp"].astype(np.float64))), 0, ACT_MAX)
        out = (z @ w_out[:, :hh].T + x @ w_out[:, hh:hh + n_in].T + cur_c @ w_out[:, hh + n_in:].T
               + t[f"head_out.{c}.bias"])
        assert np.array_equal(model.channel_tables(c, feats, cur)[0], out), c


def test_row_pieces_equal_one_piece(model):
    """A batch large enough to be cut (arzip.image.pieces) gives the tables of one piece."""
    rng = np.random.default_rng(3)
    k = model.config.components
    acc = np.round(rng.normal(0, 2.0 ** 38, size=(3 * pieces.MIN_ROWS + 5, 3 * k)))
    mix = model.mixtures[1]
    for build in (mix.full, mix.window):
        api.set_threads(1)
        serial = build(acc)
        api.set_threads(2)
        assert len(pieces.row_pieces(len(acc))) == 2
        parallel = build(acc)
        assert all(np.array_equal(a, b) for a, b in zip(serial, parallel))
    full = mix.full(acc)
    assert (full >= 1).all() and np.all(full == np.round(full))


def test_window_tables_hold_the_full_tables_probabilities(model):
    """Stage 1 + stage 2 give every value exactly the probability of its full table."""
    rng = np.random.default_rng(4)
    k = model.config.components
    acc = np.round(rng.normal(0, 2.0 ** 38, size=(3000, 3 * k)))
    full = model.mixtures[0].full(acc)
    window, starts = model.mixtures[0].window(acc)
    rows = np.arange(len(acc))[:, None]
    inside = full[rows, starts[:, None] + np.arange(tables.WINDOW)[None, :]]
    assert np.array_equal(window[:, :tables.WINDOW], inside)
    assert np.array_equal(window.sum(axis=1), full.sum(axis=1))


@pytest.mark.parametrize("size, level", [((80, 96), None), ((300, 300), None), ((300, 300), 4)])
def test_archive_written_with_one_thread_count_reads_with_another(photo, size, level):
    """(300, 300) at the default level is two stripes, which two threads code side by side; at
    level 4 it is one, whose encoder chunks two threads cut into row pieces."""
    image = np.ascontiguousarray(photo[:size[0], :size[1]])
    api.set_threads(1)
    blob1 = api.compress_image(image, level=level)
    api.set_threads(2)
    blob2 = api.compress_image(image, level=level)
    assert blob1 == blob2
    assert np.array_equal(api.decompress_image(blob1), image)
    api.set_threads(1)
    assert np.array_equal(api.decompress_image(blob2), image)


def test_every_layer_stays_below_the_exact_integer_limit(model):
    t, cfg = model.tensors, model.config
    n_in = model.context.size * CHANNELS
    hidden_limit = exact.F32_LIMIT if model.hidden_dtype == np.float32 else exact.F64_LIMIT
    layers = [(model.trunk1, [INPUT_MAX] * n_in, hidden_limit),
              (model.trunk2, [ACT_MAX] * cfg.hidden, hidden_limit)]
    for c in range(CHANNELS):
        w = t[f"head_hidden.{c}.weight"]
        layers.append((exact.ExactLinear(w.astype(np.float64), t[f"head_hidden.{c}.bias"].astype(np.float64), None),
                       [ACT_MAX] * cfg.hidden + [INPUT_MAX] * c, hidden_limit))
        w = t[f"head_out.{c}.weight"]
        layers.append((exact.ExactLinear(w.astype(np.float64), t[f"head_out.{c}.bias"].astype(np.float64), None),
                       [ACT_MAX] * cfg.head_hidden + [INPUT_MAX] * (n_in + c), exact.F64_LIMIT))
    for layer, in_max, limit in layers:
        assert exact.worst_case_bound(layer, np.array(in_max)) < limit
    assert model.trunk1.weight.dtype == model.hidden_dtype


def test_luts_are_monotone_and_shipped(model):
    sig = model.luts["lut_sigmoid"]
    assert np.all(np.diff(sig) >= 0) and 0 <= sig[0] < 8 and 2 ** tables.CDF_BITS - 8 < sig[-1] <= 2 ** tables.CDF_BITS
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
    exact_bpsp = codec.image_nll(quantize(net), test_img, waves.LAYOUT_SINGLE) / test_img.size
    assert float_bpsp < 6.0
    assert abs(exact_bpsp / float_bpsp - 1) < 0.01


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
def test_gpu_tables_equal_cpu(model, crop):
    cpu = all_tables(model, crop)
    gpu_model = ExactImageModel(model.tensors, model.config, model.hidden_dtype).to("cuda")
    assert same(all_tables(gpu_model, crop), cpu)


@pytest.mark.parametrize("context", sorted(neighbourhood.CONTEXTS))
@pytest.mark.parametrize("layout", sorted(waves.LAYOUTS))
@pytest.mark.parametrize("size", [(7, 11), (1, 5), (6, 1), (9, 4)])
def test_waves_cover_each_pixel_once_after_its_context(context, layout, size):
    h, w = size
    sched = waves.Schedule(layout, h, w, neighbourhood.CONTEXTS[context], CHANNELS)
    order = np.full((h, w), -1)
    for t in range(sched.waves):
        ys, xs = sched.ys[sched.bounds[t]:sched.bounds[t + 1]], sched.xs[sched.bounds[t]:sched.bounds[t + 1]]
        assert np.all(order[ys, xs] == -1)
        order[ys, xs] = t
    assert (order >= 0).all()
    for tile in sched.tiles:  # inside a tile, in its coding orientation, context comes first
        mine = tile.take(order)
        for y in range(tile.height):
            for x in range(tile.width):
                for dy, dx in neighbourhood.CONTEXTS[context].offsets:
                    if 0 <= y + dy < tile.height and 0 <= x + dx < tile.width:
                        assert mine[y + dy, x + dx] < mine[y, x]


@pytest.mark.parametrize("layout", sorted(waves.LAYOUTS))
@pytest.mark.parametrize("size", [(1, 1), (1, 9), (9, 1), (7, 11), (256, 300), (301, 257)])
def test_stream_order_is_wave_then_tile_then_row(layout, size):
    """The schedule's generated order against its definition: a sort by (wave, tile, y), each
    pixel at its place in the buffer and in the image."""
    sched = waves.Schedule(layout, *size, neighbourhood.CONTEXTS["c22"], CHANNELS)
    k, y, x = [np.concatenate([np.full(t.height * t.width, i) for i, t in enumerate(sched.tiles)]),
               *map(np.concatenate, zip(*(np.divmod(np.arange(t.height * t.width), t.width) for t in sched.tiles)))]
    wave = x + neighbourhood.WAVE_SLOPE * y
    order = np.lexsort((y, k, wave))
    ctx = sched.context
    base = ((k * sched.rows + y + ctx.pad_top) * sched.cols + x + ctx.pad_left) * CHANNELS
    assert np.array_equal(sched.base, base[order])
    y0, x0, th, tw, fy, fx = np.array([(t.y0, t.x0, t.height, t.width, t.flip_y, t.flip_x) for t in sched.tiles])[k].T
    assert np.array_equal(sched.ys, (y0 + np.where(fy, th - 1 - y, y))[order])
    assert np.array_equal(sched.xs, (x0 + np.where(fx, tw - 1 - x, x))[order])
    assert np.array_equal(sched.bounds, np.flatnonzero(np.diff(wave[order], prepend=-1, append=wave.max() + 1)))


def test_buffer_holds_every_pixel_at_its_base_index(photo):
    image = np.ascontiguousarray(photo[:70, :91])
    sched = waves.Schedule(waves.LAYOUT_QUADRANTS, 70, 91, neighbourhood.CONTEXTS["c22"], CHANNELS)
    buf = sched.buffer(image)
    flat = buf.reshape(-1)
    assert np.array_equal(flat[sched.base[:, None] + np.arange(CHANNELS)], image[sched.ys, sched.xs])
    assert np.array_equal(sched.image(buf), image)
    assert len(sched.tiles) == 4 and sched.waves < 91 + 2 * 69


def _coder_contexts(image: np.ndarray, ctx: neighbourhood.Context) -> np.ndarray:
    """(H, W, size * 3) context of every pixel, as the coder gathers it (one tile)."""
    sched = waves.Schedule(waves.LAYOUT_SINGLE, *image.shape[:2], ctx, CHANNELS)
    out = np.empty((*image.shape[:2], ctx.size * CHANNELS), np.uint8)
    out[sched.ys, sched.xs] = neighbourhood.gather(sched.buffer(image).reshape(-1), sched.base, sched.offsets)
    return out


@pytest.mark.parametrize("context", sorted(neighbourhood.CONTEXTS))
def test_training_and_coding_gather_the_same_contexts(photo, context):
    """The network is trained on the very inputs the coder gives it: the training gatherers
    (whole images, and random batches over images of different widths) read, for every pixel,
    the context the coder's wave schedule reads."""
    ctx = neighbourhood.CONTEXTS[context]
    images = [np.ascontiguousarray(photo[:37, :53]), np.ascontiguousarray(photo[100:120, 200:230])]
    coding = [_coder_contexts(im, ctx) for im in images]
    whole, values = image_context(images[0], ctx)
    assert np.array_equal(whole.numpy().reshape(coding[0].shape), coding[0])
    assert np.array_equal(values.numpy().reshape(images[0].shape), images[0])
    known = {(c.tobytes(), v.tobytes()) for cs, im in zip(coding, images)
             for c, v in zip(cs.reshape(-1, cs.shape[2]), im.reshape(-1, CHANNELS))}
    batch, current = PixelSampler(images, ctx, augment=False, seed=1).batch(500)
    drawn = {(c.tobytes(), v.tobytes()) for c, v in zip(batch.numpy().astype(np.uint8),
                                                       current.numpy().astype(np.uint8))}
    assert drawn <= known and len(drawn) > 400
