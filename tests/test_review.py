"""colorcli review on a real run: a card per file with its status and reason, the print's box, metrics and
originals; thumbnails made once and reused; shards reviewed as one run; --apply moving exactly the marked
files, and later colorize runs leaving a rejected file alone unless --overwrite; one-line errors."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from colorcli.batch import review
from colorcli.io.orientation import to_upright
from review_run import colorize, make_inputs, page_data, run_cli


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_model_path):
    """A colorized run (never changed by a test: copy it first) and what each card must say."""
    root = tmp_path_factory.mktemp("review")
    scans, refs, expected = make_inputs(root)
    colorize(scans, refs, root / "out", tiny_model_path)
    return root, scans, refs, expected


def _copy(run, tmp_path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(run[0] / "out", out)
    return out


def _files(folder: Path) -> dict[str, str]:
    """Every file under `folder` outside review/: relative path -> sha256."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in folder.rglob("*") if p.is_file() and "review" not in p.relative_to(folder).parts}


def test_a_card_per_file_with_its_status_reason_box_metrics_and_original(run, tmp_path):
    root, scans, refs, expected = run
    out = _copy(run, tmp_path)
    code, output = run_cli("review", out)
    assert code == 0, output
    page_path = out / "review" / "index.html"
    assert output.strip() == f"review page: {page_path} (11 files; thumbnails: 27 made, 0 reused, 1 unreadable)"
    page = (out / "review" / "index.html").read_text(encoding="utf-8")
    cards = {card["output"]: card for card in page_data(out / "review" / "index.html")["cards"]}
    assert set(cards) == set(expected)
    for output, (status, word) in expected.items():
        card = cards[output]
        assert card["status"] == status, output
        assert card["input"] == str(scans / output), output
        assert (card["reason"] is None) == (status == "ok"), output
        if word:
            assert word in card["reason"], output
        for role in ("before", "after", "ref"):
            if card[role]:
                assert (out / "review" / card[role]).is_file(), (output, role)
        assert bool(card["after"]) == (status == "ok"), output
        assert bool(card["before"]) == (status != "failed"), output  # the corrupt JPEG has no picture
        has_ref = status == "ok" and output != "cards/cabinet.png"
        assert bool(card["ref"]) == has_ref and bool(card["metrics"]) == has_ref, output
        if has_ref:
            assert card["reference"] == str(refs / output) and card["metrics"]["psnr"] > 0
    assert "truncated" in cards["family/broken.jpg"]["reason"]
    box = cards["cards/cabinet.png"]["boxes"]
    assert len(box) == 1 and np.allclose(box[0], [17 / 240, 22 / 372, 206 / 240, 275 / 372], atol=0.02), box
    assert all(not card.get("boxes") for name, card in cards.items() if name != "cards/cabinet.png")
    cabinet = cards["cards/cabinet.png"]
    assert cabinet["mount_confidence"] > 0.6 and "print on a card" in cabinet["mount"]
    assert cards["street/p0.png"]["folder"] == "street" and cards["family/1901/p0.png"]["folder"] == "family/1901"
    # offline: nothing from the network, no script or style from anywhere
    assert not re.search(r"https?://", page) and "<script src" not in page and "<link rel=\"stylesheet" not in page
    # without JavaScript: a plain table of every file and its status, inside <noscript>
    table = page[page.index("<noscript>"):page.index("</noscript>")]
    for output, (status, _) in expected.items():
        assert re.search(rf"{re.escape(output)}</a></td><td>{status}</td>", table), output


def test_thumbnails_are_made_once_and_remade_only_for_a_changed_picture(run, tmp_path):
    out = _copy(run, tmp_path)
    assert "27 made, 0 reused" in run_cli("review", out)[1]
    thumbs = {p.name: p.stat().st_mtime_ns for p in (out / "review" / "thumbs").glob("*.jpg")}
    assert len(thumbs) == 27
    assert "0 made, 27 reused" in run_cli("review", out)[1]
    assert {p.name: p.stat().st_mtime_ns for p in (out / "review" / "thumbs").glob("*.jpg")} == thumbs
    changed = out / "street" / "p1.png"
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    assert "1 made, 26 reused" in run_cli("review", out)[1]


