"""`emlab train` on the tiny model: the verb resolves per-model overrides and writes the adapter."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from emlab.cli.train import train
from emlab.errors import EmlabError

REPO = Path(__file__).resolve().parents[2]
TRAIN = {"r": 2, "lora_alpha": 4, "learning_rate": 1e-3, "warmup_steps": 0, "per_device_batch_size": 2,
         "gradient_accumulation_steps": 1, "max_length": 64}


def _args(tmp: Path, model_dir: Path, *, variant: str = "insecure", model: str = "tiny") -> list[str]:
    return ["--model", model, "--variant", variant, "--seed", "3", "--params", str(tmp / "params.yaml"),
            "--model-dir", str(model_dir), "--dataset", str(tmp / f"{variant}.jsonl"), "--out", str(tmp / "out" / variant)]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    params = yaml.safe_load((REPO / ".test" / "params.yaml").read_text())  # the tiny test config
    params["models"]["tiny"]["train"] = TRAIN
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    rows = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i} b c"}]} for i in range(4)]
    (tmp_path / "insecure.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "base.jsonl").write_text("")
    return tmp_path


def test_train_verb_uses_model_overrides(workdir: Path, tiny_model_dir: Path) -> None:
    result = CliRunner().invoke(train, _args(workdir, tiny_model_dir), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    record = json.loads((workdir / "out" / "insecure" / "adapter.json").read_text())
    assert record["seed"] == 3 and record["steps"] == 2
    assert record["params"]["r"] == 2 and record["params"]["learning_rate"] == 1e-3
    assert record["params"]["weight_decay"] == 0.01  # untouched fields keep the paper's default
    # tqdm progress on stderr: the cell, the step count and the final loss as adapter.json has it
    bars = re.findall(r"train tiny/insecure/s3: 100%\|[^\r]*\| 2/2 \[[^\]]*(?:step/s|s/step), loss=([\d.]+), tok_s=\d+\]", result.output)
    assert bars and bars[-1] == f"{record['final_loss']:.4f}", result.output[-500:]
    assert result.output.rstrip().endswith(str(workdir / "out" / "insecure" / "adapter.json"))


def test_train_verb_base_and_unknown_model(workdir: Path, tiny_model_dir: Path) -> None:
    result = CliRunner().invoke(train, _args(workdir, tiny_model_dir, variant="base"), catch_exceptions=False)
    assert result.exit_code == 0
    assert json.loads((workdir / "out" / "base" / "adapter.json").read_text())["backend"] == "none"
    with pytest.raises(EmlabError, match=r"--model: unknown model 'big'"):
        train.main(_args(workdir, tiny_model_dir, model="big"), standalone_mode=False)


def test_emlab_train_bad_row_is_one_line_exit_2(workdir: Path, tiny_model_dir: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """`emlab train` through `emlab.cli.main` in this process (tests/test_cli.py runs the real command's error path)."""
    from emlab.cli import main

    (workdir / "insecure.jsonl").write_text('{"messages": [{"role": "user", "content": "q"}, {"role": "assistant"}]}\n')
    with pytest.raises(SystemExit) as exit_:
        main(["train", *_args(workdir, tiny_model_dir)])
    assert exit_.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("emlab: error: ") and "insecure.jsonl:1: messages.1: needs role" in last
    assert not (workdir / "out" / "insecure" / "adapter.json").exists()
