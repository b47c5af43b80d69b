"""Golden conversations: record deterministic transcripts, replay them, show the first change.

A golden file is JSON: the scenario (path and content hash), the policy, the noise, and for each
recorded ``(seed, episode)`` the whole conversation turn by turn: what the customer said (text,
acts, and the acts the agent heard with their confidences), what the agent did and said, and the
outcome. One seed decides everything, so replaying the same policy on the same scenario gives the
same file byte for byte; when something changes (a rule, a template, the simulator), ``check``
shows the first turn where each conversation departs from its recording.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from dialog_rl.domain import Domain, load_domain
from dialog_rl.env import DialogueEnv
from dialog_rl.regress.variants import resolve_policy
from dialog_rl.rollout.runner import run_episode

FORMAT = "dialog-rl-golden"
VERSION = 1
TURN_FIELDS = ("user", "user_acts", "heard", "agent", "agent_text")
CONTEXT = 2  # unchanged turns shown before the first change


class GoldenError(ValueError):
    """A golden file that cannot be used (one line naming the file and field; exit code 2)."""


@dataclass(frozen=True)
class GoldenConfig:
    """What a golden file was recorded with."""

    scenario: str
    policy: str
    seeds: tuple[int, ...] = (0,)
    episodes: int = 10
    noise: float | None = None
    max_turns: int | None = None
    explore: bool = True


def transcript(env: DialogueEnv, policy, seed: int, episode: int, explore: bool) -> dict:
    """One conversation as a JSON-ready dict (``env`` must realise text)."""
    rec = run_episode(env, policy, episode, seed, explore=explore, record=True)
    cols = rec.turns
    turns = []
    for t in range(len(cols["turn"])):
        turns.append(
            {
                "user": cols["user_text"][t],
                "user_acts": cols["user_acts"][t],
                "heard": cols["observed_acts"][t],
                "agent": cols["action_name"][t],
                "agent_text": cols["system_text"][t],
            }
        )
    out = {k: rec.outcome[k] for k in ("outcome", "success", "turns", "reward")}
    return {
        "seed": seed,
        "episode": episode,
        "persona": rec.persona,
        "goal": env.user.goal.describe(env.domain),
        "turns": turns,
        "last_user": cols["reply_text"][-1] if turns else "",
        "last_user_acts": cols["reply_acts"][-1] if turns else "",
        "outcome": out,
    }


def record(config: GoldenConfig) -> dict:
    """Play and transcribe every ``(seed, episode)``; returns the golden document."""
    domain = load_domain(config.scenario)
    env, policy = _env_policy(domain, config.policy, config.noise, config.max_turns)
    conversations = [
        transcript(env, policy, seed, i, config.explore)
        for seed in config.seeds
        for i in range(config.episodes)
    ]
    return {
        "format": FORMAT,
        "version": VERSION,
        "scenario": config.scenario,
        "scenario_hash": domain.content_hash,
        "policy": config.policy,
        "noise": env.noise,
        "max_turns": config.max_turns,
        "explore": config.explore,
        "conversations": conversations,
    }


def save(doc: dict, path: str | Path) -> Path:
    """Write the golden file atomically (a temporary name, then a rename)."""
    from dialog_rl.outputs import stamp

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({**doc, **stamp("golden")}, indent=1, ensure_ascii=False) + "\n"
    # legacy golden files (no stamp) were checked by the command before recording
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load(path: str | Path) -> dict:
    """Read and check a golden file."""
    path = Path(path)
    if not path.is_file():
        raise GoldenError(f"{path}: no such golden file (make one with `dialog-rl regress record`)")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise GoldenError(f"{path}: not valid JSON: {err}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise GoldenError(f"{path}: format: not a dialog-rl golden file (expected {FORMAT!r})")
    if doc.get("version") != VERSION:
        raise GoldenError(f"{path}: version: {doc.get('version')!r} is not supported ({VERSION})")
    for key, kind in (("scenario", str), ("policy", str), ("conversations", list)):
        if not isinstance(doc.get(key), kind):
            raise GoldenError(f"{path}: {key}: missing or not a {kind.__name__}")
    for i, conv in enumerate(doc["conversations"]):
        where = f"{path}: conversations[{i}]"
        if not isinstance(conv, dict):
            raise GoldenError(f"{where}: not an object")
        for key, kind in (("seed", int), ("episode", int), ("turns", list), ("outcome", dict)):
            if not isinstance(conv.get(key), kind):
                raise GoldenError(f"{where}.{key}: missing or not a {kind.__name__}")
        for t, turn in enumerate(conv["turns"]):
            if not isinstance(turn, dict) or any(f not in turn for f in TURN_FIELDS):
                raise GoldenError(f"{where}.turns[{t}]: needs the fields {', '.join(TURN_FIELDS)}")
    return doc


@dataclass(frozen=True)
class Change:
    """How one conversation departs from its recording."""

    seed: int
    episode: int
    turn: int
    """First turn that differs (== number of recorded turns if only the ending differs)."""
    recorded: dict
    replayed: dict


@dataclass
class CheckResult:
    """The replay of a golden file."""

    path: str
    total: int
    changes: list[Change]
    notes: list[str]

    @property
    def ok(self) -> bool:
        return not self.changes


def check(path: str | Path, policy: str | None = None, scenario: str | None = None) -> CheckResult:
    """Replay every recorded conversation (with another policy or scenario file if given)."""
    doc = load(path)
    scenario = scenario or doc["scenario"]
    policy = policy or doc["policy"]
    domain = load_domain(scenario)
    notes = []
    if doc.get("scenario_hash") and doc["scenario_hash"] != domain.content_hash:
        notes.append(
            f"the scenario changed since recording (sha256 {doc['scenario_hash'][:12]} -> "
            f"{domain.content_hash[:12]})"
        )
    if policy != doc["policy"]:
        notes.append(f"replayed with policy {policy!r} (recorded with {doc['policy']!r})")
    env, pol = _env_policy(domain, policy, doc.get("noise"), doc.get("max_turns"))
    changes = []
    for conv in doc["conversations"]:
        now = transcript(env, pol, conv["seed"], conv["episode"], bool(doc.get("explore", True)))
        turn = first_difference(conv, now)
        if turn is not None:
            changes.append(Change(conv["seed"], conv["episode"], turn, conv, now))
    return CheckResult(str(path), len(doc["conversations"]), changes, notes)


def first_difference(recorded: dict, replayed: dict) -> int | None:
    """Index of the first turn that differs, or None if the conversations are the same."""
    a, b = recorded["turns"], replayed["turns"]
    for t in range(min(len(a), len(b))):
        if any(a[t].get(f) != b[t].get(f) for f in TURN_FIELDS):
            return t
    if len(a) != len(b):
        return min(len(a), len(b))
    ends = ("last_user", "last_user_acts")
    if any(recorded.get(k) != replayed.get(k) for k in ends) or _outcome(recorded) != _outcome(
        replayed
    ):
        return len(a)
    return None


def _outcome(conv: dict) -> tuple:
    o = conv["outcome"]
    return (o.get("outcome"), o.get("success"), o.get("turns"), o.get("reward"))


def _env_policy(domain: Domain, policy: str, noise, max_turns):
    env = DialogueEnv(domain, noise=noise, text=True, max_turns=max_turns)
    return env, resolve_policy(policy, domain, env.spec_obs)


# -- the readable diff -------------------------------------------------------------------------


class _Style:
    def __init__(self, color: bool) -> None:
        on = color
        self.red = "\033[31m" if on else ""
        self.green = "\033[32m" if on else ""
        self.dim = "\033[2m" if on else ""
        self.bold = "\033[1m" if on else ""
        self.reset = "\033[0m" if on else ""


def _turn_lines(k: int, turn: dict) -> list[str]:
    return [
        f"turn {k:>2}  USER   {turn['user']}",
        f"         acts   {turn['user_acts']}",
        f"         heard  {turn['heard']}",
        f"         AGENT  {turn['agent']}: {turn['agent_text']}",
    ]


def _ending(conv: dict) -> str:
    o = conv["outcome"]
    return f"{o.get('outcome')} after {o.get('turns')} turns, reward {o.get('reward'):+g}"


def format_change(change: Change, color: bool = False) -> str:
    """The first change of one conversation: context, then recorded (-) against now (+)."""
    st = _Style(color)
    rec, now = change.recorded, change.replayed
    t = change.turn
    out = [
        f"{st.bold}seed {change.seed}, episode {change.episode}: first change at turn {t}"
        f"{st.reset}  (recorded: {_ending(rec)}; now: {_ending(now)})"
    ]
    for k in range(max(0, t - CONTEXT), t):
        out += [f"{st.dim}  {line}{st.reset}" for line in _turn_lines(k, rec["turns"][k])]
    a = rec["turns"][t] if t < len(rec["turns"]) else None
    b = now["turns"][t] if t < len(now["turns"]) else None
    if a is not None and b is not None:
        la, lb = _turn_lines(t, a), _turn_lines(t, b)
        for x, y in zip(la, lb):
            if x == y:
                out.append(f"  {x}")
            else:
                out.append(f"{st.red}- {x}{st.reset}")
                out.append(f"{st.green}+ {y}{st.reset}")
    else:
        for side, sign, colour in ((rec, "-", st.red), (now, "+", st.green)):
            turns = side["turns"]
            if t < len(turns):
                out += [f"{colour}{sign} {line}{st.reset}" for line in _turn_lines(t, turns[t])]
            else:
                out.append(
                    f"{colour}{sign} end      USER   {side.get('last_user', '')}  "
                    f"[{side.get('last_user_acts', '')}] -> {_ending(side)}{st.reset}"
                )
    return "\n".join(out)


def format_check(result: CheckResult, color: bool = False, limit: int = 10) -> str:
    """The whole check report: a summary line, notes, and the first ``limit`` changes."""
    st = _Style(color)
    if result.ok:
        head = f"{result.path}: all {result.total} conversations match their recording"
    else:
        head = (
            f"{st.bold}{result.path}: {len(result.changes)} of {result.total} conversations "
            f"changed{st.reset}"
        )
    out = [head] + [f"note: {n}" for n in result.notes]
    for change in result.changes[:limit]:
        out += ["", format_change(change, color)]
    if len(result.changes) > limit:
        out += ["", f"... and {len(result.changes) - limit} more changed conversations"]
    return "\n".join(out) + "\n"
