"""A trained policy on an observation that differs from its own by customer-history features.

The lifetime environment's observation is the conversation's plus the ``life.*`` features of the
customer's history (``dialog_rl.env.lifetime_env.HISTORY_FEATURES``). A policy trained on single
conversations has never seen those, and one trained on lifetimes expects them. Rather than
refuse either, ``RemappedPolicy`` hands the policy the features it was trained on, by name:
history features the environment does not have are 0, which is exactly what the lifetime
environment shows at a customer's first visit (no visits before, day 0, no last outcome), so a
single conversation is a new customer's first visit. Only ``life.*`` features may differ; a spec
that differs in anything else (or in the action catalog) is not the same problem and is refused.
"""

from __future__ import annotations

import numpy as np

from dialog_rl.env.featurizer import ObservationSpec
from dialog_rl.policies.base import Decision, Policy

#: names of the features a remapping may drop or fill in
HISTORY_PREFIX = "life."


def feature_map(saved: ObservationSpec, env: ObservationSpec) -> np.ndarray:
    """For each feature the policy was trained on, its index in the environment's observation
    (-1: a history feature the environment lacks, shown as 0). Raises ValueError if the specs
    differ by more than history features."""
    if saved.action_names != env.action_names:
        raise ValueError("the action catalogs differ")
    position = {name: i for i, name in enumerate(env.names)}
    core = [n for n in saved.names if not n.startswith(HISTORY_PREFIX)]
    env_core = [n for n in env.names if not n.startswith(HISTORY_PREFIX)]
    if core != env_core:
        missing = sorted(set(core) - set(env_core)) or sorted(set(env_core) - set(core))
        what = f"feature {missing[0]!r}" if missing else "the order of features"
        raise ValueError(f"they differ in {what}, not only in customer-history (life.*) features")
    return np.array([position.get(n, -1) for n in saved.names], dtype=np.int64)


class RemappedPolicy(Policy):
    """``policy`` acting on observations of another spec, through ``feature_map``'s index.

    ``act_batch`` is the base class's row-by-row loop over ``act``: batched rollouts hand
    array-backed random streams to any policy that overrides it, and a wrapped policy without
    an override of its own could not draw from those.
    """

    def __init__(self, policy: Policy, index: np.ndarray) -> None:
        self.policy = policy
        self.index = np.asarray(index, dtype=np.int64)
        self._present = np.flatnonzero(self.index >= 0)
        self._source = self.index[self._present]
        self._complete = len(self._present) == len(self.index)
        self.name = policy.name
        self.stochastic = policy.stochastic

    def observe(self, obs: np.ndarray) -> np.ndarray:
        """The observation (or rows of observations) as the policy was trained to see it."""
        obs = np.asarray(obs)
        if self._complete:
            return obs[..., self.index]
        out = np.zeros((*obs.shape[:-1], len(self.index)), dtype=obs.dtype)
        out[..., self._present] = obs[..., self._source]
        return out

    def distribution(
        self, obs: np.ndarray, mask: np.ndarray, explore: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        return self.policy.distribution(self.observe(obs), mask, explore)

    def act(
        self,
        obs: np.ndarray,
        mask: np.ndarray,
        *,
        explore: bool = True,
        rng: np.random.Generator | None = None,
    ) -> Decision:
        return self.policy.act(self.observe(obs), mask, explore=explore, rng=rng)

    def config(self) -> dict:
        return self.policy.config()

    def __getattr__(self, name: str):
        # anything else (algo, epsilon, ...) is the wrapped policy's; __getattr__ only runs for
        # names not found on the wrapper, and "policy" is set first thing in __init__
        if name == "policy":
            raise AttributeError(name)
        return getattr(self.policy, name)
