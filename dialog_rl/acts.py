"""Dialogue acts as small ints, and how to print them.

A user act is a tuple ``(type, slot, value)``: ``slot`` indexes the informable slots for INFORM
and the requestable slots for REQUEST, ``value`` indexes the slot's values (``dontcare`` is
``len(values)``); unused fields are -1. An observed act carries a fourth item, its confidence.
System acts are indices into the scenario's action catalog; their kind is one of ``SYS_*``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dialog_rl.domain import Domain

# user act types
HELLO, INFORM, REQUEST, AFFIRM, NEGATE, THANK, BYE, HANGUP = range(8)
USER_ACT_NAMES = ("hello", "inform", "request", "affirm", "negate", "thank", "bye", "hangup")
N_USER_ACTS = len(USER_ACT_NAMES)

# system act kinds, in the order of dialog_rl.scenario.schema.ACT_KINDS
(
    SYS_GREET,
    SYS_REQUEST,
    SYS_CONFIRM,
    SYS_OFFER,
    SYS_INFORM,
    SYS_PERFORM,
    SYS_REQMORE,
    SYS_REPEAT,
    SYS_HANDOVER,
    SYS_BYE,
    SYS_BOOK,
) = range(11)

UserAct = tuple[int, int, int]
ObservedAct = tuple[int, int, int, float]


def format_user_act(domain: Domain, act: tuple) -> str:
    """Render a user act as ``inform(area=north)``, ``request(phone)``, ``affirm``..."""
    kind, slot, value = act[0], act[1], act[2]
    name = USER_ACT_NAMES[kind]
    if kind == INFORM:
        text = f"inform({domain.inf_names[slot]}={domain.value_name(slot, value)})"
    elif kind == REQUEST:
        text = f"request({domain.req_names[slot]})"
    else:
        text = name
    if len(act) > 3:
        text += f"@{act[3]:.2f}"
    return text


def format_user_acts(domain: Domain, acts: list) -> str:
    return " | ".join(format_user_act(domain, a) for a in acts)
