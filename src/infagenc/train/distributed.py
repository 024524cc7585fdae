"""Data-parallel training over processes started by ``torchrun`` (one process per device).

``torchrun --nproc_per_node N -m infagenc recognizer train ...`` starts N copies of the
command; each reads torchrun's ``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` (and
``MASTER_ADDR`` / ``MASTER_PORT``) through :func:`init_from_env`, which joins the process
group (``nccl`` on CUDA, ``gloo`` on CPU) and pins the process to ``cuda:LOCAL_RANK`` when
the run is on CUDA. Without those variables (or with ``WORLD_SIZE=1``) nothing is
initialised and every function here is a no-op for a single process, so the ordinary
1-process path is unchanged (bit for bit).

* :func:`init_from_env`, :func:`cleanup` - join / leave the group; :func:`info` - a
  :class:`DistInfo` (rank, world size, local rank, backend).
* :func:`is_main` (rank 0: the only writer of run folders, checkpoints and reports),
  :func:`barrier`, :func:`rank_device` (the device of this rank).
* :func:`shard` - this rank's contiguous slice of a global batch: every rank draws the
  same seeded batch order, so the union of the ranks' slices is the 1-process batch.
* :func:`all_sum`, :func:`broadcast_tensor` - reductions of epoch statistics and rank 0's
  validation results; :func:`gather_rows` - the rows of a sharded computation (generated
  samples, critic scores) from every rank, on every rank; :func:`sync_buffers` - rank 0's buffers (batch-norm running
  statistics) on every rank.
* :func:`convert_sync_batchnorm` - batch norm over the global batch instead of each rank's
  slice: :class:`torch.nn.SyncBatchNorm` on CUDA; on CPU (where torch's SyncBatchNorm
  refuses to run) :class:`CpuSyncBatchNorm`, which sums the statistics with a
  differentiable ``all_reduce`` (gloo). Without it, batch-norm statistics are per rank.

How the trainers use it (the recognizer: :class:`~infagenc.train.recognizer.RecognizerTrainer`):
the forward pass runs through :class:`torch.nn.parallel.DistributedDataParallel` (the
gradient all-reduce *averages* over ranks), so each rank's loss is its local mean scaled by
``n_rank * world / n_batch``; the gradient is then that of the mean over the global batch,
also for an uneven last batch.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import distributed as dist
from torch import nn

from .device import resolve_device, resolve_precision

__all__ = ["DistInfo", "init_from_env", "cleanup", "info", "is_active", "is_main", "rank", "world_size",
           "barrier", "shard", "shard_slice", "part_of", "execution_info", "rank_device", "all_sum", "broadcast_tensor",
           "sync_buffers", "gather_rows", "CpuSyncBatchNorm", "convert_sync_batchnorm"]

ENV_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: ``world_size`` 1 and ``backend`` None for a single process."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


_OWNED = False  # whether init_from_env created the default group (cleanup destroys only that one)
_BN_GROUP = None  # the process group of CpuSyncBatchNorm's collectives (apart from DDP's)


def is_active() -> bool:
    """A process group of more than one process is up."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_active() else 0


def world_size() -> int:
    return dist.get_world_size() if is_active() else 1


def info() -> DistInfo:
    if not is_active():
        return DistInfo()
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)),
                    str(dist.get_backend()))


def is_main() -> bool:
    """Rank 0, or the only process."""
    return rank() == 0


def _wants_cuda(device: str | torch.device | None) -> bool:
    return torch.cuda.is_available() and resolve_device(device).type == "cuda"


