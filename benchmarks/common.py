"""What the benchmark commands share: where things are, how results are written, and ``--jobs``.

Every command runs from the repository root as a script (``python benchmarks/<folder>/<name>.py``)
and first puts the repository root on ``sys.path`` so that ``benchmarks.common`` and
``benchmarks.protocols.*`` import; the library is imported as ``infagenc`` (public API only).

* Paths: :data:`BENCH` (this folder), :data:`RESULTS` (committed results: the resume state of the
  resumable commands), :data:`RUNS` (work folders, git-ignored), :data:`CONFIGS`, :data:`DATA`
  (the real data, ``../shared/data``; never copied here).
* :func:`write_results`: ``results/<name>.json`` and ``.md`` written atomically.
* :func:`run_jobs`: independent runs (seeds x variants) as ``N`` parallel processes, each on one
  thread. A job is a module-level function and JSON keyword arguments; the worker writes one small
  JSON per job into the command's work folder (atomically), and only the parent process reads those
  and writes the results files, so every results JSON has exactly one writer. A job whose JSON is
  there with the same arguments is not run again (an interrupted command resumes). Each job is
  seeded by its arguments and runs on one thread whatever ``N``, and the results come back in the
  listed order, so ``--jobs N`` gives the results of ``--jobs 1``.
* :func:`frozen_note`: the first line of a frozen study's results page.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from infagenc.jsonio import atomic_write_text, read_json, write_json

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
RUNS = BENCH / "runs"
CONFIGS = BENCH / "configs"
DATA = REPO.parent / "shared" / "data"
# --tiny: smoke runs of a protocol (every count cut to a few steps); nothing under results/ is touched
TINY = RUNS / "tiny"

_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def load_avg() -> list[float]:
    """The machine's 1 / 5 / 15-minute load averages (recorded beside every timing)."""
    return [round(x, 2) for x in os.getloadavg()]


def write_results(name: str, res: dict, md: str, folder: Path = RESULTS) -> None:
    """``<folder>/<name>.json`` and ``.md`` (atomic writes); the page is printed too."""
    write_json(folder / f"{name}.json", res)
    atomic_write_text(folder / f"{name}.md", md)
    print(md)


def frozen_note(commit: str, changed: str) -> str:
    """The first line of a frozen study's page: the commit its results were made at, and what has
    changed since (so its numbers describe that commit's code, not the current one)."""
    return (f"> **Frozen study**: results made at commit `{commit}`; they predate later changes ({changed}). "
            f"Re-running it needs that commit's code (`git checkout {commit}`).")


# ---------------------------------------------------------------------------------------- jobs
@dataclass(frozen=True)
class Job:
    """One independent run: ``fn(**kwargs)`` returns a JSON-serialisable dict. ``fn`` is a
    module-level function (a worker process imports it); ``kwargs`` are JSON values (stored with
    the result: a stored result with other arguments is not reused). ``key`` names its result
    file, ``<work>/<key>.json``."""

    key: str
    fn: Callable[..., dict]
    kwargs: dict = field(default_factory=dict)


class JobsFailed(RuntimeError):
    """Some jobs raised; the others finished and were merged."""


def single_thread() -> None:
    """One torch thread for this process (each job runs single-threaded)."""
    import torch

    for var in _THREAD_VARS:
        os.environ[var] = "1"
    torch.set_num_threads(1)


def _execute(fn: Callable[..., dict], kwargs: dict, path: str, progress: bool = False) -> dict:
    """Run one job and write its result file (the only file this job writes under the work folder
    besides its own run folder); returns the result."""
    single_thread()
    t0 = time.perf_counter()
    result = fn(**kwargs, progress=progress)
    write_json(path, {"kwargs": kwargs, "result": result, "seconds": time.perf_counter() - t0,
                      "load_avg": load_avg()})
    return result


def _stored(path: Path, kwargs: dict) -> dict | None:
    stored = read_json(path, None)
    if stored is None or stored.get("kwargs") != json.loads(json.dumps(kwargs)):
        return None
    return stored["result"]


def run_jobs(jobs: Sequence[Job], work: Path, n: int = 1, merge: Callable[[Job, dict], None] | None = None,
             progress: bool = False, log: Callable[[str], None] | None = None) -> dict[str, dict]:
    """Run ``jobs`` on ``n`` processes (``n = 1``: in this process, one after another); returns
    ``{key: result}`` in the listed order. ``merge(job, result)`` is called in this process for
    every job, the stored ones first, then each new one as it finishes (completion order: a caller
    that writes its results files there, the one writer, orders what it writes). A failing job
    does not stop the others; :class:`JobsFailed` names every failed job at the end. Every job
    function takes a keyword ``progress`` besides its ``kwargs`` (not stored: it changes no
    result): ``progress`` when the jobs run in this process, False in workers."""
    if n < 1:
        raise ValueError(f"--jobs must be >= 1, got {n}")
    keys = [j.key for j in jobs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"job keys repeat: {sorted({k for k in keys if keys.count(k) > 1})}")
    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    work = Path(work)
    results: dict[str, dict] = {}
    todo = []
    for j in jobs:
        r = _stored(work / f"{j.key}.json", j.kwargs)
        if r is None:
            todo.append(j)
        else:
            results[j.key] = r
            if merge:
                merge(j, r)
    if todo:
        log(f"{len(todo)} of {len(jobs)} runs to do ({len(jobs) - len(todo)} done before), "
            f"{min(n, len(todo))} at a time, 1 thread each")
    failed: list[str] = []
    t0 = time.perf_counter()

    def done(j: Job, r: dict) -> None:
        results[j.key] = r
        if merge:
            merge(j, r)
        log(f"[{len(results)}/{len(jobs)}] {j.key} done ({(time.perf_counter() - t0) / 60:.1f} min)")

    import torch

    saved = {v: os.environ.get(v) for v in _THREAD_VARS}
    threads = torch.get_num_threads()
    try:
        if n == 1 or len(todo) <= 1:  # in this process, one thread (restored afterwards)
            for j in todo:
                try:
                    done(j, _execute(j.fn, j.kwargs, str(work / f"{j.key}.json"), progress))
                except Exception as e:  # noqa: BLE001 - reported with the job's name below
                    failed.append(f"{j.key}: {type(e).__name__}: {e}")
                    log(traceback.format_exc())
        else:
            os.environ.update({v: "1" for v in _THREAD_VARS})  # the workers import torch on one thread
            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=min(n, len(todo)), mp_context=ctx) as pool:
                futures = {pool.submit(_execute, j.fn, j.kwargs, str(work / f"{j.key}.json")): j for j in todo}
                for fut in as_completed(futures):
                    j = futures[fut]
                    try:
                        done(j, fut.result())
                    except Exception as e:  # noqa: BLE001
                        failed.append(f"{j.key}: {type(e).__name__}: {e}")
    finally:
        torch.set_num_threads(threads)
        for v, old in saved.items():
            if old is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = old
    if failed:
        raise JobsFailed(f"{len(failed)} of {len(jobs)} runs failed (the others are merged): " + "; ".join(failed))
    return {k: results[k] for k in keys}


def add_jobs_argument(ap) -> None:
    """``--jobs N`` (see :func:`run_jobs`)."""
    ap.add_argument("--jobs", type=int, default=1, metavar="N",
                    help="independent runs as N parallel processes, one thread each (default 1); "
                         "same results as --jobs 1")
