"""How long DVC takes to read dvc.lock, with ruamel's C parser and without it.

    python bench/dvc_lock_parse.py [--stages 302] [--lock PATH] [--repeats 5] [--smoke]

DVC reads dvc.yaml and dvc.lock with ruamel.yaml (`dvc.utils.serialize.parse_yaml`, its
"safe" loader) on every `dvc status`, `dvc commit`, `emlab record` and `emlab restore`.
ruamel 0.19 made its C parser optional (the `ruamel.yaml.clib` package), so emlab depends on
it. This times DVC's own parse of one lock file as installed (C parser when present) against
the same loader forced to pure Python, checks both give the same data, and prints JSON with
the ratio. The lock is `--lock` or a synthetic one with `--stages` entries in the layout
emlab's jobs write (cmd, a settings file as params, deps and outs with md5 and size).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path


def synthetic_lock(stages: int) -> str:
    """A dvc.lock with `stages` job entries shaped like emlab's (deps, a settings file, outs)."""
    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    lines = ["schema: '2.0'", "stages:"]
    for i in range(stages):
        cell = f"m-v{i % 7}-{i // 7}-none-main"
        settings = f".emlab/settings/sample_answers/{cell}.json"
        lines += [f"  sample_answers@{cell}:",
                  f"    cmd: emlab sample --params {settings} --out data/samples/{cell}.jsonl",
                  "    deps:", f"    - path: {settings}", "      hash: md5", f"      md5: {md5(settings)}", "      size: 812",
                  f"    - path: data/adapters/{cell}", "      hash: md5", f"      md5: {md5(cell)}.dir", "      size: 4501",
                  "      nfiles: 6",
                  "    params:", f"      {settings}:", "        emlab_stage: sample_answers",
                  "        params:", "          sample:", "            max_new_tokens: 600", "            temperature: 1.0",
                  "    outs:", f"    - path: data/samples/{cell}.jsonl", "      hash: md5", f"      md5: {md5('out' + cell)}",
                  "      size: 120345"]
    return "\n".join(lines) + "\n"


def best_of(repeats: int, parse) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        parse()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", type=int, default=302, help="entries of the synthetic lock (the paper's GPT-4o grid: 302 jobs)")
    parser.add_argument("--lock", type=Path, help="time this dvc.lock instead of a synthetic one")
    parser.add_argument("--repeats", type=int, default=5, help="parses per parser (the best is reported)")
    parser.add_argument("--smoke", action="store_true", help="20 stages, 2 repeats")
    args = parser.parse_args()
    if args.smoke:
        args.stages, args.repeats = 20, 2

    from dvc.utils.serialize._yaml import parse_yaml
    from ruamel.yaml import YAML
    from ruamel.yaml.main import CParser

    text = args.lock.read_text(encoding="utf-8") if args.lock else synthetic_lock(args.stages)
    as_installed = parse_yaml(text, "dvc.lock")
    pure = YAML(typ="safe", pure=True).load(text)
    if as_installed != pure:
        raise SystemExit("dvc_lock_parse: the two parsers read different data")
    installed_s = best_of(args.repeats, lambda: parse_yaml(text, "dvc.lock"))
    pure_s = best_of(args.repeats, lambda: YAML(typ="safe", pure=True).load(text))
    print(json.dumps({
        "lock": str(args.lock) if args.lock else f"synthetic, {args.stages} stages",
        "bytes": len(text.encode()), "stages": len(as_installed.get("stages", {})),
        "c_parser_installed": CParser is not None,
        "parse_s": {"dvc_as_installed": round(installed_s, 4), "pure_python": round(pure_s, 4)},
        "ratio_pure_to_installed": round(pure_s / installed_s, 2),
        "repeats": args.repeats,
    }, indent=2))


if __name__ == "__main__":
    main()