def init_from_env(device: str | torch.device | None = "auto", timeout_s: float = 1800.0) -> DistInfo:
    """Join the process group torchrun describes in the environment (``nccl`` when ``device``
    is CUDA, else ``gloo``); a no-op returning a 1-process :class:`DistInfo` when the variables
    are absent or ``WORLD_SIZE`` is 1, or when a group is already up (then its info)."""
    global _OWNED
    if is_active():
        return info()
    if any(v not in os.environ for v in ENV_VARS) or int(os.environ["WORLD_SIZE"]) <= 1:
        return DistInfo()
    if not dist.is_available():
        raise RuntimeError("torch.distributed is not available in this torch build; run one process")
    local = int(os.environ["LOCAL_RANK"])
    cuda = _wants_cuda(device)
    if cuda:
        torch.cuda.set_device(local)
    backend = "nccl" if cuda else "gloo"
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    _OWNED = True
    return info()


def cleanup(wait: bool = True) -> None:
    """Leave the group :func:`init_from_env` joined (after a last barrier unless ``wait`` is
    False: a failing rank must not wait for the others); no-op otherwise."""
    global _OWNED, _BN_GROUP
    if _OWNED and dist.is_initialized():
        if wait:
            barrier()
        dist.destroy_process_group()
    _OWNED, _BN_GROUP = False, None


def barrier() -> None:
    """Wait for every rank (no-op for one process)."""
    if is_active():
        if dist.get_backend() == "nccl":
            dist.barrier(device_ids=[torch.cuda.current_device()])
        else:
            dist.barrier()


def rank_device(device: str | torch.device | None = "auto") -> torch.device:
    """``device`` resolved; in a group on CUDA, ``cuda`` / ``auto`` become ``cuda:LOCAL_RANK``."""
    dev = resolve_device(device)
    if is_active() and dev.type == "cuda" and dev.index is None:
        return torch.device("cuda", info().local_rank)
    return dev


def part_of(n: int, world: int, rank_: int) -> slice:
    """Rank ``rank_``'s contiguous part of ``n`` items split over ``world`` ranks (the first
    ``n % world`` ranks take one more); the parts, in rank order, are ``range(n)``."""
    base, extra = divmod(n, world)
    start = rank_ * base + min(rank_, extra)
    return slice(start, start + base + (1 if rank_ < extra else 0))


def shard_slice(n: int) -> slice:
    """This rank's :func:`part_of` ``n`` items; ``slice(0, n)`` for one process."""
    return part_of(n, world_size(), rank())


def shard(indices: torch.Tensor) -> torch.Tensor:
    """This rank's contiguous slice of a global batch's ``indices`` (all of them for one process)."""
    if world_size() == 1:
        return indices
    return indices[shard_slice(len(indices))]


def execution_info(device: str | torch.device | None, precision: str, sync_bn: bool = False) -> dict:
    """What a run executes on (for its config.json): world size, backend, this rank's device,
    the resolved precision, whether TF32 matmuls are allowed and batch norm synchronised."""
    dev = rank_device(device)
    return {"world_size": world_size(), "backend": info().backend, "device": str(dev),
            "precision": resolve_precision(dev, precision),
            "tf32": dev.type == "cuda" and bool(torch.backends.cuda.matmul.allow_tf32),
            "sync_bn": bool(sync_bn and is_active())}


def all_sum(values: list[float]) -> list[float]:
    """Sums over ranks (in float64; the values themselves for one process)."""
    if not is_active():
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=_collective_device())
    dist.all_reduce(t)
    return t.cpu().tolist()


def broadcast_tensor(t: torch.Tensor, src: int = 0) -> torch.Tensor:
    """``t`` of rank ``src`` on every rank (``t`` itself for one process)."""
    if not is_active():
        return t
    buf = t.detach().to(_collective_device()).contiguous()
    dist.broadcast(buf, src)
    return buf.to(t.device)


def sync_buffers(module: nn.Module, src: int = 0) -> None:
    """Rank ``src``'s buffers (batch-norm running statistics) on every rank."""
    if not is_active():
        return
    for b in module.buffers():
        b.copy_(broadcast_tensor(b, src))


def _collective_device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


