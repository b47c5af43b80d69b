"""Fitted Q evaluation (Le, Voloshin & Yue 2019): the direct method for sequential decisions.

FQE learns the target policy's action values from logged transitions alone, by repeated
regression: ``Q_{k+1}(s_t, a_t) ~ r_t + gamma * sum_a pi(a | s_{t+1}) Q_k(s_{t+1}, a)``, with 0
after the last logged decision (termination, or truncation: the estimand is the return over the
logged horizon). With ``gamma = 1`` and ``iterations`` at least the longest episode this is
backward induction, so no discount is needed for convergence. Its value estimate is
``mean_i sum_a pi(a | s_i0) Q(s_i0, a)``; its Q-values are the model the doubly robust estimators
correct. torch is imported here only, lazily.

Cross-fitting (``n_folds`` > 1) predicts each episode's Q-values with a network fitted on the
other folds, so DR's correction term is not computed on the data the model memorised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dialog_rl.ope.validation import (
    OPEInputError,
    check_action_dist,
    check_array,
    check_gamma,
    check_valid,
)


@dataclass(frozen=True)
class FQE:
    """Fitted Q evaluation with a small MLP; call ``fit_predict`` to get Q for every logged state."""

    gamma: float = 1.0
    """Discount per decision."""
    hidden: tuple[int, ...] = (128, 128)
    """Hidden layer sizes of the Q-network."""
    iterations: int | None = None
    """Regression rounds; default: the longest logged episode plus 2 (enough for gamma = 1)."""
    epochs: int = 3
    """Passes over the transitions per round (the network is warm-started between rounds)."""
    batch_size: int = 512
    """Transitions per gradient step."""
    learning_rate: float = 1e-3
    """Adam step size."""
    n_folds: int = 2
    """Cross-fitting folds (1: fit and predict on all the data)."""
    seed: int = 0
    """Seed of network initialisation and minibatch order."""

    def __post_init__(self) -> None:
        check_gamma(self.gamma)
        if self.iterations is not None and self.iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {self.iterations}")
        for name in ("epochs", "batch_size", "n_folds"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if any(h < 1 for h in self.hidden):
            raise ValueError(f"hidden sizes must be >= 1, got {self.hidden}")

    def fit_predict(
        self,
        obs: np.ndarray,
        action: np.ndarray,
        reward: np.ndarray,
        action_dist: np.ndarray,
        valid: np.ndarray | None = None,
    ) -> np.ndarray:
        """The target's estimated action values at every logged state.

        Args:
            obs: float [n_episodes, horizon, obs_dim] state before each decision.
            action: int [n_episodes, horizon] logged actions.
            reward: float [n_episodes, horizon] rewards.
            action_dist: float [n_episodes, horizon, n_actions] target policy's distribution.
            valid: bool [n_episodes, horizon] real decisions (default: all).

        Returns:
            float64 [n_episodes, horizon, n_actions]; zero on padding.
        """
        obs = check_array("obs", obs, 3)
        action = check_array("action", action, 2, "iu")
        reward = check_array("reward", reward, 2)
        n, h = reward.shape
        if obs.shape[:2] != (n, h) or action.shape != (n, h):
            raise OPEInputError(
                f"obs {obs.shape[:2]}, action {action.shape} and reward {reward.shape} "
                "must share [n_episodes, horizon]"
            )
        valid = check_valid(valid, (n, h))
        dist = check_action_dist(check_array("action_dist", action_dist, 3), valid)
        if dist.shape[:2] != (n, h):
            raise OPEInputError(f"action_dist must be [{n}, {h}, n_actions], got {dist.shape}")
        n_actions = dist.shape[2]
        if ((action[valid] < 0) | (action[valid] >= n_actions)).any():
            raise OPEInputError(f"action must index the {n_actions} columns of action_dist")
        return self._fit_predict(obs, action, reward, dist, valid)

    def estimate_policy_value(
        self,
        obs: np.ndarray,
        action: np.ndarray,
        reward: np.ndarray,
        action_dist: np.ndarray,
        valid: np.ndarray | None = None,
    ) -> float:
        """FQE's value estimate: the fitted values of the first states under the target."""
        q = self.fit_predict(obs, action, reward, action_dist, valid)
        return float((q[:, 0] * np.asarray(action_dist)[:, 0]).sum(-1).mean())

    # -- private -------------------------------------------------------------------------------

    def _fit_predict(self, obs, action, reward, dist, valid) -> np.ndarray:
        import torch

        # One intra-op thread: the net is small, more threads cost more than they give (and
        # oversubscribe a shared machine); fixed threads also keep float reductions in order.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self._fit_predict_folds(torch, obs, action, reward, dist, valid)
        finally:
            torch.set_num_threads(threads)

    def _fit_predict_folds(self, torch, obs, action, reward, dist, valid) -> np.ndarray:
        n, h = reward.shape
        folds = np.random.default_rng([self.seed, 7]).permutation(n) % self.n_folds
        out = np.zeros(dist.shape, dtype=np.float64)
        # Rewards in tens (a success bonus) train poorly unscaled: the network learns Q / scale.
        scale = float(max(np.abs(reward[valid]).max(), 1e-8))
        for k in range(self.n_folds):
            train = folds != k if self.n_folds > 1 else np.ones(n, dtype=bool)
            test = folds == k
            net = self._fit(
                torch,
                obs[train],
                action[train],
                reward[train] / scale,
                dist[train],
                valid[train],
                k,
            )
            with torch.no_grad():
                x = torch.as_tensor(obs[test].reshape(-1, obs.shape[2]), dtype=torch.float32)
                q = net(x).double().numpy().reshape(int(test.sum()), h, -1)
            out[test] = np.where(valid[test][..., None], q * scale, 0.0)
        return out

    def _fit(self, torch, obs, action, reward, dist, valid, fold: int):
        n, h, d = obs.shape
        n_actions = dist.shape[2]
        seed = np.random.SeedSequence([self.seed, fold]).generate_state(2, np.uint32)
        gen = torch.Generator().manual_seed(int(seed[0]) << 31 | int(seed[1]) >> 1)
        net = _mlp(torch, [d, *self.hidden, n_actions], gen)
        opt = torch.optim.Adam(net.parameters(), lr=self.learning_rate)

        rows = np.flatnonzero(valid.reshape(-1))
        s = torch.as_tensor(obs.reshape(-1, d)[rows], dtype=torch.float32)
        a = torch.as_tensor(action.reshape(-1)[rows].astype(np.int64))
        r = torch.as_tensor(reward.reshape(-1)[rows], dtype=torch.float32)
        nxt_valid = np.concatenate([valid[:, 1:], np.zeros((n, 1), dtype=bool)], axis=1)
        has_next = torch.as_tensor(nxt_valid.reshape(-1)[rows])
        nxt_rows = np.minimum(rows + 1, n * h - 1)  # row-major: t+1 is the next row
        s_next = torch.as_tensor(obs.reshape(-1, d)[nxt_rows], dtype=torch.float32)
        pi_next = torch.as_tensor(dist.reshape(-1, n_actions)[nxt_rows], dtype=torch.float32)
        iterations = self.iterations or int(valid.sum(1).max()) + 2
        m = len(rows)
        for _ in range(iterations):
            with torch.no_grad():
                v_next = (net(s_next) * pi_next).sum(1)
                y = r + self.gamma * torch.where(has_next, v_next, torch.zeros_like(v_next))
            for _ in range(self.epochs):
                perm = torch.randperm(m, generator=gen)
                for i in range(0, m, self.batch_size):
                    idx = perm[i : i + self.batch_size]
                    pred = net(s[idx]).gather(1, a[idx, None]).squeeze(1)
                    loss = torch.nn.functional.mse_loss(pred, y[idx])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
        net.eval()
        return net


def _mlp(torch, sizes: list[int], gen):
    """ReLU MLP initialised from ``gen`` only (orthogonal weights, zero biases)."""
    nn = torch.nn
    layers = []
    for i in range(len(sizes) - 1):
        layer = torch.nn.utils.skip_init(nn.Linear, sizes[i], sizes[i + 1])
        with torch.no_grad():
            gain = 1.0 if i == len(sizes) - 2 else 2**0.5
            nn.init.orthogonal_(layer.weight, gain, gen)
            layer.bias.zero_()
        layers.append(layer)
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)
