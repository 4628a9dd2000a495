"""Training: a step moves the weights, overfitting lowers the loss, checkpoints, exact resume, the CLI."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import torch  # noqa: E402  (the train extra is part of the test install)

from colorcli.cli import cli  # noqa: E402
from colorcli.errors import CheckpointError, MissingDependencyError, UsageError  # noqa: E402
from colorcli.training import checkpoint  # noqa: E402
from colorcli.training.data import Split  # noqa: E402
from colorcli.training.loop import Trainer, TrainOptions, collapse_warnings, ema_decay, lr_factor, train  # noqa: E402
from test_data import smooth_colour_images, write_cifar  # noqa: E402


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_trainer(tmp_path, n=8, **overrides) -> Trainer:
    options = TrainOptions(dataset="cifar10", out=str(tmp_path / "run"), size=32, ngf=8, ndf=8, batch_size=n,
                           device="cpu", **overrides)
    split = Split(smooth_colour_images(n, size=36), smooth_colour_images(4, seed=5), {"dataset": "test"})
    return Trainer(options, split)


def _params(module):
    return [p.detach().clone() for p in module.parameters()]


def test_one_step_changes_both_networks(tmp_path):
    trainer = tiny_trainer(tmp_path)
    before_g, before_d = _params(trainer.G), _params(trainer.D)
    plan = trainer.train_batches.plan(trainer.data_rng)
    out = trainer.train_step(trainer.train_batches.batch(plan, 0, 8))
    assert all(np.isfinite(float(v)) for v in out.values())
    assert any(not torch.equal(a, b) for a, b in zip(before_g, trainer.G.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(before_d, trainer.D.parameters()))


def test_generator_gradients_are_clipped(tmp_path):
    trainer = tiny_trainer(tmp_path, clip_norm=1e-3, lambda_l1=1000.0)
    plan = trainer.train_batches.plan(trainer.data_rng)
    trainer.train_step(trainer.train_batches.batch(plan, 0, 8))
    norm = torch.norm(torch.stack([p.grad.norm() for p in trainer.G.parameters() if p.grad is not None]))
    assert float(norm) <= 1e-3 * 1.01


def test_l1_falls_when_overfitting_eight_images(tmp_path):
    trainer = tiny_trainer(tmp_path, lr=2e-3)
    l1 = []
    for _ in range(60):
        plan = trainer.train_batches.plan(trainer.data_rng)
        l1.append(float(trainer.train_step(trainer.train_batches.batch(plan, 0, 8))["loss_l1"]))
    assert np.mean(l1[-5:]) < 0.7 * np.mean(l1[:3])


def test_lr_schedule_halves_after_epoch_20_every_10():
    assert [lr_factor(e, 20, 10, 0.5) for e in (0, 19, 20, 29, 30, 45)] == [1, 1, 0.5, 0.5, 0.25, 0.125]


def test_collapse_warnings():
    sane = {"epoch": 5, "val_colorfulness": 20.0, "ref_colorfulness": 34.0, "d_accuracy": 0.7}
    assert collapse_warnings(sane) == []
    grey = collapse_warnings({**sane, "val_colorfulness": 2.0})
    assert len(grey) == 1 and "nearly grey" in grey[0]
    assert "discriminator wins" in collapse_warnings({**sane, "d_accuracy": 0.995})[0]


def test_checkpoint_round_trip_and_corruption(tmp_path):
    trainer = tiny_trainer(tmp_path)
    trainer.epoch = 3
    run = tmp_path / "run"
    checkpoint.save_checkpoint(run, "last", trainer.G, trainer.config(), trainer.D, trainer.state())
    generator, config = checkpoint.load_generator(run)
    assert not generator.training and config["model"]["size_unit"] == 32 and config["epoch"] == 3
    assert config["normalisation"] == {"input": "L/50-1", "output": "ab/110"}
    x = torch.randn(2, 1, 32, 64)
    trainer.G.eval()
    with torch.no_grad():
        assert torch.equal(generator(x), trainer.G(x))
    weights = next(run.glob("checkpoints/last-e0003.generator.safetensors"))
    from_file, _ = checkpoint.load_generator(weights)  # the safetensors file alone describes itself
    with torch.no_grad():
        assert torch.equal(from_file(x), trainer.G(x))
    state = checkpoint.load_checkpoint(run).state()
    assert state["epoch"] == 3 and "opt_G" in state
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256"):
        checkpoint.load_generator(run)
    with pytest.raises(CheckpointError, match="no checkpoint here"):
        checkpoint.load_generator(tmp_path)


def test_ema_validates_the_moving_average_of_the_weights(tmp_path):
    trainer = tiny_trainer(tmp_path, ema=0.75, lr=1e-2)
    plan = trainer.train_batches.plan(trainer.data_rng)
    seen = []
    for _ in range(3):
        trainer.train_step(trainer.train_batches.batch(plan, 0, 8))
        seen.append({k: v.detach().clone() for k, v in trainer.G.state_dict().items() if v.is_floating_point()})
    # the first update copies; the n-th later one keeps min(0.75, (1 + n) / (10 + n)) of the average
    d1, d2 = 2 / 11, 3 / 12
    expected = {k: d2 * (d1 * seen[0][k] + (1 - d1) * seen[1][k]) + (1 - d2) * seen[2][k] for k in seen[0]}
    averaged = trainer.generator.state_dict()
    assert all(torch.allclose(averaged[k], expected[k], atol=1e-6) for k in expected)
    assert any(not torch.allclose(averaged[k], seen[2][k]) for k in expected)
    images = smooth_colour_images(2, seed=9)
    with_average = trainer.predict(images)
    trainer.G_ema = None
    assert not np.array_equal(with_average, trainer.predict(images))


def test_ema_decay_warms_up_to_the_asked_decay():
    assert ema_decay(0.999, 1) == pytest.approx(2 / 11)
    assert ema_decay(0.999, 90) == pytest.approx(0.91)
    assert ema_decay(0.999, 10**6) == 0.999
    assert ema_decay(0.5, 20) == 0.5


def test_an_early_average_stays_close_to_the_weights_as_trained(tmp_path):
    """With --ema 0.999 the average of the first steps must not stay near the untrained generator."""
    trainer = tiny_trainer(tmp_path, ema=0.999, lr=1e-2)
    start = {k: v.detach().clone() for k, v in trainer.G.state_dict().items() if v.is_floating_point()}
    plan = trainer.train_batches.plan(trainer.data_rng)
    for _ in range(30):
        trainer.train_step(trainer.train_batches.batch(plan, 0, 8))
    trained = {k: v for k, v in trainer.G.state_dict().items() if k in start}
    averaged = trainer.generator.state_dict()
    moved = sum(float((trained[k] - start[k]).norm()) for k in start)
    lag = sum(float((averaged[k] - trained[k]).norm()) for k in start)
    assert moved > 0
    assert lag < 0.5 * moved  # a plain 0.999 average would still sit ~97% of the way back at the start


def test_new_save_replaces_old_files(tmp_path):
    trainer = tiny_trainer(tmp_path)
    run = tmp_path / "run"
    for epoch in (1, 2):
        trainer.epoch = epoch
        checkpoint.save_checkpoint(run, "last", trainer.G, trainer.config(), trainer.D, trainer.state())
    names = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert names == ["last-e0002.discriminator.safetensors", "last-e0002.generator.safetensors", "last-e0002.state.pt"]


def _options(tmp_path, out, epochs, **extra) -> TrainOptions:
    return TrainOptions(dataset="cifar10", data_dir=str(tmp_path / "data"), out=str(out), size=32, ngf=8, ndf=8,
                        batch_size=4, epochs=epochs, device="cpu", seed=7, **extra)


def _cifar_md5(monkeypatch, tmp_path):
    """Synthetic batches, and their md5s in place of the official list (the md5 check still runs)."""
    train_md5, test_md5, _ = write_cifar(tmp_path / "data", per_batch=4)
    monkeypatch.setattr("colorcli.training.data.CIFAR_TRAIN", train_md5)
    monkeypatch.setattr("colorcli.training.data.CIFAR_TEST", test_md5)


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_resume_matches_an_uninterrupted_run(tmp_path, monkeypatch, ema):
    _cifar_md5(monkeypatch, tmp_path)
    train(_options(tmp_path, tmp_path / "whole", epochs=2, ema=ema))
    train(_options(tmp_path, tmp_path / "split", epochs=1, ema=ema))
    with pytest.raises(UsageError, match="already holds a run"):
        train(_options(tmp_path, tmp_path / "split", epochs=2))
    with pytest.raises(UsageError, match="--ngf differ"):
        train(TrainOptions(dataset=None, out=str(tmp_path / "split"), ngf=16, resume=True), given={"ngf"})
    train(TrainOptions(dataset=None, out=str(tmp_path / "split"), epochs=2, resume=True), given={"epochs"})
    whole, split = (checkpoint.load_checkpoint(tmp_path / name, tag="last") for name in ("whole", "split"))
    assert whole.epoch == split.epoch == 2
    for part in ("generator", "discriminator"):
        a, b = whole.weights(part), split.weights(part)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    sa, sb = whole.state(), split.state()
    assert torch.equal(sa["rng_data"], sb["rng_data"]) and sa["sched_G"] == sb["sched_G"]
    if ema:
        trained, averaged = sb["generator_training"], split.weights("generator")
        assert all(torch.equal(sa["generator_training"][k], trained[k]) for k in trained)
        assert any(not torch.equal(trained[k], averaged[k]) for k in trained)
    records = [json.loads(line) for line in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2]


def _photo_options(tmp_path, out, **extra) -> TrainOptions:
    """Two sources of photos, weighted, with more samples per epoch than photos, decoded once into a copy."""
    from test_sources import _photos

    if not (tmp_path / "photos").is_dir():
        _photos(tmp_path / "photos" / "a", 6, seed=1)
        _photos(tmp_path / "photos" / "b", 3, seed=2)
        _photos(tmp_path / "val", 2, seed=3)
    return TrainOptions(dataset=[str(tmp_path / "photos" / "a") + ":0.5", str(tmp_path / "photos" / "b") + ":0.5"],
                        out=str(out), size=32, ngf=8, ndf=8, batch_size=3, epochs=2, epoch_size=15, device="cpu",
                        seed=3, val_dir=[str(tmp_path / "val")], prepared_dir=str(tmp_path / "prepared"),
                        degrade=True, **extra)


def _same_run(a, b) -> None:
    whole, split = (checkpoint.load_checkpoint(run, tag="last") for run in (a, b))
    assert whole.epoch == split.epoch == 2 and whole.pointer["step"] == split.pointer["step"] == 0
    for part in ("generator", "discriminator"):
        x, y = whole.weights(part), split.weights(part)
        assert x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)
    sa, sb = whole.state(), split.state()
    assert torch.equal(sa["rng_torch"], sb["rng_torch"]) and torch.equal(sa["rng_degrade"], sb["rng_degrade"])
    ra, rb = ([json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()] for run in (a, b))
    assert [r["epoch"] for r in rb] == [1, 2]
    for x, y in zip(ra, rb):
        assert x["loss_l1"] == pytest.approx(y["loss_l1"], rel=1e-9) and x["val_ciede2000"] == y["val_ciede2000"]


def _stop_at_call(monkeypatch, n: int, action) -> None:
    calls = {"n": 0}
    step = Trainer.train_step

    def counted(self, rgb):
        out = step(self, rgb)
        calls["n"] += 1
        if calls["n"] == n:
            action()
        return out

    monkeypatch.setattr(Trainer, "train_step", counted)


@pytest.mark.parametrize("ema", [0.0, 0.9])
def test_a_run_stopped_by_sigterm_inside_an_epoch_resumes_to_the_same_weights(tmp_path, monkeypatch, ema):
    import os
    import signal

    from colorcli.errors import Stopped

    train(_photo_options(tmp_path, tmp_path / "whole", ema=ema, checkpoint_every=0))
    _stop_at_call(monkeypatch, 7, lambda: os.kill(os.getpid(), signal.SIGTERM))  # 5 steps an epoch: inside the 2nd
    with pytest.raises(Stopped, match="step 2 of 5 in epoch 2.*--resume") as stopped:
        train(_photo_options(tmp_path, tmp_path / "split", ema=ema, checkpoint_every=0))
    assert stopped.value.exit_code == 143
    pointer = json.loads((tmp_path / "split" / "last.json").read_text())
    assert pointer["epoch"] == 1 and pointer["step"] == 2
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is gone with the run
    monkeypatch.undo()
    train(TrainOptions(dataset=None, out=str(tmp_path / "split"), epochs=2, resume=True), given={"epochs"})
    _same_run(tmp_path / "whole", tmp_path / "split")


def test_a_crashed_run_resumes_from_its_last_timed_checkpoint_to_the_same_weights(tmp_path, monkeypatch):
    train(_photo_options(tmp_path, tmp_path / "whole", checkpoint_every=0))

    def crash():
        raise RuntimeError("power cut")

    _stop_at_call(monkeypatch, 4, crash)  # every step is past a checkpoint interval of 1e-9 minutes
    with pytest.raises(RuntimeError, match="power cut"):
        train(_photo_options(tmp_path, tmp_path / "split", checkpoint_every=1e-9))
    pointer = json.loads((tmp_path / "split" / "last.json").read_text())
    assert pointer["epoch"] == 0 and pointer["step"] == 3  # the step that crashed was never saved
    assert sorted(p.name for p in (tmp_path / "split" / "checkpoints").iterdir()) == [
        f"last-e0000-s0000003.{part}" for part in ("discriminator.safetensors", "generator.safetensors", "state.pt")]
    monkeypatch.undo()
    train(TrainOptions(dataset=None, out=str(tmp_path / "split"), resume=True))
    _same_run(tmp_path / "whole", tmp_path / "split")
    config = json.loads((tmp_path / "split" / "best.json").read_text())["config"]
    assert config["data"]["sources"]["a"]["share"] == 0.5 and config["training"]["epoch_size"] == 15


def test_cli_sigterm_saves_and_says_how_to_resume(tmp_path):
    """The real command in its own process: SIGTERM mid-epoch gives exit 143, one line, and a checkpoint."""
    import signal
    import subprocess

    from test_sources import _photos

    _photos(tmp_path / "photos", 6)
    _photos(tmp_path / "val", 2, seed=3)
    out = tmp_path / "run"
    command = [sys.executable, "-m", "colorcli", "train", "--dataset", str(tmp_path / "photos"), "--val-dir",
               str(tmp_path / "val"), "--out", str(out), "--size", "32", "--ngf", "4", "--ndf", "4", "--batch-size", "2",
               "--epoch-size", "100000", "--epochs", "1", "--threads", "1", "--log-every", "1",
               "--prepared-dir", str(tmp_path / "prepared")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    while not any(line.startswith("epoch 1/1 step") for line in lines):
        line = process.stdout.readline()
        assert line, "".join(lines)
        lines.append(line)
    assert "img/s" in lines[-1] and "ETA epoch" in lines[-1]
    process.send_signal(signal.SIGTERM)
    rest = process.stdout.read()
    assert process.wait(timeout=60) == 143, rest
    said = rest.strip().splitlines()[-1]
    assert said.startswith("colorcli: error: SIGTERM: stopped at step ") and said.endswith(f"--out {out} --resume")
    assert "Traceback" not in rest
    assert json.loads((out / "last.json").read_text())["step"] > 0


def test_cli_one_epoch_tiny_run(tmp_path, monkeypatch):
    _cifar_md5(monkeypatch, tmp_path)
    out = tmp_path / "run"
    args = ["train", "--dataset", "cifar10", "--data-dir", str(tmp_path / "data"), "--out", str(out), "--size", "32",
            "--ngf", "4", "--ndf", "4", "--epochs", "1", "--batch-size", "4", "--device", "cpu"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "gray baseline" in result.output and "epoch 1/1" in result.output and ", L1 " in result.output
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    assert record["pixel_loss"] == "l1"
    for key in ("val_psnr", "val_ssim", "val_ciede2000", "val_colorfulness", "gray_ciede2000", "d_accuracy"):
        assert np.isfinite(record[key])
    assert (out / "best.json").is_file() and (out / "curves.png").is_file()
    assert (out / "samples" / "epoch_0001.png").is_file()
    config = json.loads((out / "best.json").read_text())["config"]
    assert config["training"]["command"].startswith("colorcli ") and config["metrics"]["gray_baseline"]["psnr"] > 0
    helped = CliRunner().invoke(cli, ["train", "--help"])
    assert helped.exit_code == 0 and "colorcli train --dataset cifar10" in helped.output
    mse = CliRunner().invoke(cli, [*args[:6], str(tmp_path / "mse"), *args[7:], "--pixel-loss", "mse"])
    assert mse.exit_code == 0 and ", MSE " in mse.output and ", L1 " not in mse.output, mse.output
    log_mse = CliRunner().invoke(cli, [*args[:6], str(tmp_path / "log-mse"), *args[7:], "--pixel-loss", "log-mse",
                                       "--lambda-l1", "1", "--colourfulness-weight", "0.1", "--ciede-weight", "0.5"])
    assert log_mse.exit_code == 0 and ", LOG-MSE " in log_mse.output, log_mse.output
    training = json.loads((tmp_path / "log-mse" / "last.json").read_text())["config"]["training"]
    assert training["pixel_loss"] == "log-mse" and training["colourfulness_weight"] == 0.1
    assert training["ciede_weight"] == 0.5
    clash = CliRunner().invoke(cli, [*args[:6], str(tmp_path / "clash"), *args[7:], "--pixel-loss", "log-mse",
                                     "--rebalance", "0.5"])
    assert clash.exit_code != 0 and "--rebalance" in clash.output and "Traceback" not in clash.output
    shrunk = CliRunner().invoke(cli, [*args[:6], str(tmp_path / "shrunk"), *args[7:], "--load-scale", "0.9"])
    assert shrunk.exit_code != 0 and "--load-scale 0.9" in shrunk.output and "Traceback" not in shrunk.output


def test_cli_without_torch_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    result = CliRunner().invoke(cli, ["train", "--dataset", "cifar10", "--out", "x"])
    assert result.exit_code == MissingDependencyError.exit_code
    assert result.output.strip() == 'colorcli: error: colorcli train needs torch: pip install "colorcli[train]"'


def test_help_does_not_import_torch():
    import subprocess

    code = ("import sys; from colorcli import cli; import colorcli.commands.train; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_init_from_starts_the_generator_from_another_run(tmp_path):
    first = tiny_trainer(tmp_path / "a")
    plan = first.train_batches.plan(first.data_rng)
    first.train_step(first.train_batches.batch(plan, 0, 8))
    checkpoint.save_checkpoint(first.run_dir, "last", first.G, first.config(), first.D, first.state())
    second = tiny_trainer(tmp_path / "b", init_from=str(first.run_dir), lambda_l1=300.0)
    assert all(torch.equal(a, b) for a, b in zip(first.G.state_dict().values(), second.G.state_dict().values()))
    other = TrainOptions(dataset="cifar10", out=str(tmp_path / "c"), size=32, ngf=4, ndf=8, batch_size=8,
                         device="cpu", init_from=str(first.run_dir))
    with pytest.raises(UsageError, match="init-from"):
        Trainer(other, Split(smooth_colour_images(8, size=36), smooth_colour_images(4, seed=5), {"dataset": "test"}))


def test_init_from_carries_effnet_weights_to_an_upsampling_encoder(tmp_path):
    first = tiny_trainer(tmp_path / "a", generator="effnet-lite0")
    plan = first.train_batches.plan(first.data_rng)
    first.train_step(first.train_batches.batch(plan, 0, 8))
    checkpoint.save_checkpoint(first.run_dir, "last", first.G, first.config(), first.D, first.state())
    second = tiny_trainer(tmp_path / "b", generator="effnet-lite0", encoder_scale=2, init_from=str(first.run_dir))
    assert second.model_config["encoder_scale"] == 2 and second.model_config["size_unit"] == 16
    assert all(torch.equal(a, b) for a, b in zip(first.G.state_dict().values(), second.G.state_dict().values()))
    out = second.train_step(second.train_batches.batch(second.train_batches.plan(second.data_rng), 0, 8))
    assert np.isfinite(float(out["loss_l1"]))
    assert second.predict(smooth_colour_images(2, seed=9)).shape == (2, 32, 32, 3)
    with pytest.raises(UsageError, match="encoder-scale applies to the effnet"):
        train(TrainOptions(dataset="cifar10", out=str(tmp_path / "c"), size=32, generator="unet", encoder_scale=2))


def test_rebalance_weights_the_l1_by_the_training_colours(tmp_path):
    from colorcli.training import losses
    from colorcli.training.data import rgb8_to_lab_norm
    from colorcli.training.loop import colour_counts

    images = smooth_colour_images(8, size=36)
    counts = colour_counts(images)
    as_list = colour_counts([image for image in images])
    assert torch.equal(counts, as_list) and int(counts.sum()) == 8 * 36 * 36
    plain = tiny_trainer(tmp_path / "a")
    weighted = tiny_trainer(tmp_path / "b", rebalance=0.5)
    assert plain.bin_weights is None
    assert torch.allclose(weighted.bin_weights, losses.rebalance_weights(counts, 0.5))
    batch = torch.from_numpy(images[:, :32, :32].copy())
    L, real_ab = rgb8_to_lab_norm(batch)
    fake_ab = torch.zeros_like(real_ab)
    expected = losses.pixel(fake_ab, real_ab, weighted.bin_weights)
    assert not torch.isclose(expected, losses.pixel(fake_ab, real_ab))
    weighted.G = lambda L: fake_ab.clone().requires_grad_(True)  # a fixed prediction isolates the loss
    weighted._step_generator = lambda loss: None
    out = weighted._l1_step(L, real_ab)
    assert torch.isclose(out["loss_l1"], expected)


def test_pixel_loss_mse_trains_on_the_squared_error(tmp_path):
    from colorcli.training.data import rgb8_to_lab_norm

    trainer = tiny_trainer(tmp_path, pixel_loss="mse")
    L, real_ab = rgb8_to_lab_norm(torch.from_numpy(smooth_colour_images(8, size=32)))
    fake_ab = torch.zeros_like(real_ab)
    trainer.G = lambda L: fake_ab.clone().requires_grad_(True)  # a fixed prediction isolates the loss
    trainer._step_generator = lambda loss: None
    out = trainer._l1_step(L, real_ab)
    assert torch.isclose(out["loss_l1"], torch.nn.functional.mse_loss(fake_ab, real_ab))
    assert torch.isclose(out["loss_g"], 100.0 * out["loss_l1"])


def test_log_mse_with_colourfulness_trains_on_the_srgb_objective(tmp_path):
    from colorcli.training import losses
    from colorcli.training.data import rgb8_to_lab_norm

    trainer = tiny_trainer(tmp_path, pixel_loss="log-mse", lambda_l1=1.0, colourfulness_weight=0.2)
    L, real_ab = rgb8_to_lab_norm(torch.from_numpy(smooth_colour_images(8, size=32)))
    fake_ab = 0.5 * real_ab
    trainer.G = lambda L: fake_ab.clone().requires_grad_(True)  # a fixed prediction isolates the loss
    trainer._step_generator = lambda loss: None
    out = trainer._l1_step(L, real_ab)
    assert torch.isclose(out["loss_l1"], losses.log_mse(L, fake_ab, real_ab))
    assert torch.isclose(out["loss_g"], out["loss_l1"] - 0.2 * losses.colourfulness(L, fake_ab).mean())
    trainer.o.ciede_weight = 0.5
    out = trainer._l1_step(L, real_ab)
    expected = out["loss_l1"] - 0.2 * losses.colourfulness(L, fake_ab).mean() + 0.5 * losses.ciede2000(L, fake_ab, real_ab)
    assert torch.isclose(out["loss_g"], expected)


def test_cifar_holdout_validates_on_training_images(tmp_path, monkeypatch):
    _cifar_md5(monkeypatch, tmp_path)
    train(_options(tmp_path, tmp_path / "run", epochs=1, cifar_holdout=4))
    data = checkpoint.load_checkpoint(tmp_path / "run", tag="last").config["data"]
    assert (data["train_images"], data["val_images"]) == (16, 4) and "held out" in data["val"]


def test_cifar_holdout_is_for_cifar10_only(tmp_path):
    with pytest.raises(UsageError, match="--cifar-holdout is for --dataset cifar10"):
        train(TrainOptions(dataset=str(tmp_path), out=str(tmp_path / "run"), cifar_holdout=100))


def test_a_run_folder_in_use_by_another_process_is_refused_untouched(tmp_path):
    import subprocess

    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from filelock import FileLock; lock = FileLock(sys.argv[1]); "
         "lock.acquire(); print('held', flush=True); sys.stdin.read()", str(out / "train.lock")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UsageError, match=r"being trained by another process .*train\.lock is held"):
            train(_photo_options(tmp_path, out))
        assert [p.name for p in out.iterdir()] == ["train.lock"]
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    train(_photo_options(tmp_path, out))  # the holder is gone, and so is its lock
    assert json.loads((out / "last.json").read_text())["epoch"] == 2
    from filelock import FileLock

    with FileLock(out / "train.lock").acquire(timeout=0):  # a finished run holds nothing
        pass
