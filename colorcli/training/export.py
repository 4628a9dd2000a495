"""Export a trained generator to a verified ONNX model with its metadata and model card.

The generator is rebuilt from its checkpoint, BatchNorm is folded into the preceding
(transposed) convolutions, and torch.onnx's dynamo exporter writes opset 18 with dynamic batch,
height and width (height and width in multiples of the network's size unit). The model is
written to a temp file next to the target, checked (onnx.checker, the model contract through
ONNX Runtime, parity with PyTorch on random and real inputs) and only then renamed into place,
with ``NAME.json`` and ``NAME.md`` cards beside it. Imports torch: training side only.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from colorcli import __version__
from colorcli.io import atomic
from colorcli.models import cache
from colorcli.models import contract
from colorcli.models import modelcard
from colorcli.errors import CheckpointError, MissingDependencyError, ModelError, UsageError

DEFAULT_OPSET = 18
PARITY_TOLERANCE = {"fp32": 1e-4, "fp16": 2e-2}
MAX_PARITY_IMAGES = 4
MAX_SIDE = 16384  # upper bound of the dynamic height and width
MAX_CHROMA_GAIN = 4.0
MAX_TEMPERATURE = 10.0
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")


@dataclass(frozen=True)
class ExportResult:
    path: Path
    card_json: Path
    card_markdown: Path
    sha256: str
    size: int
    precision: str
    parity: dict  # max_abs_diff, tolerance and one entry per checked input
    folded_batchnorms: int


def fold_batchnorm(module) -> int:
    """Fold every BatchNorm2d that directly follows a Conv2d/ConvTranspose2d in an nn.Sequential.

    Works in place on an eval-mode module; returns the number of folded pairs.
    """
    from torch import nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    folded = 0
    for sequential in [m for m in module.modules() if isinstance(m, nn.Sequential)]:
        for index in range(len(sequential) - 1):
            conv, norm = sequential[index], sequential[index + 1]
            if isinstance(norm, nn.BatchNorm2d) and isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d)):
                transpose = isinstance(conv, nn.ConvTranspose2d)
                sequential[index] = fuse_conv_bn_eval(conv, norm, transpose=transpose)
                sequential[index + 1] = nn.Identity()
                folded += 1
    return folded


def parity_images(folder: Path, limit: int = MAX_PARITY_IMAGES) -> list[Path]:
    """The first LIMIT pictures of FOLDER (sorted by name) for the parity check."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"{folder}: not a folder of images")
    found = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not found:
        raise UsageError(f"{folder}: no images for the parity check")
    return found[:limit]


def _model_geometry(config: dict) -> tuple[int, int]:
    model = config["model"]
    try:
        unit = int(model.get("size_unit") or 2 ** int(model["levels"]))
        native = int(model["native_size"])
    except (KeyError, TypeError, ValueError):
        raise CheckpointError("checkpoint config gives no native_size and size_unit for the model") from None
    if unit <= 0 or native % unit:
        raise CheckpointError(f"native size {native} is not a multiple of the size unit {unit}")
    return native, unit


def _check_normalisation(config: dict) -> None:
    norm = config.get("normalisation", {})
    expected = {"input": contract.INPUT_NORM, "output": contract.OUTPUT_NORM}
    if {key: norm.get(key) for key in expected} != expected:
        raise CheckpointError(f"checkpoint normalisation {norm} is not the model contract's {expected}")


