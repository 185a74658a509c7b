"""bench/gpu_check.py --smoke: every part's code path on the CPU, the JSON keys the GPU run prints.

Speed is not checked (a tiny model on a shared CPU proves nothing about a GPU); what is
checked: every part reports, skipped parts say why, the rates are finite and positive,
and the arms agree on the loss of the same first batch, which is what makes their
tokens/s comparable. Packed and unpacked must agree to float rounding: a packed row whose
mask let attention cross conversations measured a 9e-4 relative difference here, the
correct mask 4e-8.
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
PARTS = {"peak", "train_0.5b", "train_7b", "train_4bit", "sample_hf", "sample_vllm"}
ARM_KEYS = ("tokens_per_s", "useful_tflops_per_s", "mfu_vs_measured", "first_step_loss", "non_pad_tokens")


def _positive(x: object) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


pytestmark = pytest.mark.full  # benches' smoke runs are in make test-full (and CI)


def test_gpu_check_smoke(tmp_path: Path) -> None:
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "EMLAB_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "gpu_check.py"), "--smoke", "--out", str(tmp_path / "g.json")],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert json.loads((tmp_path / "g.json").read_text()) == out  # --out holds the same report
    assert out["device"] == "cpu" and out["dtype"] == "float32" and out["attn_implementation"] == "sdpa"
    assert set(out["parts"]) == PARTS
    assert _positive(out["parts"]["peak"]["matmul_tflops"])
    for name in ("train_4bit", "sample_vllm"):  # no CUDA under --smoke: skipped, with the reason
        assert out["parts"][name]["status"] == "skipped" and "CUDA" in out["parts"][name]["reason"]

    for name, gc in (("train_0.5b", False), ("train_7b", True)):
        part = out["parts"][name]
        assert part["status"] == "ok", part
        arms = part["arms"]
        assert set(arms) == {"trainer", "emlab_unpacked", "emlab_packed"}
        for arm in arms.values():
            assert arm["status"] == "ok" and arm["timed_steps"] == 2 and arm["gradient_checkpointing"] is gc
            for key in ARM_KEYS:
                assert _positive(arm[key]), (name, key)
            assert arm["mfu_vs_measured"] < 1  # above the measured matmul rate would mean a wrong FLOP count
        # the same rows in every arm; the Trainer also computes its padding
        assert len({a["non_pad_tokens"] for a in arms.values()}) == 1
        assert arms["trainer"]["computed_tokens"] > arms["trainer"]["non_pad_tokens"]
        assert arms["emlab_packed"]["packed"] and not arms["emlab_unpacked"]["packed"]
        for key in ("tokens_per_s_ratio_emlab_unpacked_vs_trainer", "tokens_per_s_ratio_emlab_packed_vs_trainer",
                    "tokens_per_s_ratio_packed_vs_unpacked"):
            assert _positive(part[key]), (name, key)
        assert part["first_step_loss_rel_diff_packed_vs_unpacked"] < 1e-5, part
        assert part["first_step_loss_rel_diff_emlab_vs_trainer"] < 1e-4, part

    hf = out["parts"]["sample_hf"]
    assert hf["status"] == "ok" and hf["generated_tokens"] == hf["prompts"] * hf["new_tokens"]
    assert _positive(hf["tokens_per_s"])
    assert hf["adapter_changes_tokens"] > 0  # the random adapter is applied, so a vLLM check would see it
    assert hf["vs_fp32"]["token_agreement"] == 1.0  # fp32 against fp32 under --smoke
    assert "answers" not in hf
