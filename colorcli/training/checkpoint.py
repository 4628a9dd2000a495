"""Training checkpoints that describe themselves, saved atomically.

On-disk format (``format`` = ``colorcli.checkpoint/1``) inside a run directory::

    RUN_DIR/
      last.json                 pointer + config of the newest epoch, or of a step inside the next one
      best.json                 pointer + config of the best epoch so far (by config["best"]["metric"])
      checkpoints/
        last-e0007.generator.safetensors      generator weights (safetensors; the config JSON is
                                              also in its metadata under "colorcli.config")
        last-e0007.discriminator.safetensors  discriminator weights (optional)
        last-e0007.state.pt                   optimizers, schedulers, grad scaler, RNG states:
                                              plain tensors/dicts, read with torch.load(weights_only=True)
        last-e0007-s0000350.state.pt ...      a checkpoint 350 steps into epoch 8 (its state also holds
                                              "position": where in that epoch's plan to go on)
        best-e0005.generator.safetensors ...

``TAG.json`` holds ``{"format", "tag", "epoch", "step", "files": {"generator", "discriminator", "state"},
"sha256": {...}, "config": {...}}``; file paths are relative to the run directory. A save writes
every data file to a temporary name and renames it, then replaces ``TAG.json`` the same way, then
removes the files of that tag the new JSON no longer names. The JSON rename is the commit: a
crash at any moment leaves the previous checkpoint whole.

``config`` (written by colorcli.training.loop) has at least:
``model`` (architecture "unet", ngf, levels, native_size, size_unit = 2**levels, ...),
``normalisation`` ({"input": "L/50-1", "output": "ab/110"}), ``training`` (dataset, size, epochs,
command, wall time, hardware, ...), ``data``, ``epoch`` (1-based, completed epochs) and
``metrics`` (validation metrics of that epoch and the gray baseline of the same split).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from colorcli.models.cache import file_hash
from colorcli.errors import CheckpointError

FORMAT = "colorcli.checkpoint/1"
TAGS = ("best", "last")
CONFIG_META_KEY = "colorcli.config"
SUBDIR = "checkpoints"


def _atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)``, then rename the temporary file onto ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _sha256(path: Path) -> str:
    return file_hash(path, "sha256")


def _save_weights(path: Path, module, config: dict) -> None:
    from safetensors.torch import save_file

    # contiguous clones: safetensors refuses shared or strided storage
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in module.state_dict().items()}
    metadata = {CONFIG_META_KEY: json.dumps(config, sort_keys=True), "format": FORMAT}
    _atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def save_checkpoint(run_dir, tag: str, generator, config: dict, discriminator=None, optim_state=None,
                    step: int = 0) -> Path:
    """Save generator (+ discriminator, + optimizer/scheduler/RNG state dict) under ``tag``.

    ``config["epoch"]`` (completed epochs) and ``step`` (steps done in the next one, for a checkpoint
    inside an epoch) name the files. Returns the path of ``TAG.json``.
    """
    import torch

    if tag not in TAGS:
        raise CheckpointError(f"unknown checkpoint tag {tag!r} (use one of {', '.join(TAGS)})")
    run_dir = Path(run_dir)
    epoch = int(config.get("epoch", 0))
    stem = f"{tag}-e{epoch:04d}" + (f"-s{step:07d}" if step else "")
    files = {"generator": f"{SUBDIR}/{stem}.generator.safetensors"}
    _save_weights(run_dir / files["generator"], generator, config)
    if discriminator is not None:
        files["discriminator"] = f"{SUBDIR}/{stem}.discriminator.safetensors"
        _save_weights(run_dir / files["discriminator"], discriminator, config)
    if optim_state is not None:
        files["state"] = f"{SUBDIR}/{stem}.state.pt"
        _atomic_write(run_dir / files["state"], lambda tmp: torch.save(optim_state, tmp))
    pointer = {
        "format": FORMAT,
        "tag": tag,
        "epoch": epoch,
        "step": step,
        "files": files,
        "sha256": {name: _sha256(run_dir / rel) for name, rel in files.items()},
        "config": config,
    }
    json_path = run_dir / f"{tag}.json"
    text = json.dumps(pointer, indent=2, sort_keys=True) + "\n"
    _atomic_write(json_path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    keep = {Path(rel).name for rel in files.values()}
    for old in (run_dir / SUBDIR).glob(f"{tag}-e*"):
        if old.name not in keep:
            old.unlink(missing_ok=True)
    return json_path


def _read_pointer(json_path: Path) -> dict:
    try:
        pointer = json.loads(json_path.read_text(encoding="utf-8"))
    except OSError as error:
        raise CheckpointError(f"{json_path}: cannot read checkpoint ({error.strerror or error})") from None
    except ValueError:
        raise CheckpointError(f"{json_path}: not a colorcli checkpoint (invalid JSON)") from None
    if not isinstance(pointer, dict) or pointer.get("format") != FORMAT:
        raise CheckpointError(f"{json_path}: not a colorcli checkpoint (format is not {FORMAT})")
    for key in ("files", "config"):
        if not isinstance(pointer.get(key), dict):
            raise CheckpointError(f"{json_path}: checkpoint has no {key!r} section")
    if "generator" not in pointer["files"]:
        raise CheckpointError(f"{json_path}: checkpoint names no generator weights")
    return pointer


def resolve(path, tag: str | None = None) -> Path:
    """A run directory (``best`` if present, else ``last``; or ``tag``) or a ``TAG.json`` -> the JSON path."""
    path = Path(path)
    if path.is_dir():
        tags = (tag,) if tag else TAGS
        for name in tags:
            if (path / f"{name}.json").is_file():
                return path / f"{name}.json"
        raise CheckpointError(f"{path}: no checkpoint here (expected {' or '.join(t + '.json' for t in tags)})")
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint or run directory")
    return path


class Checkpoint:
    """A checkpoint read from disk: ``config``, ``epoch`` and lazy readers of its parts."""

    def __init__(self, json_path: Path, pointer: dict):
        self.json_path = json_path
        self.run_dir = json_path.parent
        self.pointer = pointer
        self.config: dict = pointer["config"]
        self.epoch = int(pointer.get("epoch", self.config.get("epoch", 0)))

    def _file(self, name: str) -> Path:
        rel = self.pointer["files"].get(name)
        if rel is None:
            raise CheckpointError(f"{self.json_path}: checkpoint has no {name} part")
        path = self.run_dir / rel
        if not path.is_file():
            raise CheckpointError(f"{self.json_path}: missing {rel} (checkpoint incomplete)")
        expected = self.pointer.get("sha256", {}).get(name)
        if expected and _sha256(path) != expected:
            raise CheckpointError(f"{path}: content does not match the sha256 in {self.json_path.name} (corrupt)")
        return path

    def weights(self, name: str = "generator") -> dict:
        return _load_safetensors(self._file(name))

    def state(self) -> dict:
        import torch

        path = self._file("state")
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises many types for bad pickles
            raise CheckpointError(f"{path}: cannot read training state ({type(error).__name__})") from None


def _load_safetensors(path: Path) -> dict:
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except Exception as error:  # SafetensorError, OSError
        raise CheckpointError(f"{path}: cannot read weights ({error})") from None


def load_checkpoint(path, tag: str | None = None) -> Checkpoint:
    json_path = resolve(path, tag)
    if json_path.suffix != ".json":
        raise CheckpointError(f"{json_path}: expected a run directory or a checkpoint .json")
    return Checkpoint(json_path, _read_pointer(json_path))


def _config_from_safetensors(path: Path) -> dict:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except Exception as error:
        raise CheckpointError(f"{path}: cannot read weights ({error})") from None
    if CONFIG_META_KEY not in metadata:
        raise CheckpointError(f"{path}: safetensors file carries no colorcli config")
    return json.loads(metadata[CONFIG_META_KEY])


def build_generator(model_config: dict):
    """Rebuild the (untrained) generator described by ``config["model"]``."""
    from colorcli.training.models import build_generator as build

    try:
        return build(model_config)
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"cannot build the generator from its config ({error})") from None


def load_generator(path):
    """A run directory, a ``TAG.json`` or a generator ``.safetensors`` -> (generator in eval mode, config)."""
    path = Path(path)
    if path.suffix == ".safetensors" and path.is_file():
        config = _config_from_safetensors(path)
        state = _load_safetensors(path)
    else:
        checkpoint = load_checkpoint(path)
        config = checkpoint.config
        state = checkpoint.weights("generator")
    if "model" not in config:
        raise CheckpointError(f"{path}: checkpoint config has no 'model' section")
    generator = build_generator(config["model"])
    try:
        generator.load_state_dict(state)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise CheckpointError(f"{path}: weights do not fit the configured generator ({first})") from None
    return generator.eval(), config
