"""Overlay scenarios: ``extends:`` another file, keys merged over it, errors at the file that
wrote the key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from dialog_rl.domain import load_domain
from dialog_rl.scenario import ScenarioError, load_scenario
from dialog_rl.scenario.overlay import merge_data
from dialog_rl.scenario.reference import format_reference

ROOT = Path(__file__).resolve().parent.parent
BASE = """\
name: tiny
slots:
  informable:
    - name: colour
      values: [red, blue]
    - name: size
      values: [small, large]
kb:
  entities:
    - {name: a, colour: red, size: small}
    - {name: b, colour: blue, size: large}
actions:
  - {act: request, slot: colour, templates: ["Colour?"]}
  - {act: request, slot: size, templates: ["Size?"]}
  - {act: offer, templates: ["{name}."]}
  - {act: bye, templates: ["Bye."]}
goals:
  constraints: {colour: 0.5, size: 0.5}
personas:
  - {name: one, patience: [5, 9]}
  - {name: two, patience: [3, 4]}
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def test_mappings_merge_key_by_key_and_lists_are_replaced_whole():
    base = {"a": {"x": 1, "y": {"p": 1, "q": 2}}, "l": [1, 2], "k": 3}
    over = {"a": {"y": {"q": 5}}, "l": [9]}
    assert merge_data(base, over) == {"a": {"x": 1, "y": {"p": 1, "q": 5}}, "l": [9], "k": 3}


def test_an_overlay_takes_its_base_and_replaces_what_it_names(tmp_path):
    _write(tmp_path, "tiny.yaml", BASE)
    over = _write(
        tmp_path,
        "tiny_more.yaml",
        """\
        extends: tiny.yaml
        name: tiny_more
        goals:
          constraints: {size: 0.9}
        personas:
          - {name: only, patience: [7, 8]}
        behaviour:
          closing: {bye: 0.1}
        """,
    )
    d = load_domain(str(over))
    assert d.name == "tiny_more" and d.bases == ("tiny",)
    assert d.constraint_prob == (0.5, 0.9)  # colour from the base, size from the overlay
    assert [p.name for p in d.personas] == ["only"]  # a list is replaced whole
    assert d.behaviour.bye == 0.1 and d.n_entities == 2
    assert d.content_hash != load_domain(str(tmp_path / "tiny.yaml")).content_hash
    assert d.content_hash == load_domain(str(over)).content_hash


def test_errors_name_the_file_and_line_that_wrote_the_key(tmp_path):
    _write(tmp_path, "tiny.yaml", BASE)
    bad_value = _write(
        tmp_path,
        "o1.yaml",
        """\
        extends: tiny.yaml
        name: o1
        behaviour:
          correct: 2
        """,
    )
    with pytest.raises(ScenarioError, match=r"o1\.yaml:4: behaviour\.correct: .*less than"):
        load_scenario(bad_value)
    # the overlay drops the slot `size`: the base's goal, which names it, is now wrong there
    dropped = _write(
        tmp_path,
        "o2.yaml",
        """\
        extends: tiny.yaml
        name: o2
        slots:
          informable:
            - {name: colour, values: [red, blue]}
        """,
    )
    with pytest.raises(ScenarioError) as err:
        load_scenario(dropped)
    assert str(err.value).startswith(f"{tmp_path / 'tiny.yaml'}:")
    assert err.value.field.startswith(("goals.constraints.size", "actions[1].slot", "kb."))


@pytest.mark.parametrize(
    "extends, message",
    [
        ("nothere.yaml", "extends: file not found"),
        ("loop.yaml", "extends this file in turn"),
        ("5", "give the file this one extends"),
        ("../../etc/passwd", "outside the scenario's folder"),
    ],
)
def test_a_bad_extends_is_refused_at_its_line(tmp_path, extends, message):
    _write(tmp_path, "loop.yaml", "extends: over.yaml\nname: loop\n")
    over = _write(tmp_path, "over.yaml", f"name: over\nextends: {extends}\n")
    with pytest.raises(ScenarioError, match=message) as err:
        load_scenario(over)
    assert err.value.line is not None


def test_a_base_by_shipped_name_reads_its_kb_beside_itself(tmp_path):
    over = _write(tmp_path, "mine.yaml", "extends: restaurant\nname: mine\n")
    d = load_domain(str(over))
    assert d.n_entities == load_domain("restaurant").n_entities and d.bases == ("restaurant",)


def test_the_shipped_calibrated_overlay_extends_the_booking_restaurant_scenario():
    d = load_domain(str(ROOT / "scenarios" / "restaurant_calibrated.yaml"))
    base = load_domain("restaurant_booking")
    assert d.bases == ("restaurant_booking", "restaurant") and d.kb_names == base.kb_names
    assert d.act_names == base.act_names  # the agent's side is the booking scenario's
    assert d.behaviour.slots_per_turn and d.change > 0
    assert d.booking.rate != base.booking.rate  # fitted


def test_extends_and_behaviour_are_in_the_generated_format_reference():
    text = format_reference()
    assert "extends: str | None" in text or "extends:" in text
    for key in ("behaviour", "slots_per_turn", "closing", "again", "change"):
        assert key in text
