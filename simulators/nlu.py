"""The rule NLU of the text channel: reads the customer's acts back out of (noisy) words.

``DialogueEnv(channel="text")`` realises the customer's acts with ``simulators.customer_nlg``,
corrupts the words with ``simulators.word_noise.TextNoise`` and parses what is left with
``RuleNLU``, here. The NLU knows only the scenario (through ``simulators.lexicon``): no code
changes for a new domain. Days, times and counts of people or nights ("half past seven", "for 4",
"2 nights") are read by ``simulators.value_readers`` for the slots of those kinds. Each act's
confidence is the probability that it is right given what the parse saw of it (how it was
matched, repaired and unknown words, the rest of the turn), by a map fitted on generated
utterances (``simulators.confidence_map``).

In a scenario of several domains, a value or a request keyword that fits slots of several domains
("north": the restaurant's, the hotel's or the attraction's area) is read as the one of the domain
whose cue words the sentence uses ("a place to *stay* in the north"), else the whole utterance,
else the domain the conversation is in, which the caller passes as ``domain_hint`` (the tracker's
active domain); with none of these it stays a value of every slot it fits, with a low confidence.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher
from typing import NamedTuple

import numpy as np

from dialog_rl.acts import AFFIRM, BYE, HANGUP, INFORM, NEGATE, REQUEST, ObservedAct
from dialog_rl.domain import Domain
from simulators.confidence_map import FEATURES, ConfidenceMap, Evidence, feature_row
from simulators.lexicon import (
    ANY,
    COMMON_WORDS,
    CONF_SENTENCE,
    CONF_SHARED,
    CUE,
    DONTCARE,
    MENTION,
    NEGATE_OPENERS,
    QUESTION_OBJECTS,
    QUESTION_OPENERS,
    QUESTION_VERBS,
    READER_WORDS,
    REQ,
    STOPWORDS,
    VALUE,
    Entry,
    Sentence,
    build_lexicon,
    sentences,
)
from simulators.speller import Speller
from simulators.value_readers import canonical, kind_of_slot, read_values
from simulators.word_noise import TextNoise

__all__ = ["RuleNLU", "TextNoise"]

NEAR_SENTENCE = 0.8  # similarity (difflib ratio over words) to accept a near known sentence
_REPAIR_FACTOR = (1.0, 0.8, 0.65)  # score kept after a repair of 0, 1 or 2 edits
_CACHE_LIMIT = 50_000
_WORD = re.compile(r"[a-z]+")
_TOKEN = re.compile(r"[a-z0-9]+")
#: openers of a question answered yes or no
YES_NO_OPENERS = frozenset({"is", "are", "does", "do", "did", "was", "isnt", "doesnt"})

#: a value or keyword of several domains' slots, read as the hinted domain's, is no more sure
#: than this: the customer may have moved on (on cambridge at 15% word noise such reads were right
#: 92% of the time with the rule policy, 70% with nlu_eval's erratic agent; others 99%)
CONF_HINTED = 0.6

#: words before a domain's name that make it the domain's entity, not a value ("the hotel")
_DEFINITE = frozenset({"the", "that", "this", "your"})
#: a one-word phrase that is a "no" when it opens a clause
_OPENER_KEYS = frozenset((w,) for w in NEGATE_OPENERS)


class _Scope(NamedTuple):
    """What tells the domains apart for one sentence: the hinted domain (or None), the domains
    the utterance's cue words point to, and those the sentence's own do."""

    hint: int | None = None
    turn: set[int] | frozenset[int] = frozenset()
    here: set[int] | frozenset[int] = frozenset()


#: the map shipped with the package; ``RuleNLU(domain, confidence=RAW)`` keeps the raw scores
SHIPPED = "shipped"
RAW = None


class RuleNLU:
    """Parses a customer utterance into ``(type, slot, value, confidence)`` acts for one scenario.

    ``confidence``: the map from an act's evidence to its confidence; by default the one that
    ships with the package, ``None`` for the uncalibrated scores (what the map is fitted on).
    """

    def __init__(self, domain: Domain, confidence: ConfidenceMap | str | None = SHIPPED) -> None:
        self.domain = domain
        self.confidence = ConfidenceMap.load() if confidence == SHIPPED else confidence
        # slots whose values a reader finds (days, times, counts), with their values by
        # canonical form
        self.readers: dict[int, tuple[str, dict[str, int]]] = {}
        for s, name in enumerate(domain.inf_names):
            kind = kind_of_slot(name)
            if kind is not None and s != domain.task_slot:
                values = {}
                for v, value in enumerate(domain.inf_values[s]):
                    for form in canonical(kind, value):
                        values.setdefault(form, v)
                self.readers[s] = (kind, values)
        self.reader_kinds = frozenset(kind for kind, _ in self.readers.values())
        self.lex = build_lexicon(domain, frozenset(self.readers))
        # repair towards the scenario's words and the cue words ("thanks"), not towards stop
        # words or everyday words that are only there so that they are not "repaired"
        lex = self.lex
        targets = (lex.known - STOPWORDS - COMMON_WORDS).union(*lex.phrases)
        if self.readers:
            targets |= READER_WORDS
        targets |= set(lex.slot_words) | set(lex.task_words) | set(lex.domain_cues)
        self.speller = Speller(targets)
        self._repairs: dict[str, tuple[str, float, bool]] = {}

    def parse(self, text: str, domain_hint: int | None = None) -> list[ObservedAct]:
        """The acts an utterance says, in the order it says them, each with its confidence.

        ``domain_hint``: the domain the conversation is in (the tracker's active domain), for a
        value or keyword that fits slots of several domains and the utterance does not say which;
        ignored in a one-domain scenario."""
        acts, evidence, rows = self._read(text, domain_hint)
        if self.confidence is None or not acts:
            conf = [ev.raw for ev in evidence]
        else:
            conf = self.confidence.of_rows(rows)
        return [(t, s, v, round(min(max(c, 0.0), 1.0), 3)) for (t, s, v), c in zip(acts, conf)]

    def features(
        self, text: str, domain_hint: int | None = None
    ) -> tuple[list[tuple[int, int, int]], np.ndarray]:
        """The acts an utterance says and the feature rows their confidences come from
        (``simulators.confidence_map.FEATURES``): what a confidence map is fitted on."""
        acts, _, rows = self._read(text, domain_hint)
        return acts, np.array(rows, dtype=np.float64).reshape(len(acts), len(FEATURES))

    def _read(
        self, text: str, hint: int | None = None
    ) -> tuple[list[tuple[int, int, int]], list[Evidence], list]:
        # act -> (evidence, where it was said: sentence index, word index)
        found: dict[tuple[int, int, int], tuple[Evidence, tuple[int, int]]] = {}
        sents = [self._repair(s) for s in self._strip_filler(sentences(text))]
        lex = self.lex
        # the domains each sentence's cue words point to, and the whole utterance's
        cued = [{lex.domain_cues[w] for w in s[0].words if w in lex.domain_cues} for s in sents]
        scope = _Scope(hint, set().union(*cued))
        i = 0
        while i < len(sents):
            for n in range(min(lex.max_sentences, len(sents) - i), 0, -1):
                acts = lex.sentences.get(tuple(s[0].words for s in sents[i : i + n]))
                if acts:
                    factors = [f for s in sents[i : i + n] for f in s[1]]
                    ev = Evidence(
                        CONF_SENTENCE,
                        CONF_SENTENCE * min(factors),
                        sum(f < 1.0 for f in factors),
                        min(s[2] for s in sents[i : i + n]),
                    )
                    for act in self._one_domain(acts, scope._replace(here=cued[i])):
                        _keep(found, act, ev, (i, 0))
                    break
            else:
                n = 1
                before = len(found)
                self._parse_sentence(*sents[i], found, i, scope._replace(here=cued[i]))
                if len(found) == before:
                    self._near_sentence(*sents[i], found, i)
            i += n
        if any(a[0] == HANGUP for a in found):  # hanging up says it all
            found = {a: c for a, c in found.items() if a[0] != BYE}
        ordered = sorted(found.items(), key=lambda item: item[1][1])
        acts = [act for act, _ in ordered]
        evidence = [ev for _, (ev, _) in ordered]
        # what the rest of the turn says about each act
        lengths = [sum(len(c) for c in s[0].clauses) for s in sents]
        n_words = sum(lengths)
        unknown = sum((1.0 - s[2]) * n for s, n in zip(sents, lengths)) / max(n_words, 1)
        values: dict[int, set[int]] = {}
        for t, s, v in acts:
            if t == INFORM:
                values.setdefault(s, set()).add(v)
        rows = [
            feature_row(ev, t == INFORM and len(values[s]) > 1, len(acts), unknown)
            for (t, s, _), ev in zip(acts, evidence)
        ]
        return acts, evidence, rows

    # -- pieces --------------------------------------------------------------------------------

    def _domain_of(self, act: tuple[int, int, int]) -> int:
        """The domain of an inform's or a request's slot; -1 for other acts and the task."""
        t, s = act[0], act[1]
        if t == INFORM and s != self.domain.task_slot:
            return self.lex.slot_domain[s]
        return self.lex.req_domain[s] if t == REQUEST else -1

    def _pick(self, doms: set[int], scope: _Scope) -> tuple[set[int], bool]:
        """Of several domains a value or keyword fits, those the sentence's cue words point to,
        else the utterance's, else the hinted one; and whether it took the hint."""
        for cued in (scope.here, scope.turn):
            if len(doms) < 2:
                break
            doms = (doms & cued) or doms
        if len(doms) > 1 and scope.hint in doms:
            return {scope.hint}, True
        return doms, False

    def _shared_value(self, vals: list[Entry], named: list[Entry], scope: _Scope) -> list[Entry]:
        """A value phrase several slots have: the slots named in the sentence, then (several
        domains) the cued or hinted domain's; what is still several slots is a weak guess."""
        vals = named or vals
        if self.lex.domain_cues:
            dom = self.lex.slot_domain
            doms, hinted = self._pick({dom[e.slot] for e in vals}, scope)
            vals = [e for e in vals if dom[e.slot] in doms]
            if hinted:
                return [e._replace(conf=min(e.conf, CONF_HINTED)) for e in vals]
        if not named and len({e.slot for e in vals}) > 1:
            vals = [e._replace(conf=min(e.conf, CONF_SHARED)) for e in vals]
        return vals

    def _one_domain(self, acts: list, scope: _Scope) -> list:
        """A known phrasing's acts, of one domain if they name several and the scope says which."""
        if not self.lex.domain_cues:
            return acts
        doms = {self._domain_of(a) for a in acts} - {-1}
        keep, _ = self._pick(doms, scope)
        return [a for a in acts if self._domain_of(a) in keep or self._domain_of(a) < 0]

    def _strip_filler(self, sents: list[Sentence]) -> list[Sentence]:
        """Drop an opening filler ("Well, ...", "Okay. ...") the NLG or a customer put first."""
        if not sents:
            return sents
        words = sents[0].words
        for filler in sorted(self.lex.fillers, key=len, reverse=True):
            if words[: len(filler)] == filler:
                rest = _drop_front(sents[0], len(filler))
                return ([rest] if rest.clauses else []) + sents[1:]
        return sents

    def _repair(self, sent: Sentence) -> tuple[Sentence, list[float], float]:
        """Repair unknown words; returns the sentence, per-word confidence factors and the share
        of words the lexicon knows (a sentence of unplaceable words is likely misheard)."""
        clauses, factors, known = [], [], 0
        for clause in sent.clauses:
            out = []
            for w in clause:
                word, factor, ok = self._repair_word(w)
                out.append(word)
                factors.append(factor)
                known += ok
            clauses.append(tuple(out))
        share = known / max(len(factors), 1)
        return Sentence(tuple(clauses), sent.question, sent.text), factors or [1.0], share

    def _repair_word(self, w: str) -> tuple[str, float, bool]:
        hit = self._repairs.get(w)
        if hit is None:
            if w in self.lex.known or w.isdigit():
                hit = (w, 1.0, True)
            else:
                word, dist = self.speller.repair(w)
                hit = (word, _REPAIR_FACTOR[dist], dist > 0)
            if len(self._repairs) >= _CACHE_LIMIT:
                self._repairs.clear()
            self._repairs[w] = hit
        return hit

    def _near_sentence(
        self,
        sent: Sentence,
        factors: list[float],
        known_share: float,
        found: dict,
        at: int,
    ) -> None:
        """Last resort for a sentence the rules found nothing in: the known phrasing it is
        closest to, if close enough ("I give uup" is "I give up")."""
        words = sent.words
        best, best_acts = 0.0, None
        matcher = SequenceMatcher(autojunk=False)
        matcher.set_seq2(words)
        for key, acts in self.lex.fuzzy.items():
            if abs(len(key) - len(words)) > 3:
                continue
            matcher.set_seq1(key)
            if matcher.real_quick_ratio() < best or matcher.quick_ratio() < best:
                continue
            ratio = matcher.ratio()
            if ratio > best:
                best, best_acts = ratio, acts
            elif ratio == best and acts != best_acts:
                best_acts = None  # "any is fine": any area or any food? a tie says nothing
        if best_acts is not None and best >= NEAR_SENTENCE:
            conf = CONF_SENTENCE * best * best * (0.6 + 0.4 * known_share)
            ev = Evidence(best, conf, sum(f < 1.0 for f in factors), known_share)
            for act in best_acts:
                _keep(found, act, ev, (at, 0))

    def _match_phrases(self, words: tuple[str, ...]) -> tuple[list, list[bool]]:
        """Gazetteer phrases in a sentence, longest first, left to right, not overlapping;
        returns ``(start, end, entries)`` triples and which words they cover."""
        matches, used = [], [False] * len(words)
        i = 0
        while i < len(words):
            for n in range(min(self.lex.max_len, len(words) - i), 0, -1):
                entries = self.lex.phrases.get(words[i : i + n])
                if entries:
                    matches.append((i, i + n, entries))
                    used[i : i + n] = [True] * n
                    i += n
                    break
            else:
                i += 1
        return matches, used

    def _read_values(self, sent: Sentence) -> list[tuple[int, int, float, int, int, int]]:
        """Days, times and counts said in a sentence, for the slots of those kinds:
        ``(slot, value, cue, start word, end word, repaired words)``."""
        if not self.readers or not sent.text:
            return []
        repaired_at: list[tuple[int, int]] = []
        parts, pos, at = [], 0, 0
        for m in _WORD.finditer(sent.text):  # the same repairs as the words get
            word, _, ok = self._repair_word(m.group())
            parts.append(sent.text[pos : m.start()])
            if word != m.group() and ok:
                repaired_at.append((at + m.start() - pos, at + m.start() - pos + len(word)))
            at += m.start() - pos + len(word)
            parts.append(word)
            pos = m.end()
        parts.append(sent.text[pos:])
        text = "".join(parts)
        out = []
        for r in read_values(text, self.reader_kinds):
            n_repaired = sum(a < r.end and r.start < b for a, b in repaired_at)
            start = len(_TOKEN.findall(text[: r.start]))
            end = start + max(len(_TOKEN.findall(text[r.start : r.end])), 1)
            for s, (kind, values) in self.readers.items():
                v = (
                    next((values[c] for c in r.values if c in values), None)
                    if kind == r.kind
                    else None
                )
                if v is not None:
                    out.append((s, v, r.cue, start, end, n_repaired))
        return out

    def _parse_sentence(
        self,
        sent: Sentence,
        factors: list[float],
        known_share: float,
        found: dict,
        at: int,
        scope: _Scope | None = None,
    ) -> None:
        """The rules for one sentence: values, tasks, requests, don't-cares and cue words."""
        d, lex = self.domain, self.lex
        multi = bool(lex.domain_cues)
        scope = scope or _Scope()
        words = sent.words
        scale = 0.6 + 0.4 * known_share
        matches, used = self._match_phrases(words)

        def evidence(c: float, a: int, b: int) -> Evidence:
            f = 1.0
            for x in factors[a:b]:
                f *= x
            repaired = sum(x < 1.0 for x in factors[a:b])
            return Evidence(c, c * f * scale, repaired, known_share)

        mentioned: dict[int, list[int]] = {}
        for j, w in enumerate(words):
            for s in lex.slot_words.get(w, ()):
                mentioned.setdefault(s, []).append(j)

        values: list[tuple[int, int, Evidence, int, int]] = []  # slot, value, evidence, start, end
        requests, cues, dontcares, anys = [], [], [], []
        for a, b, entries in matches:
            kinds = {e.kind for e in entries}
            if MENTION in kinds:
                continue
            if VALUE in kinds:
                vals = [e for e in entries if e.kind == VALUE]
                named = [e for e in vals if e.slot in mentioned]
                if not named and (CUE in kinds or words[a:b] in _OPENER_KEYS):
                    # "yes" or "no" is a value ("parking: yes") only with its slot named
                    if CUE not in kinds:
                        used[a:b] = [False] * (b - a)
                    entries = [e for e in entries if e.kind == CUE]
                else:
                    if len({e.slot for e in vals}) > 1:
                        vals = self._shared_value(vals, named, scope)
                    values.extend((e.slot, e.value, evidence(e.conf, a, b), a, b) for e in vals)
                    continue
            reqs = [e for e in entries if e.kind == REQ]
            if multi and len({lex.req_domain[e.slot] for e in reqs}) > 1:
                doms, hinted = self._pick({lex.req_domain[e.slot] for e in reqs}, scope)
                entries = [e for e in entries if e.kind != REQ or lex.req_domain[e.slot] in doms]
                if hinted:
                    entries = [
                        e._replace(conf=min(e.conf, CONF_HINTED)) if e.kind == REQ else e
                        for e in entries
                    ]
            for e in entries:
                if e.kind == REQ:
                    requests.append((e.slot, evidence(e.conf, a, b), words[a:b], a))
                elif e.kind == CUE:
                    cues.append((e.slot, evidence(e.conf, a, b), a))
                elif e.kind == DONTCARE:
                    dontcares.append((evidence(e.conf, a, b), a))
                elif e.kind == ANY:
                    anys.append((evidence(e.conf, a, b), b))
        starts, k = set(), 0
        for clause in sent.clauses:
            starts.add(k)
            k += len(clause)
        for j in starts:
            if j < len(words) and not used[j] and words[j] in NEGATE_OPENERS:
                cues.append((NEGATE, evidence(0.85, j, j + 1), j))

        # a value spelled only with its slot's template words ("my budget is ...") is weak
        weak = [set(words[a:b]) <= lex.template_words[s] for s, _, _, a, b in values]
        strong_slots = {v[0] for v, w in zip(values, weak) if not w}
        values = [v for v, w in zip(values, weak) if not w or v[0] not in strong_slots]
        for s, v, cue, a, b, repaired in self._read_values(sent):
            f = _REPAIR_FACTOR[1] ** repaired
            values.append((s, v, Evidence(cue, cue * f * scale, repaired, known_share), a, b))
        if multi:
            # a value that is a domain's name ("I'd like a hotel") is that value only when the
            # sentence says nothing else and not "the hotel": "the hotel should be cheap", "a 4
            # star hotel" and "where is the hotel?" name the domain
            alone = len(values) == 1 and not (requests or dontcares or anys or _is_question(sent))
            values = [
                v
                for v in values
                if not set(words[v[3] : v[4]]) <= lex.domain_names
                or (alone and (v[3] == 0 or words[v[3] - 1] not in _DEFINITE))
            ]
        for s, v, ev, a, _ in values:
            _keep(found, (INFORM, s, v), ev, (at, a))
        valued = {v[0] for v in values}

        # tasks named by words only one task's phrasings use
        task_said = d.task_slot in valued
        if d.task_slot >= 0 and not task_said:
            hits: dict[int, list[int]] = {}
            for j, w in enumerate(words):
                t = lex.task_words.get(w)
                if t is not None and not used[j]:
                    hits.setdefault(t, []).append(j)
            if len(hits) == 1:
                ((task, where),) = hits.items()
                base = 0.85 if len(where) > 1 else 0.7
                ev = evidence(base, where[0], where[0] + 1)
                _keep(found, (INFORM, d.task_slot, task), ev, (at, where[0]))
                task_said = True

        # requests: a question, or the slot's own name with nothing else said beside it; a
        # keyword in a yes/no question that states a value describes the value ("is it located
        # in the centre?" checks the area, it does not ask for the address)
        question = _is_question(sent)
        checks = bool(values) and bool(words) and words[0] in YES_NO_OPENERS
        for r, ev, key, a in requests:
            plain = not (values or dontcares or anys or task_said)
            if checks and key not in lex.strong_requests:
                continue
            if question or (key in lex.strong_requests and plain):
                _keep(found, (REQUEST, r, -1), ev, (at, a))

        # "any value": a don't-care cue with a slot named in the sentence (or right after "any");
        # a name several domains' slots have ("area") is the cued or hinted domain's
        def one_domain(slots: list[int]) -> list[int]:
            if not multi or len(slots) < 2:
                return slots
            doms, _ = self._pick({lex.slot_domain[s] for s in slots}, scope)
            return [s for s in slots if lex.slot_domain[s] in doms]

        for ev, a in dontcares:
            for s in one_domain([s for s in mentioned if s not in valued and s != d.task_slot]):
                _keep(found, (INFORM, s, d.dontcare(s)), ev, (at, a))
        for ev, b in anys:
            near = [
                s
                for s, named_at in mentioned.items()
                if s not in valued and s != d.task_slot and any(b <= j <= b + 3 for j in named_at)
            ]
            for s in one_domain(near):
                _keep(found, (INFORM, s, d.dontcare(s)), ev, (at, b))

        negated = any(act == NEGATE for act, _, _ in cues)
        for act, ev, a in cues:
            if not (negated and act == AFFIRM):
                _keep(found, (act, -1, -1), ev, (at, a))


def _keep(found: dict, act: tuple[int, int, int], ev: Evidence, pos: tuple[int, int]) -> None:
    """Record an act, keeping its best evidence and the place it was first said."""
    old = found.get(act)
    if old is None:
        found[act] = (ev, pos)
    elif ev.raw > old[0].raw:
        found[act] = (ev, old[1])


def _is_question(sent: Sentence) -> bool:
    """Asked as a question, or phrased as a request for information ("give me the ...")."""
    words = sent.words
    return (
        sent.question
        or (bool(words) and words[0] in QUESTION_OPENERS)
        or any(
            words[j] in QUESTION_VERBS and words[j + 1] in QUESTION_OBJECTS
            for j in range(len(words) - 1)
        )
    )


def _drop_front(sent: Sentence, n: int) -> Sentence:
    clauses = []
    for clause in sent.clauses:
        cut = min(n, len(clause))
        n -= cut
        if clause[cut:]:
            clauses.append(clause[cut:])
    return Sentence(tuple(clauses), sent.question, sent.text)
