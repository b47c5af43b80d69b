"""The log's act strings built from integer codes: exactly ``format_user_acts``'s."""

from __future__ import annotations

import numpy as np
import pytest

from dialog_rl.acts import INFORM, REQUEST, format_user_acts
from dialog_rl.rollout.act_columns import ActCodes, _hundredths


@pytest.mark.parametrize("scenario", ["restaurant", "order_support", "shopping"])
def test_strings_are_format_user_acts_whatever_the_unused_fields_hold(domains, scenario):
    """Acts in the engine's layout: rows of (kind, slot, value) with a count; past the count
    stale acts, and fields an act's text leaves out (a confused act's slot) holding anything."""
    d = domains[scenario]
    codes = ActCodes(d)
    rng = np.random.default_rng(7)
    n, k = 600, 6
    n_slots, n_values = codes._table.shape[1] - 1, codes._table.shape[2] - 1
    acts = rng.integers(-1, 3, size=(n, k, 3))  # stale entries past each count
    counts = rng.integers(0, k + 1, size=n)
    conf = rng.random((n, k))
    conf[0, :4] = [0.125, 0.375, 0.005, 1.0]  # ties to even, and the ends
    for i in range(n):
        for j in range(counts[i]):
            kind, slot, value = codes.acts[rng.integers(len(codes.acts))]
            if kind != INFORM:
                value = int(rng.integers(-1, n_values))
                if kind != REQUEST:
                    slot = int(rng.integers(-1, n_slots))
            acts[i, j] = kind, slot, value
    got = codes.encode(acts, counts)
    plain = codes.strings(got).to_pylist()
    heard = codes.strings(got, conf[:, : got.shape[1]]).to_pylist()
    for i in range(n):
        said = [tuple(a) for a in acts[i, : counts[i]].tolist()]
        assert plain[i] == format_user_acts(d, said)
        assert heard[i] == format_user_acts(d, [(*a, c) for a, c in zip(said, conf[i].tolist())])


def test_confidences_round_to_hundredths_as_python_formats_them():
    x = np.concatenate(
        [np.random.default_rng(0).random(200_000), np.arange(1001) / 1000, np.arange(201) / 200]
    )
    expected = [int(f"{v:.2f}".replace(".", "")) for v in x.tolist()]
    assert _hundredths(x).tolist() == expected


def test_no_acts_is_an_empty_string(restaurant):
    codes = ActCodes(restaurant)
    empty = codes.encode(np.zeros((3, 4, 3), dtype=np.int64), np.zeros(3, dtype=np.int64))
    assert codes.strings(empty).to_pylist() == ["", "", ""]