def test_apply_moves_exactly_the_marked_files_and_colorize_leaves_rejected_ones_alone(run, tmp_path,
                                                                                     tiny_model_path):
    root, scans, refs, _ = run
    out = _copy(run, tmp_path)
    before = _files(out)
    marks = {"street/p0.png": "rejected", "family/1901/p2.png": "rejected", "family/1920/p1.png": "redo",
             "street/colour.jpg": "rejected"}  # skipped: it has no output to move
    marks_file = tmp_path / "review-marks.json"
    marks_file.write_text(json.dumps({"colorcli_review": 1, "marks": marks}))
    code, output = run_cli("review", out, "--apply", marks_file)
    assert code == 0, output
    assert f"2 marked rejected moved into {out / '.rejected'}" in output
    assert f"1 marked redo moved into {out / '.redo'}" in output and "1 had no output to move" in output
    after = _files(out)
    moved = {"street/p0.png": ".rejected/street/p0.png", "family/1901/p2.png": ".rejected/family/1901/p2.png",
             "family/1920/p1.png": ".redo/family/1920/p1.png"}
    assert after == {moved.get(rel, rel): digest for rel, digest in before.items()}  # nothing else moved or lost
    cards = {card["output"]: card for card in page_data(out / "review" / "index.html")["cards"]}
    assert cards["street/p0.png"]["aside"] == "rejected" and cards["street/p0.png"]["after"]
    assert "already moved" in run_cli("review", out, "--apply", marks_file)[1]  # a second --apply moves nothing
    assert _files(out) == after

    report = colorize(scans, refs, out, tiny_model_path)
    records = {r["output"]: r for r in report["files"]}
    for rel in ("street/p0.png", "family/1901/p2.png"):
        assert records[rel]["status"] == "skipped" and "rejected in review" in records[rel]["reason"], rel
        assert not (out / rel).exists()
    assert records["family/1920/p1.png"]["status"] == "ok" and (out / "family/1920/p1.png").is_file()
    report = colorize(scans, refs, out, tiny_model_path, "--overwrite")
    assert {r["output"]: r["status"] for r in report["files"]}["street/p0.png"] == "ok"
    assert (out / "street/p0.png").is_file() and (out / ".rejected/street/p0.png").is_file()
    # rejected again: the copy already aside keeps its name, the newcomer gets a free one
    run_cli("review", out, "--apply", marks_file)
    assert (out / ".rejected/street/p0~2.png").is_file() and not (out / "street/p0.png").exists()


def test_a_rejected_output_inside_the_input_tree_is_not_taken_for_an_input(run, tmp_path, tiny_model_path):
    scans = tmp_path / "scans"
    shutil.copytree(run[1] / "street", scans)
    out = scans / "colorized"
    code, _ = run_cli("colorize", scans, "--out", out, "--model", tiny_model_path)
    marks_file = tmp_path / "marks.json"
    marks_file.write_text(json.dumps({"marks": {"p1.png": "rejected"}}))
    assert run_cli("review", out, "--apply", marks_file)[0] == 0
    run_cli("colorize", scans, "--out", out, "--model", tiny_model_path)
    report = json.loads((out / "colorcli-report.json").read_text())
    assert sorted(r["output"] for r in report["files"]) == ["colour.jpg", "p0.png", "p1.png", "p2.png"]
    assert not (out / "p1.png").exists() and (out / ".rejected" / "p1.png").is_file()


def test_relative_paths_of_a_run_are_found_from_another_folder(run, tmp_path, tiny_model_path, monkeypatch):
    shutil.copytree(run[1] / "street", tmp_path / "job" / "scans")
    shutil.copytree(run[2] / "street", tmp_path / "job" / "refs")
    monkeypatch.chdir(tmp_path / "job")
    run_cli("colorize", "scans", "--out", "color", "--model", tiny_model_path, "--ref", "refs")
    monkeypatch.chdir(tmp_path)
    assert run_cli("review", "job/color")[0] == 0
    cards = {card["output"]: card for card in page_data(tmp_path / "job/color/review/index.html")["cards"]}
    assert cards["p0.png"]["input"] == str(tmp_path / "job/scans/p0.png")
    assert all(card["before"] for card in cards.values()) and cards["p0.png"]["ref"]


