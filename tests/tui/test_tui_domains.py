"""The state pane of a multi-domain conversation: the active domain, each domain's offer and its
booking."""

from __future__ import annotations

from dialog_rl.tui.render import render_state, state_view


def test_the_state_pane_shows_the_active_domain_and_each_domains_offer(make_session, domains):
    d = domains["cambridge"]
    s = make_session(domain=d, seed=0, episode=2)  # a hotel-then-restaurant customer, booking both
    seen = set()
    while s.pending is not None:
        s.step()
        view = state_view(s)
        seen.add(view.domain)
        assert [name for name, _ in view.offers] == list(d.domains.names)
    text = render_state(view, reveal=True).plain
    assert f"domain: {view.domain}" in text
    goal = s.conv_env.user.goal
    assert len(goal.domains) == 2
    assert seen >= {d.domains.names[k] for k in goal.domains}
    # every domain the customer wanted got an offer the pane names
    for k in goal.domains:
        name = d.domains.names[k]
        assert f"offer ({name}): -" not in text, text
    assert text.count("booked)") == 2, text
    assert "hotel-area" in text or "restaurant-area" in text
