"""The random baseline and the handcrafted rule policy.

The rule policy is the one a competent engineer writes, driven by the scenario (no per-domain
code): answer pending questions, ask for what narrows the search (and what the task requires),
confirm what was heard with low confidence, offer, do the task, then ask if there is more.
It reads the observation by feature name through the ``ObservationSpec``.
"""

from __future__ import annotations

import numpy as np

from dialog_rl.env.featurizer import ObservationSpec
from dialog_rl.policies.base import Decision, Policy, epsilon_soft, uniform
from dialog_rl.scenario import Domain


class RandomPolicy(Policy):
    """Uniform over the allowed actions."""

    name = "random"
    stochastic = True

    def __init__(self, domain: Domain) -> None:
        self.n_actions = domain.n_actions

    def distribution(self, obs, mask, explore=True):
        probs = uniform(mask)
        return probs, probs


class RulePolicy(Policy):
    """Handcrafted dialogue manager; with ``epsilon`` > 0 it is ε-soft (for logging data for OPE).

    Args:
        domain: the compiled scenario.
        spec: the observation spec of the environment.
        confirm_below: confirm a slot heard with less confidence than this.
        epsilon: probability of a uniformly random allowed action instead of the rule's.
    """

    name = "rule"

    def __init__(
        self,
        domain: Domain,
        spec: ObservationSpec,
        confirm_below: float = 0.6,
        epsilon: float = 0.0,
    ) -> None:
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
        self.domain = domain
        self.confirm_below = confirm_below
        self.epsilon = epsilon
        self.stochastic = epsilon > 0
        d = domain
        ix = spec.index
        act = {n: i for i, n in enumerate(d.act_names)}
        self._n = d.n_actions
        # (feature index of known, conf, confirmed, dontcare, asked; request action; confirm action)
        self._slots = [
            (
                ix(f"{name}.known"),
                ix(f"{name}.conf"),
                ix(f"{name}.confirmed"),
                ix(f"{name}.dontcare"),
                ix(f"{name}.asked"),
                act.get(f"request({name})", -1),
                act.get(f"confirm({name})", -1),
            )
            for s, name in enumerate(d.inf_names)
            if s != d.task_slot
        ]
        self._requests = [
            (ix(f"{name}.requested"), act[f"inform({name})"])
            for name in d.req_names
            if f"inform({name})" in act
        ]
        self._tasks = [
            (
                ix(f"task.is_{t}"),
                act[f"perform({t})"],
                [d.inf_names[s] for s in d.act_requires[act[f"perform({t})"]]],
            )
            for t in d.task_names
        ]
        self._offer = act.get("offer", -1)
        self._offer_requires = (
            set(d.inf_names[s] for s in d.act_requires[self._offer]) if self._offer >= 0 else set()
        )
        self._reqmore = act.get("reqmore", -1)
        self._bye = act.get("bye", -1)
        self._f_made = ix("offer.made")
        self._f_matches = ix("offer.matches_belief")
        self._f_rejected = ix("offer.rejected")
        self._f_no_match = ix("offer.no_match")
        self._f_performed = ix("task.performed")
        self._f_few = (ix("matches_0"), ix("matches_1"))
        self._f_last_reqmore = ix("last.reqmore")
        self._slot_by_name = {
            d.inf_names[s]: i for i, s in enumerate(r for r in range(d.n_inf) if r != d.task_slot)
        }

    def config(self) -> dict:
        return {"confirm_below": self.confirm_below, "epsilon": self.epsilon}

    def rule_action(self, obs: np.ndarray, mask: np.ndarray) -> int:
        """The action the rules pick (always an allowed one)."""
        ok = mask.__getitem__
        offer_live = (
            obs[self._f_made] > 0 and obs[self._f_rejected] == 0 and obs[self._f_matches] > 0
        )
        # 1. answer the customer's questions about the entity on offer
        if offer_live:
            for f_req, a in self._requests:
                if obs[f_req] > 0 and ok(a):
                    return a
        few = obs[self._f_few[0]] > 0 or obs[self._f_few[1]] > 0
        task_required: set[str] = set(self._offer_requires)
        believed_task = -1
        for i, (f_task, _, requires) in enumerate(self._tasks):
            if obs[f_task] > 0:
                believed_task = i
                task_required.update(requires)
        # 2. ask for what narrows the search or what the task needs
        for name, i in self._slot_by_name.items():
            f_known, _, _, _, f_asked, a_req, _ = self._slots[i]
            if a_req < 0 or obs[f_known] > 0 or not ok(a_req) or obs[f_asked] >= 2 / 3 - 1e-6:
                continue
            if not few or name in task_required:
                return a_req
        # 3. confirm what was heard with low confidence
        for f_known, f_conf, f_confirmed, f_dontcare, _, _, a_conf in self._slots:
            if (
                a_conf >= 0
                and obs[f_known] > 0
                and obs[f_confirmed] == 0
                and obs[f_dontcare] == 0
                and obs[f_conf] < self.confirm_below
                and ok(a_conf)
            ):
                return a_conf
        # 4. offer (again) if nothing valid is on offer
        if self._offer >= 0 and not offer_live and ok(self._offer):
            return self._offer
        # 5. do the task
        if believed_task >= 0 and obs[self._f_performed] == 0:
            a = self._tasks[believed_task][1]
            if ok(a):
                return a
        # 6. anything else? then close
        if self._reqmore >= 0 and obs[self._f_last_reqmore] == 0 and ok(self._reqmore):
            return self._reqmore
        if self._bye >= 0 and ok(self._bye):
            return self._bye
        return int(np.flatnonzero(mask)[0])

    def act(self, obs, mask, *, explore=True, rng=None):
        if explore and self.epsilon > 0:
            return super().act(obs, mask, explore=explore, rng=rng)
        a = self.rule_action(obs, mask)
        onehot = np.zeros(self._n)
        onehot[a] = 1.0
        return Decision(a, 1.0, onehot, onehot)

    def distribution(self, obs, mask, explore=True):
        a = self.rule_action(obs, mask)
        scores = np.zeros(self._n)
        scores[a] = 1.0
        if explore and self.epsilon > 0:
            return scores, epsilon_soft(a, mask, self.epsilon)
        return scores, scores.copy()
