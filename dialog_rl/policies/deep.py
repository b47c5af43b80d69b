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


class Adam:
    """Adam (Kingma & Ba 2015) with ``torch.optim.Adam``'s arithmetic, op for op: its
    single-tensor path, the one it takes on CPU (no amsgrad, no weight decay, not maximising).
    The same steps give the same bits.

    Why not ``torch.optim.Adam`` itself: a ``torch.optim.Optimizer`` imports ``torch._dynamo``
    (and with it sympy) on first use, about 1 s of CPU at every start, and wraps each step in
    profiler and graph-break hooks that cost as much as the update itself on these small
    networks. ``state_dict``/``load_state_dict`` keep torch's layout (per-parameter ``step``,
    ``exp_avg``, ``exp_avg_sq`` by parameter index), so checkpoints are unchanged.
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


#: rows per forward pass when acting: bounds the activations' memory on big batches
FORWARD_BLOCK = 1024
#: fewest rows a forward pass sees when acting. BLAS takes other code paths (gemv, small-M
#: kernels) for one to three rows, whose sums round differently in the last bit; at four rows
#: and up a row's outputs do not depend on the rows beside it, so padding small batches makes
#: ``act`` (one row) and ``act_batch`` (many) agree bit for bit.
FORWARD_MIN_ROWS = 8


def forward_rows(network: nn.Module, obs: np.ndarray) -> np.ndarray:
    """``network`` on every row of ``obs`` [n, obs_dim] for acting: float32 [n, out].

    Every caller that acts goes through here, so a row gets the same outputs whether it is
    scored alone or in a batch of any size (blocks of ``FORWARD_BLOCK``, short blocks padded
    with zero rows to ``FORWARD_MIN_ROWS``).
    """
    x = torch.from_numpy(np.ascontiguousarray(obs, dtype=np.float32))
    n = len(x)
    out: list[torch.Tensor] = []
    with torch.inference_mode():
        if FORWARD_MIN_ROWS <= n <= FORWARD_BLOCK:  # one block as it is: no slicing, no cat
            return network(x).numpy()
        for start in range(0, max(n, 1), FORWARD_BLOCK):
            block = x[start : start + FORWARD_BLOCK]
            rows = len(block)
            if rows < FORWARD_MIN_ROWS:
                pad = torch.zeros(FORWARD_MIN_ROWS - rows, x.shape[1], dtype=x.dtype)
                block = torch.cat([block, pad])
            out.append(network(block)[:rows])
    return torch.cat(out).numpy()


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
