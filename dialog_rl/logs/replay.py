"""Logged dialogue acts replayed through dialog-rl's tracker and featurizer.

This is the one place that drives the tracker outside the environment, and it does what
``DialogueEnv.reset``/``step`` do with the same objects, minus the simulated customer: observe
what was heard, read the observation and mask, apply the agent's act. If the engine's tracker or
featurizer change their API, ``replay_conversation`` is the function to re-point.
"""

from __future__ import annotations

import re

import numpy as np

from dialog_rl.acts import INFORM, REQUEST, USER_ACT_NAMES
from dialog_rl.domain import Domain

_ACT = re.compile(
    r"^\s*([a-z_]+)\s*(?:\(\s*([^)=]*?)\s*(?:=\s*([^)]*?)\s*)?\))?\s*(?:@\s*(\S+))?\s*$"
)


class ActsError(ValueError):
    """A customer act the scenario does not know; the message says which part."""


class ActParser:
    """Parses ``inform(food=italian)@0.8 | request(phone)`` into dialog-rl's observed acts."""

    def __init__(self, domain: Domain) -> None:
        self.domain = domain
        self.inf = {n: i for i, n in enumerate(domain.inf_names)}
        self.req = {n: i for i, n in enumerate(domain.req_names)}
        self.values = [{v: j for j, v in enumerate(vals)} for vals in domain.inf_values]
        self.kinds = {n: i for i, n in enumerate(USER_ACT_NAMES)}

    def parse(self, text: str) -> list[tuple[int, int, int, float]]:
        acts = []
        for part in text.split("|") if text.strip() else []:
            m = _ACT.match(part)
            if not m:
                raise ActsError(
                    f"cannot read act {part.strip()!r} (expected e.g. inform(area=north)@0.9)"
                )
            name, slot, value, conf = m.groups()
            if name not in self.kinds:
                raise ActsError(f"unknown act {name!r} (acts: {', '.join(USER_ACT_NAMES)})")
            kind = self.kinds[name]
            c = 1.0
            if conf is not None:
                try:
                    c = float(conf)
                except ValueError:
                    raise ActsError(f"confidence {conf!r} of {name} is not a number") from None
                if not 0.0 <= c <= 1.0:
                    raise ActsError(f"confidence {c:g} of {name} is outside [0, 1]")
            if kind == INFORM:
                if slot not in self.inf or value is None:
                    raise ActsError(
                        f"inform needs slot=value with an informable slot "
                        f"({', '.join(self.domain.inf_names)}), got {part.strip()!r}"
                    )
                s = self.inf[slot]
                if value == "dontcare":
                    v = self.domain.dontcare(s)
                elif value in self.values[s]:
                    v = self.values[s][value]
                else:
                    raise ActsError(f"{value!r} is not a value of slot {slot!r} in this scenario")
                acts.append((INFORM, s, v, c))
            elif kind == REQUEST:
                if slot not in self.req:
                    raise ActsError(
                        f"request needs a requestable slot ({', '.join(self.domain.req_names)}), "
                        f"got {part.strip()!r}"
                    )
                acts.append((REQUEST, self.req[slot], -1, c))
            else:
                if slot:
                    raise ActsError(f"{name} takes no slot, got {part.strip()!r}")
                acts.append((kind, -1, -1, c))
        return acts


def replay_conversation(
    domain: Domain, heard: list[list[tuple]], actions: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Observations [T, obs_dim] and masks [T, n_actions] of one logged conversation.

    ``heard[t]`` is what the agent observed before decision ``t`` (observed acts), ``actions[t]``
    the act it then chose. Exactly the tracker updates of ``DialogueEnv``: ``reset`` then
    ``observe`` the opening; per decision, the system act (with the entity an offer names and the
    value a confirmation asks about, chosen as the env chooses them), then ``observe`` the reply.
    """
    from dialog_rl.env import DialogueEnv

    env = DialogueEnv(domain)  # its tracker, driven by hand: the engine's own belief kernels
    tracker = env.tracker
    tracker.reset()
    obs, masks = [], []
    for t, acts in enumerate(heard):
        if t > 0:
            prev = actions[t - 1]
            tracker.system_act(prev, *tracker.act_arguments(prev))
        tracker.observe(acts)
        o, m = env.refresh()
        obs.append(o)
        masks.append(m)
    return np.asarray(obs, dtype=np.float32), np.asarray(masks, dtype=bool)
