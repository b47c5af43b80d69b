"""The dialogue environment: a Gymnasium Env in which each step is one agent turn.

reset() brings a new customer (hidden goal and persona) whose opening words are the first
observation; step(action) says the agent's act, lets the customer answer through the channel, and
updates the tracker. Success, a hang-up, a hand-over or a good-bye terminate; the turn limit
truncates. The observation is computed from the tracker alone, never from the goal.

It is the engine (``dialog_rl.env.engine``) with one row: the very code that plays a batch of
thousands, so an episode seed gives the same conversation here and in any vector env. Text is
realised from the acts with keyed draws, only when asked for (``text=True`` or the text channel).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding

from dialog_rl.counter_rng import TEXT, key64
from dialog_rl.domain import Domain, system_text
from dialog_rl.env import featurizer, tracker
from dialog_rl.env.engine import CONVLAB_FIELDS, PAIRINGS, Engine
from dialog_rl.numerics import check_features, check_reward
from simulators.customer_nlg import UserNLG
from simulators.customer_state import ONGOING, OUTCOME_NAMES, Goal, write_goal

CHANNELS = ("act", "text")


def text_key(seed: int, turn: int, k: int) -> int:
    """A keyed 64-bit draw for the text of ``turn`` in the episode seeded ``seed`` (k: 0 the
    customer's words, 1 their noise, 2 the agent's template): utterances never change the other
    numbers, so they can be realised long after the turn was played (a log asked for text)."""
    return int(key64(np.uint64(seed), TEXT, turn, k))


def customer_text(nlg: UserNLG, acts: list, seed: int, turn: int, verbosity: float) -> str:
    """The customer's words in ``turn``: their acts ``(kind, slot, value)`` realised with the
    turn's keyed draws."""
    return nlg.realise(
        acts, np.random.Generator(np.random.PCG64(text_key(seed, turn, 0))), verbosity
    )


def agent_text(
    domain: Domain, action: int, value: int, entity: int, beliefs: list[int], seed: int, turn: int
) -> str:
    """The agent's words in ``turn``: its act's template picked by a keyed draw, filled from the
    act's value and entity and the belief it speaks from (top value per informable slot, as it
    stood before the act)."""
    return system_text(domain, action, value, entity, text_key(seed, turn, 2) & 0xFFFF, beliefs)


class CustomerView:
    """The simulated customer of a one-row engine, read as plain Python (TUI, checks, golden
    files). Only the simulator and evaluation look here; the policy never does."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._c = engine.customers

    @property
    def goal(self) -> Goal:
        c = self._c
        return Goal(
            c.cons[0].tolist(),
            np.flatnonzero(c.req[0]).tolist(),
            int(c.task[0]),
            int(c.entity[0]),
            c.doms[0, : c.n_doms[0]].tolist(),
            np.flatnonzero(c.book[0]).tolist(),
        )

    @property
    def persona_index(self) -> int:
        return int(self._c.persona[0])

    @property
    def persona(self):
        return self._engine.domain.personas[self.persona_index]

    @property
    def agenda(self) -> list[tuple[int, int, int]]:
        """Acts still to say, bottom of the stack first."""
        c = self._c
        return [tuple(a) for a in c.agenda[0, : c.agenda_n[0]].tolist()]

    @property
    def informed(self) -> set[int]:
        return set(np.flatnonzero(self._c.informed[0]).tolist())

    def __getattr__(self, name: str) -> Any:
        # accepted, task_done, outcome, annoyances, patience, start_patience: row 0's value
        if name.startswith("_") or name not in type(self._c)._fields:
            raise AttributeError(name)
        value = getattr(self._c, name)[0]
        return value.tolist() if value.ndim else value.item()


class TrackerView:
    """The agent's belief in a one-row engine, read as plain Python; ``reset``, ``system_act``
    and ``observe`` drive it directly (a person playing the customer in the TUI)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._b = engine.beliefs

    @property
    def rejected(self) -> tuple[int, ...]:
        return tuple(np.flatnonzero(self._b.rejected[0]).tolist())

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in type(self._b)._fields:
            raise AttributeError(name)
        value = getattr(self._b, name)[0]
        return value.tolist() if value.ndim else value.item()

    def reset(self) -> None:
        tracker.reset(self._engine.refs[3], 0)

    def act_arguments(self, action: int) -> tuple[int, int]:
        """The value (a confirmation's) and entity (an offer's first match, else the one on
        offer) ``action`` carries in the current belief, as the engine chooses them."""
        t, _, _, b = self._engine.refs
        value, entity = tracker.act_arguments(t, b, 0, action)
        return int(value), int(entity)

    def system_act(self, action: int, value: int, entity: int) -> None:
        t, _, _, b = self._engine.refs
        tracker.system_act(t, b, 0, action, value, entity)

    def observe(self, acts: list) -> None:
        heard = np.array([a[:3] for a in acts], dtype=np.int64).reshape(-1, 3)
        conf = np.array([a[3] for a in acts], dtype=np.float64)
        t, _, _, b = self._engine.refs
        tracker.observe(t, b, 0, heard, conf, len(acts))


