"""Merging the reports of one output folder: every shard (and every rerun) of a job into one account.

A shard's report lists the files it planned: ok, skipped or failed. What no report lists is missing
(a shard never ran, or stopped before it got there); it is found by planning the recorded inputs again.
"""

from __future__ import annotations

import json
from pathlib import Path

from colorcli.errors import DataError, UsageError

REPORT_PATTERN = "colorcli-report*.json"  # colorcli-report.json and colorcli-report-shard-K-of-N.json


def find_reports(out: Path) -> list[Path]:
    """Every colorize report under `out` (temp files of an unfinished write start with a dot: not matched)."""
    return sorted(out.rglob(REPORT_PATTERN))


def load(path: Path) -> dict:
    """One colorize report; DataError naming the file if it is not one."""
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(f"{path}: not a readable colorcli report ({error})") from None
    if not isinstance(report, dict) or not isinstance(report.get("files"), list):
        raise DataError(f"{path}: not a colorcli report (no list of files)")
    return report


def _planned_outputs(out: Path, reports: list[dict]) -> tuple[set[str] | None, str | None]:
    """Outputs that the recorded inputs plan for the whole job (all shards), or None and why not."""
    from colorcli.batch.pipeline import Options, plan_jobs

    if not all("inputs" in r for r in reports):
        return None, "a report does not name its inputs (written by an older colorcli)"
    planned: set[str] = set()
    for inputs, fmt in {(tuple(r["inputs"]), r.get("options", {}).get("format", "keep")) for r in reports}:
        try:
            jobs, conflicts = plan_jobs([Path(p) for p in inputs], Options(out=out, fmt=fmt))
        except UsageError as error:  # an input no longer there
            return None, str(error)
        planned.update(job.rel.as_posix() for job in jobs)
        planned.update(record["output"] for record in conflicts)
    return planned, None


def merge(out: Path) -> dict:
    """One account of every report under `out`: totals by file, failed files with their reasons, files
    colorized by more than one report, and files no report lists."""
    paths = find_reports(out)
    if not paths:
        raise UsageError(f"{out}: no colorcli report found under it")
    reports = [load(path) for path in paths]
    by_output: dict[str, list[tuple[str, dict]]] = {}
    for path, report in zip(paths, reports):
        name = path.relative_to(out).as_posix()
        for record in report["files"]:
            by_output.setdefault(record["output"], []).append((name, record))

    failed, twice = [], []
    totals = {"files": len(by_output), "ok": 0, "skipped": 0, "failed": 0}
    for output, entries in sorted(by_output.items()):
        statuses = [record["status"] for _, record in entries]
        status = "ok" if "ok" in statuses else "skipped" if "skipped" in statuses else "failed"
        totals[status] += 1
        if status == "failed":
            name, record = entries[-1]
            failed.append({"input": record["input"], "output": output, "reason": record["reason"], "report": name})
        done = [name for name, record in entries if record["status"] == "ok"]
        if len(done) > 1:
            twice.append({"output": output, "reports": done})
    planned, unknown = _planned_outputs(out, reports)
    missing = None if planned is None else sorted(planned - set(by_output))
    totals["done_twice"] = len(twice)
    totals["missing"] = None if missing is None else len(missing)
    return {
        "out": str(out),
        "reports": [{"path": path.relative_to(out).as_posix(), "shard": report.get("options", {}).get("shard"),
                     "interrupted": report.get("interrupted", False), "stopped_by": report.get("stopped_by"),
                     "summary": report.get("summary")} for path, report in zip(paths, reports)],
        "totals": totals,
        "failed": failed,
        "done_twice": twice,
        "missing": missing,
        "missing_unknown": unknown,
    }
