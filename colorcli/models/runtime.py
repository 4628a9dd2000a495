"""ONNX Runtime sessions for contract-following generators (see colorcli.models.contract).

A Colorizer is one loaded model: `Colorizer.load("model.onnx").colorize(gray_uint8)` gives RGB.
The batch pipeline uses its pieces (predict_ab) from its own processes. validate_model checks a
file against the contract before fetch admits it to the cache or export writes it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from colorcli.models import contract
from colorcli.errors import ModelError, ProviderError, UsageError

PROVIDERS = ("auto", "cuda", "cpu")
_CUDA = "CUDAExecutionProvider"
_CPU = "CPUExecutionProvider"


@dataclass(frozen=True)
class ModelInfo:
    """What a model says about itself in its ONNX metadata."""

    path: Path
    native_size: int
    size_unit: int
    inference_size: int  # colorize's default input size: measured best, else the native size
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def architecture(self) -> str:
        return self.metadata.get(contract.META_ARCHITECTURE, "unknown")

    def describe(self) -> dict:
        info = {"path": str(self.path), "native_size": self.native_size, "size_unit": self.size_unit,
                "inference_size": self.inference_size, "architecture": self.architecture,
                **contract.inference_options(self.metadata)}
        for key in (contract.META_TRAINING, contract.META_METRICS):
            if key in self.metadata:
                try:
                    info[key.split(".", 1)[1]] = json.loads(self.metadata[key])
                except ValueError:
                    info[key.split(".", 1)[1]] = self.metadata[key]
        return info


def _ort():
    import onnxruntime

    onnxruntime.set_default_logger_severity(3)  # a CPU machine with the GPU wheel logs loud CUDA warnings
    return onnxruntime


def _session_options(ort, threads: int | None):
    options = ort.SessionOptions()
    options.log_severity_level = 3
    # Idle intra-op threads would otherwise spin between runs, taking the cores colorize's workers need.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = threads
    return options


def create_session(path: Path, provider: str = "auto", threads: int | None = None):
    """An InferenceSession on the provider asked for; returns (session, provider that really runs).

    "auto" tries CUDA when the installed onnxruntime offers it and keeps it only if the session really
    loaded it (session.get_providers()), since the GPU wheel lists CUDA even where CUDA cannot load.
    """
    if provider not in PROVIDERS:
        raise UsageError(f"unknown provider {provider!r}; choose one of {', '.join(PROVIDERS)}")
    ort = _ort()
    offered = ort.get_available_providers()
    if provider in ("auto", "cuda") and _CUDA in offered and not _cuda_driver_present():
        if provider == "cuda":
            raise ProviderError("CUDA was requested but this machine has no NVIDIA driver (libcuda); "
                                "use --provider cpu")
        offered = [name for name in offered if name != _CUDA]
    if provider in ("auto", "cuda") and _CUDA in offered:
        with _captured_output() as captured:
            if hasattr(ort, "preload_dlls"):
                ort.preload_dlls()
            session = _open(ort, path, [_CUDA, _CPU], threads, quiet=True)
        if session.get_providers()[0] == _CUDA:
            return session, "cuda"
        if provider == "cuda":
            raise ProviderError(f"CUDA was requested but onnxruntime could not load it here "
                                f"({_missing_library(''.join(captured))}); use --provider cpu")
    elif provider == "cuda":
        raise ProviderError("CUDA was requested but the installed onnxruntime has no CUDA provider "
                            "(install onnxruntime-gpu)")
    return _open(ort, path, [_CPU], threads), "cpu"


def _cuda_driver_present() -> bool:
    """Whether the NVIDIA driver library loads: without it CUDA cannot work, and trying costs a second
    session (a few tenths of a second at every start)."""
    import ctypes

    names = {"win32": ["nvcuda.dll"], "darwin": []}.get(sys.platform, ["libcuda.so.1", "libcuda.so"])
    for name in names:
        try:
            ctypes.CDLL(name)
            return True
        except OSError:
            continue
    return False


@contextlib.contextmanager
def _captured_output():
    """Hold what is written to file descriptors 1 and 2 (onnxruntime's CUDA loader is loud on a
    machine without CUDA) and hand it back as one string in the yielded list, so a CPU fallback stays
    quiet and a failure can say why."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    log: list[str] = []
    with tempfile.TemporaryFile(mode="w+") as sink:
        for fd in saved:
            os.dup2(sink.fileno(), fd)
        try:
            yield log
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
            sink.seek(0)
            log.append(sink.read())


