"""The batch pipeline: walk the inputs, plan outputs, and colorize with worker processes.

Worker processes read, prepare, merge and write; the parent process holds the one ONNX Runtime session
and runs batched inference on the small L planes the workers send it, each through a pipe of its own. A
worker is given at most two files ahead and holds one scan at a time, so memory stays flat whatever the
size of the archive.

Reliability: outputs are written atomically by imageio.write_image; a file that fails (bad input,
crashed worker) becomes a failed record, never a crashed run; Ctrl-C or SIGTERM stops dispatching, lets
workers finish or stops them, removes their temp files and returns an interrupted report; the first full
disk stops the run the same way. A worker ends by itself as soon as the parent dies, even killed outright.
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
from multiprocessing import connection
import os
import queue
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from colorcli.batch import processes
from colorcli.batch.marks import REJECTED_DIR
from colorcli.io import xmp
from colorcli.io.atomic import temp_files_of
from colorcli.errors import ColorcliError, DiskFullError, UsageError
from colorcli.io.formats import FORMAT_OF_EXTENSION, INPUT_EXTENSIONS, output_extension
from colorcli.batch.scheduler import shard_from_environment
from colorcli.io.walk import is_candidate, walk_images

_STOP_GRACE_SECONDS = 3.0
_POLL_SECONDS = 0.02


@dataclass(frozen=True)
class Job:
    src: Path
    rel: Path  # output path relative to --out (mirrors the input tree)
    dst: Path


@dataclass
class Options:
    out: Path
    fmt: str = "keep"
    overwrite: bool = False
    include_color: bool = False
    workers: int = 0
    batch_size: int = 8
    ref: Path | None = None
    provenance: bool = True  # each output's XMP says it was colorized, from what and by what
    mount: str = "auto"  # "off": every scan is one picture


@dataclass
class Outcome:
    records: list[dict] = field(default_factory=list)
    interrupted: bool = False
    signal: int = 0  # the signal that stopped the run (SIGINT or SIGTERM); 0 if none did
    disk_full: Path | None = None  # the folder whose file system filled up, which stopped the run
    seconds: float = 0.0


class _Terminated(KeyboardInterrupt):
    """SIGTERM in the parent: the same stop as Ctrl-C (schedulers send it at a time limit or eviction)."""


class _DiskFull(Exception):
    """The first output that found its disk full: the run stops instead of failing every file after it."""


# --- planning -----------------------------------------------------------------------------------------


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """'K/N' (1-based) to (K, N); 'auto' or 'auto/N' reads K (and N) from the job array's environment."""
    if not text:
        return None
    if text == "auto":
        return shard_from_environment()
    try:
        k, n = (part if part == "auto" else int(part) for part in text.split("/"))
        if k == "auto" and n >= 1:
            return shard_from_environment(n)
        if not 1 <= k <= n:
            raise ValueError
    except (ValueError, TypeError):
        raise UsageError(f"--shard {text!r}: expected K/N with 1 <= K <= N (for example 2/8), "
                         f"auto or auto/N") from None
    return k, n


