"""Play the customer: a person's typed utterances drive the environment instead of the simulator.

The agent still decides from the tracker's belief, exactly as with the simulated customer; only
the source of the customer's words changes: typed text goes through the text-level NLU
(``simulators.nlu.RuleNLU``) and the acts it returns update the tracker. There is no hidden goal,
so the outcome is read from what the person says: a good-bye (or thanks when the agent closes)
is a success, a hang-up is a hang-up, and the turn limit truncates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dialog_rl.acts import BYE, HANGUP, SYS_BYE, SYS_HANDOVER, THANK
from dialog_rl.domain import Domain, system_text
from dialog_rl.env import DialogueEnv


def utterance(env: DialogueEnv, action: int) -> tuple[str, int, int]:
    """What the agent says for ``action`` in the env's current state: text, value, entity.

    Pure: it changes nothing. The template is picked by turn number (not drawn), so a replayed
    conversation with a typed customer reads word for word the same.
    """
    value, entity = env.tracker.act_arguments(action)
    text = system_text(env.domain, action, value, entity, env.turn, env.tracker.values)
    return text, value, entity


class NLUMissing(RuntimeError):
    """The text-level NLU is not installed, so typed customer utterances cannot be understood."""


def load_nlu(domain: Domain) -> object:
    """The scenario's rule NLU, or NLUMissing with a message the UI can show."""
    try:
        from simulators.nlu import RuleNLU
    except ImportError as err:
        raise NLUMissing(
            "play-the-customer mode needs the text-level NLU (simulators/nlu.py), "
            f"which is not available: {err}"
        ) from None
    return RuleNLU(domain)


@dataclass(frozen=True)
class Heard:
    """What the agent understood of one typed utterance."""

    text: str
    observed: list
    """Observed acts ``(type, slot, value, confidence)`` from the NLU."""


class TypedCustomer:
    """Steps a DialogueEnv's tracker with typed text; the env's simulated customer stays silent.

    Call ``open(text)`` once after ``env.reset``, then ``say(action)`` and ``hear(text)`` per turn.
    """

    def __init__(self, env: DialogueEnv, nlu: object) -> None:
        self.env = env
        self.nlu = nlu
        self.ended = ""
        self._thanked = False
        self._pending: tuple[int, int, int] | None = None

    def open(self, text: str) -> Heard:
        """The customer's opening words; replaces the simulated opening."""
        env = self.env
        env.tracker.reset()
        env.turn = 0
        env.episode_reward = 0.0
        self.ended = ""
        heard = self._parse(text, None)
        env.tracker.observe(heard.observed)
        return heard

    def say(self, action: int) -> str:
        """The agent's act, as an utterance; the customer's reply comes with ``hear``."""
        text, value, entity = utterance(self.env, action)
        self.env.tracker.system_act(action, value, entity)
        self._pending = (action, value, entity)
        return text

    def hear(self, text: str) -> tuple[Heard, float, bool, bool]:
        """The customer's typed reply: returns what was heard, reward, terminated, truncated."""
        if self._pending is None:
            raise RuntimeError("hear() needs the agent to say() something first")
        env = self.env
        d = env.domain
        action = self._pending[0]
        self._pending = None
        kind = d.act_kind[action]
        heard = self._parse(text, env.tracker.dom)
        env.tracker.observe(heard.observed)
        env.turn += 1
        types = {a[0] for a in heard.observed}
        if THANK in types:
            self._thanked = True
        if kind == SYS_HANDOVER:
            self.ended = "handover"
        elif HANGUP in types:
            self.ended = "hangup"
        elif BYE in types or kind == SYS_BYE:
            self.ended = "success" if (BYE in types or self._thanked) else "failure"
        reward = d.r_turn
        if self.ended == "success":
            reward += d.r_success
        elif self.ended in ("failure", "hangup"):
            reward += d.r_failure
        elif self.ended == "handover":
            reward += d.r_handover
        env.episode_reward += reward
        terminated = bool(self.ended)
        truncated = not terminated and env.turn >= env.max_turns
        return heard, float(reward), terminated, truncated

    def outcome(self) -> dict:
        env = self.env
        return {
            "success": self.ended == "success",
            "outcome": self.ended or ("truncated" if env.turn >= env.max_turns else "ongoing"),
            "turns": env.turn,
            "reward": env.episode_reward,
            "hangup": self.ended == "hangup",
            "handover": self.ended == "handover",
            "truncated": not self.ended and env.turn >= env.max_turns,
        }

    def mask(self) -> np.ndarray:
        return self.env.refresh()[1]

    def _parse(self, text: str, domain_hint: int | None) -> Heard:
        """What the NLU reads in ``text``; ``domain_hint``: the tracker's active domain, for a
        value several domains share ("north"), None before the customer's first words."""
        observed = list(self.nlu.parse(text, domain_hint=domain_hint)) if text.strip() else []
        return Heard(text, observed)
