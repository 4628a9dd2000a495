"""Training sources: which photo folders a run draws from, and what share of the steps each gets.

``--dataset`` names one or more folders, each optionally with a weight (``DIR:0.3``). Every top-level
subfolder of a dataset folder is a source of its own (loose photos at its top form one more), so a
folder of collections is balanced without listing them. How sources share the steps:

- with weights, each dataset folder gets its weight (normalised to sum to 1), split among its
  subfolders by the balance rule;
- without, the balance rule shares the steps among all sources of all folders.

The balance rule gives a source of n usable photos a share in proportion to n (``images``: every photo
equally often, one big source dominates), to sqrt(n) (``sqrt``, the default: a source 100 times larger
gets 10 times the steps, so no single collection decides the model by its size), or 1 (``equal``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from colorcli.errors import UsageError

BALANCE_EXPONENTS = {"images": 1.0, "sqrt": 0.5, "equal": 0.0}
DEFAULT_BALANCE = "sqrt"


@dataclass(frozen=True)
class DatasetSpec:
    path: str
    weight: float | None  # None: shared by the balance rule


def parse_dataset(spec: str) -> DatasetSpec:
    """``DIR`` or ``DIR:WEIGHT``. A trailing ``:number`` is a weight; anything else is part of the path."""
    head, sep, tail = str(spec).rpartition(":")
    if sep and head:
        try:
            weight = float(tail)
        except ValueError:
            return DatasetSpec(str(spec), None)
        if not weight > 0 or not np.isfinite(weight):
            raise UsageError(f"--dataset {spec}: the weight after ':' must be a positive number")
        return DatasetSpec(head, weight)
    return DatasetSpec(str(spec), None)


def format_dataset(spec: DatasetSpec) -> str:
    return spec.path if spec.weight is None else f"{spec.path}:{spec.weight:g}"


def check_weights(specs: list[DatasetSpec]) -> None:
    given = [s.weight is not None for s in specs]
    if any(given) and not all(given):
        raise UsageError("give every --dataset a weight (DIR:W) or none of them")


def dataset_labels(roots: list[Path]) -> list[str]:
    """A unique label for each dataset folder: its name, with its parent's where two names are alike, so
    ``/a/photos`` and ``/b/photos`` stay two sources. The same folder given twice is an error."""
    resolved = [root.resolve() for root in roots]
    for index, path in enumerate(resolved):
        if path in resolved[:index]:
            raise UsageError(f"--dataset {roots[index]}: the same folder is given twice")
    names = [root.name for root in resolved]
    labels = [f"{root.parent.name}/{name}" if names.count(name) > 1 else name for root, name in zip(resolved, names)]
    return [f"{label}#{index + 1}" if labels.count(label) > 1 else label for index, label in enumerate(labels)]


def source_name(label: str, relative: Path) -> str:
    """The source a photo belongs to: its dataset folder's label and the top-level subfolder it is in."""
    return f"{label}/{relative.parts[0]}" if len(relative.parts) > 1 else label


def shares(counts: dict[str, int], folder_of: dict[str, int], folder_weights: list[float | None],
           balance: str) -> dict[str, float]:
    """Each source's share of the steps (summing to 1) from its usable photo count.

    ``folder_of`` maps a source to the index of its dataset folder in ``folder_weights``."""
    if balance not in BALANCE_EXPONENTS:
        raise UsageError(f"--balance {balance}: use one of {', '.join(BALANCE_EXPONENTS)}")
    exponent = BALANCE_EXPONENTS[balance]
    mass = {name: float(n) ** exponent for name, n in counts.items() if n > 0}
    if not mass:
        return {}
    if folder_weights and folder_weights[0] is not None:
        present = {folder_of[name] for name in mass}
        total = sum(folder_weights[index] for index in present)
        result = {}
        for index in present:
            members = [name for name in mass if folder_of[name] == index]
            inside = sum(mass[name] for name in members)
            for name in members:
                result[name] = folder_weights[index] / total * mass[name] / inside
        return result
    total = sum(mass.values())
    return {name: m / total for name, m in mass.items()}


def quotas(source_shares: list[float], epoch_size: int) -> np.ndarray:
    """Samples per source in an epoch of ``epoch_size``: the shares rounded by largest remainder, so the
    mix is exact and the total is ``epoch_size``."""
    raw = np.asarray(source_shares, dtype=np.float64) * epoch_size
    counts = np.floor(raw).astype(np.int64)
    short = epoch_size - int(counts.sum())
    if short > 0:
        counts[np.argsort(-(raw - counts), kind="stable")[:short]] += 1
    return counts
