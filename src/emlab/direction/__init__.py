"""The misalignment direction: extracted from judged answers, used to steer sampling.

    emlab direction extract --model-dir data/models/M --adapter A --samples S --scores J --layer L --params P --out D
    emlab sample ... --steering NAME --direction D

`extract_direction` writes a direction folder (direction.pt, direction.json);
`steering_for` turns a `steering:` entry and that folder into the sampler's
`emlab.sample.steering.Steering`. The params models load without numpy or torch
(`emlab.config` imports them); the rest loads on first use.
"""

from importlib import import_module
from typing import Any

from emlab.direction.params import ALIGNED_MIN, DirectionSource, SteeringParams

_LAZY = {"Direction": "extract", "classify": "extract", "extract_direction": "extract", "judged_answers": "extract",
         "read_direction": "extract", "steering_for": "steer"}

__all__ = ["ALIGNED_MIN", "DirectionSource", "SteeringParams", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f"emlab.direction.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'emlab.direction' has no attribute {name!r}")
