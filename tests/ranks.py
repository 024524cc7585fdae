"""A tiny process group of CPU ranks (gloo) for the torchrun tests: :func:`spawn_ranks` starts
``world`` processes, each joins the group as torchrun's environment would make it join, runs
``worker(rank, folder)`` and saves what it returns; the caller gets every rank's result. A
platform that cannot start gloo makes the calling test skip, saying why."""
from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest
import torch
from torch import distributed as dist

from infagenc.train import distributed as D


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entry(rank: int, worker, port: int, folder: str, world: int, timeout_s: float) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    try:
        D.init_from_env("cpu", timeout_s=timeout_s)
    except Exception as e:  # the platform cannot start gloo: the test skips
        Path(folder, f"init_failed_{rank}.txt").write_text(f"{type(e).__name__}: {e}")
        return
    res = worker(rank, folder)
    torch.save(res, os.path.join(folder, f"rank{rank}.pt"))
    D.cleanup()


def spawn_ranks(worker, folder: Path, world: int, timeout_s: float) -> list:
    """Every rank's ``worker(rank, str(folder))`` result (``worker``: a module-level function)."""
    if not (dist.is_available() and dist.is_gloo_available()):
        pytest.skip("torch.distributed with gloo is not available in this torch build")
    import torch.multiprocessing as mp

    from timeouts import scaled

    timeout_s = scaled(timeout_s)  # a busy machine gets longer (tests/timeouts.py)
    env = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"  # the children's thread pools
    try:
        ctx = mp.start_processes(_entry, (worker, _free_port(), str(folder), world, timeout_s), nprocs=world,
                                 join=False, start_method="spawn")
        deadline = time.monotonic() + timeout_s
        while not ctx.join(timeout=max(1.0, deadline - time.monotonic())):
            if time.monotonic() > deadline:
                for p in ctx.processes:
                    p.kill()
                pytest.fail(f"the {world}-process run did not finish in {timeout_s:.0f} s")
    finally:
        if env is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = env
    failed = sorted(Path(folder).glob("init_failed_*.txt"))
    if failed:
        pytest.skip(f"cannot start a gloo process group here: {failed[0].read_text()}")
    return [torch.load(Path(folder) / f"rank{r}.pt", weights_only=False) for r in range(world)]
