"""From a trained float image model to the exact model file the coder ships: quantize every
layer (arzip.training.quantize_linear), build the lookup tables that replace exp and sigmoid,
write the file, and measure what quantization costs on the validation images.

Training code only (it needs the float model); the coder reads the file with
arzip.image.exact.ExactImageModel.load.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file
from safetensors.torch import load_file

from ..training import Log, log_to_logger, quantize_linear
from . import tables
from .codec import image_nll
from .exact import (ACT_FRAC, ACT_MAX, CHANNELS, F32_LIMIT, F64_LIMIT, FORMAT_NAME, FORMAT_VERSION, INPUT_FRAC,
                    INPUT_MAX, LOG2_SCALE_MAX, LOG2_SCALE_MIN, MEAN_UNIT, ExactImageModel, ModelConfig, constants)
from .model import ImageModel
from .train import evaluate_bpsp, load_for
from .waves import LAYOUT_SINGLE


def build_luts(log2_scale_min: float, log2_scale_max: float) -> dict[str, np.ndarray]:
    """The tables that replace exp/sigmoid (arzip.image.tables). Computed once here and stored
    in the model file; decoding never recomputes them with libm."""
    c = tables.LUT_STEPS * tables.LUT_ZMAX
    z = (np.arange(2 * c + 1) - c) / tables.LUT_STEPS
    sigmoid = np.round((2 ** tables.CDF_BITS) / (1 + np.exp(-z))).astype(np.int64)
    n_scales = int(round((log2_scale_max - log2_scale_min) * 2 ** tables.LOG2_SCALE_FRAC)) + 1
    log2_s = log2_scale_min + np.arange(n_scales) / 2 ** tables.LOG2_SCALE_FRAC
    inv_scale = np.round(2.0 ** (tables.INV_BITS - log2_s)).astype(np.int64)
    exp2 = np.round(2.0 ** (tables.WEIGHT_BITS - np.arange(tables.WEIGHT_BITS * 2 ** tables.LOGIT_FRAC + 1)
                            / 2 ** tables.LOGIT_FRAC)).astype(np.int64)
    return {"lut_sigmoid": sigmoid, "lut_inv_scale": inv_scale, "lut_exp2": exp2}


def quantize(model: ImageModel, hidden_dtype: type = np.float32) -> ExactImageModel:
    """The exact form of a trained float model. hidden_dtype float64 lets the hidden layers keep
    finer weights (their exact-sum bound is 2^53 instead of 2^24) at some speed: worth it for
    wide layers, whose many inputs force coarse float32 weights."""
    cfg, k = model.config, model.config.components
    n_in = model.context.size * CHANNELS
    hidden_limit = F32_LIMIT if hidden_dtype == np.float32 else F64_LIMIT
    sd = {name: p.detach().double().cpu().numpy() for name, p in model.state_dict().items()}
    tensors: dict[str, np.ndarray] = {}

    def put(name: str, w: np.ndarray, b: np.ndarray, in_exp: list[int], in_max: list[int], limit: float) -> None:
        q = quantize_linear(w, b, np.array(in_exp), np.array(in_max), limit)
        tensors[name + ".weight"] = q.weight.astype(np.int64)
        tensors[name + ".bias"] = q.bias.astype(np.int64)
        tensors[name + ".row_exp"] = q.row_exp.astype(np.int64)

    put("trunk1", sd["trunk1.weight"], sd["trunk1.bias"], [INPUT_FRAC] * n_in, [INPUT_MAX] * n_in, hidden_limit)
    put("trunk2", sd["trunk2.weight"], sd["trunk2.bias"], [ACT_FRAC] * cfg.hidden, [ACT_MAX] * cfg.hidden,
        hidden_limit)
    for c in range(CHANNELS):
        put(f"head_hidden.{c}", sd[f"head_hidden.{c}.weight"], sd[f"head_hidden.{c}.bias"],
            [ACT_FRAC] * cfg.hidden + [INPUT_FRAC] * c, [ACT_MAX] * cfg.hidden + [INPUT_MAX] * c, hidden_limit)
        w, b = sd[f"head_out.{c}.weight"].copy(), sd[f"head_out.{c}.bias"].copy()
        w[k:2 * k] *= MEAN_UNIT  # rows of the means, in grey levels
        b[k:2 * k] *= MEAN_UNIT
        put(f"head_out.{c}", w, b, [ACT_FRAC] * cfg.head_hidden + [INPUT_FRAC] * (n_in + c),
            [ACT_MAX] * cfg.head_hidden + [INPUT_MAX] * (n_in + c), F64_LIMIT)
    for name, lut in build_luts(LOG2_SCALE_MIN, LOG2_SCALE_MAX).items():
        tensors[name] = lut
    return ExactImageModel(tensors, cfg, hidden_dtype)


def save(model: ExactImageModel, path: str | Path, name: str) -> None:
    """Write the exact model file ExactImageModel.load reads."""
    meta = {"format": FORMAT_NAME, "version": str(FORMAT_VERSION), "name": name,
            "config": json.dumps(asdict(model.config)), "constants": json.dumps(constants()),
            "hidden_dtype": model.hidden_dtype.name}
    save_file({k: np.ascontiguousarray(v) for k, v in model.tensors.items()}, str(path), metadata=meta)


def export(out_dir: Path, name: str, hidden_float64: bool = False, log: Log = log_to_logger) -> Path:
    """Quantize a run's float weights into the exact model file `out_dir/name.safetensors` and
    record what quantization costs on the validation images (float vs exact bits).
    hidden_float64: exact hidden layers in float64 (finer weights; for wide models)."""
    meta = json.loads((out_dir / "training.json").read_text())
    with safe_open(str(out_dir / "float.safetensors"), framework="pt") as f:
        config = json.loads(f.metadata()["config"])
    model = ImageModel(ModelConfig(**config))
    model.load_state_dict(load_file(str(out_dir / "float.safetensors")))
    path = out_dir / f"{name}.safetensors"
    save(quantize(model, np.float64 if hidden_float64 else np.float32), path, name)
    exact_model = ExactImageModel.load(path)
    val_dir = Path(meta["train_dir"])
    images = [load_for(model.config)(val_dir / n) for n in meta["validation_files"] if (val_dir / n).exists()]
    report = {"name": name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
              "parameters": sum(p.numel() for p in model.parameters()),
              "hidden_dtype": "float64" if hidden_float64 else "float32"}
    if images:
        subpixels = sum(im.shape[0] * im.shape[1] for im in images) * model.config.coded_channels
        report["validation_images"] = len(images)
        report["float_bpsp"] = evaluate_bpsp(model, images)
        # one tile, as the float evaluation: the difference is the quantization alone
        report["exact_bpsp"] = sum(image_nll(exact_model, im, LAYOUT_SINGLE) for im in images) / subpixels
        report["quantization_cost_percent"] = 100 * (report["exact_bpsp"] / report["float_bpsp"] - 1)
        log(f"validation: float {report['float_bpsp']:.4f} bpsp, exact {report['exact_bpsp']:.4f} bpsp "
            f"({report['quantization_cost_percent']:+.3f} %)")
    (out_dir / "export.json").write_text(json.dumps(report, indent=1))
    log(f"wrote {path} (sha256 {report['sha256']})")
    return path
