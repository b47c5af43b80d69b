"""Fixtures for the TUI tests: deterministic UI, apps over a fresh session, a learner that clones."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path

import numpy as np
import pytest
from textual.widgets import Input

from dialog_rl.env import LifetimeEnv
from dialog_rl.env.featurizer import observation_spec
from dialog_rl.policies import Policy, RulePolicy
from dialog_rl.tui.app import DialogApp
from dialog_rl.tui.session import Session

TERMINAL = (120, 36)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Run ``async def`` tests on a fresh event loop (no asyncio plugin needed)."""
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        names = pyfuncitem._fixtureinfo.argnames
        asyncio.run(pyfuncitem.obj(**{n: pyfuncitem.funcargs[n] for n in names}))
        return True
    return None


@pytest.fixture(autouse=True)
def deterministic_ui(monkeypatch, tmp_path):
    """No blinking cursor, no animation, and a scratch working directory for saves."""
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    monkeypatch.chdir(tmp_path)


class MemoLearner(Policy):
    """The rule policy, plus whatever it was shown: ``clone`` memorises state -> action.

    A stand-in learner with the ``Learner.clone`` signature, so the teach path is tested without
    training a network; one test also runs the real DQN.
    """

    name = "memo"

    def __init__(self, domain, spec) -> None:
        self.rule = RulePolicy(domain, spec)
        self.n = domain.n_actions
        self.memory: dict[bytes, int] = {}
        self.calls = 0

    def distribution(self, obs, mask, explore=True):
        a = self.memory.get(np.asarray(obs, dtype=np.float32).tobytes())
        if a is None:
            return self.rule.distribution(obs, mask, explore)
        probs = np.zeros(self.n)
        probs[a] = 1.0
        return probs, probs.copy()

    def clone(self, obs, masks, actions, weights):
        self.calls += 1
        for o, a in zip(obs, actions):
            self.memory[np.asarray(o, dtype=np.float32).tobytes()] = int(a)
        return {"clone/accuracy": 1.0}


@pytest.fixture
def make_session(restaurant):
    def make(
        policy: str = "rule",
        seed: int = 0,
        mode: str = "simulate",
        domain=None,
        episode: int = 0,
        lifetime: bool = False,
    ) -> Session:
        d = domain or restaurant
        spec = LifetimeEnv(d).spec_obs if lifetime else observation_spec(d)
        pol = MemoLearner(d, spec) if policy == "memo" else RulePolicy(d, spec)
        return Session(
            d, pol, policy_name=policy, seed=seed, mode=mode, episode=episode, lifetime=lifetime
        )

    return make


@pytest.fixture
def make_app(make_session, tmp_path):
    def make(out: Path | None = None, **kwargs) -> DialogApp:
        app = DialogApp(make_session(**kwargs), out or tmp_path / "out")
        app.animation_level = "none"
        return app

    return make
