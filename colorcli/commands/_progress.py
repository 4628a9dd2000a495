"""What colorize shows a person: a rich progress bar on a terminal, plain lines otherwise, a summary."""

from __future__ import annotations

import signal
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress
from rich.table import Table
from rich.text import Text

from colorcli.io.walk import printable_name

STATUSES = ("ok", "skipped", "failed")


def counts(records: list[dict]) -> dict:
    totals = {status: 0 for status in STATUSES}
    for record in records:
        totals[record["status"]] += 1
    totals["total"] = len(records)
    totals["megapixels"] = round(sum(r.get("megapixels", 0.0) for r in records if r["status"] == "ok"), 3)
    return totals


def metric_summary(records: list[dict]) -> dict | None:
    scored = [r["metrics"] for r in records if r.get("metrics")]
    if not scored:
        return None
    from colorcli.scoring.metrics import summarize

    return summarize(scored)


class Progress:
    """Receives one record per file (from the pipeline's callback) and keeps the person informed."""

    def __init__(self, total: int, quiet: bool = False):
        self.total, self.quiet = total, quiet
        self.err = Console(stderr=True, highlight=False)
        self.out = Console(highlight=False)
        self.counts = {status: 0 for status in STATUSES}
        self.megapixels = 0.0
        self.started = time.monotonic()
        self.bar = None
        if not quiet and self.err.is_terminal:
            self.bar = RichProgress(
                TextColumn("[bold]colorize"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
                TextColumn("[green]{task.fields[ok]} ok[/] [yellow]{task.fields[skipped]} skipped[/] "
                           "[red]{task.fields[failed]} failed[/]"),
                console=self.err, transient=False)
            self.task = self.bar.add_task("colorize", total=total, rate="", ok=0, skipped=0, failed=0)

    def __enter__(self):
        if self.bar:
            self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        if self.bar:
            self.bar.__exit__(*exc)

    def say(self, message: str) -> None:
        if not self.quiet:
            self.err.print(message)

    def add(self, record: dict) -> None:
        status = record["status"]
        self.counts[status] += 1
        if status == "ok":
            self.megapixels += record.get("megapixels", 0.0)
        done = sum(self.counts.values())
        rate = self.megapixels / max(time.monotonic() - self.started, 1e-6)
        if status == "failed":
            self.err.print(Text(f"failed: {printable_name(record['input'])}: {record['reason']}", style="red"))
        elif not self.quiet and not self.bar:
            note = record.get("reason") or (record.get("tone") if status == "ok" else None)
            reason = f" ({note})" if note and note != "grey" else ""
            self.err.print(f"[{done}/{self.total}] {status}: {printable_name(record['input'])}{reason}", markup=False)
        if self.bar:
            self.bar.update(self.task, completed=done, rate=f"{rate:.1f} MP/s", **self.counts)

    def summary(self, records: list[dict], outcome, report_path) -> None:
        totals = counts(records)
        elapsed = max(outcome.seconds, 1e-6)
        line = (f"{totals['ok']} ok, {totals['skipped']} skipped, {totals['failed']} failed "
                f"in {outcome.seconds:.1f} s ({totals['megapixels'] / elapsed:.1f} MP/s); "
                + (f"report: {report_path}" if report_path else "no report written"))
        if outcome.interrupted:
            by = " (SIGTERM)" if outcome.signal == signal.SIGTERM else ""
            line = f"interrupted{by}: " + line + " — run the same command again to continue"
        elif outcome.disk_full is not None:
            line = "stopped, disk full: " + line
        if self.quiet:
            self.err.print(line, markup=False, soft_wrap=True)
            return
        table = Table(title="colorize summary", show_header=True)
        table.add_column("status")
        table.add_column("files", justify="right")
        for status in STATUSES:
            table.add_row(status, str(totals[status]))
        table.add_row("megapixels written", f"{totals['megapixels']:.1f}")
        reasons: dict[str, int] = {}
        for record in records:
            if record["status"] == "skipped":
                key = f"skipped: {record['reason'].split(':')[0]}"  # "colour photograph: 3 hue clusters"
            elif record["status"] == "ok" and str(record.get("tone", "")).startswith("toned"):
                key = "ok: toned monochrome"
            else:
                continue
            reasons[key] = reasons.get(key, 0) + 1
        for reason, count in sorted(reasons.items()):
            table.add_row(f"  {reason}", str(count))
        metrics = metric_summary(records)
        if metrics:
            for key, value in metrics.items():
                if isinstance(value, dict):
                    table.add_row(f"{key} (mean / median, n={metrics['n']})",
                                  f"{value['mean']:.3f} / {value['median']:.3f}")
        self.err.print(table)
        self.err.print(line, markup=False, soft_wrap=True)
