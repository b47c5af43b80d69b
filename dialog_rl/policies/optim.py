"""The deep learners' optimiser: Adam and gradient clipping, with ``torch.optim.Adam``'s and
``torch.nn.utils.clip_grad_norm_``'s arithmetic op for op (the same steps give the same bits), and
its state as plain arrays for checkpoints.

Why not torch's own: a ``torch.optim.Optimizer`` imports ``torch._dynamo`` (and with it sympy)
on first use, about 1 s of CPU at every start, and wraps each step in profiler and graph-break
hooks that cost as much as the update itself on these small networks. ``tests/test_deep.py``
checks both against torch's, bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch
from torch import nn


class Adam:
    """Adam (Kingma & Ba 2015) with ``torch.optim.Adam``'s arithmetic, op for op: its
    single-tensor path, the one it takes on CPU (no amsgrad, no weight decay, not maximising).
    ``state_dict``/``load_state_dict`` keep torch's layout (per-parameter ``step``, ``exp_avg``,
    ``exp_avg_sq`` by parameter index), so checkpoints are unchanged.
    """

    def __init__(
        self,
        params: Iterable[nn.Parameter],
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        self.params = list(params)
        self.lr = float(lr)
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = float(eps)
        self.state: dict[int, dict[str, torch.Tensor]] = {}

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def _new_state(self, p: torch.Tensor) -> dict[str, torch.Tensor]:
        step_dtype = torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32
        return {
            "step": torch.tensor(0.0, dtype=step_dtype),
            "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
            "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format),
        }

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter that has a gradient.

        Each ``torch._foreach_*`` op below runs, on CPU, the per-tensor op that torch's loop
        runs for each parameter (torch has no fused multi-tensor CPU kernels), so the bits are
        the same; it only saves a Python-level call per parameter and op."""
        beta1, beta2 = self.betas
        params, grads, avgs, sqs, steps = [], [], [], [], []
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            st = self.state.get(i)
            if st is None:
                st = self.state[i] = self._new_state(p)
            params.append(p)
            grads.append(p.grad)
            avgs.append(st["exp_avg"])
            sqs.append(st["exp_avg_sq"])
            steps.append(st["step"])
        if not params:
            return
        torch._foreach_add_(steps, 1)
        torch._foreach_lerp_(avgs, grads, 1 - beta1)
        torch._foreach_mul_(sqs, beta2)
        torch._foreach_addcmul_(sqs, grads, grads, value=1 - beta2)
        counts = [s.item() for s in steps]
        if all(c == counts[0] for c in counts):  # the usual case: one step size for all
            step_size, bias_correction2_sqrt = self._corrections(counts[0])
            denom = torch._foreach_sqrt(sqs)
            torch._foreach_div_(denom, bias_correction2_sqrt)
            torch._foreach_add_(denom, self.eps)
            torch._foreach_addcdiv_(params, avgs, denom, value=-step_size)
            return
        for p, exp_avg, exp_avg_sq, count in zip(params, avgs, sqs, counts):
            step_size, bias_correction2_sqrt = self._corrections(count)
            denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(self.eps)
            p.addcdiv_(exp_avg, denom, value=-step_size)

    def _corrections(self, step: float) -> tuple[float, float]:
        """Step size and the second moment's bias-correction divisor after ``step`` steps."""
        beta1, beta2 = self.betas
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        return self.lr / bias_correction1, bias_correction2**0.5

    def state_dict(self) -> dict:
        """``torch.optim.Optimizer.state_dict``'s layout: ``state`` by parameter index."""
        group = {"lr": self.lr, "betas": self.betas, "eps": self.eps}
        return {
            "state": {i: dict(st) for i, st in self.state.items()},
            "param_groups": [{**group, "params": list(range(len(self.params)))}],
        }

    def load_state_dict(self, state_dict: dict) -> None:
        """Inverse of ``state_dict`` (moments cast to their parameter's dtype, ``step`` kept as
        given, as torch does)."""
        state: dict[int, dict[str, torch.Tensor]] = {}
        for i, st in state_dict["state"].items():
            i = int(i)
            if not 0 <= i < len(self.params):
                raise ValueError(
                    f"optimizer state for parameter {i}, the network has {len(self.params)}"
                )
            p = self.params[i]
            loaded = {}
            for k, v in st.items():
                if k != "step":
                    if tuple(v.shape) != tuple(p.shape):
                        raise ValueError(
                            f"optimizer state {i}.{k} has shape {tuple(v.shape)}, the parameter "
                            f"{tuple(p.shape)}"
                        )
                    v = v.to(dtype=p.dtype) if p.is_floating_point() else v
                loaded[k] = v
            state[i] = loaded
        self.state = state


def clip_grad_norm(params: Sequence[nn.Parameter], max_norm: float) -> None:
    """``torch.nn.utils.clip_grad_norm_(params, max_norm)`` on CPU, op for op (the same bits):
    the global L2 norm of the gradients from their per-tensor norms, and every gradient scaled by
    ``min(max_norm / (norm + 1e-6), 1)``. A scale of exactly 1 leaves the gradients as they are,
    so that multiplication is skipped (x * 1.0 is x, NaN included)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    with torch.no_grad():
        total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads, 2.0)), 2.0)
        # torch's float32 arithmetic on the 0-d norm, op for op in numpy float32 (each rounds
        # the same way), three tensor ops fewer a step: clamp(max_norm / (total + 1e-6), max=1),
        # where ``number / tensor`` is ``tensor.reciprocal() * number``
        f32 = np.float32
        coef = min(f32(1.0) / (f32(total.item()) + f32(1e-6)) * f32(max_norm), f32(1.0))
        if coef != 1.0:  # NaN included
            torch._foreach_mul_(grads, float(coef))


def optimizer_arrays(prefix: str, optimizer: Adam) -> dict[str, np.ndarray]:
    """Per-parameter optimiser state (Adam: step, exp_avg, exp_avg_sq) as ``prefix.<i>.<key>``.

    Learning rates are not included: the learners recompute them from their counters.
    """
    out = {}
    for i, st in optimizer.state_dict()["state"].items():
        for k, v in st.items():
            out[f"{prefix}.{i}.{k}"] = torch.as_tensor(v).detach().numpy().copy()
    return out


def load_optimizer_arrays(prefix: str, optimizer: Adam, arrays: dict[str, np.ndarray]) -> None:
    """Inverse of ``optimizer_arrays``. Parameters that never took a step have no state (all of
    them before the first step; the critic's after a behaviour-cloning warm start)."""
    sd = optimizer.state_dict()
    state: dict[int, dict[str, torch.Tensor]] = {}
    n_params = sum(len(g["params"]) for g in sd["param_groups"])
    for i in range(n_params):
        keys = sorted(k[len(f"{prefix}.{i}.") :] for k in arrays if k.startswith(f"{prefix}.{i}."))
        if keys:
            state[i] = {k: torch.from_numpy(np.array(arrays[f"{prefix}.{i}.{k}"])) for k in keys}
    optimizer.load_state_dict({"state": state, "param_groups": sd["param_groups"]})
