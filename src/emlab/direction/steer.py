"""From a `steering:` entry and an extracted direction folder to the sampler's steering spec.

    emlab sample ... --steering NAME --direction data/directions/<direction>
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from emlab.direction.extract import read_direction
from emlab.errors import EmlabError

if TYPE_CHECKING:
    from emlab.direction.params import SteeringParams
    from emlab.sample.steering import Steering


def steering_for(name: str, steering: Mapping[str, SteeringParams | Mapping[str, object]], direction_dir: Path, *,
                 base: str | None = None) -> Steering:
    """The `Steering` of `steering[name]` with the direction in `direction_dir`.

    An `add` steering without a layer adds at the direction's own layer.

    Args:
        name: key of the `steering:` section.
        steering: the `steering:` section (SteeringParams, or plain dicts as a settings file holds).
        direction_dir: the folder `emlab direction extract` wrote for `steering[name].direction`.
        base: the sampled model's base (its model.json); a direction read from another base
            model is refused.

    Raises:
        EmlabError: an unknown name, an incomplete folder or a direction of another model.
    """
    from emlab.direction.params import SteeringParams
    from emlab.sample.steering import Steering

    if name not in steering:
        raise EmlabError(f"--steering: unknown steering {name!r}; defined in steering: {', '.join(steering) or '(none)'}")
    spec = steering[name]
    if isinstance(spec, Mapping):  # a settings file's plain data
        try:
            spec = SteeringParams.model_validate(spec)
        except ValueError as e:
            raise EmlabError(f"steering.{name}: {str(e).splitlines()[-1].strip()}") from None
    found = read_direction(direction_dir)
    if base is not None and found.meta.get("base") not in (None, base):
        raise EmlabError(f"{direction_dir}/direction.json: direction read from base model {found.meta.get('base')!r}, "
                         f"but the sampled model's base is {base!r}")
    layer = None if spec.mode == "ablate" else (spec.layer or int(found.meta["layer"]))
    return Steering(direction=found.unit, mode=spec.mode, coefficient=spec.coefficient, layer=layer, name=name)
