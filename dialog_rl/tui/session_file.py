"""The session file: what "save" writes and "reopen" reads (JSON, actions by name).

A saved session holds only what makes conversations replayable (seed, episodes, noise, actions,
typed words) and the demonstrations; states, transcripts and logs are rebuilt by replay. Every
error names the file and the dotted field, like the scenario loader's.
"""

from __future__ import annotations

import json
from pathlib import Path

from dialog_rl.domain import Domain
from dialog_rl.outputs import stamp
from dialog_rl.policies import Policy
from dialog_rl.tui.customer import load_nlu
from dialog_rl.tui.session import (
    CUSTOMER_LIFETIME,
    MODES,
    SESSION_VERSION,
    Choice,
    Conversation,
    Demo,
    Session,
    SessionError,
)


def session_to_dict(session: Session) -> dict:
    """The session as JSON-safe data (actions by name, so a reader can follow it)."""
    names = session.domain.act_names
    return {
        **stamp("tui"),  # lets a later save replace this folder's files, and nothing else
        "version": SESSION_VERSION,
        "scenario": session.domain.path,
        "scenario_hash": session.domain.content_hash,
        "policy": session.policy_name,
        "seed": session.seed,
        "explore": session.explore,
        "lifetime": session.lifetime,
        "next_episode": session.next_episode,
        "current": conversation_to_dict(session.conversation, names),
        "history": [conversation_to_dict(c, names) for c in session.history],
        "demos": [
            {
                "conversation": conversation_to_dict(d.conversation, names),
                "action": names[d.action],
                "policy_action": names[d.policy_action],
            }
            for d in session.demos
        ],
    }


def conversation_to_dict(c: Conversation, names: tuple[str, ...]) -> dict:
    out: dict = {"episode": c.episode, "noise": c.noise, "mode": c.mode}
    if c.opening is not None:
        out["opening"] = c.opening
    out["choices"] = [
        {
            "action": names[ch.action],
            "overridden": ch.overridden,
            "propensity": ch.propensity,
            **({"policy_action": names[ch.policy_action]} if ch.policy_action >= 0 else {}),
            **({"text": ch.text} if ch.text is not None else {}),
        }
        for ch in c.choices
    ]
    return out


def session_from_dict(
    cls: type[Session],
    data: dict,
    domain: Domain,
    policy: Policy,
    *,
    source: str = "session",
    nlu: object | None = None,
) -> Session:
    """Rebuild a saved session; errors name ``source`` and the field that is wrong."""
    reader = _Reader(source, domain)
    version = reader.get(data, "version", int)
    if version != SESSION_VERSION:
        raise SessionError(f"{source}: version: expected {SESSION_VERSION}, got {version}")
    want = reader.get(data, "scenario_hash", str)
    if want != domain.content_hash:
        raise SessionError(
            f"{source}: scenario_hash: the session was made with another version of the "
            f"scenario ({want[:12]}), not {domain.path} ({domain.content_hash[:12]})"
        )
    current = reader.conversation(reader.get(data, "current", dict), "current")
    # Files saved before returning customers existed hold single conversations.
    lifetime = reader.get(data, "lifetime", bool) if "lifetime" in data else False
    if lifetime and domain.lifetime is None:
        raise SessionError(
            f"{source}: lifetime: the session follows returning customers, but {domain.path} "
            "has no `lifetime` section"
        )
    needs_nlu = current.mode == "customer" and not lifetime
    session = cls(
        domain,
        policy,
        policy_name=reader.get(data, "policy", str),
        seed=reader.get(data, "seed", int),
        episode=current.episode,
        noise=current.noise,
        explore=reader.get(data, "explore", bool),
        mode="simulate",
        nlu=nlu if nlu is not None or not needs_nlu else load_nlu(domain),
        lifetime=lifetime,
    )
    session.next_episode = reader.get(data, "next_episode", int)
    session.history = [
        reader.conversation(c, f"history[{i}]")
        for i, c in enumerate(reader.get(data, "history", list))
    ]
    if lifetime and any(c.mode == "customer" for c in [current, *session.history]):
        raise SessionError(f"{source}: mode: {CUSTOMER_LIFETIME}")
    for i, d in enumerate(reader.get(data, "demos", list)):
        where = f"demos[{i}]"
        conv = reader.conversation(reader.get(d, "conversation", dict, where), where)
        demo = Demo(
            conv,
            reader.action(reader.get(d, "action", str, where), where + ".action"),
            reader.action(reader.get(d, "policy_action", str, where), where + ".policy_action"),
        )
        session.demos.append(demo)
    session.conversation = current
    try:
        session._replay()
        for d in session.demos:
            session.fill_demo(d)
    except (ValueError, RuntimeError) as err:
        raise SessionError(f"{source}: does not replay on this scenario: {err}") from None
    session.dirty = False
    return session


def read_session_json(path: str | Path) -> dict:
    """The JSON object of a session file, or SessionError naming the file (and line)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise SessionError(f"{path}: cannot read: {err}") from None
    except json.JSONDecodeError as err:
        raise SessionError(f"{path}:{err.lineno}: not valid JSON: {err.msg}") from None
    if not isinstance(data, dict):
        raise SessionError(f"{path}: a session file holds a JSON object")
    return data


class _Reader:
    """Reads fields of a saved session, naming the file and dotted field in every error."""

    def __init__(self, source: str, domain: Domain) -> None:
        self.source = source
        self.domain = domain

    def get(self, data: dict, key: str, kind: type, where: str = "") -> object:
        name = f"{where}.{key}" if where else key
        if not isinstance(data, dict) or key not in data:
            raise SessionError(f"{self.source}: {name}: missing")
        value = data[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if not ok:
            raise SessionError(f"{self.source}: {name}: expected {kind.__name__}, got {value!r}")
        return value

    def action(self, name: str, where: str) -> int:
        try:
            return self.domain.action_index(name)
        except KeyError:
            raise SessionError(
                f"{self.source}: {where}: no action {name!r} in the scenario"
            ) from None

    def conversation(self, data: dict, where: str) -> Conversation:
        mode = self.get(data, "mode", str, where)
        if mode not in MODES:
            raise SessionError(f"{self.source}: {where}.mode: expected one of {MODES}")
        noise = self.get(data, "noise", float, where)
        if not 0.0 <= noise <= 1.0:
            raise SessionError(f"{self.source}: {where}.noise: expected 0-1, got {noise}")
        opening = data.get("opening") if isinstance(data, dict) else None
        if opening is not None and not isinstance(opening, str):
            raise SessionError(f"{self.source}: {where}.opening: expected a string")
        choices = []
        for i, ch in enumerate(self.get(data, "choices", list, where)):
            at = f"{where}.choices[{i}]"
            text = ch.get("text") if isinstance(ch, dict) else None
            if text is not None and not isinstance(text, str):
                raise SessionError(f"{self.source}: {at}.text: expected a string")
            policy_action = -1
            if isinstance(ch, dict) and "policy_action" in ch:
                name = self.get(ch, "policy_action", str, at)
                policy_action = self.action(name, at + ".policy_action")
            choices.append(
                Choice(
                    self.action(self.get(ch, "action", str, at), at + ".action"),
                    self.get(ch, "overridden", bool, at),
                    self.get(ch, "propensity", float, at),
                    text,
                    policy_action,
                )
            )
        return Conversation(self.get(data, "episode", int, where), noise, mode, opening, choices)


def write_atomic(path: Path, text: str) -> None:
    """Write a text file through a temporary name, so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()
