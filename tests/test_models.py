"""The pix2pix networks: shapes at every depth, the channel cap, the PatchGAN, config round trip."""

from __future__ import annotations

import pytest

import torch  # noqa: E402  (the train extra is part of the test install)

from colorcli.training import models  # noqa: E402


@pytest.mark.parametrize("size, levels", [(4, 2), (8, 3), (16, 4), (32, 5), (64, 6), (128, 7), (256, 8), (96, 5)])
def test_unet_depth_and_shapes(size, levels):
    config = models.unet_config(size, ngf=4)
    assert config["levels"] == levels and config["size_unit"] == 2**levels
    generator = models.build_generator(config).eval()
    seen = []
    hooks = [block.register_forward_hook(lambda m, i, o: seen.append(tuple(o.shape))) for block in generator.down]
    with torch.no_grad():
        out = generator(torch.randn(2, 1, size, size))
    for hook in hooks:
        hook.remove()
    assert out.shape == (2, 2, size, size)
    assert [s[2] for s in seen] == [size // 2**(i + 1) for i in range(levels)]
    if size & (size - 1) == 0:  # powers of two go down to 1x1
        assert seen[-1][2:] == (1, 1)
    assert float(out.abs().max()) <= 1.0  # tanh


def test_generator_accepts_any_multiple_of_the_size_unit():
    generator = models.build_generator(models.unet_config(32, ngf=4)).eval()
    assert generator(torch.randn(1, 1, 64, 96)).shape == (1, 2, 64, 96)


def test_channel_cap_and_dropout_blocks():
    generator = models.UNetGenerator(ngf=4, levels=6, dropout_blocks=3)
    widths = [block[-1].num_features if isinstance(block[-1], torch.nn.BatchNorm2d) else block[-1].out_channels
              for block in generator.down]
    assert widths == [4, 8, 16, 32, 32, 32]  # 8 * ngf at most
    with_dropout = [any(isinstance(m, torch.nn.Dropout) for m in block) for block in generator.up]
    assert with_dropout == [True, True, True, False, False, False]
    assert isinstance(generator.up[-1][-1], torch.nn.Tanh)


def test_patchgan_is_70px_at_256():
    discriminator = models.build_discriminator(ndf=4)
    logits = discriminator(torch.randn(1, 1, 256, 256), torch.randn(1, 2, 256, 256))
    assert logits.shape == (1, 1, 30, 30)  # the 70x70 PatchGAN's output grid at 256 px


def test_build_generator_rejects_other_architectures():
    config = models.unet_config(32, ngf=4)
    with pytest.raises(ValueError, match="architecture"):
        models.build_generator({**config, "architecture": "resnet"})
    with pytest.raises(ValueError, match="divisible by 4"):
        models.unet_config(34)
