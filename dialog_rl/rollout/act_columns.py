"""The log's act columns (``user_acts``, ``observed_acts``, ``reply_acts``) built from arrays.

The engine holds a turn's acts as rows of an int64 [n, k, 3] array of ``(kind, slot, value)``
with a count per row. ``ActCodes.encode`` turns each act into a small code, one per act the
scenario can say, and ``ActCodes.strings`` makes a column's strings from the codes with Arrow's
compute kernels (each act's text looked up, then the acts of a row joined with `` | ``): no
Python object per turn, and exactly the strings ``acts.format_user_acts`` gives, confidences
(``@0.82``) included.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dialog_rl.acts import INFORM, N_USER_ACTS, REQUEST, format_user_act
from dialog_rl.domain import Domain

#: ``f"{c:.2f}"`` of the confidences 0.00 .. 1.00, by hundredths
_HUNDREDTHS = pa.array([f"{k / 100:.2f}" for k in range(101)])


class ActCodes:
    """Every user act of a scenario as a code, and the code's text.

    ``acts[code]`` is the act ``(kind, slot, value)`` in its canonical form: ``slot`` only for
    inform and request, ``value`` only for inform (the fields an act's text shows).
    """

    def __init__(self, domain: Domain) -> None:
        d = domain
        n_values = max((len(v) for v in d.inf_values), default=0) + 1  # the values and dontcare
        n_slots = max(d.n_inf, d.n_req)
        # code of (kind, slot + 1, value + 1), -1 slot and value at index 0; the fields an act's
        # text leaves out may hold anything: every such entry holds the act's one code
        self._table = np.full((N_USER_ACTS, n_slots + 1, n_values + 1), -1, dtype=np.int32)
        self.acts: list[tuple[int, int, int]] = []
        for kind in range(N_USER_ACTS):
            if kind == INFORM:
                for s in range(d.n_inf):
                    for v in range(len(d.inf_values[s]) + 1):
                        self._table[kind, s + 1, v + 1] = len(self.acts)
                        self.acts.append((kind, s, v))
            elif kind == REQUEST:
                for s in range(d.n_req):
                    self._table[kind, s + 1, :] = len(self.acts)
                    self.acts.append((kind, s, -1))
            else:
                self._table[kind] = len(self.acts)
                self.acts.append((kind, -1, -1))
        self.texts = pa.array([format_user_act(d, a) for a in self.acts])

    def encode(self, acts: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Codes (int32 [n, k'], -1 past each row's count) of ``acts`` (int64 [n, k, 3]) whose
        first ``counts[i]`` entries are row ``i``'s acts; k' is the largest count."""
        width = int(counts.max(initial=0))
        acts = acts[:, :width]
        # past a row's count the engine keeps stale acts (or -1s): looked up, then blanked
        codes = self._table[acts[..., 0], acts[..., 1] + 1, acts[..., 2] + 1]
        codes[np.arange(width) >= counts[:, None]] = -1
        return codes

    def strings(self, codes: np.ndarray, confidences: np.ndarray | None = None) -> pa.Array:
        """The column of ``format_user_acts`` strings for rows of ``codes`` (``encode``'s), each
        act followed by ``@`` and its confidence to two decimals when ``confidences`` (float64,
        the shape of ``codes``) are given."""
        valid = codes >= 0
        texts = self.texts.take(pa.array(codes[valid]))
        if confidences is not None:
            hundredths = pa.array(_hundredths(confidences[valid]))
            texts = pc.binary_join_element_wise(texts, _HUNDREDTHS.take(hundredths), "@")
        offsets = np.zeros(len(codes) + 1, dtype=np.int32)
        np.cumsum(valid.sum(axis=1), out=offsets[1:])
        return pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), texts), " | ")


def _hundredths(x: np.ndarray) -> np.ndarray:
    """``int(f"{c:.2f}".replace(".", ""))`` for confidences ``c`` in [0, 1], without formatting.

    ``x * 100`` rounds to the nearest hundredth correctly unless it lies within a rounding
    error of a half: those few are formatted as Python does (correctly rounded, ties to even).
    """
    y = x * 100.0
    k = np.rint(y).astype(np.int64)
    close = np.flatnonzero(np.abs(y - np.floor(y) - 0.5) < 1e-9)
    for i in close.tolist():
        k[i] = round(float(f"{x[i]:.2f}") * 100)
    if len(k) and (k.min() < 0 or k.max() > 100):
        raise ValueError(f"confidences must lie in [0, 1], got {x.min()} .. {x.max()}")
    return k
