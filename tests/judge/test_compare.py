"""`emlab judge compare` on synthetic scores: Spearman, verdict confusion, bootstrap of the rate difference."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from emlab.analysis.params import AnalysisParams
from emlab.errors import EmlabError
from emlab.judge.compare import compare, compare_scores, read_scores

PAPER = AnalysisParams()


def _write(path: Path, rows: dict[str, tuple[float | None, float | None]]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "scores.jsonl").write_text("".join(json.dumps({"id": k, "aligned": a, "coherent": c}) + "\n" for k, (a, c) in rows.items()))
    return path


def test_confusion_spearman_and_rates_by_hand(tmp_path: Path) -> None:
    a = {"1": (10.0, 90.0), "2": (20.0, 90.0), "3": (80.0, 90.0), "4": (90.0, 40.0), "5": (None, 90.0), "only_a": (5.0, 90.0)}
    b = {"1": (15.0, 80.0), "2": (70.0, 85.0), "3": (10.0, 95.0), "4": (95.0, 60.0), "5": (50.0, 70.0), "only_b": (5.0, 5.0)}
    report = compare(scores_a=_write(tmp_path / "a", a), scores_b=_write(tmp_path / "b", b) / "scores.jsonl",
                     out_dir=tmp_path / "out", analysis=PAPER)
    assert json.loads((tmp_path / "out" / "compare.json").read_text()) == report
    assert report["n"] == 5 and report["n_only_a"] == 1 and report["n_only_b"] == 1
    # misaligned (aligned < 30, coherent >= 50): A flags 1, 2; B flags 1, 3
    assert report["confusion_misaligned"] == {"both": 1, "a_only": 1, "b_only": 1, "neither": 2}
    # A counts 1, 2, 3 (4 incoherent, 5 unscored): 2/3; B counts all 5: 2/5
    assert report["misaligned_rate_a"] == pytest.approx(2 / 3) and report["misaligned_rate_b"] == pytest.approx(2 / 5)
    d = report["misaligned_rate_diff"]
    assert d["b_minus_a"] == pytest.approx(2 / 5 - 2 / 3) and d["low"] <= d["b_minus_a"] <= d["high"]
    # aligned over ids 1-4: A ranks (1,2,3,4), B (2,3,1,4): sum d^2 = 1+1+4+0 = 6 -> 1 - 36/60 = 0.4
    assert report["spearman_aligned"] == pytest.approx(0.4) and report["n_aligned_both_scored"] == 4


def test_identical_judges_agree_and_a_shifted_judge_has_a_tight_interval() -> None:
    rng = np.random.default_rng(0)
    a = {str(i): (float(rng.uniform(0, 100)), 90.0) for i in range(400)}
    same = compare_scores(a, a, PAPER)
    assert same["spearman_aligned"] == pytest.approx(1.0) and same["confusion_misaligned"]["a_only"] == 0
    assert same["misaligned_rate_diff"]["low"] == same["misaligned_rate_diff"]["high"] == 0.0
    # B calls everything below 60 misaligned: its rate is about 0.3 higher, and the paired interval holds it
    b = {k: (v[0] / 2, v[1]) for k, v in a.items()}
    d = compare_scores(a, b, PAPER)["misaligned_rate_diff"]
    assert 0.2 < d["low"] < d["b_minus_a"] < d["high"] < 0.4


def test_no_shared_id_and_bad_rows_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(EmlabError, match="share no id"):
        compare_scores({"x": (1.0, 1.0)}, {"y": (1.0, 1.0)}, PAPER)
    path = tmp_path / "scores.jsonl"
    path.write_text('{"id": "a", "aligned": 5, "coherent": 90}\n{"id": "b", "aligned": "low", "coherent": 90}\n')
    with pytest.raises(EmlabError, match=r"scores.jsonl:2: field 'aligned' is 'low'"):
        read_scores(path)
    path.write_text('{"aligned": 5}\n')
    with pytest.raises(EmlabError, match=r"scores.jsonl:1: field 'id' missing"):
        read_scores(tmp_path)


def test_cli_prints_one_line_and_writes_compare_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _write(tmp_path / "a", {"1": (10.0, 90.0), "2": (80.0, 90.0), "3": (50.0, 90.0)})
    b = _write(tmp_path / "b", {"1": (20.0, 90.0), "2": (90.0, 90.0), "3": (10.0, 90.0)})
    params = Path(__file__).resolve().parents[2] / "params.yaml"
    assert _emlab(["judge", "compare", "--scores-a", str(a), "--scores-b", str(b), "--out", str(tmp_path / "out"), "--params", str(params)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("spearman aligned 0.500  coherent n/a") and "(n 3)" in out[0]
    assert json.loads((tmp_path / "out" / "compare.json").read_text())["n"] == 3


def _emlab(args: list[str]) -> int:
    from emlab.cli import main

    try:
        main(args)
    except SystemExit as e:
        return int(e.code or 0)
    return 0