# ------------------------------------------------------------------ batch norm
class CpuSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm whose training statistics are those of the global batch (every rank's
    slice), for gloo / CPU where :class:`torch.nn.SyncBatchNorm` does not run. The per-channel
    sum and the sum of squared deviations are all-reduced (two collectives per layer, with a
    differentiable ``all_reduce``, so the backward pass sums the statistics' gradients over
    the ranks too); running statistics are updated as by ``BatchNorm`` (unbiased variance of
    the global batch), so every rank keeps the same ones. Outside a group, or in eval mode,
    it is plain batch norm. Its state dict is that of ``BatchNorm1d`` / ``2d``."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {x.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and is_active()):
            return super().forward(x)
        self._check_input_dim(x)
        dims = [0, *range(2, x.dim())]
        shape = [1, x.shape[1]] + [1] * (x.dim() - 2)
        xf = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
        count = torch.full((1,), float(x.numel() // x.shape[1]), dtype=xf.dtype, device=x.device)
        s = _AllReduceSum.apply(torch.cat([xf.sum(dims), count]))
        total = s[-1].detach()
        mean = s[:-1] / total
        d = xf - mean.view(shape)
        var = _AllReduceSum.apply((d * d).sum(dims)) / total
        y = d * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            self._update_running(mean.detach(), var.detach(), float(total))
        return y.to(x.dtype)

    @torch.no_grad()
    def _update_running(self, mean: torch.Tensor, var: torch.Tensor, n: float) -> None:
        self.num_batches_tracked.add_(1)
        m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
        self.running_mean.mul_(1 - m).add_(mean * m)
        self.running_var.mul_(1 - m).add_(var * (n / max(n - 1, 1.0)) * m)


class _AllReduceSum(torch.autograd.Function):
    """Sum over the ranks (batch-norm group) whose backward sums the gradients over the ranks."""

    @staticmethod
    def forward(ctx, t: torch.Tensor) -> torch.Tensor:  # noqa: D102
        out = t.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out, group=_bn_group())
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # noqa: D102
        out = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out, group=_bn_group())
        return out


def _bn_group():
    """A group of all ranks for the batch-norm collectives, kept apart from DDP's gradient ones."""
    global _BN_GROUP
    if _BN_GROUP is None:
        _BN_GROUP = dist.new_group(list(range(dist.get_world_size())))
    return _BN_GROUP


def convert_sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """``module`` with every batch norm synchronised over the ranks (in place where possible):
    :class:`torch.nn.SyncBatchNorm` on CUDA, :class:`CpuSyncBatchNorm` elsewhere. The weights
    and running statistics are kept, and so are the state dict's keys."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    if is_active():
        _bn_group()  # created now, on every rank in the same order (new_group is collective)
    return _convert_cpu(module)


def _convert_cpu(module: nn.Module) -> nn.Module:
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, CpuSyncBatchNorm):
        new = CpuSyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                               module.track_running_stats)
        new.load_state_dict(module.state_dict())
        new.train(module.training)
        return new.to(next(iter(module.state_dict().values())).device) if module.state_dict() else new
    for name, child in module.named_children():
        new = _convert_cpu(child)
        if new is not child:
            setattr(module, name, new)
    return module


def gather_rows(part: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` rows of which this rank holds its :func:`shard_slice` ``part`` (rows in rank
    order), on every rank; ``part`` itself for one process."""
    if not is_active():
        return part
    w, me = world_size(), rank()
    sizes = [part_of(n, w, r).stop - part_of(n, w, r).start for r in range(w)]
    if len(part) != sizes[me]:
        raise ValueError(f"rank {me} holds {len(part)} rows, its part of {n} is {sizes[me]}")
    dev = _collective_device()
    buf = torch.zeros((max(sizes),) + part.shape[1:], dtype=torch.from_numpy(part[:0].copy()).dtype, device=dev)
    buf[: len(part)] = torch.from_numpy(np.ascontiguousarray(part)).to(dev)
    out = [torch.empty_like(buf) for _ in range(w)]
    dist.all_gather(out, buf)
    return np.concatenate([o[:s].cpu().numpy() for o, s in zip(out, sizes)], axis=0)