def in_shard(rel: Path, shard: tuple[int, int] | None) -> bool:
    """Deterministic split by relative path: the same on every machine and every run."""
    if shard is None:
        return True
    k, n = shard
    digest = hashlib.sha1(rel.as_posix().encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % n == k - 1


def plan_jobs(inputs: list[Path], options: Options, shard: tuple[int, int] | None = None,
              ignored: Counter | None = None) -> tuple[list[Job], list[dict]]:
    """Jobs for every input image, and failed records for those whose output cannot be planned; files in
    the folders that are not images colorcli reads are counted by extension into `ignored`.

    One folder input mirrors its tree straight under --out; with several inputs each folder gets a
    subfolder of its own name; single files land in --out by name. Two inputs never share an output
    and no output ever lands on an input.
    """
    out = options.out
    missing = [str(p) for p in inputs if not p.exists()]
    if missing:
        raise UsageError(f"input not found: {', '.join(missing)}")
    several = len(inputs) > 1
    planned: dict[Path, Job] = {}  # insertion order is walk order
    conflicts: list[dict] = []
    for item in inputs:
        if item.is_dir():
            if os.path.realpath(item) == os.path.realpath(out):
                raise UsageError(f"--out {out} is the input folder itself; choose another folder")
            base = Path(item.resolve().name) if several else Path()
            sources = ((src, base / src.relative_to(item)) for src in walk_images(item, [out], ignored))
        else:
            if not is_candidate(item.name):
                raise UsageError(f"{item}: not an image colorcli reads ({', '.join(sorted(INPUT_EXTENSIONS))})")
            sources = iter([(item, Path(item.name))])
        for src, rel_src in sources:
            rel = rel_src.with_suffix(output_extension(rel_src, options.fmt))
            if not in_shard(rel, shard):
                continue
            job = Job(src=src, rel=rel, dst=out / rel)
            if job.dst.exists() and os.path.samefile(job.dst, src):
                conflicts.append(_record(src, rel, "failed", "its output would overwrite the input itself; "
                                                              "choose another --out"))
                continue
            other = planned.get(job.dst)
            if other is not None:
                # a file keeps its own name over one whose format changes (a.png over a.gif -> a.png)
                keep, lose = (job, other) if rel == rel_src and other.src.suffix != job.src.suffix else (other, job)
                planned[job.dst] = keep
                conflicts.append(_record(lose.src, rel, "failed", f"its output {rel} is also the output of "
                                                                  f"{keep.src}; use --format or rename one"))
                continue
            planned[job.dst] = job
    return list(planned.values()), conflicts


def index_references(ref: Path) -> dict[str, Path]:
    """Reference originals by relative path without extension."""
    if not ref.is_dir():
        raise UsageError(f"--ref {ref}: not a folder")
    return {src.relative_to(ref).with_suffix("").as_posix(): src for src in walk_images(ref)}


def _record(src: Path, rel: Path, status: str, reason: str | None = None, **extra) -> dict:
    return {"input": str(src), "output": rel.as_posix(), "status": status, "reason": reason, **extra}


# --- workers -----------------------------------------------------------------------------------------


def _on_sigterm(signum, frame):  # pragma: no cover - runs in worker processes
    raise SystemExit(143)


def _process(job: Job, ref_path: str | None, options: Options, infer, model) -> dict:
    """Colorize one file; `model()` gives the model's input size and the provenance to write (waiting for
    the parent to have loaded it), and `infer(L_small)` the a, b it predicts at that size."""
    from colorcli.io import images as imageio
    from colorcli.scoring import metrics
    from colorcli.look import mount_find
    from colorcli.look import mount_colorize

    timings = {}
    start = time.perf_counter()
    image = imageio.read_image(job.src)
    timings["read"] = time.perf_counter() - start
    extra = {"megapixels": round(image.megapixels, 3), "bit_depth": image.bit_depth, "mode": image.source_mode,
             "input_sha256": image.sha256}
    tick = time.perf_counter()
    found = mount_find.find(image.pixels) if options.mount == "auto" else mount_find.OFF
    timings["mount"] = time.perf_counter() - tick
    extra.update(found.report(image.pixels.shape))
    decision = mount_colorize.decide(image.pixels, found)
    extra["tone"] = decision.tone.reason
    if not options.include_color and not decision.tone.grey:
        if found.prints:  # a colour photograph's plain border or backdrop, most likely: no print box for it
            extra.pop("prints", None)
            extra.update(print=None, mount=f"not used ({found.reason}): the picture in it is in colour")
        return _record(job.src, job.rel, "skipped", f"{decision.tone.reason} (use --include-color)", **extra)
    size, provenance = model()
    tick = time.perf_counter()
    prints = found.prints if options.include_color else decision.prints
    pieces = mount_colorize.split_for_model(image.pixels, prints, size, image.orientation)
    timings["prepare"] = time.perf_counter() - tick
    tick = time.perf_counter()
    ab = [infer(piece.small) for piece in pieces]
    timings["infer"] = time.perf_counter() - tick
    tick = time.perf_counter()
    rgbx = image.alpha is None and not ref_path and imageio.takes_rgbx(job.dst) and image.bit_depth == 8
    rows = mount_colorize.merged_rows(image.pixels, pieces, ab, image.orientation, 4 if rgbx else 3)
    height, width = image.pixels.shape[:2]
    if ref_path:  # the metrics need the whole picture
        rgb = rows(0, height)
        rows = lambda top, bottom: rgb[top:bottom]  # noqa: E731
    if image.alpha is not None:
        rows = _with_alpha_rows(rows, image.alpha, imageio)
    channels = 4 if rgbx or image.alpha is not None else 3
    image.xmp, extra["xmp"] = xmp.for_output(
        image.xmp, FORMAT_OF_EXTENSION[job.dst.suffix.lower()], provenance,
        job.rel.with_name(job.src.name).as_posix(), image.sha256, options.provenance)
    extra["model_sha256"] = provenance.model_sha256
    imageio.write_rows(job.dst, (height, width, channels), image.pixels.dtype, rows, image)
    timings["merge_write"] = time.perf_counter() - tick
    if ref_path:
        extra.update(_reference_metrics(rgb, ref_path, metrics, imageio))
    timings["total"] = time.perf_counter() - start
    return _record(job.src, job.rel, "ok", None, seconds={k: round(v, 4) for k, v in timings.items()}, **extra)


def _with_alpha_rows(rows, alpha: np.ndarray, imageio):
    return lambda top, bottom: imageio.with_alpha(rows(top, bottom), alpha[top:bottom])


def _reference_metrics(rgb: np.ndarray, ref_path: str, metrics, imageio) -> dict:
    try:
        ref = imageio.read_image(ref_path)
        scores = metrics.score(imageio.to_rgb8(rgb), imageio.to_rgb8(ref.pixels))
    except ColorcliError as error:
        return {"reference": ref_path, "metrics_error": str(error)}
    return {"reference": ref_path, "metrics": {k: round(float(v), 4) for k, v in scores.items()}}


def _watch_parent(queues, grace: float = 5.0) -> None:
    """End this worker as soon as its parent dies, even killed outright (SIGKILL, the OOM killer).

    The parent sentinel is a pipe whose other end only the parent holds: it reads EOF the moment the
    parent is gone, whatever the worker is doing. A plain exit would then hang: exiting joins each queue's
    feeder thread, which may be blocked for ever writing into a full pipe nobody reads any more. So the
    joins are cancelled first, then SIGTERM ends the worker the usual way (its temp file removed); if the
    main thread cannot take the signal in time, the process ends outright.
    """
    from multiprocessing.connection import wait

    parent = mp.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        for q in queues:
            q.cancel_join_thread()
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace)
        os._exit(1)

    threading.Thread(target=watch, name="colorcli-parent-watch", daemon=True).start()


