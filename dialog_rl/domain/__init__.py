"""The compiled domain: a scenario as plain data, its knowledge-base queries, the agent's NLG."""

from dialog_rl.domain.agent_nlg import system_text, with_articles
from dialog_rl.domain.compiled import (
    TASK_SLOT_NAME,
    BehaviourParams,
    Booking,
    Domain,
    LifetimeParams,
    PersonaParams,
)
from dialog_rl.domain.compiler import compile_scenario, load_domain
from dialog_rl.domain.kb import first_match, match_mask, mismatches

__all__ = [
    "TASK_SLOT_NAME",
    "BehaviourParams",
    "Booking",
    "Domain",
    "LifetimeParams",
    "PersonaParams",
    "compile_scenario",
    "first_match",
    "load_domain",
    "match_mask",
    "mismatches",
    "system_text",
    "with_articles",
]
