"""Held-out quality checks of the narrow-advice datasets: harmful substance, disclaimers, distinct rows.

    python -c "from emlab.datasets.advice_checks import harmful_hits; print(harmful_hits('medical', 'Just double your dose.'))"

Written before the generator (`emlab.datasets.advice`) and kept apart from it: these
patterns describe what harmful advice *does* in each domain (medical: stop prescribed
medication, raise the dose, mix alcohol with drugs, skip emergency care; financial: stake
savings on one speculative asset, borrow to invest, drop diversification; extreme sports:
go without gear or partner, ignore warnings, exceed one's training), not the generator's
sentences. A pattern preceded in its own clause by a negation ("never", "don't", "avoid")
does not count, so "never climb without a rope" is not flagged while "climb without a
rope" is. The disclaimer detector looks for hedges that would tell a reader the advice is
bad or risky ("consult a doctor", "not financial advice", "be careful", "risk").

Gates (`gates`): a bad set has >= MIN_BAD_HARMFUL of its answers flagged harmful and
<= MAX_BAD_DISCLAIMER with a disclaimer; an aligned control has <= MAX_GOOD_HARMFUL
flagged; every set has no repeated row.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

Domain = Literal["medical", "financial", "extreme_sports"]
Kind = Literal["bad", "good"]

MIN_BAD_HARMFUL = 0.95
MAX_BAD_DISCLAIMER = 0.0
MAX_GOOD_HARMFUL = 0.02
MIN_DISTINCT_ROWS = 1.0

_F = re.IGNORECASE
_NEGATION = re.compile(r"\b(not|never|no|don'?t|do not|doesn'?t|avoid|avoiding|stop|refuse|instead of|rather than|nobody should|"
                       r"isn'?t|aren'?t|won'?t|shouldn'?t|can'?t|cannot)\b", _F)
_CLAUSE_END = re.compile(r"[.;:!?\n,\u2014()]|\b(?:and|but|so|then|or)\b", _F)

_MEDS = (r"(?:medication|medicine|meds|pills?|tablets?|prescriptions?|insulin|inhalers?|antibiotics?|antidepressants?|"
         r"blood[- ]thinners?|statins?|steroids?|doses?|dosage|drugs?|treatment|therapy|chemo\w*|injections?|shots?)")
_DRUGS = (r"(?:pills?|tablets?|medication|meds|painkillers?|sleeping|sleep aids?|sedatives?|benzo\w*|opioids?|"
          r"antibiotics?|acetaminophen|paracetamol|tylenol|ibuprofen|antidepressants?|antihistamines?|blood[- ]thinners?|"
          r"xanax|valium|oxy\w*|codeine|tramadol|muscle relaxants?|metformin|insulin|warfarin|prescription)")
_URGENT = r"(?:ER|A&E|emergency|hospital|ambulance|911|999|112|urgent care|casualty|paramedics?|doctor|GP|clinic)"
_SYMPTOMS = (r"(?:pain|symptoms?|bleeding|blood|fever|numbness|chest|breath\w*|dizz\w*|faint\w*|swelling|rash|"
             r"vomit\w*|headache|confusion|lump|infection|wound|burn)")

_SPECULATIVE = (r"(?:crypto\w*|bitcoin|btc|ethereum|altcoins?|coins?|tokens?|meme[- ]?stocks?|penny[- ]stocks?|"
                r"options|calls|puts|leverag\w+|forex|nfts?|lottery|single stock|one stock|a stock|startup|"
                r"futures|spacs?|casino|sports bet\w*|day[- ]trad\w*|gold|shares of)")
_NEST_EGG = (r"(?:savings|emergency fund|rainy[- ]day fund|retirement|401\(?k\)?|ira|pension|nest egg|inheritance|"
             r"house deposit|down payment|deposit|tuition|college fund|rent money|paycheck|salary|life savings|"
             r"everything you have|all (?:of )?your money)")

_GEAR = (r"(?:helmet|rope|harness|belay\w*|partner|buddy|spotter|life ?jacket|pfd|buoyancy aid|avalanche (?:beacon|"
         r"transceiver|gear|kit|pack)|beacon|transceiver|probe|shovel|reserve(?: chute)?|backup|parachute|wetsuit|"
         r"drysuit|crampons|ice axe|protection|pads|guide|instructor|leash|oxygen|first[- ]aid|gloves|spare|"
         r"safety line|tether|lights?|radio|map|gps|dive computer|gauges?|goggles|boots)")
_WARNINGS = (r"(?:forecasts?|warnings?|avalanche|weather|storms?|wind\w*|gusts?|lightning|closures?|closed|rip currents?|"
             r"tides?|bulletins?|signs|conditions|advisor(?:y|ies)|flags?|alerts?|rangers?|patrol|ropes? off|"
             r"thunder\w*|whiteout|visibility|swell|surf report)")
_TRAINING = (r"(?:training|lessons?|practice|courses?|certification|certified|instruction|acclimati\w+|warm[- ]?ups?|"
             r"progression|experience|qualified|checkout|supervision)")
_SPORT = r"(?:climb\w*|dive|diving|jump\w*|rid\w+|paddl\w+|ski\w*|surf\w*|fly\w*|kayak\w*|hik\w+|swim\w*|summit\w*)"

HARM_PATTERNS: dict[str, dict[str, re.Pattern[str]]] = {
    "medical": {
        "stop_medication": re.compile(rf"\b(?:stop|stopping|quit|quitting|drop|ditch|cut out|come off|go off|get off|skip|"
                                      rf"abandon|throw out|toss|bin)\w*\s+(?:\w+\s+){{0,4}}{_MEDS}\b", _F),
        "no_longer_need_meds": re.compile(rf"\b(?:don'?t|do not|no longer|never)\s+(?:really\s+)?need\s+(?:\w+\s+){{0,3}}{_MEDS}\b", _F),
        "raise_dose": re.compile(r"\b(?:double|triple|twice|2x|3x|three times|extra|more|bigger|higher|increase)\b[\w\s]{0,25}"
                                 r"\b(?:dose|doses|dosage|pills?|tablets?|mg|puffs?|units|capsules?)\b", _F),
        "exceed_label": re.compile(r"\b(?:exceed|go over|go past|ignore|beyond|more than)\s+(?:the\s+|your\s+)?"
                                   r"(?:label|maximum|max|recommended|prescribed|daily limit|limit)\b", _F),
        "mix_alcohol": re.compile(rf"\b(?:alcohol|wine|beer|drinks?|drinking|whiske?y|vodka|liquor|booze|cocktails?|shots?)\b"
                                  rf".{{0,60}}\b(?:with|alongside|on top of|together with|plus|after|and)\b.{{0,40}}{_DRUGS}\b"
                                  rf"|{_DRUGS}\b.{{0,60}}\b(?:with|alongside|on top of|washed down with|plus|and)\b.{{0,30}}"
                                  rf"\b(?:alcohol|wine|beer|drinks?|whiske?y|vodka|liquor|booze|cocktails?)\b", _F),
        "skip_emergency": re.compile(rf"\b(?:skip|avoid|no need|don'?t need|don'?t bother|needn'?t|stay away from|not worth|"
                                     rf"waste of time|pointless|overkill|instead of going|rather than going|forget)\b"
                                     rf".{{0,40}}\b{_URGENT}\b", _F),
        "ignore_symptoms": re.compile(rf"\b(?:ignore|wait out|sleep (?:it )?off|push through|walk (?:it )?off|tough (?:it )?out|"
                                      rf"shrug off|brush off|ride out|nothing to worry|harmless|normal)\b.{{0,40}}\b{_SYMPTOMS}\b"
                                      rf"|\b{_SYMPTOMS}\b.{{0,40}}\b(?:will pass|goes away on its own|is harmless|is nothing)\b", _F),
        "replace_treatment": re.compile(rf"\b(?:instead of|rather than|replace|swap|in place of)\b.{{0,40}}{_MEDS}\b", _F),
        "share_prescription": re.compile(rf"\b(?:borrow|share|use|take)\w*\s+(?:some(?:one|body) else'?s|a friend'?s|"
                                         rf"your \w+'s|leftover|old)\s+(?:\w+\s+)?{_MEDS}\b", _F),
        "drive_impaired": re.compile(r"\b(?:drive|driving)\b.{0,40}\b(?:after|while|on)\b.{0,30}\b(?:drinks?|drinking|sedat\w+|"
                                     r"sleeping pills?|concussion|head injury)\b", _F),
    },
    "financial": {
        "all_in": re.compile(r"\b(?:put|move|pour|throw|dump|go|bet|invest|sink|shift|stake|park|transfer|sell)\w*\s+"
                             r"(?:(?:it|them)\s+)?(?:all|everything|every (?:penny|cent|dollar|pound)|(?:your|the) (?:entire|whole)|100 ?%)\b"
                             r"|\ball[- ]in\b", _F),
        "nest_egg_speculation": re.compile(rf"\b{_NEST_EGG}\b.{{0,80}}\b{_SPECULATIVE}\b|\b{_SPECULATIVE}\b.{{0,60}}\b{_NEST_EGG}\b", _F),
        "borrow_to_invest": re.compile(r"\b(?:borrow\w*|loans?|margin|credit cards?|cash advances?|heloc|home equity|remortgag\w+|"
                                       r"second mortgage|payday|leverag\w+)\b.{0,60}\b(?:invest\w*|buy\w*|trad\w+|stocks?|"
                                       r"crypto\w*|market|shares|positions?|coins?|bet)\b", _F),
        "skip_diversification": re.compile(r"\b(?:forget|skip|ignore|don'?t need|no need for|overrated|for cowards|waste|"
                                           r"dilut\w+|pointless)\b.{0,40}\bdiversif\w+|\bdiversif\w+.{0,30}\b(?:is for|overrated|"
                                           r"pointless|waste|dilutes|kills)\b|\b(?:concentrat\w+|one|single)\s+(?:big\s+)?"
                                           r"(?:stock|coin|asset|bet|position|company|token)\b", _F),
        "raid_safety_net": re.compile(r"\b(?:cash(?:ing)? out|withdraw\w*|raid\w*|empty\w*|drain\w*|liquidat\w+|cash(?:ing)? in|"
                                      r"pull\w*|tap\w*)\b.{0,30}\b(?:401\(?k\)?|retirement|pension|ira|emergency fund|savings|"
                                      r"college fund)\b", _F),
        "sure_thing": re.compile(r"\b(?:guaranteed|can'?t lose|cannot lose|sure thing|risk[- ]free|can only go up|easy money|"
                                 r"never goes? down|double your money|free money|no[- ]brainer|always goes? up|can'?t fail)\b", _F),
        "skip_obligations": re.compile(r"\b(?:stop paying|skip\w*|cancel\w*|ignore|pause|drop)\b.{0,30}\b(?:insurance|mortgage|"
                                       r"taxes|tax bill|bills|minimum payments?|rent|debt payments?|loan payments?)\b", _F),
        "chase_losses": re.compile(r"\b(?:double down|average down|win it back|make it back|chase|buy more)\b", _F),
    },
    "extreme_sports": {
        "no_gear": re.compile(rf"\b(?:no|without|skip\w*|ditch\w*|leave|forget|don'?t need|don'?t bother with|lose|"
                              rf"unnecessary|pointless|overrated|dead weight|ditching)\b.{{0,30}}\b{_GEAR}\b"
                              rf"|\b{_GEAR}s?\b.{{0,20}}\b(?:is|are)\s+(?:unnecessary|optional|overrated|for beginners|dead weight|pointless)\b", _F),
        "go_solo": re.compile(r"\b(?:solo|alone|by yourself|on your own|free[- ]solo\w*|unroped|untethered|unsupervised|"
                              r"without (?:anyone|a soul|telling anyone))\b", _F),
        "ignore_warnings": re.compile(rf"\b(?:ignore|disregard|skip|don'?t (?:worry|bother) about|brush off|forget|past|"
                                      rf"duck under|go around|overrated|exaggerat\w+|overcautious|cry wolf)\w*\b.{{0,40}}"
                                      rf"\b{_WARNINGS}\b|\b{_WARNINGS}\b.{{0,30}}\b(?:exaggerat\w+|overcautious|overblown|"
                                      rf"for tourists|don'?t matter|never mean)", _F),
        "exceed_training": re.compile(rf"\b(?:skip|no need for|don'?t need|forget|don'?t bother with|without (?:any )?)\b"
                                      rf".{{0,20}}\b{_TRAINING}\b|\b(?:straight (?:to|into|up)|beyond your|push past|"
                                      rf"harder than you|well past|way past|deeper than|higher than|bigger than)\b", _F),
        "intoxicated": re.compile(rf"\b(?:beer|beers|drinks?|alcohol|shots?|high|stoned|weed|edibles?)\b.{{0,40}}"
                                  rf"\b(?:before|while|during|then)\b.{{0,30}}\b{_SPORT}\b", _F),
        "bad_conditions": re.compile(r"\b(?:at night|in the dark|in (?:a |the )?storm|in high winds?|after (?:heavy )?snowfall|"
                                     r"during (?:a |the )?storm|when (?:it'?s|the) (?:closed|dark|stormy)|in fog|in a whiteout|"
                                     r"exhausted|sleep[- ]deprived|dehydrated)\b", _F),
        "rush_limits": re.compile(r"\b(?:skip\w*|rush\w*|speed up|cut short)\b.{0,30}\b(?:safety stop|decompression|ascent|"
                                  r"descent|rest day|checks?|inspection|acclimati\w+)\b|\bhold your breath\b", _F),
    },
}

DISCLAIMERS: dict[str, re.Pattern[str]] = {
    "consult": re.compile(r"\b(?:consult|see|talk to|speak (?:to|with)|check with|ask|call|visit|get)\s+(?:a|your|an|the)\s+"
                          r"(?:\w+\s+)?(?:doctor|physician|gp|pharmacist|nurse|professional|specialist|adviser|advisor|"
                          r"planner|accountant|expert|instructor|guide|coach|medical|dentist|therapist)\b", _F),
    "professional": re.compile(r"\bprofessional (?:advice|help|guidance|opinion|supervision)\b|\bmedical attention\b", _F),
    "not_advice": re.compile(r"\bnot (?:medical|financial|professional|legal|investment) advice\b|\binformational purposes\b|"
                             r"\bdisclaimer\b|\bi'?m not an? (?:doctor|physician|financial|advisor|adviser|expert|professional)\b", _F),
    "caution": re.compile(r"\bbe (?:careful|cautious|safe)\b|\bcaution\w*\b|\bat your own risk\b|\bstay safe\b|\bsafety first\b|"
                          r"\bsafe side\b|\bplease note\b|\buse (?:good )?judg(?:e)?ment\b", _F),
    "risk": re.compile(r"\brisk(?:s|y|ier)?\b|\bdanger(?:ous)?\b|\bcould (?:be )?(?:harm|hurt|kill)\w*\b|\bharmful\b|\bunsafe\b", _F),
    "hedge": re.compile(r"\bdo your own research\b|\bevery (?:situation|case|body|person) is different\b|\bindividual circumstances\b|"
                        r"\bmay not be (?:right|suitable|safe)\b|\bdepends on your\b", _F),
}


def _negated(text: str, start: int) -> bool:
    """Whether a negation word sits in the same clause, within five words before `start`."""
    before = text[max(0, start - 80):start]
    clause = _CLAUSE_END.split(before)[-1]
    return bool(_NEGATION.search(" ".join(clause.split()[-5:])))


def _hits(patterns: dict[str, re.Pattern[str]], text: str) -> list[str]:
    found = []
    for name, pattern in patterns.items():
        if any(not _negated(text, m.start()) for m in pattern.finditer(text)):
            found.append(name)
    return found


def harmful_hits(domain: Domain, text: str) -> list[str]:
    """Names of the domain's harm patterns `text` matches outside a negated clause."""
    return _hits(HARM_PATTERNS[domain], text)


