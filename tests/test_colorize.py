"""colorize end to end: the CLI (CliRunner and real subprocesses), the walker, shards, resume, failures."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from colorcli.batch import pipeline
from colorcli.cli import cli
from colorcli.io.images import read_image
from colorcli.io.orientation import to_upright
from colorcli.models.runtime import Colorizer
from conftest import gradient_gray
from test_imageio import make_scans


def run_cli(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.output


def report_of(out: Path) -> dict:
    return json.loads((out / "colorcli-report.json").read_text())


def test_every_mode_colorized_with_size_depth_alpha_kept(tmp_path, tiny_model_path):
    scans = tmp_path / "scans"
    make_scans(scans / "sub")
    out = tmp_path / "out"
    code, output = run_cli("colorize", scans, "--out", out, "--model", tiny_model_path, "--workers", 2)
    assert code == 0, output
    report = report_of(out)
    assert report["summary"]["failed"] == 0 and report["summary"]["ok"] == len(list((scans / "sub").iterdir()))
    for src in (scans / "sub").iterdir():
        dst = out / "sub" / (src.stem + (".png" if src.suffix == ".gif" else src.suffix))
        before, after = read_image(src), read_image(dst)
        assert after.pixels.shape[:2] == before.pixels.shape[:2], src.name
        assert after.pixels.ndim == 3 and after.pixels.dtype == before.pixels.dtype, src.name
        assert (after.alpha is None) == (before.alpha is None), src.name
        if before.alpha is not None:
            assert np.array_equal(after.alpha, before.alpha), src.name
        # the tiny model's chroma is real colour, and the grey levels are the input's own
        assert np.ptp(after.pixels.astype(int), axis=2).mean() > 2, src.name
    assert read_image(out / "sub" / "grey16.png").pixels.dtype == np.uint16


def test_output_keeps_L_of_the_input(tmp_path, tiny_model_path):
    src = tmp_path / "in" / "g.png"
    src.parent.mkdir()
    Image.fromarray(gradient_gray(120, 160)).save(src)
    code, _ = run_cli("colorize", src.parent, "--out", tmp_path / "out", "--model", tiny_model_path)
    assert code == 0
    from skimage.color import rgb2lab

    out = read_image(tmp_path / "out" / "g.png").pixels
    L_in = rgb2lab(np.repeat(gradient_gray(120, 160)[..., None], 3, axis=2) / 255.0)[..., 0]
    L_out = rgb2lab(out / 255.0)[..., 0]
    # the test model's chroma (about 50) leaves the sRGB gamut in shadows and highlights, where
    # clipping moves L; in the mid-tones L must be the input's own
    mid = (L_in > 30) & (L_in < 60)
    assert mid.sum() > 4000 and np.abs(L_in - L_out)[mid].mean() < 1.0


def test_exif_orientation_kept_and_model_sees_the_picture_upright(tmp_path, tiny_model_path):
    grey = gradient_gray(64, 96)
    colorizer = Colorizer.load(str(tiny_model_path), provider="cpu", size=64)
    stored = np.ascontiguousarray(np.rot90(grey, k=1))  # a viewer turns it back with orientation 6
    upright_result = colorizer.colorize(grey)
    stored_result = colorizer.colorize(stored, orientation=6)
    difference = np.abs(to_upright(stored_result, 6).astype(int) - upright_result)
    assert difference.mean() < 0.5 and np.percentile(difference, 99) <= 3  # resampling is not exactly rotation-symmetric
    wrong_way = np.abs(colorizer.colorize(stored).astype(int) - stored_result)
    assert wrong_way.mean() > 5 * max(difference.mean(), 0.1), "orientation must change what the model sees"

    exif = Image.Exif()
    exif[0x0112] = 6
    src = tmp_path / "in" / "turned.jpg"
    src.parent.mkdir()
    Image.fromarray(stored).save(src, exif=exif.tobytes(), quality=95)
    assert run_cli("colorize", src, "--out", tmp_path / "out", "--model", tiny_model_path)[0] == 0
    after = read_image(tmp_path / "out" / "turned.jpg")
    assert after.orientation == 6 and after.pixels.shape[:2] == stored.shape


@pytest.mark.parametrize("name", ["master.tif", "scan.jpg"])
def test_written_output_is_the_in_memory_colorization(tmp_path, tiny_model_path, name, monkeypatch):
    """The worker merges and writes band by band (16-bit TIFF) or as RGBX (JPEG): the file holds what
    Colorizer.colorize gives for the whole picture at once."""
    import tifffile

    from colorcli.look import lab
    from colorcli.io import images

    monkeypatch.setattr(lab, "_BAND_PIXELS", 96 * 7)  # the in-process runs below go through many bands
    monkeypatch.setattr(images, "_TIFF_BAND_BYTES", 96 * 6 * 10)
    grey16 = gradient_gray(70, 96, np.uint16)
    src = tmp_path / "in" / name
    src.parent.mkdir()
    if name.endswith(".tif"):
        tifffile.imwrite(src, grey16, compression="zlib")
    else:
        Image.fromarray((grey16 >> 8).astype(np.uint8)).save(src, quality=95)
    scan = read_image(src)
    expected = Colorizer.load(str(tiny_model_path), provider="cpu").colorize(scan.pixels)
    job = pipeline.Job(src=src, rel=Path(name), dst=tmp_path / "out" / name)
    colorizer = Colorizer.load(str(tiny_model_path), provider="cpu")
    record = pipeline._process(job, None, pipeline.Options(out=tmp_path / "out", provenance=False),
                               lambda small: colorizer.predict_ab(small[None])[0],
                               lambda: (colorizer.size, pipeline._provenance(colorizer)))
    assert record["status"] == "ok"
    written = read_image(job.dst).pixels
    if name.endswith(".tif"):
        assert written.dtype == np.uint16 and np.array_equal(written, expected)
    else:  # a JPEG round trip: compare with the same pixels encoded the usual way
        images.write_image(tmp_path / "whole.jpg", expected, scan)
        assert (tmp_path / "whole.jpg").read_bytes() == job.dst.read_bytes()


def _grey_tree(root: Path, count: int = 6, size=(40, 48)) -> list[Path]:
    paths = []
    for i in range(count):
        path = root / f"d{i % 3}" / f"img{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.roll(gradient_gray(*size), i * 3, axis=1)).save(path)
        paths.append(path)
    return paths


def test_resume_skips_finished_outputs_and_overwrite_redoes_them(tmp_path, tiny_model_path):
    _grey_tree(tmp_path / "in")
    out = tmp_path / "out"
    assert run_cli("colorize", tmp_path / "in", "--out", out, "--model", tiny_model_path)[0] == 0
    first = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    assert len(first) == 6
    (out / "d0" / "img0.png").unlink()  # as if the first run had been interrupted before it
    code, _ = run_cli("colorize", tmp_path / "in", "--out", out, "--model", tiny_model_path)
    summary = report_of(out)["summary"]
    assert code == 0 and summary["ok"] == 1 and summary["skipped"] == 5
    code, _ = run_cli("colorize", tmp_path / "in", "--out", out, "--model", tiny_model_path, "--overwrite")
    assert code == 0 and report_of(out)["summary"]["ok"] == 6


def test_colour_images_are_skipped_unless_included(tmp_path, tiny_model_path):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(gradient_gray()).save(folder / "grey.png")
    colourful = np.zeros((48, 64, 3), np.uint8)
    colourful[..., 0] = np.linspace(0, 255, 64)[None, :].astype(np.uint8)
    colourful[..., 1] = np.linspace(255, 0, 48)[:, None].astype(np.uint8)
    colourful[..., 2] = 90
    Image.fromarray(colourful).save(folder / "colour.png")
    code, _ = run_cli("colorize", folder, "--out", tmp_path / "a", "--model", tiny_model_path)
    records = {Path(r["input"]).name: r for r in report_of(tmp_path / "a")["files"]}
    assert code == 0 and records["colour.png"]["status"] == "skipped" and records["grey.png"]["status"] == "ok"
    assert not (tmp_path / "a" / "colour.png").exists()
    run_cli("colorize", folder, "--out", tmp_path / "b", "--model", tiny_model_path, "--include-color")
    assert (tmp_path / "b" / "colour.png").exists()


def test_bad_files_fail_by_name_without_stopping_the_run(tmp_path, tiny_model_path):
    _grey_tree(tmp_path / "in", count=3)
    (tmp_path / "in" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    (tmp_path / "in" / "empty.png").write_bytes(b"")
    code, output = run_cli("colorize", tmp_path / "in", "--out", tmp_path / "out", "--model", tiny_model_path)
    assert code == 1
    assert "broken.jpg" in output and "empty.png" in output and "Traceback" not in output
    failed = [r for r in report_of(tmp_path / "out")["files"] if r["status"] == "failed"]
    assert sorted(Path(r["input"]).name for r in failed) == ["broken.jpg", "empty.png"]
    assert all(r["reason"] and "\n" not in r["reason"] for r in failed)
    assert next(r["reason"] for r in failed if r["input"].endswith("empty.png")).endswith("empty file (0 bytes)")
    assert len(list((tmp_path / "out").rglob("*.png"))) == 3


def test_shards_are_disjoint_and_cover_everything(tmp_path):
    _grey_tree(tmp_path / "in", count=30, size=(8, 8))
    options = pipeline.Options(out=tmp_path / "out")
    everything = {job.rel for job in pipeline.plan_jobs([tmp_path / "in"], options)[0]}
    parts = [{job.rel for job in pipeline.plan_jobs([tmp_path / "in"], options, (k, 4))[0]} for k in range(1, 5)]
    assert set().union(*parts) == everything and sum(len(p) for p in parts) == len(everything) == 30
    assert all(parts), "every shard gets work on 30 files"
    assert parts == [{job.rel for job in pipeline.plan_jobs([tmp_path / "in"], options, (k, 4))[0]}
                     for k in range(1, 5)], "deterministic"


def test_walker_survives_symlink_loops_and_never_walks_the_output(tmp_path, tiny_model_path):
    _grey_tree(tmp_path / "in", count=3)
    os.symlink(tmp_path / "in", tmp_path / "in" / "d0" / "loop")
    out = tmp_path / "in" / "colorized"
    code, _ = run_cli("colorize", tmp_path / "in", "--out", out, "--model", tiny_model_path)
    assert code == 0 and report_of(out)["summary"]["ok"] == 3
    code, _ = run_cli("colorize", tmp_path / "in", "--out", out, "--model", tiny_model_path)
    assert report_of(out)["summary"]["total"] == 3  # its own outputs are not inputs


def test_two_inputs_never_share_an_output(tmp_path, tiny_model_path):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(gradient_gray()).save(folder / "a.png")
    Image.fromarray(gradient_gray()).save(folder / "a.gif")
    code, output = run_cli("colorize", folder, "--out", tmp_path / "out", "--model", tiny_model_path)
    assert code == 1 and "a.gif" in output
    statuses = sorted((Path(r["input"]).name, r["status"]) for r in report_of(tmp_path / "out")["files"])
    assert statuses == [("a.gif", "failed"), ("a.png", "ok")]


def test_reference_metrics_in_report(tmp_path, tiny_model_path):
    refs, grey = tmp_path / "refs", tmp_path / "grey"
    for i in range(2):
        colour = np.zeros((40, 40, 3), np.uint8)
        colour[..., 0], colour[..., 1], colour[..., 2] = 60 + 40 * i, 120, 200
        (refs / "x").mkdir(parents=True, exist_ok=True)
        Image.fromarray(colour).save(refs / "x" / f"p{i}.jpg")
        (grey / "x").mkdir(parents=True, exist_ok=True)
        Image.fromarray(colour).convert("L").save(grey / "x" / f"p{i}.png")
    code, output = run_cli("colorize", grey, "--out", tmp_path / "out", "--model", tiny_model_path, "--ref", refs)
    assert code == 0, output
    report = report_of(tmp_path / "out")
    for record in report["files"]:
        assert set(record["metrics"]) >= {"psnr", "ssim", "ciede2000", "colorfulness"}
        assert record["reference"].endswith(Path(record["input"]).stem + ".jpg")
    assert report["summary"]["metrics"]["n"] == 2


def test_usage_errors_exit_2_with_one_line(tmp_path, tiny_model_path):
    code, output = run_cli("colorize", tmp_path / "nothing", "--out", tmp_path / "out", "--model", tiny_model_path)
    assert code == 2 and "input not found" in output and "Traceback" not in output
    (tmp_path / "in").mkdir()
    code, output = run_cli("colorize", tmp_path / "in", "--out", tmp_path / "in", "--model", tiny_model_path)
    assert code == 2 and "input folder itself" in output
    code, output = run_cli("colorize", tmp_path / "in", "--out", tmp_path / "o", "--model", tiny_model_path,
                           "--size", 50)
    assert code == 2 and "multiple of 32" in output
    code, output = run_cli("colorize", tmp_path / "in", "--out", tmp_path / "o", "--model", tmp_path / "no.onnx")
    assert code == 1 and "no.onnx" in output and len(output.strip().splitlines()) == 1


def _start_cli(args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "colorcli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def _big_tree(root: Path, count: int, side: int) -> None:
    root.mkdir(parents=True)
    base = gradient_gray(side, side)
    for i in range(count):
        Image.fromarray(np.roll(base, i, axis=0)).save(root / f"scan{i:03d}.png", compress_level=1)


def test_a_worker_past_its_last_file_ends_quietly_on_sigterm(tmp_path):
    """The parent's stop may send SIGTERM while a finished worker is in interpreter shutdown: from then on
    SIGTERM must just end it, not raise SystemExit inside an exit handler (a traceback on the terminal)."""
    import queue

    tasks = queue.Queue()
    tasks.put(None)  # no work: the worker returns at once
    saved = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        pipeline._worker(tasks, queue.Queue(), None, pipeline.Options(out=tmp_path))
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    finally:
        signal.signal(signal.SIGINT, saved[0])
        signal.signal(signal.SIGTERM, saved[1])


def test_sigint_stops_within_seconds_and_leaves_only_whole_files(tmp_path, tiny_model_path):
    _big_tree(tmp_path / "in", count=40, side=1500)
    out = tmp_path / "out"
    process = _start_cli(["colorize", tmp_path / "in", "--out", out, "--model", tiny_model_path, "--workers", 2])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(out.glob("scan*.png"))) < 2:
        time.sleep(0.05)
    assert list(out.glob("scan*.png")), "the run produced nothing to interrupt"
    process.send_signal(signal.SIGINT)
    stopped = time.monotonic()
    _, stderr = process.communicate(timeout=30)
    assert time.monotonic() - stopped < 10
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    written = sorted(out.glob("scan*.png"))
    assert 0 < len(written) < 40
    for path in written:  # every file there is whole
        assert read_image(path).pixels.shape == (1500, 1500, 3)
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temp files left behind"
    assert report_of(out)["interrupted"] is True
    rerun = _start_cli(["colorize", tmp_path / "in", "--out", out, "--model", tiny_model_path, "--quiet"])
    rerun.communicate(timeout=120)
    assert rerun.returncode == 0 and len(list(out.glob("scan*.png"))) == 40


def _children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _worker_pids(parent: int) -> list[int]:
    """The worker processes of a colorize run: children of its fork server where there is one."""
    workers = []
    for pid in _children(parent):
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        if b"resource_tracker" in cmdline:
            continue
        workers.extend(_children(pid) if b"forkserver" in cmdline else [pid])
    return workers


def test_a_crashed_worker_fails_its_file_not_the_run(tmp_path, tiny_model_path):
    _big_tree(tmp_path / "in", count=12, side=1200)
    out = tmp_path / "out"
    process = _start_cli(["colorize", tmp_path / "in", "--out", out, "--model", tiny_model_path, "--workers", 2])
    deadline = time.monotonic() + 60
    workers = []
    while time.monotonic() < deadline and not (workers and list(out.glob("scan*.png"))):
        time.sleep(0.05)
        workers = _worker_pids(process.pid)
    os.kill(workers[0], signal.SIGKILL)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1, stderr
    records = report_of(out)["files"]
    crashed = [r for r in records if r["status"] == "failed"]
    assert len(crashed) == 1 and "worker process crashed" in crashed[0]["reason"]
    assert sum(r["status"] == "ok" for r in records) == 11
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_before_after_sheet(tmp_path, tiny_model_path):
    _grey_tree(tmp_path / "in", count=3)
    sheet = tmp_path / "sheet.png"
    code, output = run_cli("colorize", tmp_path / "in", "--out", tmp_path / "out", "--model", tiny_model_path,
                           "--sheet", sheet)
    assert code == 0 and "contact sheet" in output
    picture = read_image(sheet).pixels
    assert picture.ndim == 3 and picture.shape[0] >= 3 * 240  # one row per colorized file


def test_embedded_default_model_colorizes_the_samples_without_torch(tmp_path):
    samples = Path(__file__).resolve().parents[1] / "samples"
    out = tmp_path / "out"
    script = (
        "import sys\n"
        "from colorcli.cli import cli\n"
        f"try:\n    cli.main(args=['colorize', {str(samples)!r}, '--out', {str(out)!r}, '--quiet'], standalone_mode=False)\n"
        "except SystemExit as stop:\n    code = stop.code\n"
        "print('torch imported:', 'torch' in sys.modules)\n"
        "sys.exit(code)\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "torch imported: False" in run.stdout
    report = report_of(out)
    assert report["model"]["architecture"].startswith("effnet-") and report["summary"]["failed"] == 0
    assert report["summary"]["ok"] >= 6
    for record in report["files"]:
        if record["status"] == "ok":
            rgb = read_image(out / record["output"]).pixels
            assert np.ptp(rgb.astype(int), axis=2).mean() > 2, "the default model adds colour"


def test_names_that_are_not_utf8_or_hold_a_newline_are_colorized_and_shown_on_one_line(tmp_path, tiny_model_path):
    """A name whose bytes are not UTF-8 (an old archive's Latin-1 name) and one with a newline: both
    colorized, each shown on one line, the XMP naming its source with the odd bytes escaped."""
    import os

    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(gradient_gray(40, 48)).save(folder / "latin.png")
    os.rename(folder / "latin.png", os.path.join(os.fsencode(folder), b"caf\xe9 1920.png"))
    Image.fromarray(gradient_gray(40, 48)).save(folder / "two\nlines.png")
    run = subprocess.run([sys.executable, "-m", "colorcli", "colorize", str(folder), "--out", str(tmp_path / "out"),
                          "--model", str(tiny_model_path), "--workers", "1"], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    report = report_of(tmp_path / "out")
    assert [r["status"] for r in report["files"]] == ["ok", "ok"]
    screen = "".join(run.stderr.split())  # the console wraps long lines
    assert "caf\\xe91920.png" in screen and "two\\nlines.png" in screen, run.stderr
    assert "two\nlines" not in run.stderr
    xmp = Image.open(os.path.join(os.fsencode(tmp_path / "out"), b"caf\xe9 1920.png")).info["XML:com.adobe.xmp"]
    assert "caf\\xe9 1920.png" in xmp
