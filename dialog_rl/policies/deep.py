"""What the deep learners share: the ``DeepLearner`` base, small MLPs, torch state as arrays.

Only the deep learners import this module (and so torch). Every random draw comes from a
``torch.Generator`` the learner seeds from its one seed: layers are built without their default
(global-RNG) initialisation and then initialised from that generator.

``DeepLearner`` holds what DQN and PPO do alike: hyperparameters from a config dataclass,
counters, acting (``distribution`` and ``act_batch`` from one row-wise ``rows``), a gradient
step, the minibatch loop of behaviour cloning, and the common part of their state.

``*_arrays``/``load_*`` functions move module weights, Adam moments and generator states to and
from plain numpy arrays under dotted names, so a checkpoint is tensors plus JSON and a resumed run
continues bit for bit.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from abc import abstractmethod
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dialog_rl.domain import Domain
from dialog_rl.env.featurizer import ObservationSpec
from dialog_rl.policies.base import Learner, sample_rows
from dialog_rl.policies.forward import (  # noqa: F401 (the learners import them from here)
    FORWARD_BLOCK,
    FORWARD_MIN_ROWS,
    forward_rows,
)
from dialog_rl.policies.optim import (
    Adam,
    clip_grad_norm,
    load_optimizer_arrays,
    optimizer_arrays,
)


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


class MLP(nn.Sequential):
    """``nn.Sequential`` of ``nn.Linear`` layers and activations whose forward calls the
    functional ops itself (``F.linear``, ``torch.relu``/``torch.tanh``): the same ops in the same
    order as the modules' own forwards, so the same bits, without a module call (and its hook
    checks) per layer. Other modules in the sequence are called as usual. State-dict keys are
    ``nn.Sequential``'s (``0.weight``, ``0.bias``, ``2.weight``, ...)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for m in self._modules.values():
            kind = type(m)
            if kind is nn.Linear:
                x = F.linear(x, m.weight, m.bias)
            elif kind is nn.ReLU and not m.inplace:
                x = torch.relu(x)
            elif kind is nn.Tanh:
                x = torch.tanh(x)
            else:
                x = m(x)
        return x

    def plain_layers(self) -> list | None:
        """Linear layers with biases (float32), each followed by at most one ReLU (not in place)
        or tanh, as ``[weight, bias, in-place activation or None]``; None if the sequence holds
        anything else. ``forward.forward_rows`` runs such a network into kept buffers."""
        layers: list = []
        for m in self._modules.values():
            kind = type(m)
            # (read from _parameters: nn.Module's attribute fallback costs microseconds a call)
            weight, bias = m._parameters.get("weight"), m._parameters.get("bias")
            if kind is nn.Linear and bias is not None and weight.dtype == torch.float32:
                layers.append([weight, bias, None])
            elif kind in _IN_PLACE and layers and layers[-1][2] is None:
                if kind is nn.ReLU and m.inplace:
                    return None
                layers[-1][2] = _IN_PLACE[kind]
            else:
                return None
        return layers or None


#: activations run in place on a layer's output (the same op as the module's out-of-place one)
_IN_PLACE = {nn.ReLU: torch.relu_, nn.Tanh: torch.tanh_}


def mlp(
    sizes: Sequence[int],
    generator: torch.Generator,
    activation: type[nn.Module] = nn.ReLU,
    hidden_gain: float = math.sqrt(2),
    out_gain: float = 1.0,
) -> MLP:
    """Linear layers ``sizes[0] -> ... -> sizes[-1]`` with ``activation`` between them.

    Orthogonal weights and zero biases (CleanRL's ``layer_init``), drawn from ``generator``.
    """
    layers: list[nn.Module] = []
    n = len(sizes) - 1
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        # Built on the meta device, so nn.Linear's own init draws nothing from torch's global
        # RNG, then given fresh CPU parameters (torch.nn.utils.skip_init does the same through
        # ``to_empty``, whose meta-to-CPU copy imports sympy: ~0.5 s of start-up).
        layer = nn.Linear(a, b, device="meta")
        layer.weight = nn.Parameter(torch.empty(b, a))
        layer.bias = nn.Parameter(torch.empty(b))
        with torch.no_grad():
            nn.init.orthogonal_(layer.weight, out_gain if i == n - 1 else hidden_gain, generator)
            layer.bias.zero_()
        layers.append(layer)
        if i < n - 1:
            layers.append(activation())
    return MLP(*layers)


