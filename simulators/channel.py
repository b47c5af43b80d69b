"""The act-level noise channel: what the agent observes of what the customer meant.

Each user act is corrupted with the scenario's semantic error rate (PyDial benchmarks 0%, 15%,
30%). A corruption confuses the act type, the slot or the value, in the scenario's proportions.
Every observed act gets a confidence score drawn from one Beta distribution for intact acts and
another for corrupted ones, so confidence is informative but not a giveaway. Hang-ups and good-byes
pass intact: the line going dead is not a matter of interpretation.
"""

from __future__ import annotations

import numpy as np

from dialog_rl.acts import AFFIRM, BYE, HANGUP, INFORM, NEGATE, REQUEST, ObservedAct, UserAct
from dialog_rl.scenario import Domain

_CONFUSABLE_TYPES = (INFORM, REQUEST, AFFIRM, NEGATE)


class NoiseChannel:
    """Corrupts user acts at ``error_rate`` and attaches confidence scores."""

    def __init__(self, domain: Domain, error_rate: float | None = None) -> None:
        self.domain = domain
        self.error_rate = domain.error_rate if error_rate is None else float(error_rate)
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError(f"noise must be between 0 and 1, got {self.error_rate}")
        self._p_act, self._p_slot, _ = domain.confusion
        self._n_values = [len(v) + 1 for v in domain.inf_values]  # + dontcare
        self._kb_or_task = [s for s in range(domain.n_inf)]

    def __call__(self, acts: list[UserAct], rng: np.random.Generator) -> list[ObservedAct]:
        d = self.domain
        out: list[ObservedAct] = []
        rate = self.error_rate
        for act in acts:
            kind = act[0]
            if kind in (HANGUP, BYE) or rate == 0.0 or rng.random() >= rate:
                a, b = d.conf_correct
                out.append((act[0], act[1], act[2], float(rng.beta(a, b))))
                continue
            a, b = d.conf_wrong
            out.append((*self._corrupt(act, rng), float(rng.beta(a, b))))
        return out

    def _corrupt(self, act: UserAct, rng: np.random.Generator) -> UserAct:
        kind, slot, value = act
        u = rng.random()
        if u < self._p_slot + self._p_act and u >= self._p_act:
            if kind == INFORM and self.domain.n_inf > 1:
                s = int(rng.integers(self.domain.n_inf - 1))
                s = s + 1 if s >= slot else s
                return (INFORM, s, int(rng.integers(self._n_values[s])))
            if kind == REQUEST and self.domain.n_req > 1:
                r = int(rng.integers(self.domain.n_req - 1))
                return (REQUEST, r + 1 if r >= slot else r, -1)
        elif u >= self._p_slot + self._p_act and kind == INFORM and self._n_values[slot] > 1:
            v = int(rng.integers(self._n_values[slot] - 1))
            return (INFORM, slot, v + 1 if v >= value else v)
        return self._random_act(kind, rng)

    def _random_act(self, not_kind: int, rng: np.random.Generator) -> UserAct:
        """An act of another type, with a random slot and value where it needs them."""
        d = self.domain
        choices = [k for k in _CONFUSABLE_TYPES if k != not_kind and (k != REQUEST or d.n_req)]
        kind = choices[int(rng.integers(len(choices)))]
        if kind == INFORM:
            s = int(rng.integers(d.n_inf))
            return (INFORM, s, int(rng.integers(self._n_values[s])))
        if kind == REQUEST:
            return (REQUEST, int(rng.integers(d.n_req)), -1)
        return (kind, -1, -1)
