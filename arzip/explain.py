"""Where the bits go: the bits arzip spends on each pixel of an image, drawn beside it.

The map is the tool for finding where a model is weak (edges, textures, noise, borders) and
the picture users want to see. It is computed from an archive: an image file is compressed
first (at the default level, or the one asked for), a .arz is taken as it is, and every part
of the archive charges each sample what its own coder spends on it, as the decoder runs it:
  - a part coded by a learned image model (8-bit RGB, the colours of RGBA and of palette
    images with distinct colours, 8-bit gray): the bits of each subpixel under that network,
    with the context mixing around it that the part names, in the part's stripes and layout;
  - a bilevel part (a 1-bit image): each pixel's bit under the bilevel model; a full-depth
    part (16-bit images, alpha planes): each sample's decisions under that model, and a 16-bit
    gray part (method 6) each pixel's under its own; an index part (palette, 2 and 4-bit gray):
    each pixel's value bits under the index model;
  - a part coded by the byte path (alpha planes where it won; every sample of 2, 4 and 16-bit images,
    palette indices and synthetic images): the byte model's cost of each byte of the plane's
    stream (PNG-filtered rows or MED residuals, as the part says), shared out among the
    samples that byte holds, and a PNG row's filter byte among the row's samples.
So the map sums to the model NLL the archive records; the archive itself is a little larger
(coder overhead, header), or smaller where the byte path stored a block with zlib, lzma or
bz2, which the title then says.

Drawing needs matplotlib (`pip install 'arzip[explain]'`); the computing does not.
"""
from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass

import numpy as np

from . import api, registry
from .bytes import archive as byte_archive, cm, codec as byte_codec, mixer
from .bytes import container as byte_container
from .bytes.container import BLOCK_SIZE
from .coder import bit_costs
from .container import KIND_IMAGE, MAGIC, PREFIX_SIZE, kind_of
from .errors import ArzipError
from .formats import picture, serialise
from .formats.picture import GRAY, GRAY_ALPHA, PALETTE, RGB, RGBA, Picture
from .image import codec, container as image_container, mixing_codec, network_parts, planes, profiles

DPI = 100         # the figure's dots per inch: only the conversion of pixel sizes to inches
MARGIN = 12       # pixels around and between the images
BAR = 14          # the colour bar's width, pixels
BAR_ROOM = 80     # its tick labels and label, pixels
MIN_BAR = 120     # the colour bar's least height, pixels: a tiny image still gets a readable scale
MIN_WIDTH = 640   # the least width of the picture, pixels: room for the title
CHAR_PX = 7.5     # about the width of a character of the title (10 pt at DPI)
LINE_PX = 17      # the height of a line of the title
MAX_SIDE = 1 << 16  # matplotlib's Agg canvas draws at most this many pixels a side
CHANNEL_NAMES = {GRAY: ("gray",), GRAY_ALPHA: ("gray", "A"), RGB: ("R", "G", "B"), RGBA: ("R", "G", "B", "A"),
                 PALETTE: ("index",)}


@dataclass(frozen=True)
class Explanation:
    """The bits an image's archive spends on it, sample by sample, and what coded each part."""
    bits: np.ndarray              # (H, W, C) float64: bits spent on each sample (a palette image: its index)
    channels: tuple[str, ...]     # the samples' names: ("R", "G", "B", "A"), ("gray",), ("index",), ...
    coders: tuple[str, ...]       # what coded each part, in words, for the title
    archive_bytes: int            # the archive's size

    def describe(self) -> str:
        """'3.263 bits per subpixel (R 4.53, G 2.66, B 2.60); the archive 3.301'."""
        return f"{describe(self.bits, self.channels)}; the archive {8 * self.archive_bytes / self.bits.size:.3f}"


def explain_file(data: bytes, name: str, suffix: str = "", level: int | None = None,
                 model: str | None = None) -> tuple[Picture, Explanation]:
    """The picture in an image file (compressed at the level, with the RGB network `model` if
    given, as compress does) or in the .arz archive of one, and the bits its archive spends.
    A one-line ArzipError for an archive of a file coded as bytes, or anything not an image."""
    if data[:len(MAGIC)] != MAGIC:
        pic = picture.read(data, name, suffix, api.DEFAULT_MAX_PIXELS)
        return pic, explain_archive(pic, api.compress_image(pic, model, level))
    try:
        if kind_of(data[:PREFIX_SIZE]) != KIND_IMAGE:
            raise ArzipError("an archive of a file coded as bytes, not of an image: no pixels to explain")
        if model is not None or level is not None:
            raise ArzipError("an archive is explained with the models it was coded with (no level or model)")
        pic = api.decompress_picture(data)
    except ArzipError as e:
        raise type(e)(f"{name}: {e}") from None
    return pic, explain_archive(pic, data)


