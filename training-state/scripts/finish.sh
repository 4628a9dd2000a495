#!/usr/bin/env bash
# after A2 stops: insure its last checkpoint as training-state/A-e<A epoch>s<step>, drop the restart origin
set -e
while pgrep -f "colorcli train" > /dev/null; do sleep 2; done
cd /work/main
read E S < <(python3 -c "import json; p=json.load(open('/work/runs/A2/last.json')); print(int(p['epoch'])+19, int(p.get('step') or 0))")
NAME=$(printf "A-e%03ds%d" $E $S)
.venv/bin/python /work/runs/insure.py /work/runs/A2/last.json training-state/$NAME.generator.fp16.safetensors
mkdir -p /work/runs/A-track && cp /work/runs/A2/last.json /work/runs/A-track/last-$NAME.json
echo $NAME
