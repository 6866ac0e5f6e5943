"""Where the bits go: a heat map of the bits the model spends on each pixel.

The map is the tool for finding where a model is weak (edges, textures, noise, borders) and
the picture users want to see. It needs matplotlib (`pip install 'arzip[explain]'`).
"""
from __future__ import annotations

import io

import numpy as np

from . import registry
from .errors import ArzipError
from .image import codec


def explain_image(pixels: np.ndarray, model: str | None = None) -> np.ndarray:
    """(H, W, 3) uint8 -> (H, W, 3) bits per subpixel under the model."""
    return codec.bits_map(registry.load(model or registry.model_for_level()), pixels)


def describe(bits: np.ndarray) -> str:
    """'3.263 bits per subpixel (R 4.53, G 2.66, B 2.60)'."""
    r, g, b = bits.reshape(-1, 3).mean(axis=0)
    return f"{bits.mean():.3f} bits per subpixel (R {r:.2f}, G {g:.2f}, B {b:.2f})"


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend, or a clear error if it is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ArzipError("arzip explain needs matplotlib: pip install 'arzip[explain]'") from None
    return plt


def plot_bits(fig, ax, bits: np.ndarray) -> None:
    """Draw bits per pixel (sum over channels) on ax, with a colour bar; the scale tops out at the
    99.5th percentile so a few outliers do not wash out the map."""
    per_pixel = bits.sum(axis=2)
    im = ax.imshow(per_pixel, cmap="inferno", vmin=0, vmax=float(np.percentile(per_pixel, 99.5)) or 1.0,
                   interpolation="nearest")
    ax.set_axis_off()
    fig.colorbar(im, ax=ax, fraction=0.035, pad=0.02, label="bits per pixel (R+G+B)")


def heat_map_png(bits: np.ndarray, title: str) -> bytes:
    """PNG of bits per pixel with a colour bar."""
    plt = pyplot()
    h, w = bits.shape[:2]
    fig_w = 8.0
    fig, ax = plt.subplots(figsize=(fig_w, fig_w * h / w * 0.9 + 0.6), dpi=max(100, int(w / fig_w)))
    plot_bits(fig, ax, bits)
    ax.set_title(title, fontsize=9)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()
