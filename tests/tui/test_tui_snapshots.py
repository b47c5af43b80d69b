"""Snapshots of the main screens (pytest-textual-snapshot; update with --snapshot-update)."""

from __future__ import annotations

SIZE = (120, 36)


def test_main_screen_at_the_start(snap_compare, make_app):
    assert snap_compare(make_app(seed=0), terminal_size=SIZE)


def test_main_screen_mid_conversation_with_acts_and_hidden_goal(snap_compare, make_app):
    assert snap_compare(make_app(seed=0), press=["space", "space", "d", "g"], terminal_size=SIZE)


def test_conversation_over_with_an_override(snap_compare, make_app):
    keys = ["space", "o", "down", "enter", "space", "space", "space", "space"]
    assert snap_compare(make_app(seed=0), press=keys, terminal_size=SIZE)


def test_override_picker_filtered(snap_compare, make_app):
    assert snap_compare(make_app(seed=0), press=["space", "o", *"req"], terminal_size=SIZE)


def test_rewind_picker(snap_compare, make_app):
    keys = ["space", "space", "space", "r"]
    assert snap_compare(make_app(seed=0), press=keys, terminal_size=SIZE)


def test_help_screen(snap_compare, make_app):
    assert snap_compare(make_app(), press=["question_mark"], terminal_size=SIZE)


def test_teach_report_for_a_learner(snap_compare, make_app):
    keys = ["o", *"food", "enter", "t"]
    assert snap_compare(make_app(policy="memo", seed=0), press=keys, terminal_size=SIZE)


def test_playing_the_customer(snap_compare, make_app):
    keys = ["c", *"cheap italian in the north", "enter", *"yes"]
    assert snap_compare(make_app(seed=0), press=keys, terminal_size=SIZE)


def test_tiny_terminal(snap_compare, make_app):
    assert snap_compare(make_app(seed=0), press=["space"], terminal_size=(40, 12))


def test_returning_customer_second_visit_with_trust_revealed(snap_compare, make_app, domains):
    app = make_app(domain=domains["order_support"], episode=6, lifetime=True)
    assert snap_compare(app, press=["v", "space", "g"], terminal_size=SIZE)
