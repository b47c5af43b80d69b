"""`dialog-rl calibrate`: what a dialogue shows, the estimators, the overlay, the command line."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from dialog_rl.cli import main
from dialog_rl.domain import load_domain
from dialog_rl.realism.calibrate import _censored_counts, _chance_of_no_match, observe_all
from dialog_rl.realism.corpus import load_corpus

ROOT = Path(__file__).resolve().parents[2]
THANK = {"general-thank": [["none", "none"]]}


def user(text, **labels):
    return {"speaker": "user", "text": text, "dialog_act": labels}


def system(text, **labels):
    return {"speaker": "system", "text": text, "dialog_act": labels}


def inform(*pairs):
    return {"Restaurant-Inform": [list(p) for p in pairs]}


def _corpus(path: Path) -> Path:
    """Four dialogues whose evidence is counted by hand in the tests below."""
    offer = system("Golden House?", **inform(("Name", "golden house")))
    data = {
        "greet": {  # hello, two pieces (all the goal had: censored), a yes, "no, that's all"
            "goal": {"info": {"pricerange": "cheap", "area": "north"}, "reqt": ["phone"]},
            "turns": [
                user("Hi, cheap food in the north.", **inform(("Price", "cheap"), ("Area", "north"))),
                offer,
                user("Yes. What is the phone number?", **{"Restaurant-Request": [["Phone", "?"]]}),
                system("01223 and anything else?", **{"general-reqmore": [["none", "none"]]}),
                user("No, that is all, thank you.", **THANK),
            ],
        },
        "nomatch": {  # a question answered with a yes, nothing matches, a change, thanks and bye
            "goal": {
                "info": {"food": "chinese", "area": "centre"},
                "fail_info": {"food": "belgian", "area": "centre"},
            },
            "turns": [
                user("I want belgian food.", **inform(("Food", "belgian"))),
                system("Which area?", **{"Restaurant-Request": [["Area", "?"]]}),
                user("Yes, the centre.", **inform(("Area", "centre"))),
                system("No belgian there.", **{"Restaurant-NoOffer": [["Food", "belgian"]]}),
                user("How about chinese instead?", **inform(("Food", "chinese"))),
                offer,
                user("Great, thanks. Bye.", **THANK, **{"general-bye": [["none", "none"]]}),
            ],
        },
        "quiet": {  # one piece of two (exact), an offer taken without a yes, closes twice (the
            # first time with a good-bye its label leaves out)
            "goal": {"info": {"food": "indian", "pricerange": "moderate"}},
            "turns": [
                user("Indian food.", **inform(("Food", "indian"))),
                system("Price?", **{"Restaurant-Request": [["Price", "?"]]}),
                user("Moderate.", **inform(("Price", "moderate"))),
                offer,
                user("Thanks, goodbye!", **THANK),
                system("Anything else?", **{"general-reqmore": [["none", "none"]]}),
                user("No, that's all.", **THANK),
            ],
        },
        "misheard": {  # the agent states the wrong area; the customer restates theirs
            "goal": {"info": {"area": "west"}},
            "turns": [
                user("Somewhere in the west.", **inform(("Area", "west"))),
                system("In the east, then?", **inform(("Area", "east"))),
                user("No, the west.", **inform(("Area", "west"))),
                offer,
                user("Thank you.", **THANK),
            ],
        },
    }  # fmt: skip
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _observed(restaurant, tmp_path):
    corpus = load_corpus(_corpus(tmp_path / "c.json"))
    return dict(zip(corpus, observe_all(restaurant, list(corpus.values()), "restaurant")))


def test_each_dialogue_shows_the_occasions_and_what_the_customer_did(restaurant, tmp_path):
    ob = _observed(restaurant, tmp_path)
    assert ob["greet"].hello == [1, 1] and ob["quiet"].hello == [0, 1]
    assert ob["greet"].affirm_offer == [1, 1] and ob["quiet"].affirm_offer == [0, 1]
    assert ob["greet"].closing_negate == [1, 1] and ob["greet"].closing_again == [0, 1]
    assert ob["quiet"].closing_again == [1, 1] and ob["quiet"].closing_negate == [1, 2]
    # a good-bye labelled, or in the words of a turn labelled a thanks alone
    assert ob["nomatch"].bye == [1, 1] and ob["quiet"].bye == [1, 2]
    assert ob["nomatch"].affirm_answer == [1, 1] and ob["quiet"].affirm_answer == [0, 1]
    assert ob["nomatch"].no_match == [0, 1, 0, 0]  # a change
    assert ob["nomatch"].answered == [1, 1] and ob["quiet"].answered == [1, 1]
    assert ob["misheard"].correct == [1, 1]
    assert ob["nomatch"].failed and not ob["greet"].failed
    # the opening says all the goal has (censored); the quiet customer says one of two
    assert ob["greet"].pieces[0] == (2, True) and ob["quiet"].pieces[0] == (1, False)
    assert ob["greet"].pieces[1] == (2, True)  # "yes" and the one question
    area = restaurant.inf_names.index("area")
    assert ob["greet"].dontcare == [0, 1] and area in ob["greet"].goal_slots


def test_censored_counts_are_fitted_by_kaplan_meier():
    assert _censored_counts([(1, False), (2, False), (2, False), (3, False)]) == (0.25, 0.5, 0.25)
    # a censored 2 says only "at least 2": it counts at risk for 1, and its mass moves on
    probs = _censored_counts([(1, False), (2, True)])
    assert probs == (0.5, 0.5)
    assert sum(_censored_counts([(1, True), (3, True), (2, False)])) == pytest.approx(1.0)


def test_the_chance_of_no_match_is_that_of_random_values(restaurant):
    q = _chance_of_no_match(restaurant, [1.0, 0.0, 0.0])  # area alone: every area has a match
    assert q == 0.0
    q_all = _chance_of_no_match(restaurant, [1.0, 1.0, 1.0])
    assert 0.5 < q_all < 1.0


def test_calibrate_writes_an_overlay_that_loads_with_the_fitted_rates(tmp_path, capsys):
    corpus = _corpus(tmp_path / "c.json")
    out = tmp_path / "fitted.yaml"
    report = tmp_path / "fit.json"
    args = ["calibrate", "--scenario", "restaurant", "--corpus", str(corpus), "--out", str(out)]
    assert main([*args, "--json", str(report), "--bootstrap", "50"]) == 0
    printed = capsys.readouterr().out
    assert "behaviour.closing.negate" in printed and "4 dialogues" in printed
    d = load_domain(str(out))
    assert d.name == "fitted" and d.bases == ("restaurant",)
    b = d.behaviour
    assert b.hello == 0.25 and b.affirm_offer == 0.5 and b.correct == 1.0
    assert (
        b.bye == 0.4
        and b.affirm_answer == 0.5
        and b.closing_negate == 0.4
        and b.closing_again == 0.25
    )
    assert d.change == 1.0 and d.relax == 0.0
    assert sum(b.slots_per_turn) == pytest.approx(1.0)
    text = out.read_text()
    assert "dialog-rl calibrate --scenario restaurant" in text.splitlines()[3]
    doc = json.loads(report.read_text())
    assert doc["made_by"] == "dialog-rl calibrate" and doc["dialogues"] == 4
    hello = next(e for e in doc["estimates"] if e["key"] == "behaviour.hello")
    assert (hello["events"], hello["occasions"]) == (1, 4)
    assert main([*args, "--bootstrap", "50"]) == 0  # its own output is replaced


def test_calibrate_refuses_bad_input_in_one_line_with_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "ok": {"turns": [{"speaker": "user", "text": "x", "dialog_act": {}}]},
                "SNG01": {"turns": "hello"},
            }
        )
    )
    out = tmp_path / "o.yaml"
    assert (
        main(["calibrate", "--scenario", "restaurant", "--corpus", str(bad), "--out", str(out)])
        == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(bad) in err and "'SNG01'" in err and not out.exists()
    good = _corpus(tmp_path / "c.json")
    args = ["calibrate", "--corpus", str(good), "--out", str(out)]
    assert main([*args, "--scenario", "cambridge"]) == 2
    assert "one-domain scenarios" in capsys.readouterr().err
    assert main([*args, "--scenario", "shopping"]) == 2
    assert "no dialogue is about 'shopping'" in capsys.readouterr().err
    foreign = tmp_path / "mine.yaml"
    foreign.write_text("name: mine\n")
    assert (
        main(
            ["calibrate", "--scenario", "restaurant", "--corpus", str(good), "--out", str(foreign)]
        )
        == 2
    )
    assert "was not written by dialog-rl calibrate" in capsys.readouterr().err
    assert foreign.read_text() == "name: mine\n"


def test_calibrate_on_the_real_corpus_is_quick_and_the_shipped_overlay_is_its_output(
    multiwoz, tmp_path, capsys
):
    corpus = multiwoz / "restaurant_val_dialogues.json"
    out = tmp_path / "restaurant_calibrated.yaml"
    start = time.perf_counter()
    args = ["calibrate", "--scenario", "restaurant_booking", "--corpus", str(corpus)]
    assert main([*args, "--out", str(out)]) == 0
    assert time.perf_counter() - start < 20  # seconds, imports and 200 resamples included
    assert "50 dialogues about restaurant" in capsys.readouterr().out
    assert load_domain(str(out)).bases == ("restaurant_booking", "restaurant")
    shipped = ROOT / "scenarios" / "restaurant_calibrated.yaml"

    def body(path: Path) -> list[str]:
        lines = path.read_text().splitlines()
        return [x for x in lines if not x.startswith(("#", "extends:"))]

    assert body(out) == body(shipped), "regenerate it with the command in its header"


def test_calibrate_fits_who_books_how_often_there_is_room_and_what_changes(tmp_path, domains):
    """Three goals, two book; one booking finds no room at first and changes its time."""
    book = {"day": "monday", "time": "18:00", "people": "2"}
    turns = [user("Cheap food.", **inform(("Price", "cheap")))]
    data = {
        "a": {"goal": {"info": {"pricerange": "cheap"}, "book": book}, "turns": turns},
        "b": {
            "goal": {
                "info": {"pricerange": "cheap"},
                "book": {**book, "time": "19:00"},
                "fail_book": {"time": "18:00"},
            },
            "turns": turns,
        },
        "c": {"goal": {"info": {"pricerange": "cheap"}}, "turns": turns},
    }
    corpus = tmp_path / "book.json"
    corpus.write_text(json.dumps(data), encoding="utf-8")
    out = tmp_path / "booked.yaml"
    args = ["calibrate", "--scenario", "restaurant_booking", "--corpus", str(corpus)]
    assert main([*args, "--out", str(out), "--bootstrap", "20"]) == 0
    d = load_domain(str(out))
    assert d.booking.rate == (0.667,) and d.booking.available == (0.5,)
    time_slot = d.inf_names.index("time")
    weights = {d.inf_names[s]: d.booking.on_fail[s] for s in d.booking.slots}
    assert weights == {"day": 0.0, "time": 1.0, "people": 0.0}
    assert d.booking.prob[time_slot] == 1.0
    assert "goals.book.available" in out.read_text() or "available: 0.5" in out.read_text()


def test_a_booking_said_again_unchanged_is_counted_until_the_agent_books(domains, tmp_path):
    """``restate_booking``: turns after a booking parameter was said and before the agent tries
    to book; the event is a parameter said again with the same value (a changed one is not)."""
    book = {"day": "friday", "time": "18:00", "people": "2"}
    booked = system("Booked, ref X.", **{"Booking-Book": [["Ref", "X"]]})
    data = {
        "again": {
            "goal": {"info": {"food": "indian"}, "book": book},
            "turns": [
                user("Indian for 2 on friday.", **inform(("Food", "indian"), ("People", "2"), ("Day", "friday"))),
                system("Golden House?", **inform(("Name", "golden house"))),
                user("Yes, for 2 people at 18:00.", **inform(("People", "2"), ("Time", "18:00"))),
                booked,
                user("For 2, thanks.", **inform(("People", "2"))),  # after the booking: not counted
            ],
        },
        "changed": {
            "goal": {"info": {"food": "indian"}, "book": book},
            "turns": [
                user("Indian for 3 on friday.", **inform(("Food", "indian"), ("People", "3"), ("Day", "friday"))),
                system("Golden House?", **inform(("Name", "golden house"))),
                user("Make it 2 people, at 18:00.", **inform(("People", "2"), ("Time", "18:00"))),
                booked,
            ],
        },
    }  # fmt: skip
    path = tmp_path / "b.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    corpus = load_corpus(path)
    d = domains["restaurant_booking"]
    ob = dict(zip(corpus, observe_all(d, list(corpus.values()), "restaurant")))
    assert ob["again"].restate_booking == [1, 1]
    assert ob["changed"].restate_booking == [0, 1]


def test_when_and_how_the_booking_is_said_and_yes_to_another_time(domains, tmp_path):
    """``book_early``: the first turn with a booking parameter, unless the agent asked for one,
    comes before any offer; ``book_together``: a volunteered booking parameter brings every
    unsaid one; ``affirm_rebook``: a parameter changed after "no room" opens with yes."""
    book = {"day": "friday", "time": "18:00", "people": "2"}
    offer = system("Golden House?", **inform(("Name", "golden house")))
    nobook = system("No room then. Another time?", **{"Booking-NoBook": [["Time", "18:00"]]})
    data = {
        "late": {  # the booking after the offer, all of it at once; no room twice
            "goal": {"info": {"food": "indian"}, "book": book, "fail_book": {"time": "17:00"}},
            "turns": [
                user("Indian food.", **inform(("Food", "indian"))),
                offer,
                user("Yes, for 2 on friday at 17:00.", **inform(("People", "2"), ("Day", "friday"), ("Time", "17:00"))),
                nobook,
                user("Yes, try 18:00.", **inform(("Time", "18:00"))),
                nobook,
                user("How about 18:15?", **inform(("Time", "18:15"))),
            ],
        },
        "early": {  # a piece of the booking before any offer, then the rest
            "goal": {"info": {"food": "indian"}, "book": book},
            "turns": [
                user("Indian for 2.", **inform(("Food", "indian"), ("People", "2"))),
                offer,
                user("Friday at 18:00.", **inform(("Day", "friday"), ("Time", "18:00"))),
            ],
        },
        "asked": {  # the agent asked: neither counts
            "goal": {"info": {"food": "indian"}, "book": book},
            "turns": [
                user("Indian food.", **inform(("Food", "indian"))),
                system("For when?", **{"Booking-Request": [["Day", "?"], ["Time", "?"]]}),
                user("Friday at 18:00.", **inform(("Day", "friday"), ("Time", "18:00"))),
            ],
        },
    }  # fmt: skip
    path = tmp_path / "b.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    corpus = load_corpus(path)
    ob = dict(
        zip(corpus, observe_all(domains["restaurant_booking"], list(corpus.values()), "restaurant"))
    )
    assert (ob["late"].book_early, ob["late"].book_together) == ([0, 1], [1, 1])
    assert ob["late"].affirm_rebook == [1, 2]
    assert (ob["early"].book_early, ob["early"].book_together) == ([1, 1], [1, 2])
    assert (ob["asked"].book_early, ob["asked"].book_together) == ([0, 0], [0, 0])
