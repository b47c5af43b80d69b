"""Word noise for the text channel: what a speech recogniser does to a customer's words."""

from __future__ import annotations

import numpy as np

__all__ = ["TextNoise", "sound_alike"]


#: Words a recogniser confuses with one another (plain English, the same for every scenario).
SOUND_ALIKES: dict[str, tuple[str, ...]] = {
    "for": ("four", "far"), "four": ("for",), "to": ("two", "too"), "two": ("to", "too"),
    "too": ("to",), "there": ("their",), "their": ("there",), "right": ("write", "ride"),
    "no": ("know", "now"), "know": ("no",), "eight": ("ate",), "by": ("buy",), "buy": ("by",),
    "one": ("won",), "hi": ("high",), "new": ("knew",), "see": ("sea",), "would": ("wood",),
    "where": ("wear", "were"), "which": ("witch",), "here": ("hear",), "our": ("hour",),
    "wait": ("weight",), "way": ("weigh",), "some": ("sum",), "meet": ("meat",),
    "red": ("read",), "blue": ("blew",), "cheap": ("chip", "sheep"), "east": ("yeast",),
    "west": ("vest", "best"), "north": ("nought",), "south": ("mouth",), "yes": ("yet", "yeah"),
    "and": ("an", "in"), "in": ("and", "on"), "a": ("the", "uh"), "the": ("a", "that"),
    "is": ("as", "it's"), "it": ("at",), "thanks": ("thinks",), "phone": ("fone", "foam"),
}  # fmt: skip
_DISFLUENCIES = ("uh", "um", "er", "hmm")
_VOWELS = "aeiou"
_SIMILAR = {
    "b": "p", "p": "b", "d": "t", "t": "d", "g": "k", "k": "g", "f": "v", "v": "f", "s": "z",
    "z": "s", "m": "n", "n": "m", "c": "k", "l": "r", "r": "l",
}  # fmt: skip
_PUNCT = ".,!?;:"


class TextNoise:
    """Corrupts words at ``error_rate`` the way a recogniser does: drops them, swaps them for a
    sound-alike or a slip (one letter changed, lost, doubled or swapped), or inserts a filler.

    Of the corrupted words 25% are dropped, 60% substituted and 15% get a filler before them, near
    the shares of deletions, substitutions and insertions in recognisers' word errors. Trailing
    punctuation survives, as if the recogniser's output were punctuated. Rate 0 is the identity.
    """

    P_DROP, P_SUBSTITUTE = 0.25, 0.60

    def __init__(self, error_rate: float) -> None:
        if not 0.0 <= error_rate <= 1.0:
            raise ValueError(f"error_rate must be between 0 and 1, got {error_rate}")
        self.error_rate = float(error_rate)

    def __call__(self, text: str, rng: np.random.Generator) -> str:
        if self.error_rate == 0.0 or not text:
            return text
        out: list[str] = []
        for word in text.split():
            if rng.random() >= self.error_rate:
                out.append(word)
                continue
            core = word.rstrip(_PUNCT)
            tail = word[len(core) :]
            u = rng.random()
            if u < self.P_DROP:
                if tail and out:
                    out[-1] += tail  # the sentence still ends where it ended
                elif tail:
                    out.append(tail)
            elif u < self.P_DROP + self.P_SUBSTITUTE:
                out.append(sound_alike(core, rng) + tail)
            else:
                out.append(_DISFLUENCIES[int(rng.integers(len(_DISFLUENCIES)))])
                out.append(word)
        return " ".join(out)


def sound_alike(word: str, rng: np.random.Generator) -> str:
    """A word a recogniser might hear instead: a listed sound-alike, else a one-letter slip."""
    if not word:
        return word
    options = SOUND_ALIKES.get(word.lower())
    if options:
        alike = options[int(rng.integers(len(options)))]
        return alike.capitalize() if word[0].isupper() else alike
    chars = list(word)
    i = int(rng.integers(len(chars)))
    c = chars[i].lower()
    kind = int(rng.integers(4))
    if c.isdigit():
        chars[i] = str((int(c) + 1 + int(rng.integers(9))) % 10)  # a misheard digit
    elif kind == 0 and c in _VOWELS:
        chars[i] = _VOWELS[(_VOWELS.index(c) + 1 + int(rng.integers(4))) % 5]
    elif kind == 0 and c in _SIMILAR:
        chars[i] = _SIMILAR[c]
    elif kind == 1 and len(chars) > 2:
        del chars[i]
    elif kind == 2 and c.isalpha():
        chars.insert(i, chars[i])
    elif len(chars) > 1:
        j = min(i, len(chars) - 2)
        chars[j], chars[j + 1] = chars[j + 1], chars[j]
    else:
        chars[i] = _VOWELS[int(rng.integers(5))]
    return "".join(chars)