class DialogueEnv(gym.Env):
    """One simulated customer per episode; actions index the scenario's action catalog.

    Args:
        domain: the compiled scenario.
        noise: semantic error rate; defaults to the scenario's.
        channel: "act" (noise on acts; fastest) or "text" (NLG, word noise, then NLU).
        text: realise utterances for info and logs even on the act channel.
        max_turns: turn limit; defaults to the scenario's.
        pairing: how draws are keyed: "turn" (a run) or "act" (by what they answer, for
            paired comparisons of two policies on one customer; see ``dialog_rl.regress``).
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
        pairing: str = "turn",
    ) -> None:
        if channel not in CHANNELS:
            raise ValueError(f"channel must be one of {CHANNELS}, got {channel!r}")
        if pairing not in PAIRINGS:
            raise ValueError(f"pairing must be one of {tuple(PAIRINGS)}, got {pairing!r}")
        self.domain = domain
        self.engine = Engine(domain, 1, noise, max_turns, pairing=PAIRINGS[pairing])
        self.noise = self.engine.noise
        self.channel = channel
        self.pairing = pairing
        self.text = text or channel == "text"
        self.max_turns = self.engine.max_turns
        self.render_mode = render_mode
        self.user = CustomerView(self.engine)
        self.tracker = TrackerView(self.engine)
        self.spec_obs = self.engine.spec
        self.nlg = UserNLG(domain)
        self.nlu = None
        if channel == "text":
            from simulators.nlu import RuleNLU
            from simulators.word_noise import TextNoise

            self.nlu = RuleNLU(domain)
            self.text_noise = TextNoise(self.noise)
        self.observation_space = gym.spaces.Box(0.0, 1.0, (self.spec_obs.size,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(domain.n_actions)
        self._transcript: list[str] = []
        self._rows = np.zeros(1, dtype=np.int64)
        self._actions = np.zeros(1, dtype=np.int64)
        self._flags = (np.zeros(1), np.zeros(1, dtype=np.bool_), np.zeros(1, dtype=np.bool_))
        self.reset_seed: int | None = None
        self.turn = 0
        self.episode_reward = 0.0

    # -- Gymnasium API -------------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict]:
        """A new customer. ``options``: ``persona`` (index), ``goal`` (a ``Goal``), ``fixed``
        ({slot: value} a returning customer keeps), ``patience_scale``,
        ``cooperativeness_shift``."""
        if seed is None:
            seed = int(self.np_random.integers(1 << 63))
        else:  # Gymnasium's ``super().reset(seed=seed)``, its generator made when first used
            if not (isinstance(seed, int) and seed >= 0):
                seeding.np_random(seed)  # Gymnasium's error for a seed it refuses
            self._seed_pending = seed
        self.reset_seed = seed  # named by numerical errors: it reproduces the episode
        options = options or {}
        e, c = self.engine, self.engine.customers
        goal = options.get("goal")
        if goal is not None:
            write_goal(c, 0, goal)
        c.fixed[0] = -1
        for s, v in (options.get("fixed") or {}).items():
            c.fixed[0, s] = v
        persona = options.get("persona")
        e.start(
            self._rows,
            np.array([seed], dtype=np.uint64),
            persona=-1 if persona is None else int(persona),
            goal_given=goal is not None,
            patience_scale=options.get("patience_scale", 1.0),
            cooperativeness_shift=options.get("cooperativeness_shift", 0.0),
            listen=self.channel == "act",
        )
        self.turn = 0
        self.episode_reward = 0.0
        acts, observed, user_text = self._hear(0)
        if self.channel == "text":
            e.listen(self._rows)
        self._transcript = [f"USER: {user_text}"] if self.text else []
        info = {
            "action_mask": e.masks[0].copy(),
            "user_acts": acts,
            "observed_acts": observed,
            "user_text": user_text,
        }
        obs = e.obs[0].copy()
        check_features(obs, self.spec_obs.names, 0, seed)
        return obs, info

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        d, e = self.domain, self.engine
        action = int(action)
        if not 0 <= action < d.n_actions:
            raise ValueError(f"action {action} is outside the catalog of {d.n_actions} actions")
        if e.customers.outcome[0] != ONGOING or self.turn >= self.max_turns:
            raise RuntimeError("step() called on a finished conversation; call reset() first")
        self._actions[0] = action
        if self.text:  # the belief the agent speaks from (its act leaves the values as they are)
            beliefs = e.beliefs.values[0].tolist()
        if self.channel == "act":
            reward_a, terminated_a, truncated_a = self._flags
            e.step_into(self._actions, self._rows, reward_a, terminated_a, truncated_a)
            acts, observed, user_text = self._hear(self.turn + 1)
        else:
            e.act(self._actions, self._rows)
            acts, observed, user_text = self._hear(self.turn + 1)
            reward_a, terminated_a, truncated_a = e.observe(self._rows)
        system = ""
        if self.text:
            value, entity = int(e.sys_value[0]), int(e.sys_entity[0])
            system = agent_text(d, action, value, entity, beliefs, self.reset_seed, self.turn)
        self.turn = int(e.turn[0])
        reward = float(reward_a[0])
        terminated, truncated = bool(terminated_a[0]), bool(truncated_a[0])
        self.episode_reward = float(e.episode_reward[0])
        if self.text:
            self._transcript += [f"AGENT: {system}", f"USER: {user_text}"]
        info = {
            "action_mask": e.masks[0].copy(),
            "user_acts": acts,
            "observed_acts": observed,
            "system_text": system,
            "user_text": user_text,
        }
        check_reward(reward, self.turn - 1, self.reset_seed)
        if terminated or truncated:
            info["outcome"] = self.outcome()
        obs = e.obs[0].copy()
        check_features(obs, self.spec_obs.names, self.turn, self.reset_seed)
        return obs, reward, terminated, truncated, info

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return "\n".join(self._transcript) + "\n"
        return None

    # Gymnasium's generator after ``reset(seed=s)`` is ``seeding.np_random(s)``. Making it (a
    # SeedSequence and a PCG64) cost 10 us of every episode, and nothing here draws from it once
    # the seed is given, so ``reset`` leaves the seed pending and the generator is made from it
    # when first asked for (``np_random``, or Gymnasium's checker reading ``_np_random``): the
    # same generator, made later.
    _seed_pending: int | None = None
    _rng: np.random.Generator | None = None
    _rng_seed: int | None = None

    def _make_pending_rng(self) -> None:
        seed, self._seed_pending = self._seed_pending, None
        self._rng, self._rng_seed = seeding.np_random(seed)

    @property
    def _np_random(self) -> np.random.Generator | None:
        if self._seed_pending is not None:
            self._make_pending_rng()
        return self._rng

    @_np_random.setter
    def _np_random(self, value: np.random.Generator | None) -> None:
        self._seed_pending = None
        self._rng = value

    @property
    def _np_random_seed(self) -> int | None:
        if self._seed_pending is not None:
            self._make_pending_rng()
        return self._rng_seed

    @_np_random_seed.setter
    def _np_random_seed(self, value: int | None) -> None:
        if self._seed_pending is not None:
            self._make_pending_rng()
        self._rng_seed = value

    # -- helpers -------------------------------------------------------------------------------

    def _key(self, turn: int, k: int) -> int:
        """``text_key`` of this episode."""
        return text_key(self.reset_seed, turn, k)

    def _hear(self, turn: int) -> tuple[list, list, str]:
        """The customer's acts of ``turn``, what the agent heard of them, and the utterance."""
        c = self.engine.customers
        acts = list(map(tuple, c.out[0, : c.out_n[0]].tolist()))
        text = ""
        if self.text:
            text = customer_text(self.nlg, acts, self.reset_seed, turn, self.user.persona.verbosity)
        if self.channel == "text":
            noisy = self.text_noise(text, np.random.Generator(np.random.PCG64(self._key(turn, 1))))
            # the domain the tracker thinks the conversation is in tells a value several
            # domains share apart ("north"); before the customer's first words there is none
            hint = int(self.engine.beliefs.dom[0]) if turn > 0 else None
            observed = list(self.nlu.parse(noisy, domain_hint=hint))[: c.heard.shape[1]]
            n = len(observed)
            if n:
                c.heard[0, :n] = [a[:3] for a in observed]
                c.heard_conf[0, :n] = [a[3] for a in observed]
            c.heard_n[0] = n
            return acts, observed, text
        n = c.heard_n[0]
        observed = [
            (k, s, v, conf)
            for (k, s, v), conf in zip(c.heard[0, :n].tolist(), c.heard_conf[0, :n].tolist())
        ]
        return acts, observed, text

    def set_noise(self, noise: float) -> None:
        """Change the noise rate from the next turn on (the conversation so far stays)."""
        self.engine.set_noise(noise)
        self.noise = self.engine.noise
        if self.channel == "text":
            from simulators.word_noise import TextNoise

            self.text_noise = TextNoise(self.noise)

    def refresh(self) -> tuple[np.ndarray, np.ndarray]:
        """The observation and mask of the current belief (after driving ``tracker`` by hand)."""
        e = self.engine
        t, layout, _, b = e.refs
        featurizer.featurize(t, layout, b, 0, e.obs[0], e.masks[0])
        return e.obs[0].copy(), e.masks[0].copy()

    def outcome(self) -> dict:
        """How the conversation ended, judged against the hidden goal (for evaluation only)."""
        o = int(self.engine.customers.outcome[0])
        ended = o != ONGOING
        counts = self.engine.convlab_counts(self._rows)[0].tolist()
        return {
            "success": OUTCOME_NAMES[o] == "success",
            "outcome": OUTCOME_NAMES[o] if ended else "truncated",
            "turns": self.turn,
            "reward": self.episode_reward,
            "hangup": OUTCOME_NAMES[o] == "hangup",
            "handover": OUTCOME_NAMES[o] == "handover",
            "truncated": not ended,
            **dict(zip(CONVLAB_FIELDS, counts)),
        }

    def mask_reasons(self) -> list[str]:
        return featurizer.mask_reasons(self.domain, self.engine.beliefs, 0)

    def action_masks(self) -> np.ndarray:
        """The actions allowed now, as booleans (``info["action_mask"]`` of the last observation).

        The name is the one ``sb3_contrib.MaskablePPO`` looks for, so it trains on this env (or
        ``gymnasium.make`` of it) with the mask and no wrapper.
        """
        return self.engine.masks[0].astype(bool)
