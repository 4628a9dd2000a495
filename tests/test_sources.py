"""Training sources and their shares, and the decode-once prepared copies of the photos."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colorcli.errors import DataError, UsageError
from colorcli.training import data, prepared, sources
from test_data import smooth_colour_images


def _photos(folder: Path, n: int, seed: int = 0, size: int = 48) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, image in enumerate(smooth_colour_images(n, size=size, seed=seed)):
        paths.append(folder / f"p{i:03d}.png")
        Image.fromarray(image).save(paths[-1])
    return paths


def test_dataset_specs_take_an_optional_weight():
    assert sources.parse_dataset("/a/b:0.25") == sources.DatasetSpec("/a/b", 0.25)
    assert sources.parse_dataset("/a/b") == sources.DatasetSpec("/a/b", None)
    assert sources.parse_dataset("/a/odd:name") == sources.DatasetSpec("/a/odd:name", None)
    with pytest.raises(UsageError, match="positive"):
        sources.parse_dataset("/a:0")
    with pytest.raises(UsageError, match="all or none|every --dataset"):
        sources.check_weights([sources.DatasetSpec("a", 1.0), sources.DatasetSpec("b", None)])


def test_balance_rules_and_folder_weights():
    counts = {"rooms": 30000, "cats": 300}
    folder_of = {"rooms": 0, "cats": 0}
    by_images = sources.shares(counts, folder_of, [None], "images")
    by_sqrt = sources.shares(counts, folder_of, [None], "sqrt")
    equal = sources.shares(counts, folder_of, [None], "equal")
    assert by_images["rooms"] == pytest.approx(30000 / 30300)
    assert by_sqrt["rooms"] == pytest.approx(10 / 11)  # 100 times the photos, 10 times the steps
    assert equal == {"rooms": 0.5, "cats": 0.5}
    # weighted folders: the weight is the folder's, split inside it by the rule; a folder of no photos drops out
    weighted = sources.shares({"x/a": 100, "x/b": 400, "y": 9, "z": 0}, {"x/a": 0, "x/b": 0, "y": 1, "z": 2},
                              [3.0, 1.0, 5.0], "sqrt")
    assert weighted["y"] == pytest.approx(0.25)
    assert weighted["x/a"] == pytest.approx(0.75 * 10 / 30) and weighted["x/b"] == pytest.approx(0.75 * 20 / 30)
    assert "z" not in weighted and sum(weighted.values()) == pytest.approx(1.0)


def test_quotas_are_exact_and_sum_to_the_epoch():
    q = sources.quotas([0.5, 0.3, 0.2], 7)
    assert q.sum() == 7 and list(q) == [4, 2, 1]
    assert list(sources.quotas([1 / 3] * 3, 10)) in ([4, 3, 3], [3, 4, 3], [3, 3, 4])


def test_subfolders_are_sources_and_weighted_folders_share_the_steps(tmp_path):
    _photos(tmp_path / "big" / "rooms", 12)
    _photos(tmp_path / "big" / "cats", 3, seed=1)
    _photos(tmp_path / "small", 4, seed=2)
    _photos(tmp_path / "val", 2, seed=3)
    split = data.load_folder([str(tmp_path / "big") + ":0.6", str(tmp_path / "small") + ":0.4"], size=32,
                             val_dirs=[tmp_path / "val"], balance="equal")
    groups = {name: (count, share) for name, count, share in split.groups}
    assert groups == {"big/cats": (3, pytest.approx(0.3)), "big/rooms": (12, pytest.approx(0.3)),
                      "small": (4, pytest.approx(0.4))}
    assert len(split.train) == 19
    described = split.description["sources"]
    assert described["big/rooms"]["share"] == pytest.approx(0.3) and described["small"]["images"] == 4
    assert split.description["dataset"] == [f"{tmp_path / 'big'}:0.6", f"{tmp_path / 'small'}:0.4"]
    assert split.description["balance"] == "equal"
    empty = tmp_path / "greys"
    empty.mkdir()
    Image.fromarray(np.full((40, 40), 128, np.uint8)).save(empty / "g.png")
    with pytest.raises(DataError, match="greys: no usable colour photos for its weight"):
        data.load_folder([str(tmp_path / "small") + ":1", str(empty) + ":1"], size=32, val_dirs=[tmp_path / "val"])


def test_folders_of_the_same_name_stay_apart_and_a_folder_given_twice_is_refused(tmp_path):
    _photos(tmp_path / "one" / "photos", 4)
    _photos(tmp_path / "two" / "photos", 2, seed=1)
    _photos(tmp_path / "val", 2, seed=3)
    split = data.load_folder([str(tmp_path / "one" / "photos") + ":0.3", str(tmp_path / "two" / "photos") + ":0.7"],
                             size=32, val_dirs=[tmp_path / "val"])
    groups = {name: (count, share) for name, count, share in split.groups}
    assert groups == {"one/photos": (4, pytest.approx(0.3)), "two/photos": (2, pytest.approx(0.7))}
    with pytest.raises(UsageError, match="given twice"):
        data.load_folder([str(tmp_path / "one" / "photos"), str(tmp_path / "one" / ".." / "one" / "photos")],
                         size=32, val_dirs=[tmp_path / "val"])


def test_prepared_copies_are_not_reused_once_the_decoding_changes(tmp_path, monkeypatch):
    _photos(tmp_path / "photos", 3, size=80)
    _photos(tmp_path / "val", 2, seed=3)
    load = lambda: data.load_folder(str(tmp_path / "photos"), size=32, val_dirs=[tmp_path / "val"],  # noqa: E731
                                    prepared_dir=tmp_path / "cache")
    assert not load().description["sources"]["photos"]["prepared"]["reused"]
    assert load().description["sources"]["photos"]["prepared"]["reused"]
    monkeypatch.setattr(data, "DECODE_VERSION", data.DECODE_VERSION + 1)
    assert not load().description["sources"]["photos"]["prepared"]["reused"]
    monkeypatch.setattr(data, "MAX_ASPECT", 1.5)
    assert not load().description["sources"]["photos"]["prepared"]["reused"]
    assert len(list((tmp_path / "cache").iterdir())) == 3


def test_a_prepared_copy_is_made_once_reused_and_remade_when_a_photo_changes(tmp_path):
    files = _photos(tmp_path / "photos", 5, size=60)
    Image.fromarray(np.full((50, 50), 90, np.uint8)).save(tmp_path / "photos" / "grey.png")
    files.append(tmp_path / "photos" / "grey.png")
    (tmp_path / "photos" / "broken.png").write_bytes(b"not a png")
    files.append(tmp_path / "photos" / "broken.png")
    decode = lambda path: data.decode_photo(path, 40)  # noqa: E731
    calls = []
    counting = lambda path: calls.append(path) or decode(path)  # noqa: E731
    images, record = prepared.load_or_prepare(files, counting, "40px", tmp_path / "cache")
    assert not record["reused"] and record["counts"] == {"used": 5, "gray": 1, "unreadable": 1}
    assert len(calls) == 7 and all(isinstance(image, np.memmap) or image.base is not None for image in images)
    for path, image in zip(files, images):
        np.testing.assert_array_equal(image, decode(path))  # the copy holds what decoding gives
    again, record = prepared.load_or_prepare(files, counting, "40px", tmp_path / "cache")
    assert record["reused"] and len(calls) == 7 and len(again) == 5
    other_size, record = prepared.load_or_prepare(files, lambda p: data.decode_photo(p, 36), "36px", tmp_path / "cache")
    assert not record["reused"] and other_size[0].shape[0] == 36
    Image.fromarray(smooth_colour_images(1, size=60, seed=9)[0]).save(files[0])
    os.utime(files[0], ns=(1, 1))  # a changed photo, even one with an old modification time
    changed, record = prepared.load_or_prepare(files, counting, "40px", tmp_path / "cache")
    assert not record["reused"] and len(calls) == 14
    np.testing.assert_array_equal(changed[0], decode(files[0]))
    folders = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(folders) == 3 and not any(name.startswith(".") for name in folders)  # no half-built copy left
    meta = json.loads((tmp_path / "cache" / folders[0] / "index.json").read_text())
    assert meta["format"] == prepared.FORMAT


def test_a_preparation_stopped_halfway_leaves_nothing_behind(tmp_path):
    files = _photos(tmp_path / "photos", 4)

    def failing(path):
        if path == files[2]:
            raise KeyboardInterrupt
        return data.decode_photo(path, 40)

    with pytest.raises(KeyboardInterrupt):
        prepared.load_or_prepare(files, failing, "40px", tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []
    images, record = prepared.load_or_prepare(files, lambda p: data.decode_photo(p, 40), "40px", tmp_path / "cache")
    assert len(images) == 4 and not record["reused"]


def test_training_photos_are_cropped_to_twice_their_short_side(tmp_path):
    wide = np.zeros((40, 200, 3), np.uint8)
    wide[..., 0] = np.linspace(0, 255, 200)[None, :].astype(np.uint8)
    wide[..., 2] = 255 - wide[..., 0]
    Image.fromarray(wide).save(tmp_path / "wide.png")
    image = data.decode_photo(tmp_path / "wide.png", 20, max_aspect=2.0)
    assert image.shape == (20, 40, 3)
    np.testing.assert_array_equal(image, data.decode_photo(tmp_path / "wide.png", 20)[:, 30:70])  # the middle
