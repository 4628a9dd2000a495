"""A torch generator rebuilt from an exported colorcli ONNX model, to train on from its weights.

The exporter folds every BatchNorm into the convolution before it: the graph holds, for each
convolution, an initializer ``[generator.]NAME.weight`` (the folded kernel) and, as the node's third
input, its bias (``NAME.weight_bias`` or ``NAME.bias``; a bias of zeros is dropped from the graph).
Loading back, each convolution takes its folded kernel, and the BatchNorm that follows it becomes an
identity plus the folded bias (weight 1, bias the folded bias, running mean 0, running variance
1 - eps), so that in eval mode it computes x + bias. Those BatchNorms hold no statistics of their own:
a run started from an ONNX model keeps them frozen (``TrainOptions.frozen_bn``).

The graph's inference choices stay out of the torch generator: the chroma gain (a factor on a, b,
clipped to [-1, 1]) and any flip or shift averaging. The generator predicts the a, b it was trained to,
the ONNX output divided by the gain. ``load_generator`` checks that: the generator wrapped in the
graph's choices matches ONNX Runtime on a random batch at the model's native size.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from colorcli.errors import CheckpointError, ModelError
from colorcli.models import contract

PARITY_TOLERANCE = {"fp32": 1e-4, "fp16": 2e-2}
PARITY_BATCH = 2
WRAPPER_PREFIX = "generator."  # the exporter's wrapper for a chroma gain or averaging names it so
CONV_OPS = ("Conv", "ConvTranspose")
_CONVS = (nn.Conv2d, nn.ConvTranspose2d)


def is_onnx(path) -> bool:
    return path is not None and Path(path).suffix.lower() == ".onnx"


def read_model(path: Path):
    """The ONNX model proto and its metadata, or a ModelError."""
    import onnx

    try:
        model = onnx.load(str(path))
    except Exception as error:  # onnx raises DecodeError, OSError, ...
        raise ModelError(f"{path}: not a readable ONNX model ({type(error).__name__})") from None
    return model, {p.key: p.value for p in model.metadata_props}


def model_config(path: Path, metadata: dict[str, str]) -> dict:
    """The generator config an exported model carries (colorcli.model_config)."""
    text = metadata.get(contract.META_MODEL_CONFIG)
    if text is None:
        raise ModelError(f"{path}: carries no {contract.META_MODEL_CONFIG}; only models exported by "
                         "colorcli export can start a training run")
    try:
        config = json.loads(text)
    except ValueError:
        raise ModelError(f"{path}: {contract.META_MODEL_CONFIG} is not JSON") from None
    architecture = metadata.get(contract.META_ARCHITECTURE)
    if not isinstance(config, dict) or (architecture and config.get("architecture") != architecture):
        raise ModelError(f"{path}: {contract.META_MODEL_CONFIG} does not describe its "
                         f"{contract.META_ARCHITECTURE} {architecture!r}")
    return config


def following_batchnorms(generator: nn.Module, size: int) -> dict[str, str]:
    """{conv name: name of the BatchNorm2d applied directly to its output}, found by running the
    generator once (eval mode, one SIZE x SIZE picture) with hooks."""
    names = {module: name for name, module in generator.named_modules()}
    outputs: list[tuple[torch.Tensor, str]] = []
    found: dict[str, str] = {}

    def conv_hook(module, args, output):
        outputs.append((output, names[module]))

    def bn_hook(module, args):
        for tensor, conv in outputs:
            if args[0] is tensor:
                found[conv] = names[module]

    hooks = [m.register_forward_hook(conv_hook) for m in generator.modules() if isinstance(m, _CONVS)]
    hooks += [m.register_forward_pre_hook(bn_hook) for m in generator.modules() if isinstance(m, nn.BatchNorm2d)]
    was_training = generator.training
    try:
        generator.eval()
        with torch.no_grad():
            generator(torch.zeros(1, 1, size, size))
    finally:
        for hook in hooks:
            hook.remove()
        generator.train(was_training)
    return found


def _array(initializer) -> np.ndarray:
    from onnx import numpy_helper

    return np.array(numpy_helper.to_array(initializer), dtype=np.float32)  # a writable copy


def load_folded_weights(generator: nn.Module, model, path: Path, size: int) -> int:
    """Set every parameter and buffer of GENERATOR from the folded convolutions of MODEL (an ONNX
    proto); returns the number of BatchNorms made identity plus bias. Fails on a weight or buffer
    left unset, an initializer left unused, or a shape that does not fit."""
    initializers = {init.name: init for init in model.graph.initializer}
    modules = dict(generator.named_modules())
    follows = following_batchnorms(generator, size)
    state = generator.state_dict()
    values: dict[str, torch.Tensor] = {}
    used: set[str] = set()

    def put(key: str, value: np.ndarray | torch.Tensor, source: str) -> None:
        tensor = torch.as_tensor(value, dtype=state[key].dtype)
        if tuple(tensor.shape) != tuple(state[key].shape):
            raise CheckpointError(f"{path}: {source} has shape {list(tensor.shape)}, the generator's {key} "
                                  f"{list(state[key].shape)}: the model does not fit its own model_config")
        if key in values and not torch.equal(values[key], tensor):
            raise CheckpointError(f"{path}: {key} is given two different values by the graph")
        values[key] = tensor

    for node in model.graph.node:
        if node.op_type not in CONV_OPS or len(node.input) < 2 or node.input[1] not in initializers:
            continue
        weight_name = node.input[1]
        stem = weight_name[len(WRAPPER_PREFIX):] if weight_name.startswith(WRAPPER_PREFIX) else weight_name
        if not stem.endswith(".weight"):
            continue
        conv_name = stem[: -len(".weight")]
        conv = modules.get(conv_name)
        if not isinstance(conv, _CONVS):
            raise CheckpointError(f"{path}: initializer {weight_name} names no convolution of the generator")
        put(f"{conv_name}.weight", _array(initializers[weight_name]), weight_name)
        used.add(weight_name)
        bias_name = node.input[2] if len(node.input) > 2 and node.input[2] else None
        if bias_name is not None and bias_name not in initializers:
            raise CheckpointError(f"{path}: the bias of {weight_name} is computed in the graph, not stored")
        bias = _array(initializers[bias_name]) if bias_name else np.zeros(conv.out_channels, np.float32)
        if bias_name:
            used.add(bias_name)
        norm_name = follows.get(conv_name)
        if conv.bias is not None:  # the folded bias lives in the BatchNorm when there is one
            put(f"{conv_name}.bias", np.zeros_like(bias) if norm_name else bias, bias_name or "its zero bias")
        elif norm_name is None:
            raise CheckpointError(f"{path}: {weight_name} has a bias, but {conv_name} has none and no "
                                  "BatchNorm follows it")
        if norm_name is not None:
            norm = modules[norm_name]
            put(f"{norm_name}.weight", np.ones_like(bias), "an identity BatchNorm")
            put(f"{norm_name}.bias", bias, bias_name or "its zero bias")
            put(f"{norm_name}.running_mean", np.zeros_like(bias), "an identity BatchNorm")
            put(f"{norm_name}.running_var", np.full_like(bias, 1.0 - norm.eps), "an identity BatchNorm")
            if f"{norm_name}.num_batches_tracked" in state:
                put(f"{norm_name}.num_batches_tracked", torch.tensor(0), "an identity BatchNorm")

    unset = [key for key in state if key not in values]
    if unset:
        raise CheckpointError(f"{path}: {len(unset)} weights of the generator are not in the model "
                              f"(e.g. {', '.join(unset[:3])})")
    unused = [name for name in initializers if name not in used and _is_weight(name)]
    if unused:
        raise CheckpointError(f"{path}: {len(unused)} weights of the model fit no convolution of the generator "
                              f"(e.g. {', '.join(unused[:3])})")
    generator.load_state_dict(values, strict=True)
    return len(set(follows.values()))


def _is_weight(name: str) -> bool:
    """An initializer named like a module's tensor (not one of the graph's constants, val_N, nor a bins
    head's centres, which its config holds)."""
    if name.rsplit(".", 1)[-1] == "bin_centres":
        return False
    return name.startswith(WRAPPER_PREFIX) or name.rsplit(".", 1)[-1] in ("weight", "bias", "weight_bias")


