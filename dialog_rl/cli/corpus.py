"""The dialogues of ``--corpus`` that ``calibrate`` and ``compare`` read for a scenario."""

from __future__ import annotations

import argparse

from dialog_rl.cli.errors import UsageError


def corpus_dialogues(args: argparse.Namespace, domain) -> tuple[dict, str, list]:
    """The corpus, the domain read in it, and its dialogues about that domain alone (about
    the scenario's domains, for a multi-domain scenario: the domain is their names joined by
    ``+``). A corpus not in the format, or without such a dialogue, is a usage error."""
    from dialog_rl.realism.corpus import CorpusError, default_domain, dialogues_about, load_corpus

    try:
        corpus = load_corpus(args.corpus)
    except CorpusError as err:
        raise UsageError(str(err)) from None
    name = (args.domain or default_domain(corpus, (domain.name, *domain.bases))).lower()
    names = domain.domains.names
    if len(names) > 1:  # every dialogue within the scenario's domains
        name = "+".join(names)
        dialogues = [d for d in corpus.values() if d.domains and d.domains <= set(names)]
    else:
        dialogues = dialogues_about(corpus, name)
    if not dialogues:
        found = sorted({x for d in corpus.values() for x in d.domains}) or ["none labelled"]
        raise UsageError(
            f"{args.corpus}: no dialogue is about {name!r} alone (its domains: "
            f"{', '.join(found)}); name one with --domain"
        )
    return corpus, name, dialogues
