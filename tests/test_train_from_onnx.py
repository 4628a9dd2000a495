"""`colorcli train --init-from MODEL.onnx`: the generator rebuilt from an exported model's folded
weights matches ONNX Runtime, its batch norms stay frozen through a run and its resume, and a
generator that does not fit is a one-line error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from click.testing import CliRunner
from onnx import numpy_helper

from colorcli.cli import cli
from colorcli.errors import CheckpointError
from colorcli.models import contract
from colorcli.training import checkpoint, from_onnx
from colorcli.training.loop import TrainOptions, resume_options
from test_train_effnet import _photo_folder

pytestmark = pytest.mark.usefixtures("one_torch_thread")

GAIN = 1.3
SHIPPED = Path(__file__).resolve().parents[1] / "colorcli" / "models" / "effnet-lite2-photos.onnx"


def _train(args) -> object:
    return CliRunner().invoke(cli, ["train", *[str(a) for a in args]], catch_exceptions=False)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny effnet-lite0 run of one epoch, exported with a chroma gain, and photos to train on."""
    root = tmp_path_factory.mktemp("from-onnx")
    _photo_folder(root / "photos", [f"p{i}.png" for i in range(6)], seed=1)
    _photo_folder(root / "val", [f"v{i}.png" for i in range(2)], seed=3)
    data = ["--dataset", root / "photos", "--val-dir", root / "val", "--size", 32, "--ndf", 8, "--batch-size", 3,
            "--pretrain-epochs", 5, "--threads", 1, "--prepared-dir", "off"]
    result = _train([*data, "--generator", "effnet-lite0", "--epochs", 1, "--out", root / "first"])
    assert result.exit_code == 0, result.output
    model = root / "first.onnx"
    result = CliRunner().invoke(cli, ["export", str(root / "first"), "--out", str(model), "--chroma-gain", str(GAIN)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return root, model, data


def _batchnorms(state: dict) -> dict:
    parts = (".running_mean", ".running_var", ".weight", ".bias")
    norms = {key.rsplit(".", 1)[0] for key in state if key.endswith(".running_var")}
    return {key: value for key, value in state.items() if key.rsplit(".", 1)[0] in norms and key.endswith(parts)}


def test_the_rebuilt_generator_times_the_gain_is_onnx_runtimes_output(exported):
    root, model, _ = exported
    generator, info = from_onnx.load_generator(model)
    assert info["chroma_gain"] == GAIN and not info["flip_average"] and info["max_abs_diff"] <= 1e-4
    assert info["batchnorms"] == sum(isinstance(m, torch.nn.BatchNorm2d) for m in generator.modules())
    batch = np.random.default_rng(7).uniform(-1, 1, (3, 1, 32, 64)).astype(np.float32)
    with torch.no_grad():
        ab = generator(torch.from_numpy(batch)).numpy()
        trained = checkpoint.load_generator(root / "first")[0](torch.from_numpy(batch)).numpy()
    (got,) = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, {"L": batch})
    assert np.abs(np.clip(ab * GAIN, -1, 1) - got).max() <= 1e-4
    assert np.abs(ab - trained).max() <= 1e-4, "the torch generator predicts the a, b it was trained to"
    assert np.abs(ab).max() > 0.05


def test_a_run_from_the_onnx_keeps_its_batch_norms_frozen_and_so_does_its_resume(exported):
    root, model, data = exported
    loaded = from_onnx.load_generator(model)[0].state_dict()
    run = root / "second"
    result = _train([*data, "--generator", "effnet-lite0", "--epochs", 1, "--init-from", model, "--out", run])
    assert result.exit_code == 0, result.output
    assert "frozen for this run" in result.output and "chroma gain 1.3" in result.output
    for epochs in (1, 2):
        if epochs == 2:
            result = _train(["--out", run, "--resume", "--epochs", 2])
            assert result.exit_code == 0, result.output
        saved = checkpoint.load_checkpoint(run, tag="last")
        assert saved.epoch == epochs and saved.config["training"]["frozen_bn"] is True
        state = saved.weights("generator")
        norms = _batchnorms(loaded)
        assert len(norms) == 4 * from_onnx.load_generator(model)[1]["batchnorms"]
        assert all(torch.equal(state[key], value) for key, value in norms.items()), f"epoch {epochs} moved a batch norm"
        convs = [key for key in loaded if key.endswith(".weight") and key not in norms]
        assert any(not torch.equal(state[key], loaded[key]) for key in convs), "the convolutions train"
    # a run started from this one's checkpoint inherits the frozen batch norms
    result = _train([*data, "--generator", "effnet-lite0", "--epochs", 1, "--init-from", run / "last.json",
                     "--out", root / "third"])
    assert result.exit_code == 0, result.output
    third = checkpoint.load_checkpoint(root / "third", tag="last")
    assert third.config["training"]["frozen_bn"] is True
    assert all(torch.equal(third.weights("generator")[key], value) for key, value in norms.items())


def test_a_generator_that_does_not_fit_is_one_line(exported):
    root, model, data = exported
    for generator, named in (("effnet-lite1", "effnet-lite0, this run's --generator is effnet-lite1"),
                             ("unet", "this run's --generator is unet")):
        result = _train([*data, "--generator", generator, "--epochs", 1, "--init-from", model,
                         "--out", root / f"wrong-{generator}"])
        assert result.exit_code == 2
        assert len(result.output.strip().splitlines()) == 1 and named in result.output, result.output


def test_a_model_whose_weights_do_not_fit_or_match_its_graph_is_refused(exported, tmp_path):
    _, model, _ = exported
    proto = onnx.load(str(model))
    extra = onnx.ModelProto()
    extra.CopyFrom(proto)
    extra.graph.initializer.append(numpy_helper.from_array(np.ones(3, np.float32), "generator.head.extra.weight"))
    onnx.save(extra, str(tmp_path / "extra.onnx"))
    with pytest.raises(CheckpointError, match="1 weights of the model fit no convolution"):
        from_onnx.load_generator(tmp_path / "extra.onnx")
    missing = onnx.ModelProto()
    missing.CopyFrom(proto)
    head = next(init for init in missing.graph.initializer if init.name == "generator.head.weight")
    missing.graph.initializer.remove(head)
    onnx.save(missing, str(tmp_path / "missing.onnx"))
    with pytest.raises(CheckpointError, match=r"2 weights of the generator are not in the model "
                                              r"\(e.g. head.weight, head.bias\)"):
        from_onnx.load_generator(tmp_path / "missing.onnx")
    # a model whose metadata says another gain than its graph applies: the parity check catches it
    meta = {p.key: p for p in proto.metadata_props}
    meta[contract.META_CHROMA_GAIN].value = "1.2"
    onnx.save(proto, str(tmp_path / "wrong-gain.onnx"))
    with pytest.raises(CheckpointError, match=r"wrong-gain\.onnx: .* differs from ONNX Runtime by"):
        from_onnx.load_generator(tmp_path / "wrong-gain.onnx")


def test_old_checkpoints_resume_with_batch_norms_free(exported, tmp_path):
    root, _, _ = exported
    pointer = json.loads((root / "first" / "last.json").read_text())
    assert pointer["config"]["training"]["frozen_bn"] is False
    del pointer["config"]["training"]["frozen_bn"]
    run = tmp_path / "old"
    (run / "checkpoints").mkdir(parents=True)
    (run / "last.json").write_text(json.dumps(pointer))
    options, _ = resume_options(TrainOptions(dataset=None, out=str(run), resume=True))
    assert options.frozen_bn is False


def test_the_shipped_model_loads_back_to_onnx_runtimes_output():
    generator, info = from_onnx.load_generator(SHIPPED, threads=1)
    assert info["model"]["architecture"] == "effnet-lite2" and info["native_size"] == 128
    card = json.loads(SHIPPED.with_suffix(".json").read_text())
    assert info["chroma_gain"] == card["chroma_gain"] and info["max_abs_diff"] <= 1e-4
    assert all(not m.training for m in generator.modules())