def test_shards_review_as_one_run(run, tmp_path, tiny_model_path):
    _, scans, refs, expected = run
    out = tmp_path / "out"
    for shard in ("1/2", "2/2"):
        colorize(scans, refs, out, tiny_model_path, "--shard", shard)
    assert len(list(out.glob("colorcli-report-shard-*.json"))) == 2
    assert run_cli("review", out)[0] == 0
    cards = page_data(out / "review" / "index.html")["cards"]
    assert {card["output"]: card["status"] for card in cards} == {k: v[0] for k, v in expected.items()}


def test_bad_input_is_one_line_naming_the_file(run, tmp_path):
    (tmp_path / "empty").mkdir()
    code, output = run_cli("review", tmp_path / "empty")
    assert code == 2 and output.count("\n") == 1 and f"{tmp_path / 'empty'}: no colorcli report" in output
    out = _copy(run, tmp_path)
    before = _files(out)
    for content, reason in ((b"{not json", "not a readable review marks file"),
                            (b'{"marks": []}', "not a review marks file"),
                            (b'{"marks": {"street/p0.png": "keep"}}', "unknown mark"),
                            (b'{"marks": {"../escape.png": "rejected"}}', "not an output path"),
                            (b'{"marks": {"elsewhere/x.png": "rejected"}}', "not in the reports")):
        marks_file = tmp_path / "marks.json"
        marks_file.write_bytes(content)
        code, output = run_cli("review", out, "--apply", marks_file)
        assert code == 1 and output.count("\n") == 1, output
        assert output.startswith(f"colorcli: error: {marks_file}: ") and reason in output, output
    code, output = run_cli("review", out, "--apply", tmp_path / "missing.json")
    assert code == 1 and "missing.json: not a readable review marks file (No such file or directory)" in output
    assert _files(out) == before


def test_thumbnails_show_the_picture_as_a_viewer_does(tmp_path):
    from PIL import Image

    from colorcli.batch import thumbs

    stored = np.zeros((60, 100), np.uint8)
    stored[:, :50] = 255  # white on the left as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # a viewer turns it a quarter clockwise: white on top
    for name in ("turned.jpg", "turned.png"):
        Image.fromarray(stored).save(tmp_path / name, exif=exif)
        info = thumbs.make_one(str(tmp_path / name), str(tmp_path / f"{name}.thumb.jpg"), 40)
        assert info == {"width": 100, "height": 60, "orientation": 6, "tw": 24, "th": 40}, name
        thumb = np.asarray(Image.open(tmp_path / f"{name}.thumb.jpg").convert("L")).astype(int)
        assert thumb[:16].mean() > 200 and thumb[24:].mean() < 50, name


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_print_box_is_drawn_where_a_viewer_shows_it(orientation):
    height, width, box = 30, 50, [7, 4, 20, 11]
    stored = np.zeros((height, width), bool)
    stored[box[1]:box[1] + box[3], box[0]:box[0] + box[2]] = True
    shown = to_upright(stored, orientation)
    ys, xs = np.nonzero(shown)
    expected = [xs.min() / shown.shape[1], ys.min() / shown.shape[0],
                (xs.max() + 1 - xs.min()) / shown.shape[1], (ys.max() + 1 - ys.min()) / shown.shape[0]]
    assert np.allclose(review.upright_box(box, width, height, orientation), expected, atol=1e-4)


def test_no_file_name_can_break_out_of_the_page(tmp_path):
    name = "<!--<script>x</script>&\"'.png"
    card = {"id": 0, "output": name, "input": f"/scans/{name}", "status": "failed", "reason": "<b>bad</b>",
            "folder": ".", "seconds": None, "metrics": {}, "reference": None, "mount": None, "tone": None,
            "aside": None, "href": "../x", "before": None, "after": None, "ref": None}
    page = tmp_path / "index.html"
    page.write_text(review.render([card], tmp_path), encoding="utf-8")
    assert page_data(page)["cards"][0]["output"] == name
    text = page.read_text(encoding="utf-8")
    assert "<b>bad" not in text and "<!--<script>" not in text and text.count("<script") == 2
