"""Scenario health checks, run before a gate scores anything.

A regression verdict is only as good as the simulation behind it. These checks catch the scenario
and simulator problems that would make a verdict meaningless, and say how to fix each:

- **dialogue loops**: the agent keeps taking the same action in the same belief state (the
  conversation is stuck), or conversations run into the turn limit;
- **empty turns**: the customer says nothing while the conversation goes on, or a template
  renders an empty utterance;
- **unsatisfiable goals**: goals no KB entity matches, beyond what the goal model intends
  (``goals.satisfiable``), and goals asking for answers or tasks no action can give;
- **evaluator and goal mismatches**: a conversation judged a success whose goal was not met (or
  the reverse), or a reward that does not add up to the outcome.

Static checks read the compiled scenario; dynamic ones watch a short batch of conversations.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from dialog_rl.acts import SYS_BYE, SYS_INFORM, SYS_PERFORM, SYS_REQUEST
from dialog_rl.domain import Domain, match_mask, mismatches
from dialog_rl.env import DialogueEnv
from dialog_rl.policies import Policy
from dialog_rl.rollout.runner import episode_seed, policy_rng

ERROR, WARNING, INFO = "error", "warning", "info"
LOOP_REPEATS = 3  # the same action in the same belief state this often in one conversation
_MAX_EXAMPLES = 3


@dataclass(frozen=True)
class Finding:
    """One health finding: what, how bad, how often, and how to fix it."""

    check: str
    """Which check: loops, empty-turns, unsatisfiable-goals, evaluator."""
    severity: str
    """``error`` (the verdict would be meaningless), ``warning`` or ``info``."""
    message: str
    """One readable sentence, with counts and a hint."""
    examples: tuple[str, ...] = ()
    """Where to look: episode seeds or actions."""

    def line(self) -> str:
        tail = f" (e.g. {', '.join(self.examples)})" if self.examples else ""
        return f"[{self.severity}] {self.check}: {self.message}{tail}"


@dataclass
class HealthReport:
    """All findings of a health check, and the episodes it watched."""

    findings: list[Finding] = field(default_factory=list)
    episodes: int = 0

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def ok(self) -> bool:
        return not self.errors

    def lines(self) -> list[str]:
        if not self.findings and not self.episodes:
            return ["not checked (--health-episodes 0)"]
        if not self.findings:
            return ["OK (no loops, empty turns, unreachable goals or evaluator mismatches)"]
        return [f.line() for f in self.findings]


def _covered(d: Domain, kind: int, slot_domains: Sequence[int]) -> set[int]:
    """The slots the actions of ``kind`` are about: each one's slot, or, for one without a slot
    (it answers or asks for them all), every slot of its domain (``slot_domains``: per slot)."""
    out: set[int] = set()
    for a, k in enumerate(d.act_kind):
        if k == kind:
            own = d.domains.act[a]
            if d.act_slot[a] >= 0:
                out.add(d.act_slot[a])
            else:
                out |= {s for s, sd in enumerate(slot_domains) if own < 0 or sd == own}
    return out


def static_checks(domain: Domain) -> list[Finding]:
    """Problems visible in the compiled scenario alone."""
    d = domain
    out: list[Finding] = []
    informs = _covered(d, SYS_INFORM, d.domains.req)
    for r, p in enumerate(d.request_prob):
        if p > 0 and r not in informs:
            out.append(
                Finding(
                    "unsatisfiable-goals",
                    ERROR,
                    f"customers ask for {d.req_names[r]!r} ({p:.0%} of goals) but no action "
                    f"answers it: add an inform({d.req_names[r]}) action or set its request "
                    "probability to 0",
                )
            )
    performs = {d.act_task[a] for a, k in enumerate(d.act_kind) if k == SYS_PERFORM}
    for t, p in enumerate(d.task_prob):
        if p > 0 and t not in performs:
            out.append(
                Finding(
                    "unsatisfiable-goals",
                    ERROR,
                    f"customers want the task {d.task_names[t]!r} ({p:.0%} of goals) but no "
                    f"action performs it: add a perform({d.task_names[t]}) action",
                )
            )
    if SYS_BYE not in d.act_kind:
        out.append(
            Finding(
                "evaluator",
                ERROR,
                "no bye action: a conversation can end in success only when the customer "
                "says good-bye unprompted; add a bye action",
            )
        )
    requestable = _covered(d, SYS_REQUEST, d.domains.slot)
    for s in d.kb_slots:
        if d.constraint_prob[s] > 0 and s not in requestable:
            out.append(
                Finding(
                    "unsatisfiable-goals",
                    INFO,
                    f"the agent cannot ask for {d.inf_names[s]!r}; it learns it only when the "
                    "customer volunteers it",
                )
            )
    for a, templates in enumerate(d.act_templates):
        if templates and not any(t.strip() for t in templates):
            out.append(
                Finding(
                    "empty-turns",
                    WARNING,
                    f"every template of {d.act_names[a]} is empty: the agent says nothing",
                )
            )
    return out


def goal_met(domain: Domain, user) -> bool:
    """Whether the customer's (final) goal was met, re-derived from the goal and what happened."""
    g = user.goal
    for d in g.domains:
        e = user.accepted[d]
        if e < 0 or mismatches(domain, e, g.constraints):
            return False
    if any(r not in user.informed for r in g.requests):
        return False
    return g.task < 0 or bool(user.task_done)


