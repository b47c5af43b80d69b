"""What the deep learners share: small MLPs, torch state as named arrays, argument checks.

Only the deep learners import this module (and so torch). Every random draw comes from a
``torch.Generator`` the learner seeds from its one seed: layers are built without their default
(global-RNG) initialisation and then initialised from that generator.

``*_arrays``/``load_*`` functions move module weights, Adam moments and generator states to and
from plain numpy arrays under dotted names, so a checkpoint is tensors plus JSON and a resumed run
continues bit for bit.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn


def configure_torch(threads: int = 1) -> None:
    """One intra-op thread: these nets are tiny, so threads cost more than they give, and a fixed
    thread count keeps floating-point reductions in the same order from run to run."""
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def make_generator(seed: int, stream: int) -> torch.Generator:
    """A torch generator for stream ``stream`` of seed ``seed`` (independent of other streams)."""
    state = np.random.SeedSequence([seed, stream]).generate_state(2, np.uint32)
    g = torch.Generator()
    g.manual_seed(int(state[0]) << 31 | int(state[1]) >> 1)
    return g


def mlp(
    sizes: Sequence[int],
    generator: torch.Generator,
    activation: type[nn.Module] = nn.ReLU,
    hidden_gain: float = math.sqrt(2),
    out_gain: float = 1.0,
) -> nn.Sequential:
    """Linear layers ``sizes[0] -> ... -> sizes[-1]`` with ``activation`` between them.

    Orthogonal weights and zero biases (CleanRL's ``layer_init``), drawn from ``generator``.
    """
    layers: list[nn.Module] = []
    n = len(sizes) - 1
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        # skip_init: nn.Linear's own init would draw from torch's global RNG.
        layer = torch.nn.utils.skip_init(nn.Linear, a, b)
        with torch.no_grad():
            nn.init.orthogonal_(layer.weight, out_gain if i == n - 1 else hidden_gain, generator)
            layer.bias.zero_()
        layers.append(layer)
        if i < n - 1:
            layers.append(activation())
    return nn.Sequential(*layers)


def mask_logits(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``logits`` with masked-out actions (``mask`` False) set to -inf."""
    return logits.masked_fill(~mask, float("-inf"))


def module_arrays(prefix: str, module: nn.Module) -> dict[str, np.ndarray]:
    """A module's parameters and buffers as numpy copies named ``prefix.<name>``."""
    return {f"{prefix}.{k}": v.detach().numpy().copy() for k, v in module.state_dict().items()}


def load_module_arrays(prefix: str, module: nn.Module, arrays: dict[str, np.ndarray]) -> None:
    """Inverse of ``module_arrays``; a missing or misshapen array is a ``ValueError``."""
    current = module.state_dict()
    loaded = {}
    for k, v in current.items():
        a = get_array(arrays, f"{prefix}.{k}")
        if tuple(a.shape) != tuple(v.shape):
            raise ValueError(
                f"array {prefix}.{k} has shape {tuple(a.shape)}, the network needs "
                f"{tuple(v.shape)} (was the checkpoint made with other hyperparameters?)"
            )
        loaded[k] = torch.from_numpy(np.array(a, dtype=_np_dtype(v), copy=True))
    module.load_state_dict(loaded)


def optimizer_arrays(prefix: str, optimizer: torch.optim.Optimizer) -> dict[str, np.ndarray]:
    """Per-parameter optimiser state (Adam: step, exp_avg, exp_avg_sq) as ``prefix.<i>.<key>``.

    Learning rates are not included: the learners recompute them from their counters.
    """
    out = {}
    for i, st in optimizer.state_dict()["state"].items():
        for k, v in st.items():
            out[f"{prefix}.{i}.{k}"] = torch.as_tensor(v).detach().numpy().copy()
    return out


def load_optimizer_arrays(
    prefix: str, optimizer: torch.optim.Optimizer, arrays: dict[str, np.ndarray]
) -> None:
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


def generator_array(generator: torch.Generator) -> np.ndarray:
    """A torch generator's full state as a uint8 array."""
    return generator.get_state().numpy().copy()


def load_generator_array(generator: torch.Generator, array: np.ndarray) -> None:
    generator.set_state(torch.from_numpy(np.array(array, dtype=np.uint8, copy=True)))


def _np_dtype(t: torch.Tensor) -> np.dtype:
    return torch.empty(0, dtype=t.dtype).numpy().dtype


def make_config(cls: type, algo: str, hyperparams: dict):
    """``cls(**hyperparams)``, naming unknown keys instead of a bare TypeError."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(hyperparams) - names)
    if unknown:
        raise ValueError(
            f"unknown {algo} hyperparameter(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}"
        )
    return cls(**hyperparams)


def get_array(arrays: dict[str, np.ndarray], name: str) -> np.ndarray:
    if name not in arrays:
        raise ValueError(f"learner state has no array {name!r}")
    return arrays[name]


def check_meta(meta: dict, algo: str, config: dict) -> None:
    if meta.get("algo") != algo:
        raise ValueError(f"learner state is for algorithm {meta.get('algo')!r}, not {algo!r}")
    if meta.get("config") != config:
        raise ValueError(
            f"learner state was made with hyperparameters {meta.get('config')}, "
            f"this learner has {config}"
        )


def check_demos(
    obs: np.ndarray,
    masks: np.ndarray,
    actions: np.ndarray,
    weights: np.ndarray,
    obs_dim: int,
    n_actions: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Validate demonstration arrays and return them as tensors (obs, bool masks, actions, weights)."""
    obs = np.asarray(obs, dtype=np.float32)
    masks = np.asarray(masks).astype(bool)
    actions = np.asarray(actions, dtype=np.int64)
    weights = np.asarray(weights, dtype=np.float32)
    n = len(actions)
    if n == 0:
        raise ValueError("no demonstrations to clone")
    if obs.shape != (n, obs_dim):
        raise ValueError(f"demonstration obs have shape {obs.shape}, expected ({n}, {obs_dim})")
    if masks.shape != (n, n_actions):
        raise ValueError(
            f"demonstration masks have shape {masks.shape}, expected ({n}, {n_actions})"
        )
    if weights.shape != (n,) or (weights < 0).any():
        raise ValueError(f"demonstration weights must be {n} non-negative numbers")
    if ((actions < 0) | (actions >= n_actions)).any():
        raise ValueError(f"demonstrated actions must be in [0, {n_actions})")
    if not masks[np.arange(n), actions].all():
        bad = int(np.flatnonzero(~masks[np.arange(n), actions])[0])
        raise ValueError(
            f"demonstration turn {bad} takes action {actions[bad]}, which its mask forbids"
        )
    return (
        torch.from_numpy(obs),
        torch.from_numpy(masks),
        torch.from_numpy(actions),
        torch.from_numpy(weights),
    )
