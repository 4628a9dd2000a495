"""The card's "Training data" section for A2's export: every collection of the mix with the photos used,
its share of the steps (the run's config) and its terms (../shared/data/extra/sources.tsv).

    python card_notes.py RUN_DIR_OR_TAG.json > notes-data.md
"""
import csv, json, sys
from pathlib import Path

SOURCES = Path("/work/shared/data/extra/sources.tsv")
OWN = {"train/bsds500": ("the project's BSDS500 training photos", "BSDS500: research use"),
       "train/imagenet": ("the project's ImageNet samples (the protocol's fifth held out)", "ImageNet: research use"),
       "train/wallpapers": ("the project's wallpapers", "as published")}

def main(path: Path) -> None:
    tag = path / "last.json" if path.is_dir() else path
    config = json.loads(tag.read_text())["config"]
    sources = config["data"]["sources"]
    rows = {r["source"]: r for r in csv.DictReader(SOURCES.open(), delimiter="\t")}
    used = sum(s["images"] for s in sources.values())
    print(f"{used:,} colour photos from {sum(n in rows for n in sources)} public collections (`../shared/data/extra`, "
          "built byte for byte from the commits below) and the project's own training photos, with the photo "
          "protocol's held-out photos excluded. Photos the trainer found grey are skipped. Each epoch draws "
          "5,000 samples by these shares, every photo of a collection equally often.\n")
    print("| collection | photos used | share of the steps | repository @ commit | terms |")
    print("|---|---|---|---|---|")
    for name, s in sorted(sources.items(), key=lambda kv: -kv[1]["share"]):
        if name in rows:
            r = rows[name]
            what, where, terms = f"{name} ({r['content'].split(';')[0]})", f"{r['repo']} @ {r['commit'][:12]}", r["terms"]
        else:
            what, terms = OWN.get(name, (name, ""))
            where = "../shared/data/photos/train"
        print(f"| {what} | {s['images']:,} | {100 * s['share']:.1f}% | {where} | {terms} |")

if __name__ == "__main__":
    main(Path(sys.argv[1]))
