"""The NLU's gazetteer: phrase tables built from a scenario plus generic English dialogue cues.

Everything domain-specific comes from the scenario: slot values and their ``synonyms``, requestable
``keywords``, slot names, task names and ``user_phrases``, and the customer templates the NLG uses
(their fixed wording becomes whole-sentence entries and slot-mention words). The generic cues
(yes/no/thanks/bye/don't care...) are plain English and the same for every scenario.

In a scenario of several domains (restaurant, hotel, attraction), each domain also gets its cue
words: its name and the words of its phrasings and values that no other domain uses ("stay",
"eat", "visit", "guesthouse"). The NLU reads a value or a keyword several domains share ("north",
"phone") as the domain's whose cue words the utterance uses (``Lexicon.domain_cues``).

Text is normalised the same way on both sides (lower case, apostrophes dropped, split into
``[a-z0-9]+`` tokens), so "mid-range", "alice@mail.com" or "do n't" match however they are written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NamedTuple

from dialog_rl.acts import AFFIRM, BYE, HANGUP, HELLO, INFORM, NEGATE, REQUEST, THANK
from dialog_rl.domain import Domain
from simulators.customer_nlg import DEFAULT_PHRASES, multi_domain, req_label, slot_label
from simulators.value_readers import VOCABULARY as READER_WORDS

# kinds of gazetteer entry
VALUE, REQ, CUE, DONTCARE, ANY, MENTION = range(6)

# match quality -> confidence before noise penalties
CONF_SENTENCE = 0.97  # the whole sentence is a known phrasing
CONF_VALUE = 0.95  # a slot value as written in the scenario
CONF_SYNONYM = 0.85  # a declared synonym of a value
CONF_KEYWORD = 0.85  # a declared requestable keyword
CONF_SHARED = 0.5  # a value phrase that several slots share, with no slot named nearby


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Plain English cues for the acts every scenario has: (phrase, confidence).
GENERIC_CUES: dict[int, tuple[tuple[str, float], ...]] = {
    HELLO: (
        ("hi", 0.9),
        ("hello", 0.9),
        ("hey", 0.8),
        ("hi there", 0.9),
        ("good morning", 0.9),
        ("good afternoon", 0.9),
        ("good evening", 0.9),
        ("greetings", 0.8),
    ),
    AFFIRM: (
        ("yes", 0.9),
        ("yeah", 0.85),
        ("yep", 0.85),
        ("yup", 0.85),
        ("yes please", 0.95),
        ("sure", 0.75),
        ("correct", 0.85),
        ("thats right", 0.9),
        ("that is right", 0.9),
        ("thats correct", 0.9),
        ("exactly", 0.8),
        ("absolutely", 0.8),
        ("sounds good", 0.8),
        ("sounds great", 0.8),
        ("sounds perfect", 0.8),
        ("that works", 0.75),
        ("of course", 0.75),
    ),
    NEGATE: (
        ("nope", 0.9),
        ("nah", 0.85),
        ("not right", 0.85),
        ("not correct", 0.85),
        ("thats not right", 0.9),
        ("thats not correct", 0.9),
        ("that is not right", 0.9),
        ("that is not correct", 0.9),
        ("wrong", 0.8),
        ("incorrect", 0.85),
        ("thats not", 0.8),
        ("that is not", 0.8),
        ("not what i", 0.8),
        ("not that", 0.7),
    ),
    THANK: (
        ("thank", 0.9),
        ("thanks", 0.9),
        ("thank you", 0.95),
        ("thankyou", 0.9),
        ("cheers", 0.7),
        ("appreciate", 0.8),
        ("grateful", 0.8),
    ),
    BYE: (
        ("bye", 0.9),
        ("goodbye", 0.95),
        ("good bye", 0.95),
        ("bye bye", 0.95),
        ("have a nice day", 0.8),
        ("have a good day", 0.8),
        ("have a great day", 0.8),
        ("see you", 0.7),
        ("farewell", 0.8),
        ("take care", 0.7),
    ),
    HANGUP: (
        ("give up", 0.85),
        ("forget it", 0.85),
        ("taking too long", 0.85),
        ("too long", 0.7),
        ("elsewhere", 0.7),
        ("waste of time", 0.85),
        ("hang up", 0.8),
        ("ridiculous", 0.7),
        ("useless", 0.7),
    ),
}
#: "Any value will do" cues; they need a slot named in the same sentence.
DONTCARE_CUES: tuple[tuple[str, float], ...] = (
    ("dont care", 0.9), ("do not care", 0.9), ("dont mind", 0.9), ("do not mind", 0.9),
    ("doesnt matter", 0.9), ("does not matter", 0.9), ("no preference", 0.9),
    ("dont have a preference", 0.9), ("not fussy", 0.85), ("not bothered", 0.85),
    ("whatever", 0.75), ("is fine", 0.6), ("either", 0.6),
)  # fmt: skip
#: Weak "any" cues: they need a slot named right after them ("any area", "any part of town").
ANY_CUES: tuple[tuple[str, float], ...] = (("any", 0.8), ("anything", 0.75), ("any kind of", 0.8))
#: Words a clause may open with that make it a "no".
NEGATE_OPENERS = frozenset({"no"})
#: Hesitations speech recognisers and customers put in; dropped before parsing.
DISFLUENCIES = frozenset({"uh", "um", "er", "erm", "hmm", "mm"})
#: Openers and word pairs that make a sentence a question or a request for information.
QUESTION_OPENERS = _words(
    "what whats where wheres when which who whose how hows can could would will may is are does "
    "do did has have please tell give"
)
QUESTION_VERBS = _words("tell give send show need needed want like get have know provide")
QUESTION_OBJECTS = frozenset(("me", "the", "their", "its", "your", "his", "her"))

#: Function words and common verbs: never evidence of a slot or a task on their own.
STOPWORDS = _words(
    """a an the i im id ive ill me my mine we our us you your youre it its itd itll this that thats
    these those there theres here is are was were be been being am do does did done have has had
    having will would shall should can could may might must to of in on at by for from with about
    as into over under than then so and or but if not no nor too very just also only some any
    all what whats where when which who whom whose why how please want wanted like liked need
    needed looking look find get got give tell know think make let lets go going take put say said
    something somewhere someone anything anywhere one ones thing things kind sort type bit lot
    really actually maybe well okay ok right sure yes yeah hi hello thanks thank much many more
    most other another else same new good great nice fine up out down off again now still yet
    further once doesnt dont isnt wasnt cant wont didnt havent hasnt"""
)

#: Frequent English words that are not stop words: known, so spelling repair leaves them alone
#: ("went" is not a slip for "west").
COMMON_WORDS = _words(
    """went gone come came coming goes eat eating ate food dinner lunch breakfast meal table book
    booked booking reserve reservation people person party friends family tonight today tomorrow
    day days week time times hour minute morning evening night help helped helpful thing use used
    best better worse worst bad big small little long short high low first last next few less least
    own sure hope tried try trying wanted wonder wondering recommend recommendation suggest suggestion
    option options choice choices available open close closed near nearby far around part side town
    city street road place places home work call called name named number numbers said says told ask
    asked asking wait while yet still ever never always often away back being best fact case point
    way ways year years man men woman women child children world life hand hands eye eyes head house
    money order ordered item items pay paid buy bought cost price sell sold send sent ship shipped
    check checked pick picked keep kept leave left move turn turned start started stop stopped end
    ended show showed shown hear heard mean meant feel felt seem seemed become became stay stayed
    live lived love loved hate wish wished happy glad sorry afraid mind matter care problem issue
    question answer fine okay alright awesome excellent perfect wonderful lovely cool super"""
)

_TOKEN = re.compile(r"[a-z0-9]+")
# sentence ends: . ! ? ; followed by space or end (so "mail.com" and "12.50" stay whole), or ? ! ;
_SENTENCE_END = re.compile(r"[.!?;]+(?=\s|$)|[?!;]")


def normalise(text: str) -> str:
    """Lower-case, re-attach split contractions ("do n't"), drop apostrophes."""
    t = text.lower().replace("\u2019", "'")
    t = re.sub(r"\s+n't\b", "n't", t)
    t = re.sub(r"\s+'(s|m|re|ll|d|ve)\b", r"'\1", t)
    return t.replace("'", "")


def tokens(text: str) -> tuple[str, ...]:
    return tuple(w for w in _TOKEN.findall(normalise(text)) if w not in DISFLUENCIES)


class Sentence(NamedTuple):
    """One sentence of an utterance: its clauses' tokens and whether it was asked as a question."""

    clauses: tuple[tuple[str, ...], ...]
    question: bool
    text: str = ""
    """The sentence as written, normalised (for the value readers: "7:30pm" is one thing)."""

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(w for c in self.clauses for w in c)


