"""The misalignment direction: extracted from judged answers, used to steer sampling.

    emlab direction extract --model-dir data/models/M --adapter A --samples S --scores J --layer L --params P --out D
    emlab sample ... --steering NAME --direction D

`extract_direction` writes a direction folder (direction.pt, direction.json);
`steering_for` turns a `steering:` entry and that folder into the sampler's
`emlab.sample.steering.Steering`.
"""

from emlab.direction.extract import (
    Direction,
    classify,
    extract_direction,
    judged_answers,
    read_direction,
)
from emlab.direction.params import ALIGNED_MIN, DirectionSource, SteeringParams
from emlab.direction.steer import steering_for

__all__ = [
    "ALIGNED_MIN", "Direction", "DirectionSource", "SteeringParams", "classify", "extract_direction",
    "judged_answers", "read_direction", "steering_for",
]
