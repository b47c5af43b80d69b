"""`dialog-rl compare`: both sides read the same way, shares and distances, the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dialog_rl.acts import BYE, INFORM, REQUEST, THANK
from dialog_rl.cli import main
from dialog_rl.realism.compare import TurnView, compare, format_comparison, simulated_side


def turn(*read, labelled=True, types=None, slots=0, booking=False) -> TurnView:
    types = frozenset(read if types is None else types)
    return TurnView(frozenset(read), slots, labelled, types, slots, booking)


def test_identical_sides_are_at_distance_zero():
    side = [[turn(INFORM, slots=2), turn(THANK)], [turn(REQUEST), turn()]]
    result = compare(side, side, n_bootstrap=200)
    assert result["act_tv"] == 0.0 and result["act_tv_annotated"] == 0.0
    real, sim = result["figures"]["read_share/inform"].values()
    assert real == sim


def test_shares_slots_and_distance_are_those_counted_by_hand():
    real = [[turn(INFORM, slots=2), turn(THANK)], [turn(labelled=False)]]
    sim = [[turn(INFORM, REQUEST, slots=1)], [turn(BYE, booking=True)]]
    result = compare(real, sim, n_bootstrap=200)
    f = result["figures"]
    assert f["user_turns"]["real"]["mean"] == 1.5
    assert f["read_share/inform"]["real"]["mean"] == pytest.approx(1 / 3, abs=1e-4)
    assert f["read_share/none"]["real"]["mean"] == pytest.approx(1 / 3, abs=1e-4)
    assert f["read_slots_per_inform"]["real"]["mean"] == 2.0
    # real reads {inform, thank, none}, simulated {inform, request, bye}: a third each
    assert result["act_tv"] == pytest.approx(2 / 3, abs=1e-4)
    # the unannotated real turn is in the NLU-read view only
    assert result["real"] == {"dialogues": 2, "user_turns": 3, "labelled_turns": 2}
    assert f["label_share/inform"]["real"]["mean"] == 0.5
    assert f["booking_share"]["simulated"]["mean"] == 0.5
    for name in ("act_tv", "act_tv_annotated"):
        lo, hi = result[name + "_ci95"]
        assert 0.0 <= lo <= hi <= 1.0
    assert "act_tv" in format_comparison(result)


def test_intervals_come_from_resampling_whole_dialogues_with_the_seed():
    rng = np.random.default_rng(0)
    real = [
        [turn(INFORM) if rng.random() < 0.5 else turn(THANK) for _ in range(4)] for _ in range(30)
    ]
    sim = [
        [turn(INFORM) if rng.random() < 0.7 else turn(THANK) for _ in range(4)] for _ in range(60)
    ]
    a = compare(real, sim, n_bootstrap=300, seed=3)
    assert a == compare(real, sim, n_bootstrap=300, seed=3)
    assert a != compare(real, sim, n_bootstrap=300, seed=4)
    share = a["figures"]["read_share/inform"]["real"]
    assert share["ci95"][0] < share["mean"] < share["ci95"][1]
    assert 0 < a["act_tv_floor"] < a["act_tv_ci95"][1]


def test_simulated_turns_are_read_from_the_text_channel_and_seeded(restaurant):
    conversations, outcomes = simulated_side(restaurant, 15, seed=2)
    again, _ = simulated_side(restaurant, 15, seed=2)
    assert conversations == again and sum(outcomes.values()) == 15
    turns = [t for c in conversations for t in c]
    assert all(t.labelled and not t.booking for t in turns)
    assert any(INFORM in t.read for t in turns) and any(t.types for t in turns)


def _tiny_corpus(path):
    def user(text, **labels):
        return {"speaker": "user", "text": text, "dialog_act": labels}

    data = {
        f"d{i}": {
            "goal": {},
            "turns": [
                user("I want cheap food in the north.", **{"Restaurant-Inform": [["Price", "cheap"], ["Area", "north"]]}),
                {"speaker": "system", "text": "Golden House?", "dialog_act": {}},
                user("Yes. What is the phone number?", **{"Restaurant-Request": [["Phone", "?"]]}),
                {"speaker": "system", "text": "01223.", "dialog_act": {}},
                user("Thanks, bye." if i % 2 else "Great.", **({"general-thank": [["none", "none"]]} if i % 2 else {})),
            ],
        }
        for i in range(6)
    }  # fmt: skip
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_compare_command_prints_both_sides_and_writes_json(tmp_path, capsys):
    corpus = _tiny_corpus(tmp_path / "tiny.json")
    out = tmp_path / "compare.json"
    args = ["compare", "--scenario", "restaurant", "--corpus", str(corpus), "--episodes", "20"]
    assert main([*args, "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "act_tv (NLU-read act types)" in text and "6 real dialogues" in text
    result = json.loads(out.read_text())
    assert 0.0 <= result["act_tv"] <= 1.0 and result["made_by"] == "dialog-rl compare"
    assert result["real"]["labelled_turns"] == 15  # 3 of the 18 user turns are unannotated
    assert main([*args, "--json", str(out)]) == 0  # its own output is replaced


def test_compare_plays_the_agent_it_is_given(tmp_path, capsys):
    corpus = _tiny_corpus(tmp_path / "tiny.json")
    args = ["compare", "--scenario", "restaurant", "--corpus", str(corpus), "--episodes", "30"]
    assert main(args) == 0
    rule = capsys.readouterr().out
    assert main([*args, "--policy", "random"]) == 0
    random = capsys.readouterr().out
    assert "(rule policy," in rule and "(random policy," in random

    def turns(text: str) -> str:
        return next(x for x in text.splitlines() if "user turns per conversation" in x)

    assert turns(rule) != turns(random)  # another agent, other conversations
    assert main([*args, "--policy", str(tmp_path / "no-such-run")]) == 2


def test_compare_command_refuses_a_bad_corpus_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "ok": {"turns": [{"speaker": "user", "text": "x", "dialog_act": {}}]},
                "SNG01": {"turns": "hello"},
            }
        )
    )
    assert main(["compare", "--scenario", "restaurant", "--corpus", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert str(bad) in err and "'SNG01'" in err


def test_compare_command_refuses_a_corpus_about_other_domains_and_a_foreign_json(tmp_path, capsys):
    corpus = _tiny_corpus(tmp_path / "tiny.json")
    assert main(["compare", "--scenario", "shopping", "--corpus", str(corpus)]) == 2
    assert "no dialogue is about 'shopping'" in capsys.readouterr().err
    foreign = tmp_path / "notes.json"
    foreign.write_text("{}")
    args = ["compare", "--scenario", "restaurant", "--corpus", str(corpus), "--json", str(foreign)]
    assert main(args) == 2
    assert "was not written by dialog-rl compare" in capsys.readouterr().err
    assert foreign.read_text() == "{}"


def test_compare_on_a_multi_domain_scenario_counts_domains_per_conversation(
    tmp_path, capsys, multiwoz
):
    out = tmp_path / "compare.json"
    corpus = multiwoz / "val_search_dialogues.json"
    args = ["compare", "--scenario", "cambridge", "--corpus", str(corpus), "--episodes", "40"]
    assert main([*args, "--json", str(out)]) == 0
    assert "domains per conversation" in capsys.readouterr().out
    result = json.loads(out.read_text())
    real = result["figures"]["domains_per_conversation"]["real"]["mean"]
    simulated = result["figures"]["domains_per_conversation"]["simulated"]["mean"]
    assert 1.4 < real < 1.8 and 1.0 <= simulated <= 2.0
    assert result["real"]["dialogues"] > 300
