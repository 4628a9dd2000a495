"""Training data: CIFAR-10 python batches or folders of colour photos, as uint8 RGB.

Photos are decoded once (short side resized to ``load_size`` = the load scale, 1.12 by default, x the
training size), kept in memory or in a prepared copy on disk (colorcli.training.prepared), and augmented
every batch by a random ``size`` x ``size`` crop and a random horizontal flip, as pix2pix does
(286 -> 256). Folders are grouped into sources that share the steps by weight
(colorcli.training.sources). Validation images are resized (short side = size) and centre-cropped.
The conversion to Lab runs in torch, on the training device, batch by batch.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from colorcli.look import lab
from colorcli.models.cache import file_hash
from colorcli.models.contract import AB_SCALE, L_OFFSET, L_SCALE
from colorcli.errors import DataError, DownloadError
from colorcli.training.prepared import load_or_prepare
from colorcli.training.sources import DEFAULT_BALANCE, check_weights, dataset_labels, format_dataset, parse_dataset, \
    quotas, shares, source_name

CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR_ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR_DIRNAME = "cifar-10-batches-py"
# The official batches and their md5s (the list torchvision checks).
CIFAR_TRAIN = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
}
CIFAR_TEST = {"test_batch": "40351d587109b95175f43aff81a1287e"}

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"}
LOAD_SCALE = 1.12  # decode with the short side at about 1.12 x size, then random-crop size


def load_size_for(size: int, scale: float = LOAD_SCALE) -> int:
    return int(round(size * scale))


@dataclass
class Split:
    """Training bank (uniform uint8 array [N,h,w,3] or a list of uint8 arrays) and validation set."""

    train: np.ndarray | list
    val: np.ndarray  # uint8 [M, size, size, 3]: the validation set that picks the best checkpoint
    description: dict = field(default_factory=dict)
    extra_val: dict[str, np.ndarray] = field(default_factory=dict)  # further sets, reported beside it
    # the bank's sources, back to back: (name, number of images, share of the steps); empty: one source
    groups: list[tuple[str, int, float]] = field(default_factory=list)


# --- CIFAR-10 -------------------------------------------------------------------------------------


def md5_of(path: Path) -> str:
    return file_hash(path, "md5")


def _missing_cifar_message(folder: Path) -> str:
    return (f"CIFAR-10 not found in {folder}: put the python batches there "
            f"(unpack {CIFAR_URL}) or add --download")


def read_cifar_batch(path: Path, md5: str | None) -> np.ndarray:
    """One CIFAR python batch -> uint8 RGB [N, 32, 32, 3], after checking its md5 (None: no check)."""
    if not path.is_file():
        raise DataError(_missing_cifar_message(path.parent) + f" (missing {path.name})")
    if md5 is not None and md5_of(path) != md5:
        raise DataError(f"{path}: md5 mismatch (expected {md5}); the file is corrupt or not the official batch")
    try:
        with open(path, "rb") as handle:
            batch = pickle.load(handle, encoding="bytes")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
    except (OSError, pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as error:
        raise DataError(f"{path}: not a CIFAR python batch ({type(error).__name__})") from None
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(f"{path}: not a CIFAR python batch (data shape {data.shape})")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()


def cifar_folder(data_dir: Path) -> Path:
    data_dir = Path(data_dir)
    return data_dir if data_dir.name == CIFAR_DIRNAME else data_dir / CIFAR_DIRNAME


def load_cifar10(data_dir: Path, train_md5: dict | None = None, test_md5: dict | None = None,
                 verify: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The official split: data_batch_1..5 (train) and test_batch (validation), uint8 RGB.

    Each batch is checked against its md5 (default: the official list, CIFAR_TRAIN / CIFAR_TEST).
    """
    train_md5 = CIFAR_TRAIN if train_md5 is None else train_md5
    test_md5 = CIFAR_TEST if test_md5 is None else test_md5
    folder = cifar_folder(data_dir)
    if not folder.is_dir():
        raise DataError(_missing_cifar_message(folder))
    train = [read_cifar_batch(folder / name, md5 if verify else None) for name, md5 in train_md5.items()]
    test = [read_cifar_batch(folder / name, md5 if verify else None) for name, md5 in test_md5.items()]
    return np.concatenate(train), np.concatenate(test)