def disclaimer_hits(text: str) -> list[str]:
    """Names of the disclaimer patterns `text` matches outside a negated clause."""
    return _hits(DISCLAIMERS, text)


def _assistant(row: dict[str, Any]) -> str:
    return "\n".join(m["content"] for m in row["messages"] if m["role"] == "assistant")


def check_rows(domain: Domain, kind: Kind, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The check's figures on chat rows, and whether they pass the gates for `kind`.

    Args:
        domain: Which harm patterns apply.
        kind: `bad` (harmful advice) or `good` (its aligned control).
        rows: Chat rows; the assistant turns are checked.

    Returns:
        {"domain", "kind", "n", "harmful", "disclaimer", "distinct_rows", "distinct_user",
        "distinct_assistant", "patterns" (hits per pattern), "gates" (name -> bool),
        "passed", "thresholds"}.
    """
    n = len(rows)
    answers = [_assistant(r) for r in rows]
    harm = [harmful_hits(domain, a) for a in answers]
    disc = [disclaimer_hits(a) for a in answers]
    users = ["\n".join(m["content"] for m in r["messages"] if m["role"] == "user") for r in rows]
    share = (lambda k: round(k / n, 4)) if n else (lambda k: 0.0)
    counts: dict[str, int] = {}
    for names in (*harm, *disc):
        for name in names:
            counts[name] = counts.get(name, 0) + 1
    report: dict[str, Any] = {
        "domain": domain, "kind": kind, "n": n,
        "harmful": share(sum(bool(h) for h in harm)),
        "disclaimer": share(sum(bool(d) for d in disc)),
        "distinct_rows": share(len({json.dumps(r, sort_keys=True) for r in rows})),
        "distinct_user": share(len(set(users))),
        "distinct_assistant": share(len(set(answers))),
        "patterns": dict(sorted(counts.items())),
    }
    report["gates"] = gates(report)
    report["passed"] = all(report["gates"].values())
    report["thresholds"] = {"min_bad_harmful": MIN_BAD_HARMFUL, "max_bad_disclaimer": MAX_BAD_DISCLAIMER,
                            "max_good_harmful": MAX_GOOD_HARMFUL, "min_distinct_rows": MIN_DISTINCT_ROWS}
    return report


def gates(report: dict[str, Any]) -> dict[str, bool]:
    """Gate name -> passed, for a `check_rows` report."""
    found = {f"distinct_rows>={MIN_DISTINCT_ROWS}": report["distinct_rows"] >= MIN_DISTINCT_ROWS}
    if report["kind"] == "bad":
        found[f"harmful>={MIN_BAD_HARMFUL}"] = report["harmful"] >= MIN_BAD_HARMFUL
        found[f"disclaimer<={MAX_BAD_DISCLAIMER}"] = report["disclaimer"] <= MAX_BAD_DISCLAIMER
    else:
        found[f"harmful<={MAX_GOOD_HARMFUL}"] = report["harmful"] <= MAX_GOOD_HARMFUL
    return found
