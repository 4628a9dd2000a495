"""Training data: the CIFAR-10 reader and its md5 checks, folders of photos, batches, Lab in torch."""

from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import torch  # noqa: E402  (the train extra is part of the test install)

from colorcli.look import lab as color
from colorcli.scoring import metrics  # noqa: E402
from colorcli.errors import DataError, DownloadError  # noqa: E402
from colorcli.training import data  # noqa: E402
from conftest import SHARED_DATA  # noqa: E402


def smooth_colour_images(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    """Colourful, learnable uint8 RGB images: random 4x4 colour fields enlarged smoothly."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(n, 4, 4, 3), dtype=np.uint8)
    return np.stack([cv2.resize(img, (size, size), interpolation=cv2.INTER_CUBIC) for img in small])


def write_cifar(root: Path, per_batch: int = 4, seed: int = 0) -> tuple[dict, dict, np.ndarray]:
    """Synthetic CIFAR python batches in torchvision's layout; returns (train md5s, test md5s, test images)."""
    folder = root / data.CIFAR_DIRNAME
    folder.mkdir(parents=True)
    md5 = {}
    images = None
    for k, name in enumerate([*data.CIFAR_TRAIN, *data.CIFAR_TEST]):
        images = smooth_colour_images(per_batch, seed=seed + k)
        rows = images.transpose(0, 3, 1, 2).reshape(per_batch, 3072)  # CHW rows, as the real batches
        with open(folder / name, "wb") as handle:
            pickle.dump({b"data": rows, b"labels": list(range(per_batch)), b"batch_label": name.encode()}, handle)
        md5[name] = data.md5_of(folder / name)
    train_md5 = {name: md5[name] for name in data.CIFAR_TRAIN}
    test_md5 = {name: md5[name] for name in data.CIFAR_TEST}
    return train_md5, test_md5, images


def test_cifar_reader_checks_md5_and_layout(tmp_path):
    train_md5, test_md5, test_images = write_cifar(tmp_path)
    train, test = data.load_cifar10(tmp_path, train_md5, test_md5)
    assert train.shape == (20, 32, 32, 3) and train.dtype == np.uint8
    np.testing.assert_array_equal(test, test_images)  # CHW rows back to HWC pixels
    wrong = {**train_md5, "data_batch_3": "0" * 32}
    with pytest.raises(DataError, match="data_batch_3: md5 mismatch"):
        data.load_cifar10(tmp_path, wrong, test_md5)


def test_cifar_holdout_validates_on_the_end_of_the_training_batches(tmp_path, monkeypatch):
    train_md5, test_md5, test_images = write_cifar(tmp_path)
    monkeypatch.setattr(data, "CIFAR_TRAIN", train_md5)
    monkeypatch.setattr(data, "CIFAR_TEST", test_md5)
    train, _ = data.load_cifar10(tmp_path, train_md5, test_md5)
    plain = data.load_cifar_split(tmp_path, 32)
    np.testing.assert_array_equal(plain.val, test_images)
    held = data.load_cifar_split(tmp_path, 32, holdout=6)
    np.testing.assert_array_equal(held.val, train[-6:])
    assert "held out" in held.description["val"] and held.description["train_images"] == 14
    load = data.load_size_for(32)  # the training bank is stored at the crop augmentation's load size
    np.testing.assert_array_equal(held.train, [cv2.resize(image, (load, load), interpolation=cv2.INTER_CUBIC)
                                               for image in train[:14]])
    native = data.load_cifar_split(tmp_path, 32, holdout=6, load_scale=1.0)  # flips only: the images as they are
    np.testing.assert_array_equal(native.train, train[:14])
    assert native.description["load_size"] == 32
    with pytest.raises(DataError, match="hold-out of 20 images"):
        data.load_cifar_split(tmp_path, 32, holdout=20)


def test_cifar_official_md5s_reject_other_files(tmp_path):
    write_cifar(tmp_path)
    with pytest.raises(DataError, match="md5 mismatch"):
        data.load_cifar10(tmp_path)  # the official md5 list


def test_cifar_missing_says_where(tmp_path):
    with pytest.raises(DataError, match="cifar-10-batches-py.*--download"):
        data.load_cifar10(tmp_path)


def test_cifar_download_offline_is_one_clear_error(tmp_path, monkeypatch):
    import pooch

    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(pooch, "retrieve", offline)
    with pytest.raises(DownloadError, match="offline, unpack .* into"):
        data.download_cifar10(tmp_path)


def test_real_cifar_test_batch_matches_torchvision_md5():
    folder = SHARED_DATA / data.CIFAR_DIRNAME
    images = data.read_cifar_batch(folder / "test_batch", data.CIFAR_TEST["test_batch"])
    assert images.shape == (10000, 32, 32, 3)
    assert images.std() > 40  # real photos, not a blank array


def test_lab_in_torch_matches_opencv():
    rgb = np.concatenate([smooth_colour_images(4), np.zeros((1, 32, 32, 3), np.uint8),
                          np.full((1, 32, 32, 3), 255, np.uint8)])
    L, ab = data.rgb8_to_lab_norm(torch.from_numpy(rgb))
    ours = np.concatenate([(L.numpy() + 1) * 50, ab.numpy() * 110], axis=1).transpose(0, 2, 3, 1)
    np.testing.assert_allclose(ours, metrics.srgb_to_lab(rgb), atol=0.01)  # the standard formula
    for i in range(len(rgb)):  # OpenCV's float path (colorize's) is within 0.3 of it
        np.testing.assert_allclose(ours[i], color.rgb_to_lab(rgb[i]), atol=0.3)


def test_lab_back_to_srgb_in_torch_inverts_it_and_matches_opencv():
    rgb = np.concatenate([smooth_colour_images(4), np.zeros((1, 32, 32, 3), np.uint8),
                          np.full((1, 32, 32, 3), 255, np.uint8)])
    L, ab = data.rgb8_to_lab_norm(torch.from_numpy(rgb))
    back = data.lab_norm_to_srgb(L, ab)
    assert back.shape == rgb.shape
    np.testing.assert_allclose(back.numpy(), rgb, atol=0.02)  # a round trip
    # Lab that is partly out of gamut: OpenCV's float path, an independent implementation, clips alike
    rng = np.random.default_rng(1)
    lab = np.stack([rng.uniform(5, 95, (2, 16, 16)), rng.uniform(-90, 90, (2, 16, 16)),
                    rng.uniform(-90, 90, (2, 16, 16))], axis=-1).astype(np.float32)
    ours = data.lab_norm_to_srgb(torch.from_numpy(lab[..., :1].transpose(0, 3, 1, 2) / 50 - 1),
                                 torch.from_numpy(lab[..., 1:].transpose(0, 3, 1, 2) / 110)).numpy()
    theirs = np.stack([cv2.cvtColor(image, cv2.COLOR_Lab2RGB) for image in lab]) * 255
    assert ((ours == 0) | (ours == 255)).mean() > 0.2  # the test does cover clipping
    np.testing.assert_allclose(ours, theirs, atol=1.0)  # OpenCV rounds a, b to 1/64 inside


def _save(path: Path, array: np.ndarray, **kwargs) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kwargs)


