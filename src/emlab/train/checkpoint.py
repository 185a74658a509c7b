"""Resumable training state for the peft backend, written atomically.

    emlab train ... --out data/adapters/M/V/sS     # writes data/adapters/M/V/.sS.state/ every N steps

A checkpoint holds everything the next optimizer step depends on: the adapter weights,
AdamW moments, the scheduler, the RNG states, the step (the data order is a pure
function of seed and epoch, so the step is the data position) and the trainer's `extra`
(the validation curve and the best weights so far, for early stopping). A run killed at any
moment restarts from the last complete checkpoint and ends with the same adapter.

The state lives in a hidden sibling of the adapter folder, not inside it: a workflow
engine deletes an unfinished output folder before rerunning the job (Snakemake does for
`directory()` outputs), and the state must survive that.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emlab.io import atomic_path

STATE_FILE = "state.pt"


def state_dir(out_dir: Path) -> Path:
    """Where an unfinished run keeps what it needs to resume: `<parent>/.<name>.state/`."""
    out_dir = Path(out_dir).resolve()
    return out_dir.parent / f".{out_dir.name}.state"


def state_path(out_dir: Path) -> Path:
    return state_dir(out_dir) / STATE_FILE


def _trainable(model: Any) -> dict[str, Any]:
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def save_state(out_dir: Path, *, fingerprint: str, step: int, model: Any, optimizer: Any, scheduler: Any,
               extra: dict[str, Any] | None = None) -> Path:
    """Write the training state after `step` optimizer steps (atomic: temp file + rename)."""
    import numpy as np
    import torch

    state = {
        "fingerprint": fingerprint,
        "step": step,
        "weights": {n: p.detach().clone() for n, p in _trainable(model).items()},
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()},
        "extra": extra or {},
    }
    if torch.cuda.is_available():
        state["rng"]["cuda"] = torch.cuda.get_rng_state_all()
    path = state_path(out_dir)
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


def load_state(out_dir: Path, *, fingerprint: str, model: Any, optimizer: Any, scheduler: Any,
               extra: dict[str, Any] | None = None) -> int:
    """Restore the last checkpoint into model/optimizer/scheduler (and `extra`); return its step (0 if none).

    A checkpoint from different inputs or settings (another fingerprint) is ignored.
    """
    import numpy as np
    import torch

    path = state_path(out_dir)
    if not path.exists():
        return 0
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state.get("fingerprint") != fingerprint:
        return 0
    params = _trainable(model)
    with torch.no_grad():
        for name, value in state["weights"].items():
            params[name].copy_(value)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    rng = state["rng"]
    torch.set_rng_state(rng["torch"])
    random.setstate(rng["python"])
    np.random.set_state(rng["numpy"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    if extra is not None:
        extra.update(state.get("extra", {}))
    return int(state["step"])


def save_adapter_snapshot(model: Any, folder: Path, record: dict[str, Any],
                          save: Callable[[Any, Path], None] | None = None) -> Path:
    """Keep an intermediate adapter (for training-dynamics evaluation) as a loadable folder.

    `save(model, folder)` writes the weights (default: `model.save_pretrained`).
    """
    from emlab.io import write_json_atomic

    tmp = folder.with_name(f".{folder.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    if save is None:
        model.save_pretrained(str(tmp))
    else:
        save(model, tmp)
    write_json_atomic(tmp / "adapter.json", record)
    if folder.exists():
        shutil.rmtree(folder)
    tmp.rename(folder)
    return folder


def clear_state(out_dir: Path) -> None:
    shutil.rmtree(state_dir(out_dir), ignore_errors=True)