def _worker(tasks, replies, to_parent, options: Options, threads: int | None = None) -> None:
    """Take (job, reference) tasks until None; send ("infer", L) and ("result", record) to the parent
    through this worker's own pipe, and read from `replies` first ("model", size, provenance), once the
    parent has loaded the model, then each inference's a, b. A worker's first files are read, searched for
    a mount and decided while the parent is still loading the model."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what Ctrl-C means
    signal.signal(signal.SIGTERM, _on_sigterm)
    _watch_parent((tasks, replies))
    # Imported now, not at the first file: the parent is still loading the model meanwhile.
    import cv2

    from colorcli.look import lab
    from colorcli.io import images as imageio
    from colorcli.look import mount_find
    from colorcli.look import mount_colorize
    from colorcli.look import tone  # noqa: F401
    if options.ref:
        from colorcli.scoring import metrics  # noqa: F401
    if threads:
        cv2.setNumThreads(threads)  # workers share the cores: more OpenCV threads than that only contend

    facts: list[tuple[int, xmp.Provenance]] = []

    def model() -> tuple[int, xmp.Provenance]:
        if not facts:
            _, size, provenance = replies.get()
            facts.append((size, provenance))
        return facts[0]

    def infer(small: np.ndarray) -> np.ndarray:
        to_parent.send(("infer", small))
        reply = replies.get()
        if isinstance(reply, str):
            raise ColorcliError(reply)
        return reply

    try:
        while True:
            task = tasks.get()
            if task is None:
                return
            job, ref_path = task
            try:
                record = _process(job, ref_path, options, infer, model)
            except DiskFullError as error:
                record = _record(job.src, job.rel, "failed", "no space left on device", disk_full=str(error.folder))
            except ColorcliError as error:
                record = _record(job.src, job.rel, "failed", _strip_path(str(error), job.src))
            except MemoryError:
                record = _record(job.src, job.rel, "failed", "out of memory")
            except Exception as error:  # noqa: BLE001 - an unforeseen decoder error fails this file, not the run
                record = _record(job.src, job.rel, "failed", f"{type(error).__name__}: {error}".splitlines()[0])
            to_parent.send(("result", record))
    except (BrokenPipeError, EOFError):  # the parent is gone (the parent watch ends this process)
        return
    finally:
        # Past its last file a worker has nothing left to clean up. A SIGTERM from the parent's stop that
        # lands during interpreter shutdown must end it quietly, not raise SystemExit inside an exit
        # handler (Python prints that as a traceback on the user's terminal).
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _strip_path(message: str, src: Path) -> str:
    prefix = f"{src}: "
    return message[len(prefix):] if message.startswith(prefix) else message


# --- the parent --------------------------------------------------------------------------------------


_PER_WORKER = 2  # jobs queued to one worker: one in hand, one ready


class _Pool:
    """Worker processes, each with its own task and reply queue, so the parent always knows which
    jobs a worker holds (and which file a crashed worker was on)."""

    def __init__(self, count: int, options: Options):
        self.context = processes.worker_context()
        self.options = options
        self.threads = max(1, (os.cpu_count() or 1) // count)
        self.workers: dict[int, tuple] = {}  # id -> (process, tasks, replies)
        self.inbox: dict = {}  # the parent's end of each worker's pipe -> worker id
        self.assigned: dict[int, list[int]] = {}  # id -> job indices given, oldest first
        self.model: tuple | None = None  # ("model", size, provenance) once the parent has loaded it
        self.next_id = 0
        for _ in range(count):
            self.spawn()

    def spawn(self) -> None:
        worker_id, self.next_id = self.next_id, self.next_id + 1
        tasks, replies = self.context.Queue(), self.context.Queue()
        inbox, to_parent = self.context.Pipe(duplex=False)
        process = self.context.Process(target=_worker, daemon=True,
                                       args=(tasks, replies, to_parent, self.options, self.threads))
        process.start()
        to_parent.close()  # the worker holds the only sending end: its death reads as EOF here
        self.workers[worker_id] = (process, tasks, replies)
        self.inbox[inbox] = worker_id
        self.assigned[worker_id] = []
        if self.model is not None:
            replies.put(self.model)

    def tell_model(self, size: int, provenance: xmp.Provenance) -> None:
        """Give every worker, and every one started later, the loaded model's input size and provenance."""
        self.model = ("model", size, provenance)
        for _, _, replies in self.workers.values():
            replies.put(self.model)

    def free_worker(self) -> int | None:
        worker_id = min(self.assigned, key=lambda w: len(self.assigned[w]), default=None)
        if worker_id is None or len(self.assigned[worker_id]) >= _PER_WORKER:
            return None
        return worker_id

    def give(self, worker_id: int, index: int, task) -> None:
        self.assigned[worker_id].append(index)
        self.workers[worker_id][1].put(task)

    def take_back_unstarted(self) -> None:
        """Pull queued, not yet started jobs back out of the workers' task queues."""
        for worker_id, (_, tasks, _) in self.workers.items():
            taken = 0
            try:
                while True:
                    tasks.get_nowait()
                    taken += 1
            except queue.Empty:
                pass
            if taken:
                del self.assigned[worker_id][-taken:]

    def reply(self, worker_id: int, value) -> None:
        if worker_id in self.workers:
            self.workers[worker_id][2].put(value)

    def in_hand(self) -> list[int]:
        return [jobs[0] for jobs in self.assigned.values() if jobs]

    def dead(self) -> list[int]:
        """Ids of the workers that have exited."""
        return [wid for wid, (process, _, _) in self.workers.items() if not process.is_alive()]

    def receive(self, timeout: float) -> tuple[list[tuple[int, dict]], list[tuple[int, np.ndarray]]]:
        """What the workers have sent, waiting up to `timeout` s for the first message: finished records and
        inference requests, each with its worker's id. A worker that died leaves EOF on its pipe.

        Each worker has a pipe of its own rather than a queue shared with the others: a worker killed
        outright (SIGKILL, the OOM killer) half-way through a message in a shared queue left the queue's
        lock held and half a message in it, and the parent and every other worker waited for ever."""
        records, requests = [], []
        for inbox in connection.wait(list(self.inbox), timeout):
            worker_id = self.inbox[inbox]
            try:
                while True:
                    kind, payload = inbox.recv()
                    (records if kind == "result" else requests).append((worker_id, payload))
                    if not inbox.poll():
                        break
            except (EOFError, OSError):
                self._close_inbox(worker_id)
        return records, requests

    def _close_inbox(self, worker_id: int) -> None:
        for inbox in [inbox for inbox, owner in self.inbox.items() if owner == worker_id]:
            del self.inbox[inbox]
            inbox.close()

    def forget(self, worker_id: int) -> tuple[int | None, list[int]]:
        """Drop an exited worker: its exit code and the job indices it still held."""
        process, tasks, replies = self.workers.pop(worker_id)
        _abandon(tasks, replies)
        self._close_inbox(worker_id)
        return process.exitcode, self.assigned.pop(worker_id)

    def close(self, grace: float) -> None:
        """Ask every worker to stop after its queued jobs; stop those still running after `grace` s."""
        for _, tasks, _ in self.workers.values():
            tasks.put(None)
        deadline = time.monotonic() + grace
        for process, _, _ in self.workers.values():
            process.join(max(0.0, deadline - time.monotonic()))
        for process, _, _ in self.workers.values():
            if process.is_alive():
                process.terminate()
        for process, tasks, replies in self.workers.values():
            process.join(2.0)
            if process.is_alive():
                process.kill()
                process.join(1.0)
            _abandon(tasks, replies)


