"""The loss-curve PNG written beside every peft adapter (`emlab train ...`)."""

from __future__ import annotations

from pathlib import Path

from emlab.io import atomic_path, read_jsonl


def plot_loss(log_path: Path, out: Path, *, title: str) -> Path:
    """Plot training loss per step (and the validation loss, if any) from train_log.jsonl."""
    import matplotlib

    matplotlib.use("Agg")  # no display on workers
    import matplotlib.pyplot as plt

    rows = read_jsonl(log_path)
    train = [(r["step"], r["loss"]) for r in rows if "loss" in r]
    val = [(r["step"], r["val_loss"]) for r in rows if "val_loss" in r]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    if train:
        ax.plot(*zip(*train, strict=True), marker="." if len(train) < 50 else None, label="train")
    if val:
        ax.plot(*zip(*val, strict=True), color="C1", marker="o", label="validation", zorder=3)  # a curve with validation_every
    ax.set(xlabel="optimizer step", ylabel="loss (assistant tokens)", title=title)
    ax.legend()
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return out
