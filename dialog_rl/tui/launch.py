"""Build the TUI's session from command-line arguments (or a saved session); no textual here."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from dialog_rl.domain import load_domain
from dialog_rl.policies import make_policy
from dialog_rl.tui.customer import NLUMissing
from dialog_rl.tui.session import CUSTOMER_LIFETIME, Session, SessionError


def build_session(
    *,
    scenario: str | None,
    policy: str | None,
    seed: int | None,
    noise: float | None,
    explore: bool = False,
    customer: bool = False,
    lifetime: bool = False,
    open_path: str | None = None,
    error: type[Exception] = ValueError,
    kb_roots: Sequence[str] = (),
) -> Session:
    """A session from flags, or reopened from ``open_path``.

    With ``open_path``, ``scenario`` and ``policy`` (if given) replace the saved ones, so a
    session made with the rule policy can be reopened with a policy trained from its overrides;
    the seed, noise and conversations come from the file. ``lifetime`` plays returning customers
    (the scenario needs a ``lifetime`` section); a saved lifetime session reopens as one.

    ``kb_roots``: folders besides the scenario's own where its ``kb.file`` may be.

    Raises ``error`` with one clear message for anything the user got wrong.
    """
    from dialog_rl.env import LifetimeEnv
    from dialog_rl.env.featurizer import observation_spec

    saved: dict | None = None
    if open_path is not None:
        path = Path(open_path)
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except OSError as err:
            raise error(f"--open {path}: cannot read: {err.strerror or err}") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            line = getattr(err, "lineno", None)
            where = f"{path}:{line}" if line else str(path)
            raise error(f"{where}: not a session file (invalid JSON)") from None
        if not isinstance(saved, dict) or not isinstance(saved.get("scenario"), str):
            raise error(f"{path}: scenario: missing; is this a session.json saved by the TUI?")
        scenario = scenario or saved["scenario"]
        if policy is None and isinstance(saved.get("policy"), str):
            policy = saved["policy"]
    if scenario is None:
        raise error("tui needs --scenario FILE (or --open SESSION.json)")
    domain = load_domain(scenario, kb_roots)
    if saved is not None and saved.get("lifetime") is True:
        lifetime = True  # the file says so; whether the scenario allows it is checked on reading
    elif saved is not None and lifetime:
        raise error(f"--lifetime: {open_path} holds single conversations; open it without it")
    elif lifetime and domain.lifetime is None:
        raise error(f"{scenario}: --lifetime needs a `lifetime` section in the scenario")
    if lifetime and customer:
        raise error(f"--customer with --lifetime: {CUSTOMER_LIFETIME}")
    life = lifetime and domain.lifetime is not None
    spec = LifetimeEnv(domain).spec_obs if life else observation_spec(domain)
    policy_name = policy or "rule"
    pol = make_policy(policy_name, domain, spec)
    if saved is not None:
        try:
            session = Session.from_dict(saved, domain, pol, source=str(open_path))
        except (SessionError, NLUMissing) as err:
            raise error(str(err)) from None
        session.policy_name = policy_name
        return session
    explore = explore or policy_name == "random"  # a greedy random policy would always pick one
    try:
        return Session(
            domain,
            pol,
            policy_name=policy_name,
            seed=seed or 0,
            noise=noise,
            explore=explore,
            mode="customer" if customer else "simulate",
            lifetime=lifetime,
        )
    except NLUMissing as err:
        raise error(str(err)) from None