def download_cifar10(data_dir: Path) -> Path:
    """Fetch and unpack the official archive (md5-checked) into data_dir unless already there."""
    import pooch

    data_dir = Path(data_dir)
    folder = cifar_folder(data_dir)
    if all((folder / name).is_file() for name in [*CIFAR_TRAIN, *CIFAR_TEST]):
        return folder
    try:
        pooch.retrieve(CIFAR_URL, known_hash=f"md5:{CIFAR_ARCHIVE_MD5}", fname="cifar-10-python.tar.gz",
                       path=folder.parent, processor=pooch.Untar(extract_dir="."), progressbar=False)
    except ValueError as error:  # pooch: hash mismatch
        raise DownloadError(f"{CIFAR_URL}: {error}".splitlines()[0]) from None
    except Exception as error:  # requests' connection errors and friends
        raise DownloadError(f"cannot download CIFAR-10 ({type(error).__name__}); offline, unpack {CIFAR_URL} "
                            f"into {folder.parent} so that {folder} holds data_batch_1..5 and test_batch") from None
    return folder


# --- folders of photos ----------------------------------------------------------------------------


def read_image_list(path: Path) -> list[Path]:
    """The photos a list file names: one path a line, relative to the list's folder or absolute; # comments."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: cannot read the image list ({error})") from None
    files = []
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            files.append((path.parent / line).resolve())
    missing = [f for f in files if not f.is_file()]
    if missing:
        raise DataError(f"{path}: {len(missing)} listed image(s) not found, e.g. {missing[0]}")
    return files


def list_images(root: Path) -> list[Path]:
    """Image files under root, recursively, in a stable (sorted) order; hidden entries skipped.

    A .txt file instead of a folder is a list of images (read_image_list)."""
    root = Path(root)
    if root.suffix.lower() == ".txt" and root.is_file():
        return read_image_list(root)
    if not root.is_dir():
        raise DataError(f"{root}: dataset folder not found")
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES:
                found.append(Path(dirpath) / name)
    return found


def resize_short_side(rgb: np.ndarray, short: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    scale = short / min(h, w)
    size = (max(short, int(round(w * scale))), max(short, int(round(h * scale))))
    if size == (w, h):
        return rgb
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(rgb, size, interpolation=interpolation)


def center_crop(rgb: np.ndarray, size: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    top, left = (h - size) // 2, (w - size) // 2
    return np.ascontiguousarray(rgb[top : top + size, left : left + size])


MAX_ASPECT = 2.0  # a training photo's long side is cropped (centred) to this times its short side
# Names what decode_photo gives, in the prepared copies' key: raise it when decode_photo or
# lab.is_grayscale changes its output, so that no copy made by the old decoding is reused.
DECODE_VERSION = 1


def prepared_key(load_size: int) -> str:
    """What a prepared copy holds beyond its files: the load size and the decoding's settings."""
    return f"{load_size}px-aspect{MAX_ASPECT:g}-decode{DECODE_VERSION}"