def sentences(text: str) -> list[Sentence]:
    """Split an utterance into sentences (at . ! ? ;) and clauses (at commas)."""
    t = normalise(text)
    out = []
    start = 0
    for m in [*_SENTENCE_END.finditer(t), None]:
        end = m.start() if m else len(t)
        chunk = t[start:end]
        parts = (_TOKEN.findall(p) for p in chunk.split(","))
        clauses = tuple(
            c for c in (tuple(w for w in p if w not in DISFLUENCIES) for p in parts) if c
        )
        if clauses:
            out.append(Sentence(clauses, bool(m) and "?" in m.group(), chunk))
        if m is None:
            break
        start = m.end()
    return out


class Entry(NamedTuple):
    """What a gazetteer phrase means: kind, slot (or act type for CUE), value, confidence."""

    kind: int
    slot: int
    value: int
    conf: float


@dataclass
class Lexicon:
    """Phrase tables for one scenario; built once, read by every parse."""

    phrases: dict[tuple[str, ...], list[Entry]] = field(default_factory=dict)
    """Token sequence -> what it means; matched longest-first inside a sentence."""
    sentences: dict[tuple[tuple[str, ...], ...], list[tuple[int, int, int]]] = field(
        default_factory=dict
    )
    """Whole known phrasings (sequences of sentences) -> the acts they say."""
    fuzzy: dict[tuple[str, ...], list[tuple[int, int, int]]] = field(default_factory=dict)
    """Single sentences of known phrasings that say one thing, for near matches of heard ones."""
    slot_words: dict[str, set[int]] = field(default_factory=dict)
    """Words that name an informable slot (its name, the distinctive words of its templates)."""
    template_words: list[set[str]] = field(default_factory=list)
    """Per informable slot, the fixed words of its templates: a value made only of these is weak."""
    task_words: dict[str, int] = field(default_factory=dict)
    """Words that point to exactly one task."""
    strong_requests: set[tuple[str, ...]] = field(default_factory=set)
    """Request keywords that are the slot's own name: a question is not needed to ask with them."""
    fillers: set[tuple[str, ...]] = field(default_factory=set)
    """Openers to skip ("well", "right so")."""
    known: set[str] = field(default_factory=set)
    """Every word the scenario's phrasings use; other words are candidates for spelling repair."""
    domain_cues: dict[str, int] = field(default_factory=dict)
    """Words that point to one domain (several domains only): the domain's name and the words
    only its phrasings, keywords and values use."""
    domain_names: frozenset[str] = frozenset()
    """The words of the domains' names (several domains only)."""
    slot_domain: tuple[int, ...] = ()
    """The domain of each informable slot."""
    req_domain: tuple[int, ...] = ()
    """The domain of each requestable slot."""
    max_len: int = 1
    max_sentences: int = 1

    def add(self, phrase: str | tuple[str, ...], entry: Entry) -> None:
        key = phrase if isinstance(phrase, tuple) else tokens(phrase)
        if not key:
            return
        bucket = self.phrases.setdefault(key, [])
        for i, e in enumerate(bucket):
            if e[:3] == entry[:3]:
                bucket[i] = e if e.conf >= entry.conf else entry
                return
        bucket.append(entry)
        self.max_len = max(self.max_len, len(key))

    def add_sentence(self, text: str, act: tuple[int, int, int]) -> None:
        key = tuple(s.words for s in sentences(text))
        if not key or not all(key):
            return
        acts = self.sentences.setdefault(key, [])
        if act not in acts:
            acts.append(act)
        self.max_sentences = max(self.max_sentences, len(key))