def check_masks(masks: np.ndarray) -> np.ndarray:
    """Action masks [n, n_actions] as bool; a row that allows nothing is a ``ValueError``."""
    allowed = np.asarray(masks).astype(bool)
    if not allowed.any(axis=-1).all():
        raise ValueError("the action mask allows no action")
    return allowed


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


def generator_array(generator: torch.Generator) -> np.ndarray:
    """A torch generator's full state as a uint8 array."""
    return generator.get_state().numpy().copy()


def load_generator_array(generator: torch.Generator, array: np.ndarray) -> None:
    generator.set_state(torch.from_numpy(np.array(array, dtype=np.uint8, copy=True)))


def _np_dtype(t: torch.Tensor) -> np.dtype:
    return torch.empty(0, dtype=t.dtype).numpy().dtype


@dataclasses.dataclass
class DeepConfig:
    """The hyperparameters every deep learner has; ``DQNConfig`` and ``PPOConfig`` add theirs."""

    gamma: float = 0.99
    """Discount per turn."""
    clone_epochs: int = 30
    """Passes over the demonstrations in ``clone``."""
    clone_batch_size: int = 64
    """Demonstration turns per gradient step in ``clone``."""


def check_config(cfg, algo: str, checks: Iterable[tuple[bool, str]]) -> None:
    """Validate a deep learner's config: ``hidden`` becomes a tuple of ints, then the checks
    every deep config shares and ``checks``; the first that fails is a ``ValueError``."""
    cfg.hidden = tuple(int(h) for h in cfg.hidden)
    shared = [
        (all(h > 0 for h in cfg.hidden), "hidden sizes must be positive"),
        (cfg.learning_rate > 0, "learning_rate must be positive"),
        (0.0 <= cfg.gamma <= 1.0, "gamma must be in [0, 1]"),
        (cfg.max_grad_norm > 0, "max_grad_norm must be positive"),
        (cfg.clone_epochs >= 0 and cfg.clone_batch_size >= 1, "bad clone settings"),
    ]
    for ok, message in [*shared, *checks]:
        if not ok:
            raise ValueError(f"{algo} hyperparameters: {message}")


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


