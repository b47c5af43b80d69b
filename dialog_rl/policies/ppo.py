"""PPO with GAE, the clipped objective, a masked categorical policy and a value network.

Read top to bottom like CleanRL's ``ppo.py``: the hyperparameters (``PPOConfig``), then the
learner. Finished conversations are collected until they hold ``rollout_turns`` turns; then the
batch is scored once with the current networks (log-probabilities, values), advantages come from
GAE (Schulman et al. 2016), and ``update_epochs`` passes of minibatch steps optimise the clipped
surrogate (Schulman et al. 2017) plus a value loss and an entropy bonus.

Exploration is an entropy bonus in two places, both annealed over ``ent_anneal_episodes``: the
usual one in the loss (CleanRL's, small), and ``α·H(π(·|s_t))`` added to every turn's reward, as
in maximum-entropy RL, so the return counts the exploring still to come. Why the second: PPO
judges an action by what follows it under the *current* policy. While that policy is near
uniform, two of the ~18 allowed actions (bye, hand-over) end the conversation, so random play
rarely lasts long enough to succeed (2-4% on order support and shopping), and a hand-over at the
first turn, a sure small loss, beats every continuation. The policy then hands everyone over
and never visits the later turns it would need to learn from. A large loss-side bonus alone
only delays this (it keeps the policy near uniform, which is the trap). With the bonus in the
reward, ending a conversation forgoes the bonus of the turns it would have had, so the early
policy keeps conversations going, reaches the successes, and by the time α is 0 a real
continuation is worth more than a hand-over.

The policy is a categorical over the action catalog whose masked actions have logit -inf, so they
get probability exactly 0 when acting and contribute nothing to the loss or the entropy. Because
the networks only change at batch boundaries, the policy that played every episode of a batch is
the one that scores it, so the recomputed log-probabilities are the behaviour's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dialog_rl.domain import Domain
from dialog_rl.env.featurizer import ObservationSpec
from dialog_rl.policies.base import Episode
from dialog_rl.policies.deep import (
    DeepConfig,
    DeepLearner,
    check_config,
    check_demos,
    check_masks,
    forward_rows,
    get_array,
    make_generator,
    mask_logits,
    mlp,
)
from dialog_rl.policies.optim import Adam


@dataclass
class PPOConfig(DeepConfig):
    """Hyperparameters of ``PPOLearner`` (defaults tuned for 4000 dialogues on the shipped scenarios)."""

    hidden: tuple[int, ...] = (64, 64)
    """Hidden layer sizes of the policy and of the value network (each has its own)."""
    learning_rate: float = 1e-3
    """Adam step size."""
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
    ent_coef_start: float = 0.1
    """Weight of the entropy bonus in the loss at the first update. Kept small: a large weight
    holds the policy near uniform, and near-uniform play ends conversations at once."""
    ent_reward_start: float = 1.0
    """Weight α (in reward units per nat) of the entropy bonus added to each turn's reward at the
    first update; it anneals to 0. It makes ending a conversation early cost the exploration it
    forgoes (see the module docstring); with 0, PPO hands every customer over on shopping."""
    ent_anneal_episodes: int = 2000
    """Episodes over which both entropy weights move linearly to their final values (``ent_coef``
    and 0). A learner warm-started by ``clone`` skips this schedule (it would undo the cloning)."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    max_grad_norm: float = 0.5
    """Gradient clipping threshold (global L2 norm)."""
    norm_adv: bool = True
    """Normalise advantages per minibatch."""
    target_kl: float = 0.0
    """Stop a batch's epochs early once the approximate KL exceeds this (0: never)."""

    def __post_init__(self) -> None:
        check_config(
            self,
            "PPO",
            [
                (0.0 <= self.gae_lambda <= 1.0, "gae_lambda must be in [0, 1]"),
                (self.rollout_turns >= 1, "rollout_turns must be at least 1"),
                (self.update_epochs >= 1, "update_epochs must be at least 1"),
                (self.num_minibatches >= 1, "num_minibatches must be at least 1"),
                (self.clip_coef > 0, "clip_coef must be positive"),
                (self.ent_coef >= 0 and self.vf_coef > 0, "need ent_coef >= 0 and vf_coef > 0"),
                (self.ent_coef_start >= 0, "ent_coef_start must be >= 0"),
                (self.ent_anneal_episodes >= 0, "ent_anneal_episodes must be >= 0"),
                (self.ent_reward_start >= 0, "ent_reward_start must be >= 0"),
                (self.target_kl >= 0, "target_kl must be >= 0"),
            ],
        )