def _parity(generator: nn.Module, path: Path, native: int, options: dict, precision: str,
            threads: int | None) -> float:
    """Max |ONNX Runtime - the generator with the graph's gain and averaging| on a random batch."""
    from colorcli.models.runtime import create_session, read_model_info
    from colorcli.training.export import with_inference_options

    session, _ = create_session(path, provider="cpu", threads=threads)
    read_model_info(session, path)
    batch = np.random.default_rng(0).uniform(-1, 1, (PARITY_BATCH, 1, native, native)).astype(np.float32)
    (got,) = session.run([contract.OUTPUT_NAME], {contract.INPUT_NAME: batch})
    wrapped = with_inference_options(generator.eval(), options["chroma_gain"], options["flip_average"],
                                     options["shift_average"])
    with torch.no_grad():
        expected = wrapped(torch.from_numpy(batch)).numpy()
    if got.shape != expected.shape:
        raise CheckpointError(f"{path}: ONNX output shape {got.shape} differs from the generator's {expected.shape}")
    return float(np.abs(got - expected).max())


def load_generator(path, threads: int | None = None) -> tuple[nn.Module, dict]:
    """An exported model -> (its generator in eval mode, with identity-plus-bias BatchNorms, and a
    description: ``model`` (config), ``chroma_gain``, ``flip_average``, ``shift_average``, ``temperature``
    (a bins head's, else None),
    ``precision``, ``native_size``, ``batchnorms`` (made identity) and ``max_abs_diff`` (the parity
    with ONNX Runtime)). Raises CheckpointError when the parity exceeds its tolerance."""
    from colorcli.training.checkpoint import build_generator

    path = Path(path)
    model, metadata = read_model(path)
    config = model_config(path, metadata)
    options = contract.inference_options(metadata)
    try:
        native = int(metadata.get(contract.META_NATIVE_SIZE) or config["native_size"])
        unit = int(metadata.get(contract.META_SIZE_UNIT) or config["size_unit"])
    except (KeyError, TypeError, ValueError):
        raise ModelError(f"{path}: gives no integer native size and size unit") from None
    precision = metadata.get(contract.META_PRECISION, "fp32")
    generator = build_generator(config)
    batchnorms = load_folded_weights(generator, model, path, unit)
    generator.eval()
    if getattr(generator, "bins", False):  # a bins head decodes at the temperature the graph holds
        try:
            generator.temperature = float(metadata[contract.META_TEMPERATURE])
        except (KeyError, ValueError):
            raise ModelError(f"{path}: a bins-head model without a numeric {contract.META_TEMPERATURE}") from None
    difference = _parity(generator, path, native, options, precision, threads)
    tolerance = PARITY_TOLERANCE.get(precision, PARITY_TOLERANCE["fp32"])
    if not difference <= tolerance:
        raise CheckpointError(f"{path}: the generator rebuilt from its weights differs from ONNX Runtime by "
                              f"{difference:.3g} (more than {tolerance:g}) on a random {native} px batch")
    return generator, {"model": config, **options, "temperature": getattr(generator, "temperature", None),
                       "precision": precision, "native_size": native,
                       "batchnorms": batchnorms, "max_abs_diff": difference}
