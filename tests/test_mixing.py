"""The adaptive image model (context mixing around the network): exact round trips, archives
that do not depend on threads or batch sizes, rate equal to the model's NLL, and that it
actually adapts (fewer bits than the network alone on a real photo)."""
from __future__ import annotations

import numpy as np
import pytest

import arzip
from arzip import api, registry
from arzip.image import adaptive, adaptive_steps, codec, mixing_codec, profiles
from arzip.image.waves import LAYOUT_QUADRANTS, LAYOUT_SINGLE


@pytest.fixture(scope="module")
def model():
    return registry.load(registry.model_for_level(8))


@pytest.fixture(scope="module")
def crop(photo) -> np.ndarray:
    return np.ascontiguousarray(photo[180:244, 200:296])


def test_round_trip_and_rate_equal_nll(model, crop):
    payload, nll = mixing_codec.encode_image(model, crop, LAYOUT_SINGLE)
    assert np.array_equal(mixing_codec.decode_image(model, payload, *crop.shape[:2], LAYOUT_SINGLE), crop)
    assert abs(8 * len(payload) - nll) < 0.001 * nll + 64


def test_it_adapts(model, photo):
    """On a real photo the mixing model needs clearly fewer bits than the network alone, and
    each input family contributes (switching one off costs bits)."""
    image = np.ascontiguousarray(photo[100:196, 150:310])
    network = codec.image_nll(model, image, LAYOUT_SINGLE)
    full = mixing_codec.encode_image(model, image, LAYOUT_SINGLE)[1]
    assert full < 0.97 * network
    for family in ("network", "predictors", "contexts"):
        ablated = profiles.FULL.without(**{family: True})
        assert mixing_codec.encode_image(model, image, LAYOUT_SINGLE, ablated)[1] > full


def test_light_profile_round_trip_and_rate_equal_nll(model, crop):
    """The light profile codes with the compiled arithmetic coder inside its kernels."""
    payload, nll = mixing_codec.encode_image(model, crop, LAYOUT_SINGLE, profiles.LIGHT)
    decoded = mixing_codec.decode_image(model, payload, *crop.shape[:2], LAYOUT_SINGLE, profiles.LIGHT)
    assert np.array_equal(decoded, crop)
    assert abs(8 * len(payload) - nll) < 0.001 * nll + 64
    assert nll < codec.image_nll(model, crop, LAYOUT_SINGLE)


@pytest.mark.parametrize("shape", [(1, 1), (1, 37), (29, 1), (3, 260)])
@pytest.mark.parametrize("profile", ["full", "light", "quick"])
def test_edge_shapes(model, photo, shape, profile):
    image = np.ascontiguousarray(photo[:shape[0], :shape[1]])
    payload, _ = mixing_codec.encode_image(model, image, LAYOUT_SINGLE, profiles.PROFILES[profile])
    decoded = mixing_codec.decode_image(model, payload, *shape, LAYOUT_SINGLE, profiles.PROFILES[profile])
    assert np.array_equal(decoded, image)


def test_same_archive_whatever_the_threads_and_chunks(model, photo, monkeypatch):
    """The encoder's chunking and the thread count change nothing: the decoder runs one wave at
    a time, the encoder thousands, and both get the same bits."""
    image = np.ascontiguousarray(photo[:256, 128:384])  # quadrants
    api.set_threads(2)
    reference, _ = mixing_codec.encode_image(model, image, LAYOUT_QUADRANTS)
    for threads, chunk in ((1, 97), (2, 5000)):
        api.set_threads(threads)
        monkeypatch.setattr(codec, "CHUNK_PIXELS", chunk)
        assert mixing_codec.encode_image(model, image, LAYOUT_QUADRANTS)[0] == reference
    api.set_threads(1)
    assert np.array_equal(mixing_codec.decode_image(model, reference, 256, 256, LAYOUT_QUADRANTS), image)


@pytest.mark.parametrize("profile", ["quick", "light"])
def test_decoder_without_compiled_blas_reads_the_same_archive(model, photo, profile, monkeypatch):
    """Where numpy's BLAS cannot be called from compiled code (arzip.image.blas finds none),
    the decoder runs the network per wave with numpy's matmul and each wave in one compiled
    call: the same integers, the same image."""
    image = np.ascontiguousarray(photo[:40, 100:172])
    payload, _ = mixing_codec.encode_image(model, image, LAYOUT_SINGLE, profiles.PROFILES[profile])

    def decode() -> np.ndarray:
        return mixing_codec.decode_image(model, payload, *image.shape[:2], LAYOUT_SINGLE, profiles.PROFILES[profile])

    assert np.array_equal(decode(), image)
    monkeypatch.setattr(mixing_codec.blas, "gemms", lambda: None)
    assert np.array_equal(decode(), image)


def test_stripes_side_by_side_give_the_same_archive_whatever_the_threads(photo):
    """The default level cuts a photo into two stripes, each with its own model and stream,
    coded on two threads at once; one thread writes and reads the same archive."""
    image = np.ascontiguousarray(photo[:260, :300])
    try:
        api.set_threads(2)
        blob = arzip.compress_image(image, level=5)
        part = arzip.info(blob)["parts"][0]
        assert part["method"] == "quick mixing"
        api.set_threads(1)
        assert arzip.compress_image(image, level=5) == blob
        assert np.array_equal(arzip.decompress_image(blob), image)
        api.set_threads(2)
        assert np.array_equal(arzip.decompress_image(blob), image)
    finally:
        api.set_threads(api.default_threads())


