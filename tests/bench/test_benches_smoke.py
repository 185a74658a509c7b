"""Each bench in smoke mode: it runs on a fresh clone (tiny model, built-in data) and prints its ratios.

The model benches are given the session's tiny model (`tiny_model_dir`, the very folder
their `--tiny`/`--smoke` default would prepare) rather than preparing it again (~12 s of
CPU each, most of it reading the GGUF tokenizer).

The numbers themselves are not checked (a smoke run on a shared machine proves nothing
about speed); what is checked is that every bench runs, prints the JSON keys the README
quotes, and that each ratio is a finite positive number.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Benches are not the development loop: their smoke runs are in `make test-full` (and CI).
pytestmark = pytest.mark.full


def _bench(name: str, *args: str) -> dict:
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "EMLAB_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(REPO / "bench" / name), *args], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout[proc.stdout.index("{"):])


def _positive(x: object) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def test_train_bench_smoke(tiny_model_dir: Path) -> None:
    out = _bench("train_throughput.py", "--tiny", "--model-dir", str(tiny_model_dir), "--warmup", "1", "--steps", "2", "--per-device", "2", "--accum", "1")
    assert set(out["arms"]) == {"baseline", "emlab_off", "emlab_on"}
    for arm in out["arms"].values():
        assert arm["timed_steps"] == 2 and arm["non_pad_tokens"] > 0
        for key in ("tokens_per_s", "tokens_per_cpu_s", "useful_flops_per_s", "matmul_flops_per_s", "matmul_flops_per_cpu_s",
                    "mfu", "mfu_cpu_time", "peak_rss_mb", "mean_train_loss"):
            assert _positive(arm[key]), key
        assert arm["mfu_cpu_time"] < 1  # useful FLOP/s above the measured matmul rate would mean a wrong FLOP count
    base = out["arms"]["baseline"]
    assert base["computed_tokens"] >= base["non_pad_tokens"]  # padding to the longest row is counted as computed
    for key in ("tokens_per_s_ratio_emlab_off_vs_baseline", "tokens_per_s_ratio_emlab_on_vs_baseline",
                "tokens_per_s_ratio_packed_vs_unpacked", "peak_rss_ratio_emlab_off_vs_baseline"):
        assert _positive(out[key]), key
    # same rows, same loss: the arms train the same model on the same objective
    losses = [a["mean_train_loss"] for a in out["arms"].values()]
    assert max(losses) - min(losses) < 0.05 * max(losses)


def test_sample_bench_smoke(tiny_model_dir: Path) -> None:
    out = _bench("sample_throughput.py", "--smoke", "--model-dir", str(tiny_model_dir))
    assert out["sequential"]["tokens"] > 0 and out["batched"]["tokens"] > 0
    for key in ("ratio_tokens_per_s", "memory_read_bandwidth_gb_s", "weight_bytes_per_token",
                "batch1_bandwidth_bound_tokens_per_s", "sequential_vs_bandwidth_bound", "batched_vs_bandwidth_bound"):
        assert _positive(out[key]), key
    assert out["sequential_vs_bandwidth_bound"] < 1  # nothing decodes faster than it can read its weights


def test_judge_bench_smoke() -> None:
    out = _bench("judge_throughput.py", "--n", "16", "--latency", "0.02", "--concurrency", "4")
    assert out["n_requests"] == 16 and out["warm_rerun_judge_calls"] == 0
    for key in ("sequential_requests_per_s", "concurrent_requests_per_s", "speedup_concurrent_vs_sequential",
                "sequential_vs_latency_bound", "concurrent_vs_latency_bound"):
        assert _positive(out[key]), key
    assert out["sequential_vs_latency_bound"] <= 1.05  # no faster than the server's latency allows


def test_direction_bench_smoke() -> None:
    out = _bench("direction_steering.py", "--smoke")
    assert out["sampling"]["max_abs_cos_with_direction_when_ablated"] < 1e-5
    assert _positive(out["held_out"]["auroc_ratio_vs_random"]) and _positive(out["sampling"]["ablate_vs_none_tokens_per_s"])


def test_dvc_lock_parse_bench_smoke() -> None:
    out = _bench("dvc_lock_parse.py", "--smoke")
    assert out["stages"] == 20
    assert out["c_parser_installed"], "ruamel.yaml.clib is a dependency: DVC would parse dvc.lock in pure Python"
    assert _positive(out["ratio_pure_to_installed"]) and _positive(out["parse_s"]["dvc_as_installed"])
