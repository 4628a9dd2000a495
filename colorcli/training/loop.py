"""pix2pix training in Lab: the loop, validation against the gray baseline, checkpoints and resume.

``train(options, report)`` runs a whole training. It never prints: every event goes to
``report(kind, data)`` with kind one of "start", "step", "epoch", "note" (the CLI draws them).
A run directory holds last.json / best.json (colorcli.training.checkpoint), metrics.jsonl (one record per
epoch), curves.png and samples/epoch_NNNN.png (gray | prediction | truth).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import platform
import signal
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from filelock import FileLock, Timeout

from colorcli import __version__
from colorcli.look import lab
from colorcli.models import contract
from colorcli.scoring import metrics
from colorcli.errors import CheckpointError, ColorcliError, Stopped, UsageError
from colorcli.training import bins, checkpoint, from_onnx, losses, models, plots
from colorcli.training.data import LOAD_SCALE, Batcher, Split, load_cifar_split, load_folder, rgb8_to_lab_norm
from colorcli.training.sources import DEFAULT_BALANCE

BEST_METRIC = "ciede2000"  # mean CIEDE2000 on the validation split, lower is better
METRICS_FILE = "metrics.jsonl"
SAMPLE_COUNT = 8
# options a resumed run may change; every other one comes from the checkpoint
RESUMABLE_OVERRIDES = ("epochs", "device", "workers", "threads", "out", "resume", "command", "checkpoint_every",
                       "prepared_dir")

Report = Callable[[str, dict], None]


@dataclass
class TrainOptions:
    # ["cifar10"] or photo folders, each "DIR" or "DIR:WEIGHT" (a single string is one; None: from the run, on --resume)
    dataset: list[str] | str | None
    out: str
    data_dir: str | None = None
    download: bool = False
    val_dir: list[str] = dataclasses.field(default_factory=list)  # first one picks the best checkpoint
    val_fraction: float = 0.05
    balance: str = DEFAULT_BALANCE  # how sources without a weight share the steps (colorcli.training.sources)
    epoch_size: int | None = None  # samples per epoch (None: as many as training photos)
    prepared_dir: str | None = None  # where photos are decoded once and kept (None: decoded into memory)
    checkpoint_every: float = 10.0  # minutes between checkpoints inside an epoch (0: at epoch ends only)
    exclude_list: list[str] = dataclasses.field(default_factory=list)  # lists of photos never trained on
    cifar_holdout: int = 0  # cifar10: validate on the last N training images instead of the test batch
    size: int | None = None  # None: 32 for cifar10, 256 for folders
    load_scale: float = LOAD_SCALE  # random crops of size come from images resized to this x size
    limit: int | None = None
    val_limit: int | None = None
    generator: str = "unet"  # models.GENERATORS
    encoder_scale: int = 1  # effnet: upsample L by this before the pretrained encoder
    ngf: int = 64
    ndf: int = 64
    dropout_blocks: int = 3
    lambda_l1: float = 100.0  # weight of the pixel loss (L1 by default; records keep it as loss_l1)
    pixel_loss: str = "l1"  # losses.PIXEL_LOSSES: "l1" (pix2pix), "mse", "log-mse" (per-image sRGB, as PSNR)
    colourfulness_weight: float = 0.0  # minus this times the output's colourfulness in the generator loss
    ciede_weight: float = 0.0  # plus this times the output's mean CIEDE2000 to the true colours
    rebalance: float | None = 0.0  # weight each pixel's L1 (or bins cross-entropy) by its colour's rarity
    # (0: none; losses.rebalance_weights, bins.rebalance_weights); None: the head's default (l1 0, bins 0.5)
    head: str = "l1"  # bins.HEADS: "l1" (regress a, b) or "bins" (distributional, colorcli.training.bins)
    # --head bins: the class rebalancing's weight per bin, estimated from the training photos when a run
    # starts and kept here (in the checkpoint's config), so that a resumed run uses the very same
    bin_class_weights: list[float] | None = None
    lr: float = 2e-4
    lr_encoder: float | None = None  # pretrained encoder's learning rate (None: lr / 10)
    freeze_encoder_epochs: int = 0
    pretrain_epochs: int = 0  # L1-only warm-up epochs before the conditional GAN
    degrade: bool = False  # degrade the L input like old scans (never the target)
    init_from: str | None = None  # start the generator from another run's checkpoint or an exported .onnx
    # keep the generator's BatchNorms in eval mode, affine frozen, for the whole run: set when it starts from
    # an .onnx (whose statistics are folded into its convolutions) or from a run that had them frozen
    frozen_bn: bool = False
    ema: float = 0.0  # decay of an exponential moving average of the generator's weights (0: none)
    beta1: float = 0.5
    clip_norm: float = 1.0
    decay_start: int = 20
    decay_every: int = 10
    decay_gamma: float = 0.5
    batch_size: int = 16
    epochs: int = 50
    device: str = "auto"
    amp: bool = False
    seed: int = 0
    workers: int = 2
    threads: int | None = None  # torch CPU threads (None: torch's default, one per core)
    sample_every: int = 5
    resume: bool = False
    command: str = ""

    def __post_init__(self):
        if isinstance(self.dataset, (str, Path)):
            self.dataset = [str(self.dataset)]
        elif self.dataset is not None:
            self.dataset = [str(d) for d in self.dataset]

    @property
    def cifar(self) -> bool:
        return self.dataset == ["cifar10"]

    def resolved_size(self) -> int:
        return self.size or (32 if self.cifar else 256)


@dataclass
class EpochPosition:
    """How far a run is inside an epoch: the data generator's state when the epoch began (its plan is
    drawn from it again on resume), the steps done, their loss sums and training seconds."""

    rng_data: torch.Tensor
    step: int = 0
    sums: dict = dataclasses.field(default_factory=dict)
    seconds: float = 0.0

    def add(self, losses: dict[str, torch.Tensor]) -> None:
        for key, value in losses.items():
            self.sums[key] = self.sums.get(key, 0.0) + value.detach().double()

    def means(self) -> dict[str, float]:
        return {key: float(value) / max(self.step, 1) for key, value in self.sums.items()}

    def state(self) -> dict:
        return {"rng_data": self.rng_data, "step": self.step, "seconds": self.seconds,
                "sums": {key: torch.as_tensor(value, dtype=torch.float64) for key, value in self.sums.items()}}

    @classmethod
    def from_state(cls, state: dict) -> "EpochPosition":
        return cls(state["rng_data"], int(state["step"]), dict(state["sums"]), float(state["seconds"]))


class StopSignal:
    """SIGINT / SIGTERM during train(): while ``deferring`` (the training loop runs) the signal is noted
    and the loop saves a checkpoint after its current step, then raises Stopped; before that (loading
    data) the handler raises Stopped at once."""

    def __init__(self):
        self.signum = 0
        self.deferring = False

    def __call__(self, signum, frame) -> None:
        self.signum = signum
        if not self.deferring:
            raise Stopped(signum, "stopped before training began; nothing to save")

    @contextlib.contextmanager
    def installed(self):
        if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
            yield self
            return
        previous = {sig: signal.signal(sig, self) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available to this torch build")
    if name not in ("cpu", "cuda"):
        raise UsageError(f"--device {name}: use auto, cpu or cuda")
    return torch.device(name)


def lr_factor(epoch: int, start: int, every: int, gamma: float) -> float:
    """StepLR after a warm stretch: 1 before ``start``, then x gamma at start and every ``every`` epochs."""
    return 1.0 if epoch < start else gamma ** ((epoch - start) // every + 1)


def hardware(device: torch.device) -> dict:
    info = {"device": device.type, "cpu": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def load_split(o: TrainOptions, report: Report = lambda kind, data: None) -> Split:
    size = o.resolved_size()
    if o.cifar:
        if not o.data_dir:
            raise UsageError("--dataset cifar10 needs --data-dir DIR (the folder holding cifar-10-batches-py)")
        return load_cifar_split(Path(o.data_dir), size, download=o.download, limit=o.limit, val_limit=o.val_limit,
                                holdout=o.cifar_holdout, load_scale=o.load_scale)
    if "cifar10" in o.dataset:
        raise UsageError("--dataset cifar10 trains on CIFAR-10 alone; it does not mix with photo folders")
    return load_folder(o.dataset, size, val_dirs=[Path(d) for d in o.val_dir],
                       val_fraction=o.val_fraction, limit=o.limit, val_limit=o.val_limit, workers=o.workers,
                       load_scale=o.load_scale, exclude=[Path(x) for x in o.exclude_list], balance=o.balance,
                       prepared_dir=Path(o.prepared_dir) if o.prepared_dir else None,
                       progress=lambda text: report("note", {"text": text}))


class Trainer:
    """The networks, optimizers and state of one run; ``fit`` trains epoch by epoch."""

    def __init__(self, options: TrainOptions, split: Split, report: Report = lambda kind, data: None):
        self.o = options
        self.report = report
        self.device = pick_device(options.device)
        if options.threads:
            torch.set_num_threads(options.threads)
        if options.amp and self.device.type != "cuda":
            raise UsageError("--amp needs CUDA (use --device cuda)")
        self.size = options.resolved_size()
        self.run_dir = Path(options.out)
        self.split = split
        if options.rebalance is None:
            options.rebalance = bins.DEFAULT_REBALANCE if options.head == "bins" else 0.0
        self.model_config = models.generator_config(options.generator, self.size, options.ngf, options.dropout_blocks,
                                                    options.encoder_scale, options.head)
        torch.manual_seed(options.seed)
        self.data_rng = torch.Generator().manual_seed(options.seed)
        self.degrade_rng = torch.Generator(device=self.device).manual_seed(options.seed + 1)
        # a resumed run's weights come from its checkpoint, an .onnx init's from the model; only a new
        # run loads ImageNet weights
        from_model = from_onnx.is_onnx(options.init_from) and not options.resume
        self.G = models.build_generator(self.model_config, pretrained=not options.resume and not from_model)
        self.G.to(self.device)
        self.pretrained_encoder = options.generator != "unet"
        if options.init_from and not options.resume:
            self._init_generator(Path(options.init_from))
        if self.o.frozen_bn:
            models.freeze_batchnorms(self.G)
        self.D = models.build_discriminator(options.ndf).to(self.device)
        self.memory_format = torch.channels_last if self.device.type == "cuda" else torch.contiguous_format
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed input sizes: let cuDNN pick the fastest kernels
        self.G.to(memory_format=self.memory_format)
        self.D.to(memory_format=self.memory_format)
        self.G_ema = _moving_average(self.G, options.ema) if options.ema else None
        betas = (options.beta1, 0.999)
        self.opt_G = torch.optim.Adam(self._generator_groups(), lr=options.lr, betas=betas)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=options.lr, betas=betas)
        factor = lambda e: lr_factor(e, options.decay_start, options.decay_every, options.decay_gamma)  # noqa: E731
        self.sched_G = torch.optim.lr_scheduler.LambdaLR(self.opt_G, factor)
        self.sched_D = torch.optim.lr_scheduler.LambdaLR(self.opt_D, factor)
        self.scaler = torch.amp.GradScaler("cuda", enabled=options.amp)
        self.train_batches = Batcher(split.train, self.size, self.device, augment=True, groups=split.groups,
                                     epoch_size=options.epoch_size)
        self.bins = options.head == "bins"
        self.bin_weights = (losses.rebalance_weights(colour_counts(split.train), options.rebalance).to(self.device)
                            if options.rebalance and not self.bins else None)
        self.bin_centres = self.class_weights = None
        if self.bins:
            self.bin_centres = bins.centres_tensor(self.model_config["bin_centres"], self.device)
            if options.rebalance and options.bin_class_weights is None:
                counts = bins.bin_counts(split.train, self.model_config["bin_centres"])
                weights = bins.rebalance_weights(counts, self.model_config["bin_centres"], options.rebalance)
                options.bin_class_weights = [round(float(w), 6) for w in weights]
            if options.rebalance:
                self.class_weights = torch.tensor(options.bin_class_weights, dtype=torch.float32, device=self.device)
        self.val = split.val
        self.extra_val = split.extra_val
        self.epoch = 0  # completed epochs
        self.position = None  # inside an epoch: EpochPosition of the steps done (resumed from a checkpoint)
        self.stop = StopSignal()  # set by train(): a signal asks the loop to save and stop after this step
        self.last_record: dict = {}
        self.wall_time = 0.0
        self.best = {"metric": BEST_METRIC, "mode": "min", "value": None, "epoch": None}
        self.gray = self._gray_baseline(self.val)
        self.extra_gray = {name: self._gray_baseline(images) for name, images in self.extra_val.items()}

    def _init_generator(self, source: Path) -> None:
        """Start from another run's generator, e.g. a GAN phase searched from one L1 warm-up, or from an
        exported model's (its BatchNorms folded: they stay frozen for the whole run)."""
        if from_onnx.is_onnx(source):
            model_config = from_onnx.model_config(source, from_onnx.read_model(source)[1])
            _check_layout(source, model_config, self.model_config)
            theirs = model_config
            generator, info = from_onnx.load_generator(source, threads=self.o.threads)
            self.o.frozen_bn = True
            averaged = " and ".join(name for name in ("flip", "shift") if info[f"{name}_average"])
            self.report("note", {"text": (
                f"generator from {source.name}: {info['batchnorms']} batch norms folded (frozen for this run), "
                f"matches ONNX Runtime to {info['max_abs_diff']:.2g}; trains the a, b before its chroma gain "
                f"{info['chroma_gain']:g}" + (f", without its {averaged} averaging" if averaged else ""))})
        else:
            generator, config = checkpoint.load_generator(source)
            _check_layout(source, config.get("model", {}), self.model_config)
            theirs = config.get("model", {})
            if config.get("training", {}).get("frozen_bn"):
                self.o.frozen_bn = True  # its BatchNorms hold folded biases, no statistics
        if _head_layout(theirs) == _head_layout(self.model_config):
            self.G.load_state_dict(generator.state_dict())
            return
        # another head: everything but the head's last layer carries over; that layer is new
        old = generator.state_dict()
        state = {k: v for k, v in old.items() if not k.startswith("head.")}
        missing, unexpected = self.G.load_state_dict(state, strict=False)
        if unexpected or any(not k.startswith("head.") for k in missing):
            raise CheckpointError(f"--init-from {source}: its weights do not fit this run's generator "
                                  f"({len(missing)} missing, {len(unexpected)} unexpected)")
        start = "fresh"
        if self.o.head == "bins" and theirs.get("head", "l1") == "l1":
            bins.head_from_l1(self.G.head, old["head.weight"], old["head.bias"],
                              bins.centres_tensor(self.model_config["bin_centres"]))
            start = f"a Gaussian (sigma {bins.INIT_SIGMA:g}) around its l1 head's a, b"
        self.report("note", {"text": f"generator from {source.name} with a new {self.o.head} head, started as "
                                     f"{start} (its own head was {theirs.get('head', 'l1')})"})

    def _generator_groups(self) -> list[dict]:
        """Parameter groups: a pretrained encoder learns at its own (smaller) rate."""
        if self.o.generator == "unet":
            return [{"params": list(self.G.parameters())}]
        from colorcli.training.effnet import parameter_groups

        encoder, decoder = parameter_groups(self.G)
        lr_encoder = self.o.lr_encoder if self.o.lr_encoder is not None else self.o.lr / 10
        return [{"params": encoder, "lr": lr_encoder}, {"params": decoder}]

    # --- state ------------------------------------------------------------------------------------

    def config(self, record: dict | None = None) -> dict:
        options = dataclasses.asdict(self.o)
        return {
            "model": self.model_config,
            "discriminator": {"architecture": "patchgan70", "ndf": self.o.ndf, "n_layers": 3},
            "normalisation": {"input": contract.INPUT_NORM, "output": contract.OUTPUT_NORM},
            "training": {**options, "size": self.size, "dataset": self.o.dataset, "wall_time_s": round(self.wall_time, 1),
                         "hardware": hardware(self.device), "colorcli_version": __version__,
                         "images_per_s": record.get("images_per_s") if record else None},
            "data": self.split.description,
            "epoch": self.epoch,
            "metrics": {"val": (record or {}).get("val"), "gray_baseline": self.gray, "split": "validation",
                        "other_sets": (record or {}).get("val_sets"),
                        "best_metric": f"{BEST_METRIC} (mean, lower is better)"},
            "best": dict(self.best),
        }

    @property
    def generator(self) -> torch.nn.Module:
        """The generator that is validated, saved and exported: the moving average under --ema."""
        return self.G_ema.module if self.G_ema is not None else self.G

    def state(self) -> dict:
        state = {
            "opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict(),
            "sched_G": self.sched_G.state_dict(), "sched_D": self.sched_D.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng_torch": torch.get_rng_state(), "rng_data": self.data_rng.get_state(),
            "rng_degrade": self.degrade_rng.get_state(),
            "epoch": self.epoch, "wall_time": self.wall_time,
        }
        if self.position is not None:
            state["position"] = self.position.state()
        if self.device.type == "cuda":
            state["rng_cuda"] = torch.cuda.get_rng_state(self.device)
        if self.G_ema is not None:  # the checkpoint's generator is the average; training goes on from these
            state["generator_training"] = {k: v.detach().cpu().clone() for k, v in self.G.state_dict().items()}
            state["ema_updates"] = self.G_ema.n_averaged.detach().cpu().clone()
        return state

    def restore(self, ckpt: checkpoint.Checkpoint) -> None:
        if ckpt.config.get("model") != self.model_config:
            raise CheckpointError(f"{ckpt.json_path}: its model config differs from this run's options")
        try:
            state = ckpt.state()
            if self.G_ema is not None:
                self.G_ema.module.load_state_dict(ckpt.weights("generator"))
                self.G_ema.n_averaged.copy_(state["ema_updates"])
                self.G.load_state_dict(state["generator_training"])
            else:
                self.G.load_state_dict(ckpt.weights("generator"))
            self.D.load_state_dict(ckpt.weights("discriminator"))
            self.opt_G.load_state_dict(state["opt_G"])
            self.opt_D.load_state_dict(state["opt_D"])
            self.sched_G.load_state_dict(state["sched_G"])
            self.sched_D.load_state_dict(state["sched_D"])
            self.scaler.load_state_dict(state["scaler"])
            torch.set_rng_state(state["rng_torch"])
            self.data_rng.set_state(state["rng_data"])
            self.degrade_rng.set_state(state["rng_degrade"])
            if self.device.type == "cuda" and "rng_cuda" in state:
                torch.cuda.set_rng_state(state["rng_cuda"], self.device)
        except (KeyError, RuntimeError, ValueError) as error:
            raise CheckpointError(f"{ckpt.json_path}: cannot resume ({type(error).__name__}: "
                                  f"{str(error).splitlines()[0] if str(error) else ''})") from None
        self.epoch = int(state["epoch"])
        self.wall_time = float(state.get("wall_time", 0.0))
        self.position = EpochPosition.from_state(state["position"]) if "position" in state else None
        best = ckpt.config.get("best") or {}
        self.best.update({k: best.get(k) for k in ("value", "epoch")})

    # --- one epoch --------------------------------------------------------------------------------

    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.float16, enabled=self.o.amp)

    def _inputs(self, rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        L, ab = rgb8_to_lab_norm(rgb)
        return L.contiguous(memory_format=self.memory_format), ab.contiguous(memory_format=self.memory_format)

    @property
    def adversarial(self) -> bool:
        """False during the L1-only warm-up (--pretrain-epochs)."""
        return self.epoch >= self.o.pretrain_epochs

    def train_step(self, rgb: torch.Tensor) -> dict[str, torch.Tensor]:
        """One pix2pix step on a uint8 RGB batch: D on real/fake, then G (adversarial + lambda L1).

        In the warm-up epochs only G learns, from lambda * L1 alone. With --degrade the generator and
        the discriminator see the degraded L; the target ab stays the photo's own.
        """
        L, real_ab = self._inputs(rgb)
        if self.o.degrade:
            from colorcli.training.degrade import degrade

            L = degrade(L, self.degrade_rng)
        self.G.train()
        self.D.train()
        if self.pretrained_encoder:
            from colorcli.training.effnet import set_encoder_frozen

            set_encoder_frozen(self.G, self.epoch < self.o.freeze_encoder_epochs)
        if self.o.frozen_bn:
            models.freeze_batchnorms(self.G)
        if not self.adversarial:
            return self._l1_step(L, real_ab)
        with self._autocast():
            fake_ab, head_logits = self._generate(L)
            real_logits = self.D(L, real_ab)
            fake_logits = self.D(L, fake_ab.detach())
            loss_d = losses.discriminator_loss(real_logits.float(), fake_logits.float())
        self.opt_D.zero_grad(set_to_none=True)
        self.scaler.scale(loss_d).backward()
        self.scaler.step(self.opt_D)

        self.D.requires_grad_(False)
        with self._autocast():
            logits = self.D(L, fake_ab)
            loss_g, loss_gan, loss_l1 = self._generator_losses(logits.float(), fake_ab, real_ab, L, head_logits)
        self._step_generator(loss_g)
        self.D.requires_grad_(True)
        return {"loss_g": loss_g.detach(), "loss_g_gan": loss_gan.detach(), "loss_l1": loss_l1.detach(),
                "loss_d": loss_d.detach(), "d_accuracy": losses.discriminator_accuracy(real_logits, fake_logits)}

    def _step_generator(self, loss_g: torch.Tensor) -> None:
        """Backward, clip the generator's gradient norm, step (through the AMP scaler)."""
        self.opt_G.zero_grad(set_to_none=True)
        self.scaler.scale(loss_g).backward()
        self.scaler.unscale_(self.opt_G)
        torch.nn.utils.clip_grad_norm_(self.G.parameters(), self.o.clip_norm)
        self.scaler.step(self.opt_G)
        self.scaler.update()
        if self.G_ema is not None:
            self.G_ema.update_parameters(self.G)

    def _l1_step(self, L: torch.Tensor, real_ab: torch.Tensor) -> dict[str, torch.Tensor]:
        with self._autocast():
            fake_ab, head_logits = self._generate(L)
            loss_g, zero, loss_l1 = self._generator_losses(None, fake_ab, real_ab, L, head_logits)
        self._step_generator(loss_g)
        return {"loss_g": loss_g.detach(), "loss_g_gan": zero, "loss_l1": loss_l1.detach(),
                "loss_d": zero, "d_accuracy": zero}

    def _generate(self, L: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The generator's ab, and for --head bins its quarter-resolution logits (None for l1)."""
        if self.bins:
            return self.G.forward_with_logits(L)
        return self.G(L), None

    def _generator_losses(self, logits, fake_ab, real_ab, L, head_logits=None):
        pixel = (bins.cross_entropy(head_logits, real_ab, self.bin_centres, self.class_weights)
                 if self.bins else None)
        return losses.generator_losses(logits, fake_ab, real_ab, self.o.lambda_l1, self.bin_weights,
                                       self.o.pixel_loss, L, self.o.colourfulness_weight,
                                       self.o.ciede_weight, pixel_value=pixel)

    @property
    def pixel_loss_name(self) -> str:
        return "bins-ce" if self.bins else self.o.pixel_loss

    def train_epoch(self) -> dict:
        """One epoch, or the rest of one a checkpoint stopped inside; saves a checkpoint every
        --checkpoint-every minutes, and at once when a signal asks to stop (then raises Stopped)."""
        position = self.position or EpochPosition(self.data_rng.get_state())
        self.data_rng.set_state(position.rng_data)  # the plan a resumed epoch redraws is the one it began with
        plan = self.train_batches.plan(self.data_rng)
        n, bs = len(plan["index"]), self.o.batch_size
        steps = (n + bs - 1) // bs
        log_every = max(1, min(50, steps // 20))
        start, saved = time.perf_counter() - position.seconds, time.monotonic()
        for step in range(position.step, steps):
            out = self.train_step(self.train_batches.batch(plan, step * bs, bs))
            position.add(out)
            position.step, position.seconds = step + 1, time.perf_counter() - start
            self.position = position
            if (step + 1) % log_every == 0 or step + 1 == steps:
                done = min(n, (step + 1) * bs)
                self.report("step", {"epoch": self.epoch + 1, "epochs": self.o.epochs, "step": step + 1,
                                     "steps": steps, "losses": position.means(),
                                     "images_per_s": done / max(position.seconds, 1e-9),
                                     "seconds": position.seconds})
            if step + 1 == steps:
                break
            if self.stop.signum:
                self._save_position()
                raise Stopped(self.stop.signum, f"stopped at step {step + 1} of {steps} in epoch {self.epoch + 1}"
                                                f"{self._saved_hint()}")
            every = self.o.checkpoint_every * 60
            if every and time.monotonic() - saved >= every:
                self._save_position()
                saved = time.monotonic()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.position = None
        self.sched_G.step()
        with warnings.catch_warnings():  # in the L1 warm-up D does not step; its schedule still counts epochs
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)`")
            self.sched_D.step()
        record = position.means()
        record.update(images_per_s=n / max(position.seconds, 1e-9), train_time_s=position.seconds,
                      lr=self.opt_G.param_groups[-1]["lr"], phase="gan" if self.adversarial else "l1",
                      pixel_loss=self.pixel_loss_name)
        return record

    def _save_position(self) -> None:
        """A checkpoint inside an epoch: weights, optimizers and where in the epoch's plan the run is."""
        config = self.config(self.last_record)
        checkpoint.save_checkpoint(self.run_dir, "last", self.generator, config, self.D, self.state(),
                                   step=self.position.step)
        self.report("checkpoint", {"epoch": self.epoch + 1, "step": self.position.step})

    def _saved_hint(self) -> str:
        return f", saved in {self.run_dir / 'last.json'}; continue with: colorcli train --out {self.run_dir} --resume"

    # --- validation -------------------------------------------------------------------------------

    @torch.no_grad()
    def predict(self, rgb: np.ndarray) -> np.ndarray:
        """uint8 RGB [N,H,W,3] -> the generator's colorization of their lightness, uint8 RGB."""
        generator = self.generator.eval()
        batch_size = max(16, 2**18 // (rgb.shape[1] * rgb.shape[2]))  # 256 at 32 px, 16 at 256 px
        out = np.empty_like(rgb)
        for i in range(0, len(rgb), batch_size):
            chunk = torch.from_numpy(rgb[i : i + batch_size]).to(self.device)
            L, _ = self._inputs(chunk)
            with self._autocast():
                ab = generator(L).float()
            ab = (ab * contract.AB_SCALE).permute(0, 2, 3, 1).cpu().numpy()
            out[i : i + len(chunk)] = _merge(rgb[i : i + batch_size], ab)
        return out

    @staticmethod
    def _gray_baseline(images: np.ndarray) -> dict:
        return _summary(metrics.score_batch(metrics.gray_baseline(images), images))

    def validate(self) -> tuple[dict, np.ndarray, dict]:
        """The main validation set's scores and predictions, and every further set's scores."""
        pred = self.predict(self.val)
        extra = {name: {**_summary(metrics.score_batch(self.predict(images), images)),
                        "gray": self.extra_gray[name]}
                 for name, images in self.extra_val.items()}
        return _summary(metrics.score_batch(pred, self.val)), pred, extra

    # --- the run ----------------------------------------------------------------------------------

    def fit(self) -> dict:
        o = self.o
        self.run_dir.mkdir(parents=True, exist_ok=True)
        records = _read_records(self.run_dir / METRICS_FILE)
        records = [r for r in records if r.get("epoch", 0) <= self.epoch]
        _write_records(self.run_dir / METRICS_FILE, records)  # drops epochs a crash left unsaved
        self.report("start", {"device": str(self.device), "epochs": o.epochs, "first_epoch": self.epoch + 1,
                              "pixel_loss": self.pixel_loss_name,
                              "data": self.split.description, "gray_baseline": self.gray,
                              "generator_parameters": models.count_parameters(self.G),
                              "discriminator_parameters": models.count_parameters(self.D),
                              "size": self.size, "generator": _describe(self.model_config)})
        record: dict = records[-1] if records else {}
        self.last_record = record
        self.stop.deferring = True  # a signal no longer interrupts: the loop saves, then stops
        try:
            while self.epoch < o.epochs:
                record = self._epoch(records)
                if self.stop.signum and self.epoch < o.epochs:
                    raise Stopped(self.stop.signum, f"stopped after epoch {self.epoch}{self._saved_hint()}")
        finally:
            self.stop.deferring = False
        return record

    def _epoch(self, records: list[dict]) -> dict:
        """Train (the rest of) one epoch, validate, save and draw it; returns its record."""
        o = self.o
        t0 = time.perf_counter() - (self.position.seconds if self.position else 0.0)
        record = {"epoch": self.epoch + 1, **self.train_epoch()}
        if not all(math.isfinite(record[k]) for k in ("loss_g", "loss_d")):
            raise ColorcliError(f"training diverged in epoch {self.epoch + 1} (loss G {record['loss_g']}, "
                                f"D {record['loss_d']}); {self.run_dir / 'last.json'} keeps epoch {self.epoch}")
        val_start = time.perf_counter()
        val, pred, extra = self.validate()
        record["val_time_s"] = time.perf_counter() - val_start
        record["val"] = val
        if extra:
            record["val_sets"] = extra
        record.update(**_flat(val, "val"), **_flat(self.gray, "gray"))
        record["ref_colorfulness"] = val["colorfulness_ref"]
        self.epoch += 1
        self.wall_time += time.perf_counter() - t0
        value = val[BEST_METRIC]
        improved = self.best["value"] is None or value < self.best["value"]
        if improved:
            self.best.update(value=value, epoch=self.epoch)
        record["best"] = improved
        _append_record(self.run_dir / METRICS_FILE, record)
        config = self.config(record)
        state = self.state()
        checkpoint.save_checkpoint(self.run_dir, "last", self.generator, config, self.D, state)
        if improved:
            checkpoint.save_checkpoint(self.run_dir, "best", self.generator, config, self.D, state)
        if self.epoch % max(1, o.sample_every) == 0 or self.epoch == o.epochs or self.epoch == 1:
            k = min(SAMPLE_COUNT, len(self.val))
            plots.sample_grid(self.run_dir / "samples" / f"epoch_{self.epoch:04d}.png",
                              metrics.gray_baseline(self.val[:k]), pred[:k], self.val[:k])
        records.append(record)
        self.last_record = record
        plots.curves(self.run_dir / "curves.png", records)
        self.report("epoch", record)
        for text in collapse_warnings(record):
            self.report("note", {"text": text})
        return record


def ema_decay(decay: float, updates: int) -> float:
    """The decay of the update after ``updates`` averaged steps: it grows from 0.18 towards DECAY as
    (1 + n) / (10 + n) does, so that the average follows a young generator instead of keeping its
    untrained decoder for thousands of steps (photo folders have about 80 steps an epoch)."""
    return min(decay, (1.0 + updates) / (10.0 + updates))


def _moving_average(generator: torch.nn.Module, decay: float) -> torch.optim.swa_utils.AveragedModel:
    """An exponential moving average of the generator's weights and BatchNorm statistics, updated
    after every generator step with the warmed-up decay of ema_decay; its first update copies the generator."""
    from torch.optim.swa_utils import AveragedModel

    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], updates: torch.Tensor) -> None:
        weight = 1.0 - ema_decay(decay, int(updates))
        if averaged[0].is_floating_point():
            torch._foreach_lerp_(averaged, current, weight)
        else:  # BatchNorm's batch counters
            for a, c in zip(averaged, current):
                a.copy_(c)

    return AveragedModel(generator, multi_avg_fn=update, use_buffers=True)


def colour_counts(bank: np.ndarray | list) -> torch.Tensor:
    """How many training pixels fall in each ab bin (whole images: the crops see nearly the same)."""
    counts = torch.zeros(losses.AB_BINS * losses.AB_BINS)
    chunks = (bank[i : i + 1024] for i in range(0, len(bank), 1024)) if isinstance(bank, np.ndarray) \
        else (image[None] for image in bank)
    for chunk in chunks:
        counts += losses.ab_histogram(rgb8_to_lab_norm(torch.from_numpy(np.ascontiguousarray(chunk)))[1])
    return counts


def _weight_layout(model_config: dict) -> dict:
    """What decides a generator's parameter shapes: the encoder scale and size unit change none, so a
    32 px run can start a run whose encoder sees the images upsampled."""
    return {k: v for k, v in model_config.items()
            if k not in ("encoder_scale", "size_unit", "native_size", "head", "bin_centres")}


# what each generator setting of a model config is called on the command line
_LAYOUT_OPTIONS = {"architecture": "--generator", "variant": "--generator", "ngf": "--ngf", "levels": "--size",
                   "dropout_blocks": "--dropout-blocks"}


def _head_layout(model_config: dict) -> tuple:
    """What decides the head's last layer: its kind and bins."""
    return model_config.get("head", "l1"), model_config.get("bin_centres")


def _check_layout(source: Path, theirs: dict, ours: dict) -> None:
    """A UsageError naming what differs when an --init-from generator's weights cannot fit this run's."""
    theirs, ours = _weight_layout(theirs), _weight_layout(ours)
    if theirs == ours:
        return
    if theirs.get("architecture") != ours.get("architecture"):
        raise UsageError(f"--init-from {source}: its generator is {theirs.get('architecture')}, this run's "
                         f"--generator is {ours.get('architecture')}")
    keys = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
    differences = ", ".join(f"{k} {theirs.get(k)} against {ours.get(k)}"
                            + (f" ({_LAYOUT_OPTIONS[k]})" if k in _LAYOUT_OPTIONS else "") for k in keys)
    raise UsageError(f"--init-from {source}: its {theirs.get('architecture')} generator differs from this run's "
                     f"in {differences}")


def _describe(model_config: dict) -> str:
    if model_config["architecture"] == "unet":
        return f"U-Net {model_config['levels']} levels, ngf {model_config['ngf']}"
    scale = int(model_config.get("encoder_scale", 1))
    upsampled = f", L upsampled x{scale} for the encoder" if scale > 1 else ""
    return f"{model_config['architecture']} encoder (ImageNet) + U-Net decoder{upsampled}"


def collapse_warnings(record: dict) -> list[str]:
    """Signs that the GAN went wrong, from one epoch's record (empty when all looks sane)."""
    found = []
    if record["epoch"] >= 3 and record["val_colorfulness"] < 0.15 * record["ref_colorfulness"]:
        found.append(f"warning: predictions are nearly grey (colourfulness {record['val_colorfulness']:.1f} vs "
                     f"{record['ref_colorfulness']:.1f} in the truth): the generator may have collapsed to sepia/grey")
    if record.get("phase") != "l1" and record["d_accuracy"] > 0.98:
        found.append(f"warning: the discriminator wins almost always (accuracy {record['d_accuracy']:.3f}): "
                     "the adversarial signal is saturated; consider a lower --lr or a smaller --ndf")
    return found


def _merge(ref: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """Reference lightness (8-bit Lab, as colorize) with predicted a, b -> uint8 RGB, batch as one tall image."""
    n, h, w, _ = ref.shape
    tall = np.ascontiguousarray(ref.reshape(n * h, w, 3))
    return lab.merge_prediction(tall, lab.full_lightness(tall), ab.reshape(n * h, w, 2)).reshape(ref.shape)


def _summary(scores: dict) -> dict:
    return {k: v["mean"] for k, v in metrics.summarize(scores).items() if isinstance(v, dict)}


def _flat(summary: dict, prefix: str) -> dict:
    return {f"{prefix}_{k}": v for k, v in summary.items() if k in ("psnr", "ssim", "ciede2000", "colorfulness")}


def _read_records(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue  # a line torn by a crash
    return records


def _write_records(path: Path, records: list[dict]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records), encoding="utf-8")
    os.replace(tmp, path)


def _append_record(path: Path, record: dict) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def resume_options(options: TrainOptions, given: set[str] = frozenset()) -> tuple[TrainOptions, checkpoint.Checkpoint]:
    """The options stored in RUN_DIR/last.json; of ``options`` only RESUMABLE_OVERRIDES apply, and only
    those named in ``given`` (a resume without --epochs keeps the run's own).

    ``given`` names the options a person set explicitly: one that would change the run is an error,
    not silently ignored.
    """
    ckpt = checkpoint.load_checkpoint(options.out, tag="last")
    stored = ckpt.config.get("training", {})
    fields = {f.name for f in dataclasses.fields(TrainOptions)}
    merged = {k: v for k, v in stored.items() if k in fields}
    merged.update({k: getattr(options, k) for k in RESUMABLE_OVERRIDES if k in given or k in ("out", "resume", "command")})
    resumed = TrainOptions(**merged)
    changed = sorted(k for k in given if k in fields and k not in RESUMABLE_OVERRIDES
                     and getattr(options, k) != getattr(resumed, k))
    if changed:
        flags = ", ".join("--" + k.replace("_", "-") for k in changed)
        raise UsageError(f"--resume continues {options.out} with its own settings; {flags} differ from them "
                         "(only --epochs, --device, --workers and --threads may change)")
    return resumed, ckpt


@contextlib.contextmanager
def _run_lock(run_dir: Path):
    """Hold RUN_DIR/train.lock while training: a second trainer on the same folder (a scheduler's retry, a
    second --resume) would interleave its checkpoints and metrics with the first one's. The OS drops the
    lock when the process dies, so a killed run leaves none behind."""
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(run_dir / "train.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise UsageError(f"{run_dir} is being trained by another process ({run_dir / 'train.lock'} is held); "
                         "wait for it to end or stop it first") from None
    try:
        yield
    finally:
        lock.release()


def train(options: TrainOptions, report: Report = lambda kind, data: None, given: set[str] = frozenset()) -> dict:
    """Run (or with ``resume`` continue) a training; returns the last epoch's record.

    ``given``: options set explicitly (checked against the run's own on resume).
    """
    run_dir = Path(options.out)
    ckpt = None
    if options.resume:
        options, ckpt = resume_options(options, given)
    elif (run_dir / "last.json").exists():
        raise UsageError(f"{run_dir} already holds a run (last.json); add --resume to continue it or pick another --out")
    elif not options.dataset:
        raise UsageError("--dataset is required (cifar10 or a folder of colour photos)")
    if options.batch_size < 1 or options.epochs < 1:
        raise UsageError("--batch-size and --epochs must be at least 1")
    try:
        models.generator_config(options.generator, options.resolved_size(), options.ngf,
                                encoder_scale=options.encoder_scale, head=options.head)
    except ValueError as error:
        raise UsageError(f"--generator {options.generator} --size {options.resolved_size()}: {error}") from None
    if options.load_scale < 1.0:
        raise UsageError(f"--load-scale {options.load_scale:g}: the random crops need images at least the training size (1 or more)")
    if options.head not in bins.HEADS:
        raise UsageError(f"--head {options.head}: use one of {', '.join(bins.HEADS)}")
    if options.head == "bins" and options.generator == "unet":
        raise UsageError("--head bins needs an effnet generator (--generator effnet-lite0, 1 or 2)")
    if options.head == "bins" and options.pixel_loss != "l1":
        raise UsageError(f"--head bins trains on its own cross-entropy; --pixel-loss {options.pixel_loss} is for "
                         "the l1 head")
    if options.pixel_loss == "log-mse" and options.rebalance:
        raise UsageError("--rebalance weights ab errors; --pixel-loss log-mse measures the sRGB output's: use one")
    if options.cifar and options.val_dir:
        raise UsageError("--val-dir is for photo folders; cifar10 validates on its official test batch "
                         "(or, with --cifar-holdout N, on its last N training images)")
    if options.cifar and options.exclude_list:
        raise UsageError("--exclude-list is for photo folders; cifar10 holds out with --cifar-holdout")
    if options.cifar_holdout and not options.cifar:
        raise UsageError("--cifar-holdout is for --dataset cifar10; photo folders hold out --val-dir or --val-fraction")
    with _run_lock(run_dir), StopSignal().installed() as stop:
        split = load_split(options, report)
        trainer = Trainer(options, split, report)
        trainer.stop = stop
        if ckpt is not None:
            trainer.restore(ckpt)
            inside = f", step {trainer.position.step} of epoch {trainer.epoch + 1}" if trainer.position else ""
            report("note", {"text": f"resuming {run_dir} after epoch {trainer.epoch} of {options.epochs}{inside}"})
        return trainer.fit()
