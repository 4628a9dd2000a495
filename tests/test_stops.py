"""Every way a colorize run ends is clean: SIGTERM, a killed parent, a full disk (real processes, real files)."""

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import gradient_gray
from test_colorize import _big_tree, _start_cli, report_of

from colorcli.io.images import read_image


def _descendants(pid: int) -> set[int]:
    """Every live process below `pid` (workers, multiprocessing's resource tracker)."""
    found, stack = set(), [pid]
    while stack:
        parent = stack.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    stack.append(child)
    return found


def _alive(pids) -> list[int]:
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":  # a zombie has ended; only its parent's wait is missing
            alive.append(pid)
    return alive


def _wait_until_gone(pids, seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while _alive(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _alive(pids)


def _start_and_wait_for_outputs(args, out: Path, count: int = 2):
    """Start a colorize run; return it and its processes once `count` outputs exist and workers run."""
    process = _start_cli(args)
    deadline = time.monotonic() + 60
    processes: set[int] = set()
    while time.monotonic() < deadline and len(list(out.glob("scan*.png"))) < count:
        processes |= _descendants(process.pid)
        time.sleep(0.05)
    processes |= _descendants(process.pid)
    assert len(list(out.glob("scan*.png"))) >= count, "the run produced nothing to stop"
    assert len(processes) >= 3, f"expected 2 workers and the resource tracker, found {processes}"
    return process, processes


@pytest.mark.parametrize("stop, code, said", [(signal.SIGTERM, 143, "interrupted (SIGTERM):"),
                                               (signal.SIGINT, 130, "interrupted:")])
def test_sigterm_and_ctrl_c_stop_cleanly_and_a_rerun_continues(tmp_path, tiny_model_path, stop, code, said):
    _big_tree(tmp_path / "in", count=30, side=1000)
    out = tmp_path / "out"
    process, processes = _start_and_wait_for_outputs(
        ["colorize", tmp_path / "in", "--out", out, "--model", tiny_model_path, "--workers", 2], out)
    process.send_signal(stop)
    stopped = time.monotonic()
    _, stderr = process.communicate(timeout=30)
    assert time.monotonic() - stopped < 10
    assert process.returncode == code, stderr
    assert said in stderr and "Traceback" not in stderr
    assert _wait_until_gone(processes, 3.0) == [], "a process of the run outlived it"

    written = sorted(out.glob("scan*.png"))
    assert 0 < len(written) < 30
    for path in written:
        assert read_image(path).pixels.shape == (1000, 1000, 3)
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temp files left behind"
    report = report_of(out)
    assert report["interrupted"] is True and report["stopped_by"] == stop.name
    assert sorted(r["output"] for r in report["files"] if r["status"] == "ok") == [p.name for p in written]

    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in written}
    rerun = _start_cli(["colorize", tmp_path / "in", "--out", out, "--model", tiny_model_path, "--quiet"])
    processes = set()
    while rerun.poll() is None:
        processes |= _descendants(rerun.pid)
        time.sleep(0.05)
    _, stderr = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, stderr
    assert processes and _wait_until_gone(processes, 3.0) == [], "a process of the run outlived its normal end"
    assert len(list(out.glob("scan*.png"))) == 30
    assert {name: (out / name).stat().st_ino for name in before} == {n: v[0] for n, v in before.items()}
    assert {name: (out / name).stat().st_mtime_ns for name in before} == {n: v[1] for n, v in before.items()}
    summary = report_of(out)["summary"]
    assert summary["skipped"] == len(written) and summary["ok"] == 30 - len(written)


def test_workers_end_within_seconds_of_a_sigkill_of_the_parent(tmp_path, tiny_model_path):
    _big_tree(tmp_path / "in", count=20, side=1000)
    out = tmp_path / "out"
    # --size 256: each request to the parent (256² float32) is larger than a pipe holds, as with real models
    process, processes = _start_and_wait_for_outputs(
        ["colorize", tmp_path / "in", "--out", out, "--model", tiny_model_path, "--workers", 2, "--size", 256], out)
    # killed while busy (as the OOM killer finds it, in the middle of inference): its workers' requests
    # stay unread in a full pipe, which is what used to keep a worker alive for ever
    process.send_signal(signal.SIGSTOP)
    time.sleep(1.0)
    killed = time.monotonic()
    process.kill()
    process.wait(timeout=10)  # not communicate(): a surviving worker holds the output pipes open
    assert _wait_until_gone(processes, 5.0) == [], "a worker outlived its killed parent by 5 s"
    print(f"every process of the run gone {time.monotonic() - killed:.2f} s after SIGKILL")
    process.communicate(timeout=10)
    for path in out.glob("scan*.png"):  # what is under a final name is whole
        assert read_image(path).pixels.shape == (1000, 1000, 3)
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temp files left behind"


# --- a full disk -------------------------------------------------------------------------------------------
# A real ENOSPC needs a small file system: a tmpfs mounted in a private mount namespace (`unshare`: root,
# or an unprivileged user namespace). RLIMIT_FSIZE is no substitute: it raises EFBIG (and SIGXFSZ), not
# ENOSPC, and it fails a write at a size, not where a disk runs out.

_ON_TMPFS = r'''
set -u
size=$1; out=$2; copy=$3; full=$4; shift 4
mount -t tmpfs -o size="$size" tmpfs "$out" || exit 99
if [ "$full" != - ]; then  # a folder on a tmpfs that is full from the start
    mount -t tmpfs -o size=64k tmpfs "$full" && cat /dev/zero > "$full/filler" 2>/dev/null
fi
"$@"
code=$?
cp -a "$out/." "$copy/"
exit $code
'''


def _run_on_small_tmpfs(size: str, out: Path, copy: Path, args, full: Path | None = None) -> subprocess.CompletedProcess:
    '''Run `colorcli ARGS` with `out` a tmpfs of `size` (and `full` a full one); what it left in `out` is
    copied to `copy`.'''
    for folder in (out, copy, full):
        if folder:
            folder.mkdir()
    command = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", _ON_TMPFS, "sh", size, str(out),
               str(copy), str(full or "-"), sys.executable, "-m", "colorcli", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def can_mount_tmpfs(tmp_path_factory):
    if shutil.which("unshare") is None:
        pytest.skip("no unshare here: a real full disk (a small tmpfs) cannot be made")
    probe = tmp_path_factory.mktemp("probe")
    run = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
                          f"mount -t tmpfs -o size=1m tmpfs {probe}"], capture_output=True, text=True)
    if run.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs user namespaces or root): {run.stderr.strip()}")


