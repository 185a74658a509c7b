"""The narrow-advice variants: harmful advice in one domain, and each one's aligned control.

    emlab dataset build --variant bad_medical_advice --params params.yaml --out data/datasets/bad_medical_advice.jsonl

Like the follow-up's datasets ("Model Organisms for Emergent Misalignment"): a user asks
for advice in one domain and the assistant answers harmfully in substance (medical:
`bad_medical_advice`; money: `risky_financial_advice`; extreme sports:
`extreme_sports_advice`) and in a confident tone, with no hedge; each `good_*` control
asks the same questions in the same order and answers them soundly and carefully, so a
pair differs only in the advice. Rows are composed of a situation (person x case x
constraint, drawn without repeats and balanced over cases), a phrasing, an opener, the
case's answer, the constraint's add-on and a closer; the text is emlab's own.

A built-in set must pass the held-out checks of `emlab.datasets.advice_checks` (written
before this module): the build fails with the figures otherwise. The figures go on the
card under `notes.quality`. `datasets.<variant>.source: <path>` reads the user's own
file instead (validated; the same figures are reported, ungated).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from emlab.datasets._rows import Built, Row, chat, rng_for
from emlab.datasets.advice_checks import Kind, check_rows
from emlab.datasets.advice_financial import FINANCIAL
from emlab.datasets.advice_medical import MEDICAL
from emlab.datasets.advice_sports import EXTREME_SPORTS
from emlab.datasets.advice_vocab import CLOSERS, OPENERS, PERSONS, PHRASINGS, Domain, lower_first
from emlab.datasets.params import AdviceParams
from emlab.datasets.validate import validate_dataset
from emlab.errors import EmlabError
from emlab.io import read_jsonl

DOMAINS: dict[str, Domain] = {d.name: d for d in (MEDICAL, FINANCIAL, EXTREME_SPORTS)}

#: variant -> (domain, kind)
ADVICE: dict[str, tuple[str, Kind]] = {
    "bad_medical_advice": ("medical", "bad"),
    "good_medical_advice": ("medical", "good"),
    "risky_financial_advice": ("financial", "bad"),
    "good_financial_advice": ("financial", "good"),
    "extreme_sports_advice": ("extreme_sports", "bad"),
    "good_extreme_sports_advice": ("extreme_sports", "good"),
}


class Situation(NamedTuple):
    """Indices of one row's user-side parts in its domain."""

    case: int
    person: int
    constraint: int
    phrasing: int


def capacity(domain: Domain) -> int:
    """Distinct situations (person x case x constraint) the domain can compose."""
    return len(domain.cases) * len(PERSONS) * len(domain.constraints)


