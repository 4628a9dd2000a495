"""README.md and docs/*.md as a reader uses them: the commands they show run as written, their links and
anchors resolve, each command's options are documented on its page, and `--help` points to that page.

A fenced block preceded by `<!-- runnable -->` is run; any other bash or python block must say why not
(`<!-- not run: REASON -->`), and the colorcli commands in it must still parse. docs/development.md
describes the rules for people writing the pages.
"""

from __future__ import annotations

import copy
import functools
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from colorcli.cli import COMMANDS, cli
from conftest import colour_photo

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUNNABLE = "<!-- runnable -->"
NOT_RUN = re.compile(r"<!-- not run: (\S.*?) -->")
CHECKED_LANGUAGES = {"bash", "python"}
# the page each command's --help names, and on which every one of its options is described
COMMAND_PAGES = {
    "colorize": "docs/colorize.md",
    "eval": "docs/photo-protocol.md",
    "export": "docs/models.md",
    "fetch": "docs/models.md",
    "models": "docs/models.md",
    "report": "docs/many-machines.md",
    "review": "docs/review.md",
    "train": "docs/training.md",
}


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    language: str
    marker: str  # the line just before the fence
    body: str

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def _blocks(page: Path) -> list[Block]:
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks, index = [], 0
    while index < len(lines):
        opening = re.match(r"^```(\w*)", lines[index])
        if not opening:
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
        marker = lines[index - 1].strip() if index else ""
        blocks.append(Block(page, index + 1, opening.group(1), marker, "\n".join(lines[index + 1:end]) + "\n"))
        index = end + 1
    return blocks


ALL_BLOCKS = [block for page in PAGES for block in _blocks(page)]
CHECKED = [block for block in ALL_BLOCKS if block.language in CHECKED_LANGUAGES]


def test_the_pages_exist_and_the_readme_stays_short():
    names = {page.relative_to(ROOT).as_posix() for page in PAGES}
    assert {"README.md", "docs/colorize.md", "docs/many-machines.md", "docs/training.md",
            "docs/photo-protocol.md", "docs/performance.md", "docs/models.md"} <= names
    assert (ROOT / "README.md").stat().st_size <= 10 * 1024


@pytest.mark.parametrize("page", PAGES[1:], ids=lambda p: p.name)
def test_each_docs_page_starts_by_saying_what_it_holds(page):
    lines = page.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# ") and lines[1] == "" and lines[2].startswith("This page "), page.name


@pytest.mark.parametrize("block", CHECKED, ids=str)
def test_every_block_is_run_or_says_why_not(block):
    assert block.marker == RUNNABLE or NOT_RUN.fullmatch(block.marker), (
        f"{block}: put `{RUNNABLE}` or `<!-- not run: REASON -->` on the line before the fence")


# --- the runnable blocks ----------------------------------------------------------------------------


def _sandbox(root: Path) -> tuple[Path, dict]:
    """The folder a page's runnable blocks run in, and the environment they run with."""
    work = root / "work"
    work.mkdir()
    shutil.copytree(ROOT / "samples", work / "samples")
    rng = np.random.default_rng(29)
    for split, count in (("train", 32), ("val", 8)):
        (work / "photos" / split).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(colour_photo(rng)).save(work / "photos" / split / f"{split}{i:02d}.jpg", quality=92)
    (work / "export").mkdir()
    for model in (ROOT / "export").iterdir():  # read through links; what a block exports stays in the sandbox
        (work / "export" / model.name).symlink_to(model)
    (work / "benchmarks").symlink_to(ROOT / "benchmarks")
    (work / "constraints.txt").symlink_to(ROOT / "constraints.txt")

    bin_dir = root / "bin"
    bin_dir.mkdir()
    for name, command in (("colorcli", f"{shlex.quote(sys.executable)} -m colorcli"),
                          ("python", shlex.quote(sys.executable))):
        shim = bin_dir / name
        shim.write_text(f"#!/bin/sh\nexec {command} \"$@\"\n")
        shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "JOB_COMPLETION", "COLORCLI_"))}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}", COLORCLI_HOME=str(root / "colorcli-home"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])))
    return work, env


RUN_PAGES = [page for page in PAGES if any(b.marker == RUNNABLE for b in _blocks(page))]


@pytest.mark.parametrize("page", RUN_PAGES, ids=lambda p: p.name)
def test_runnable_blocks_run_as_written(page, tmp_path):
    work, env = _sandbox(tmp_path)
    for block in (b for b in _blocks(page) if b.marker == RUNNABLE):
        assert block.language in CHECKED_LANGUAGES, f"{block}: runnable blocks are bash or python"
        script = tmp_path / f"block-{block.line}"
        script.write_text(block.body, encoding="utf-8")
        argv = ["bash", "-euo", "pipefail", str(script)] if block.language == "bash" else [sys.executable, str(script)]
        run = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, \
            f"{block} exited {run.returncode}:\n{block.body}\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"


# --- the blocks that are not run: their commands still parse -----------------------------------------


def _commands(body: str) -> list[list[str]]:
    """Each simple command of a shell block as its words (continuations joined, comments dropped)."""
    commands = []
    for line in body.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|<>")
        lexer.whitespace_split = True
        words: list[str] = []
        for word in [*lexer, ";"]:
            if set(word) <= set(";&|<>"):
                if words:
                    commands.append(words)
                words = []
                if word.startswith((">", "<")):  # the redirection's target is no argument
                    words = ["<redirect>"]
            elif words == ["<redirect>"]:
                words = []
            else:
                words.append(word)
    return [words for words in commands if words != ["<redirect>"]]


