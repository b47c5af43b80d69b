"""Scenario health checks: loops, empty turns, unsatisfiable goals, evaluator mismatches."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from dialog_rl.cli import main
from dialog_rl.env import DialogueEnv
from dialog_rl.policies import Decision, Policy
from dialog_rl.regress.health import (
    ERROR,
    EpisodeWatcher,
    check_health,
    goal_met,
    static_checks,
)
from dialog_rl.regress.variants import resolve_policy

ROOT = Path(__file__).resolve().parents[2]


class Repeater(Policy):
    """Says the same allowed thing every turn: a stuck agent."""

    def __init__(self, action: int) -> None:
        self.action = action

    def distribution(self, obs, mask, explore=True):
        p = np.zeros(len(mask))
        p[self.action] = 1.0
        return p, p

    def act(self, obs, mask, *, explore=True, rng=None):
        p = self.distribution(obs, mask)[1]
        return Decision(self.action, 1.0, p, p)


@pytest.mark.parametrize("scenario", ["restaurant", "order_support", "shopping"])
def test_shipped_scenarios_have_no_health_errors(domains, scenario):
    d = domains[scenario]
    spec = DialogueEnv(d).spec_obs
    report = check_health(d, {"rule": resolve_policy("rule", d, spec)}, episodes=100, noise=0.15)
    assert report.ok, report.lines()


def test_a_stuck_agent_is_reported_as_a_loop(restaurant):
    repeat = restaurant.act_names.index("repeat")
    report = check_health(restaurant, {"stuck": Repeater(repeat)}, episodes=30)
    loops = [f for f in report.findings if f.check == "loops"]
    assert loops and "repeat x" in loops[0].message and "stuck" in loops[0].message


def test_answers_no_action_can_give_make_goals_unsatisfiable(tmp_path):
    broken = _without_action((ROOT / "scenarios/restaurant.yaml").read_text(), "inform", "phone")
    path = tmp_path / "restaurant.yaml"
    path.write_text(broken)
    (tmp_path / "restaurant_kb.csv").write_text((ROOT / "scenarios/restaurant_kb.csv").read_text())
    from dialog_rl.domain import load_domain

    findings = static_checks(load_domain(str(path)))
    errors = [f for f in findings if f.severity == ERROR]
    assert errors and "'phone'" in errors[0].message and "inform(phone)" in errors[0].message
    code = main(["regress", "--baseline", "rule", "--candidate", "rule", "--scenario", str(path)])
    assert code == 2


def _without_action(text: str, kind: str, slot: str) -> str:
    """The scenario text with the action of ``kind`` about ``slot`` removed."""
    import yaml

    doc = yaml.safe_load(text)
    doc["actions"] = [
        a for a in doc["actions"] if not (a.get("act") == kind and a.get("slot") == slot)
    ]
    assert len(doc["actions"]) < len(yaml.safe_load(text)["actions"])
    return yaml.safe_dump(doc, sort_keys=False)


def test_goal_met_needs_a_matching_entity_every_answer_and_the_task(restaurant):
    goal = SimpleNamespace(constraints=[-1] * restaurant.n_inf, requests=[0], task=-1, domains=[0])
    user = SimpleNamespace(goal=goal, accepted=[0], informed={0}, task_done=False)
    assert goal_met(restaurant, user)
    user.informed = set()
    assert not goal_met(restaurant, user)
    user.informed, user.accepted = {0}, [-1]
    assert not goal_met(restaurant, user)


class LyingEnv:
    """An environment whose evaluator calls every conversation a success."""

    def __init__(self, domain):
        self.domain = domain
        self.text = False
        self.spec_obs = DialogueEnv(domain).spec_obs
        goal = SimpleNamespace(constraints=[0] * domain.n_inf, requests=[], task=-1, domains=[0])
        self.user = SimpleNamespace(goal=goal, accepted=[-1], informed=set(), task_done=False)

    def reset(self, seed=None):
        mask = np.ones(self.domain.n_actions, dtype=np.int8)
        return np.zeros(self.spec_obs.size, np.float32), {
            "user_acts": [(1, 0, 0)],
            "action_mask": mask,
        }

    def step(self, action):
        d = self.domain
        out = {"success": True, "outcome": "success", "turns": 1, "reward": d.r_turn + d.r_success,
               "hangup": False, "handover": False, "truncated": False}  # fmt: skip
        mask = np.ones(d.n_actions, dtype=np.int8)
        obs = np.zeros(self.spec_obs.size, np.float32)
        return obs, 0.0, True, False, {"user_acts": [], "outcome": out, "action_mask": mask}


def test_success_without_the_goal_met_is_an_evaluator_error(restaurant):
    env = LyingEnv(restaurant)
    watcher = EpisodeWatcher(restaurant, "rule")
    for i in range(5):
        watcher.run(env, Repeater(0), 0, i, True)
    errors = [f for f in watcher.findings() if f.severity == ERROR]
    assert errors and errors[0].check == "evaluator" and "5/5" in errors[0].message
    assert "although their goal was not met" in errors[0].message


def test_customers_who_say_nothing_are_empty_turns(restaurant):
    class Mute(LyingEnv):
        def step(self, action):
            obs, r, _, _, info = super().step(action)
            self.calls = getattr(self, "calls", 0) + 1
            if self.calls % 2:
                return obs, r, False, False, {**info, "outcome": None}
            return obs, r, True, False, info

    watcher = EpisodeWatcher(restaurant, "rule")
    watcher.run(Mute(restaurant), Repeater(0), 0, 0, True)
    assert any(f.check == "empty-turns" for f in watcher.findings())
