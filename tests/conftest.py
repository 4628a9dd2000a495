"""Shared fixtures: a tiny ONNX generator that follows the model contract, and small images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from colorcli.models import contract

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def make_tiny_model(path: Path, native_size: int = 64, size_unit: int = 32, seed: int = 0) -> Path:
    """A contract-following generator built with onnx.helper: conv 3x3 (1 -> 2), tanh.

    Its colours depend on the local L pattern, so different inputs get different chroma.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    weight = rng.normal(0.0, 0.6, size=(2, 1, 3, 3)).astype(np.float32)
    bias = np.array([0.15, 0.25], np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Conv", [contract.INPUT_NAME, "w", "b"], ["pre"], pads=[1, 1, 1, 1]),
            helper.make_node("Tanh", ["pre"], [contract.OUTPUT_NAME]),
        ],
        "tiny_colorizer",
        [helper.make_tensor_value_info(contract.INPUT_NAME, TensorProto.FLOAT, ["N", 1, "H", "W"])],
        [helper.make_tensor_value_info(contract.OUTPUT_NAME, TensorProto.FLOAT, ["N", 2, "H", "W"])],
        [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    meta = {
        contract.META_NATIVE_SIZE: str(native_size),
        contract.META_SIZE_UNIT: str(size_unit),
        contract.META_INPUT_NORM: contract.INPUT_NORM,
        contract.META_OUTPUT_NORM: contract.OUTPUT_NORM,
        contract.META_ARCHITECTURE: "tiny-test-conv",
        contract.META_MODEL_CONFIG: json.dumps({"kernel": 3}),
    }
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny.onnx")


def gradient_gray(height: int = 48, width: int = 64, dtype=np.uint8) -> np.ndarray:
    """A grey test picture with structure: diagonal gradient plus a bright square."""
    y, x = np.mgrid[0:height, 0:width]
    image = (x / max(width - 1, 1) * 0.6 + y / max(height - 1, 1) * 0.3).astype(np.float32)
    image[height // 4 : height // 2, width // 4 : width // 2] = 0.95
    peak = 65535 if dtype == np.uint16 else 255
    return np.round(image * peak).astype(dtype)


@pytest.fixture
def one_torch_thread():
    """Tiny models train fastest on one thread; on a busy CPU, more threads wait on each other."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def colour_photo(rng: np.random.Generator, width: int = 96, height: int = 72) -> np.ndarray:
    """A small photo-like colour picture: a sky, ground and an object of their own hues, with grain."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    horizon = height * rng.uniform(0.35, 0.65)
    sky = np.array([rng.uniform(90, 150), rng.uniform(140, 200), rng.uniform(200, 255)])
    ground = np.array([rng.uniform(40, 110), rng.uniform(100, 170), rng.uniform(20, 80)])
    picture = np.where((y < horizon)[..., None], sky, ground) * (0.7 + 0.3 * x[..., None] / width)
    cx, cy, r = rng.uniform(20, width - 20), rng.uniform(15, height - 15), rng.uniform(6, 14)
    picture[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = [rng.uniform(170, 240), rng.uniform(30, 90), rng.uniform(30, 80)]
    picture += rng.normal(0, 4, picture.shape)
    return np.clip(picture, 0, 255).astype(np.uint8)
