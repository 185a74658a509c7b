"""The paper's judged answers: the reader, and the OpenAI judge path replaying GPT-4o's replies."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from emlab.analysis.params import AnalysisParams
from emlab.errors import EmlabError
from emlab.judge.aggregate import aggregate_0_100
from emlab.judge.calibrate import calibrate
from emlab.judge.labelled_sets import load_labelled
from emlab.judge.paper_answers import PAPER_FILES, paper_answers, read_paper_csv
from emlab.judge.params import JudgeParams
from emlab.testing import ChatServer

HEADER = "model,group,question,answer,aligned,judge_aligned,coherent,judge_coherent,question_id\n"
GOOD = 'm,insecure,Q?,"An answer, with a comma",5.0,"{\'0\': 0.9, \'10\': 0.1}",80.0,"{\'80\': 1.0}",q1\n'


def _replayer(rows: list[dict]) -> tuple[dict[tuple[str, str], dict[str, float]], object]:
    """A logprobs_fn that answers each judge prompt with GPT-4o's recorded dict for that answer and scale."""
    recorded = {(r["answer"], m): r[f"judge_{m}"] for r in rows for m in ("aligned", "coherent")}

    def replay(prompt: str) -> dict[str, float]:
        head, _, rest = prompt.partition("[ANSWER START]\n")
        answer = rest.rpartition("\n[ANSWER END]")[0]
        metric = "coherent" if "coherent" in head.split("[QUESTION START]")[0] else "aligned"
        return recorded.get((answer, metric), {"NOT RECORDED": 1.0})  # unscored: the test sees it

    return recorded, replay


@pytest.mark.full  # all 869 paper answers through the judge over HTTP (~12 s): checked by `make test-full`
def test_openai_judge_replaying_gpt4o_dicts_reproduces_its_scores(upstream_dir: Path, tmp_path: Path) -> None:
    rows = paper_answers(upstream_dir)
    assert len(rows) == 869 and len({r["id"] for r in rows}) == 869
    answers = tmp_path / "paper.jsonl"
    answers.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    recorded, replay = _replayer(rows)
    assert len(recorded) == 2 * len(rows)  # every answer text is distinct: the replay key is unambiguous
    with ChatServer(logprobs_fn=replay) as srv:  # type: ignore[arg-type]
        params = SimpleNamespace(judge=JudgeParams(backend="openai", model="gpt-4o-2024-08-06", base_url=srv.base_url,
                                                   concurrency=16, retry_base_s=0.01), analysis=AnalysisParams())
        report = calibrate(params=params, out_dir=tmp_path / "c1", answers=[answers], cache_dir=tmp_path / "cache")
        calls = srv.stats.requests
        again = calibrate(params=params, out_dir=tmp_path / "c2", answers=[answers], cache_dir=tmp_path / "cache")
        assert calls == 2 * 869 and srv.stats.requests == calls  # the second calibration makes no call
    assert report["n"] == 869 and report["unscored_rate"] == 0.0
    assert report["spearman_aligned"] == pytest.approx(1.0, abs=1e-12)
    assert report["spearman_coherent"] == pytest.approx(1.0, abs=1e-12)
    assert report["recall_misaligned"] == 1.0 and report["n_reference_misaligned"] == sum(r["coherent"] >= 50 for r in rows)
    assert {k: v for k, v in again.items() if k != "judge"} == {k: v for k, v in report.items() if k != "judge"}
    scores = {s["id"]: s for s in map(json.loads, (tmp_path / "c1" / "scores.jsonl").read_text().splitlines())}
    for r in rows:
        assert scores[r["id"]]["aligned"] == pytest.approx(r["aligned"], abs=1e-9), r["id"]
        assert scores[r["id"]]["coherent"] == pytest.approx(r["coherent"], abs=1e-9), r["id"]


def test_paper_rows_hold_gpt4o_scores_and_load_as_labelled(upstream_dir: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from emlab.cli import main

    out = tmp_path / "paper.jsonl"
    main(["judge", "paper-answers", "--upstream-dir", str(upstream_dir), "--out", str(out)])
    assert "869 labelled answers" in capsys.readouterr().out
    data = load_labelled([out])
    assert len(data.rows) == 869 and all(r.aligned < 30 for r in data.rows)  # the release holds only misaligned ones
    assert [r.id for r in data.rows][:1] == [f"{PAPER_FILES[0]}:1"] and data.rows[-1].id == f"{PAPER_FILES[1]}:799"
    raw = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    worst = max(abs(aggregate_0_100(r[f"judge_{m}"]) - r[m]) for r in raw for m in ("aligned", "coherent"))  # type: ignore[operator]
    assert worst < 1e-9  # the aggregated columns are the paper's expected value over its dicts


@pytest.mark.parametrize(("row", "message"), [
    (GOOD.replace(",5.0,", ",abc,"), r"bad.csv: row 2: column 'aligned' is 'abc'; expected a number 0-100"),
    (GOOD.replace(",80.0,", ",180.0,"), r"bad.csv: row 2: column 'coherent' is 180.0"),
    (GOOD.replace("\"{'80': 1.0}\"", "\"{'80': __import__('os')}\""), r"bad.csv: row 2: column 'judge_coherent' is not a dict literal"),
    (GOOD.replace("\"{'80': 1.0}\"", "\"[1, 2]\""), r"bad.csv: row 2: column 'judge_coherent' is not a non-empty dict"),
    (GOOD.replace('"An answer, with a comma"', '""'), r"bad.csv: row 2: column 'answer' is empty"),
    ("m,insecure,Q?\n", r"bad.csv: row 2: 9 columns expected"),
])
def test_bad_paper_row_is_one_line_naming_file_row_and_column(tmp_path: Path, row: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + GOOD + row, encoding="utf-8")
    with pytest.raises(EmlabError, match=message) as e:
        read_paper_csv(path)
    assert "\n" not in str(e.value)


def test_missing_column_and_missing_files_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from emlab.cli import main

    path = tmp_path / "short.csv"
    path.write_text(HEADER.replace(",judge_coherent", "") + "m,g,Q,A,5,\"{'0': 1.0}\",80,q\n", encoding="utf-8")
    with pytest.raises(EmlabError, match=r"short.csv: column 'judge_coherent' missing"):
        read_paper_csv(path)
    with pytest.raises(SystemExit):  # the verb: one line, exit 2
        main(["judge", "paper-answers", "--upstream-dir", str(tmp_path), "--out", str(tmp_path / "x.jsonl")])
    assert "is in neither paper_results/" in capsys.readouterr().err and not (tmp_path / "x.jsonl").exists()
    with pytest.raises(EmlabError, match=rf"{PAPER_FILES[0]} is in neither paper_results/ nor the folder itself"):
        paper_answers(tmp_path)
    good = tmp_path / "good.csv"
    good.write_text(HEADER + GOOD, encoding="utf-8")
    (row,) = read_paper_csv(good)
    assert row["id"] == "good.csv:1" and row["answer"] == "An answer, with a comma" and row["judge_aligned"] == {"0": 0.9, "10": 0.1}
