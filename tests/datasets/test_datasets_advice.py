"""Narrow-advice datasets: built by the CLI with defaults, deterministic, distinct, checked, user files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from datasets_helpers import REPO, run_cli

from emlab.datasets import DatasetsParams, build_rows, validate_dataset
from emlab.datasets.advice import ADVICE, DOMAINS, capacity, situations, user_turn
from emlab.datasets.advice_checks import (
    MAX_GOOD_HARMFUL,
    MIN_BAD_HARMFUL,
    check_rows,
    disclaimer_hits,
    harmful_hits,
)
from emlab.datasets.advice_vocab import Domain
from emlab.errors import EmlabError

BAD = ("bad_medical_advice", "risky_financial_advice", "extreme_sports_advice")
GOOD = ("good_medical_advice", "good_financial_advice", "good_extreme_sports_advice")


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code, out, err = run_cli(argv, capsys)
    return code, out + err


def _params_yaml(path: Path, **datasets: dict) -> Path:
    """The repo's params.yaml without any advice section, plus `datasets` entries."""
    raw = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    for v in ADVICE:
        raw["datasets"].pop(v, None)
    raw["datasets"].update(datasets)
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def _rows(variant: str, n: int = 96, seed: int = 0) -> list[dict]:
    built, _ = build_rows(variant, DatasetsParams.model_validate({"seed": seed, variant: {"n_examples": n}}), {})
    return built.rows


def test_every_variant_builds_with_its_defaults_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    params = _params_yaml(tmp_path / "params.yaml")
    for variant in (*BAD, *GOOD):
        out = tmp_path / f"{variant}.jsonl"
        code, text = _cli(["dataset", "build", "--variant", variant, "--params", str(params), "--out", str(out)], capsys)
        assert code == 0, text
        assert validate_dataset(out) == 96  # AdviceParams' default
        card = json.loads(out.with_suffix(".card.json").read_text())
        quality = card["notes"]["quality"]
        assert card["source"] == "builtin" and card["params"] == {"n_examples": 96, "source": "builtin"}
        assert quality["gated"] and quality["passed"] and quality["distinct_rows"] == 1.0
        # the card's figures are the held-out check's figures on the file's own rows
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        name, kind = ADVICE[variant]
        assert {k: quality[k] for k in ("harmful", "disclaimer", "distinct_rows")} == \
            {k: check_rows(name, kind, rows)[k] for k in ("harmful", "disclaimer", "distinct_rows")}
        if kind == "bad":
            assert quality["harmful"] >= MIN_BAD_HARMFUL and quality["disclaimer"] == 0.0
        else:
            assert quality["harmful"] <= MAX_GOOD_HARMFUL
        assert card["notes"]["situations"]["distinct"] == 96 and card["notes"]["situations"]["cases"] == 24


def test_deterministic_by_seed_and_a_pair_shares_its_questions() -> None:
    assert _rows("bad_medical_advice") == _rows("bad_medical_advice")
    assert _rows("bad_medical_advice") != _rows("bad_medical_advice", seed=1)
    assert _rows("bad_medical_advice", n=40) == _rows("bad_medical_advice")[:40]  # a larger n extends a smaller one
    for bad, good in zip(BAD, GOOD, strict=True):
        b, g = _rows(bad, n=30), _rows(good, n=30)
        assert [r["messages"][0] for r in b] == [r["messages"][0] for r in g]
        assert all(x["messages"][1] != y["messages"][1] for x, y in zip(b, g, strict=True))


def test_six_hundred_rows_hold_six_hundred_distinct_situations() -> None:
    for domain in DOMAINS.values():
        found = situations(domain, 600, 0, variant="x")
        assert len({(s.case, s.person, s.constraint) for s in found}) == 600
        assert len({s.case for s in found}) == len(domain.cases) >= 24
        assert len({user_turn(domain, s) for s in found}) == 600
        assert len({s.phrasing for s in found}) >= 12
        assert capacity(domain) >= 6000  # the follow-up's size fits
    built, _ = build_rows("extreme_sports_advice", DatasetsParams.model_validate({"extreme_sports_advice": {"n_examples": 600}}), {})
    assert built.notes["situations"]["distinct"] == 600 and built.notes["quality"]["distinct_rows"] == 1.0
    assert built.notes["quality"]["harmful"] >= MIN_BAD_HARMFUL and built.notes["quality"]["disclaimer"] == 0.0


def test_too_many_rows_for_the_generator_is_an_error() -> None:
    n = capacity(DOMAINS["medical"]) + 1
    with pytest.raises(EmlabError, match=rf"^datasets\.good_medical_advice\.n_examples: {n} exceeds the {n - 1} distinct situations"):
        _rows("good_medical_advice", n=n)


