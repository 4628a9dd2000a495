"""Model cards: the JSON and Markdown written next to an exported model (``NAME.json``, ``NAME.md``).

The JSON is also what an embedded model ships with (``colorcli/models/NAME.json``): the registry
checks the model against its ``sha256``.
"""

from __future__ import annotations

import json
from pathlib import Path

from colorcli.models import contract


def card_paths(model_path: Path) -> tuple[Path, Path]:
    return model_path.with_suffix(".json"), model_path.with_suffix(".md")


def build_card(
    model_path: Path, sha256: str, size: int, metadata: dict[str, str], config: dict, parity: dict, opset: int,
    notes: str = "",
) -> dict:
    """The card of an exported model. ``notes``: Markdown a person wrote (what the data was and under
    which terms, what the protocol measured), shown after the card's first lines."""
    model = config.get("model", {})
    return {
        "name": model_path.stem,
        "file": model_path.name,
        "sha256": sha256,
        "size": size,
        "precision": metadata[contract.META_PRECISION],
        "opset": opset,
        "native_size": int(metadata[contract.META_NATIVE_SIZE]),
        "inference_size": int(metadata[contract.META_INFERENCE_SIZE]),
        "size_unit": int(metadata[contract.META_SIZE_UNIT]),
        **contract.inference_options(metadata),
        **({"head": "bins", "temperature": float(metadata[contract.META_TEMPERATURE])}
           if metadata.get(contract.META_HEAD) == "bins" else {}),
        "contract": {
            "input": {"name": contract.INPUT_NAME, "type": "float32", "shape": ["N", 1, "H", "W"],
                      "normalisation": contract.INPUT_NORM},
            "output": {"name": contract.OUTPUT_NAME, "type": "float32", "shape": ["N", 2, "H", "W"],
                       "normalisation": contract.OUTPUT_NORM},
            "spatial": f"H and W multiples of {metadata[contract.META_SIZE_UNIT]}; any batch size",
        },
        "architecture": model.get("architecture", ""),
        "model_config": model,
        "training": config.get("training", {}),
        "data": config.get("data", {}),
        "epoch": config.get("epoch"),
        "metrics": config.get("metrics", {}),
        "parity": parity,
        "colorcli_version": metadata[contract.META_VERSION],
        "created": metadata[contract.META_CREATED],
        **({"notes": notes} if notes else {}),
    }


_LONG_LISTS = ("bin_centres", "bin_class_weights")  # a bins head's: shown by their count in the Markdown


def _table(mapping: dict) -> list[str]:
    if not mapping:
        return ["(none recorded)"]
    lines = ["| key | value |", "| --- | --- |"]
    for key, value in mapping.items():
        if key in _LONG_LISTS and isinstance(value, list):
            value = f"{len(value)} values (in the JSON card)"
        text = value if isinstance(value, str) else json.dumps(value)
        lines.append(f"| {key} | {text.replace('|', '/')} |")
    return lines


def render_markdown(card: dict) -> str:
    unit = card["size_unit"]
    parity = card["parity"]
    lines = [
        f"# {card['name']}",
        "",
        f"A colorcli generator ({card['architecture']}, {card['precision']}, ONNX opset {card['opset']}), "
        f"exported {card['created']} by colorcli {card['colorcli_version']}.",
        "",
        f"- file: `{card['file']}`, {card['size']} bytes",
        f"- sha256: `{card['sha256']}`",
        f"- trained at {card['native_size']} px; colorize feeds it {card['inference_size']} px by default; "
        f"H and W must be multiples of {unit}; any batch size",
        "",
        *([card["notes"].strip(), ""] if card.get("notes") else []),
        "## Input and output",
        "",
        f"- input `{contract.INPUT_NAME}`: float32 [N, 1, H, W] = {contract.INPUT_NORM} (L of CIE Lab, 0..100)",
        f"- output `{contract.OUTPUT_NAME}`: float32 [N, 2, H, W] in [-1, 1]; a, b = output x {contract.AB_SCALE:g}",
        *(["- flip average: the output is the mean of the generator's a, b for L and for L mirrored left "
            "to right (mirrored back), inside the graph"] if card.get("flip_average") else []),
        *(["- shift average: the output is also averaged over L moved one pixel up, down, left and right "
            "(edges reflected; each moved back), inside the graph"] if card.get("shift_average") else []),
        *([f"- distributional head: the generator's colour distribution over {len(card['model_config'].get('bin_centres', []))} "
           f"a, b bins, at a quarter of the input's size, decoded by its annealed mean at temperature "
           f"{card['temperature']:g} and upsampled bilinearly to the input's size, inside the graph"]
          if card.get("head") == "bins" else []),
        *([f"- chroma gain {card['chroma_gain']:g}: the trained generator's output times {card['chroma_gain']:g}, "
           f"clipped to [-1, 1], inside the graph ({'more' if card['chroma_gain'] > 1 else 'less'} saturated "
           "than the trained generator alone)"]
          if card.get("chroma_gain", 1) != 1 else []),
        "",
        "## Model",
        "",
        *_table(card["model_config"]),
        "",
        "## Training",
        "",
        f"Epochs completed: {card['epoch']}",
        "",
        *_table(card["training"]),
        "",
        "### Data",
        "",
        *_table(card["data"]),
        "",
        "## Validation metrics",
        "",
        *_table(card["metrics"]),
        "",
        "## Export parity (ONNX Runtime vs PyTorch)",
        "",
        f"Max abs difference of the output: {parity['max_abs_diff']:.3g} "
        f"(tolerance {parity['tolerance']:g}, {parity['precision']}).",
        "",
        "| input | shape | max abs diff | max abs output |",
        "| --- | --- | --- | --- |",
        *(
            f"| {c['input']} | {'x'.join(map(str, c['shape']))} | {c['max_abs_diff']:.3g} | {c['max_abs_output']:.3g} |"
            for c in parity["checks"]
        ),
        "",
    ]
    return "\n".join(lines)
