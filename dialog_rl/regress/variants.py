"""Policy names the gate understands: built-ins, run directories, and degraded rule variants.

A name is ``BASE[:OPTION[:OPTION...]]``. ``BASE`` is whatever ``make_policy`` accepts (``random``,
``rule``, a run directory). Options apply to the rule policy only:

- ``noconfirm``: never confirms a slot, however unsure it is;
- ``early-handover``: hands the customer to a human at the first sign of trouble (when the rule
  would confirm a doubtful slot or offer again after a rejection);
- ``eps=X``: ε-soft: a uniformly random allowed action with probability X;
- ``confirm-below=X``: confirm slots heard with confidence below X (the rule's default is 0.6).

The degraded variants exist so that a regression gate can be shown to catch a real regression;
they are subclasses, so ``RulePolicy`` itself is untouched.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dialog_rl.acts import SYS_CONFIRM, SYS_HANDOVER, SYS_OFFER
from dialog_rl.domain import Domain
from dialog_rl.env.featurizer import ObservationSpec
from dialog_rl.policies import Policy, PolicyError, RulePolicy, make_policy

VARIANTS = ("noconfirm", "early-handover")
PARAMETERS = ("eps", "confirm-below")


class NoConfirmRule(RulePolicy):
    """The rule policy with its confirmations removed: it trusts whatever it heard."""

    name = "rule:noconfirm"

    def __init__(self, domain: Domain, spec: ObservationSpec, epsilon: float = 0.0) -> None:
        # A confidence is never below 0, so the rule's "confirm a doubtful slot" never fires.
        super().__init__(domain, spec, confirm_below=0.0, epsilon=epsilon)

    def config(self) -> dict:
        return {**super().config(), "variant": "noconfirm"}


class EarlyHandoverRule(RulePolicy):
    """The rule policy that gives up too soon: a doubtful slot or a rejected offer means hand-over.

    In a scenario without a hand-over action it is the plain rule policy.
    """

    name = "rule:early-handover"

    def __init__(
        self,
        domain: Domain,
        spec: ObservationSpec,
        confirm_below: float = 0.6,
        epsilon: float = 0.0,
    ) -> None:
        super().__init__(domain, spec, confirm_below=confirm_below, epsilon=epsilon)
        handovers = [a for a, k in enumerate(domain.act_kind) if k == SYS_HANDOVER]
        self._handover = handovers[0] if handovers else -1

    def rule_action(self, obs: np.ndarray, mask: np.ndarray) -> int:
        a = super().rule_action(obs, mask)
        if self._handover < 0 or not mask[self._handover]:
            return a
        kind = self.domain.act_kind[a]
        if kind == SYS_CONFIRM or (kind == SYS_OFFER and obs[self._f_rejected] > 0):
            return self._handover
        return a

    def config(self) -> dict:
        return {**super().config(), "variant": "early-handover"}


def resolve_policy(name: str, domain: Domain, spec: ObservationSpec) -> Policy:
    """The policy a gate name stands for (see the module docstring); bad names raise PolicyError."""
    if ":" not in name or Path(name).exists():
        return make_policy(name, domain, spec)
    base, *options = name.split(":")
    if base != "rule":
        raise PolicyError(
            f"policy {name!r}: options after ':' apply to the rule policy only "
            f"(e.g. rule:noconfirm, rule:early-handover, rule:eps=0.1)"
        )
    variant = None
    params: dict[str, float] = {}
    for opt in options:
        if "=" in opt:
            key, _, text = opt.partition("=")
            if key not in PARAMETERS:
                raise PolicyError(
                    f"policy {name!r}: unknown option {key!r}; known: {', '.join(PARAMETERS)}"
                )
            try:
                value = float(text)
            except ValueError:
                raise PolicyError(
                    f"policy {name!r}: {key} must be a number, got {text!r}"
                ) from None
            if not 0.0 <= value <= 1.0:
                raise PolicyError(f"policy {name!r}: {key} must be between 0 and 1, got {value}")
            params[key] = value
        elif opt in VARIANTS:
            if variant is not None:
                raise PolicyError(f"policy {name!r}: choose one of {', '.join(VARIANTS)}")
            variant = opt
        else:
            raise PolicyError(
                f"policy {name!r}: unknown variant {opt!r}; known: {', '.join(VARIANTS)}, "
                f"or {', '.join(p + '=X' for p in PARAMETERS)}"
            )
    eps = params.get("eps", 0.0)
    if variant == "noconfirm":
        if "confirm-below" in params:
            raise PolicyError(f"policy {name!r}: noconfirm and confirm-below contradict each other")
        return NoConfirmRule(domain, spec, epsilon=eps)
    confirm_below = params.get("confirm-below", 0.6)
    if variant == "early-handover":
        return EarlyHandoverRule(domain, spec, confirm_below=confirm_below, epsilon=eps)
    return RulePolicy(domain, spec, confirm_below=confirm_below, epsilon=eps)
