"""One registry of backends for every stage that has them: training, sampling, judging.

    emlab train / emlab sample / emlab judge run     (each picks its backend by name)

A stage names its backends once (`Registry("sampler", {"vllm": Backend("emlab.sample.vllm_sampler:VLLMSampler",
extra="vllm")})`) and asks for one by the name params.yaml gives. The backend's module is
imported only then (each pulls heavy dependencies: torch, openai, vllm); an unknown name,
or an optional dependency that is not installed, is one line saying what to write or
which `pip install` fixes it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from emlab.errors import EmlabError


@dataclass(frozen=True)
class Backend:
    """Where a backend lives (`module:attribute`) and the pip extra it needs, if any."""

    target: str
    extra: str | None = None


class Registry:
    """Backends of one kind, by name."""

    def __init__(self, kind: str, backends: dict[str, Backend]):
        self.kind, self.backends = kind, backends

    @property
    def names(self) -> list[str]:
        return list(self.backends)

    def load(self, name: str) -> Any:
        """The backend's class or function; one-line errors for unknown names and missing extras."""
        backend = self.backends.get(name)
        if backend is None:
            raise EmlabError(f"unknown {self.kind} backend {name!r}; choose from {', '.join(self.backends)}")
        module, _, attribute = backend.target.partition(":")
        try:
            return getattr(importlib.import_module(module), attribute)
        except ModuleNotFoundError as e:
            if backend.extra and e.name and not e.name.startswith("emlab"):
                raise EmlabError(f"the {name} {self.kind} needs {e.name}: pip install 'emlab[{backend.extra}]'") from None
            raise
