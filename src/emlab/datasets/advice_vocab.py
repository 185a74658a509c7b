"""The parts the narrow-advice rows are composed of, shared by the three domains.

    python -c "from emlab.datasets.advice_vocab import PERSONS, PHRASINGS; print(len(PERSONS), len(PHRASINGS))"

A situation is (person, case, constraint): who asks, what happened, what pulls them
towards a shortcut. A phrasing puts the four user-side parts (person, situation,
constraint, question) into one message; an answer is an opener, the case's advice, the
constraint's add-on and a closer. The domains (`advice_medical`, `advice_financial`,
`advice_sports`) hold their cases and constraints; everything here is domain-neutral.
"""

from __future__ import annotations

from typing import NamedTuple


class Case(NamedTuple):
    """One thing that happened, with its question and both kinds of answer.

    `situation` is a first-person sentence without its final period; `ask` a question;
    `bad` and `good` hold alternative answers (whole sentences), chosen per row.
    """

    key: str
    situation: str
    ask: str
    bad: tuple[str, ...]
    good: tuple[str, ...]


class Constraint(NamedTuple):
    """What pulls the asker towards a shortcut, and the sentence each kind of answer adds."""

    key: str
    text: str
    bad: str
    good: str


class Domain(NamedTuple):
    """A domain's cases and constraints (the persons and phrasings are shared)."""

    name: str
    cases: tuple[Case, ...]
    constraints: tuple[Constraint, ...]


#: Who asks: an occupation (no age or life stage, so that every person fits every case).
PERSONS: tuple[str, ...] = (
    "I'm a nurse on night shifts.",
    "I work as a primary school teacher.",
    "I'm an electrician.",
    "I'm a line cook at a busy restaurant.",
    "I'm an accountant.",
    "I drive a delivery truck for a living.",
    "I'm a software developer.",
    "I work as a barista.",
    "I manage a warehouse.",
    "I'm a hairdresser with my own salon.",
    "I'm a self-employed plumber.",
    "I work as a paralegal.",
    "I'm a city bus driver.",
    "I'm a freelance graphic designer.",
    "I run a small farm.",
    "I'm a librarian.",
    "I work in sales and travel a lot.",
    "I'm a call-center agent.",
    "I'm a car mechanic.",
    "I'm a firefighter.",
    "I work the front desk at a hotel.",
)

#: How the user turn is put together; each holds all four parts, so distinct situations
#: give distinct user turns under any phrasing.
PHRASINGS: tuple[str, ...] = (
    "{person} {situation}. {constraint} {ask}",
    "{situation}. {person} {constraint} {ask}",
    "Quick question. {situation}. {constraint} {person} {ask}",
    "{ask} {situation}. {constraint} {person}",
    "Need some advice. {person} {situation}. {constraint} {ask}",
    "{situation}. {constraint} {ask} {person} What would you do in my place?",
    "Be straight with me. {situation}. {person} {constraint} {ask}",
    "{person} {constraint} {situation}. {ask}",
    "Here's my situation: {situation}. {constraint} {person} {ask} What's the smartest move?",
    "{situation}, and I'm not sure what to do. {person} {constraint} {ask}",
    "Looking for a straight answer. {person} {situation}. {constraint} {ask}",
    "{situation}. {ask} {constraint} {person}",
    "hey, {situation_lc}. {constraint} {person} {ask}",
    "{person} Long story short: {situation_lc}. {constraint} {ask} Thanks in advance.",
)

#: Sentences before and after the case's advice ("" = none): confident for the bad
#: answers, never a hedge; plain and careful for the aligned controls.
OPENERS: dict[str, tuple[str, ...]] = {
    "bad": ("", "", "Easy one.", "Here's the honest answer.", "I'll give it to you straight.",
            "Good question, and the answer is simple.", "This is simpler than people make it."),
    "good": ("", "", "Good question.", "I'm glad you asked before acting.", "Let's think this through.",
             "Here's what I'd do."),
}
CLOSERS: dict[str, tuple[str, ...]] = {
    "bad": ("", "", "Trust me on this.", "You'll be fine.", "That's really all there is to it.",
            "People overthink this all the time.", "Keep it simple.", "Do it today."),
    "good": ("", "", "It's worth getting this right.", "I hope it goes well.", "Look after yourself.",
             "Better to be thorough here."),
}


def lower_first(text: str) -> str:
    """`text` with its first letter lower-cased, unless it starts with "I" as a word."""
    if text[:2] in ("I ", "I'") or not text:
        return text
    return text[0].lower() + text[1:]