def _torch_to_onnx(generator, unit: int, opset: int):
    """Export with dynamic N, H, W (H, W multiples of UNIT). The example is 2 units a side with a
    batch of 2: a size-1 dimension anywhere in the network would be specialised away."""
    import torch

    dim = torch.export.Dim
    h_units = dim("h_units", min=1, max=max(2, MAX_SIDE // unit))
    w_units = dim("w_units", min=1, max=max(2, MAX_SIDE // unit))
    shapes = ({0: dim("batch", min=1, max=4096), 2: unit * h_units, 3: unit * w_units},)
    example = torch.rand(2, 1, 2 * unit, 2 * unit) * 2 - 1
    # The exporter prints progress and logs warnings about optional packages; keep the library quiet.
    onnx_logger = logging.getLogger("torch.onnx")
    level = onnx_logger.level
    onnx_logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                generator, (example,), input_names=[contract.INPUT_NAME], output_names=[contract.OUTPUT_NAME],
                dynamo=True, opset_version=opset, external_data=False, dynamic_shapes=shapes, verbose=False,
            )
    except Exception as error:  # the exporter raises many types; the first line says what failed
        raise ModelError(f"torch.onnx export failed: {str(error).strip().splitlines()[0]}") from None
    finally:
        onnx_logger.setLevel(level)
    return program.model_proto


def _count_ops(model, op_type: str) -> int:
    nodes = list(model.graph.node) + [n for f in model.functions for n in f.node]
    return sum(node.op_type == op_type for node in nodes)


# 1-pixel shifts (dy, dx) of --shift-average, and the slice of a 1-pixel padded tensor that moves it by d
SHIFTS = ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1))
_SHIFTED = {-1: slice(0, -2), 0: slice(1, -1), 1: slice(2, None)}


def with_inference_options(generator, chroma_gain: float = 1.0, flip_average: bool = False,
                           shift_average: bool = False):
    """GENERATOR with fixed inference choices built into its graph (test-time augmentation, then a dial):
    FLIP_AVERAGE averages its a, b for L and for L mirrored left to right; SHIFT_AVERAGE for L and L
    moved by one pixel up, down, left and right (edges reflected), each moved back, so that a pixel's
    colour is the mean of the views that hold it (x2 and x5 the compute, x10 with both); CHROMA_GAIN
    then multiplies a, b and clips them to the output range (a saturation dial chosen after training)."""
    import torch
    import torch.nn.functional as F

    shifts = SHIFTS if shift_average else SHIFTS[:1]

    class InferenceOptions(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.generator = generator

        def forward(self, L: torch.Tensor) -> torch.Tensor:
            ab = self.averaged(L) if flip_average or shift_average else self.generator(L)
            if chroma_gain != 1.0:
                ab = torch.clamp(ab * chroma_gain, -1.0, 1.0)
            return ab

        def averaged(self, L: torch.Tensor) -> torch.Tensor:
            padded = F.pad(L, (1, 1, 1, 1), mode="reflect")
            views = [padded[:, :, _SHIFTED[dy], _SHIFTED[dx]] for dy, dx in shifts]
            if flip_average:
                views += [torch.flip(view, [3]) for view in views]
            # one pass on all views: the exporter folds BatchNorm only into convs no two nodes share
            out = self.generator(torch.cat(views, dim=0))
            n = L.shape[0]
            total = 0
            for index in range(len(views)):
                ab = out[index * n : (index + 1) * n]
                if index >= len(shifts):
                    ab = torch.flip(ab, [3])
                total = total + _moved_back(ab, *shifts[index % len(shifts)])
            # how many views hold each pixel: the shifts' coverage, once per flip
            coverage = sum(_moved_back(torch.ones_like(L), dy, dx) for dy, dx in shifts)
            return total / (coverage * (len(views) // len(shifts)))

    def _moved_back(view, dy: int, dx: int):
        """A view of L moved by (dy, dx), moved back onto L's pixels (zero where it held none)."""
        return F.pad(view, (1, 1, 1, 1))[:, :, _SHIFTED[-dy], _SHIFTED[-dx]]

    return InferenceOptions().eval()


def _metadata(config: dict, native: int, unit: int, precision: str, inference_size: int,
              chroma_gain: float, flip_average: bool, shift_average: bool,
              temperature: float | None = None) -> dict[str, str]:
    training = dict(config.get("training", {}))
    training.setdefault("data", config.get("data", {}))
    training.setdefault("epochs_completed", config.get("epoch"))
    return {
        contract.META_NATIVE_SIZE: str(native),
        contract.META_SIZE_UNIT: str(unit),
        contract.META_INFERENCE_SIZE: str(inference_size),
        contract.META_INPUT_NORM: contract.INPUT_NORM,
        contract.META_OUTPUT_NORM: contract.OUTPUT_NORM,
        contract.META_ARCHITECTURE: str(config["model"].get("architecture", "unknown")),
        contract.META_MODEL_CONFIG: json.dumps(config["model"], sort_keys=True),
        contract.META_TRAINING: json.dumps(training, sort_keys=True, default=str),
        contract.META_METRICS: json.dumps(config.get("metrics", {}), sort_keys=True, default=str),
        contract.META_VERSION: __version__,
        contract.META_CREATED: datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        contract.META_PRECISION: precision,
        contract.META_CHROMA_GAIN: f"{chroma_gain:g}",
        contract.META_FLIP_AVERAGE: "true" if flip_average else "false",
        contract.META_SHIFT_AVERAGE: "true" if shift_average else "false",
        **({contract.META_HEAD: "bins", contract.META_TEMPERATURE: f"{temperature:g}"} if temperature else {}),
    }


def _finish_proto(model, metadata: dict[str, str], fp16: bool):
    if fp16:
        from onnxconverter_common import float16

        # It warns for every weight it clamps to the float16 range; the parity check judges the result.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = float16.convert_float_to_float16(model, keep_io_types=True)
    # torch.onnx tags every node with the Python stack that made it: the builder's file paths, about
    # 200 kB of debugging text that describes nothing about the model.
    for item in (*model.graph.node, *model.graph.value_info, *model.graph.input, *model.graph.output):
        del item.metadata_props[:]
    kept = [(p.key, p.value) for p in model.metadata_props if p.key not in metadata]
    del model.metadata_props[:]
    for key, value in [*kept, *metadata.items()]:
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.producer_name, model.producer_version = "colorcli", __version__
    model.doc_string = "colorcli generator: L/50-1 [N,1,H,W] -> ab/110 [N,2,H,W]"
    return model


def _parity_inputs(unit: int, native: int, images: Sequence[Path]) -> list[tuple[str, np.ndarray]]:
    from colorcli.look import lab
    from colorcli.io import images as imageio

    rng = np.random.default_rng(0)
    inputs = [
        ("random", rng.uniform(-1, 1, (2, 1, 2 * unit, 2 * unit)).astype(np.float32)),
        ("random, non-square", rng.uniform(-1, 1, (1, 1, 3 * unit, unit)).astype(np.float32)),
    ]
    if images:
        batch = [lab.model_input(lab.lightness(imageio.read_image(p).pixels), native) for p in images]
        label = f"photos ({', '.join(p.name for p in images)})"
    else:
        y, x = np.mgrid[0:native, 0:native] / max(native - 1, 1)
        batch = [100 * (0.6 * x + 0.3 * y), 100 * (np.sin(9 * x) * np.cos(7 * y) * 0.5 + 0.5)]
        label = "generated pictures (gradient, waves)"
    stacked = np.stack(batch)[:, None].astype(np.float32) / contract.L_SCALE - contract.L_OFFSET
    inputs.append((label, stacked))
    return inputs


def _parity(generator, model_path: Path, inputs, precision: str) -> dict:
    import onnxruntime as ort
    import torch

    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    checks = []
    for label, batch in inputs:
        with torch.no_grad():
            expected = generator(torch.from_numpy(batch)).numpy()
        (got,) = session.run([contract.OUTPUT_NAME], {contract.INPUT_NAME: batch})
        if got.shape != expected.shape:
            raise ModelError(f"ONNX output shape {got.shape} differs from PyTorch's {expected.shape} on {label}")
        checks.append({
            "input": label,
            "shape": list(batch.shape),
            "max_abs_diff": float(np.abs(got - expected).max()),
            "max_abs_output": float(np.abs(expected).max()),  # scale of the outputs the diff is measured on
        })
    tolerance = PARITY_TOLERANCE[precision]
    return {
        "precision": precision,
        "tolerance": tolerance,
        "max_abs_diff": max(c["max_abs_diff"] for c in checks),
        "checks": checks,
    }


def export_model(
    source: Path,
    out: Path,
    opset: int = DEFAULT_OPSET,
    fp16: bool = False,
    images: Sequence[Path] = (),
    log: Callable[[str], None] | None = None,
    inference_size: int | None = None,
    chroma_gain: float = 1.0,
    flip_average: bool = False,
    shift_average: bool = False,
    card_notes: str = "",
    temperature: float | None = None,
) -> ExportResult:
    """Export the generator of SOURCE (a run directory or checkpoint) to OUT (.onnx), verified;
    ``card_notes`` (Markdown) go into its card. A bins-head generator decodes at TEMPERATURE inside
    the graph (default bins.DEFAULT_TEMPERATURE; an l1 generator takes none)."""
    try:
        import onnx
        import torch  # noqa: F401 (checked here so a missing extra is one clear message)
        if fp16:
            import onnxconverter_common  # noqa: F401
    except ImportError as error:
        raise MissingDependencyError(
            f"colorcli export needs the train extra ({error.name} is missing): pip install 'colorcli[train]'"
        ) from None

    from colorcli.models.runtime import validate_model
    from colorcli.training.checkpoint import load_generator

    say = log or (lambda message: None)
    out = Path(out)
    if out.suffix.lower() != cache.MODEL_SUFFIX:
        raise UsageError(f"{out}: the output must be an .onnx file")
    if out.is_dir():
        raise UsageError(f"{out}: is a folder; give a file name ending in .onnx")
    if opset < DEFAULT_OPSET:
        raise UsageError(f"opset {opset} is too old; the exporter needs {DEFAULT_OPSET} or newer")
    precision = "fp16" if fp16 else "fp32"
    if not 0.0 < chroma_gain <= MAX_CHROMA_GAIN:
        raise UsageError(f"--chroma-gain {chroma_gain:g}: must be above 0 and at most {MAX_CHROMA_GAIN:g}")

    generator, config = load_generator(source)
    _check_normalisation(config)
    if config["model"].get("head", "l1") == "bins":
        from colorcli.training.bins import DEFAULT_TEMPERATURE

        temperature = DEFAULT_TEMPERATURE if temperature is None else temperature
        if not 0.0 < temperature <= MAX_TEMPERATURE:
            raise UsageError(f"--temperature {temperature:g}: must be above 0 and at most {MAX_TEMPERATURE:g}")
        generator.temperature = temperature
    elif temperature is not None:
        raise UsageError("--temperature is for a generator trained with --head bins; this one regresses a, b")
    native, unit = _model_geometry(config)
    exportable = copy.deepcopy(generator).eval()
    folded = fold_batchnorm(exportable)
    if chroma_gain != 1.0 or flip_average or shift_average:
        generator = with_inference_options(generator, chroma_gain, flip_average, shift_average)
        exportable = with_inference_options(exportable, chroma_gain, flip_average, shift_average)
    say(f"folded {folded} BatchNorm layers; exporting opset {opset}, size unit {unit}, native {native}"
        + (", averaged with its mirror image" if flip_average else "")
        + (", averaged over 1-pixel shifts" if shift_average else "")
        + (f", chroma gain {chroma_gain:g}" if chroma_gain != 1.0 else "")
        + (f", bins head decoded at temperature {temperature:g}" if temperature else ""))

    proto = _torch_to_onnx(exportable, unit, opset)
    left = _count_ops(proto, "BatchNormalization")
    if left:
        raise ModelError(f"export left {left} BatchNormalization nodes unfolded")
    inference_size = inference_size or native
    if inference_size < unit or inference_size % unit:
        raise UsageError(f"--inference-size {inference_size}: must be a multiple of the size unit {unit}")
    proto = _finish_proto(proto, _metadata(config, native, unit, precision, inference_size, chroma_gain, flip_average,
                                        shift_average, temperature), fp16)
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as error:
        raise ModelError(f"exported model fails onnx.checker: {str(error).splitlines()[0]}") from None

    temp = atomic.temp_beside(out)
    try:
        onnx.save(proto, str(temp))
        metadata = validate_model(temp, label=str(out))
        parity = _parity(generator, temp, _parity_inputs(unit, native, images), precision)
        for check in parity["checks"]:
            say(
                f"parity {precision} on {check['input']} {check['shape']}: max abs diff "
                f"{check['max_abs_diff']:.3g} (outputs up to {check['max_abs_output']:.3g})"
            )
        if parity["max_abs_diff"] > parity["tolerance"]:
            raise ModelError(
                f"parity check failed: ONNX differs from PyTorch by {parity['max_abs_diff']:.3g} "
                f"(> {parity['tolerance']:g}); nothing was written"
            )
        sha256, size = cache.sha256_file(temp), temp.stat().st_size
        card = modelcard.build_card(out, sha256, size, metadata, config, parity, opset, card_notes)
        card_json, card_md = modelcard.card_paths(out)
        atomic.write_json(card_json, card)
        with atomic.atomic_write(card_md, "w") as stream:
            stream.write(modelcard.render_markdown(card))
        os.replace(temp, out)
    finally:
        temp.unlink(missing_ok=True)
    return ExportResult(out, card_json, card_md, sha256, size, precision, parity, folded)
