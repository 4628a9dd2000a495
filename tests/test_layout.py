"""The folders are the boundaries. Imports run one way, from file I/O up to the commands (the table in
docs/development.md, checked below over every import, lazy ones too), and what needs the train extra lives
in colorcli/training/, which nothing else loads: each of those checks runs in a fresh interpreter, so
modules other tests imported cannot hide a leak."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "colorcli"
# what `pip install "colorcli[train]"` adds, by import name
TRAIN_EXTRA = ("torch", "onnx", "onnxscript", "safetensors", "onnxconverter_common")


def module_names(folder: Path) -> list[str]:
    names = []
    for path in sorted(folder.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__main__":  # runs the CLI when imported
            continue
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def outside(*folders: str) -> list[str]:
    skipped = tuple(f"colorcli.{folder}" for folder in folders)
    return [name for name in module_names(PACKAGE) if not name.startswith(skipped)]


def loaded_after_importing(modules: list[str], watched: tuple[str, ...]) -> list[str]:
    """The watched modules in sys.modules after a fresh interpreter imports `modules`."""
    code = ("import importlib, sys\n"
            f"for name in {modules!r}:\n    importlib.import_module(name)\n"
            f"print(sorted(m for m in {watched!r} if m in sys.modules))\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=PACKAGE.parent)
    assert run.returncode == 0, run.stderr
    return ast.literal_eval(run.stdout.strip().splitlines()[-1])


def test_the_library_outside_training_imports_no_part_of_the_train_extra():
    library = outside("training", "commands")
    assert {"colorcli.models.runtime", "colorcli.io.images", "colorcli.batch.pipeline", "colorcli.scoring.evaluate",
            "colorcli.scoring.fid", "colorcli.models.fetch", "colorcli.cli"} <= set(library)
    assert loaded_after_importing(library, TRAIN_EXTRA) == []


def test_commands_load_the_training_package_only_when_they_run():
    commands = module_names(PACKAGE / "commands")
    assert "colorcli.commands.train" in commands and "colorcli.commands.export" in commands
    assert loaded_after_importing(commands, ("torch", "colorcli.training")) == []


def test_the_colorize_parent_process_loads_no_image_codec():
    """colorize's parent walks the tree and runs the model; decoding is the workers' (imported in the
    fork server): OpenCV and Pillow in the parent would only delay the start of every worker."""
    parent = ["colorcli.cli", "colorcli.commands.colorize", "colorcli.commands._progress", "colorcli.batch.pipeline",
              "colorcli.models.runtime", "colorcli.io.formats", "colorcli.io.atomic"]
    assert loaded_after_importing(parent, ("cv2", "PIL", "tifffile")) == []
    assert loaded_after_importing(["colorcli.io.images"], ("cv2", "PIL")) == ["PIL", "cv2"]
    # the fork server is started before the command's own imports: what starts it must import nothing heavy
    assert loaded_after_importing(["colorcli.batch.processes"], ("numpy", "cv2", "onnxruntime", "rich")) == []


def test_importing_the_training_package_itself_stays_light():
    """`colorcli.training` holds no code: only its modules load torch."""
    assert loaded_after_importing(["colorcli.training"], ("torch",)) == []
    assert loaded_after_importing(["colorcli.training.loop"], ("torch",)) == ["torch"]


def imports_of(path: Path) -> list[tuple[str, int]]:
    """(module, line) of every import in a file, at any depth (lazy imports inside functions too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [(node.module, node.lineno)] + [(f"{node.module}.{a.name}", node.lineno) for a in node.names]
    return found


def test_torch_is_imported_only_under_training_and_by_fid():
    """Lazy imports count too: outside colorcli/training/ only FID, and train's check that the extra is
    installed, may name torch."""
    allowed = {PACKAGE / "scoring" / "fid.py", PACKAGE / "commands" / "train.py"}
    offenders = [f"{path.relative_to(PACKAGE.parent)}:{line}"
                 for path in sorted(PACKAGE.rglob("*.py"))
                 if PACKAGE / "training" not in path.parents and path not in allowed
                 for module, line in imports_of(path) if module.split(".")[0] in TRAIN_EXTRA]
    assert offenders == []


def test_library_code_never_imports_the_command_line():
    """The converse boundary: training and the inference library raise errors, the CLI reports them."""
    offenders = [f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}"
                 for path in sorted(PACKAGE.rglob("*.py"))
                 if PACKAGE / "commands" not in path.parents and path.name not in ("cli.py", "__main__.py")
                 for module, line in imports_of(path)
                 if module.startswith(("colorcli.commands", "colorcli.cli"))]
    assert offenders == []


