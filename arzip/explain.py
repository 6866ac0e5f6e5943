"""Where the bits go: a heat map of the bits the model spends on each pixel.

The map is the tool for finding where a model is weak (edges, textures, noise, borders) and
the picture users want to see. It needs matplotlib (`pip install 'arzip[explain]'`).
"""
from __future__ import annotations

import io

import numpy as np

from . import image_codec, registry
from .errors import ArzipError


def explain_image(pixels: np.ndarray, model: str | None = None) -> np.ndarray:
    """(H, W, 3) uint8 -> (H, W, 3) bits per subpixel under the model."""
    return image_codec.bits_map(registry.load(model or registry.default_model("image")), pixels)


def heat_map_png(bits: np.ndarray, title: str) -> bytes:
    """PNG of bits per pixel (sum over channels) with a colour bar."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ArzipError("arzip explain needs matplotlib: pip install 'arzip[explain]'") from None
    per_pixel = bits.sum(axis=2)
    h, w = per_pixel.shape
    fig_w = 8.0
    fig, ax = plt.subplots(figsize=(fig_w, fig_w * h / w * 0.9 + 0.6), dpi=max(100, int(w / fig_w)))
    im = ax.imshow(per_pixel, cmap="inferno", vmin=0, vmax=float(np.percentile(per_pixel, 99.5)) or 1.0,
                   interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.035, pad=0.02, label="bits per pixel (R+G+B)")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()
