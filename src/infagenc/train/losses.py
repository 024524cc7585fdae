"""Loss functions of the generator (pure functions of tensors).

Every sequence loss is masked by ``lengths``: only real frames (t < lengths[n]) enter it,
so padding frames never change a loss, whatever they contain and however many there are.
Means are taken over the real elements of the whole batch (the real frames of all
sequences together, times joints, times channels), as ACTOR does.

* :func:`reconstruction_mse`: MSE on the representation (xyz, rot6d, ...).
* :func:`position_mse`: MSE on joint positions, both sequences passed through a
  ``positions`` function (forward kinematics for rotation representations).
* :func:`velocity_mse`: MSE of frame-to-frame differences ``x[t+1] - x[t]`` over pairs of
  consecutive real frames (a sequence of length 1 contributes nothing).
* :func:`kl_gaussian`: KL(N(mu, exp(logvar)) || N(0, I)); per element
  ``-0.5 (1 + logvar - mu^2 - exp(logvar))``, reduced by ``reduction``:

  - ``"mean"``: mean over batch and latent dimensions;
  - ``"batchmean"``: sum over latent dimensions, mean over the batch (the per-sample ELBO
    term);
  - ``"sum"``: sum over batch and latent dimensions (the released InfAGenC / ACTOR code,
    used there with weight 1e-5).

* :func:`generator_losses`: the weighted total
  ``lambda_rec L_rec + lambda_pos L_pos + lambda_vel L_vel + lambda_kl L_kl``.
"""
from __future__ import annotations

from typing import Callable

import torch

__all__ = ["KL_REDUCTIONS", "frame_mask", "reconstruction_mse", "position_mse", "velocity_mse",
           "kl_gaussian", "generator_losses"]

KL_REDUCTIONS = ("mean", "batchmean", "sum")


def frame_mask(lengths: torch.Tensor, num_frames: int) -> torch.Tensor:
    """(N, T) bool, True on real frames."""
    return torch.arange(num_frames, device=lengths.device)[None, :] < lengths[:, None]


def _check(output: torch.Tensor, target: torch.Tensor, lengths: torch.Tensor) -> None:
    if output.shape != target.shape:
        raise ValueError(f"output {tuple(output.shape)} and target {tuple(target.shape)} differ in shape")
    if output.ndim < 3 or lengths.shape != output.shape[:1]:
        raise ValueError(f"need (N, T, ...) tensors and (N,) lengths, got {tuple(output.shape)} "
                         f"and {tuple(lengths.shape)}")
    if len(lengths) and (lengths.min() < 1 or lengths.max() > output.shape[1]):
        raise ValueError(f"lengths must lie in 1..{output.shape[1]}")


def _mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    if a.numel() == 0:
        return a.new_zeros(())
    return ((a - b) ** 2).mean()


def reconstruction_mse(output: torch.Tensor, target: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """MSE over the real frames of (N, T, ...) tensors."""
    _check(output, target, lengths)
    m = frame_mask(lengths, output.shape[1])
    return _mse(output[m], target[m])


def position_mse(output: torch.Tensor, target: torch.Tensor, lengths: torch.Tensor,
                 positions: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """MSE of joint positions over real frames.

    ``positions`` maps (M, V, C) frames to (M, V', 3) joint positions (e.g. forward
    kinematics); it sees only the real frames.
    """
    _check(output, target, lengths)
    m = frame_mask(lengths, output.shape[1])
    return _mse(positions(output[m]), positions(target[m]))


def velocity_mse(output: torch.Tensor, target: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """MSE of frame differences over pairs of consecutive real frames."""
    _check(output, target, lengths)
    m = frame_mask(lengths, output.shape[1])[:, 1:]  # frame t+1 real (so frame t is too)
    return _mse((output[:, 1:] - output[:, :-1])[m], (target[:, 1:] - target[:, :-1])[m])


def kl_gaussian(mu: torch.Tensor, logvar: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) for (N, D) tensors (see module docstring)."""
    if mu.shape != logvar.shape or mu.ndim != 2:
        raise ValueError(f"mu {tuple(mu.shape)} and logvar {tuple(logvar.shape)} must both be (N, D)")
    kl = -0.5 * (1.0 + logvar - mu * mu - logvar.exp())
    if reduction == "mean":
        return kl.mean()
    if reduction == "batchmean":
        return kl.sum(dim=1).mean()
    if reduction == "sum":
        return kl.sum()
    raise ValueError(f"KL reduction must be one of {KL_REDUCTIONS}, got {reduction!r}")


def generator_losses(output: torch.Tensor, target: torch.Tensor, lengths: torch.Tensor,
                     mu: torch.Tensor, logvar: torch.Tensor, *, lambda_rec: float, lambda_vel: float,
                     lambda_kl: float, kl_reduction: str, lambda_pos: float = 0.0,
                     positions: Callable[[torch.Tensor], torch.Tensor] | None = None
                     ) -> dict[str, torch.Tensor]:
    """All terms and their weighted ``total``.

    The position term is computed when ``positions`` is given and ``lambda_pos > 0``.
    Keys: ``rec``, ``vel``, ``kl``, ``pos`` (when computed), ``total``.
    """
    out = {
        "rec": reconstruction_mse(output, target, lengths),
        "vel": velocity_mse(output, target, lengths),
        "kl": kl_gaussian(mu, logvar, kl_reduction),
    }
    total = lambda_rec * out["rec"] + lambda_vel * out["vel"] + lambda_kl * out["kl"]
    if positions is not None and lambda_pos > 0:
        out["pos"] = position_mse(output, target, lengths, positions)
        total = total + lambda_pos * out["pos"]
    out["total"] = total
    return out
