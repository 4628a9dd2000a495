#!/usr/bin/env bash
cd /work/main
exec /work/main/.venv/bin/python -m colorcli train --out /work/runs/A2 --resume --epochs 60 --threads 2 --workers 1
