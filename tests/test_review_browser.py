"""The review page in a real browser: headless Chromium (Debian's package) driven by Playwright's Python
package, through the page's own controls. It filters, sorts, moves with the keys, toggles before and after,
marks, reloads and saves the marks; the saved file then goes to `review --apply`. The console must stay
free of errors and no request may leave file://.

Locally the test is skipped, with the reason, where Chromium or Playwright is missing; in CI (CI=true, or
COLORCLI_REQUIRE_BROWSER=1; .ci/run sets both) a missing browser fails it.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from review_run import colorize, make_inputs, page_data, run_cli

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def find_chromium() -> str | None:
    """The system's Chromium: $COLORCLI_CHROMIUM, else chromium or chromium-browser on PATH."""
    named = os.environ.get("COLORCLI_CHROMIUM")
    if named:
        return named if os.access(named, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def browser_required() -> bool:
    """In CI the browser test must run, never be skipped."""
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("COLORCLI_REQUIRE_BROWSER") == "1"


def _missing(what: str) -> None:
    if browser_required():
        pytest.fail(f"{what}; in CI (CI=true or COLORCLI_REQUIRE_BROWSER=1) the browser test must run")
    pytest.skip(f"{what}: the review page's browser test needs it (apt-get install chromium; "
                f"pip install playwright; never `playwright install`)")


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium with a fresh profile (Playwright makes a new temporary one per launch)."""
    executable = find_chromium()
    if executable is None:
        _missing("no Chromium found (looked for $COLORCLI_CHROMIUM, chromium, chromium-browser)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory, tiny_model_path):
    root = tmp_path_factory.mktemp("review-browser")
    scans, refs, expected = make_inputs(root, scale=6)  # 51 files: 49 ok (one on a card), skipped, failed
    colorize(scans, refs, root / "out", tiny_model_path)
    assert run_cli("review", root / "out")[0] == 0
    return root / "out", expected


def _outputs(page) -> list[str]:
    return page.eval_on_selector_all("#cards > .card", "cards => cards.map(c => c.dataset.id)")


def test_the_page_in_chromium(browser, reviewed, tmp_path):
    out, expected = reviewed
    data = page_data(out / "review" / "index.html")
    by_id = {str(card["id"]): card for card in data["cards"]}
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems, requests = [], []
    page.on("console", lambda message: message.type in ("error", "warning") and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("request", lambda request: requests.append(request.url))
    url = (out / "review" / "index.html").as_uri()
    page.goto(url)
    page.wait_for_selector("html[data-ready=yes]")

    # every file has its card, with its status and reason
    assert sorted(by_id[i]["output"] for i in _outputs(page)) == sorted(expected)
    for card_id, card in by_id.items():
        element = page.locator(f"#card-{card_id}")
        assert element.locator(".status").inner_text() == card["status"]
        if card["reason"]:
            assert card["reason"] in element.locator(".reason").inner_text()
    assert page.locator("#shown").inner_text() == f"showing {len(expected)} of {len(expected)}"
    # only the cards near the view are filled in: no picture of the others is asked for yet
    filled = page.locator(".card[data-filled]").count()
    assert 0 < filled < len(expected) / 2
    assert page.locator("img").count() == page.locator(".card[data-filled] img").count()
    # the first card's pictures are loaded (it is in view); the print's box is drawn on the cabinet card
    first = page.locator("#cards > .card").first
    first.locator("img.after").evaluate("img => img.decode()")
    assert first.locator("img.after").evaluate("img => img.naturalWidth") > 0
    cabinet = next(i for i, c in by_id.items() if c["output"] == "cards/cabinet.png")
    page.locator(f"#card-{cabinet}").scroll_into_view_if_needed()
    assert page.locator(f"#card-{cabinet} .box").count() == 1

    # filters: status, reason, folder
    page.select_option("#f-status", "failed")
    assert [by_id[i]["output"] for i in _outputs(page)] == ["family/broken.jpg"]
    page.select_option("#f-status", "")
    skipped_reason = next(c["reason"] for c in by_id.values() if c["status"] == "skipped")
    page.select_option("#f-reason", skipped_reason)
    assert [by_id[i]["output"] for i in _outputs(page)] == ["street/colour.jpg"]
    page.select_option("#f-reason", "")
    page.select_option("#f-folder", "family/1901")
    in_folder = sorted(k for k in expected if k.startswith("family/1901/"))
    assert [by_id[i]["output"] for i in _outputs(page)] == in_folder
    page.select_option("#f-folder", "")

    # sort by a metric (lowest first; reversed: highest first), files without it last
    page.select_option("#sort", "metric:psnr")
    scored = sorted((c for c in by_id.values() if c["metrics"]), key=lambda c: c["metrics"]["psnr"])
    order = [by_id[i]["output"] for i in _outputs(page)]
    assert order[:len(scored)] == [c["output"] for c in scored]
    assert set(order[len(scored):]) == {c["output"] for c in by_id.values() if not c["metrics"]}
    page.check("#reverse")
    assert [by_id[i]["output"] for i in _outputs(page)][:len(scored)] == [c["output"] for c in reversed(scored)]
    page.uncheck("#reverse")
    page.select_option("#sort", "name")
    names = [by_id[i]["output"] for i in _outputs(page)]
    assert names == sorted(expected)

    # keys: j j k moves to the second card, b toggles before / after, x and r mark
    page.locator("body").press("j")
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    current = page.locator(".card.current")
    assert current.count() == 1 and by_id[current.get_attribute("data-id")]["output"] == names[1]
    assert current.locator(".slider").input_value() == "50"
    page.keyboard.press("b")
    assert current.locator(".slider").input_value() == "100"
    page.keyboard.press("b")
    assert current.locator(".slider").input_value() == "0"
    page.keyboard.press("x")
    assert "mark-rejected" in current.get_attribute("class")
    page.keyboard.press("j")
    page.keyboard.press("r")
    page.keyboard.press("j")
    page.keyboard.press("x")
    page.keyboard.press("u")  # unmarked again
    # a click on a card's own button marks it too
    street = next(i for i, c in by_id.items() if c["output"] == "street/p2.png")
    page.locator(f"#card-{street}").scroll_into_view_if_needed()
    page.locator(f"#card-{street} button[data-mark=rejected]").click()
    marked = {names[1]: "rejected", names[2]: "redo", "street/p2.png": "rejected"}
    assert page.locator("#marked").inner_text() == "marked: 2 rejected, 1 redo"

    # the marks survive a reload, and filter
    page.reload()
    page.wait_for_selector("html[data-ready=yes]")
    page.select_option("#f-mark", "rejected")
    assert sorted(by_id[i]["output"] for i in _outputs(page)) == sorted(k for k, v in marked.items() if v == "rejected")
    page.select_option("#f-mark", "")

    # saved as review-marks.json
    with page.expect_download() as download:
        page.click("#save")
    assert download.value.suggested_filename == "review-marks.json"
    saved = tmp_path / "review-marks.json"
    download.value.save_as(saved)
    assert json.loads(saved.read_text())["marks"] == marked

    assert problems == []
    assert requests and all(r.startswith(("file://", "data:", "blob:")) for r in requests), \
        [r for r in requests if not r.startswith(("file://", "data:", "blob:"))]
    context.close()

    # the saved marks move exactly those files
    work = tmp_path / "out"
    shutil.copytree(out, work)
    assert run_cli("review", work, "--apply", saved)[0] == 0
    aside = {p.relative_to(work).as_posix() for p in work.glob(".re*/**/*") if p.is_file()}
    assert aside == {f"{'.rejected' if mark == 'rejected' else '.redo'}/{rel}" for rel, mark in marked.items()}


def test_without_javascript_every_file_is_listed(browser, reviewed):
    out, expected = reviewed
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto((out / "review" / "index.html").as_uri())
    rows = page.eval_on_selector_all("table.plain tr",
                                     "rows => rows.slice(1).map(r => [...r.cells].map(c => c.textContent))")
    assert {row[0]: row[1] for row in rows} == {k: v[0] for k, v in expected.items()}
    context.close()