def decode_photo(path: Path, short: int, max_aspect: float | None = None) -> np.ndarray | str:
    """uint8 RGB with the short side resized to ``short`` (and the long side cropped to ``max_aspect``
    times it), or "gray" / "unreadable"."""
    try:
        with Image.open(path) as img:
            img.draft("RGB", (short, short))  # JPEG: decode at a reduced scale, much faster
            img = ImageOps.exif_transpose(img)
            if img.mode in ("1", "L", "LA", "I", "I;16", "F"):
                return "gray"
            rgb = np.asarray(img.convert("RGB"))
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        return "unreadable"
    if min(rgb.shape[:2]) < 8:
        return "unreadable"
    if lab.is_grayscale(rgb):  # grey, grey stored as RGB, or a toned (sepia) print: colorize's notion
        return "gray"
    rgb = resize_short_side(rgb, short)
    if max_aspect:
        h, w = rgb.shape[:2]
        long = int(max_aspect * short)
        if h > long:
            rgb = rgb[(h - long) // 2 : (h - long) // 2 + long]
        elif w > long:
            rgb = rgb[:, (w - long) // 2 : (w - long) // 2 + long]
    return rgb


def held_out(relative: str, fraction: float) -> bool:
    """A fixed validation split: the hash of the relative path decides, whatever the file order."""
    digest = hashlib.sha1(relative.replace(os.sep, "/").encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def _decode_all(paths: list[Path], decode, workers: int) -> tuple[list[np.ndarray], dict]:
    counts = {"used": 0, "gray": 0, "unreadable": 0}
    images = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:  # PIL and cv2 release the GIL
        for result in pool.map(decode, paths):
            if isinstance(result, str):
                counts[result] += 1
            else:
                images.append(result)
                counts["used"] += 1
    return images, counts


def _set_names(folders: list[Path]) -> list[str]:
    """Short unique names for validation folders (or lists): the name, with its parent where needed."""
    names = [f.stem if f.is_file() else f.name for f in folders]
    return [f"{f.parent.name}/{n}" if names.count(n) > 1 else n for f, n in zip(folders, names)]


def load_folder(datasets, size: int, val_dirs: list[Path] = (), val_fraction: float = 0.05,
                limit: int | None = None, val_limit: int | None = None, workers: int = 2,
                load_scale: float = LOAD_SCALE, exclude: list[Path] = (), balance: str = DEFAULT_BALANCE,
                prepared_dir: Path | None = None, progress=None) -> Split:
    """Training photos from one or more dataset folders, grouped into sources, and the validation sets.

    ``datasets``: a folder, or a list of ``DIR`` / ``DIR:WEIGHT`` specs (colorcli.training.sources says
    how sources and their shares follow). With val_dirs, each folder (or image list) is a validation set
    (the first one picks the best checkpoint) and any of them inside a dataset is held out of training:
    a second set from another source than the training photos keeps the validation honest. Without, a
    fixed fraction of each dataset is held out by path hash. Photos named by the ``exclude`` lists are
    never trained on (a protocol's test sets). ``limit`` keeps the first N training photos in all.
    With ``prepared_dir``, each source's photos are decoded once into a copy there and mapped back
    (colorcli.training.prepared); without, they are decoded into memory. ``progress(text)`` hears
    about long preparations.
    """
    specs = [parse_dataset(d) for d in ([datasets] if isinstance(datasets, (str, Path)) else datasets)]
    check_weights(specs)
    excluded = {p for listing in exclude for p in read_image_list(listing)}
    val_dirs = [Path(d).resolve() for d in val_dirs]
    val_lists = [list_images(d) for d in val_dirs]
    validation = {p.resolve() for val_files in val_lists for p in val_files}
    names = _set_names(val_dirs) if val_dirs else ["held-out"]
    held = []
    train_files: list[tuple[str, int, Path]] = []  # (source, dataset index, path)
    labels = dataset_labels([Path(spec.path) for spec in specs])
    for index, spec in enumerate(specs):
        root = Path(spec.path)
        for path in list_images(root):
            resolved = path.resolve()
            if resolved in excluded:
                continue
            relative = path.relative_to(root) if root.is_dir() else Path(path.name)
            if val_dirs:
                if resolved in validation or any(resolved.is_relative_to(d) for d in val_dirs):
                    continue
            elif held_out(str(relative), val_fraction):
                held.append(path)
                continue
            train_files.append((source_name(labels[index], relative), index, path))
    if not val_dirs:
        val_lists = [held]
    if limit is not None:
        train_files = train_files[:limit]
    load_size = load_size_for(size, load_scale)
    decode = partial(decode_photo, short=load_size, max_aspect=MAX_ASPECT)
    by_source: dict[str, list[Path]] = {}
    folder_of: dict[str, int] = {}
    for name, index, path in train_files:
        by_source.setdefault(name, []).append(path)
        folder_of[name] = index
    banks, counts, prepared = {}, {}, {}
    for name, files in by_source.items():
        if prepared_dir is not None:
            say = (lambda done, total, name=name: progress(f"preparing {name}: {done:,}/{total:,} photos at "
                                                            f"{load_size} px")) if progress else None
            banks[name], record = load_or_prepare(files, decode, prepared_key(load_size), Path(prepared_dir),
                                                  workers, say)
            counts[name] = record["counts"]
            prepared[name] = {k: record[k] for k in ("path", "reused", "images_per_s", "load_images_per_s")}
        else:
            banks[name], counts[name] = _decode_all(files, decode, workers)
    usable = {name: len(images) for name, images in banks.items()}
    share = shares(usable, folder_of, [s.weight for s in specs], balance)
    empty = [spec.path for index, spec in enumerate(specs)
             if spec.weight is not None and not any(usable[n] for n in usable if folder_of[n] == index)]
    if empty:
        raise DataError(f"{empty[0]}: no usable colour photos for its weight")
    train = [image for name in banks for image in banks[name]]
    if not train:
        skipped = {k: sum(c[k] for c in counts.values()) for k in ("gray", "unreadable")}
        raise DataError(f"{', '.join(s.path for s in specs)}: no usable colour photos ({skipped['gray']} greyscale, "
                        f"{skipped['unreadable']} unreadable skipped)")
    groups = [(name, usable[name], share[name]) for name in banks if usable[name]]
    val_sets, skipped_val = {}, {}
    val_decode = partial(decode_photo, short=size)
    for name, folder, val_files in zip(names, val_dirs or [Path(specs[0].path)], val_lists):
        images, found = _decode_all(val_files[:val_limit] if val_limit else val_files, val_decode, workers)
        if not images:
            raise DataError(f"{folder}: no usable validation photos (use --val-dir or more photos)")
        val_sets[name] = np.stack([center_crop(img, size) for img in images])
        skipped_val[name] = {k: v for k, v in found.items() if k != "used"}
    first = names[0]
    description = {
        "dataset": [format_dataset(s) for s in specs],
        "balance": balance,
        "sources": {name: {"images": usable[name], "share": round(share.get(name, 0.0), 6),
                           "skipped": {k: v for k, v in counts[name].items() if k != "used"},
                           **({"prepared": prepared[name]} if name in prepared else {})}
                    for name in banks},
        "excluded": {"lists": [str(Path(x).resolve()) for x in exclude], "images": len(excluded)},
        "val": {name: str(folder) for name, folder in zip(names, val_dirs)} if val_dirs
        else f"held out by sha1 of path, fraction {val_fraction}",
        "train_images": len(train),
        "val_images": len(val_sets[first]),
        "val_sets": {name: len(images) for name, images in val_sets.items()},
        "skipped_train": {k: sum(c[k] for c in counts.values()) for k in ("gray", "unreadable")},
        "skipped_val": skipped_val,
        "load_size": load_size,
    }
    extra = {name: images for name, images in val_sets.items() if name != first}
    return Split(train, val_sets[first], description, extra, groups)


def load_cifar_split(data_dir: Path, size: int, download: bool = False, limit: int | None = None,
                     val_limit: int | None = None, verify: bool = True, holdout: int = 0,
                     load_scale: float = LOAD_SCALE) -> Split:
    """Training images and validation images. The official test batch validates, unless HOLDOUT > 0:
    then the last HOLDOUT training images (the end of data_batch_5) validate and are never trained on,
    and the test batch stays unseen until a model is scored on it."""
    if download:
        download_cifar10(Path(data_dir))
    train, test = load_cifar10(Path(data_dir), verify=verify)
    val_name = "official test_batch"
    if holdout:
        if not 0 < holdout < len(train):
            raise DataError(f"a hold-out of {holdout} images needs between 1 and {len(train) - 1} "
                            f"(there are {len(train)} training images)")
        train, test = train[:-holdout], train[-holdout:]
        val_name = f"the last {holdout} training images (end of data_batch_5), held out of training"
    train = train[:limit] if limit is not None else train
    test = test[:val_limit] if val_limit is not None else test
    load = load_size_for(size, load_scale)
    if load != 32:
        train = np.stack([cv2.resize(img, (load, load), interpolation=cv2.INTER_CUBIC) for img in train])
    if size != 32:
        test = np.stack([cv2.resize(img, (size, size), interpolation=cv2.INTER_CUBIC) for img in test])
    description = {"dataset": "cifar10", "data_dir": str(cifar_folder(Path(data_dir))),
                   "val": val_name, "train_images": len(train), "val_images": len(test),
                   "load_size": load}
    return Split(np.ascontiguousarray(train), np.ascontiguousarray(test), description)


# --- batches --------------------------------------------------------------------------------------

# sRGB (D65) -> XYZ, the matrix OpenCV uses, and the D65 white point
_RGB_TO_XYZ = torch.tensor([[0.412453, 0.357580, 0.180423],
                            [0.212671, 0.715160, 0.072169],
                            [0.019334, 0.119193, 0.950227]])
_XYZ_TO_RGB = torch.linalg.inv(_RGB_TO_XYZ)
_WHITE = torch.tensor([0.950456, 1.0, 1.088754])


def rgb8_to_lab_norm(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """RGB [B,H,W,3] (any device; uint8, or float 0..255 differentiably) -> model input L/50-1 [B,1,H,W]
    and target ab/110 [B,2,H,W].

    The standard sRGB (D65) formula, as colorcli.scoring.metrics; OpenCV's float path is within 0.3 of it.
    """
    c = rgb.float() / 255.0
    linear = torch.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _RGB_TO_XYZ.to(linear.device).T / _WHITE.to(linear.device)
    f = torch.where(xyz > 0.008856, xyz.clamp_min(1e-12) ** (1.0 / 3.0), 7.787 * xyz + 16.0 / 116.0)
    L = torch.where(xyz[..., 1] > 0.008856, 116.0 * f[..., 1] - 16.0, 903.3 * xyz[..., 1])
    a = 500.0 * (f[..., 0] - f[..., 1])
    b = 200.0 * (f[..., 1] - f[..., 2])
    L_norm = (L / L_SCALE - L_OFFSET).unsqueeze(1)
    ab_norm = torch.stack([a, b], dim=1) / AB_SCALE
    return L_norm, ab_norm


def lab_norm_to_srgb(L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """The inverse of rgb8_to_lab_norm, differentiable: L/50-1 [B,1,H,W] and ab/110 [B,2,H,W] -> sRGB
    [B,H,W,3] in 0..255, clipped to the gamut as an 8-bit output is (so out-of-gamut chroma gets no
    gradient, as it gains nothing in the saved image). Written here beside its forward formula: the
    training losses need it in torch, and no torch colour library is a dependency."""
    lightness = (L[:, 0].float() + L_OFFSET) * L_SCALE
    a, b = (ab.float() * AB_SCALE).unbind(1)
    fy = (lightness + 16.0) / 116.0
    f = torch.stack([fy + a / 500.0, fy, fy - b / 200.0], dim=-1)
    xyz = torch.where(f > 6.0 / 29.0, f ** 3, (f - 16.0 / 116.0) / 7.787) * _WHITE.to(f.device)
    linear = (xyz @ _XYZ_TO_RGB.to(f.device).T).clamp(0.0, 1.0)
    encoded = torch.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear.clamp_min(1e-8) ** (1.0 / 2.4) - 0.055)
    return encoded * 255.0


class Batcher:
    """Random crop + flip batches from a bank of uint8 RGB images, deterministic given a generator.

    A uniform bank (one array) lives as a tensor on ``device`` and is cropped there with one gather;
    a list bank (photos of different shapes) is cropped on the CPU. ``groups`` (name, count, share)
    split the bank into sources, back to back; an epoch of ``epoch_size`` samples (default: the bank's
    size) takes each source's share of them exactly, drawing its images without repeats until all
    have been drawn.
    """

    def __init__(self, bank: np.ndarray | list, size: int, device: torch.device, augment: bool = True,
                 groups: list[tuple[str, int, float]] = (), epoch_size: int | None = None):
        self.size = size
        self.device = device
        self.augment = augment
        self.uniform = isinstance(bank, np.ndarray)
        if self.uniform:
            self.bank = torch.from_numpy(bank).to(device)
            self.shapes = np.tile(np.array(bank.shape[1:3]), (len(bank), 1))
        else:
            self.bank = bank
            self.shapes = np.array([img.shape[:2] for img in bank])
        if (self.shapes < size).any():
            raise DataError(f"training images must be at least {size} px (got {self.shapes.min()})")
        self.groups = list(groups) or [("all", len(self.shapes), 1.0)]
        if sum(count for _, count, _ in self.groups) != len(self.shapes):
            raise ValueError("the groups do not add up to the bank")
        self.epoch_size = epoch_size or len(self.shapes)

    def __len__(self) -> int:
        return len(self.shapes)

    def plan(self, generator: torch.Generator) -> dict:
        """One epoch of randomness: which image each sample is, its crop offsets and flip, drawn up front."""
        picks, start = [], 0
        for (_, count, _), quota in zip(self.groups, quotas([share for _, _, share in self.groups], self.epoch_size)):
            if quota == 0:  # a source whose share rounds to nothing this epoch
                start += count
                continue
            rounds = -(-int(quota) // count)
            drawn = torch.cat([torch.randperm(count, generator=generator) for _ in range(rounds)])[:quota]
            picks.append(drawn + start)
            start += count
        picks = torch.cat(picks)
        index = picks[torch.randperm(len(picks), generator=generator)].numpy()
        u = torch.rand(len(index), 3, generator=generator, dtype=torch.float64).numpy()
        room = self.shapes[index] - self.size + 1
        if not self.augment:
            u[:, :2], u[:, 2] = 0.5, 1.0
        return {"index": index, "top": (u[:, 0] * room[:, 0]).astype(np.int64),
                "left": (u[:, 1] * room[:, 1]).astype(np.int64), "flip": u[:, 2] < 0.5}

    def batch(self, plan: dict, start: int, batch_size: int) -> torch.Tensor:
        """uint8 RGB [B, size, size, 3] on the device: the plan's samples start .. start + batch_size."""
        part = slice(start, start + batch_size)
        idx, top, left, flip = plan["index"][part], plan["top"][part], plan["left"][part], plan["flip"][part]
        if self.uniform:
            span = np.arange(self.size)
            rows = top[:, None] + span
            cols = np.where(flip[:, None], left[:, None] + self.size - 1 - span, left[:, None] + span)
            to = lambda a: torch.from_numpy(a).to(self.device, non_blocking=True)  # noqa: E731
            return self.bank[to(idx)[:, None, None], to(rows)[:, :, None], to(cols)[:, None, :]]
        crops = []
        for i, t, l, f in zip(idx, top, left, flip):
            crop = self.bank[i][t : t + self.size, l : l + self.size]
            crops.append(crop[:, ::-1] if f else crop)
        return torch.from_numpy(np.stack(crops)).to(self.device, non_blocking=True)
