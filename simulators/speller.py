"""Spelling repair for the NLU: pulls misheard or mistyped words back onto the scenario's words."""

from __future__ import annotations


class Speller:
    """Repairs misheard or mistyped words towards the gazetteer's words (one or two edits).

    A symmetric-delete index (as in SymSpell) finds candidates fast: two words within one edit
    share a one-deletion variant. Short words are left alone (too many near neighbours), and a
    repair must keep the first letter unless the word is long, because real customers' unknown
    words ("worth", "best") are otherwise pulled onto values ("north", "west").
    """

    def __init__(self, targets: set[str], min_len: int = 4) -> None:
        self.min_len = min_len
        self.index: dict[str, set[str]] = {}
        for w in targets:
            if len(w) >= min_len and not w.isdigit():
                for v in _deletes(w) | {w}:
                    self.index.setdefault(v, set()).add(w)

    def repair(self, word: str) -> tuple[str, int]:
        """The best target for ``word`` and its edit distance, or ``(word, 0)`` if none fits."""
        if len(word) < self.min_len or any(c.isdigit() for c in word):
            return word, 0
        found: set[str] = set()
        for v in _deletes(word) | {word}:
            found |= self.index.get(v, set())
        best: list[tuple[int, str]] = []
        for w in found:
            dist = _osa(word, w)
            limit = 1 if len(word) < 8 else 2
            if dist > limit or (w[0] != word[0] and len(word) < 6):
                continue
            best.append((dist + (w[0] != word[0]), w))
        if not best:
            return word, 0
        best.sort()
        if len(best) > 1 and best[1][0] == best[0][0]:
            return word, 0  # two equally good repairs: guessing would be worse than nothing
        return best[0][1], _osa(word, best[0][1])


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _osa(a: str, b: str) -> int:
    """Optimal-string-alignment distance: edits, with a swap of neighbours counted as one."""
    n, m = len(a), len(b)
    prev2: list[int] = []
    prev = list(range(m + 1))
    for i in range(1, n + 1):
        cur = [i] + [0] * m
        for j in range(1, m + 1):
            cost = a[i - 1] != b[j - 1]
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[m]
