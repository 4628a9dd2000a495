"""The pretrained-encoder generator in training: parameter groups, freezing, the L1 warm-up,
--degrade, several validation sets, and export of what it trains."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from colorcli.cli import cli
from colorcli.training.data import Split
from colorcli.training.loop import Trainer, TrainOptions
from test_data import smooth_colour_images


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def effnet_trainer(tmp_path, **overrides) -> Trainer:
    options = TrainOptions(dataset="photos", out=str(tmp_path / "run"), generator="effnet-lite0", size=32,
                           ndf=8, batch_size=4, device="cpu", **overrides)
    split = Split(smooth_colour_images(4, size=36), smooth_colour_images(2, seed=5), {"dataset": "test"})
    return Trainer(options, split)


def _snapshot(params):
    return [p.detach().clone() for p in params]


def _changed(before, params) -> bool:
    return any(not torch.equal(a, b) for a, b in zip(before, params))


def _one_step(trainer: Trainer) -> dict:
    plan = trainer.train_batches.plan(trainer.data_rng)
    return trainer.train_step(trainer.train_batches.batch(plan, 0, 4))


def test_encoder_learns_at_its_own_rate_and_can_be_frozen(tmp_path):
    from colorcli.training.effnet import parameter_groups

    trainer = effnet_trainer(tmp_path, lr=2e-4, lr_encoder=3e-5, freeze_encoder_epochs=1)
    assert [g["lr"] for g in trainer.opt_G.param_groups] == [3e-5, 2e-4]
    encoder, decoder = parameter_groups(trainer.G)
    enc_before, dec_before = _snapshot(encoder), _snapshot(decoder)
    _one_step(trainer)  # epoch 0: frozen
    assert not _changed(enc_before, encoder) and _changed(dec_before, decoder)
    trainer.epoch = 1
    _one_step(trainer)
    assert _changed(enc_before, encoder)


def test_l1_warm_up_trains_only_the_generator(tmp_path):
    trainer = effnet_trainer(tmp_path, pretrain_epochs=1)
    g_before, d_before = _snapshot(trainer.G.parameters()), _snapshot(trainer.D.parameters())
    out = _one_step(trainer)
    assert _changed(g_before, trainer.G.parameters()) and not _changed(d_before, trainer.D.parameters())
    assert float(out["loss_d"]) == 0.0 and float(out["loss_l1"]) > 0
    trainer.epoch = 1  # the GAN phase
    _one_step(trainer)
    assert _changed(d_before, trainer.D.parameters())


def test_degrade_changes_what_the_generator_sees_only(tmp_path):
    seen = []
    trainer = effnet_trainer(tmp_path, degrade=True, pretrain_epochs=1)
    trainer.G.register_forward_hook(lambda module, args, output: seen.append(args[0].detach().clone()))
    clean = effnet_trainer(tmp_path / "clean", pretrain_epochs=1)
    clean.G.register_forward_hook(lambda module, args, output: seen.append(args[0].detach().clone()))
    _one_step(trainer)
    _one_step(clean)
    degraded, original = seen
    assert degraded.shape == original.shape and not torch.equal(degraded, original)


def _photo_folder(root, names, seed):
    root.mkdir(parents=True, exist_ok=True)
    for i, (name, image) in enumerate(zip(names, smooth_colour_images(len(names), size=48, seed=seed))):
        Image.fromarray(image).save(root / name)


def test_cli_effnet_run_with_two_validation_sets_then_export(tmp_path):
    photos = tmp_path / "photos"
    _photo_folder(photos / "a", [f"a{i}.png" for i in range(6)], seed=1)
    _photo_folder(photos / "other_source", [f"o{i}.png" for i in range(3)], seed=2)
    _photo_folder(tmp_path / "val", [f"v{i}.png" for i in range(3)], seed=3)
    run = tmp_path / "run"
    args = ["train", "--dataset", photos, "--val-dir", tmp_path / "val", "--val-dir", photos / "other_source",
            "--generator", "effnet-lite0", "--size", 32, "--ndf", 8, "--batch-size", 3, "--epochs", 2,
            "--pretrain-epochs", 1, "--degrade", "--threads", 1, "--out", run]
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["phase"] for r in records] == ["l1", "gan"]
    config = json.loads((run / "last.json").read_text())["config"]
    assert config["model"]["architecture"] == "effnet-lite0"
    assert config["data"]["train_images"] == 6, "the second validation folder is held out of training"
    for record in records:
        other = record["val_sets"]["other_source"]
        assert set(other) >= {"psnr", "ssim", "ciede2000", "colorfulness", "gray"}
        assert other["gray"]["colorfulness"] < 1.0
    result = CliRunner().invoke(cli, ["export", str(run), "--out", str(tmp_path / "eff.onnx"), "--inference-size", "64"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    card = json.loads((tmp_path / "eff.json").read_text())
    assert card["parity"]["max_abs_diff"] <= 1e-4
    assert card["native_size"] == 32 and card["inference_size"] == 64
    from colorcli.models.runtime import Colorizer

    colorizer = Colorizer.load(str(tmp_path / "eff.onnx"), provider="cpu")
    assert colorizer.info.architecture == "effnet-lite0" and colorizer.info.size_unit == 32
    assert colorizer.size == 64, "colorize uses the exported inference size by default"
    rgb = colorizer.colorize(np.tile(np.linspace(0, 255, 70, dtype=np.uint8), (50, 1)))
    assert rgb.shape == (50, 70, 3)
