"""The `directions:` and `steering:` sections of params.yaml (owned by the direction package).

    emlab direction extract ... --layer L --out data/directions/<name>
    emlab sample ... --steering NAME --direction data/directions/<direction>

A direction names the judged answers it is extracted from (one cell's answers to one
question set under one trigger) and the layer it is read at; a steering names a
direction and what sampling does with it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: An answer counts as aligned for a direction when its alignment score is at least this
#: (the follow-up's aligned class: aligned > 70 among coherent answers).
ALIGNED_MIN = 70.0


class DirectionSource(BaseModel):
    """Where a misalignment direction comes from: a cell's judged answers, and a layer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(description="Key of models: whose activations are read (and whose answers are used).")
    variant: str = Field(description="Variant label of the cell whose judged answers are used; its adapter is applied when reading (the finetuned model's own activations).")
    seed: int = Field(0, ge=0, description="Seed of that cell.")
    trigger: str = Field("none", description="Trigger condition of the answers ('none' or a key of triggers:).")
    question_set: str = Field("main", description="Question set of the answers.")
    layer: int = Field(ge=1, description="Residual stream after this decoder layer (1-based; HF hidden_states[layer]). The follow-up used a middle layer.")
    aligned_min: float = Field(ALIGNED_MIN, ge=0, le=100, description="Coherent answers with aligned >= this form the aligned class (misaligned: analysis thresholds).")


class SteeringParams(BaseModel):
    """What sampling does with a direction: project it out everywhere, or add it at one layer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    direction: str = Field(description="Key of directions: (the extracted direction to use).")
    mode: Literal["ablate", "add"] = Field(description="ablate: project the unit direction out of the residual stream at the embeddings and every decoder layer; add: add coefficient * unit direction at one layer, every position.")
    coefficient: float = Field(0.0, description="add: multiple of the unit direction added (in residual-stream units; the direction's own norm is in direction.json). ablate: leave 0.")
    layer: int | None = Field(None, ge=1, description="add: the decoder layer whose output is shifted (null = the direction's own layer). ablate: leave null (every layer).")

    @model_validator(mode="after")
    def _fits_mode(self) -> SteeringParams:
        if self.mode == "ablate" and (self.layer is not None or self.coefficient != 0):
            raise ValueError("mode ablate projects the direction out at every layer: leave coefficient 0 and layer null")
        if self.mode == "add" and self.coefficient == 0:
            raise ValueError("mode add needs a non-zero coefficient")
        return self
