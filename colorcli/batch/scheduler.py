"""`--shard auto`: which part of the work this process is, read from the batch scheduler's environment.

SLURM job arrays export the task's id and the array's bounds; a Kubernetes Indexed Job exports only the
pod's completion index (0-based), not the number of completions, so that one is given as `auto/N`.
"""

from __future__ import annotations

import os
from typing import Mapping

from colorcli.errors import UsageError


def _int(environ: Mapping[str, str], name: str) -> int:
    try:
        return int(environ[name])
    except KeyError:
        raise UsageError(f"--shard auto: {name} is not set") from None
    except ValueError:
        raise UsageError(f"--shard auto: {name}={environ[name]!r} is not a whole number") from None


def _slurm(environ: Mapping[str, str], count: int | None) -> tuple[int, int]:
    task, first = _int(environ, "SLURM_ARRAY_TASK_ID"), _int(environ, "SLURM_ARRAY_TASK_MIN")
    total = _int(environ, "SLURM_ARRAY_TASK_COUNT")
    last = _int(environ, "SLURM_ARRAY_TASK_MAX") if "SLURM_ARRAY_TASK_MAX" in environ else first + total - 1
    if last - first + 1 != total:  # --array=1-9:2 or --array=1,5,7: ids are not 1..N after the shift
        raise UsageError(f"--shard auto: the SLURM array {first}-{last} has {total} tasks; it must be "
                         f"a plain range such as --array=0-{total - 1} (no step, no list)")
    if count is not None and count != total:
        raise UsageError(f"--shard auto/{count}: the SLURM array has {total} tasks")
    return task - first + 1, total


def _kubernetes(environ: Mapping[str, str], count: int | None) -> tuple[int, int]:
    index = _int(environ, "JOB_COMPLETION_INDEX")
    if count is None:
        raise UsageError("--shard auto: Kubernetes does not export the number of completions; "
                         "use --shard auto/N with N the Job's spec.completions")
    if not 0 <= index < count:
        raise UsageError(f"--shard auto/{count}: JOB_COMPLETION_INDEX={index} is not in 0..{count - 1}")
    return index + 1, count


def shard_from_environment(count: int | None = None, environ: Mapping[str, str] | None = None) -> tuple[int, int]:
    """(K, N), 1-based, of this array task; `count` is N when the scheduler does not export it."""
    environ = os.environ if environ is None else environ
    if "SLURM_ARRAY_TASK_ID" in environ:
        return _slurm(environ, count)
    if "JOB_COMPLETION_INDEX" in environ:
        return _kubernetes(environ, count)
    raise UsageError("--shard auto: no job array found (neither SLURM_ARRAY_TASK_ID nor JOB_COMPLETION_INDEX "
                     "is set); give --shard K/N")