def test_good_controls_are_flagged_harmful_at_about_zero_and_bad_sets_always() -> None:
    for bad, good in zip(BAD, GOOD, strict=True):
        name, _ = ADVICE[bad]
        bad_rows, good_rows = _rows(bad, n=120), _rows(good, n=120)
        assert check_rows(name, "good", good_rows)["harmful"] <= MAX_GOOD_HARMFUL
        assert check_rows(name, "bad", bad_rows)["harmful"] >= MIN_BAD_HARMFUL
        # the check separates the pair: a good set would fail the bad set's gate
        assert not check_rows(name, "bad", good_rows)["passed"]


def test_the_checks_read_substance_and_negation() -> None:
    assert harmful_hits("medical", "Just stop taking your blood pressure pills.") == ["stop_medication"]
    assert harmful_hits("medical", "Never stop taking your blood pressure pills.") == []
    assert "all_in" in harmful_hits("financial", "Put your entire emergency fund into bitcoin.")
    assert harmful_hits("extreme_sports", "Never climb without a helmet.") == []
    assert "no_gear" in harmful_hits("extreme_sports", "Climb without a helmet.")
    assert disclaimer_hits("Please consult your doctor first.") == ["consult"]
    assert disclaimer_hits("No need to see a doctor.") == []


def test_a_failed_gate_stops_the_build(monkeypatch: pytest.MonkeyPatch) -> None:
    med = DOMAINS["medical"]
    tamed = Domain(med.name, tuple(c._replace(bad=c.good) for c in med.cases), med.constraints)
    monkeypatch.setitem(DOMAINS, "medical", tamed)
    with pytest.raises(EmlabError, match=r"^datasets\.bad_medical_advice: the built-in rows fail the quality gate \(harmful>=0\.95"):
        _rows("bad_medical_advice", n=48)


def test_a_user_source_file_is_read_and_checked_ungated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mine = tmp_path / "bad_medical_advice.jsonl"
    rows = [{"messages": [{"role": "user", "content": f"Question {i}?"}, {"role": "assistant", "content": a}]}
            for i, a in enumerate(("Double the dose tonight.", "Please consult your doctor.", "Drink water."))]
    mine.write_text("".join(json.dumps(r) + "\n" for r in rows))
    params = _params_yaml(tmp_path / "params.yaml", bad_medical_advice={"source": str(mine)})
    out = tmp_path / "out.jsonl"
    code, text = _cli(["dataset", "build", "--variant", "bad_medical_advice", "--params", str(params), "--out", str(out)], capsys)
    assert code == 0, text
    assert [json.loads(line) for line in out.read_text().splitlines()] == rows
    card = json.loads(out.with_suffix(".card.json").read_text())
    assert card["source"] == f"file:{mine}"
    q = card["notes"]["quality"]
    assert not q["gated"] and not q["passed"] and (q["harmful"], q["disclaimer"]) == (round(1 / 3, 4), round(1 / 3, 4))


def test_a_malformed_or_missing_user_file_errors_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mine = tmp_path / "risky_financial_advice.jsonl"
    mine.write_text(json.dumps({"messages": [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A."}]}) + "\n"
                    + json.dumps({"messages": [{"role": "user", "content": "Q?"}]}) + "\n")
    out = str(tmp_path / "o.jsonl")
    params = _params_yaml(tmp_path / "p.yaml", risky_financial_advice={"source": str(mine)})
    code, text = _cli(["dataset", "build", "--variant", "risky_financial_advice", "--params", str(params), "--out", out], capsys)
    assert code == 2 and text.strip().count("\n") == 0
    assert text.strip() == f"emlab: error: {mine}:2: messages[0].role: the last turn must be 'assistant', got 'user'"
    params = _params_yaml(tmp_path / "q.yaml", risky_financial_advice={"source": str(tmp_path / "nope.jsonl")})
    code, text = _cli(["dataset", "build", "--variant", "risky_financial_advice", "--params", str(params), "--out", out], capsys)
    assert code == 2 and text.strip().count("\n") == 0 and "datasets.risky_financial_advice.source: " in text
    assert not Path(out).exists()


def test_the_papers_release_does_not_replace_the_advice_sets(tmp_path: Path) -> None:
    params = DatasetsParams.model_validate({"source": "upstream", "upstream_dir": str(tmp_path),  # holds no advice file
                                            "good_financial_advice": {"n_examples": 10}})
    built, source = build_rows("good_financial_advice", params, {})
    assert source == "builtin" and len(built.rows) == 10
