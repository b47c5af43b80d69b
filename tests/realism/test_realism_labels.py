"""MultiWOZ's labels in a scenario's terms."""

from __future__ import annotations

from dialog_rl.acts import BYE, HELLO, INFORM, REQUEST, THANK
from dialog_rl.realism.labels import (
    OUT_OF_SCENARIO,
    SCORED,
    UNANNOTATED,
    VALUE_NOT_IN_SCENARIO,
    Labels,
)


def test_labels_map_onto_the_scenarios_slots_values_and_closings(restaurant):
    d = restaurant
    labels = Labels(d, "restaurant")
    lt = labels.turn(
        {
            "Restaurant-Inform": [
                ["Price", "expensive"],
                ["Area", "center"],
                ["Food", "portugese"],
            ],
            "Restaurant-Request": [["Post", "?"]],
            "general-thank": [["none", "none"]],
        }
    )
    area, food, price = (d.inf_names.index(n) for n in ("area", "food", "pricerange"))
    assert lt.category == SCORED
    assert set(lt.acts) == {
        (INFORM, price, d.inf_values[price].index("expensive")),
        (INFORM, area, d.inf_values[area].index("centre")),  # a synonym
        (INFORM, food, d.inf_values[food].index("portuguese")),  # the annotation's misspelling
        (REQUEST, d.req_names.index("postcode"), -1),
        (THANK, -1, -1),
    }
    assert lt.types == {INFORM, REQUEST, THANK} and lt.inform_slots == 3 and not lt.booking


def test_turns_about_what_the_scenario_lacks_are_told_apart(restaurant):
    labels = Labels(restaurant, "restaurant")
    assert labels.turn({}).category == UNANNOTATED
    booking = labels.turn({"Restaurant-Inform": [["People", "4"], ["Day", "monday"]]})
    assert booking.category == OUT_OF_SCENARIO and booking.booking and booking.types == {INFORM}
    assert booking.inform_slots == 2
    belgian = labels.turn({"Restaurant-Inform": [["Food", "belgian"]]})
    assert belgian.category == VALUE_NOT_IN_SCENARIO
    other = labels.turn({"Hotel-Inform": [["Area", "north"]], "general-bye": [["none", "none"]]})
    assert other.acts == ((BYE, -1, -1),) and other.types == {BYE}
    greet = labels.turn({"general-greet": [["none", "none"]]})
    assert greet.types == {HELLO}


def test_dontcare_and_booking_values_are_read_in_canonical_form(tmp_path):
    from dialog_rl.domain import load_domain

    path = tmp_path / "booking.yaml"
    path.write_text(
        """\
name: booking
slots:
  informable:
    - {name: area, values: [north, south]}
    - {name: day, values: [monday, friday]}
    - {name: time, values: ["7:30 pm", "12:00"]}
    - {name: people, values: ["1", "2", "7"]}
kb:
  entities: [{name: a, area: north}]
actions:
  - {act: offer, templates: ["{name}."]}
goals:
  constraints: {area: 1.0}
personas: [{name: anyone}]
""",
        encoding="utf-8",
    )
    d = load_domain(str(path))
    labels = Labels(d, "restaurant")
    day, time, people, area = (d.inf_names.index(n) for n in ("day", "time", "people", "area"))
    assert labels.value(day, "Friday") == 1
    assert labels.value(time, "19:30") == 0  # "7:30 pm" in the scenario
    assert labels.value(people, "seven") == 2
    assert labels.value(people, "?") == -1
    assert labels.value(area, "dontcare") == d.dontcare(area)
    lt = labels.turn({"Restaurant-Inform": [["Time", "19:30"], ["People", "7"]]})
    assert lt.category == SCORED and lt.booking
    assert set(lt.acts) == {(INFORM, time, 0), (INFORM, people, 2)}


def test_a_multi_domain_scenario_reads_each_domains_labels_as_its_own_slots(domains):
    d = domains["cambridge"]
    labels = Labels(d, "ignored")
    lt = labels.turn(
        {
            "Hotel-Inform": [["Area", "north"], ["Stars", "4"]],
            "Attraction-Request": [["Fee", "?"]],
            "Taxi-Inform": [["Dest", "the station"]],
        }
    )
    hotel_area, stars = d.inf_names.index("hotel-area"), d.inf_names.index("hotel-stars")
    fee = d.req_names.index("attraction-entrance_fee")
    assert set(lt.acts) == {
        (INFORM, hotel_area, d.inf_values[hotel_area].index("north")),
        (INFORM, stars, d.inf_values[stars].index("4")),
        (REQUEST, fee, -1),
    }