def _abandon(*queues) -> None:
    """Drop what a stopped worker will never read. Otherwise a feeder thread blocked on a full pipe
    (the parent holds its read end too) makes multiprocessing's exit handler wait forever."""
    for q in queues:
        q.cancel_join_thread()
        q.close()


def _remove_temp_files(dst: Path) -> None:
    for leftover in temp_files_of(dst):
        leftover.unlink(missing_ok=True)


def run(jobs: list[Job], load_colorizer: Callable[[], object], options: Options,
        on_record: Callable[[dict], None] = lambda r: None, references: dict[str, Path] | None = None) -> Outcome:
    """Colorize `jobs` with worker processes and the runtime.Colorizer that `load_colorizer()` gives (used in
    this process).

    The workers are started, and given their first files, before the model is loaded: each reads its
    first file, searches it for a mount and decides it while this process loads the model (about 0.15 s),
    and waits for the model only to colorize it.
    """
    outcome = Outcome()
    started = time.perf_counter()

    def finish(record: dict) -> None:
        outcome.records.append(record)
        on_record(record)
        if record.get("disk_full") and outcome.disk_full is None:
            outcome.disk_full = Path(record["disk_full"])
            if not outcome.interrupted:  # not while a stop is already under way
                raise _DiskFull()

    done = {i: reason for i, job in enumerate(jobs) if (reason := _done_already(job, options))}
    pending = [i for i in range(len(jobs)) if i not in done]
    queue_ = list(reversed(pending))  # a stack: pop() gives the next job in order
    pool = None
    try:
        if pending:
            pool = _Pool(max(1, min(options.workers or os.cpu_count() or 1, len(pending))), options)
            _dispatch(pool, jobs, queue_, references)  # the first files are read while the model loads
        colorizer = load_colorizer()
    except BaseException:
        if pool:
            pool.close(grace=0.0)
        raise
    if pool:
        pool.tell_model(colorizer.size, _provenance(colorizer))
    for index, reason in done.items():
        finish(_record(jobs[index].src, jobs[index].rel, "skipped", reason))
    if pool:
        on_sigterm = _raise_on_sigterm()
        try:
            _loop(pool, jobs, queue_, colorizer, options, references, finish)
            pool.close(grace=5.0)
        except _DiskFull:
            _shut_down(pool, jobs, colorizer, options, finish)
        except KeyboardInterrupt as stop:
            outcome.interrupted = True
            outcome.signal = signal.SIGTERM if isinstance(stop, _Terminated) else signal.SIGINT
            _shut_down(pool, jobs, colorizer, options, finish)
        finally:
            _restore_sigterm(on_sigterm)
    outcome.seconds = time.perf_counter() - started
    return outcome


