"""Common random numbers: both policies of a paired comparison meet the same customer and noise.

Every draw of the simulator is keyed (``dialog_rl.counter_rng``), so pairing is a choice of key:

- ``pairing="act"`` (default): the customer's reaction to a system action is keyed by
  ``(episode, action, how many times the agent took it before)``, and the channel's corruption
  and confidence of a user act by ``(episode, act, how many times it was said before)``. "The
  second time the customer says food=italian, the line crackles the same way" holds in both
  conversations, whatever happened in between.
- ``pairing="turn"``: draws keyed by ``(episode, turn)``, as in ``dialog-rl simulate``: the
  customer is shared, and so is turn *t*'s luck, whatever each policy did before.
- ``pairing="episode"``: the name earlier versions gave the plain environment; the plain
  environment is now turn-keyed, so it is the same as ``"turn"``.

Within one conversation every key is distinct, so each policy's results are a fair sample of the
plain environment's distribution; only the coupling between the two conversations is tighter.
``benchmarks/pairing.py`` prints what each mode saves.
"""

from __future__ import annotations

from dialog_rl.domain import Domain
from dialog_rl.env import DialogueEnv

PAIRINGS = ("act", "turn", "episode")


def paired_env(
    domain: Domain,
    noise: float | None = None,
    channel: str = "act",
    text: bool = False,
    max_turns: int | None = None,
    pairing: str = "act",
) -> DialogueEnv:
    """A ``DialogueEnv`` whose draws are keyed for ``pairing`` (see the module docstring)."""
    if pairing not in PAIRINGS:
        raise ValueError(f"pairing must be one of {PAIRINGS}, got {pairing!r}")
    keys = "act" if pairing == "act" and channel == "act" else "turn"
    return DialogueEnv(
        domain, noise=noise, channel=channel, text=text, max_turns=max_turns, pairing=keys
    )
