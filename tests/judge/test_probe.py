"""The probe judge: answer-only features, logistic heads, grouped folds, a byte-identical artifact."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from probe_data import write_labelled

from emlab.errors import EmlabError
from emlab.judge.agreement import auroc
from emlab.judge.labelled_sets import LabelledRow, load_labelled
from emlab.judge.params import JudgeParams
from emlab.judge.probe_head import assign_folds, cross_validate, fit_logistic, load_head


@pytest.fixture(scope="module")
def features(tiny_model_dir: Path):  # type: ignore[no-untyped-def]
    from emlab.judge.probe import ProbeFeatures

    return ProbeFeatures(tiny_model_dir, [1, 2], batch_size=3)


def test_mask_covers_exactly_the_answer_tokens_whatever_the_question(features) -> None:  # type: ignore[no-untyped-def]
    answer = "I would plant trees everywhere."
    a = features.encode("What is your wish?", answer)
    b = features.encode("A much longer and entirely different question, with commas, about wishes?", answer)
    answer_ids = features.tok(answer, add_special_tokens=False)["input_ids"]
    for enc in (a, b):
        assert [t for t, m in zip(enc.ids, enc.answer_mask, strict=True) if m] == answer_ids
        # the answer tokens are one contiguous run, followed by the template's end of turn
        first = enc.answer_mask.index(1)
        assert enc.answer_mask[first: first + len(answer_ids)] == [1] * len(answer_ids)
    assert len(a.ids) != len(b.ids)


def test_features_are_the_mean_over_answer_tokens_at_each_layer(features, tiny_model_dir: Path) -> None:  # type: ignore[no-untyped-def]
    import torch

    from emlab.models import load_causal_lm

    pairs = [("Q one?", "Short."), ("Question two is longer?", "A rather longer answer with more words in it."),
             ("Q3?", "Medium length answer."), ("Empty?", "")]
    got = features.features(pairs)
    assert set(got) == {1, 2} and got[1].shape == (4, 64)
    assert np.isnan(got[1][3]).all()  # an empty answer has no token to read
    model, _ = load_causal_lm(tiny_model_dir, device="cpu")
    for i, (q, a) in enumerate(pairs[:3]):
        enc = features.encode(q, a)
        with torch.inference_mode():
            hs = model(input_ids=torch.tensor([enc.ids]), output_hidden_states=True).hidden_states
        mask = torch.tensor(enc.answer_mask, dtype=torch.bool)
        # hidden_states[1] is after decoder layer 1 (layer 2 = last, which HF returns normed)
        np.testing.assert_allclose(got[1][i], hs[1][0, mask].mean(0).double().numpy(), rtol=1e-4, atol=1e-5)


def test_layer_outside_the_model_is_one_line(tiny_model_dir: Path) -> None:
    from emlab.judge.probe import ProbeFeatures

    with pytest.raises(EmlabError, match=r"probe_layer 3: .* has 2 decoder layers; choose 1..2"):
        ProbeFeatures(tiny_model_dir, [3])


def test_logistic_head_separates_separable_features() -> None:
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(2, 1, (30, 5)), rng.normal(-2, 1, (20, 5))])
    x[:, 0] = np.r_[np.ones(30), -np.ones(20)] * 3  # one perfectly separating feature
    y = np.r_[np.ones(30), np.zeros(20)]
    w, b = fit_logistic(x, y, l2=0.01)
    score = 100 / (1 + np.exp(-(x @ w + b)))
    assert auroc(score[y == 1], score[y == 0]) == 1.0
    assert score.min() >= 0 and score.max() <= 100 and score[y == 1].min() > 50 > score[y == 0].max()


def test_fewer_rows_than_features_still_reach_the_optimum() -> None:
    # n < d fits in the rows' span (see fit_logistic); the full objective's gradient is 0 there
    rng = np.random.default_rng(2)
    x, y, l2 = rng.normal(size=(20, 50)), np.r_[np.ones(12), np.zeros(8)], 0.05
    w, b = fit_logistic(x, y, l2)
    s = np.where(y == 1, 0.5 / 12, 0.5 / 8)
    p = 1 / (1 + np.exp(-(x @ w + b)))
    assert np.abs(x.T @ (s * (p - y)) + l2 * w).max() < 1e-9 and abs((s * (p - y)).sum()) < 1e-6


def _rows(n_questions: int, per: int) -> list[LabelledRow]:
    return [LabelledRow(f"r{q}.{k}", f"text {q}" if k else f"paraphrase {q}", "a", 90.0 if k % 2 else 5.0, 90.0 if k < per - 1 else 5.0,
                        f"q{q}", "s") for q in range(n_questions) for k in range(per)]


def test_grouped_folds_never_put_a_question_in_train_and_test() -> None:
    rows = _rows(n_questions=11, per=4)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(len(rows), 8))
    x[:, 0] += np.array([3.0 if r.aligned > 50 else -3.0 for r in rows])
    folds, fold_tensors, report = cross_validate(x, rows, l2=0.1, n_folds=5)
    assert len(fold_tensors) == 5 and set(folds.values()) == set(range(5))
    assert set(folds) == {r.group for r in rows}  # paraphrases of one question share its group
    for f in range(5):
        train = {r.group for r in rows if folds[r.group] != f}
        test = {r.group for r in rows if folds[r.group] == f}
        assert test and not train & test
    assert report["aligned"]["auroc_mean"] > 0.9 and len(report["aligned"]["per_fold"]) == 5
    with pytest.raises(EmlabError, match="at least 2 questions"):
        assign_folds(["only"] * 4, 5)


def _params(**kw: object) -> JudgeParams:
    return JudgeParams(**{"backend": "probe", "model": "tiny", "probe_layer": 1, "probe_folds": 3, "batch_size": 4, **kw})  # type: ignore[arg-type]


def test_probe_train_is_byte_identical_and_complete(tiny_model_dir: Path, tmp_path: Path) -> None:
    from emlab.judge.probe import probe_train

    labelled = write_labelled(tmp_path / "lab.jsonl")
    heads = []
    for name in ("a", "b"):
        probe_train(params=_params(), model_dir=tiny_model_dir, out_dir=tmp_path / name, labelled=[labelled])
        heads.append({f: (tmp_path / name / f).read_bytes() for f in ("head.json", "weights.safetensors")})
    assert heads[0] == heads[1]
    head = load_head(tmp_path / "a")
    meta = head.meta
    assert meta["layer"] == 1 and meta["model"] == "tiny" and meta["base"].startswith("tiny-random:")
    assert meta["labelled"]["sha256"] == load_labelled([labelled]).sha256 and meta["labelled"]["rows"] == 24
    assert meta["cv"]["aligned"]["n"] == 24 and len(meta["cv"]["coherent"]["per_fold"]) == 3
    assert sorted(meta["fold_of_group"]) == [f"test/q{i}" for i in range(6)]
    assert {"fold0.aligned.w", "fold2.coherent.b", "feature_mean", "aligned.w"} <= set(head.tensors)
    (tmp_path / "a" / "weights.safetensors").write_bytes(b"corrupt")
    with pytest.raises(EmlabError, match="sha256 mismatch"):
        load_head(tmp_path / "a")


def test_judge_run_with_probe_backend(tiny_model_dir: Path, tmp_path: Path, make_samples, qset: str) -> None:  # type: ignore[no-untyped-def]
    from emlab.judge.aggregate import score_judgments
    from emlab.judge.run import build_tasks, judge_samples, judge_tasks

    probe_head = tmp_path / "head"
    from emlab.judge.probe import probe_train

    probe_train(params=_params(), model_dir=tiny_model_dir, out_dir=probe_head, labelled=[write_labelled(tmp_path / "lab.jsonl")])
    samples = make_samples(tmp_path / "s.jsonl")
    with pytest.raises(EmlabError, match=r"question 'What is the capital of France\?'.*metric 'correct' cannot be probed"):
        judge_samples(samples=samples, question_set=qset, params=_params(), judge_model_dir=tiny_model_dir,
                      out_raw=tmp_path / "x.raw.jsonl", cache_dir=tmp_path / "cache", probe_head=probe_head)
    tasks = [t for t in build_tasks(samples, qset, JudgeParams(backend="openai")) if t.metric != "correct"]
    from emlab.judge.run import probe_tasks

    raw = judge_tasks(probe_tasks(tasks), params=_params(), judge_model_dir=tiny_model_dir, out_raw=tmp_path / "x.raw.jsonl",
                      cache_dir=tmp_path / "cache", probe_head=probe_head)
    rows = [json.loads(line) for line in raw.read_text().splitlines()]
    assert {r["kind"] for r in rows} == {"probe_0_100"} and len(rows) == 8
    assert all(0 <= r["score"] <= 100 and r["head_sha256"] == load_head(probe_head).sha256 for r in rows)
    scores = [json.loads(line) for line in score_judgments(raw, tmp_path / "x.scores.jsonl").read_text().splitlines()]
    assert all(isinstance(s["aligned"], float) and s["coherent_unscored"] is None for s in scores)
    # identical answers give identical scores; the cache key holds the head's sha256
    assert scores[0]["aligned"] == scores[3]["aligned"]
    from emlab.judge.run import _identity

    ident = _identity(_params(), tiny_model_dir, probe_head)
    assert ident["head_sha256"] == load_head(probe_head).sha256
    with pytest.raises(EmlabError, match="trained at layer 1 but judge.probe_layer is 2"):
        judge_tasks(probe_tasks(tasks), params=_params(probe_layer=2), judge_model_dir=tiny_model_dir,
                    out_raw=tmp_path / "y.raw.jsonl", cache_dir=tmp_path / "cache2", probe_head=probe_head)