def _done_already(job: Job, options: Options) -> str | None:
    """Why a job is not run (without --overwrite): its output exists, or a curator rejected it in review
    (`colorcli review --apply` moved it to OUT/.rejected/, keeping its path). None: run it."""
    if options.overwrite:
        return None
    if job.dst.exists():
        return "output exists (use --overwrite to redo)"
    if (options.out / REJECTED_DIR / job.rel).exists():
        return f"rejected in review: kept in {REJECTED_DIR}/ (use --overwrite to redo)"
    return None


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()  # signal handlers can only be set there


def _raise_on_sigterm():
    """Make SIGTERM raise _Terminated in this (the parent) process; returns the handler it replaced."""
    if not _in_main_thread():
        return None

    def on_sigterm(signum, frame):
        raise _Terminated()

    return signal.signal(signal.SIGTERM, on_sigterm)


def _restore_sigterm(previous) -> None:
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


def _dispatch(pool: _Pool, jobs: list[Job], queue_: list[int], references) -> None:
    """Give the next jobs of `queue_` (a stack of job indices) to the workers with room for them."""
    while queue_ and (worker_id := pool.free_worker()) is not None:
        index = queue_.pop()
        pool.give(worker_id, index, (jobs[index], _reference_for(jobs[index], references)))


def _loop(pool: _Pool, jobs, queue_: list[int], colorizer, options, references, finish) -> None:
    while queue_ or any(pool.assigned.values()):
        _dispatch(pool, jobs, queue_, references)
        _exchange(pool, colorizer, options.batch_size, finish, _POLL_SECONDS)
        gone = pool.dead()
        if gone:  # what a worker finished before it died is in its pipe now: count it before forgetting
            _exchange(pool, colorizer, options.batch_size, finish, 0.0)
        for worker_id in gone:
            code, held = pool.forget(worker_id)
            if held:
                crashed = jobs[held[0]]
                _remove_temp_files(crashed.dst)
                finish(_record(crashed.src, crashed.rel, "failed", f"worker process crashed (exit code {code})"))
                queue_.extend(reversed(held[1:]))
            if queue_:
                pool.spawn()