def build_lexicon(domain: Domain, read_slots: frozenset[int] = frozenset()) -> Lexicon:
    """The gazetteer for one scenario: values, synonyms, keywords, tasks and known phrasings.

    ``read_slots``: informable slots whose values a value reader finds (days, times, counts:
    ``simulators.value_readers``); their values are left out of the phrase table, where "4"
    would be read in "4 stars" or a postcode.
    """
    d = domain
    lex = Lexicon()
    phrases = dict(DEFAULT_PHRASES)
    phrases.update(d.user_phrases)
    act_ids = {"hello": HELLO, "affirm": AFFIRM, "negate": NEGATE, "thank": THANK, "bye": BYE}
    act_ids["hangup"] = HANGUP

    for act, cues in GENERIC_CUES.items():
        for phrase, conf in cues:
            lex.add(phrase, Entry(CUE, act, -1, conf))
    for phrase, conf in DONTCARE_CUES:
        lex.add(phrase, Entry(DONTCARE, -1, -1, conf))
    for phrase, conf in ANY_CUES:
        lex.add(phrase, Entry(ANY, -1, -1, conf))
    for name, act in act_ids.items():
        for text in phrases.get(name, ()):
            lex.add_sentence(text, (act, -1, -1))
    for text in phrases.get("filler", ()):
        lex.fillers.add(tokens(text))

    # informable slots: values, synonyms, the words of their templates. With several domains a
    # slot is named by its domain and its own name ("hotel parking"); its own name alone
    # ("parking", "area") names it, and the domain's name is a domain cue (below).
    multi = multi_domain(d)
    local = d.domains.inf_local if multi else d.inf_names
    slot_template_words: list[set[str]] = []
    for s in range(d.n_inf):
        if s == d.task_slot:
            slot_template_words.append(set())
            continue
        label = slot_label(d, s)
        own = local[s].replace("_", " ")
        words: set[str] = set()
        for t in d.inf_templates[s] or phrases["inform"]:
            words.update(tokens(t.replace("{value}", " ").replace("{slot}", label)))
        slot_template_words.append(words)
        for v, value in enumerate(() if s in read_slots else d.inf_values[s]):
            lex.add(value, Entry(VALUE, s, v, CONF_VALUE))
            for syn in d.synonyms[s].get(value, ()):
                lex.add(syn, Entry(VALUE, s, v, CONF_SYNONYM))
        for t in phrases["dontcare"]:
            lex.add_sentence(t.format(slot=label), (INFORM, s, d.dontcare(s)))
        for w in (*tokens(own), local[s].replace("_", "")):
            lex.slot_words.setdefault(w, set()).add(s)
        # the slot's own name is a phrase, so that "price band" is not heard as a question
        # about a requestable "price"
        for key in {label, own}:
            lex.add(key, Entry(MENTION, s, -1, 1.0))
    lex.template_words = slot_template_words
    if multi:
        lex.domain_names = frozenset(w for n in d.domains.names for w in tokens(n))
    # a template word names a slot if no other slot's templates use it (a domain's name names
    # the domain, not one of its slots)
    for s, words in enumerate(slot_template_words):
        others = set().union(*(w for o, w in enumerate(slot_template_words) if o != s))
        for w in words - others - STOPWORDS - lex.domain_names:
            if len(w) < 2:
                continue
            lex.slot_words.setdefault(w, set()).add(s)

    # requestable slots: name, keywords, whole questions
    req_local = d.domains.req_local if multi else d.req_names
    for r in range(d.n_req):
        label = req_label(d, r)
        for key in {label, req_local[r].replace("_", " "), req_local[r].replace("_", "")}:
            lex.add(key, Entry(REQ, r, -1, CONF_KEYWORD))
            lex.strong_requests.add(tokens(key))
        for kw in d.req_keywords[r]:
            lex.add(kw, Entry(REQ, r, -1, CONF_KEYWORD))
        for t in d.req_templates[r] or phrases["request"]:
            lex.add_sentence(t.format(slot=label), (REQUEST, r, -1))

    # tasks: their names, their phrasings, and the words only one task's phrasings use
    task_words: list[set[str]] = []
    for k, task in enumerate(d.task_names):
        label = task.replace("_", " ")
        lex.add(label, Entry(VALUE, d.task_slot, k, CONF_VALUE))
        words = set(tokens(label))
        for t in phrases.get(task) or phrases["task"]:
            lex.add_sentence(t.format(task=label), (INFORM, d.task_slot, k))
            words.update(tokens(t.format(task=label)))
        task_words.append(words - STOPWORDS)
    # a task word must be the task's own: not shared, not a value or a keyword ("item")
    in_phrases = {w for key, entries in lex.phrases.items() for w in key if entries[0].kind != CUE}
    for k, words in enumerate(task_words):
        others = set().union(*(w for o, w in enumerate(task_words) if o != k))
        for w in words - others - (in_phrases - set(tokens(d.task_names[k].replace("_", " ")))):
            lex.task_words[w] = k

    if multi:
        _domain_cues(d, lex, slot_template_words, read_slots)

    # sentences for near matches: each sentence of a known phrasing, if it says one thing only
    seen: dict[tuple[str, ...], set[tuple[tuple[int, int, int], ...]]] = {}
    for key, acts in lex.sentences.items():
        for sent in key:
            seen.setdefault(sent, set()).add(tuple(acts))
    for sent, options in seen.items():
        if len(options) != 1 or len(sent) < 2:
            continue
        acts = list(next(iter(options)))
        # a greeting is recognised by its cue words, not by the request that often follows it
        if all(a[0] != HELLO for a in acts):
            lex.fuzzy[sent] = acts

    # every word the customer's phrasings use is "known": left alone by spelling repair
    for key in (*lex.phrases, *lex.fillers):
        lex.known.update(key)
    for key in lex.sentences:
        for sent in key:
            lex.known.update(sent)
    for words in slot_template_words:
        lex.known.update(words)
    for texts in phrases.values():
        for t in texts:
            lex.known.update(tokens(t.replace("{", " ").replace("}", " ")))
    lex.known.update(STOPWORDS, DISFLUENCIES, QUESTION_OPENERS, COMMON_WORDS)
    lex.known.update(lex.domain_cues)
    if read_slots:
        lex.known.update(READER_WORDS)
    return lex


