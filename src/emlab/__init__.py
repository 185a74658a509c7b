"""emlab: emergent-misalignment experiments as a reproducible grid.

The package is laid out one module per concern, in data-flow order:
config -> corpus/datasets -> models -> train -> questions -> generate -> judge -> analysis,
with `cli` on top. Every workflow rule calls the `emlab` command.
"""

__version__ = "0.1.0"
