"""Shared fixtures: the shipped scenarios, compiled once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialog_rl.scenario import load_domain

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def domains():
    return {p.stem: load_domain(str(p)) for p in SCENARIOS}


@pytest.fixture(scope="session")
def restaurant(domains):
    return domains["restaurant"]
