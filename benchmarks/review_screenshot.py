"""The README's picture of the review page: the eight samples colorized by the default model, reviewed, and
the page photographed in headless Chromium (Debian's, through Playwright) with its first card current,
saved as a PNG of 256 colours (export/review-page.png).

    python benchmarks/review_screenshot.py [--out export/review-page.png] [--width 1180] [--height 760]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "export" / "review-page.png", help="the PNG to write")
    parser.add_argument("--width", type=int, default=1180, help="the browser window's width (px)")
    parser.add_argument("--height", type=int, default=760, help="the browser window's height (px)")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium",
                        help="the Chromium executable (default: chromium on PATH)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as work:
        color = Path(work) / "samples-color"
        for command in (["colorize", str(ROOT / "samples"), "--out", str(color), "--quiet"], ["review", str(color)]):
            subprocess.run([sys.executable, "-m", "colorcli", *command], check=True)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": args.width, "height": args.height})
            page.goto((color / "review" / "index.html").as_uri())
            page.wait_for_selector("html[data-ready=yes]")
            page.keyboard.press("j")
            page.evaluate("window.scrollTo(0, 0)")
            page.wait_for_function("[...document.images].every(img => img.complete)")
            shot = Path(work) / "shot.png"
            page.screenshot(path=str(shot))
            browser.close()
        picture = Image.open(shot).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT)
        picture.save(args.out, optimize=True)
    print(f"{args.out}: {args.out.stat().st_size / 1000:.0f} kB")


if __name__ == "__main__":
    main()
