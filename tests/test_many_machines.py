"""Job arrays: --shard auto from SLURM and Kubernetes, per-shard reports, `colorcli report`, and the sbatch
script and Kubernetes manifest of docs/many-machines.md run as written."""

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from colorcli.cli import cli
from colorcli.errors import UsageError
from colorcli.batch.pipeline import Options, plan_jobs
from colorcli.batch.scheduler import shard_from_environment
from test_colorize import _grey_tree

PAGE = Path(__file__).resolve().parents[1] / "docs" / "many-machines.md"


def _section(title: str) -> str:
    text = PAGE.read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def _block(section: str, language: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", section, re.S)
    assert len(blocks) == 1, f"expected one {language} block in the section"
    return blocks[0]


@pytest.fixture
def colorcli_on_path(tmp_path):
    """A `colorcli` command for the page's lines: this checkout's package, run by this interpreter."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "colorcli"
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} -m colorcli \"$@\"\n")
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "JOB_COMPLETION"))}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")])
    return env


def _report_command(out: Path, *extra) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["report", str(out), *extra], catch_exceptions=False)
    return result.exit_code, result.output


def _shard_reports(out: Path) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted(out.glob("colorcli-report*.json"))}


def _outputs_of(report: dict) -> set[str]:
    return {r["output"] for r in report["files"] if r["status"] == "ok"}


def test_the_docs_sbatch_script_splits_the_input_exactly_and_report_merges_it(tmp_path, colorcli_on_path):
    script = _block(_section("SLURM job arrays"), "bash")
    array = re.search(r"^#SBATCH --array=(\d+)-(\d+)$", script, re.M)
    first, last = int(array.group(1)), int(array.group(2))
    assert "--shard auto" in script
    scans, color = tmp_path / "scans", tmp_path / "color"
    _grey_tree(scans, count=12)
    (tmp_path / "colorize.sbatch").write_text(script)
    for task in range(first, last + 1):  # what SLURM exports to each task of the array
        env = {**colorcli_on_path, "SCANS": str(scans), "COLOR": str(color), "SLURM_ARRAY_TASK_ID": str(task),
               "SLURM_ARRAY_TASK_MIN": str(first), "SLURM_ARRAY_TASK_MAX": str(last),
               "SLURM_ARRAY_TASK_COUNT": str(last - first + 1), "SLURM_CPUS_PER_TASK": "1"}
        run = subprocess.run(["bash", str(tmp_path / "colorize.sbatch")], env=env, capture_output=True, text=True,
                             timeout=300)
        assert run.returncode == 0, run.stderr
    count = last - first + 1
    reports = _shard_reports(color)
    assert sorted(reports) == sorted(f"colorcli-report-shard-{k}-of-{count}.json" for k in range(1, count + 1))
    parts = [_outputs_of(report) for report in reports.values()]
    everything = {p.relative_to(scans).as_posix() for p in scans.rglob("*.png")}
    assert sum(len(p) for p in parts) == len(everything) == 12 and set().union(*parts) == everything
    assert sum(bool(p) for p in parts) >= 2, "12 files over the shards: more than one shard gets work"
    assert {r["options"]["shard"] for r in reports.values()} == {f"{k}/{count}" for k in range(1, count + 1)}

    code, output = _report_command(color)
    assert code == 0, output
    assert "12 files: 12 ok, 0 skipped, 0 failed; missing: 0; done twice: 0" in output
    code, output = _report_command(color, "--json")
    merged = json.loads(output)
    assert code == 0 and merged["totals"]["ok"] == 12 and merged["missing"] == [] and merged["done_twice"] == []
    assert len(merged["reports"]) == count


def test_the_docs_kubernetes_job_splits_the_input_exactly(tmp_path, colorcli_on_path):
    manifest = _block(_section("Kubernetes Indexed Jobs"), "yaml")
    completions = int(re.search(r"^\s*completions: (\d+)$", manifest, re.M).group(1))
    mount = re.search(r"mountPath: (/\S+?)\}", manifest).group(1)
    command = json.loads(re.search(r"^\s*command: (\[.*\])$", manifest, re.M).group(1))
    assert f"auto/{completions}" in command, "N in --shard auto/N must be the Job's completions"
    # the volume the manifest mounts is a folder here
    archive = tmp_path / "archive"
    command = [arg.replace(mount, str(archive), 1) if arg.startswith(mount) else arg for arg in command]
    _grey_tree(archive / "scans", count=10)
    for index in range(completions):  # what the Job controller sets in each pod
        env = {**colorcli_on_path, "JOB_COMPLETION_INDEX": str(index)}
        run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
    reports = _shard_reports(archive / "color")
    assert len(reports) == completions
    parts = [_outputs_of(report) for report in reports.values()]
    assert sum(len(p) for p in parts) == len(set().union(*parts)) == 10
    assert _report_command(archive / "color")[0] == 0


def test_report_names_failed_missing_and_twice_done_files(tmp_path, tiny_model_path):
    scans, color = tmp_path / "scans", tmp_path / "color"
    _grey_tree(scans, count=11)
    (scans / "broken.png").write_bytes(b"not a png")
    everything = {p.relative_to(scans).as_posix() for p in scans.rglob("*.png")}
    base = ["colorize", str(scans), "--out", str(color), "--model", str(tiny_model_path), "--quiet"]
    runner = CliRunner()
    for shard in ("1/3", "2/3"):  # shard 3 of 3 never runs
        runner.invoke(cli, base + ["--shard", shard])
    reports = _shard_reports(color)
    listed = {r["output"] for report in reports.values() for r in report["files"]}
    shard_three = {job.rel.as_posix() for job in plan_jobs([scans], Options(out=color), (3, 3))[0]}
    assert shard_three and listed == everything - shard_three

    merged = json.loads(_report_command(color, "--json")[1])
    assert merged["missing"] == sorted(shard_three)
    code, output = _report_command(color)
    assert code == 1 and all(f"missing: {name}" in output for name in shard_three)
    assert [f["output"] for f in merged["failed"]] == (["broken.png"] if "broken.png" in listed else [])
    if "broken.png" in listed:
        assert "failed: " in output and "broken.png" in output

    # shards started again with another N redo files the first shards did
    runner.invoke(cli, base + ["--shard", "1/2", "--overwrite"])
    done_before = {r["output"] for report in reports.values() for r in report["files"] if r["status"] == "ok"}
    again = _outputs_of(_shard_reports(color)["colorcli-report-shard-1-of-2.json"])
    merged = json.loads(_report_command(color, "--json")[1])
    assert {d["output"] for d in merged["done_twice"]} == done_before & again != set()
    assert merged["missing"] == sorted(shard_three - again)
    assert merged["totals"]["ok"] == len(done_before | again)


def test_report_of_a_folder_without_reports_or_inputs_is_one_line(tmp_path, tiny_model_path):
    code, output = _report_command(tmp_path)
    assert code == 2 and "no colorcli report found" in output and len(output.strip().splitlines()) == 1
    _grey_tree(tmp_path / "in", count=2)
    CliRunner().invoke(cli, ["colorize", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--model",
                             str(tiny_model_path), "--quiet"])
    shutil.rmtree(tmp_path / "in")  # nothing failed; what is missing cannot be known any more
    code, output = _report_command(tmp_path / "out")
    assert code == 0 and "2 files: 2 ok" in output and "missing: unknown (input not found" in output
    (tmp_path / "out" / "colorcli-report.json").write_text("{not json")
    code, output = _report_command(tmp_path / "out")
    assert code == 1 and "not a readable colorcli report" in output and len(output.strip().splitlines()) == 1


@pytest.mark.parametrize("environ, count, expected", [
    ({"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_COUNT": "4"}, None, (1, 4)),
    ({"SLURM_ARRAY_TASK_ID": "7", "SLURM_ARRAY_TASK_MIN": "5", "SLURM_ARRAY_TASK_MAX": "8",
      "SLURM_ARRAY_TASK_COUNT": "4"}, None, (3, 4)),
    ({"JOB_COMPLETION_INDEX": "2"}, 3, (3, 3)),
])
def test_shard_from_the_scheduler(environ, count, expected):
    assert shard_from_environment(count, environ) == expected


@pytest.mark.parametrize("environ, count, message", [
    ({}, None, "no job array found"),
    ({"JOB_COMPLETION_INDEX": "0"}, None, "use --shard auto/N"),
    ({"JOB_COMPLETION_INDEX": "4"}, 4, "not in 0..3"),
    ({"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "9",
      "SLURM_ARRAY_TASK_COUNT": "5"}, None, "plain range"),
    ({"SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "5"}, None, "whole number"),
])
def test_shard_auto_errors_are_one_line(environ, count, message):
    with pytest.raises(UsageError, match=message) as error:
        shard_from_environment(count, environ)
    assert "\n" not in str(error.value)


def test_shard_auto_without_a_scheduler_is_a_usage_error(tmp_path, tiny_model_path, monkeypatch):
    for name in [n for n in os.environ if n.startswith(("SLURM_", "JOB_COMPLETION"))]:
        monkeypatch.delenv(name)
    _grey_tree(tmp_path / "in", count=1)
    result = CliRunner().invoke(cli, ["colorize", str(tmp_path / "in"), "--out", str(tmp_path / "out"),
                                      "--model", str(tiny_model_path), "--shard", "auto"])
    assert result.exit_code == 2 and "no job array found" in result.output
    assert len(result.output.strip().splitlines()) == 1
