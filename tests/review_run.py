"""A small real colorize run for the review tests: grey photos in three folders (with their colour
originals as --ref), a colour photograph (skipped), a corrupt JPEG (failed) and a print on a cabinet card
(its box in the report), colorized by the real `colorcli colorize` with the tiny test model."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from PIL import Image

import mounts
from colorcli.cli import cli
from conftest import colour_photo

GREY = {"street": 3, "family/1901": 3, "family/1920": 2}


def run_cli(*args) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.output


def make_inputs(root: Path, scale: int = 1) -> tuple[Path, Path, dict]:
    """scans/ and refs/ under root (`scale` times the grey photos of GREY); returns them and what each
    output's card must say: {output: (status, a word its reason holds or None)}."""
    scans, refs = root / "scans", root / "refs"
    rng = np.random.default_rng(39)
    expected = {}
    for folder, count in GREY.items():
        (scans / folder).mkdir(parents=True)
        (refs / folder).mkdir(parents=True)
        for i in range(count * scale):
            photo = colour_photo(rng)
            Image.fromarray(photo).save(refs / folder / f"p{i}.png")
            Image.fromarray(photo).convert("L").save(scans / folder / f"p{i}.png")
            expected[f"{folder}/p{i}.png"] = ("ok", None)
    Image.fromarray(colour_photo(rng)).save(scans / "street" / "colour.jpg", quality=92)
    expected["street/colour.jpg"] = ("skipped", "include-color")
    (scans / "family" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg at all")
    expected["family/broken.jpg"] = ("failed", None)
    (scans / "cards").mkdir()
    card = mounts.cabinet_card(colour_photo(rng, 200, 150), width=240)
    Image.fromarray(card.scan).save(scans / "cards" / "cabinet.png")
    expected["cards/cabinet.png"] = ("ok", None)
    return scans, refs, expected


def colorize(scans: Path, refs: Path, out: Path, model: Path, *extra) -> dict:
    """Run the real colorize command; returns its report (it exits 1: one file fails)."""
    code, output = run_cli("colorize", scans, "--out", out, "--model", model, "--ref", refs, "--workers", 2, *extra)
    assert code in (0, 1), output
    return json.loads(next(out.glob("colorcli-report*.json")).read_text())


def page_data(page: Path) -> dict:
    """The cards' data embedded in a review page."""
    text = page.read_text(encoding="utf-8")
    blob = re.search(r'<script type="application/json" id="review-data">(.*?)</script>', text, re.S).group(1)
    return json.loads(blob)