def _missing_library(log: str) -> str:
    for line in log.splitlines():
        if "cannot open shared object file" in line:
            return line.split(":")[0].replace("Failed to load ", "").strip() + " not found"
    return "CUDA and cuDNN 9 libraries are needed"


def _open(ort, path: Path, providers: list[str], threads: int | None, quiet: bool = False):
    options = _session_options(ort, threads)
    if quiet:
        options.log_severity_level = 4
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as error:  # noqa: BLE001 - onnxruntime raises bare RuntimeErrors of several kinds
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelError(f"{path}: not a loadable ONNX model ({first_line})") from None


def read_model_info(session, path: Path) -> ModelInfo:
    """Check a session's I/O and metadata against the model contract."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or inputs[0].name != contract.INPUT_NAME or len(inputs[0].shape) != 4:
        raise ModelError(f"{path}: expected one input {contract.INPUT_NAME!r} [N,1,H,W]; "
                         f"found {[(i.name, i.shape) for i in inputs]}")
    if len(outputs) != 1 or outputs[0].name != contract.OUTPUT_NAME or len(outputs[0].shape) != 4:
        raise ModelError(f"{path}: expected one output {contract.OUTPUT_NAME!r} [N,2,H,W]; "
                         f"found {[(o.name, o.shape) for o in outputs]}")
    metadata = dict(session.get_modelmeta().custom_metadata_map)
    missing = [key for key in contract.REQUIRED_META if key not in metadata]
    if missing:
        raise ModelError(f"{path}: not a colorcli model (metadata lacks {', '.join(missing)})")
    if metadata[contract.META_INPUT_NORM] != contract.INPUT_NORM or \
            metadata[contract.META_OUTPUT_NORM] != contract.OUTPUT_NORM:
        raise ModelError(f"{path}: unsupported normalisation {metadata[contract.META_INPUT_NORM]!r} -> "
                         f"{metadata[contract.META_OUTPUT_NORM]!r}")
    try:
        native, unit = int(metadata[contract.META_NATIVE_SIZE]), int(metadata[contract.META_SIZE_UNIT])
        inference = int(metadata.get(contract.META_INFERENCE_SIZE, native))
    except ValueError:
        raise ModelError(f"{path}: native size, inference size and size unit must be integers") from None
    for size in (native, inference):
        if unit < 1 or size < unit or size % unit:
            raise ModelError(f"{path}: size {size} is not a multiple of size unit {unit}")
    return ModelInfo(path=path, native_size=native, size_unit=unit, inference_size=inference, metadata=metadata)


def validate_model(path: Path, label: str | None = None) -> dict[str, str]:
    """Load PATH with ONNX Runtime, check the model contract, run it once; return its metadata.

    LABEL names the model in messages (a URL or the user's file rather than a temp file).
    """
    label = label or str(path)
    try:
        session, _ = create_session(path, provider="cpu")
    except ModelError as error:
        raise ModelError(str(error).replace(str(path), label)) from None
    info = read_model_info(session, Path(label))
    for kind, (arg,), channels in (("input", session.get_inputs(), 1), ("output", session.get_outputs(), 2)):
        if arg.type != "tensor(float)" or arg.shape[1] != channels:
            raise ModelError(
                f"{label}: {kind} {arg.name!r} must be float32 [N,{channels},H,W], found {arg.type} {arg.shape}"
            )
    unit = info.size_unit
    probe = np.zeros((1, 1, unit, unit), np.float32)
    try:
        (result,) = session.run([contract.OUTPUT_NAME], {contract.INPUT_NAME: probe})
    except Exception as error:  # onnxruntime raises its own unrelated exception types
        raise ModelError(f"{label}: fails on a {unit}x{unit} input ({str(error).splitlines()[0]})") from None
    if result.shape != (1, 2, unit, unit):
        expected = (1, 2, unit, unit)
        raise ModelError(f"{label}: output shape {result.shape} for a {unit}x{unit} input, expected {expected}")
    return info.metadata


MAX_STRENGTH = 3.0


def check_strength(strength: float) -> float:
    """The colour strength a user may ask for: 0 (grey) to MAX_STRENGTH, 1 being the model's own."""
    if not 0.0 <= strength <= MAX_STRENGTH:
        raise UsageError(f"--strength {strength:g}: choose a value from 0 (grey) to {MAX_STRENGTH:g} "
                         f"(1 is the model's own colour)")
    return float(strength)


class Colorizer:
    """One generator on one provider: L at the model's size in, a and b out.

    `strength` scales the model's a and b (the chroma) before they are merged: 0 leaves a picture grey, 1
    gives the model's own colours, more gives more colour. The hue of every pixel stays the model's."""

    def __init__(self, session, provider: str, info: ModelInfo, size: int | None = None, strength: float = 1.0):
        self.session = session
        self.provider = provider
        self.info = info
        self.size = self.check_size(size) if size else info.inference_size
        self.strength = check_strength(strength)

    @classmethod
    def load(cls, model: str | None = None, provider: str = "auto", size: int | None = None,
             threads: int | None = None, strength: float = 1.0) -> "Colorizer":
        from colorcli.models.registry import resolve_model

        check_strength(strength)  # a bad value is said before a model is loaded
        path = resolve_model(model)
        session, actual = create_session(path, provider, threads)
        return cls(session, actual, read_model_info(session, path), size, strength)

    @functools.cached_property
    def model_sha256(self) -> str:
        """The sha256 of the model file, which the reports and every output's XMP name."""
        from colorcli.models.cache import model_sha256

        return model_sha256(self.info.path)

    def check_size(self, size: int) -> int:
        unit = self.info.size_unit
        if size < unit or size % unit:
            raise UsageError(f"--size {size}: this model needs a multiple of {unit} "
                             f"(its native size is {self.info.native_size})")
        return size

    def predict_ab(self, L_batch: np.ndarray) -> np.ndarray:
        """L (N, s, s) in 0..100 to a, b (N, s, s, 2) in Lab units."""
        x = (L_batch[:, None, :, :] * (1.0 / contract.L_SCALE) - contract.L_OFFSET).astype(np.float32)
        (ab,) = self.session.run([contract.OUTPUT_NAME], {contract.INPUT_NAME: x})
        ab = np.ascontiguousarray(np.transpose(ab, (0, 2, 3, 1))) * np.float32(contract.AB_SCALE * self.strength)
        if self.strength > 1.0:  # the contract's range: merge_from_model clips to the sRGB gamut after this
            np.clip(ab, -contract.AB_SCALE, contract.AB_SCALE, out=ab)
        return ab

    def colorize(self, pixels: np.ndarray, orientation: int = 1) -> np.ndarray:
        """Grey (H, W) or RGB (H, W, 3), uint8 or uint16, to RGB of the same size and depth.

        `orientation` is the EXIF orientation of the stored pixels: the model sees the picture upright.
        """
        from colorcli.look import lab  # OpenCV: not needed (nor imported) where only predict_ab runs

        L_full, small = lab.split_for_model(pixels, self.size, orientation)
        return lab.merge_from_model(pixels, L_full, self.predict_ab(small[None])[0], orientation)
