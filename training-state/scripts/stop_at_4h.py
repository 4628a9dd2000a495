"""SIGTERM A2 at the first epoch end where A's 122.0 min plus A2's epoch time reach 240 min, then insure."""
import json, os, signal, subprocess, time
from pathlib import Path
RUN = Path("/work/runs/A2")
while True:
    rows = [json.loads(l) for l in (RUN / "metrics.jsonl").read_text().splitlines()]
    total = 122.0 + sum(r["train_time_s"] + r["val_time_s"] for r in rows) / 60
    if total >= 240.0:
        pids = subprocess.run(["pgrep", "-f", "colorcli train"], capture_output=True, text=True).stdout.split()
        for pid in pids:
            os.kill(int(pid), signal.SIGTERM)
        print(time.strftime("%H:%M:%S"), f"A2 epoch {rows[-1]['epoch']}: {total:.1f} min in all; SIGTERM {pids}", flush=True)
        break
    time.sleep(10)