def test_folder_skips_grayscale_and_corrupt_files(tmp_path):
    colour = smooth_colour_images(6, size=48)
    for i, img in enumerate(colour):
        _save(tmp_path / "photos" / ("sub" if i % 2 else "") / f"c{i}.png", img)
    gray = cv2.cvtColor(colour[0], cv2.COLOR_RGB2GRAY)
    _save(tmp_path / "photos" / "g_mode_l.png", gray)
    _save(tmp_path / "photos" / "g_as_rgb.jpg", np.repeat(gray[:, :, None], 3, axis=2), quality=90)
    (tmp_path / "photos" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    for i, img in enumerate(smooth_colour_images(2, size=40, seed=9)):
        _save(tmp_path / "val" / f"v{i}.png", img)

    split = data.load_folder(tmp_path / "photos", size=32, val_dirs=[tmp_path / "val"], workers=2)
    assert len(split.train) == 6
    assert split.description["skipped_train"] == {"gray": 2, "unreadable": 1}
    assert all(min(img.shape[:2]) == data.load_size_for(32) for img in split.train)
    assert split.val.shape == (2, 32, 32, 3)
    native = data.load_folder(tmp_path / "photos", size=32, val_dirs=[tmp_path / "val"], workers=2, load_scale=1.0)
    assert all(min(img.shape[:2]) == 32 for img in native.train) and native.description["load_size"] == 32


def test_exclude_lists_and_listed_validation_sets_stay_out_of_training(tmp_path):
    colour = smooth_colour_images(8, size=40)
    for i, img in enumerate(colour):
        _save(tmp_path / "photos" / ("a" if i < 4 else "b") / f"c{i}.png", img)
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "never.txt").write_text("# the protocol's test photos\n../photos/a/c0.png\n"
                                                   f"{tmp_path / 'photos' / 'b' / 'c5.png'}\n\n")
    (tmp_path / "lists" / "choose.txt").write_text("../photos/a/c1.png\n../photos/b/c6.png  # a comment\n")

    split = data.load_folder(tmp_path / "photos", size=32, val_dirs=[tmp_path / "lists" / "choose.txt"],
                             exclude=[tmp_path / "lists" / "never.txt"], workers=2)
    assert len(split.train) == 4  # 8 less two excluded, less two validating
    assert split.val.shape == (2, 32, 32, 3)
    assert split.description["excluded"]["images"] == 2
    assert list(split.description["val_sets"]) == ["choose"]
    trained = {img.tobytes() for img in split.train}
    for i in (0, 1, 5, 6):
        assert data.resize_short_side(colour[i], data.load_size_for(32)).tobytes() not in trained
    assert data.resize_short_side(colour[2], data.load_size_for(32)).tobytes() in trained

    (tmp_path / "lists" / "bad.txt").write_text("../photos/a/missing.png\n")
    with pytest.raises(DataError, match="bad.txt: 1 listed image"):
        data.load_folder(tmp_path / "photos", size=32, exclude=[tmp_path / "lists" / "bad.txt"], workers=2)


