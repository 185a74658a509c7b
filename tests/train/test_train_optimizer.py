"""train.peft.optimizer: 8-bit AdamW on CUDA with bitsandbytes, torch AdamW otherwise, said in adapter.json."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
import torch
from test_train_peft import PARAMS, SPEC, write_dataset

from emlab.errors import EmlabError
from emlab.train import PeftTrainParams, read_adapter, train_adapter
from emlab.train.peft_backend import make_optimizer


class _FakeAdamW8bit(torch.optim.AdamW):
    """Stands in for bitsandbytes' optimizer (which needs CUDA to step)."""


@pytest.fixture
def fake_bnb(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("bitsandbytes")
    module.optim = types.SimpleNamespace(AdamW8bit=_FakeAdamW8bit)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "bitsandbytes", module)


@pytest.fixture
def no_bnb(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # import raises ImportError


class _OnCuda(torch.nn.Parameter):
    """A CPU parameter that reports a CUDA device, to exercise the choice without a GPU."""

    @property
    def device(self) -> torch.device:  # type: ignore[override]
        return torch.device("cuda", 0)


def _params(*, cuda: bool) -> list[torch.nn.Parameter]:
    p = torch.nn.Parameter(torch.zeros(3))
    return [_OnCuda(p.data) if cuda else p]


def _choose(optimizer: str, *, cuda: bool) -> tuple[object, str]:
    return make_optimizer(_params(cuda=cuda), PeftTrainParams(optimizer=optimizer))  # type: ignore[arg-type]


def test_auto_is_8bit_only_on_cuda_with_bitsandbytes(fake_bnb: None) -> None:
    opt, name = _choose("auto", cuda=True)
    assert name == "adamw_8bit" and type(opt) is _FakeAdamW8bit
    opt, name = _choose("auto", cuda=False)
    assert name == "adamw" and type(opt) is torch.optim.AdamW


def test_auto_without_bitsandbytes_is_plain_adamw(no_bnb: None) -> None:
    opt, name = _choose("auto", cuda=True)
    assert name == "adamw" and type(opt) is torch.optim.AdamW
    assert opt.defaults["weight_decay"] == 0.01 and opt.defaults["lr"] == 1e-5


def test_adamw_is_adamw_even_where_8bit_would_run(fake_bnb: None) -> None:
    assert _choose("adamw", cuda=True)[1] == "adamw"


def test_8bit_without_bitsandbytes_or_cuda_says_what_fixes_it(no_bnb: None, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(EmlabError, match=r"^train\.peft\.optimizer: adamw_8bit needs bitsandbytes; run `pip install emlab\[gpu\]`"):
        _choose("adamw_8bit", cuda=True)
    monkeypatch.setitem(sys.modules, "bitsandbytes", types.SimpleNamespace(optim=types.SimpleNamespace(AdamW8bit=_FakeAdamW8bit)))
    with pytest.raises(EmlabError, match=r"^train\.peft\.optimizer: adamw_8bit needs a CUDA GPU; set optimizer: adamw"):
        _choose("adamw_8bit", cuda=False)


def test_choice_is_written_to_the_adapter_record(tmp_path: Path, tiny_model_dir: Path) -> None:
    out = train_adapter(model_name="tiny", spec=SPEC, model_dir=tiny_model_dir, dataset=write_dataset(tmp_path / "d.jsonl", n=4),
                        variant="insecure", params=PARAMS, seed=0, out_dir=tmp_path / "a")
    assert read_adapter(out.parent)["optimizer"] == "adamw"


def test_8bit_on_cpu_fails_before_the_record(tmp_path: Path, tiny_model_dir: Path) -> None:
    with pytest.raises(EmlabError, match=r"train\.peft\.optimizer: adamw_8bit needs"):
        train_adapter(model_name="tiny", spec=SPEC, model_dir=tiny_model_dir, dataset=write_dataset(tmp_path / "d.jsonl", n=4),
                      variant="insecure", params=PARAMS.model_copy(update={"optimizer": "adamw_8bit"}), seed=0, out_dir=tmp_path / "a")
    assert not (tmp_path / "a" / "adapter.json").exists()