# package -> the colorcli packages its modules may import (besides itself, `errors` and the root's __version__)
MAY_IMPORT = {
    "io": set(),
    "look": {"io"},
    "models": {"look", "io"},
    "scoring": {"models", "look", "io"},
    "batch": {"scoring", "models", "look", "io"},
    "training": {"batch", "scoring", "models", "look", "io"},
    "commands": {"training", "batch", "scoring", "models", "look", "io", "cli"},
}
ROOT_MODULES = {"__init__.py", "__main__.py", "cli.py", "errors.py"}


def layering_breaks(package: Path) -> list[str]:
    """'FILE:LINE imports MODULE' for every import in `package` that the MAY_IMPORT table forbids."""
    breaks = []
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package).parts
        if len(parts) == 1:  # the root modules: cli and __main__ may import anything, errors nothing
            allowed = set() if parts[0] == "errors.py" else None
        else:
            allowed = MAY_IMPORT.get(parts[0], set()) | {parts[0]}
        if allowed is None:
            continue
        for module, line in imports_of(path):
            names = module.split(".")
            if names[0] != "colorcli" or len(names) == 1 or names[1] in ("errors", "__version__"):
                continue
            if names[1] not in allowed:
                breaks.append(f"{path.relative_to(package.parent)}:{line} imports {module}")
    return breaks


def test_every_import_follows_the_layering_table():
    assert layering_breaks(PACKAGE) == []


def test_the_layering_check_finds_an_import_that_runs_back_up(tmp_path):
    """The checker itself: a look module importing the batch run, or io importing models, is named."""
    package = tmp_path / "colorcli"
    (package / "look").mkdir(parents=True)
    (package / "io").mkdir()
    (package / "look" / "tone.py").write_text("def f():\n    from colorcli.batch import pipeline\n")
    (package / "io" / "images.py").write_text("import colorcli.models.runtime\nfrom colorcli.errors import ImageError\n")
    (package / "errors.py").write_text("from colorcli.io import images\n")
    assert layering_breaks(package) == ["colorcli/errors.py:1 imports colorcli.io",
                                        "colorcli/errors.py:1 imports colorcli.io.images",
                                        "colorcli/io/images.py:1 imports colorcli.models.runtime",
                                        "colorcli/look/tone.py:2 imports colorcli.batch",
                                        "colorcli/look/tone.py:2 imports colorcli.batch.pipeline"]


def test_no_relative_imports_hide_from_the_layering_check():
    relative = [f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"
                for path in sorted(PACKAGE.rglob("*.py"))
                for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                if isinstance(node, ast.ImportFrom) and node.level > 0]
    assert relative == []


def test_the_root_is_small_and_every_package_is_one_level_deep():
    assert {p.name for p in PACKAGE.glob("*.py")} == ROOT_MODULES
    packages = sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__")
    assert packages == sorted(MAY_IMPORT)
    for name in packages:
        assert (PACKAGE / name / "__init__.py").is_file(), name
        nested = [p for p in (PACKAGE / name).iterdir()
                  if p.is_dir() and p.name != "__pycache__" and any(p.rglob("*.py"))]
        assert nested == [], f"colorcli/{name} holds a package of its own: {nested}"


def test_each_package_says_what_it_holds_and_what_it_may_import():
    for name in MAY_IMPORT:
        doc = ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text(encoding="utf-8")))
        assert doc and "May import" in doc, f"colorcli/{name}/__init__.py"
