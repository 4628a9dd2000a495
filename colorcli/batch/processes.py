"""How colorize's worker processes start. Light on purpose (multiprocessing only): the command starts
the fork server before its own imports (NumPy, ONNX Runtime, rich), so that the server's imports run on
the other core meanwhile instead of after them (whole commands, 24 alternating pairs: 0.07 s of about
3.3 s saved on 12 scans)."""

from __future__ import annotations

import multiprocessing as mp

WORKER_MODULES = ["colorcli.batch.pipeline", "colorcli.look.lab", "colorcli.io.images", "colorcli.look.tone", "colorcli.look.mount_find",
                  "colorcli.look.mount_colorize"]


def worker_context():
    """Forked from a fork server where there is one (Linux), else spawned.

    A spawned worker is a new interpreter that imports NumPy, OpenCV and Pillow again (about 0.2 s of
    CPU each); the fork server imports them once and forks every worker from itself. Workers are never
    forked from the command's own process: by then it may hold ONNX Runtime's or OpenCV's thread pools,
    and a child forked from a process with running native threads can wait for ever on a lock one of
    them held. For the same reason the server only imports modules and runs nothing: an OpenCV colour
    conversion there once left every worker hanging.
    """
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    context = mp.get_context("forkserver")
    context.set_forkserver_preload(WORKER_MODULES)
    return context


def start_server() -> None:
    """Start the fork server now (where workers come from one), rather than when the pool is made."""
    context = worker_context()
    if context.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()
