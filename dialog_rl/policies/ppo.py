"""PPO with GAE, the clipped objective, a masked categorical policy and a value network.

Read top to bottom like CleanRL's ``ppo.py``: the hyperparameters (``PPOConfig``), then the
learner. Finished conversations are collected until they hold ``rollout_turns`` turns; then the
batch is scored once with the current networks (log-probabilities, values), advantages come from
GAE (Schulman et al. 2016), and ``update_epochs`` passes of minibatch steps optimise the clipped
surrogate (Schulman et al. 2017) plus a value loss and an entropy bonus.

Exploration is the entropy bonus, annealed from a large weight: a near-uniform policy learns that
ending the conversation at once (bye, hand-over) beats its own random continuation, and without a
long stochastic phase it settles there before it has learned what a good continuation is.

The policy is a categorical over the action catalog whose masked actions have logit -inf, so they
get probability exactly 0 when acting and contribute nothing to the loss or the entropy. Because
the networks only change at batch boundaries, the policy that played every episode of a batch is
the one that scores it, so the recomputed log-probabilities are the behaviour's.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dialog_rl.env.featurizer import ObservationSpec
from dialog_rl.policies.base import Episode, Learner
from dialog_rl.policies.deep import (
    check_demos,
    check_meta,
    configure_torch,
    generator_array,
    get_array,
    load_generator_array,
    load_module_arrays,
    load_optimizer_arrays,
    make_config,
    make_generator,
    mask_logits,
    mlp,
    module_arrays,
    optimizer_arrays,
)
from dialog_rl.scenario import Domain


@dataclass
class PPOConfig:
    """Hyperparameters of ``PPOLearner`` (defaults tuned for 4000 dialogues on the shipped scenarios)."""

    hidden: tuple[int, ...] = (64, 64)
    """Hidden layer sizes of the policy and of the value network (each has its own)."""
    learning_rate: float = 1e-3
    """Adam step size."""
    gamma: float = 0.99
    """Discount per turn."""
    gae_lambda: float = 0.95
    """GAE's λ: 0 is one-step TD advantages, 1 is Monte Carlo returns minus the value."""
    rollout_turns: int = 256
    """Turns collected (in whole conversations) before each update."""
    update_epochs: int = 4
    """Passes over each batch."""
    num_minibatches: int = 4
    """Minibatches per pass."""
    clip_coef: float = 0.2
    """Surrogate clipping range ε: the probability ratio is clipped to [1-ε, 1+ε]."""
    clip_vloss: bool = True
    """Clip the value update around the old values too, as CleanRL and SB3 do."""
    ent_coef: float = 0.01
    """Weight of the entropy bonus once annealing is over."""
    ent_coef_start: float = 1.0
    """Weight of the entropy bonus at the first update (an exploration schedule: without it the
    policy settles on ending every conversation at once, the safest move while it is random)."""
    ent_anneal_episodes: int = 2000
    """Episodes over which the entropy weight moves linearly from start to ``ent_coef``. A learner
    warm-started by ``clone`` skips this schedule (the bonus would undo the cloning)."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    max_grad_norm: float = 0.5
    """Gradient clipping threshold (global L2 norm)."""
    norm_adv: bool = True
    """Normalise advantages per minibatch."""
    target_kl: float = 0.0
    """Stop a batch's epochs early once the approximate KL exceeds this (0: never)."""
    clone_epochs: int = 30
    """Passes over the demonstrations in ``clone``."""
    clone_batch_size: int = 64
    """Demonstration turns per gradient step in ``clone``."""

    def __post_init__(self) -> None:
        self.hidden = tuple(int(h) for h in self.hidden)
        checks = [
            (all(h > 0 for h in self.hidden), "hidden sizes must be positive"),
            (self.learning_rate > 0, "learning_rate must be positive"),
            (0.0 <= self.gamma <= 1.0, "gamma must be in [0, 1]"),
            (0.0 <= self.gae_lambda <= 1.0, "gae_lambda must be in [0, 1]"),
            (self.rollout_turns >= 1, "rollout_turns must be at least 1"),
            (self.update_epochs >= 1, "update_epochs must be at least 1"),
            (self.num_minibatches >= 1, "num_minibatches must be at least 1"),
            (self.clip_coef > 0, "clip_coef must be positive"),
            (self.ent_coef >= 0 and self.vf_coef > 0, "need ent_coef >= 0 and vf_coef > 0"),
            (self.ent_coef_start >= 0, "ent_coef_start must be >= 0"),
            (self.ent_anneal_episodes >= 0, "ent_anneal_episodes must be >= 0"),
            (self.max_grad_norm > 0, "max_grad_norm must be positive"),
            (self.target_kl >= 0, "target_kl must be >= 0"),
            (self.clone_epochs >= 0 and self.clone_batch_size >= 1, "bad clone settings"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"PPO hyperparameters: {message}")


def masked_log_probs(logits: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probabilities (-inf where masked) and the entropy of the masked categorical.

    The entropy sums only over allowed actions: ``0 * -inf`` would be NaN, and so would its
    gradient if the masked terms were merely multiplied away.
    """
    logp = F.log_softmax(mask_logits(logits, mask), dim=-1)
    safe = torch.where(mask, logp, torch.zeros_like(logp))
    entropy = -(safe.exp() * safe).masked_fill(~mask, 0.0).sum(-1)
    return logp, entropy


class PPOLearner(Learner):
    """PPO over the scenario's action catalog.

    Args:
        domain: the compiled scenario (its action catalog sizes the policy's output).
        spec: the environment's observation spec (sizes the inputs).
        seed: the one seed; initial weights and minibatch shuffles come from torch generators
            seeded from it.
        **hyperparams: fields of ``PPOConfig``.
    """

    name = "ppo"
    algo = "ppo"
    stochastic = True

    def __init__(self, domain: Domain, spec: ObservationSpec, seed: int, **hyperparams) -> None:
        configure_torch()
        self.cfg: PPOConfig = make_config(PPOConfig, "PPO", hyperparams)
        self.seed = int(seed)
        self.obs_dim = spec.size
        self.n_actions = domain.n_actions
        c = self.cfg
        init = make_generator(self.seed, 0)
        # CleanRL's initialisation: tanh, orthogonal, small policy output so it starts near uniform.
        self.actor = mlp([self.obs_dim, *c.hidden, self.n_actions], init, nn.Tanh, out_gain=0.01)
        self.critic = mlp([self.obs_dim, *c.hidden, 1], init, nn.Tanh, out_gain=1.0)
        params = [*self.actor.parameters(), *self.critic.parameters()]
        self.optimizer = torch.optim.Adam(params, lr=c.learning_rate, eps=1e-5)
        self.generator = make_generator(self.seed, 1)
        self.pending: list[Episode] = []
        self.pending_turns = 0
        self.cloned = False
        self.episodes = 0
        self.turns = 0
        self.updates = 0

    def config(self) -> dict:
        out = dataclasses.asdict(self.cfg)
        out["hidden"] = list(out["hidden"])
        return out

    def entropy_coef(self) -> float:
        """Entropy weight for the next update: linear from ``ent_coef_start`` to ``ent_coef``."""
        c = self.cfg
        if c.ent_anneal_episodes == 0 or self.cloned:
            return c.ent_coef
        frac = min(self.episodes / c.ent_anneal_episodes, 1.0)
        return c.ent_coef_start + frac * (c.ent_coef - c.ent_coef_start)

    # -- acting --------------------------------------------------------------------------------

    def distribution(
        self, obs: np.ndarray, mask: np.ndarray, explore: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Softmax probabilities as scores; the same to sample from, or one-hot argmax if greedy."""
        allowed = np.asarray(mask).astype(bool)
        if not allowed.any():
            raise ValueError("the action mask allows no action")
        with torch.no_grad():
            logits = self.actor(torch.as_tensor(obs, dtype=torch.float32)).numpy()
        z = np.where(allowed, logits.astype(np.float64), -np.inf)
        probs = np.exp(z - z.max())
        probs /= probs.sum()
        if explore:
            return probs, probs.copy()
        greedy = np.zeros_like(probs)
        greedy[int(np.argmax(probs))] = 1.0
        return probs, greedy

    # -- learning ------------------------------------------------------------------------------

    def learn(self, episode: Episode) -> dict[str, float]:
        T = len(episode.actions)
        self.episodes += 1
        self.turns += T
        if T:
            self.pending.append(episode)
            self.pending_turns += T
        if self.pending_turns < self.cfg.rollout_turns:
            return {}
        metrics = self._update(self.pending)
        self.pending, self.pending_turns = [], 0
        return metrics

    def _advantages(self, batch: list[Episode], values: torch.Tensor) -> torch.Tensor:
        """GAE per conversation; the value after the last turn is 0 unless it was cut short."""
        c = self.cfg
        finals = torch.as_tensor(np.stack([e.final_obs for e in batch]), dtype=torch.float32)
        with torch.no_grad():
            final_values = self.critic(finals).squeeze(-1).numpy().astype(np.float64)
        v = values.numpy().astype(np.float64)
        adv = np.zeros_like(v)
        start = 0
        for i, e in enumerate(batch):
            T = len(e.actions)
            nxt = 0.0 if e.terminated else final_values[i]
            last = 0.0
            for t in range(start + T - 1, start - 1, -1):
                delta = e.rewards[t - start] + c.gamma * nxt - v[t]
                last = delta + c.gamma * c.gae_lambda * last
                adv[t] = last
                nxt = v[t]
            start += T
        return torch.as_tensor(adv, dtype=torch.float32)

    def _update(self, batch: list[Episode]) -> dict[str, float]:
        c = self.cfg
        obs = torch.as_tensor(np.concatenate([e.obs for e in batch]), dtype=torch.float32)
        masks = torch.as_tensor(np.concatenate([e.masks for e in batch]).astype(bool))
        actions = torch.as_tensor(np.concatenate([e.actions for e in batch]), dtype=torch.int64)
        with torch.no_grad():
            old_logp = masked_log_probs(self.actor(obs), masks)[0]
            old_logp = old_logp.gather(1, actions[:, None]).squeeze(1)
            old_values = self.critic(obs).squeeze(-1)
        advantages = self._advantages(batch, old_values)
        returns = advantages + old_values

        n = len(actions)
        ent_coef = self.entropy_coef()
        mb_size = max(1, math.ceil(n / c.num_minibatches))
        stats: dict[str, list[float]] = {
            k: [] for k in ("policy", "value", "entropy", "kl", "clip")
        }
        for _ in range(c.update_epochs):
            perm = torch.randperm(n, generator=self.generator)
            for start in range(0, n, mb_size):
                i = perm[start : start + mb_size]
                logp_all, entropy = masked_log_probs(self.actor(obs[i]), masks[i])
                logp = logp_all.gather(1, actions[i, None]).squeeze(1)
                log_ratio = logp - old_logp[i]
                ratio = log_ratio.exp()
                with torch.no_grad():
                    stats["kl"].append(float(((ratio - 1) - log_ratio).mean()))
                    stats["clip"].append(float(((ratio - 1).abs() > c.clip_coef).float().mean()))
                adv = advantages[i]
                if c.norm_adv and len(i) > 1:
                    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                pg_loss = torch.max(
                    -adv * ratio, -adv * ratio.clamp(1 - c.clip_coef, 1 + c.clip_coef)
                ).mean()
                value = self.critic(obs[i]).squeeze(-1)
                if c.clip_vloss:
                    clipped = old_values[i] + (value - old_values[i]).clamp(
                        -c.clip_coef, c.clip_coef
                    )
                    v_loss = (
                        0.5
                        * torch.max((value - returns[i]) ** 2, (clipped - returns[i]) ** 2).mean()
                    )
                else:
                    v_loss = 0.5 * ((value - returns[i]) ** 2).mean()
                ent = entropy.mean()
                loss = pg_loss - ent_coef * ent + c.vf_coef * v_loss
                self.optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(
                    [*self.actor.parameters(), *self.critic.parameters()], c.max_grad_norm
                )
                self.optimizer.step()
                stats["policy"].append(float(pg_loss.detach()))
                stats["value"].append(float(v_loss.detach()))
                stats["entropy"].append(float(ent.detach()))
            if c.target_kl > 0 and stats["kl"][-1] > c.target_kl:
                break
        self.updates += 1
        var = float(returns.var()) if n > 1 else 0.0
        explained = 1.0 - float((returns - old_values).var()) / var if var > 0 else float("nan")
        return {
            "losses/policy": float(np.mean(stats["policy"])),
            "losses/value": float(np.mean(stats["value"])),
            "losses/entropy": float(np.mean(stats["entropy"])),
            "losses/approx_kl": float(np.mean(stats["kl"])),
            "losses/clipfrac": float(np.mean(stats["clip"])),
            "losses/explained_variance": explained,
            "charts/batch_turns": float(n),
            "charts/ent_coef": ent_coef,
        }

    def clone(
        self, obs: np.ndarray, masks: np.ndarray, actions: np.ndarray, weights: np.ndarray
    ) -> dict[str, float]:
        """Warm start from demonstrations: weighted cross-entropy of the masked policy.

        Afterwards the entropy schedule is skipped (``ent_coef`` from the first update).

        Args:
            obs: float32 [N, obs_dim] states.
            masks: [N, n_actions] action masks (nonzero = allowed).
            actions: int [N] demonstrated actions (each allowed by its mask).
            weights: float [N] per-turn weights (e.g. more for human overrides).
        """
        x, m, a, w = check_demos(obs, masks, actions, weights, self.obs_dim, self.n_actions)
        c = self.cfg
        loss = torch.tensor(0.0)
        for _ in range(c.clone_epochs):
            perm = torch.randperm(len(a), generator=self.generator)
            for start in range(0, len(a), c.clone_batch_size):
                i = perm[start : start + c.clone_batch_size]
                logp = masked_log_probs(self.actor(x[i]), m[i])[0]
                nll = -logp.gather(1, a[i, None]).squeeze(1)
                loss = (w[i] * nll).sum() / w[i].sum().clamp_min(1e-12)
                self.optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(self.actor.parameters(), c.max_grad_norm)
                self.optimizer.step()
        self.cloned = True
        with torch.no_grad():
            chosen = mask_logits(self.actor(x), m).argmax(1)
        return {
            "losses/bc": float(loss.detach()),
            "bc/accuracy": float(((chosen == a).float() * w).sum() / w.sum().clamp_min(1e-12)),
        }

    # -- state ---------------------------------------------------------------------------------

    def state(self) -> tuple[dict[str, np.ndarray], dict]:
        arrays = {
            **module_arrays("actor", self.actor),
            **module_arrays("critic", self.critic),
            **optimizer_arrays("optimizer", self.optimizer),
            "generator": generator_array(self.generator),
        }
        # Conversations collected since the last update: whole episodes, concatenated.
        p = self.pending
        arrays["pending.obs"] = _cat([e.obs for e in p], (0, self.obs_dim), np.float32)
        arrays["pending.masks"] = _cat([e.masks for e in p], (0, self.n_actions), np.int8)
        arrays["pending.actions"] = _cat([e.actions for e in p], (0,), np.int64)
        arrays["pending.rewards"] = _cat([e.rewards for e in p], (0,), np.float64)
        arrays["pending.propensities"] = _cat([e.propensities for e in p], (0,), np.float64)
        arrays["pending.final_obs"] = _stack(
            [e.final_obs for e in p], (0, self.obs_dim), np.float32
        )
        arrays["pending.final_mask"] = _stack(
            [e.final_mask for e in p], (0, self.n_actions), np.int8
        )
        arrays["pending.lengths"] = np.array([len(e.actions) for e in p], dtype=np.int64)
        arrays["pending.terminated"] = np.array([e.terminated for e in p], dtype=bool)
        arrays["pending.truncated"] = np.array([e.truncated for e in p], dtype=bool)
        meta = {
            "algo": self.algo,
            "seed": self.seed,
            "config": self.config(),
            "counters": {"episodes": self.episodes, "turns": self.turns, "updates": self.updates},
            "cloned": self.cloned,
        }
        return arrays, meta

    def load_state(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        check_meta(meta, self.algo, self.config())
        load_module_arrays("actor", self.actor, arrays)
        load_module_arrays("critic", self.critic, arrays)
        load_optimizer_arrays("optimizer", self.optimizer, arrays)
        load_generator_array(self.generator, get_array(arrays, "generator"))
        lengths = get_array(arrays, "pending.lengths").astype(np.int64)
        ends = np.cumsum(lengths)
        names = ("obs", "masks", "actions", "rewards", "propensities")
        cols = {k: get_array(arrays, f"pending.{k}") for k in names}
        if any(len(v) != int(lengths.sum()) for v in cols.values()):
            raise ValueError("pending episode arrays do not match their lengths")
        final_obs = get_array(arrays, "pending.final_obs")
        final_mask = get_array(arrays, "pending.final_mask")
        terminated = get_array(arrays, "pending.terminated")
        truncated = get_array(arrays, "pending.truncated")
        self.pending = []
        for j, (end, T) in enumerate(zip(ends, lengths)):
            s = slice(int(end - T), int(end))
            self.pending.append(
                Episode(
                    obs=np.array(cols["obs"][s], dtype=np.float32),
                    masks=np.array(cols["masks"][s], dtype=np.int8),
                    actions=np.array(cols["actions"][s], dtype=np.int64),
                    rewards=np.array(cols["rewards"][s], dtype=np.float64),
                    propensities=np.array(cols["propensities"][s], dtype=np.float64),
                    final_obs=np.array(final_obs[j], dtype=np.float32),
                    final_mask=np.array(final_mask[j], dtype=np.int8),
                    terminated=bool(terminated[j]),
                    truncated=bool(truncated[j]),
                    outcome={},
                )
            )
        self.pending_turns = int(lengths.sum())
        counters = meta["counters"]
        self.episodes = int(counters["episodes"])
        self.turns = int(counters["turns"])
        self.updates = int(counters["updates"])
        self.cloned = bool(meta.get("cloned", False))


def _cat(parts: list[np.ndarray], empty: tuple[int, ...], dtype: type) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(empty, dtype=dtype)


def _stack(parts: list[np.ndarray], empty: tuple[int, ...], dtype: type) -> np.ndarray:
    return np.stack(parts).astype(dtype) if parts else np.zeros(empty, dtype=dtype)
