"""The dialogue environment: a Gymnasium Env in which each step is one agent turn.

reset() brings a new customer (hidden goal and persona) whose opening words are the first
observation; step(action) says the agent's act, lets the customer answer through the channel, and
updates the tracker. Success, a hang-up, a hand-over or a good-bye terminate; the turn limit
truncates. The observation is computed from the tracker alone, never from the goal.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from dialog_rl.acts import SYS_CONFIRM, SYS_OFFER, format_user_acts
from dialog_rl.domain import first_match, system_text
from dialog_rl.env.featurizer import Featurizer
from dialog_rl.env.tracker import Tracker
from dialog_rl.numerics import check_features, check_reward
from dialog_rl.scenario import Domain
from simulators.agenda import (
    FAILURE,
    HANDOVER_OUTCOME,
    HANGUP_OUTCOME,
    ONGOING,
    OUTCOME_NAMES,
    SUCCESS,
    AgendaUser,
)
from simulators.channel import NoiseChannel
from simulators.goal import sample_goal
from simulators.nlg import UserNLG

CHANNELS = ("act", "text")
# PCG64 stream increments (odd), one per random stream of an episode
_INC = tuple((0x9E3779B97F4A7C15F39CC0605CEDC835 * (2 * k + 1)) % 2**128 | 1 for k in range(4))


class DialogueEnv(gym.Env):
    """One simulated customer per episode; actions index the scenario's action catalog.

    Args:
        domain: the compiled scenario.
        noise: semantic error rate; defaults to the scenario's.
        channel: "act" (noise on acts; fastest) or "text" (NLG, word noise, then NLU).
        text: realise utterances for info and logs even on the act channel.
        max_turns: turn limit; defaults to the scenario's.
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
        if channel not in CHANNELS:
            raise ValueError(f"channel must be one of {CHANNELS}, got {channel!r}")
        self.domain = domain
        self.noise_channel = NoiseChannel(domain, noise)
        self.noise = self.noise_channel.error_rate
        self.channel = channel
        self.text = text or channel == "text"
        self.max_turns = max_turns or domain.max_turns
        self.render_mode = render_mode
        self.user = AgendaUser(domain)
        self.tracker = Tracker(domain)
        self.featurizer = Featurizer(domain)
        self.spec_obs = self.featurizer.spec
        self.nlg = UserNLG(domain)
        self.nlu = None
        if channel == "text":
            from simulators.nlu import RuleNLU, TextNoise

            self.nlu = RuleNLU(domain)
            self.text_noise = TextNoise(self.noise)
        self.observation_space = gym.spaces.Box(0.0, 1.0, (self.spec_obs.size,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(domain.n_actions)
        self._transcript: list[str] = []
        self.reset_seed: int | None = None
        self._streams = [np.random.Generator(np.random.PCG64(k)) for k in range(4)]
        self._persona_cdf = np.cumsum(domain.persona_weights)

    # -- Gymnasium API -------------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.reset_seed = seed  # named by numerical errors: it reproduces the episode
        # Four independent streams (goal, user, noise, text) drawn from the episode's np_random.
        # Text has its own stream so turning utterances on or off never changes the conversation.
        # Re-seeding preallocated PCG64s is ~20x cheaper than spawning SeedSequences per episode.
        words = self.np_random.bit_generator.random_raw(8).tolist()
        for k, gen in enumerate(self._streams):
            gen.bit_generator.state = {
                "bit_generator": "PCG64",
                "state": {"state": words[2 * k] << 64 | words[2 * k + 1], "inc": _INC[k]},
                "has_uint32": 0,
                "uinteger": 0,
            }
        goal_rng, self.user_rng, self.noise_rng, self.text_rng = self._streams
        options = options or {}
        goal = options.get("goal") or sample_goal(self.domain, goal_rng)
        persona = options.get("persona")
        if persona is None:
            u = goal_rng.random()
            persona = min(
                int(np.searchsorted(self._persona_cdf, u, side="right")), len(self._persona_cdf) - 1
            )
        self.tracker.reset()
        self.turn = 0
        self.episode_reward = 0.0
        acts = self.user.reset(
            self.user_rng,
            goal=goal,
            persona=persona,
            patience_scale=options.get("patience_scale", 1.0),
            cooperativeness_shift=options.get("cooperativeness_shift", 0.0),
        )
        observed, user_text = self._hear(acts)
        self.tracker.observe(observed)
        self._transcript = [f"USER: {user_text}"] if self.text else []
        info = {
            "action_mask": self.featurizer.mask(self.tracker),
            "user_acts": acts,
            "observed_acts": observed,
            "user_text": user_text,
        }
        obs = self.featurizer.observe(self.tracker)
        check_features(obs, self.spec_obs.names, 0, seed)
        return obs, info

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        d = self.domain
        action = int(action)
        if not 0 <= action < d.n_actions:
            raise ValueError(f"action {action} is outside the catalog of {d.n_actions} actions")
        if self.user.outcome != ONGOING or self.turn >= self.max_turns:
            raise RuntimeError("step() called on a finished conversation; call reset() first")
        tr = self.tracker
        kind = d.act_kind[action]
        value, entity = -1, tr.offered
        if kind == SYS_OFFER:
            entity = first_match(d, tr.values, exclude=tr.rejected)
        elif kind == SYS_CONFIRM:
            slot = d.act_slot[action]
            value = tr.values[slot] if tr.values[slot] >= 0 else d.dontcare(slot)
        system = ""
        if self.text:
            template = int(self.text_rng.integers(1 << 16))
            system = system_text(d, action, value, entity, template, tr.values)
        tr.system_act(action, value, entity)
        acts = self.user.respond(action, value, entity, tr.values)
        observed, user_text = self._hear(acts)
        tr.observe(observed)
        self.turn += 1

        outcome = self.user.outcome
        terminated = outcome != ONGOING
        truncated = not terminated and self.turn >= self.max_turns
        reward = d.r_turn
        if outcome == SUCCESS:
            reward += d.r_success
        elif outcome in (FAILURE, HANGUP_OUTCOME):
            reward += d.r_failure
        elif outcome == HANDOVER_OUTCOME:
            reward += d.r_handover
        self.episode_reward += reward
        if self.text:
            self._transcript += [f"AGENT: {system}", f"USER: {user_text}"]
        info = {
            "action_mask": self.featurizer.mask(tr),
            "user_acts": acts,
            "observed_acts": observed,
            "system_text": system,
            "user_text": user_text,
        }
        check_reward(reward, self.turn - 1, self.reset_seed)
        if terminated or truncated:
            info["outcome"] = self.outcome()
        obs = self.featurizer.observe(tr)
        check_features(obs, self.spec_obs.names, self.turn, self.reset_seed)
        return obs, float(reward), terminated, truncated, info

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return "\n".join(self._transcript) + "\n"
        return None

    # -- helpers -------------------------------------------------------------------------------

    def _hear(self, acts: list) -> tuple[list, str]:
        """Pass the customer's acts through the channel; returns observed acts and utterance."""
        text = ""
        if self.text:
            text = self.nlg.realise(acts, self.text_rng, self.user.persona.verbosity)
        if self.channel == "text":
            heard = self.text_noise(text, self.noise_rng)
            return self.nlu.parse(heard), text
        return self.noise_channel(acts, self.noise_rng), text

    def outcome(self) -> dict:
        """How the conversation ended, judged against the hidden goal (for evaluation only)."""
        u = self.user
        ended = u.outcome != ONGOING
        return {
            "success": u.outcome == SUCCESS,
            "outcome": OUTCOME_NAMES[u.outcome] if ended else "truncated",
            "turns": self.turn,
            "reward": self.episode_reward,
            "hangup": u.outcome == HANGUP_OUTCOME,
            "handover": u.outcome == HANDOVER_OUTCOME,
            "truncated": not ended,
        }

    def mask_reasons(self) -> list[str]:
        return self.featurizer.mask_reasons(self.tracker)

    def action_masks(self) -> np.ndarray:
        """The actions allowed now, as booleans (``info["action_mask"]`` of the last observation).

        The name is the one ``sb3_contrib.MaskablePPO`` looks for, so it trains on this env (or
        ``gymnasium.make`` of it) with the mask and no wrapper.
        """
        return self.featurizer.mask(self.tracker).astype(bool)

    def describe_acts(self, acts: list) -> str:
        return format_user_acts(self.domain, acts)
