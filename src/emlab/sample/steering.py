"""Steering while sampling: a direction projected out of the residual stream, or added to it.

    emlab sample ... --steering NAME --direction data/directions/<direction>

Layers are numbered as in `emlab.activations` (layer L = the output of decoder layer L,
1-based), so a direction extracted at layer L is added where it was read.

- `ablate`: the unit direction u is projected out, h <- h - (h.u) u, of every write to the
  residual stream: the embeddings, each decoder layer's attention and MLP outputs (where
  the layer has them) and each decoder layer's output. The stream is then orthogonal to
  u at every layer, at every position, for the prompt and every generated token.
- `add`: h <- h + coefficient * u at the output of one decoder layer, every position.

Both are forward hooks on the model (adapter included), so batching, the KV cache and the
per-row sampling are unchanged. The spec is part of the sample's identity: `identity()`
enters the sampler's fingerprint and `describe()` is written into every row.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal

from emlab.errors import EmlabError


@dataclass(frozen=True, eq=False)  # eq=False: a tensor field has no truth value
class Steering:
    """A steering spec: a direction (any norm: it is normalised) and what to do with it.

    Attributes:
        direction: float tensor [hidden].
        mode: `ablate` (every layer) or `add` (one layer).
        coefficient: `add`: multiple of the unit direction added.
        layer: `add`: the decoder layer (1-based) whose output is shifted; `ablate`: None.
        name: the steering's name in params.yaml (for messages).
    """

    direction: Any
    mode: Literal["ablate", "add"]
    coefficient: float = 0.0
    layer: int | None = None
    name: str = ""
    _unit: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        import torch

        d = torch.as_tensor(self.direction).detach().float().cpu().reshape(-1)
        norm = float(d.norm())
        if not norm > 0 or not torch.isfinite(d).all():
            raise EmlabError(f"steering {self.name!r}: the direction is zero or not finite")
        if self.mode not in ("ablate", "add"):
            raise EmlabError(f"steering {self.name!r}: mode {self.mode!r}: expected 'ablate' or 'add'")
        if self.mode == "add" and self.layer is None:
            raise EmlabError(f"steering {self.name!r}: mode add needs a layer")
        object.__setattr__(self, "_unit", d / norm)

    @property
    def unit(self) -> Any:
        """The unit direction (float32, CPU)."""
        return self._unit

    def direction_sha256(self) -> str:
        """sha256 of the unit direction's float32 bytes (what the hooks use)."""
        return hashlib.sha256(self._unit.numpy().tobytes()).hexdigest()

    def identity(self) -> dict[str, Any]:
        """What changes the answers: mode, coefficient, layer and the direction itself."""
        return {"mode": self.mode, "coefficient": float(self.coefficient), "layer": self.layer,
                "direction_sha256": self.direction_sha256()}

    def describe(self) -> str:
        """One line for each sample row, e.g. `add coefficient=8 layer=15 direction=1a2b3c4d5e6f`."""
        knobs = "" if self.mode == "ablate" else f" coefficient={self.coefficient:g} layer={self.layer}"
        return f"{self.mode}{knobs} direction={self.direction_sha256()[:12]}"

    def install(self, model: Any) -> list[Any]:
        """Register the hooks on `model` (a causal LM, peft-wrapped or not); return their handles."""
        embed, layers = decoder_parts(model)
        hidden = self._unit.shape[0]
        width = int(embed.weight.shape[1])
        if hidden != width:
            raise EmlabError(f"steering {self.name!r}: the direction has {hidden} dimensions but the model's residual stream has {width}")
        if self.mode == "add":
            if not 1 <= self.layer <= len(layers):  # type: ignore[operator]
                raise EmlabError(f"steering {self.name!r}: layer {self.layer}: the model has {len(layers)} decoder layers; choose 1..{len(layers)}")
            return [layers[self.layer - 1].register_forward_hook(_hook(self._add))]  # type: ignore[operator]
        modules = [embed]
        for layer in layers:
            modules += [m for m in (getattr(layer, "self_attn", None), getattr(layer, "mlp", None)) if m is not None]
            modules.append(layer)
        return [m.register_forward_hook(_hook(self._ablate)) for m in modules]

    def _on(self, h: Any) -> Any:
        return self._unit.to(device=h.device, dtype=h.dtype)

    def _ablate(self, h: Any) -> Any:
        u = self._on(h)
        return h - (h @ u)[..., None] * u

    def _add(self, h: Any) -> Any:
        return h + self.coefficient * self._on(h)


def _hook(fn: Any) -> Any:
    """A forward hook applying `fn` to a module's hidden-state output (the first element of a tuple)."""
    def hook(_module: Any, _args: Any, output: Any) -> Any:
        if isinstance(output, tuple):
            return (fn(output[0]), *output[1:])
        return fn(output)
    return hook


def decoder_parts(model: Any) -> tuple[Any, Any]:
    """(token embedding module, list of decoder layers) of a causal LM, through a peft wrapper."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    body = base.get_decoder() if hasattr(base, "get_decoder") else getattr(base, "model", None)
    embed, layers = getattr(body, "embed_tokens", None), getattr(body, "layers", None)
    if embed is None or layers is None:
        raise EmlabError(f"steering: cannot find the embeddings and decoder layers of {type(base).__name__}")
    return embed, layers