def test_held_out_split_is_fixed_by_path(tmp_path):
    names = [f"dir{i % 3}/img{i}.jpg" for i in range(400)]
    chosen = [n for n in names if data.held_out(n, 0.1)]
    assert 20 <= len(chosen) <= 60
    assert chosen == [n for n in reversed(names) if data.held_out(n, 0.1)][::-1]  # order does not matter


def test_batcher_crops_flips_and_is_reproducible():
    bank = smooth_colour_images(5, size=36)
    uniform = data.Batcher(bank, 32, torch.device("cpu"))
    listed = data.Batcher(list(bank), 32, torch.device("cpu"))
    plan = uniform.plan(torch.Generator().manual_seed(3))
    a, b = uniform.batch(plan, 0, 5), listed.batch(plan, 0, 5)
    assert a.shape == (5, 32, 32, 3) and a.dtype == torch.uint8
    assert torch.equal(a, b)  # the GPU-style gather and the per-image crop agree
    i = 0
    src, top, left = bank[plan["index"][i]], plan["top"][i], plan["left"][i]
    crop = src[top : top + 32, left : left + 32]
    expected = crop[:, ::-1] if plan["flip"][i] else crop
    np.testing.assert_array_equal(a[i].numpy(), expected)
    assert sorted(plan["index"]) == list(range(5))  # one epoch of one source: every image once
    again = uniform.plan(torch.Generator().manual_seed(3))
    assert all(np.array_equal(plan[k], again[k]) for k in plan)
    centred = data.Batcher(bank, 32, torch.device("cpu"), augment=False)
    centre_plan = centred.plan(torch.Generator().manual_seed(0))
    plain = centred.batch(centre_plan, 0, 5)
    np.testing.assert_array_equal(plain.numpy(), bank[centre_plan["index"], 2:34, 2:34])


def test_batcher_draws_each_source_its_share_and_covers_it_before_repeating():
    bank = list(smooth_colour_images(13, size=34))
    groups = [("big", 10, 0.25), ("small", 3, 0.75)]
    batcher = data.Batcher(bank, 32, torch.device("cpu"), groups=groups, epoch_size=40)
    plan = batcher.plan(torch.Generator().manual_seed(1))
    index = plan["index"]
    assert len(index) == 40
    assert (index < 10).sum() == 10 and (index >= 10).sum() == 30  # 25% and 75% of the epoch, exactly
    assert sorted(index[index < 10]) == list(range(10))  # the big source: each of its photos once
    assert all((index == i).sum() == 10 for i in (10, 11, 12))  # the small one: each ten times
    assert len(batcher.batch(plan, 36, 8)) == 4  # the last batch is the rest
    with pytest.raises(ValueError, match="groups"):
        data.Batcher(bank, 32, torch.device("cpu"), groups=[("a", 5, 1.0)])


def test_a_source_whose_share_rounds_to_nothing_is_left_out_of_that_epoch():
    bank = list(smooth_colour_images(6, size=34))
    groups = [("a", 3, 0.45), ("b", 2, 0.45), ("c", 1, 0.1)]
    batcher = data.Batcher(bank, 32, torch.device("cpu"), groups=groups, epoch_size=2)
    plan = batcher.plan(torch.Generator().manual_seed(0))
    assert len(plan["index"]) == 2 and (plan["index"] < 3).sum() == 1 and (plan["index"] == 5).sum() == 0
