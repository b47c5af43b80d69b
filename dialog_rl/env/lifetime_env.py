"""The lifetime environment: one episode is one customer's whole sequence of conversations.

Each step is still one agent turn. When a conversation ends, the customer scores it (hidden), and
either comes back some days later (the next conversation starts in the same step, with the
customer's patience and cooperativeness shifted by their trust) or is gone. Rewards are discounted
by the day they happen, so an episode's return is the customer's lifetime value. A customer who
does not come back terminates the episode; the day horizon or the visit cap truncates it.

The observation is the conversation's observation plus what a CRM shows about this customer:
how many visits, how long they have been a customer, and how their last visit ended.

Draws are keyed like the conversation's (``dialog_rl.counter_rng``): the persona by the
lifetime's seed, each visit's conversation seed and return gap by the visit's number.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from dialog_rl.counter_rng import LIFETIME, categorical, key64
from dialog_rl.domain import Domain
from dialog_rl.env.dialogue_env import DialogueEnv
from dialog_rl.env.featurizer import ObservationSpec
from dialog_rl.numerics import NumericalError, check_reward
from simulators.lifetime import CustomerHistory, next_visit, satisfaction, visit_modifiers

HISTORY_FEATURES = (
    "life.visit",
    "life.day",
    "life.last_success",
    "life.last_failure",
    "life.last_handover",
)


class LifetimeEnv(gym.Env):
    """Customers who come back; needs a scenario with a ``lifetime`` section.

    Args are those of ``DialogueEnv``.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        domain: Domain,
        noise: float | None = None,
        channel: str = "act",
        text: bool = False,
        max_turns: int | None = None,
        render_mode: str | None = None,
    ) -> None:
        if domain.lifetime is None:
            raise ValueError(
                f"scenario {domain.name!r} has no `lifetime` section: returning customers are off"
            )
        self.domain = domain
        self.params = domain.lifetime
        self.conv = DialogueEnv(domain, noise, channel, text, max_turns, render_mode)
        self.noise = self.conv.noise
        self.render_mode = render_mode
        base = self.conv.spec_obs
        self.spec_obs = ObservationSpec(base.names + HISTORY_FEATURES, base.action_names)
        self.observation_space = gym.spaces.Box(0.0, 1.0, (self.spec_obs.size,), dtype=np.float32)
        self.action_space = self.conv.action_space
        self.history = CustomerHistory()
        self.visit = 0
        self.reset_seed: int | None = None

    @property
    def user(self):
        """The simulated customer of the current conversation."""
        return self.conv.user

    @property
    def tracker(self):
        return self.conv.tracker

    def mask_reasons(self) -> list[str]:
        return self.conv.mask_reasons()

    def action_masks(self) -> np.ndarray:
        """The actions allowed now, as booleans (for ``sb3_contrib.MaskablePPO``)."""
        return self.conv.action_masks()

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        if seed is None:
            seed = int(self.np_random.integers(1 << 63))
        self.reset_seed = seed
        d = self.domain
        self.history = CustomerHistory()
        self.visit = 0
        self._identity: dict[int, int] = {}
        self._last = (0.0, 0.0, 0.0)
        self._turns = 0
        self._conversations: list[dict] = []
        cdf = np.cumsum(np.asarray(d.persona_weights, dtype=np.float64))
        self.persona = int(categorical(cdf, np.uint64(seed), LIFETIME, 0, 0))
        obs, info = self._start_conversation()
        return obs, info

    def _key(self, k: int) -> int:
        """Draw ``k`` of the current visit (1: the conversation's seed, 2: the return gap)."""
        return int(key64(np.uint64(self.reset_seed), LIFETIME, self.visit, k) >> np.uint64(1))

    def _start_conversation(self) -> tuple[np.ndarray, dict]:
        patience, cooperation = visit_modifiers(self.params, self.history.trust)
        options = {
            "persona": self.persona,
            "patience_scale": patience,
            "cooperativeness_shift": cooperation,
            # the same person comes back: their persistent slots (an email) stay theirs
            "fixed": self._identity,
        }
        obs, info = self.conv.reset(seed=self._key(1), options=options)
        if self.visit == 0:
            goal = self.conv.user.goal
            self._identity = {
                s: goal.constraints[s] for s in self.params.persistent if goal.constraints[s] >= 0
            }
        info["visit"] = self.visit
        return self._observe(obs), info

    def _observe(self, conv_obs: np.ndarray) -> np.ndarray:
        p = self.params
        extra = np.array(
            [
                min(self.visit / p.max_visits, 1.0),
                min(self.history.day / p.horizon_days, 1.0),
                *self._last,
            ],
            dtype=np.float32,
        )
        return np.concatenate([conv_obs, extra])

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        p = self.params
        try:
            obs, reward, terminated, truncated, info = self.conv.step(action)
        except NumericalError as err:
            # the episode is the lifetime: name its turn and seed, and the visit within it
            err.what = f"{err.what} (visit {self.visit})"
            err.turn, err.seed = self._turns, self.reset_seed
            raise
        reward *= p.day_discount**self.history.day
        self.history.value += reward
        check_reward(reward, self._turns, self.reset_seed)
        self._turns += 1
        info["visit"] = self.visit
        if not (terminated or truncated):
            return self._observe(obs), reward, False, False, info

        outcome = info.pop("outcome")
        annoyances = self.conv.user.annoyances
        score = satisfaction(p, outcome, annoyances, self.persona)
        self._conversations.append(
            {**outcome, "annoyances": annoyances, "satisfaction": score, "day": self.history.day}
        )
        self._last = (
            float(outcome["success"]),
            float(not outcome["success"] and not outcome["handover"]),
            float(outcome["handover"]),
        )
        self.history.visits += 1
        gap = next_visit(p, self.history, score, np.random.Generator(np.random.PCG64(self._key(2))))
        info["conversation"] = self._conversations[-1]
        if gap is None:
            info["outcome"] = self.outcome(churned=True)
            return self._observe(obs), reward, True, False, info
        if self.history.day + gap > p.horizon_days or self.history.visits >= p.max_visits:
            info["outcome"] = self.outcome(churned=False)
            return self._observe(obs), reward, False, True, info
        self.history.day += gap
        self.visit += 1
        obs, start_info = self._start_conversation()
        # The step's info describes the turn that just ended; the next visit's opening words and
        # mask are what the agent acts on next.
        info.update(
            action_mask=start_info["action_mask"],
            next_user_acts=start_info["user_acts"],
            next_user_text=start_info["user_text"],
            next_observed_acts=start_info["observed_acts"],
        )
        return obs, reward, False, False, info

    def outcome(self, churned: bool) -> dict:
        """A lifetime's summary: visits, retention, value, per-conversation success."""
        convs = self._conversations
        successes = sum(c["success"] for c in convs)
        return {
            "visits": len(convs),
            "persona": self.domain.personas[self.persona].name,
            "returned": len(convs) > 1,
            "churned": churned,
            "lifetime_value": self.history.value,
            "days": self.history.day,
            "conversation_success": successes / len(convs),
            "successes": successes,
            "turns": self._turns,
            "reward": self.history.value,
            "success": successes == len(convs),
            "outcome": "churned" if churned else "retained",
            "hangup": any(c["hangup"] for c in convs),
            "handover": any(c["handover"] for c in convs),
            "truncated": not churned,
        }

    def render(self) -> str | None:
        return self.conv.render()
