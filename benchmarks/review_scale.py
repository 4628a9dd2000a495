"""The review page at scale: a fabricated run of 2,000 files (small JPEGs, a report like colorize's, in 40
folders: 85% ok with metrics, 10% skipped, 5% failed, one in ten with a print's box), then

- thumbnails: `review`'s build from nothing with one worker process and with one per core, alternately
  (--thumb-rounds each), and a second build that reuses them all;
- the page in headless Chromium (Debian's, through Playwright), --rounds fresh loads: the time from
  navigation to the page's cards being drawn and its controls live (html[data-ready]), to the load
  event, how many thumbnails were requested by then (lazy loading: only those near the view), and a
  scroll through the whole list a screen at a time (the slowest step).

    python benchmarks/review_scale.py [--files 2000] [--rounds 5] [--thumb-rounds 3] [--workers 0] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from colorcli.batch import review  # noqa: E402

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def fabricate(root: Path, files: int, seed: int = 39) -> Path:
    """scans/ (grey JPEGs, 640x480 or 480x640) and out/ (colour JPEGs and colorcli-report.json) under root."""
    rng = np.random.default_rng(seed)
    scans, out = root / "scans", root / "out"
    records = []
    y, x = np.mgrid[0:480, 0:640].astype(np.float32)
    for i in range(files):
        rel = f"box{i % 40:02d}/scan{i:04d}.jpg"
        grey = (x * rng.uniform(0.1, 0.3) + y * rng.uniform(0.1, 0.3) + rng.normal(0, 12, x.shape)) % 255
        grey = grey.astype(np.uint8) if i % 5 else np.ascontiguousarray(grey.T.astype(np.uint8))
        (scans / rel).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(scans / rel), grey, [cv2.IMWRITE_JPEG_QUALITY, 90])
        record = {"input": str(scans / rel), "output": rel, "status": "ok", "reason": None,
                  "seconds": {"total": round(float(rng.uniform(0.2, 2.0)), 4)}, "tone": "grey",
                  "mount": "no mount: nothing on the card", "print": None}
        if i % 20 == 7:
            record.update(status="failed", reason="corrupt or truncated image (Truncated File Read)")
            del record["seconds"]
        elif i % 10 == 3:
            record.update(status="skipped", reason="colour photograph: 3 hue clusters (use --include-color)")
            del record["seconds"]
        else:
            colour = cv2.applyColorMap(grey, cv2.COLORMAP_BONE)
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(out / rel), colour, [cv2.IMWRITE_JPEG_QUALITY, 90])
            record["metrics"] = {name: round(float(rng.uniform(low, high)), 4) for name, low, high in
                                 (("psnr", 18, 30), ("ssim", 0.8, 0.99), ("ciede2000", 4, 16), ("colorfulness", 5, 40))}
            if i % 10 == 1:
                h, w = grey.shape
                record.update(print=[w // 10, h // 12, w * 8 // 10, h * 7 // 10], mount="print on a card or page")
        records.append(record)
    report = {"colorcli": "benchmark", "inputs": [str(scans)], "options": {"format": "keep"}, "files": records}
    (out / "colorcli-report.json").write_text(json.dumps(report))
    return out


def time_thumbnails(out: Path, workers: int, rounds: int) -> None:
    """Every thumbnail made from nothing by one worker and by `workers`, alternately, `rounds` times each."""
    thumbs = out / review.REVIEW_DIR / "thumbs"
    parallel = workers or os.cpu_count() or 1
    seconds: dict[int, list[float]] = {1: [], parallel: []}
    for _ in range(rounds):
        for count in seconds:
            shutil.rmtree(thumbs, ignore_errors=True)
            start = time.perf_counter()
            built = review.build(out, workers=count)
            seconds[count].append(time.perf_counter() - start)
    made = built.thumbs.made
    for count, values in seconds.items():
        print(f"thumbnails, {count} worker{'s' if count > 1 else ''}: {made} made in "
              f"{' '.join(f'{v:.2f}' for v in values)} s (median {median(values):.2f} s, "
              f"{made / median(values):.0f} a second)")
    ratios = [one / many for one, many in zip(seconds[1], seconds[parallel])]
    print(f"speed-up of {parallel} workers over one, round by round: {' '.join(f'{r:.2f}' for r in ratios)} "
          f"(median {median(ratios):.2f})")
    start = time.perf_counter()
    built = review.build(out, workers=workers)
    print(f"thumbnails, second build: {built.thumbs.reused} reused, {built.thumbs.made} made, "
          f"{time.perf_counter() - start:.2f} s; page of {built.files} files, "
          f"{built.page.stat().st_size / 1e6:.2f} MB")


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def time_page(page_path: Path, rounds: int, chromium: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        ready, loaded, requested, scroll = [], [], [], []
        for _ in range(rounds):
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            thumbs = []
            page.on("request", lambda r: "/thumbs/" in r.url and thumbs.append(r.url))
            page.goto(page_path.as_uri(), wait_until="load")
            page.wait_for_selector("html[data-ready=yes]")
            timing = page.evaluate("""() => {
                const nav = performance.getEntriesByType('navigation')[0];
                const mark = performance.getEntriesByName('review-ready')[0];
                return {load: nav.loadEventEnd, ready: mark ? mark.startTime : null};
            }""")
            ready.append(timing["ready"])
            loaded.append(timing["load"])
            requested.append(len(thumbs))
            scroll.append(page.evaluate("""async () => {
                let slowest = 0;
                const frame = () => new Promise(done => requestAnimationFrame(() => done()));
                while (window.scrollY + innerHeight < document.body.scrollHeight - 2) {
                    const start = performance.now();
                    window.scrollBy(0, innerHeight);
                    await frame(); await frame();
                    slowest = Math.max(slowest, performance.now() - start);
                }
                return slowest;
            }"""))
            context.close()
        browser.close()
    print(f"page in Chromium, {rounds} fresh loads: cards drawn and controls live at "
          f"{' '.join(f'{v:.0f}' for v in ready)} ms (median {median(ready):.0f} ms); load event "
          f"{' '.join(f'{v:.0f}' for v in loaded)} ms (median {median(loaded):.0f} ms)")
    print(f"thumbnails requested by then: {' '.join(map(str, requested))}; slowest scroll step (a screen, "
          f"two frames): {' '.join(f'{v:.0f}' for v in scroll)} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=2000, help="files in the fabricated run (default 2000)")
    parser.add_argument("--rounds", type=int, default=5, help="fresh page loads in Chromium (default 5)")
    parser.add_argument("--thumb-rounds", type=int, default=3,
                        help="builds from nothing with one worker and with --workers, alternately (default 3)")
    parser.add_argument("--workers", type=int, default=0, help="thumbnail processes for the parallel build "
                                                               "(default 0: one per core)")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium",
                        help="the Chromium executable (default: chromium on PATH)")
    parser.add_argument("--keep", type=Path, default=None, help="build the run in DIR and keep it")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="review-scale-"))
    try:
        start = time.perf_counter()
        out = fabricate(root, args.files)
        print(f"fabricated {args.files} files in {time.perf_counter() - start:.1f} s under {root}; "
              f"{os.cpu_count()} cores")
        time_thumbnails(out, args.workers, args.thumb_rounds)
        time_page(out / review.REVIEW_DIR / review.PAGE, args.rounds, args.chromium)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