def _permissive(param: click.Parameter) -> click.Parameter:
    """The parameter as the parser sees it, except that paths need not exist here."""
    if not isinstance(param.type, click.Path):
        return param
    param = copy.copy(param)
    param.type = click.STRING
    return param


def _parse_colorcli(words: list[str]) -> None:
    assert len(words) > 1, "colorcli needs a command"
    name, args = words[1], [("1" if "$" in word else word) for word in words[2:]]  # a shell variable: any value
    assert name in COMMANDS, f"no command {name!r}"
    command = cli.get_command(click.Context(cli), name)
    shadow = copy.copy(command)
    shadow.params = [_permissive(p) for p in command.params]
    try:
        shadow.make_context(name, args)
    except click.UsageError as error:
        raise AssertionError(f"`{' '.join(words)}`: {error.format_message()}") from None


@functools.lru_cache(maxsize=None)
def _script_help(script: str) -> str:
    run = subprocess.run([sys.executable, str(ROOT / script), "--help"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, f"{script} --help: {run.stderr[-2000:]}"
    return run.stdout


def _check_benchmark(words: list[str]) -> None:
    script = words[1]
    assert (ROOT / script).is_file(), f"no script {script}"
    usage = _script_help(script)
    for word in words[2:]:
        if word.startswith("--"):
            assert re.search(rf"(?<![\w-]){re.escape(word.split('=')[0])}(?![\w-])", usage), \
                f"{script} has no option {word}"


def _check_pip(words: list[str]) -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    for flag, value in zip(words, words[1:]):
        if flag == "-c":
            assert (ROOT / value).is_file(), f"no constraints file {value}"
    for word in words:
        match = re.fullmatch(r"\.\[([\w,]+)\]", word)
        if match:
            assert set(match.group(1).split(",")) <= set(extras), f"unknown extra in {word}"


@pytest.mark.parametrize("block", [b for b in CHECKED if b.language == "bash"], ids=str)
def test_commands_in_every_block_parse(block):
    checked = 0
    for words in _commands(block.body):
        if words[0] == "exec":
            words = words[1:]
        if words[0] == "colorcli":
            _parse_colorcli(words)
        elif words[0] == "python" and len(words) > 1 and words[1].startswith("benchmarks/"):
            _check_benchmark(words)
        elif words[0] == "pip":
            _check_pip(words)
        else:
            continue
        checked += 1
    shell_only = all(w[0] not in ("colorcli", "python", "pip") for w in _commands(block.body))
    assert checked or shell_only, f"{block}: no command checked"


def test_the_parse_check_catches_what_it_should():
    _parse_colorcli(shlex.split("colorcli train --dataset photos --out runs/x --generator effnet-lite2"))
    for wrong in ("colorcli train --out runs/x --generator effnet-lite9", "colorcli colorize scans --out c --bogus",
                  "colorcli colorize --out c", "colorcli train --out r --epochs many", "colorcli paint x"):
        with pytest.raises(AssertionError):
            _parse_colorcli(shlex.split(wrong))
    with pytest.raises(AssertionError):
        _check_benchmark(["python", "benchmarks/model_speed.py", "m.onnx", "--no-such-option"])


# --- links and anchors ---------------------------------------------------------------------------------

LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def _prose(text: str) -> str:
    """The text outside fenced blocks and code spans, where links are links."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its text lower-cased, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[`*]", "", heading.strip()).lower()
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.S | re.M)
    seen: dict[str, int] = {}
    anchors = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.M):
        slug = github_slug(heading)
        anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


def test_github_slugs():
    assert github_slug("The default model, effnet-lite0-photos (2026-12-02)") == \
        "the-default-model-effnet-lite0-photos-2026-12-02"
    assert github_slug("colorcli fetch and `colorcli models`") == "colorcli-fetch-and-colorcli-models"
    assert github_slug("What is colorized: the grey decision") == "what-is-colorized-the-grey-decision"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_links_reach_files_and_headings(page):
    for link in LINK.findall(_prose(page.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z][a-z0-9+.-]*:", link):  # http:, https:, mailto:: not checked offline
            continue
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        assert target.exists(), f"{page.name}: link {link} reaches no file"
        assert ROOT in target.parents or target == ROOT, f"{page.name}: link {link} leaves the repository"
        if anchor:
            assert target.suffix == ".md", f"{page.name}: anchor on a file that is not a page: {link}"
            assert anchor in _anchors(target), f"{page.name}: no heading for #{anchor} in {target.name}"


# --- the options and --help ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_is_described_on_its_page(name):
    page = (ROOT / COMMAND_PAGES[name]).read_text(encoding="utf-8")
    command = cli.get_command(click.Context(cli), name)
    for param in command.params:
        for option in (o for o in param.opts if o.startswith("--")):
            assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", page), \
                f"{option} of `colorcli {name}` is not on {COMMAND_PAGES[name]}"


def _help(*args: str) -> list[str]:
    result = CliRunner().invoke(cli, [*args, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    return [line.strip() for line in result.output.splitlines() if line.strip()]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_commands_help_ends_with_its_docs_page(name):
    last = _help(name)[-1]
    assert last == f"Docs: {COMMAND_PAGES[name]}"
    assert (ROOT / COMMAND_PAGES[name]).is_file()


def test_the_top_level_help_points_to_the_readme_and_docs():
    lines = _help()
    pointer = lines[-1]
    assert pointer.startswith("Docs: README.md") and "docs/" in pointer
    assert (ROOT / "README.md").is_file() and (ROOT / "docs").is_dir()