def masked_log_probs(logits: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probabilities (-inf where masked) and the entropy of the masked categorical.

    The entropy sums only over allowed actions: ``0 * -inf`` would be NaN, and so would its
    gradient if the masked terms were merely multiplied away.
    """
    logp = F.log_softmax(mask_logits(logits, mask), dim=-1)
    safe = torch.where(mask, logp, torch.zeros_like(logp))
    entropy = -(safe.exp() * safe).masked_fill(~mask, 0.0).sum(-1)
    return logp, entropy


class PPOLearner(DeepLearner):
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
    label = "PPO"
    config_class = PPOConfig

    def __init__(self, domain: Domain, spec: ObservationSpec, seed: int, **hyperparams) -> None:
        super().__init__(domain, spec, seed, **hyperparams)
        self.cfg: PPOConfig
        c = self.cfg
        init = make_generator(self.seed, 0)
        # CleanRL's initialisation: tanh, orthogonal, small policy output so it starts near uniform.
        self.actor = mlp([self.obs_dim, *c.hidden, self.n_actions], init, nn.Tanh, out_gain=0.01)
        self.critic = mlp([self.obs_dim, *c.hidden, 1], init, nn.Tanh, out_gain=1.0)
        self.optimizer = Adam(self.parameters(), lr=c.learning_rate, eps=1e-5)
        self.generator = make_generator(self.seed, 1)
        self.pending: list[Episode] = []
        self.pending_turns = 0
        self.cloned = False

    def networks(self) -> dict[str, nn.Module]:
        return {"actor": self.actor, "critic": self.critic}

    def parameters(self) -> list[nn.Parameter]:
        """The actor's and the critic's parameters (one optimiser, one gradient clip)."""
        return [*self.actor.parameters(), *self.critic.parameters()]

    def entropy_coef(self) -> float:
        """Entropy weight for the next update: linear from ``ent_coef_start`` to ``ent_coef``."""
        c = self.cfg
        if c.ent_anneal_episodes == 0 or self.cloned:
            return c.ent_coef
        frac = min(self.episodes / c.ent_anneal_episodes, 1.0)
        return c.ent_coef_start + frac * (c.ent_coef - c.ent_coef_start)

    def entropy_reward(self) -> float:
        """α for the next update: the entropy's weight in the reward, linear from
        ``ent_reward_start`` to 0."""
        c = self.cfg
        if c.ent_anneal_episodes == 0 or self.cloned:
            return 0.0
        frac = min(self.episodes / c.ent_anneal_episodes, 1.0)
        return c.ent_reward_start * (1.0 - frac)

    # -- acting --------------------------------------------------------------------------------

    def rows(
        self, obs: np.ndarray, masks: np.ndarray, explore: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """The masked softmax as scores; the same to sample from, or one-hot argmax if greedy."""
        allowed = check_masks(masks)
        logits = forward_rows(self.actor, obs).astype(np.float64)
        z = np.where(allowed, logits, -np.inf)
        probs = np.exp(z - z.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        if explore:
            return probs, probs.copy()
        greedy = np.zeros_like(probs)
        greedy[np.arange(len(probs)), np.argmax(probs, axis=1)] = 1.0
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

    def _advantages(
        self, batch: list[Episode], values: torch.Tensor, bonus: np.ndarray | None = None
    ) -> torch.Tensor:
        """GAE per conversation on reward + ``bonus`` (the entropy reward, per turn [N]); the
        value after the last turn is 0 unless it was cut short."""
        c = self.cfg
        finals = torch.as_tensor(np.stack([e.final_obs for e in batch]), dtype=torch.float32)
        with torch.no_grad():
            final_values = self.critic(finals).squeeze(-1).numpy().astype(np.float64)
        v = values.numpy().astype(np.float64)
        adv = np.zeros_like(v)
        if bonus is None:
            bonus = np.zeros_like(v)
        start = 0
        for i, e in enumerate(batch):
            T = len(e.actions)
            nxt = 0.0 if e.terminated else final_values[i]
            last = 0.0
            for t in range(start + T - 1, start - 1, -1):
                delta = e.rewards[t - start] + bonus[t] + c.gamma * nxt - v[t]
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
            old_logp, old_entropy = masked_log_probs(self.actor(obs), masks)
            old_logp = old_logp.gather(1, actions[:, None]).squeeze(1)
            old_values = self.critic(obs).squeeze(-1)
        ent_coef, ent_reward = self.entropy_coef(), self.entropy_reward()
        # the behaviour's entropy at each turn, as maximum-entropy RL adds it to the reward
        bonus = ent_reward * old_entropy.numpy().astype(np.float64)
        advantages = self._advantages(batch, old_values, bonus)
        returns = advantages + old_values

        n = len(actions)
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
                self.step(loss, self.parameters())
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
            "charts/ent_reward": ent_reward,
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

        def nll(i: torch.Tensor) -> torch.Tensor:
            logp = masked_log_probs(self.actor(x[i]), m[i])[0]
            return -logp.gather(1, a[i, None]).squeeze(1)

        loss = self.fit_demos(w, nll, list(self.actor.parameters()))
        self.cloned = True
        with torch.no_grad():
            return self.clone_metrics(loss, self.actor(x), m, a, w)

    # -- state ---------------------------------------------------------------------------------

    def extra_state(self) -> tuple[dict[str, np.ndarray], dict]:
        # Conversations collected since the last update: whole episodes, concatenated.
        p = self.pending
        arrays = {
            "pending.obs": _cat([e.obs for e in p], (0, self.obs_dim), np.float32),
            "pending.masks": _cat([e.masks for e in p], (0, self.n_actions), np.int8),
            "pending.actions": _cat([e.actions for e in p], (0,), np.int64),
            "pending.rewards": _cat([e.rewards for e in p], (0,), np.float64),
            "pending.propensities": _cat([e.propensities for e in p], (0,), np.float64),
            "pending.final_obs": _stack([e.final_obs for e in p], (0, self.obs_dim), np.float32),
            "pending.final_mask": _stack([e.final_mask for e in p], (0, self.n_actions), np.int8),
            "pending.lengths": np.array([len(e.actions) for e in p], dtype=np.int64),
            "pending.terminated": np.array([e.terminated for e in p], dtype=bool),
            "pending.truncated": np.array([e.truncated for e in p], dtype=bool),
        }
        return arrays, {"cloned": self.cloned}

    def load_extra_state(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
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
        self.cloned = bool(meta.get("cloned", False))


def _cat(parts: list[np.ndarray], empty: tuple[int, ...], dtype: type) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(empty, dtype=dtype)


def _stack(parts: list[np.ndarray], empty: tuple[int, ...], dtype: type) -> np.ndarray:
    return np.stack(parts).astype(dtype) if parts else np.zeros(empty, dtype=dtype)