def explain_archive(pic: Picture, blob: bytes) -> Explanation:
    """The bits each part of an image archive spends on every sample of its picture (decoded
    from it, or the picture it was made from)."""
    header, payloads = image_container.unpack(blob, api.DEFAULT_MAX_PIXELS)
    factor = planes.widening(pic, header.parts)  # a 16-bit image coded as the 8-bit one it widens
    s, maps, coders = (pic.samples // factor).astype(np.uint8) if factor else pic.samples, [], []
    for part, payload in zip(header.parts, payloads):
        plane = image_container.PLANES[part.plane]
        if part.method in image_container.NETWORK_METHODS:
            name = registry.installed(*header.models[part.model])
            if part.plane == image_container.PLANE_GRAY:  # coded as three equal channels, the first coded
                image, one_sample = np.repeat(s[..., :1], 3, axis=2), True
            elif pic.color_type == PALETTE:  # an index costs what its colour does
                image, one_sample, plane = pic.palette[s[..., 0]], True, "the palette's colours"
            else:
                image, one_sample = s[..., :3], False
            bits = _network_bits(np.ascontiguousarray(image), name, part)
            maps.append(bits.sum(axis=2, keepdims=True) if one_sample else bits)
            profile = image_container.MIXING_PROFILES.get(part.method)
            coders.append(f"{plane} by {profile} context mixing around {name}" if profile else
                          f"{plane} by the network {name} alone")
            continue
        if part.method in (image_container.METHOD_BILEVEL, image_container.METHOD_BILEVEL_STRONG,
                           image_container.METHOD_INDICES):  # each pixel's bits
            from .image import bilevel, indices
            from .mixing import bilevel as bilevel_strong
            model, said = {image_container.METHOD_BILEVEL: (bilevel, "the bilevel model (2-D contexts, mixed)"),
                           image_container.METHOD_BILEVEL_STRONG: (bilevel_strong,
                                                                   "the bilevel model (seven 2-D contexts, mixed)"),
                           image_container.METHOD_INDICES: (indices, "the index model (exact 2-D contexts, mixed)")
                           }[part.method]
            costs = np.zeros(s.shape[:2])
            model.encode(np.ascontiguousarray(s[..., 0]), costs)
            maps.append(costs[..., None])
            coders.append(f"every pixel by {said}")
            continue
        if part.method == image_container.METHOD_GRAY16:  # each pixel's decisions under the full-depth model
            from .image import gray16
            maps.append(gray16.encode(np.ascontiguousarray(s[..., 0]))[1][..., None])
            coders.append("every pixel by the 16-bit gray model (full depth, mixed)")
            continue
        if part.method == image_container.METHOD_DEPTH16:  # each sample's decisions under the full-depth model
            from .image import depth16
            alpha = part.plane == image_container.PLANE_ALPHA
            samples = np.ascontiguousarray(s[..., -1:] if alpha else s)
            costs = np.zeros(samples.shape)
            depth16.encode(samples, costs)
            maps.append(costs)
            coders.append(f"{'alpha' if alpha else 'every sample'} by the full-depth model (blended predictors, mixed)")
            continue
        alpha = part.plane == image_container.PLANE_ALPHA
        samples, depth, ct = (s[..., -1:], 8, GRAY) if alpha else (s, pic.depth, pic.color_type)
        stream = serialise.serialise(np.ascontiguousarray(samples), depth, ct, part.transform)
        net = registry.installed(*header.models[part.model]) if part.model != image_container.NO_MODEL else \
            registry.bytes_model()  # a part that names no model was stored classically, yet costed by the model
        costs = _byte_costs(stream, net, header.version, payload[0] if payload else -1)
        maps.append(_sample_costs(costs, samples.shape, depth, part.transform))
        rows = {serialise.PNG: "PNG-filtered rows", serialise.MED: "MED residuals"}[part.transform]
        coders.append(f"{'every sample' if plane == 'samples' else plane} by the byte model {net} on {rows}" +
                      ("" if part.model != image_container.NO_MODEL else
                       f" (its costs; the archive keeps the {part.payload_len} bytes of a classical coder)"))
    return Explanation(np.concatenate(maps, axis=2), CHANNEL_NAMES[pic.color_type], tuple(coders), len(blob))


def _network_bits(image: np.ndarray, name: str, part: image_container.Part) -> np.ndarray:
    """(H, W, 3) bits of each subpixel of a plane under a network part, as the decoder runs it:
    the same stripes (the adaptive model starts afresh in each), tile layout and profile."""
    model = registry.load(name)
    h = image.shape[0]
    rows = network_parts.stripe_rows(h, image.shape[1], part.method)
    stripes = [np.ascontiguousarray(image[y:y + rows]) for y in range(0, h, rows)]
    profile = image_container.MIXING_PROFILES.get(part.method)
    if profile:
        return np.concatenate([mixing_codec.bits_map(model, stripe, part.layout, profiles.PROFILES[profile])
                               for stripe in stripes])
    return np.concatenate([codec.bits_map(model, stripe, part.layout, part.scale_offsets) for stripe in stripes])


def _byte_costs(stream: bytes, name: str, version: int, first_byte: int) -> np.ndarray:
    """(len(stream),) bits the byte path's model spends on each byte, as the writer of format
    `version` ran it, so the sum is the part's NLL: from version 6 the context-mixing coder
    (arzip.bytes.cm, as the default level cuts a block; the profile the part's first byte names
    where it is a cm method but the branch transform's, else the one its version wrote by
    default) unless the part is one block of the first byte model (its first byte, the block's
    method, says so); before, the model run of arzip.bytes.codec.encode_block (blocks,
    segments; tables sized to the block from version 4 on), which codes step t of a block as
    byte t of every segment still running, bit 7 first (arzip.bytes.mixer)."""
    net = registry.load_bytes(name)
    out = np.empty(len(stream), dtype=np.float64)
    first_model = len(stream) <= BLOCK_SIZE and first_byte == byte_container.METHOD_MODEL
    method = first_byte if first_byte in byte_container.CM_METHODS and first_byte != cm.BRANCH_METHOD else \
        {6: byte_container.METHOD_CM, 7: byte_container.METHOD_CM2}.get(version, cm.DEFAULT_METHOD)
    for b0 in range(0, len(stream), BLOCK_SIZE):
        if version >= 6 and not first_model:
            block = stream[b0:b0 + BLOCK_SIZE]
            out[b0:b0 + len(block)] = cm.byte_costs(net, block, cm.segments_for(len(block), byte_archive.DEFAULT_LEVEL),
                                                    method)
            continue
        sized = version >= 4
        block = np.frombuffer(stream, dtype=np.uint8, count=min(BLOCK_SIZE, len(stream) - b0), offset=b0)
        state = mixer.MixerState(len(block), byte_codec.segments_for(len(block)), net, sized)
        segments, starts = state.segments, b0 + state.seg_start
        chunk = max(1, byte_codec.CHUNK_BITS // (8 * segments))
        probs = np.empty(min(state.steps, chunk) * segments * 8, dtype=np.int64)
        bits = np.empty_like(probs)
        for t0 in range(0, state.steps, chunk):
            t1 = min(state.steps, t0 + chunk)
            k = mixer.run_encoder(state.arrays, block, t0, t1, probs, bits)
            costs = bit_costs(bits[:k], probs[:k])
            full = min(t1, state.q) - t0  # steps with every segment; the last (t = q) has the first r
            if full > 0:
                per_byte = costs[:8 * segments * full].reshape(full, 8, segments).sum(axis=1)
                out[starts[None, :] + np.arange(t0, t0 + full)[:, None]] = per_byte
            if t1 > state.q:
                out[starts[:state.r] + state.q] = costs[8 * segments * full:].reshape(8, state.r).sum(axis=0)
    return out


def _sample_costs(costs: np.ndarray, shape: tuple[int, int, int], depth: int, transform: int) -> np.ndarray:
    """Per-byte costs of a plane's stream (arzip.formats.serialise) -> (H, W, C) per sample: the
    bytes of a sample summed, a byte that packs several samples shared among them, and a PNG
    row's filter byte shared among the row's samples."""
    h, w, c = shape
    if transform == serialise.MED:
        return costs.reshape(h, w, c, -1).sum(axis=3)
    rows = costs.reshape(h, -1)
    filters, data = rows[:, :1] / (w * c), rows[:, 1:]
    if depth >= 8:
        return data.reshape(h, w, c, depth // 8).sum(axis=3) + filters[:, :, None]
    byte = np.arange(w) * depth // 8  # below 8 bits a pixel is one sample (gray or an index)
    return (data[:, byte] / np.bincount(byte)[byte] + filters)[:, :, None]


def explain_image(pixels: np.ndarray, model: str | None = None) -> np.ndarray:
    """(H, W, 3) uint8 -> (H, W, 3) bits per subpixel under an RGB network alone, without the
    context mixing around it (bench/explain_maps.py compares networks with it)."""
    return codec.bits_map(registry.load(model or registry.model_for_level()), pixels)


def describe(bits: np.ndarray, channels: tuple[str, ...] = ("R", "G", "B")) -> str:
    """'3.263 bits per subpixel (R 4.53, G 2.66, B 2.60)' of (H, W, C) bits per sample."""
    means = bits.reshape(-1, bits.shape[-1]).mean(axis=0)
    each = ", ".join(f"{name} {m:.2f}" for name, m in zip(channels, means))
    return f"{bits.mean():.3f} bits per subpixel ({each})"


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend, or a clear error if it is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ArzipError("arzip explain needs matplotlib: pip install 'arzip[explain]'") from None
    return plt


def _top(per_pixel: np.ndarray) -> float:
    """The top of the colour scale: the 99.5th percentile, so a few outliers do not wash out the map."""
    return float(np.percentile(per_pixel, 99.5)) or 1.0


def plot_bits(fig, ax, bits: np.ndarray) -> None:
    """Draw bits per pixel (the sum over channels) of (H, W, 3) bits on ax, with a colour bar."""
    per_pixel = bits.sum(axis=2)
    im = ax.imshow(per_pixel, cmap="inferno", vmin=0, vmax=_top(per_pixel), interpolation="nearest")
    ax.set_axis_off()
    fig.colorbar(im, ax=ax, fraction=0.035, pad=0.02, label="bits per pixel (R+G+B)")


def viewable(pic: Picture) -> np.ndarray:
    """(H, W, 3 or 4) uint8 of how the picture looks: palette indices as their colours, 1 to
    4-bit gray stretched to 8 bits (a PBM's 1 is black), 16-bit samples by their high byte;
    alpha kept."""
    s = pic.samples
    if pic.color_type == PALETTE:
        palette = pic.palette
        if palette is not None and len(palette):
            return palette[np.minimum(s[..., 0], len(palette) - 1)]
        return np.repeat(s, 3, axis=2).astype(np.uint8)  # no palette: the indices as gray
    if pic.depth == 16:
        s = (s >> 8).astype(np.uint8)
    elif pic.depth < 8:
        s = (1 - s if pic.format == "pnm" and pic.depth == 1 else s) * (255 // ((1 << pic.depth) - 1))
    if pic.color_type in (GRAY, GRAY_ALPHA):  # gray to RGB, alpha kept
        s = np.concatenate([np.repeat(s[..., :1], 3, axis=2), s[..., 1:]], axis=2)
    return np.ascontiguousarray(s.astype(np.uint8))


def picture_png(photo: np.ndarray, found: Explanation, title: str) -> bytes:
    """PNG of the photo ((H, W, 3 or 4) uint8, see viewable) and the map of bits per pixel at
    native resolution, one image pixel to one pixel of the PNG, side by side (stacked when the
    image is at least twice as wide as tall), a colour bar beside the map; above them the
    title (the bits per subpixel) and what coded each part."""
    plt = pyplot()
    from matplotlib import cm, colors
    per_pixel = found.bits.sum(axis=2)
    h, w = per_pixel.shape
    stacked = w >= 2 * h
    photo_at = (MARGIN, 0)                                              # (x, y below the title), pixels
    map_at = (MARGIN, h + MARGIN) if stacked else (MARGIN + w + MARGIN, 0)
    bar_h = max(h, MIN_BAR)
    width = max(map_at[0] + w + MARGIN + BAR + BAR_ROOM, MIN_WIDTH)
    chars = int((width - 2 * MARGIN) / CHAR_PX)
    lines = [*textwrap.wrap(title, chars, break_on_hyphens=False),
             *textwrap.wrap("map: bits per pixel (all its samples); " + "; ".join(found.coders), chars,
                            break_on_hyphens=False)]
    top = MARGIN + LINE_PX * len(lines) + MARGIN
    height = top + max(map_at[1] + h, map_at[1] + bar_h) + MARGIN
    if max(width, height) >= MAX_SIDE:
        raise ArzipError(f"a {w}x{h} image makes a picture over {MAX_SIDE} pixels a side: too large to draw")
    fig = plt.figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    try:
        norm = colors.Normalize(0, _top(per_pixel))
        fig.figimage(photo, photo_at[0], height - top - photo_at[1] - h, origin="upper")
        fig.figimage(per_pixel, map_at[0], height - top - map_at[1] - h, origin="upper", cmap="inferno", norm=norm)
        bar = fig.add_axes(((map_at[0] + w + MARGIN) / width, (height - top - map_at[1] - bar_h) / height,
                            BAR / width, bar_h / height))
        fig.colorbar(cm.ScalarMappable(norm, "inferno"), cax=bar, label="bits per pixel")
        fig.text(MARGIN / width, 1 - MARGIN / height, "\n".join(lines), va="top", ha="left", fontsize=10,
                 linespacing=1.25)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=DPI)
    finally:
        plt.close(fig)
    return buf.getvalue()
