"""The text NLU on real customers' turns: its accuracy against the annotation, and how well its
confidences tell the acts it gets right from those it gets wrong."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from dialog_rl.acts import BYE, INFORM, REQUEST, THANK
from dialog_rl.realism.corpus import NOT_DOMAINS, Dialogue, Turn
from dialog_rl.realism.labels import SCORED, UNANNOTATED, LabelledTurn, Labels
from simulators.nlu import RuleNLU
from simulators.nlu_eval import NLUScore, score_turns

__all__ = ["RealNLUScore", "confidence_on_real_turns", "real_nlu_score", "turns_about"]

#: act types judged right or wrong against MultiWOZ's labels: it labels inform and request
#: reliably, and thank and bye interchangeably (so either closing label makes a closing right);
#: it leaves yes, no and most greetings unlabelled, so those are not judged
JUDGED = (INFORM, REQUEST, THANK, BYE)
_CLOSINGS = frozenset({THANK, BYE})


@dataclass(frozen=True)
class RealNLUScore:
    """The NLU against the labels of real user turns."""

    turns: int
    categories: dict[str, int]
    """Turns per category of ``dialog_rl.realism.labels.LabelledTurn.category``."""
    score: NLUScore
    """Strict scores over the ``scored`` turns."""
    lenient_type_accuracy: float
    """Share of scored turns whose inform / request / closing types are exactly right."""
    out_of_scope: int
    """Annotated turns whose labels are about nothing the scenario has."""
    out_of_scope_alarms: int
    """Of those, turns the NLU read an inform or a request in."""


def turns_about(dialogues: Iterable[Dialogue], domain: str) -> list[Turn]:
    """User turns whose labels name no domain but ``domain`` (unannotated ones included)."""
    out = []
    for d in dialogues:
        for t in d.user_turns:
            named = {label.split("-", 1)[0].lower() for label in t.labels if "-" in label}
            if named - NOT_DOMAINS <= {domain}:
                out.append(t)
    return out


def real_nlu_score(nlu: RuleNLU, labels: Labels, turns: Iterable[Turn]) -> RealNLUScore:
    """Score ``nlu`` on real user turns against their labels in the scenario's terms."""
    gold, parsed, categories = [], [], Counter()
    alarms = out_of_scope = lenient = 0
    for turn in turns:
        lt = labels.turn(turn.labels)
        categories[lt.category] += 1
        got = nlu.parse(turn.text)
        if lt.category == SCORED:
            gold.append(list(lt.acts))
            parsed.append(got)
            lenient += _lenient(lt.acts) == _lenient(got)
        elif lt.category != UNANNOTATED:
            out_of_scope += 1
            alarms += any(a[0] in (INFORM, REQUEST) for a in got)
    score = score_turns(gold, parsed)
    return RealNLUScore(
        turns=sum(categories.values()),
        categories=dict(categories),
        score=score,
        lenient_type_accuracy=lenient / max(score.turns, 1),
        out_of_scope=out_of_scope,
        out_of_scope_alarms=alarms,
    )


def confidence_on_real_turns(
    nlu: RuleNLU, labels: Labels, turns: Iterable[Turn]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The confidence of every act of a ``JUDGED`` type the NLU reads in annotated real turns,
    whether the labels make it right, and its type: ``(conf [n], right [n], type [n])``."""
    conf, right, types = [], [], []
    for turn in turns:
        lt: LabelledTurn = labels.turn(turn.labels)
        if lt.category == UNANNOTATED:
            continue
        closing = bool(_CLOSINGS & {a[0] for a in lt.acts})
        for t, s, v, c in nlu.parse(turn.text):
            if t in JUDGED:
                conf.append(c)
                right.append((t, s, v) in lt.acts or (t in _CLOSINGS and closing))
                types.append(t)
    return np.array(conf, dtype=np.float64), np.array(right, dtype=bool), np.array(types)


def _lenient(acts: Iterable) -> set[str]:
    names = {INFORM: "inform", REQUEST: "request", THANK: "closing", BYE: "closing"}
    return {names[a[0]] for a in acts if a[0] in names}