def _domain_cues(
    d: Domain, lex: Lexicon, slot_template_words: list[set[str]], read_slots: frozenset[int]
) -> None:
    """Each domain's cue words: its name, and the words that its slots' phrasings (templates,
    keywords, own names), values and synonyms use and no other domain's do; not stop words, not
    one-word generic cues ("yep"), not numbers. A domain's name stays its cue whatever else uses
    the word. The agent's phrasings are left out: the customer's words are what is read."""
    ds = d.domains
    vocab: list[set[str]] = [set() for _ in ds.names]
    for s, words in enumerate(slot_template_words):
        if s == d.task_slot:
            continue
        mine = vocab[ds.slot[s]]
        mine.update(words, tokens(ds.inf_local[s].replace("_", " ")))
        if s not in read_slots:
            for value in d.inf_values[s]:
                mine.update(tokens(value))
                for syn in d.synonyms[s].get(value, ()):
                    mine.update(tokens(syn))
    for r in range(d.n_req):
        mine = vocab[ds.req[r]]
        mine.update(tokens(ds.req_local[r].replace("_", " ")))
        for kw in d.req_keywords[r]:
            mine.update(tokens(kw))
        for t in d.req_templates[r]:
            mine.update(tokens(t.replace("{slot}", " ")))
    cue_lists = (*GENERIC_CUES.values(), DONTCARE_CUES, ANY_CUES)
    # a one-word cue says its act, not the domain ("yep", a synonym of the hotel's parking "yes")
    generic = {p for cues in cue_lists for p, _ in cues if len(tokens(p)) == 1}
    for k, words in enumerate(vocab):
        others = set().union(*(w for o, w in enumerate(vocab) if o != k))
        for w in words - others - STOPWORDS - generic:
            if len(w) > 1 and not w.isdigit():
                lex.domain_cues[w] = k
    lex.slot_domain = ds.slot
    lex.req_domain = ds.req
    for k, name in enumerate(ds.names):
        for w in tokens(name):
            lex.domain_cues[w] = k