def test_gray_model(photo):
    gray_model = registry.load(registry.gray_model())
    gray = np.ascontiguousarray(np.repeat(photo[200:240, 100:190, 1:2], 3, axis=2))
    payload, nll = mixing_codec.encode_image(gray_model, gray, LAYOUT_SINGLE)
    assert np.array_equal(mixing_codec.decode_image(gray_model, payload, 40, 90, LAYOUT_SINGLE), gray)


def _check_prior(tables, cum, start, spread, mean):
    """The prior's mean and node probabilities are those of the full tables."""
    for i, t in enumerate(tables):
        assert abs(mean[i] - (t * np.arange(256)).sum() / t.sum()) <= 0.5
        for node in (1, 2, 3, 77, 255):
            depth = int(np.log2(node))
            lo = (node - (1 << depth)) << (8 - depth)
            mid, hi = lo + (1 << (7 - depth)), lo + (1 << (8 - depth))
            p = adaptive_steps.node_p(cum, start, spread, i, lo, mid, hi)
            assert abs(p - 65536 * t[mid:hi].sum() / t[lo:hi].sum()) <= 1


def test_network_prior_gives_the_tables_probabilities():
    rng = np.random.default_rng(1)
    tables = rng.integers(1, 2 ** 40, (5, 256)).astype(np.float64)
    tables[0, 100:] = 1  # a lopsided table
    cum = np.zeros((5, 257), dtype=np.int64)
    mean = np.zeros(5, dtype=np.int64)
    adaptive.network_prior(tables, cum, mean)
    _check_prior(tables, cum, np.zeros(5, np.int64), np.zeros(5, np.int64), mean)


def test_window_prior_spreads_the_escape_mass_evenly():
    """From window tables (32 values and an escape), the prior is the full table whose values
    outside the window share the escape mass evenly."""
    rng = np.random.default_rng(2)
    window = rng.integers(1, 2 ** 30, (6, 33)).astype(np.float64)
    window[0, 32] = 5  # an escape mass below one per outside value: each still weighs 1
    starts = np.array([0, 224, 17, 100, 200, 3])
    cum, spread, mean = np.zeros((6, 33), np.int64), np.zeros(6, np.int64), np.zeros(6, np.int64)
    adaptive_steps.window_prior(window, starts, cum, spread, mean)
    full = np.empty((6, 256))
    for i, s in enumerate(starts):
        full[i] = max(window[i, 32] // 224, 1)
        full[i, s:s + 32] = window[i, :32]
    assert spread[0] == 1 and spread[1] == window[1, 32] // 224
    _check_prior(full, cum, starts.astype(np.int64), spread, mean)


def test_mixture_prior_is_the_full_tables_evaluated_where_the_bits_go(model, crop):
    """The quick profile's prior (tables.mixture_rows and mixture_below) gives every value the mass
    the full table of the same head outputs gives it, so its node probabilities are the full
    table's, exactly; its mean is the components' weighted mean, clipped. Checked on the
    network's real outputs for a photo's pixels, every channel."""
    from arzip.image import neighbourhood, tables
    sched = codec.schedule_of(model, LAYOUT_SINGLE, *crop.shape[:2])
    flat = sched.buffer(crop).reshape(-1)
    base = sched.base[::7]
    feats = model.pixel_features(neighbourhood.gather(flat, base, sched.offsets))
    current = np.ascontiguousarray(flat[base[:, None] + np.arange(3)].T - 128.0)
    lut, n_comp = model.luts["lut_sigmoid"], model.config.components
    lo_mass, hi_mass, mid_mass = (np.zeros(len(base), np.int64) for _ in range(3))
    for c in range(3):
        outputs = model.channel_tables(c, feats, current)[0]
        full = model.full_tables(c, outputs).astype(np.int64)
        params, mean = model.channel_mixtures(c, feats, current)
        for i in range(0, len(base), 5):
            below = [tables.mixture_below(params, i, v, lut) for v in range(257)]
            assert below == [0, *np.cumsum(full[i]).tolist()]
            assert tables.mixture_total(params, i, lut) == full[i].sum()
            w, mu = params[i, :n_comp], params[i, n_comp:2 * n_comp] + 128 * 64
            assert mean[i] == min(max((int((w * mu).sum()) + int(w.sum()) * 32) // (int(w.sum()) * 64), 0), 255)
            node = 1
            for j in range(8):  # down the bit tree of the pixel's own value, as the coder goes
                lo = (node - (1 << j)) << (8 - j)
                mid, hi = lo + (1 << (7 - j)), lo + (1 << (8 - j))
                p = adaptive_steps.mixture_node_p(params, lut, lo_mass, hi_mass, mid_mass, i, j, mid)
                assert p == adaptive_steps.node_p(np.cumsum(np.concatenate([[0], full[i]]))[None], np.zeros(1, np.int64),
                                                  np.zeros(1, np.int64), 0, lo, mid, hi)
                bit = (int(flat[base[i] + c]) >> (7 - j)) & 1
                if bit:
                    lo_mass[i] = mid_mass[i]
                else:
                    hi_mass[i] = mid_mass[i]
                node = 2 * node + bit


def test_levels_8_and_9_mix(crop):
    for level in (8, 9):
        blob = arzip.compress_image(crop, level=level)
        part = arzip.info(blob)["parts"][0]
        assert part["method"] == "mixing" and part["model"] == registry.model_for_level(level)
        assert np.array_equal(arzip.decompress_image(blob), crop)


def test_contexts_too_narrow_for_its_neighbours_are_refused():
    from arzip.image.neighbourhood import Context
    from arzip.image.waves import Schedule
    narrow = Context("narrow", ((0, -1), (-1, 0), (-1, 1)))
    with pytest.raises(ValueError, match="pads too little"):
        mixing_codec._state(Schedule(LAYOUT_SINGLE, 8, 8, narrow, 3), profiles.FULL)