def _provenance(colorizer) -> xmp.Provenance:
    from colorcli import __version__
    from colorcli.models import contract

    return xmp.Provenance(software=f"colorcli {__version__}", model=colorizer.info.path.stem,
                          model_sha256=colorizer.model_sha256, size=colorizer.size, strength=colorizer.strength,
                          chroma_gain=contract.inference_options(colorizer.info.metadata)["chroma_gain"])


def _reference_for(job: Job, references: dict[str, Path] | None) -> str | None:
    if references is None:
        return None
    match = references.get(job.rel.with_suffix("").as_posix())
    return str(match) if match else None


def _exchange(pool: _Pool, colorizer, batch_size: int, finish, timeout: float) -> None:
    """Answer the workers' inference requests, batch_size at a time, and record the files they finished
    (waiting up to `timeout` s for the first message)."""
    records, requests = pool.receive(timeout)
    for start in range(0, len(requests), batch_size):
        _infer(pool, colorizer, requests[start:start + batch_size])
    stop = None
    for worker_id, record in records:  # every one, even past a full disk: these files are on it
        if pool.assigned.get(worker_id):
            pool.assigned[worker_id].pop(0)
        try:
            finish(record)
        except _DiskFull as full:
            stop = full
    if stop is not None:
        raise stop


def _infer(pool: _Pool, colorizer, batch: list[tuple[int, np.ndarray]]) -> None:
    try:
        ab = colorizer.predict_ab(np.stack([small for _, small in batch]))
    except Exception as error:  # noqa: BLE001 - a runtime failure fails these files, not the run
        for worker_id, _ in batch:
            pool.reply(worker_id, f"inference failed: {str(error).strip().splitlines()[0]}")
        return
    for (worker_id, _), prediction in zip(batch, ab):
        pool.reply(worker_id, prediction)


def _shut_down(pool: _Pool, jobs: list[Job], colorizer, options: Options, finish) -> None:
    """After Ctrl-C, SIGTERM or a full disk: files in hand get a few seconds to finish; then workers are
    stopped, their temp files removed, and the files they held are reported as interrupted."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave a half-written file
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        pool.take_back_unstarted()  # left for the next run
        deadline = time.monotonic() + _STOP_GRACE_SECONDS
        while any(pool.assigned.values()) and time.monotonic() < deadline:
            _exchange(pool, colorizer, options.batch_size, finish, _POLL_SECONDS)
        pool.close(grace=0.0)
        _exchange(pool, colorizer, options.batch_size, finish, 0.0)
        for index in pool.in_hand():
            _remove_temp_files(jobs[index].dst)
            finish(_record(jobs[index].src, jobs[index].rel, "failed", "interrupted"))
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
