"""fp16 copy of a run's checkpoint generator (the moving average), its config kept in the metadata."""
import json, sys
from pathlib import Path
from safetensors import safe_open
from safetensors.torch import save_file
import torch

def insure(source: Path, out: Path) -> None:
    """source: a TAG.json of a run, or a generator .safetensors"""
    if source.suffix == ".json":
        source = source.parent / json.loads(source.read_text())["files"]["generator"]
    with safe_open(str(source), framework="pt") as f:
        meta = f.metadata()
        state = {k: (f.get_tensor(k).half() if f.get_tensor(k).is_floating_point() else f.get_tensor(k)).contiguous()
                 for k in f.keys()}
    tmp = out.with_suffix(".tmp")
    save_file(state, str(tmp), metadata=meta)
    tmp.replace(out)

if __name__ == "__main__":
    insure(Path(sys.argv[1]), Path(sys.argv[2]))
