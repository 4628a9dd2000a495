"""colorcli export: tiny U-Nets at several depths, checked in ONNX Runtime against PyTorch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import torch  # noqa: E402  (the train extra is part of the test install)
import onnx  # noqa: E402

import onnxruntime as ort  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from colorcli import __version__
from colorcli.models import cache
from colorcli.models import contract
from colorcli.models import registry  # noqa: E402
from colorcli.cli import cli  # noqa: E402
from colorcli.errors import CheckpointError, ModelError  # noqa: E402
from colorcli.models.modelcard import render_markdown  # noqa: E402
from colorcli.training import export  # noqa: E402
from colorcli.training.checkpoint import build_generator, load_generator, save_checkpoint  # noqa: E402
from colorcli.training.models import unet_config  # noqa: E402
from conftest import SHARED_DATA  # noqa: E402

BSDS_VAL = SHARED_DATA / "photos" / "val" / "bsds500"
CARD_NOTES = "## Training data\n\n| source | terms |\n| --- | --- |\n| synthetic | CC0 1.0 |\n"


def make_run(run_dir: Path, size: int, levels: int, normalisation=None) -> Path:
    """A checkpoint of a tiny U-Net whose outputs are not near zero and whose BatchNorms hold
    non-trivial running statistics, so folding and export errors would show."""
    model_config = unet_config(size, ngf=4, levels=levels)
    generator = build_generator(model_config)
    torch.manual_seed(levels)
    for module in generator.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            torch.nn.init.normal_(module.weight, 0.0, 0.25)
        elif isinstance(module, torch.nn.BatchNorm2d):
            torch.nn.init.normal_(module.weight, 1.0, 0.3)
            torch.nn.init.normal_(module.bias, 0.0, 0.3)
    return save_run(run_dir, generator, model_config, size, normalisation)


def save_run(run_dir: Path, generator, model_config: dict, size: int, normalisation=None) -> Path:
    """Save GENERATOR as a run's checkpoint after a few train-mode passes, so its BatchNorms hold
    running statistics that are not the identity."""
    generator.train()
    with torch.no_grad():
        for _ in range(3):
            generator(torch.rand(4, 1, size, size) * 2 - 1)
    config = {
        "model": model_config,
        "normalisation": normalisation or {"input": contract.INPUT_NORM, "output": contract.OUTPUT_NORM},
        "training": {"dataset": "test", "epochs": 2, "size": size},
        "data": {"train": "synthetic"},
        "epoch": 2,
        "metrics": {"val": {"psnr": 21.5}, "gray_baseline": {"psnr": 20.1}},
    }
    save_checkpoint(run_dir, "last", generator.eval(), config)
    return run_dir


@pytest.fixture(scope="module")
def run5(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("run5"), size=64, levels=5)


def onnx_matches_torch(model_path: Path, run_dir: Path, shapes, tolerance: float) -> float:
    generator, _ = load_generator(run_dir)
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    worst = 0.0
    for shape in shapes:
        batch = rng.uniform(-1, 1, shape).astype(np.float32)
        with torch.no_grad():
            expected = generator(torch.from_numpy(batch)).numpy()
        (got,) = session.run(None, {contract.INPUT_NAME: batch})
        assert got.shape == expected.shape == (shape[0], 2, shape[2], shape[3])
        assert np.abs(expected).max() > 0.1  # meaningful outputs, not all near zero
        worst = max(worst, float(np.abs(got - expected).max()))
    assert worst <= tolerance
    return worst


def graph_ops(model) -> set[str]:
    return {node.op_type for node in model.graph.node}


@pytest.fixture(scope="module")
def exported5(tmp_path_factory, run5):
    """run5 exported through the command line, with real photos in the parity check."""
    out = tmp_path_factory.mktemp("export") / "tiny-unet.onnx"
    notes = tmp_path_factory.mktemp("notes") / "notes.md"
    notes.write_text(CARD_NOTES, encoding="utf-8")
    result = CliRunner().invoke(cli, ["export", str(run5), "--out", str(out), "--images", str(BSDS_VAL),
                                      "--card-notes", str(notes)])
    assert result.exit_code == 0, result.output
    return out, result.stdout


def check_exported(out: Path, run_dir: Path, levels: int) -> None:
    unit = 2**levels
    stem = out.stem
    assert sorted(p.name for p in out.parent.iterdir()) == sorted([out.name, f"{stem}.json", f"{stem}.md"])
    onnx_matches_torch(out, run_dir, [(1, 1, unit, unit), (3, 1, 2 * unit, 3 * unit), (2, 1, 4 * unit, unit)], 1e-4)
    model = onnx.load(str(out))
    assert "BatchNormalization" not in graph_ops(model)
    assert {op.domain: op.version for op in model.opset_import}[""] == 18
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [bool(d.dim_param) for d in dims] == [True, False, True, True] and dims[1].dim_value == 1


def test_export_three_levels(tmp_path):
    run_dir = make_run(tmp_path / "run", size=32, levels=3)
    out = tmp_path / "out" / "unet3.onnx"
    result = export.export_model(run_dir, out)
    assert result.path == out
    assert result.folded_batchnorms == 3  # encoder level 1, decoder blocks 0 and 1
    assert result.parity["max_abs_diff"] <= 1e-4
    check_exported(out, run_dir, levels=3)


def test_effnet_with_upsampling_encoder_exports_at_its_size_unit(tmp_path):
    from colorcli.training.effnet import effnet_config

    model_config = effnet_config(32, encoder_scale=2)
    torch.manual_seed(2)  # default initialisation: an effnet with make_run's wide weights overflows float32 precision
    run_dir = save_run(tmp_path / "run", build_generator(model_config), model_config, 32)
    out = tmp_path / "out" / "effnet-x2.onnx"
    result = export.export_model(run_dir, out)
    assert result.parity["max_abs_diff"] <= 1e-4
    onnx_matches_torch(out, run_dir, [(1, 1, 16, 16), (2, 1, 32, 48), (1, 1, 64, 32)], 1e-4)
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta[contract.META_SIZE_UNIT] == "16" and meta[contract.META_NATIVE_SIZE] == "32"
    # averaged with its mirror image: still one pass through the generator, BatchNorm folded
    flipped = export.export_model(run_dir, tmp_path / "out" / "effnet-x2-flip.onnx", flip_average=True,
                                  shift_average=True)
    assert flipped.parity["max_abs_diff"] <= 1e-4
    assert "BatchNormalization" not in graph_ops(onnx.load(str(flipped.path)))


def shift_average_reference(generator, batch: np.ndarray) -> np.ndarray:
    """Each pixel's a, b averaged over the views that hold it: L as is and moved by one pixel up,
    down, left and right (numpy reflect padding), predicted one view at a time."""
    n, _, h, w = batch.shape
    padded = np.pad(batch, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="reflect")
    total, count = np.zeros((n, 2, h, w)), np.zeros((1, 1, h, w))
    for dy, dx in ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)):
        view = np.ascontiguousarray(padded[:, :, 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w])
        with torch.no_grad():
            ab = generator(torch.from_numpy(view)).numpy()
        # view pixel (y, x) shows L at (y + dy, x + dx): it predicts that pixel, when inside the picture
        ys, xs = slice(max(0, dy), h + min(0, dy)), slice(max(0, dx), w + min(0, dx))
        total[:, :, ys, xs] += ab[:, :, max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
        count[:, :, ys, xs] += 1
    return (total / count).astype(np.float32)


def test_chroma_gain_and_flip_average_are_inside_the_graph_and_on_the_card(tmp_path, run5):
    generator, _ = load_generator(run5)
    batch = np.random.default_rng(3).uniform(-1, 1, (2, 1, 64, 96)).astype(np.float32)
    with torch.no_grad():
        plain = generator(torch.from_numpy(batch)).numpy()
        mirrored = generator(torch.from_numpy(batch[:, :, :, ::-1].copy())).numpy()[:, :, :, ::-1]
    assert (np.abs(plain) > 1 / 1.5).any()  # some outputs really are clipped
    assert np.abs(plain - mirrored).max() > 0.05  # the mirror image gives other colours
    shifted = shift_average_reference(generator, batch)
    assert np.abs(shifted - plain).max() > 0.01
    cases = {"gain": (["--chroma-gain", "1.5"], np.clip(plain * 1.5, -1, 1), "1.5", "false"),
             "shift": (["--shift-average"], shifted, "1", "false"),
             "flip": (["--flip-average"], (plain + mirrored) / 2, "1", "true"),
             "both": (["--flip-average", "--chroma-gain", "1.5"], np.clip((plain + mirrored) * 0.75, -1, 1), "1.5", "true")}
    for name, (options, expected, gain, flip) in cases.items():
        out = tmp_path / f"{name}.onnx"
        result = CliRunner().invoke(cli, ["export", str(run5), "--out", str(out), *options])
        assert result.exit_code == 0, result.output
        session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        (got,) = session.run(None, {contract.INPUT_NAME: batch})
        assert np.abs(got - expected).max() <= 1e-4, name
        meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
        shift = "true" if name == "shift" else "false"
        assert (meta[contract.META_CHROMA_GAIN], meta[contract.META_FLIP_AVERAGE],
                meta[contract.META_SHIFT_AVERAGE]) == (gain, flip, shift)
        card = json.loads(out.with_suffix(".json").read_text())
        assert (card["chroma_gain"], card["flip_average"], card["shift_average"]) == (
            float(gain), flip == "true", shift == "true")
        text = out.with_suffix(".md").read_text()
        assert ("chroma gain 1.5" in text) == (gain == "1.5") and ("flip average" in text) == (flip == "true")
        assert ("more saturated than the trained generator alone" in text) == (gain == "1.5")
        assert ("shift average" in text) == (shift == "true")
    card["chroma_gain"] = 0.9  # a gain below 1 is described as what it does
    assert "less saturated than the trained generator alone" in render_markdown(card)
    bad = CliRunner().invoke(cli, ["export", str(run5), "--out", str(tmp_path / "x.onnx"), "--chroma-gain", "0"])
    assert bad.exit_code != 0 and not (tmp_path / "x.onnx").exists()


def test_cli_export_five_levels(exported5, run5):
    out, stdout = exported5
    assert "folded 7 BatchNorm layers" in stdout
    assert "parity fp32 on photos (" in stdout and "wrote" in stdout
    check_exported(out, run5, levels=5)


def test_metadata_and_card_round_trip(exported5, run5):
    out, _ = exported5
    _, config = load_generator(run5)

    meta = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    assert meta[contract.META_NATIVE_SIZE] == "64" and meta[contract.META_SIZE_UNIT] == "32"
    assert meta[contract.META_INPUT_NORM] == contract.INPUT_NORM
    assert meta[contract.META_OUTPUT_NORM] == contract.OUTPUT_NORM
    assert meta[contract.META_ARCHITECTURE] == "unet"
    assert json.loads(meta[contract.META_MODEL_CONFIG]) == config["model"]
    training = json.loads(meta[contract.META_TRAINING])
    assert training["dataset"] == "test" and training["epochs_completed"] == 2
    assert training["data"] == {"train": "synthetic"}
    assert json.loads(meta[contract.META_METRICS]) == config["metrics"]
    assert meta[contract.META_VERSION] == __version__ and meta[contract.META_PRECISION] == "fp32"
    assert meta[contract.META_CREATED].endswith("+00:00")
    graph = onnx.load(str(out)).graph
    assert not [n.name for n in graph.node if n.metadata_props], "nodes keep the exporter's stack traces"
    assert str(Path(export.__file__).parent) not in out.read_bytes().decode("latin-1")

    card = json.loads(out.with_suffix(".json").read_text())
    assert card["sha256"] == cache.sha256_file(out)
    assert card["size"] == out.stat().st_size
    assert card["native_size"] == 64 and card["size_unit"] == 32 and card["metrics"] == config["metrics"]
    assert card["parity"]["max_abs_diff"] <= 1e-4
    labels = [check["input"] for check in card["parity"]["checks"]]
    assert any(label.startswith("photos (") for label in labels)
    markdown = out.with_suffix(".md").read_text()
    assert card["sha256"] in markdown and "L/50-1" in markdown and "psnr" in markdown
    assert card["notes"] == CARD_NOTES and CARD_NOTES.strip() in markdown
    assert markdown.index("| synthetic | CC0 1.0 |") < markdown.index("## Input and output")


def test_fp16_weights_keep_float32_io(tmp_path, run5):
    out = tmp_path / "h.onnx"
    result = export.export_model(run5, out, fp16=True)
    assert result.precision == "fp16" and result.parity["tolerance"] == 2e-2
    model = onnx.load(str(out))
    initializer_types = {init.data_type for init in model.graph.initializer}
    assert onnx.TensorProto.FLOAT16 in initializer_types and onnx.TensorProto.FLOAT not in initializer_types
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    onnx_matches_torch(out, run5, [(2, 1, 64, 96)], 2e-2)


def test_failed_verification_writes_nothing(tmp_path, run5, monkeypatch):
    out = tmp_path / "keep" / "m.onnx"
    out.parent.mkdir()
    out.write_bytes(b"previous model")
    monkeypatch.setitem(export.PARITY_TOLERANCE, "fp32", -1.0)  # no export can pass
    with pytest.raises(ModelError, match="parity check failed"):
        export.export_model(run5, out)
    assert out.read_bytes() == b"previous model"
    assert [p.name for p in out.parent.iterdir()] == ["m.onnx"]


def test_checkpoint_outside_the_contract_is_refused(tmp_path):
    run_dir = make_run(tmp_path / "run", size=32, levels=3, normalisation={"input": "L/100", "output": "ab/128"})
    with pytest.raises(CheckpointError, match="normalisation"):
        export.export_model(run_dir, tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_exported_model_imports_and_resolves_by_name(tmp_path, exported5, monkeypatch):
    out, _ = exported5
    monkeypatch.setenv(cache.HOME_ENV, str(tmp_path / "home"))
    monkeypatch.setattr(registry, "EMBEDDED_DIR", tmp_path / "no-embedded")
    runner = CliRunner()
    result = runner.invoke(cli, ["fetch", "--from", str(out)])
    assert result.exit_code == 0, result.output
    assert registry.resolve_model("tiny-unet").read_bytes() == out.read_bytes()


def test_bad_arguments_are_one_line_errors(tmp_path, run5):
    runner = CliRunner()
    result = runner.invoke(cli, ["export", str(run5), "--out", str(tmp_path / "model.bin")])
    assert result.exit_code == 2 and "must be an .onnx file" in result.stderr
    result = runner.invoke(cli, ["export", str(tmp_path), "--out", str(tmp_path / "m.onnx")])
    assert result.exit_code == 1 and "no checkpoint here" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "m.onnx").exists()
