"""Reading annotated corpora: the format is checked, and the first bad dialogue is named."""

from __future__ import annotations

import json

import pytest

from dialog_rl.realism.corpus import CorpusError, dialogues_about, load_corpus, parse_corpus


def dialogue(*turns, goal=None) -> dict:
    return {"goal": goal or {}, "turns": list(turns)}


def user(text: str, **labels) -> dict:
    return {"speaker": "user", "text": text, "dialog_act": labels}


def system(text: str, **labels) -> dict:
    return {"speaker": "system", "text": text, "dialog_act": labels}


GOOD = {
    "r1": dialogue(user("Cheap food please.", **{"Restaurant-Inform": [["Price", "cheap"]]})),
    "h1": dialogue(
        user("A hotel.", **{"Hotel-Inform": [["Type", "hotel"]]}),
        user("And a restaurant.", **{"Restaurant-Inform": [["none", "none"]]}),
    ),
    # the agent's label is an annotator's slip: the dialogue is still about restaurants only
    "r2": dialogue(
        user("Thanks.", **{"general-thank": [["none", "none"]]}),
        system("Pizza Express it is.", **{"Hotel-Inform": [["Name", "pizza express"]]}),
        user("Somewhere north.", **{"Restaurant-Inform": [["Area", "north"]]}),
    ),
}

BAD = [
    # (id, data, message)
    ("not an object", [1, 2], r"bad\.json: expected a JSON object of dialogues .* got a JSON list"),
    ("empty", {}, "got an empty object"),
    ("dialogue not an object", {"a": GOOD["r1"], "b": "x"}, r"dialogue 'b': expected an object"),
    ("no turns", {"a": {"goal": {}}}, r"dialogue 'a': turns: expected a non-empty list .* got none"),
    ("empty turns", {"a": dialogue()}, "dialogue 'a': turns: .* got an empty list"),
    ("goal a list", {"a": {"goal": [], "turns": [user("x")]}}, "dialogue 'a': goal: expected an object"),
    (
        "bad speaker",
        {"a": GOOD["r1"], "b": dialogue(user("x"), {"speaker": "usr", "text": "x", "dialog_act": {}})},
        r"dialogue 'b': turn 1: speaker must be 'user' or 'system', got 'usr'",
    ),
    ("text not a string", {"a": dialogue({"speaker": "user", "text": 3, "dialog_act": {}})}, "turn 0: text must be a string"),
    ("no dialog_act", {"a": dialogue({"speaker": "user", "text": "x"})}, "turn 0: dialog_act must be an object"),
    (
        "pairs not pairs",
        {"a": dialogue(user("x", **{"Restaurant-Inform": [["Area"]]}))},
        r"turn 0: dialog_act 'Restaurant-Inform' must be a list of \[slot, value\] string pairs",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("case", "data", "match"), BAD, ids=[b[0] for b in BAD])
def test_a_corpus_not_in_the_format_is_refused_naming_the_file_and_first_bad_dialogue(
    tmp_path, case, data, match
):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(CorpusError, match=match) as err:
        load_corpus(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_unreadable_and_invalid_json_files_are_refused_in_one_line(tmp_path):
    with pytest.raises(CorpusError, match="cannot read the corpus"):
        load_corpus(tmp_path / "missing.json")
    path = tmp_path / "broken.json"
    path.write_text('{"a":\n  [1,', encoding="utf-8")
    with pytest.raises(CorpusError, match=r"broken\.json:2: not valid JSON"):
        load_corpus(path)


def test_dialogues_are_read_with_their_turns_and_labels():
    corpus = parse_corpus(GOOD, "good.json")
    r1 = corpus["r1"]
    assert [t.speaker for t in r1.turns] == ["user"]
    assert r1.turns[0].labels == {"Restaurant-Inform": [("Price", "cheap")]}
    assert len(corpus["r2"].user_turns) == 2


def test_a_dialogue_is_about_the_domains_of_its_customers_labels():
    corpus = parse_corpus(GOOD, "good.json")
    assert corpus["r2"].domains == {"restaurant"}
    assert corpus["h1"].domains == {"hotel", "restaurant"}
    assert [d.id for d in dialogues_about(corpus, "restaurant")] == ["r1", "r2"]
    assert dialogues_about(corpus, "taxi") == []