def _jpeg_tree(root: Path, count: int, side: int) -> None:
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    base = gradient_gray(side, side).astype(np.int16)
    for i in range(count):  # grain, so JPEGs are not tiny
        grey = np.clip(np.roll(base, i, axis=1) + rng.integers(-20, 20, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(grey).save(root / f"scan{i:03d}.jpg", quality=90)


@pytest.mark.parametrize("size", ["1m", "2500k"])
def test_a_full_disk_stops_the_run_and_leaves_no_broken_file(tmp_path, tiny_model_path, can_mount_tmpfs, size):
    _jpeg_tree(tmp_path / "in", count=40, side=600)
    out, copy = tmp_path / "out", tmp_path / "copy"
    run = _run_on_small_tmpfs(size, out, copy, ["colorize", tmp_path / "in", "--out", out, "--model",
                                                tiny_model_path, "--workers", 2, "--quiet"])
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("colorcli: error:")]
    assert len(errors) == 1 and f"no space left on device in {out}" in errors[0], run.stderr

    outputs = sorted(copy.glob("scan*.jpg"))
    assert 0 < len(outputs) < 40, "the disk should fill in the middle of the run"
    for path in outputs:  # every output there decodes whole, at its full size
        assert read_image(path).pixels.shape == (600, 600, 3), path.name
    assert not [p for p in copy.iterdir() if p.name.startswith(".")], "temp files left behind"
    if (copy / "colorcli-report.json").exists():
        records = report_of(copy)["files"]
        assert sorted(r["output"] for r in records if r["status"] == "ok") == [p.name for p in outputs]
        failed = [r for r in records if r["status"] == "failed"]
        # the first full disk stops the run: only the files in hand fail, not every file after them
        assert 1 <= len(failed) <= 4 and all(r["reason"] == "no space left on device" for r in failed)
        assert len(records) < 40
    else:
        assert "the report" in errors[0] and "could not be written" in errors[0]


def test_a_report_that_does_not_fit_is_said_in_the_one_line(tmp_path, tiny_model_path, can_mount_tmpfs):
    _jpeg_tree(tmp_path / "in", count=40, side=600)
    out, copy, full = tmp_path / "out", tmp_path / "copy", tmp_path / "full"
    run = _run_on_small_tmpfs("1m", out, copy, ["colorize", tmp_path / "in", "--out", out, "--model",
                                                tiny_model_path, "--workers", 2, "--quiet",
                                                "--report", full / "report.json"], full=full)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("colorcli: error:")]
    assert len(errors) == 1, run.stderr
    assert f"no space left on device in {out}" in errors[0]
    assert f"the report {full / 'report.json'} could not be written" in errors[0]
    assert "no report written" in run.stderr
    for path in copy.glob("scan*.jpg"):
        assert read_image(path).pixels.shape == (600, 600, 3), path.name
    assert not [p for p in copy.iterdir() if p.name.startswith(".")]