class EpisodeWatcher:
    """Collects loop, empty-turn, goal and evaluator signals over episodes of one policy."""

    def __init__(self, domain: Domain, label: str) -> None:
        self.domain = domain
        self.label = label
        self.episodes = 0
        self.looping: list[int] = []
        self.truncated: list[int] = []
        self.empty: list[int] = []
        self.empty_text: list[int] = []
        self.unsatisfiable: list[int] = []
        self.success_unmet: list[int] = []
        self.met_hangup: list[int] = []
        self.met_other: list[int] = []
        self.reward_wrong: list[int] = []
        self.loop_actions: Counter = Counter()

    def run(self, env: DialogueEnv, policy: Policy, seed: int, episode: int, explore: bool) -> None:
        """Play one conversation and record what looks wrong in it."""
        d = self.domain
        obs, info = env.reset(seed=episode_seed(seed, episode))
        rng = policy_rng(episode_seed(seed, episode))
        s = episode  # findings name the episode index: `dialog-rl tui --seed` replays it
        self.episodes += 1
        goal = env.user.goal
        if not all(match_mask(d, goal.constraints, k).any() for k in goal.domains):
            self.unsatisfiable.append(s)
        seen: Counter = Counter()
        looped = empty = empty_text = False
        if not info["user_acts"]:
            empty = True
        while True:
            decision = policy.act(obs, info["action_mask"], explore=explore, rng=rng)
            # the turn feature changes every turn; a stuck conversation repeats everything else
            key = (decision.action, obs[:-1].tobytes())
            seen[key] += 1
            if seen[key] == LOOP_REPEATS and not looped:
                looped = True
                self.loop_actions[d.act_names[decision.action]] += 1
            obs, _, terminated, truncated, info = env.step(decision.action)
            if not (terminated or truncated) and not info["user_acts"]:
                empty = True
            if env.text and (
                not info["system_text"].strip() or (info["user_acts"] and not info["user_text"])
            ):
                empty_text = True
            if terminated or truncated:
                break
        out = info["outcome"]
        if looped:
            self.looping.append(s)
        if out["truncated"]:
            self.truncated.append(s)
        if empty:
            self.empty.append(s)
        if empty_text:
            self.empty_text.append(s)
        met = goal_met(d, env.user)
        if out["success"] and not met:
            self.success_unmet.append(s)
        elif met and not out["success"] and not out["truncated"]:
            (self.met_hangup if out["hangup"] else self.met_other).append(s)
        expected = d.r_turn * out["turns"]
        if out["success"]:
            expected += d.r_success
        elif out["outcome"] in ("failure", "hangup"):
            expected += d.r_failure
        elif out["outcome"] == "handover":
            expected += d.r_handover
        if abs(expected - out["reward"]) > 1e-6 * max(1.0, abs(expected)):
            self.reward_wrong.append(s)

    def findings(self) -> list[Finding]:
        d = self.domain
        n = max(self.episodes, 1)
        who = self.label
        out: list[Finding] = []

        def ex(seeds: list[int]) -> tuple[str, ...]:
            return tuple(f"episode {s}" for s in seeds[:_MAX_EXAMPLES])

        if self.looping:
            top = ", ".join(f"{a} x{c}" for a, c in self.loop_actions.most_common(3))
            out.append(
                Finding(
                    "loops",
                    WARNING,
                    f"{who}: {len(self.looping)}/{n} conversations ({len(self.looping) / n:.1%}) "
                    f"repeat the same action in the same state {LOOP_REPEATS}+ times ({top}): "
                    "the conversation is stuck (replay one in `dialog-rl tui`)",
                    ex(self.looping),
                )
            )
        if len(self.truncated) / n > 0.05:
            out.append(
                Finding(
                    "loops",
                    WARNING,
                    f"{who}: {len(self.truncated) / n:.1%} of conversations hit the turn limit "
                    f"({d.max_turns}); their outcome is unknown, not a failure",
                    ex(self.truncated),
                )
            )
        if self.empty:
            out.append(
                Finding(
                    "empty-turns",
                    WARNING,
                    f"{who}: in {len(self.empty)}/{n} conversations the customer says nothing "
                    "on a turn while the conversation goes on",
                    ex(self.empty),
                )
            )
        if self.empty_text:
            out.append(
                Finding(
                    "empty-turns",
                    WARNING,
                    f"{who}: {len(self.empty_text)}/{n} conversations have an empty utterance "
                    "(a template renders to nothing)",
                    ex(self.empty_text),
                )
            )
        if self.success_unmet:
            out.append(
                Finding(
                    "evaluator",
                    ERROR,
                    f"{who}: {len(self.success_unmet)}/{n} conversations were judged a success "
                    "although their goal was not met (accepted entity, answers, task): the "
                    "evaluator and the goal disagree, so success rates mean little",
                    ex(self.success_unmet),
                )
            )
        if self.met_hangup:
            out.append(
                Finding(
                    "evaluator",
                    WARNING,
                    f"{who}: in {len(self.met_hangup)}/{n} conversations the customer hung up "
                    "on the very turn their goal was met (patience ran out first), and the "
                    "conversation counts as a failure",
                    ex(self.met_hangup),
                )
            )
        if self.met_other:
            out.append(
                Finding(
                    "evaluator",
                    INFO,
                    f"{who}: {len(self.met_other)}/{n} conversations met the goal but ended "
                    "otherwise than with a good-bye (e.g. a hand-over) and count as failures",
                    ex(self.met_other),
                )
            )
        if self.reward_wrong:
            out.append(
                Finding(
                    "evaluator",
                    ERROR,
                    f"{who}: in {len(self.reward_wrong)}/{n} conversations the reward does not "
                    "add up to the outcome and turn count under the scenario's reward",
                    ex(self.reward_wrong),
                )
            )
        return out

    def goal_findings(self) -> list[Finding]:
        """Goals no KB entity satisfies, against the share the goal model means to draw."""
        d = self.domain
        n = max(self.episodes, 1)
        k = len(self.unsatisfiable)
        if k == 0:
            return []
        rate = k / n
        intended = 1.0 - d.satisfiable
        se = np.sqrt(max(intended * (1 - intended), 1e-4) / n)
        if k == n:
            severity, hint = ERROR, "no goal can be met: check the KB and goal constraints"
        elif rate > intended + 3 * se + 0.01:
            severity = WARNING
            hint = (
                f"more than the {intended:.0%} the goal model intends (goals.satisfiable = "
                f"{d.satisfiable}); KB rows with missing values or rare constraint values cause this"
            )
        else:
            severity, hint = INFO, f"as intended (goals.satisfiable = {d.satisfiable})"
        return [
            Finding(
                "unsatisfiable-goals",
                severity,
                f"{k}/{n} goals ({rate:.1%}) match no KB entity: {hint}",
                tuple(f"episode {s}" for s in self.unsatisfiable[:_MAX_EXAMPLES]),
            )
        ]


def check_health(
    domain: Domain,
    policies: dict[str, Policy],
    *,
    episodes: int = 200,
    seed: int = 0,
    noise: float | None = None,
    max_turns: int | None = None,
    explore: bool = True,
) -> HealthReport:
    """Static checks plus ``episodes`` conversations of each policy (with text, to see templates).

    The goal check runs once (goals do not depend on the policy); loops, empty turns and the
    evaluator are watched per policy, since a looping candidate is worth knowing about too.
    """
    report = HealthReport(static_checks(domain), 0)
    first = True
    for label, policy in policies.items():
        env = DialogueEnv(domain, noise=noise, text=True, max_turns=max_turns)
        watcher = EpisodeWatcher(domain, label)
        for i in range(episodes):
            watcher.run(env, policy, seed, i, explore)
        report.findings += watcher.findings()
        if first:
            report.findings += watcher.goal_findings()
            first = False
        report.episodes += watcher.episodes
    order = {ERROR: 0, WARNING: 1, INFO: 2}
    report.findings.sort(key=lambda f: order[f.severity])
    return report
