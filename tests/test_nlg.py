"""Both sides' utterances read as English: "an" before a vowel sound, in every shipped scenario."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from dialog_rl.acts import INFORM
from dialog_rl.domain import load_domain, system_text, with_articles
from simulators.customer_nlg import UserNLG

SCENARIOS = sorted((Path(__file__).resolve().parents[1] / "scenarios").glob("*.yaml"))
#: "a" before a vowel that is not the sound of "you" or "won"
WRONG_ARTICLE = re.compile(r"\b[Aa] (?!eu|uni|use|one)[aeiouAEIOU]")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "bistro is a expensive gastropub restaurant",
            "bistro is an expensive gastropub restaurant",
        ),
        ("A italian place, a indian one.", "An italian place, an indian one."),
        ("I want a european restaurant.", "I want a european restaurant."),
        ("a unit, a user, a one-off", "a unit, a user, a one-off"),
        ("a cheap phone in a box", "a cheap phone in a box"),
        ("Take a look at area east", "Take a look at area east"),
    ],
)
def test_with_articles_turns_a_into_an_before_a_vowel_sound_only(text, expected):
    assert with_articles(text) == expected


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_agent_utterances_use_an_before_vowels_for_every_action_and_entity(path):
    d = load_domain(str(path))
    beliefs = [0] * len(d.inf_names)
    for action in range(d.n_actions):
        for entity in range(len(d.kb_names)):
            for t in range(len(d.act_templates[action])):
                text = system_text(d, action, 0, entity, t, beliefs)
                assert not WRONG_ARTICLE.search(text), text


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_customer_informs_use_an_before_vowels_for_every_value(path):
    d = load_domain(str(path))
    nlg = UserNLG(d)
    for slot, values in enumerate(d.inf_values):
        for value in range(len(values)):
            for seed in range(8):  # every template, most likely
                text = nlg.realise([(INFORM, slot, value)], np.random.default_rng(seed))
                assert not WRONG_ARTICLE.search(text), text
