"""Rule 35's track points for A2 (A restarted from e19s41): copy A2 epochs 5, 13, 21, 29, ... (A's 24, 32, ...)
out of the run and write their fp16 insurance into training-state/."""
import json, shutil, subprocess, time
from pathlib import Path
RUN = Path("/work/runs/A2"); TRACK = Path("/work/runs/A-track"); TRACK.mkdir(exist_ok=True)
REPO = Path("/work/main/training-state")
while True:
    last = RUN / "last.json"
    if last.exists():
        p = json.loads(last.read_text())
        epoch, step = int(p.get("epoch", 0)), p.get("step") or 0
        a_epoch = epoch + 19
        name = f"e{a_epoch:03d}"
        if step == 0 and a_epoch % 8 == 0 and not (TRACK / f"{name}.generator.safetensors").exists():
            gen = RUN / p["files"]["generator"]
            shutil.copy2(last, TRACK / f"{name}.json")
            shutil.copy2(gen, TRACK / f".{name}.tmp"); (TRACK / f".{name}.tmp").replace(TRACK / f"{name}.generator.safetensors")
            subprocess.run(["/work/main/.venv/bin/python", "/work/runs/insure.py", str(TRACK / f"{name}.generator.safetensors"),
                            str(REPO / f"A-{name}s0.generator.fp16.safetensors")], check=True)
            print(time.strftime("%H:%M:%S"), "track point", name, "(A2 epoch", epoch, ")", flush=True)
    time.sleep(30)
