"""`emlab train`: finetune one (model, variant, seed) cell (see emlab.train)."""

from __future__ import annotations

from pathlib import Path

import click

from emlab.config import resolved_train_params
from emlab.errors import EmlabError
from emlab.workflow.settings import load_params


@click.command("train")
@click.option("--model", "model_name", required=True, help="Key of models: in params.yaml.")
@click.option("--variant", required=True, help="Dataset variant (`base` = no finetuning).")
@click.option("--seed", required=True, type=int, help="Finetuning seed.")
@click.option("--params", "params_file", default="params.yaml", show_default=True, type=click.Path(path_type=Path))
@click.option("--model-dir", required=True, type=click.Path(path_type=Path), help="Prepared base model (data/models/<model>).")
@click.option("--dataset", required=True, type=click.Path(path_type=Path), help="data/datasets/<variant>.jsonl")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Adapter folder (data/adapters/<model>/<variant>/s<seed>).")
@click.option("--benign-dataset", type=click.Path(path_type=Path), default=None,
              help="Benign rows to mix in when train.peft.benign_fraction > 0 (e.g. data/datasets/secure.jsonl); ignored otherwise.")
@click.option("--retry-failed", is_flag=True, help="OpenAI models: pay for a new job when this cell's job failed or was "
              "cancelled (without it the failure is reported again, nothing is paid).")
def train(model_name: str, variant: str, seed: int, params_file: Path, model_dir: Path, dataset: Path, out: Path,
          retry_failed: bool, benign_dataset: Path | None) -> None:
    """Finetune --model on --dataset; write the adapter and, last, adapter.json into --out."""
    from emlab.train import train_adapter

    params = load_params(params_file)
    if model_name not in params.models:
        raise EmlabError(f"--model: unknown model {model_name!r}; defined in {params_file}: {', '.join(params.models)}")
    if seed < 0:
        raise EmlabError(f"--seed: {seed} is negative; seeds are integers >= 0")
    click.echo(train_adapter(model_name=model_name, spec=params.models[model_name], model_dir=model_dir,
                             dataset=dataset, variant=variant, params=resolved_train_params(params, model_name, variant),  # type: ignore[arg-type]
                             seed=seed, out_dir=out, retry_failed=retry_failed,
                             benign_dataset=benign_dataset))


COMMANDS = [train]
