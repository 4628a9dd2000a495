"""benchmarks/photo_protocol.py: fixed held-out sets by source, halves, grey references, eval's figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import SHARED_DATA, make_tiny_model

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import photo_protocol  # noqa: E402


def _photo(path: Path, seed: int, grey: bool = False) -> None:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
    image = cv2.resize(small, (64, 48), interpolation=cv2.INTER_CUBIC)
    if grey:
        image = np.repeat(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)[:, :, None], 3, axis=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image)


def test_the_shared_sets_are_fixed_disjoint_and_never_trained_on(tmp_path):
    sets = photo_protocol.protocol_sets(SHARED_DATA)
    sizes = {name: {half: len(files) for half, files in halves.items()} for name, halves in sets.items()}
    assert sizes == {"urban100": {"select": 50, "report": 50}, "imagenet-fifth": {"select": 88, "report": 86},
                     "bsds500-val": {"select": 0, "report": 100}}
    everything = [p for halves in sets.values() for files in halves.values() for p in files]
    assert len(everything) == len(set(everything))
    photo_protocol.write_lists(SHARED_DATA, tmp_path)
    holdout = set(Path(line) for line in (tmp_path / "holdout.txt").read_text().split())
    other_source = {p.resolve() for name in ("urban100", "imagenet-fifth") for files in sets[name].values() for p in files}
    assert holdout == other_source
    select = set(Path(line) for line in (tmp_path / "select.txt").read_text().split())
    assert select < holdout and not select & {p.resolve() for name in ("urban100", "imagenet-fifth")
                                              for p in sets[name]["report"]}
    grey = [p for p in sets["urban100"]["select"] + sets["urban100"]["report"] if photo_protocol.is_grey_reference(p)]
    assert len(grey) == 7


def test_the_protocol_scores_the_report_half_through_eval(tmp_path):
    data = tmp_path / "data"
    for i in range(1, 5):
        _photo(data / "photos" / "train" / "urban100" / f"img_{i:03d}.jpg", i, grey=(i == 4))
    index = {i: w for w, i in photo_protocol.imagenet_index().items()}
    for i in (0, 5, 10, 15, 3):  # 0, 10: select; 5, 15: report; 3: not in the fifth
        _photo(data / "photos" / "train" / "imagenet" / f"{index[i]}_class{i}.jpg", 100 + i)
    for i in range(2):
        _photo(data / "photos" / "val" / "bsds500" / f"{i}.jpg", 200 + i)
    model = make_tiny_model(tmp_path / "tiny.onnx")
    out = tmp_path / "protocol.json"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "photo_protocol.py"), str(model),
                           "--data", str(data), "--json", str(out)], capture_output=True, text=True, check=True)
    result = json.loads(out.read_text())
    sets = result["sets"]
    assert (sets["urban100"]["n"], sets["urban100"]["grey_left_out"]) == (1, 1)  # img_002 kept, img_004 grey
    assert sets["imagenet-fifth"]["n"] == 2 and sets["bsds500-val"]["n"] == 2
    for name in sets:
        assert set(sets[name]["rows"]) == {"model", "gray"}
        assert sets[name]["rows"]["gray"]["colorfulness"]["mean"] < 1.0
        assert sets[name]["rows"]["model"]["colorfulness"]["mean"] > 1.0
    mean = result["other_source_mean"]["model"]["psnr"]["mean"]
    assert mean == np.mean([sets[s]["rows"]["model"]["psnr"]["mean"] for s in ("urban100", "imagenet-fifth")])
    assert "mean of the 2 other-source sets (this decides)" in done.stdout
    assert "same source as training" in done.stdout
    for name in sets:  # one photo per other-source set here: a win rate of 0 or 1
        assert set(sets[name]["wins"]) == {"model"} and sets[name]["wins"]["model"]["ciede2000"] in (0.0, 1.0)
    wins = result["other_source_mean_wins"]["model"]["ciede2000"]
    assert wins == np.mean([sets[s]["wins"]["model"]["ciede2000"] for s in ("urban100", "imagenet-fifth")])
    assert done.stdout.count("photos beating gray") == 4  # each set, and the decisive mean


def test_figures_at_equal_colourfulness_come_from_the_two_gains_around_it():
    def summary(c, p, d):
        return {"colorfulness": {"mean": c}, "psnr": {"mean": p}, "ciede2000": {"mean": d}}

    rows = {"gain 1": summary(18.0, 23.0, 10.0), "gain 1.2": summary(22.0, 22.6, 10.4), "gain 0.8": summary(14.0, 23.2, 9.9)}
    found = photo_protocol.at_colourfulness(rows, 20.0)
    assert found["psnr"] == pytest.approx(22.8) and found["ciede2000"] == pytest.approx(10.2)
    assert photo_protocol.at_colourfulness(rows, 25.0) is None


def test_the_win_rate_counts_photos_strictly_better_than_gray():
    model = [{"ciede2000": 5.0, "psnr": 24.0}, {"ciede2000": 10.0, "psnr": 20.0}, {"ciede2000": 7.0, "psnr": 22.0}]
    gray = [{"ciede2000": 6.0, "psnr": 23.0}, {"ciede2000": 9.0, "psnr": 21.0}, {"ciede2000": 7.0, "psnr": 22.0}]
    assert photo_protocol.win_rates(model, gray) == {"ciede2000": 1 / 3, "psnr": 1 / 3}  # a tie is no win


def _vivid(folder: Path, counts: dict[str, int]) -> None:
    for collection, count in counts.items():
        for i in range(count):
            _photo(folder / collection / f"{collection}__{i:03d}.jpg", 300 + 17 * i + len(collection))


def test_the_vivid_set_alternates_each_collection_into_fixed_halves(tmp_path):
    _vivid(tmp_path / "eval", {"leeds_butterflies": 5, "cub200_subset": 4})
    halves = photo_protocol.vivid_halves(tmp_path / "eval")
    names = {half: [p.name for p in files] for half, files in halves.items()}
    assert names["select"] == [f"leeds_butterflies__{i:03d}.jpg" for i in (0, 2, 4)] + \
        [f"cub200_subset__{i:03d}.jpg" for i in (0, 2)]
    assert names["report"] == [f"leeds_butterflies__{i:03d}.jpg" for i in (1, 3)] + \
        [f"cub200_subset__{i:03d}.jpg" for i in (1, 3)]
    assert photo_protocol.vivid_halves(tmp_path / "eval") == halves  # the same every time
    with pytest.raises(SystemExit, match="cub200_subset: missing"):
        (tmp_path / "other" / "leeds_butterflies").mkdir(parents=True)
        photo_protocol.vivid_halves(tmp_path / "other")
    photo_protocol.write_lists(SHARED_DATA, tmp_path / "lists", tmp_path / "eval")
    select_vivid = (tmp_path / "lists" / "select-vivid.txt").read_text().split()
    assert [Path(p).name for p in select_vivid] == names["select"]
    holdout = set((tmp_path / "lists" / "holdout.txt").read_text().split())
    assert {str(p.resolve()) for files in halves.values() for p in files} <= holdout


def test_the_protocol_prints_the_vivid_set_beside_the_others_and_means_all_three(tmp_path):
    data = tmp_path / "data"
    for i in range(1, 3):
        _photo(data / "photos" / "train" / "urban100" / f"img_{i:03d}.jpg", i)
    index = {i: w for w, i in photo_protocol.imagenet_index().items()}
    for i in (0, 5):
        _photo(data / "photos" / "train" / "imagenet" / f"{index[i]}_class{i}.jpg", 100 + i)
    _photo(data / "photos" / "val" / "bsds500" / "0.jpg", 200)
    _vivid(tmp_path / "eval", {"leeds_butterflies": 2, "cub200_subset": 2})
    model = make_tiny_model(tmp_path / "tiny.onnx")
    out = tmp_path / "protocol.json"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "photo_protocol.py"), str(model), "--data",
                           str(data), "--vivid", str(tmp_path / "eval"), "--json", str(out)],
                          capture_output=True, text=True, check=True)
    result = json.loads(out.read_text())
    sets = result["sets"]
    assert list(sets) == ["urban100", "imagenet-fifth", "vivid", "bsds500-val"]
    assert sets["vivid"]["n"] == 2  # the report half: the 2nd photo of each collection
    mean = result["other_source_mean"]["model"]["ciede2000"]["mean"]
    assert mean == pytest.approx(np.mean([sets[s]["rows"]["model"]["ciede2000"]["mean"]
                                          for s in ("urban100", "imagenet-fifth", "vivid")]))
    assert "vivid (other source): 2 photos" in done.stdout
    assert "mean of the 3 other-source sets (this decides)" in done.stdout


def test_a_gain_sweep_in_two_processes_scores_as_one_does_at_each_colourfulness_asked(tmp_path):
    model = make_tiny_model(tmp_path / "tiny.onnx")
    files = []
    for i in range(5):
        files.append(tmp_path / f"p{i}.jpg")
        _photo(files[-1], 40 + i)
    one = photo_protocol.gain_sweep(str(model), files, None, [0.5, 1.0, 2.0])
    two = photo_protocol.gain_sweep(str(model), files, None, [0.5, 1.0, 2.0], jobs=2)
    assert one == two
    cache = tmp_path / "scores.jsonl"
    photo_protocol.gain_sweep(str(model), files[:2], None, [0.5, 1.0, 2.0], cache=cache)  # cut off after two
    assert photo_protocol.gain_sweep(str(model), files, None, [0.5, 1.0, 2.0], jobs=2, cache=cache) == one
    assert len(cache.read_text().splitlines()) == 5  # the first two were not scored again
    photo_protocol.gain_sweep(str(model), files[:1], None, [1.0], cache=cache)  # other gains: scored anew
    assert len(cache.read_text().splitlines()) == 6
    rows = {k: v for k, v in one[0].items() if k != "gray"}
    low, high = rows["gain 0.5"]["colorfulness"]["mean"], rows["gain 2"]["colorfulness"]["mean"]
    assert low < high
    data = tmp_path / "data"
    for i in (1, 3):
        _photo(data / "photos" / "train" / "urban100" / f"img_{i:03d}.jpg", i)
    index = {i: w for w, i in photo_protocol.imagenet_index().items()}
    _photo(data / "photos" / "train" / "imagenet" / f"{index[0]}_class0.jpg", 100)
    _photo(data / "photos" / "val" / "bsds500" / "0.jpg", 200)
    _vivid(tmp_path / "eval", {"leeds_butterflies": 3, "cub200_subset": 3})
    out = tmp_path / "sweep.json"

    def sweep(*targets: str) -> dict:
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "photo_protocol.py"), str(model), "--data",
                        str(data), "--vivid", str(tmp_path / "eval"), "--half", "select", "--gains", "0.5", "1", "2",
                        "--at-colourfulness", *targets, "--jobs", "2", "--json", str(out)],
                       capture_output=True, text=True, check=True)
        return json.loads(out.read_text())

    first = sweep("0.001")
    mean = first["other_source_mean"]
    middle = (mean["gain 1"]["colorfulness"]["mean"] + mean["gain 2"]["colorfulness"]["mean"]) / 2
    target = f"{middle:.6f}"
    asked = sweep("0.001", target)["at_colourfulness"]
    key = f"{float(target):g}"
    assert set(asked) == {"0.001", key}
    assert all(found is None for found in asked["0.001"].values())  # below every swept gain's colour
    found = asked[key]["mean of the 3 other-source sets"]
    ends = sorted(mean[g]["ciede2000"]["mean"] for g in ("gain 1", "gain 2"))
    assert ends[0] <= found["ciede2000"] <= ends[1]