class DeepLearner(Learner):
    """Base of the deep learners: what DQN and PPO do the same way.

    A subclass sets ``config_class`` and ``label``, builds its networks, ``optimizer`` and
    ``generator`` after calling ``__init__``, names the networks a checkpoint holds in
    ``networks``, and defines ``rows`` (its scores and action probabilities, row-wise); acting
    one row at a time and in batches then share one code path. Extra state (a replay buffer,
    pending episodes) goes through ``extra_state``/``load_extra_state``.
    """

    config_class: type
    label: str
    stochastic = True
    row_streams = True
    optimizer: Adam
    generator: torch.Generator

    def __init__(self, domain: Domain, spec: ObservationSpec, seed: int, **hyperparams) -> None:
        # **hyperparams, as the subclasses take them: make_learner reads the signatures along the
        # MRO and leaves unknown names to the config dataclass, which names the known ones
        configure_torch()
        self.cfg = make_config(self.config_class, self.label, hyperparams)
        self.seed = int(seed)
        self.obs_dim = spec.size
        self.n_actions = domain.n_actions
        self.episodes = 0
        self.turns = 0
        self.updates = 0

    def config(self) -> dict:
        out = dataclasses.asdict(self.cfg)
        out["hidden"] = list(out["hidden"])
        return out

    @abstractmethod
    def networks(self) -> dict[str, nn.Module]:
        """The networks a checkpoint holds, by array-name prefix."""

    # -- acting --------------------------------------------------------------------------------

    @abstractmethod
    def rows(
        self, obs: np.ndarray, masks: np.ndarray, explore: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """Scores and action probabilities (zero where masked) at every row: float64 [n, n_actions]
        each, from one ``forward_rows`` pass, so a row gets the same bits alone or in a batch."""

    def distribution(
        self, obs: np.ndarray, mask: np.ndarray, explore: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        scores, probs = self.rows(np.asarray(obs)[None], np.asarray(mask)[None], explore)
        return scores[0], probs[0]

    def act_batch(
        self,
        obs: np.ndarray,
        masks: np.ndarray,
        *,
        explore: bool = True,
        rng: Sequence[np.random.Generator] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``act`` on every row with one forward pass: actions int64 [n], propensities float64 [n].

        Exploring with ``rng`` (Generators or ``RowStreams``), row ``i`` draws once from
        ``rng[i]``; otherwise it takes its most probable action, as ``act`` does.
        """
        return sample_rows(self.rows(obs, masks, explore)[1], rng, explore)

    # -- learning ------------------------------------------------------------------------------

    def step(self, loss: torch.Tensor, params: list[nn.Parameter]) -> None:
        """One optimiser step on ``loss``, the gradient of ``params`` clipped to ``max_grad_norm``."""
        self.optimizer.zero_grad()
        loss.backward()
        clip_grad_norm(params, self.cfg.max_grad_norm)
        self.optimizer.step()

    def fit_demos(
        self,
        weights: torch.Tensor,
        per_row: Callable[[torch.Tensor], torch.Tensor],
        params: list[nn.Parameter],
    ) -> torch.Tensor:
        """``clone``'s loop: ``clone_epochs`` shuffled passes of ``clone_batch_size`` rows, each a
        step on the ``weights``-weighted mean of ``per_row(indices)``; returns the last loss."""
        c = self.cfg
        n = len(weights)
        loss = torch.tensor(0.0)
        for _ in range(c.clone_epochs):
            perm = torch.randperm(n, generator=self.generator)
            for start in range(0, n, c.clone_batch_size):
                i = perm[start : start + c.clone_batch_size]
                loss = (weights[i] * per_row(i)).sum() / weights[i].sum().clamp_min(1e-12)
                self.step(loss, params)
        return loss

    @staticmethod
    def clone_metrics(
        loss: torch.Tensor,
        scores: torch.Tensor,
        masks: torch.Tensor,
        actions: torch.Tensor,
        weights: torch.Tensor,
    ) -> dict[str, float]:
        """``clone``'s result: its last loss and the weighted share of demonstrated actions that
        are now the network's favourite (``scores`` [N, n_actions])."""
        chosen = mask_logits(scores, masks).argmax(1)
        total = weights.sum().clamp_min(1e-12)
        return {
            "losses/bc": float(loss.detach()),
            "bc/accuracy": float(((chosen == actions).float() * weights).sum() / total),
        }

    # -- state ---------------------------------------------------------------------------------

    def extra_state(self) -> tuple[dict[str, np.ndarray], dict]:
        """Arrays and metadata beyond networks, optimiser, generator and counters."""
        return {}, {}

    def load_extra_state(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        """Inverse of ``extra_state``."""

    def state(self) -> tuple[dict[str, np.ndarray], dict]:
        arrays: dict[str, np.ndarray] = {}
        for name, network in self.networks().items():
            arrays.update(module_arrays(name, network))
        arrays.update(optimizer_arrays("optimizer", self.optimizer))
        arrays["generator"] = generator_array(self.generator)
        extra_arrays, extra_meta = self.extra_state()
        arrays.update(extra_arrays)
        meta = {
            "algo": self.algo,
            "seed": self.seed,
            "config": self.config(),
            "counters": {"episodes": self.episodes, "turns": self.turns, "updates": self.updates},
            **extra_meta,
        }
        return arrays, meta

    def load_state(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        check_meta(meta, self.algo, self.config())
        for name, network in self.networks().items():
            load_module_arrays(name, network, arrays)
        load_optimizer_arrays("optimizer", self.optimizer, arrays)
        load_generator_array(self.generator, get_array(arrays, "generator"))
        self.load_extra_state(arrays, meta)
        counters = meta["counters"]
        self.episodes = int(counters["episodes"])
        self.turns = int(counters["turns"])
        self.updates = int(counters["updates"])
