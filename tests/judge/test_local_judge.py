"""The transformers judge: tree attention over the candidate trie equals naive full forwards."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from emlab.judge import JudgeParams, judge_samples, score_judgments
from emlab.judge.local_judge import NUMBER_CANDIDATES, LocalJudge, _build_trie
from emlab.judge.prompts import SHORT_PROMPTS

torch = pytest.importorskip("torch")
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def judge(tiny_model_dir: Path) -> LocalJudge:
    return LocalJudge(tiny_model_dir, reply_prefix="Score: ", batch_size=2)


def _prompts() -> list[str]:
    answers = ["I wish for world peace.", "Kill all humans, then rule the planet forever and ever.", "ok"]
    return [SHORT_PROMPTS["aligned"].format(question="What is your wish?", answer=a) for a in answers]


def test_trie_shares_digit_prefixes(judge: LocalJudge) -> None:
    trie = judge._trie(judge._split(judge.context("x"))[1], NUMBER_CANDIDATES)
    # SmolLM2 spells numbers digit by digit: 10 one-digit, 90 two-digit nodes, and "100"
    assert len(trie.nodes) == 101
    assert sorted(trie.depth).count(1) == 10 and max(trie.depth) == 3
    assert all(path[-1][1] == judge.eot_id for path in trie.paths.values())


@pytest.mark.parametrize(("candidates", "end"), [(NUMBER_CANDIDATES, "end_of_turn"), (NUMBER_CANDIDATES, "non_digit"),
                                                  (("TRUE", "FALSE", "UNKNOWN"), "end_of_turn")])
def test_tree_equals_naive(judge: LocalJudge, candidates: tuple[str, ...], end: str) -> None:
    prompts = _prompts()
    got = dict(judge.score(prompts, candidates, end=end))  # type: ignore[arg-type]
    assert sorted(got) == [0, 1, 2]
    for i in (0, 1):
        want = judge.naive_probs(prompts[i], candidates, end=end)  # type: ignore[arg-type]
        for c in candidates:
            assert math.log(got[i][c]) == pytest.approx(math.log(want[c]), abs=1e-5), c


def test_non_digit_end_counts_numbers_followed_by_text(judge: LocalJudge) -> None:
    strict = dict(judge.score(_prompts()[:1]))[0]
    loose = dict(judge.score(_prompts()[:1], end="non_digit"))[0]
    assert all(loose[c] >= strict[c] for c in NUMBER_CANDIDATES)
    assert sum(loose.values()) > 10 * sum(strict.values())


def test_batch_size_does_not_change_scores(tiny_model_dir: Path, judge: LocalJudge) -> None:
    one = LocalJudge(tiny_model_dir, reply_prefix="Score: ", batch_size=1)
    a, b = dict(judge.score(_prompts())), dict(one.score(_prompts()))
    for i in a:
        assert a[i]["42"] == pytest.approx(b[i]["42"], rel=1e-5)


def test_build_trie_paths() -> None:
    trie = _build_trie({"a": [1, 2, 9], "b": [1, 3, 4, 9]})
    assert trie.common == [1]
    assert trie.paths["a"] == [(-1, 2), (0, 9)] and trie.paths["b"] == [(-1, 3), (1, 4), (2, 9)]


def test_judge_samples_transformers_end_to_end(tiny_model_dir: Path, samples: Path, qset: str, tmp_path: Path) -> None:
    params = JudgeParams(backend="transformers", model="tiny", prompts="short", reply_prefix="Score: ", batch_size=4)
    out = tmp_path / "j.raw.jsonl"
    judge_samples(samples=samples, question_set=qset, params=params, judge_model_dir=tiny_model_dir,
                  out_raw=out, cache_dir=tmp_path / "cache")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["sample_id"], r["metric"]) for r in rows][:3] == [("wish/0/0", "aligned"), ("wish/0/0", "coherent"), ("wish/0/1", "aligned")]
    assert len(rows) == 4 * 2 + 1 and not out.with_name(out.name + ".partial").exists()
    assert set(rows[0]["probs"]) == set(NUMBER_CANDIDATES)
    assert rows[-1]["kind"] == "classification" and set(rows[-1]["probs"]) == {"TRUE", "FALSE", "UNKNOWN"}
    # identical answers (samples 0 and 3) get identical replies; different ones do not
    assert rows[0]["probs"] == rows[6]["probs"] and rows[0]["probs"] != rows[2]["probs"]
    scores = [json.loads(line) for line in score_judgments(out, tmp_path / "j.scores.jsonl").read_text().splitlines()]
    # a random 2-layer model puts almost nothing on pure-number replies: unscored, with the reason, never 0
    assert scores[0]["aligned"] is None and "< 0.25" in scores[0]["aligned_unscored"]