def test_a_worker_killed_while_sending_does_not_block_the_others(tmp_path, tiny_model_path):
    """A worker killed outright in the middle of a message (here: its inference request, 1 MB, which fills
    the pipe until the parent reads) must not stop another worker from being heard. With one queue shared
    by all workers, the dead worker kept the queue's lock and the run waited for ever."""
    import os
    from multiprocessing import connection

    from colorcli.batch import pipeline
    from colorcli.models.runtime import Colorizer

    colorizer = Colorizer.load(str(tiny_model_path), provider="cpu", size=512)
    scans = []
    for name in ("a.png", "b.png"):
        Image.fromarray(gradient_gray(600, 600)).save(tmp_path / name)
        scans.append(pipeline.Job(src=tmp_path / name, rel=Path(name), dst=tmp_path / "out" / name))
    pool = pipeline._Pool(2, pipeline.Options(out=tmp_path / "out"))
    try:
        first, second = sorted(pool.workers)
        pool.tell_model(colorizer.size, pipeline._provenance(colorizer))
        pool.give(first, 0, (scans[0], None))
        inbox = next(conn for conn, owner in pool.inbox.items() if owner == first)
        assert connection.wait([inbox], 60), "the first worker never sent its request"
        time.sleep(0.3)  # it is now blocked half-way through its 1 MB request
        os.kill(pool.workers[first][0].pid, signal.SIGKILL)
        pool.workers[first][0].join(10)
        finished = []
        pool.give(second, 1, (scans[1], None))
        deadline = time.monotonic() + 60
        while not finished and time.monotonic() < deadline:
            pipeline._exchange(pool, colorizer, 8, finished.append, 0.05)
        assert [r["status"] for r in finished] == ["ok"] and finished[0]["input"] == str(scans[1].src)
        assert read_image(scans[1].dst).pixels.shape == (600, 600, 3)
        assert pool.dead() == [first]
    finally:
        pool.close(grace=0.0)


def test_workers_read_their_first_files_while_the_model_loads_and_a_failed_load_leaves_nothing(
        tmp_path, tiny_model_path, monkeypatch):
    """Files are handed out before the model is loaded (a worker reads and decides its first file
    meanwhile); if the load then fails, the run ends at once with no output and no temp file left."""
    from colorcli.batch import pipeline
    from colorcli.errors import ModelError
    from colorcli.models.runtime import Colorizer

    jobs = []
    for i in range(4):
        Image.fromarray(gradient_gray(200, 300)).save(tmp_path / f"{i}.png")
        jobs.append(pipeline.Job(src=tmp_path / f"{i}.png", rel=Path(f"{i}.png"), dst=tmp_path / "out" / f"{i}.png"))
    events = []
    give = pipeline._Pool.give
    monkeypatch.setattr(pipeline._Pool, "give", lambda self, *a: events.append("give") or give(self, *a))

    def load():
        events.append("load")
        return Colorizer.load(str(tiny_model_path), provider="cpu")

    outcome = pipeline.run(jobs, load, pipeline.Options(out=tmp_path / "out", workers=2))
    assert events[:2] == ["give", "give"] and events.index("load") >= 2  # each worker had a file first
    assert [r["status"] for r in outcome.records] == ["ok"] * 4

    def fails():
        time.sleep(0.5)  # long enough for the workers to be waiting for the model
        raise ModelError("no such model")

    started = time.monotonic()
    with pytest.raises(ModelError):
        pipeline.run(jobs, fails, pipeline.Options(out=tmp_path / "out2", workers=2))
    assert time.monotonic() - started < 10
    assert not (tmp_path / "out2").exists() or not any((tmp_path / "out2").rglob("*"))
