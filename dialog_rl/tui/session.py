# Whole on purpose: one class, the replayable Session; what it is made of is in records.py.
"""The TUI's session model: a replayable conversation, overrides, demonstrations, history.

The environment is deterministic given the episode seed and the actions taken, so a conversation
is fully described by ``Conversation`` (which customer, which noise, which actions, typed text);
rewinding to turn k is a reset with the same seed and a replay of the first k choices, and a fork
is a rewind followed by a different action. That small description is also what a saved session
holds (JSON), and what transcripts and Parquet logs are rebuilt from. No textual import here.

In a lifetime session (returning customers, ``LifetimeEnv``) one ``Conversation`` is one
customer's whole lifetime: its choices run on across visits, because the environment starts the
next visit inside the step that ends a conversation. Rewinding across a visit boundary is then
the same replay of a prefix as within one conversation.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dialog_rl.domain import Domain
from dialog_rl.env import DialogueEnv, LifetimeEnv
from dialog_rl.policies import Policy
from dialog_rl.policies.base import sample
from dialog_rl.rollout.runner import episode_seed
from dialog_rl.tui.customer import TypedCustomer, load_nlu, utterance
from dialog_rl.tui.records import Choice, Conversation, DecisionView, Demo, Replayed, Turn
from simulators.lifetime import return_probability

__all__ = [
    "CUSTOMER_LIFETIME",
    "MODES",
    "SESSION_VERSION",
    "Choice",
    "Conversation",
    "DecisionView",
    "Demo",
    "Replayed",
    "Session",
    "SessionError",
    "Turn",
]

SESSION_VERSION = 1
MODES = ("simulate", "customer")
CUSTOMER_LIFETIME = (
    "playing the customer is for single conversations: a returning customer's satisfaction is "
    "the simulator's (start without --lifetime to type the customer's words)"
)


class SessionError(ValueError):
    """A session file that cannot be reopened: names the file and the field."""


class Session:
    """Drives one environment and one policy through replayable conversations.

    Args:
        domain: the compiled scenario.
        policy: the policy that acts (and, if it can, learns from demonstrations).
        policy_name: how the policy was named on the command line (saved with the session).
        seed: the run seed; conversation i uses ``episode_seed(seed, i)`` like a batch run.
        episode: the conversation to start with.
        noise: semantic error rate of the channel (default: the scenario's).
        explore: sample from the policy's exploring distribution instead of acting greedily.
        mode: "simulate" (the simulator plays the customer) or "customer" (a person types).
        nlu: the text NLU for customer mode; loaded on demand when None.
        lifetime: returning customers: each conversation is a customer's lifetime of visits
            (the scenario needs a ``lifetime`` section; a person cannot play the customer).
    """

    def __init__(
        self,
        domain: Domain,
        policy: Policy,
        *,
        policy_name: str = "rule",
        seed: int = 0,
        episode: int = 0,
        noise: float | None = None,
        explore: bool = False,
        mode: str = "simulate",
        nlu: object | None = None,
        lifetime: bool = False,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if lifetime and mode == "customer":
            raise ValueError(CUSTOMER_LIFETIME)
        self.domain = domain
        self.policy = policy
        self.policy_name = policy_name
        self.seed = int(seed)
        self.explore = explore
        self.lifetime = lifetime
        self.env = self._make_env(noise)
        self.life_outcome: dict | None = None
        self.nlu = nlu
        if mode == "customer" and nlu is None:
            self.nlu = load_nlu(domain)
        self.history: list[Conversation] = []
        self.demos: list[Demo] = []
        self.next_episode = episode + 1
        self.conversation = Conversation(episode, self.env.noise, mode)
        self.turns: list[Turn] = []
        self.pending: DecisionView | None = None
        self.typed: TypedCustomer | None = None
        self.dirty = False
        self._replay()

    # -- what the UI reads ---------------------------------------------------------------------

    @property
    def mode(self) -> str:
        return self.conversation.mode

    @property
    def noise(self) -> float:
        return self.conversation.noise

    @property
    def episode(self) -> int:
        return self.conversation.episode

    @property
    def conv_env(self) -> DialogueEnv:
        """The environment of the current conversation (inside the lifetime env, if any)."""
        return self.env.conv if self.lifetime else self.env

    @property
    def visit(self) -> int:
        """The current visit of the customer's lifetime (0 outside lifetime sessions)."""
        return self.env.visit if self.lifetime else 0

    @property
    def day(self) -> float:
        """Day of the current visit since the customer's first (0 outside lifetime sessions)."""
        return float(self.env.history.day) if self.lifetime else 0.0

    @property
    def visit_turns(self) -> list[Turn]:
        """The agent turns of the current visit."""
        return [t for t in self.turns if t.visit == self.visit]

    @property
    def finished(self) -> bool:
        return bool(self.turns) and (self.turns[-1].terminated or self.turns[-1].truncated)

    @property
    def awaiting_opening(self) -> bool:
        """Customer mode before the customer's first words."""
        return self.mode == "customer" and self.conversation.opening is None

    @property
    def customer_words(self) -> tuple[list, list, str]:
        """The customer's latest words: acts said, acts heard (after the channel), text."""
        return self._before

    def outcome(self) -> dict:
        """How the conversation (in a lifetime session, the lifetime so far) has gone."""
        if self.typed is not None:
            return self.typed.outcome()
        if not self.lifetime:
            return self.env.outcome()
        if self.life_outcome is not None:
            return self.life_outcome
        ended = [t.ended for t in self.turns if t.ended is not None]
        successes = sum(e["success"] for e in ended)
        return {
            "visits": len(ended),
            "churned": False,
            "lifetime_value": float(self.env.history.value),
            "days": self.day,
            "successes": successes,
            "turns": len(self.turns),
            "reward": float(self.env.history.value),
            "success": False,
            "outcome": "ongoing",
        }

    def reward(self) -> float:
        """Reward of the current conversation so far (of the current visit, in a lifetime)."""
        return float(self.conv_env.episode_reward)

    def agenda_progress(self) -> tuple[int, int]:
        """(items said, items in all) of the simulated customer's agenda."""
        left = len(self.conv_env.user.agenda)
        return max(self._agenda_total - left, 0), max(self._agenda_total, left)

    def preview(self, action: int) -> str:
        """What the agent would say if it took ``action`` now (changes nothing)."""
        return utterance(self.conv_env, action)[0]

    # -- actions -------------------------------------------------------------------------------

    def step(self, action: int | None = None, text: str | None = None) -> Turn:
        """Take the policy's action, or ``action`` (an override), and hear the customer's reply.

        In customer mode ``text`` is the customer's typed reply, and is required.
        """
        if self.pending is None:
            raise RuntimeError("the conversation has ended; rewind or start a new one")
        overridden = action is not None
        if action is None:
            action = self.pending.action
        action = int(action)
        if not 0 <= action < self.domain.n_actions:
            raise ValueError(f"action {action} is outside the catalog")
        if not self.pending.mask[action]:
            name = self.domain.act_names[action]
            raise ValueError(f"{name} is masked: {self.pending.reasons[action]}")
        if self.mode == "customer" and text is None:
            raise ValueError("in customer mode, step() needs the customer's reply text")
        propensity = 1.0 if overridden else float(self.pending.probs[action])
        if overridden:
            self._add_demo(action)
        choice = Choice(
            action,
            overridden,
            propensity,
            text if self.mode == "customer" else None,
            self.pending.action,
        )
        self.conversation.choices.append(choice)
        self._apply(choice)
        self.dirty = True
        return self.turns[-1]

    def open(self, text: str) -> None:
        """Customer mode: the customer's opening words."""
        if self.mode != "customer":
            raise RuntimeError("open() is for customer mode")
        self.conversation.opening = text
        self.conversation.choices = []
        self.dirty = True
        self._replay()

    def rewind(self, k: int) -> None:
        """Go back to just before agent turn ``k`` (0 = the start); the next action forks."""
        k = max(0, min(int(k), len(self.conversation.choices)))
        self.conversation.choices = self.conversation.choices[:k]
        self._replay()

    def new_conversation(self, same_seed: bool = False) -> None:
        """Start over with the same customer, or with the next one."""
        self._archive()
        ep = self.episode
        if not same_seed:
            ep = self.next_episode
            self.next_episode += 1
        opening = self.conversation.opening if same_seed else None
        self.conversation = Conversation(ep, self.noise, self.mode, opening)
        self._replay()

    def set_noise(self, noise: float) -> None:
        """Change the channel's error rate; restarts the conversation with the same customer."""
        self._set_env_noise(noise)
        self._archive()
        c = self.conversation
        self.conversation = Conversation(c.episode, self.env.noise, c.mode, c.opening)
        self._replay()

    def set_mode(self, mode: str) -> None:
        """Switch between the simulated customer and a person typing; restarts the conversation."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if mode == "customer" and self.lifetime:
            raise ValueError(CUSTOMER_LIFETIME)
        if mode == "customer" and self.nlu is None:
            self.nlu = load_nlu(self.domain)
        self._archive()
        self.conversation = Conversation(self.episode, self.noise, mode)
        self._replay()

    def refresh(self) -> None:
        """Recompute the policy's view of every turn (after the policy has been updated)."""
        self._replay()

    def conversations(self) -> list[Conversation]:
        """Every conversation of the session worth logging, the current one last."""
        current = [self.conversation] if self.conversation.choices else []
        return [*self.history, *current]

    # -- replay --------------------------------------------------------------------------------

    def replay(self, conversation: Conversation) -> Replayed:
        """Any conversation replayed on a scratch environment (the current one is untouched)."""
        scratch = self._scratch(conversation)
        persona = "person" if conversation.mode == "customer" else scratch.env.user.persona.name
        return Replayed(scratch.turns, scratch.outcome(), persona, scratch.finished)

    def _scratch(self, conversation: Conversation) -> Session:
        scratch = Session.__new__(Session)
        scratch.__dict__.update(self.__dict__)
        scratch.env = self._make_env(conversation.noise)
        scratch.conversation = conversation
        scratch._replay()
        return scratch

    def _make_env(self, noise: float | None) -> DialogueEnv | LifetimeEnv:
        if self.lifetime:
            return LifetimeEnv(self.domain, noise=noise, text=True)
        return DialogueEnv(self.domain, noise=noise, text=True)

    def _set_env_noise(self, noise: float) -> None:
        conv = self.conv_env
        conv.set_noise(noise)
        self.env.noise = conv.noise

    def _replay(self) -> None:
        c = self.conversation
        if self.env.noise != c.noise:
            self._set_env_noise(c.noise)
        self._obs, info = self.env.reset(seed=episode_seed(self.seed, c.episode))
        self._agenda_total = len(self.conv_env.user.agenda) + len(info["user_acts"])
        self.turns = []
        self.typed = None
        self.life_outcome = None
        if c.mode == "customer":
            self.typed = TypedCustomer(self.env, self.nlu)
            self._agenda_total = 0
            if c.opening is None:
                self.pending = None
                self._before = ([], [], "")
                return
            heard = self.typed.open(c.opening)
            self._obs = self._observation()
            self._before = (heard.observed, heard.observed, heard.text)
        else:
            self._before = (info["user_acts"], info["observed_acts"], info["user_text"])
        self.pending = self._decide()
        for choice in c.choices:
            self._apply(choice)

    def _observation(self) -> np.ndarray:
        """The observation of the current belief (a typed customer drives the tracker by hand);
        in a lifetime, with the customer's history features after it."""
        obs = self.conv_env.refresh()[0]
        return self.env._observe(obs) if self.lifetime else obs

    def _decide(self) -> DecisionView:
        mask = self.conv_env.refresh()[1]
        reasons = tuple(self.env.mask_reasons())
        scores, probs = self.policy.distribution(self._obs, mask, explore=self.explore)
        if self.explore and self.policy.stochastic:
            # One generator per (customer, turn): a replay or a fork re-draws the same choice.
            s = episode_seed(self.seed, self.episode)
            action = sample(probs, np.random.default_rng([s, 1, len(self.turns)]))
        else:
            action = int(np.argmax(probs))
        return DecisionView(
            self._obs,
            mask,
            reasons,
            np.asarray(scores, dtype=np.float64),
            np.asarray(probs, dtype=np.float64),
            action,
        )

    def _apply(self, choice: Choice) -> None:
        decision = self.pending
        if decision is None:
            raise SessionError("a saved choice follows the end of its conversation")
        user_acts, observed, user_text = self._before
        visit, day = self.visit, self.day
        prev = self.turns[-1] if self.turns else None
        visit_turn = 0 if prev is None or prev.ended is not None else prev.visit_turn + 1
        ended = None
        if self.typed is not None:
            system = self.typed.say(choice.action)
            heard, reward, terminated, truncated = self.typed.hear(choice.text or "")
            reply_acts = reply_observed = heard.observed
            reply_text = heard.text
            self._obs = self._observation()
            after = (reply_acts, reply_observed, reply_text)
        else:
            self._obs, reward, terminated, truncated, info = self.env.step(choice.action)
            system = info["system_text"]
            reply_acts, reply_observed = info["user_acts"], info["observed_acts"]
            reply_text = info["user_text"]
            # A lifetime env opens the customer's next visit within the step that ends one.
            after = (
                info.get("next_user_acts", reply_acts),
                info.get("next_observed_acts", reply_observed),
                info.get("next_user_text", reply_text),
            )
            if "conversation" in info:
                ended = self._visit_ended(info["conversation"])
                if "next_user_acts" in info:
                    self._agenda_total = len(self.conv_env.user.agenda) + len(after[0])
            if self.lifetime and (terminated or truncated):
                self.life_outcome = info["outcome"]
        self.turns.append(
            Turn(
                index=len(self.turns),
                decision=decision,
                action=choice.action,
                overridden=choice.overridden,
                propensity=choice.propensity,
                policy_action=choice.policy_action
                if choice.policy_action >= 0
                else decision.action,
                user_acts=user_acts,
                observed_acts=observed,
                user_text=user_text,
                system_text=system,
                reward=reward,
                terminated=terminated,
                truncated=truncated,
                reply_acts=reply_acts,
                reply_observed=reply_observed,
                reply_text=reply_text,
                visit=visit,
                visit_turn=visit_turn,
                day=day,
                ended=ended,
            )
        )
        self._before = after
        self.pending = None if (terminated or truncated) else self._decide()

    def _visit_ended(self, conversation: dict) -> dict:
        """A finished visit as the transcript shows it: with the trust it left (hidden)."""
        trust = float(self.env.history.trust)
        return {
            **conversation,
            "trust": trust,
            "p_return": return_probability(self.env.params, trust),
        }

    def _archive(self) -> None:
        if self.conversation.choices:
            self.history.append(self.conversation)

    def _add_demo(self, action: int) -> None:
        assert self.pending is not None
        demo = Demo(
            self.conversation.prefix(len(self.conversation.choices)),
            action,
            self.pending.action,
            self.pending.obs,
            self.pending.mask,
            self.visit,
        )
        self.demos = [d for d in self.demos if d.key() != demo.key()]
        self.demos.append(demo)

    # -- save and reopen (the file format lives in session_file) -------------------------------

    def to_dict(self) -> dict:
        """The session as JSON-safe data (see ``session_file``)."""
        from dialog_rl.tui.session_file import session_to_dict

        return session_to_dict(self)

    def save(self, path: str | Path) -> Path:
        """Write the session as JSON, atomically."""
        from dialog_rl.tui.session_file import write_atomic

        path = Path(path)
        write_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")
        self.dirty = False
        return path

    @classmethod
    def from_dict(
        cls,
        data: dict,
        domain: Domain,
        policy: Policy,
        *,
        source: str = "session",
        nlu: object | None = None,
    ) -> Session:
        """Rebuild a saved session; errors name ``source`` and the field that is wrong."""
        from dialog_rl.tui.session_file import session_from_dict

        return session_from_dict(cls, data, domain, policy, source=source, nlu=nlu)

    @classmethod
    def load(cls, path: str | Path, domain: Domain, policy: Policy) -> Session:
        """Reopen a session saved with ``save``."""
        from dialog_rl.tui.session_file import read_session_json

        return cls.from_dict(read_session_json(path), domain, policy, source=str(path))

    def fill_demo(self, demo: Demo) -> None:
        """Recompute a demonstration's state (observation and mask) by replaying up to it."""
        scratch = self._scratch(demo.conversation)
        if scratch.pending is None:
            raise SessionError("a demonstration's conversation had already ended")
        demo.obs, demo.mask = scratch.pending.obs, scratch.pending.mask
        demo.visit = scratch.visit