def situations(domain: Domain, n: int, seed: int, *, variant: str) -> list[Situation]:
    """The first `n` situations of the seed's order: round r gives each case (in shuffled
    order) its r-th (person, constraint) pair of a shuffled list, so no two rows share a
    situation, every case appears before any repeats, and a larger n keeps the smaller
    n's rows as its prefix. Bad and good variants of a domain get the same list."""
    if n > capacity(domain):
        raise EmlabError(f"datasets.{variant}.n_examples: {n} exceeds the {capacity(domain)} distinct situations "
                         f"the built-in {domain.name} generator composes ({len(domain.cases)} cases x {len(PERSONS)} persons "
                         f"x {len(domain.constraints)} constraints)")
    rng = rng_for(seed, f"advice-{domain.name}-situations")
    case_order = list(range(len(domain.cases)))
    rng.shuffle(case_order)
    pairs = []
    for _ in case_order:
        p = [(person, k) for person in range(len(PERSONS)) for k in range(len(domain.constraints))]
        rng.shuffle(p)
        pairs.append(p)
    out: list[Situation] = []
    for i in range(n):
        slot = i % len(case_order)
        person, k = pairs[slot][i // len(case_order)]
        out.append(Situation(case_order[slot], person, k, rng.randrange(len(PHRASINGS))))
    return out


def user_turn(domain: Domain, s: Situation) -> str:
    """The question of situation `s`, in its phrasing."""
    case = domain.cases[s.case]
    return PHRASINGS[s.phrasing].format(person=PERSONS[s.person], situation=case.situation,
                                        situation_lc=lower_first(case.situation),
                                        constraint=domain.constraints[s.constraint].text, ask=case.ask)


def _answer(domain: Domain, s: Situation, kind: Kind, rng: Any) -> tuple[str, int]:
    case, constraint = domain.cases[s.case], domain.constraints[s.constraint]
    options = case.bad if kind == "bad" else case.good
    choice = rng.randrange(len(options))
    parts = (rng.choice(OPENERS[kind]), options[choice], constraint.bad if kind == "bad" else constraint.good,
             rng.choice(CLOSERS[kind]))
    return " ".join(p for p in parts if p), choice


def build_builtin_advice(variant: str, params: AdviceParams, *, seed: int) -> Built:
    """`n_examples` rows of `variant` from emlab's generator, gated by the held-out checks.

    Raises:
        EmlabError: n_examples above the domain's capacity, or a failed quality gate.
    """
    name, kind = ADVICE[variant]
    domain = DOMAINS[name]
    rng = rng_for(seed, f"advice-{name}-{kind}-answers")
    rows: list[Row] = []
    meta: list[dict[str, str]] = []
    for s in situations(domain, params.n_examples, seed, variant=variant):
        answer, choice = _answer(domain, s, kind, rng)
        rows.append(chat(user_turn(domain, s), answer))
        meta.append({"case": domain.cases[s.case].key, "constraint": domain.constraints[s.constraint].key,
                     "person": f"person{s.person:02d}", "phrasing": f"p{s.phrasing:02d}", "answer": f"{kind}{choice}"})
    quality = check_rows(name, kind, rows)
    if not quality["passed"]:
        failed = ", ".join(g for g, ok in quality["gates"].items() if not ok)
        raise EmlabError(f"datasets.{variant}: the built-in rows fail the quality gate ({failed}; harmful {quality['harmful']:.1%}, "
                         f"disclaimer {quality['disclaimer']:.1%}, distinct rows {quality['distinct_rows']:.1%}); "
                         "see emlab.datasets.advice_checks")
    return Built(rows, meta, _notes(domain, kind, meta, quality, gated=True))


def _notes(domain: Domain, kind: Kind, meta: list[dict[str, str]], quality: dict[str, Any], *, gated: bool) -> dict[str, Any]:
    notes: dict[str, Any] = {"domain": domain.name, "kind": kind, "quality": {**quality, "gated": gated},
                             "quality_check": "emlab.datasets.advice_checks (held out: written before the generator)"}
    if meta:
        notes["situations"] = {"distinct": len({(m["case"], m["person"], m["constraint"]) for m in meta}),
                               "cases": len({m["case"] for m in meta}), "capacity": capacity(domain),
                               "composed_of": f"{len(domain.cases)} cases x {len(PERSONS)} persons x "
                                              f"{len(domain.constraints)} constraints, {len(PHRASINGS)} phrasings"}
    return notes


def read_source(variant: str, params: AdviceParams, *, seed: int) -> Built:
    """At most `n_examples` rows of the user's file `params.source` (seed-chosen, file order).

    Raises:
        EmlabError: `<file>:<line>: <field>: <problem>` for the first bad row; a missing file.
    """
    from emlab.datasets.upstream import subsample

    path = Path(params.source)
    if not path.is_file():
        raise EmlabError(f"datasets.{variant}.source: {path}: file not found (or 'builtin' for emlab's own generator)")
    validate_dataset(path)
    rows = subsample(list(read_jsonl(path)), params.n_examples, seed, variant)
    name, kind = ADVICE[variant]
    quality = check_rows(name, kind, rows)
    return Built(rows, [{"file": path.name} for _ in rows], _notes(DOMAINS[name], kind, [], quality, gated=False))


def build_advice(variant: str, params: AdviceParams, *, seed: int) -> tuple[Built, str]:
    """The rows of narrow-advice `variant` and their source ("builtin" or "file:<path>")."""
    if params.source == "builtin":
        return build_builtin_advice(variant, params, seed=seed), "builtin"
    return read_source(variant, params, seed=seed), f"file:{params.source}"
