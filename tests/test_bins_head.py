"""`colorcli train --head bins`: the bin grid, soft targets, class rebalancing, the annealed mean, and a
tiny effnet-lite0 run that trains, resumes exactly, starts from an l1 model's ONNX with a fresh head, and
exports to an ONNX that colorize uses."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch
from click.testing import CliRunner

from colorcli.cli import cli
from colorcli.models import contract
from colorcli.training import bins, checkpoint
from colorcli.training.data import rgb8_to_lab_norm
from test_train_effnet import _photo_folder

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _ab(values) -> torch.Tensor:
    """(a, b) pairs in Lab units -> ab/110 [1, 2, 1, N]."""
    return torch.tensor(values, dtype=torch.float32).T.reshape(1, 2, 1, -1) / contract.AB_SCALE


def test_the_bins_are_the_srgb_cells_of_a_10_grid():
    centres = np.array(bins.bin_centres())
    assert 250 <= len(centres) <= 313 and len(np.unique(centres, axis=0)) == len(centres)
    assert np.all(centres % 10 == 0)
    assert centres[:, 0].min() >= -90 and centres[:, 0].max() <= 100
    assert centres[:, 1].min() >= -110 and centres[:, 1].max() <= 100
    assert [0, 0] in centres.tolist()
    # every colour of a coarse sRGB sweep lies within half a cell's diagonal of a bin
    v = torch.arange(0, 256, 17, dtype=torch.uint8)
    rgb = torch.stack(torch.meshgrid(v, v, v, indexing="ij"), -1).reshape(1, -1, 1, 3)
    _, ab = rgb8_to_lab_norm(rgb)
    _, distance = bins.nearest(ab, bins.centres_tensor(centres))
    assert float(distance.max().sqrt()) <= 5 * 2**0.5 + 1e-3


def test_soft_targets_sum_to_one_and_peak_at_the_nearest_bin():
    centres = bins.centres_tensor(bins.bin_centres())
    truth = [(0, 0), (23, -41), (-52, 38), (61.5, 7.2), (-4, 3)]
    index, weight = bins.soft_encode(_ab(truth), centres)
    assert index.shape == weight.shape == (1, bins.SOFT_NEIGHBOURS, 1, len(truth))
    assert torch.allclose(weight.sum(1), torch.ones(1, 1, len(truth)))
    dense = bins.dense_targets(index, weight, len(centres))
    assert torch.allclose(dense.sum(1), torch.ones(1, 1, len(truth)))
    grid = centres * contract.AB_SCALE
    for i, (a, b) in enumerate(truth):
        nearest = int(((grid - torch.tensor([a, b])).square().sum(1)).argmin())
        assert int(dense[0, :, 0, i].argmax()) == nearest == int(index[0, 0, 0, i])
    # on a bin's centre its four neighbours 10 apart get exp(-100 / 50) of its weight
    assert torch.allclose(weight[0, 1:, 0, 0] / weight[0, 0, 0, 0], torch.full((4,), float(np.exp(-2.0))))


def test_the_annealed_mean_goes_from_the_mean_at_one_to_the_mode_near_zero():
    centres = bins.centres_tensor(bins.bin_centres())
    logits = torch.randn(2, len(centres), 3, 4, generator=torch.Generator().manual_seed(0)) * 3
    mean = torch.einsum("bqhw,qc->bchw", torch.softmax(logits, 1), centres)
    assert torch.allclose(bins.annealed_mean(logits, centres, 1.0), mean, atol=1e-6)
    mode = centres[logits.argmax(1)].permute(0, 3, 1, 2)
    assert torch.allclose(bins.annealed_mean(logits, centres, 1e-3), mode, atol=1e-4)
    # a lower temperature commits: the decoded colours are further from grey on average
    chroma = [bins.annealed_mean(logits, centres, t).norm(dim=1).mean() for t in (1.0, 0.38)]
    assert chroma[1] > chroma[0]


def test_rebalancing_weights_average_one_and_lift_rare_colours():
    centres = bins.bin_centres()
    counts = torch.zeros(len(centres), dtype=torch.float64)
    grey, red = centres.index((0, 0)), centres.index((60, 40))
    counts[grey], counts[red], counts[centres.index((10, 10))] = 1000, 10, 100
    weights = bins.rebalance_weights(counts, centres, 0.5)
    p = counts / counts.sum()
    assert float((p * weights.double()).sum()) == pytest.approx(1.0, abs=1e-5)
    assert weights[red] > weights[grey] and torch.all(weights > 0)
    assert torch.allclose(bins.rebalance_weights(counts, centres, 0.0), torch.ones(len(centres)))


def test_the_loss_is_taken_at_a_quarter_of_the_resolution():
    centres = bins.centres_tensor(bins.bin_centres())
    real = torch.rand(2, 2, 16, 16) * 0.6 - 0.3
    index, weight = bins.soft_encode(bins.quarter(real), centres)
    perfect = torch.log(bins.dense_targets(index, weight, len(centres)) + 1e-12)
    uniform = torch.zeros(2, len(centres), 4, 4)
    assert bins.cross_entropy(perfect, real, centres) < bins.cross_entropy(uniform, real, centres)
    assert float(bins.cross_entropy(uniform, real, centres)) == pytest.approx(np.log(len(centres)), rel=1e-5)
    with pytest.raises(ValueError, match="quarter"):
        bins.cross_entropy(torch.zeros(2, len(centres), 16, 16), real, centres)


def _run(args) -> object:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_a_tiny_bins_run_trains_resumes_exactly_and_exports_for_colorize(tmp_path):
    _photo_folder(tmp_path / "photos", [f"p{i}.png" for i in range(8)], seed=1)
    _photo_folder(tmp_path / "val", [f"v{i}.png" for i in range(2)], seed=3)
    data = ["train", "--dataset", tmp_path / "photos", "--val-dir", tmp_path / "val", "--size", 32, "--ndf", 8,
            "--batch-size", 4, "--limit", 8, "--threads", 1, "--prepared-dir", "off", "--generator", "effnet-lite0",
            "--head", "bins", "--pretrain-epochs", 1]
    result = _run([*data, "--epochs", 1, "--out", tmp_path / "run"])
    assert "BINS-CE" in result.output
    config = checkpoint.load_checkpoint(tmp_path / "run", tag="last").config
    assert config["model"]["head"] == "bins" and len(config["model"]["bin_centres"]) == len(bins.bin_centres())
    weights = config["training"]["bin_class_weights"]
    assert config["training"]["rebalance"] == 0.5 and len(weights) == len(bins.bin_centres())
    _run(["train", "--out", tmp_path / "run", "--resume", "--epochs", 2])  # the GAN phase from here
    _run([*data, "--epochs", 2, "--out", tmp_path / "straight"])
    resumed = checkpoint.load_checkpoint(tmp_path / "run", tag="last")
    straight = checkpoint.load_checkpoint(tmp_path / "straight", tag="last")
    assert resumed.epoch == 2 and resumed.config["training"]["bin_class_weights"] == weights
    assert all(torch.equal(value, straight.weights()[key]) for key, value in resumed.weights().items()), \
        "a resumed bins run ends with the weights of one never stopped"

    model = tmp_path / "bins.onnx"
    result = _run(["export", tmp_path / "run", "--out", model, "--temperature", "0.5", "--inference-size", 64])
    assert "temperature 0.5" in result.output
    card = json.loads((tmp_path / "bins.json").read_text())
    assert card["parity"]["max_abs_diff"] <= 1e-4 and card["head"] == "bins" and card["temperature"] == 0.5
    assert "annealed mean at temperature 0.5" in (tmp_path / "bins.md").read_text()
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert meta[contract.META_HEAD] == "bins" and meta[contract.META_TEMPERATURE] == "0.5"
    batch = np.random.default_rng(0).uniform(-1, 1, (1, 1, 64, 96)).astype(np.float32)
    (ab,) = session.run(None, {contract.INPUT_NAME: batch})
    assert ab.shape == (1, 2, 64, 96) and np.abs(ab).max() <= 1.0
    generator, _ = checkpoint.load_generator(tmp_path / "run")
    generator.temperature = 0.5
    with torch.no_grad():
        assert np.abs(generator(torch.from_numpy(batch)).numpy() - ab).max() <= 1e-4

    _run(["colorize", tmp_path / "val", "--out", tmp_path / "coloured", "--model", model, "--format", "png",
          "--include-color", "--quiet"])
    report = json.loads((tmp_path / "coloured" / "colorcli-report.json").read_text())
    assert sum(1 for f in report["files"] if f["status"] == "ok") == 2, report["files"]

    # a bins run from an exported model: this one's head, or an l1 model's decoder with a fresh head
    result = _run([*data, "--epochs", 1, "--init-from", model, "--out", tmp_path / "again"])
    assert "frozen for this run" in result.output and "fresh" not in result.output


def test_a_bins_run_from_an_l1_model_keeps_its_decoder_and_starts_its_head(tmp_path):
    """(and an l1 model takes no --temperature)"""
    from colorcli.errors import UsageError
    from colorcli.training import from_onnx
    from colorcli.training.export import export_model

    _photo_folder(tmp_path / "photos", [f"p{i}.png" for i in range(4)], seed=1)
    _photo_folder(tmp_path / "val", [f"v{i}.png" for i in range(2)], seed=3)
    data = ["train", "--dataset", tmp_path / "photos", "--val-dir", tmp_path / "val", "--size", 32, "--ndf", 8,
            "--batch-size", 4, "--threads", 1, "--prepared-dir", "off", "--generator", "effnet-lite0",
            "--pretrain-epochs", 1, "--epochs", 1, "--lr", 1e-12, "--lr-encoder", 1e-12]
    _run([*data, "--out", tmp_path / "l1"])
    with pytest.raises(UsageError, match="--head bins"):
        export_model(tmp_path / "l1", tmp_path / "x.onnx", temperature=0.5)
    _run(["export", tmp_path / "l1", "--out", tmp_path / "l1.onnx", "--chroma-gain", 1.2])
    result = _run([*data, "--head", "bins", "--init-from", tmp_path / "l1.onnx", "--out", tmp_path / "bins"])
    assert "new bins head, started as a Gaussian" in result.output and "frozen for this run" in result.output
    loaded = from_onnx.load_generator(tmp_path / "l1.onnx")[0].state_dict()
    state = checkpoint.load_checkpoint(tmp_path / "bins", tag="last").weights()
    assert state["head.weight"].shape[0] == len(bins.bin_centres())
    head = torch.nn.Conv2d(state["head.weight"].shape[1], len(bins.bin_centres()), 1)
    bins.head_from_l1(head, loaded["head.weight"], loaded["head.bias"], bins.centres_tensor(bins.bin_centres()))
    assert torch.allclose(state["head.weight"], head.weight, rtol=1e-4, atol=1e-3)
    shared = [key for key in loaded if not key.startswith("head.")]
    assert shared and all(torch.allclose(state[key], loaded[key], atol=1e-6) for key in shared)


def test_bins_needs_an_effnet_generator_and_its_own_loss(tmp_path):
    base = ["train", "--dataset", tmp_path, "--size", 32, "--head", "bins", "--out", tmp_path / "run"]
    for extra, message in ((["--generator", "unet"], "needs an effnet generator"),
                           (["--generator", "effnet-lite0", "--pixel-loss", "mse"], "its own cross-entropy")):
        result = CliRunner().invoke(cli, [str(a) for a in [*base, *extra]])
        assert result.exit_code == 2 and message in result.output, result.output


def test_the_nearest_bins_by_the_lookup_table_are_the_exact_ones():
    centres = bins.centres_tensor(bins.bin_centres())
    rgb = torch.randint(0, 256, (2, 32, 32, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    ab = bins.quarter(rgb8_to_lab_norm(rgb)[1])
    index, distance = bins.nearest(ab, centres, bins.SOFT_NEIGHBOURS)
    points = ab.permute(0, 2, 3, 1).reshape(-1, 2) * contract.AB_SCALE
    exact, order = torch.topk(torch.cdist(points, centres * contract.AB_SCALE).square(), bins.SOFT_NEIGHBOURS,
                              dim=1, largest=False)
    found = index.permute(0, 2, 3, 1).reshape(-1, bins.SOFT_NEIGHBOURS)
    assert torch.equal(found.sort(1).values, order.sort(1).values)
    assert torch.allclose(distance.permute(0, 2, 3, 1).reshape(exact.shape), exact, atol=1e-2)


def test_a_bins_head_started_from_an_l1_head_gives_its_colours():
    torch.manual_seed(0)
    l1 = torch.nn.Conv2d(6, 2, 1)
    torch.nn.init.normal_(l1.weight, 0.0, 0.05)
    torch.nn.init.normal_(l1.bias, 0.0, 0.05)  # colours well inside the gamut (outside it the bins end)
    centres = bins.centres_tensor(bins.bin_centres())
    head = torch.nn.Conv2d(6, len(centres), 1)
    bins.head_from_l1(head, l1.weight, l1.bias, centres)
    x = torch.randn(3, 6, 5, 7)
    with torch.no_grad():
        u = l1(x)  # the l1 head's a, b before its tanh
        decoded = bins.annealed_mean(head(x), centres, 1.0)
    assert float(u.abs().max()) * contract.AB_SCALE > 10, "colours, not only grey"
    assert float((decoded - u).abs().mean()) * contract.AB_SCALE < 1.0
