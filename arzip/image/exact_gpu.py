"""The exact image network's matmuls on a GPU, through torch (`--device cuda`; torch comes with
the `arzip[train]` extra). The layers and the arithmetic are those of arzip.image.exact: integer
values whose partial sums stay below the dtype's exact range, so the GPU gives the CPU's integers
whatever its summation order, as long as no reduced-precision matmul (TF32) is allowed.
"""
from __future__ import annotations

import numpy as np
import torch

from .exact import ACT_MAX, ExactImageModel, ExactLinear


class GpuLayers:
    """The trunk and the context parts of the heads of `model`, as torch tensors on `device`."""

    def __init__(self, model: ExactImageModel, device: str):
        torch.set_float32_matmul_precision("highest")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        self.device = torch.device(device)
        self.dtype = getattr(torch, model.hidden_dtype.name)

        def on_device(layer: ExactLinear, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
            return (torch.from_numpy(layer.weight).to(self.device, dtype).t(),
                    torch.from_numpy(layer.bias).to(self.device, dtype))

        self.trunk1 = on_device(model.trunk1, self.dtype)
        self.trunk2 = on_device(model.trunk2, self.dtype)
        self.hidden_trunk = on_device(model.hidden_trunk, self.dtype)
        self.out_context = on_device(model.out_context, torch.float64)
        self.scale1 = torch.from_numpy(model.scale1).to(self.device)
        self.scale2 = torch.from_numpy(model.scale2).to(self.device)

    def trunk(self, context: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(head hidden partial sums, head output partial sums) of (m, n_in) uint8 contexts."""
        x = torch.from_numpy(context).to(self.device).to(self.dtype).sub_(128.0)
        h = _requantize(torch.addmm(self.trunk1[1], x, self.trunk1[0]), self.scale1)
        h = _requantize(torch.addmm(self.trunk2[1], h, self.trunk2[0]), self.scale2)
        hidden = torch.addmm(self.hidden_trunk[1], h, self.hidden_trunk[0])
        out = torch.addmm(self.out_context[1], x.double(), self.out_context[0])
        return hidden.cpu().numpy(), out.cpu().numpy()


def _requantize(acc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """arzip.image.exact.requantize on the GPU (addmm has added the bias)."""
    return acc.mul_(scale).floor_().clamp_(0, ACT_MAX)
