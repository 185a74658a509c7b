#!/usr/bin/env bash
# The GPU path check on a CUDA machine with no network (bench/gpu_check.py; README "GPU check").
#
#   bash bench/gpu_check.sh wheels          # here, with PyPI: .whl/ for the GPU machine's Python 3.12
#   bash bench/gpu_check.sh run "$OUT"      # there: installs .whl/ if carried, runs, writes $OUT/gpu_check.json
#
# The GPU machine brings its own torch (CUDA), transformers, peft, accelerate, tqdm and
# pyyaml; emlab itself runs from this checkout's src/. It lacks pydantic (emlab's params)
# and bitsandbytes (the 4-bit part), which travel as wheels in .whl/ (git-ignored through
# .git/info/exclude, so name it in the run's carry). vllm's wheel is far over what can
# travel, so sample_vllm reports itself skipped unless the machine has vllm.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
  wheels)
    mkdir -p .git/info
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux2014_x86_64 -d .whl \
      'pydantic>=2.6' pydantic-core annotated-types typing-inspection typing-extensions bitsandbytes
    du -sh .whl
    ;;
  run)
    out="${2:?usage: bench/gpu_check.sh run OUT_DIR}"
    mkdir -p "$out"
    if compgen -G '.whl/*.whl' > /dev/null; then
      python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
      export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
    fi
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/nvidia_smi.txt" 2>&1 || true
    export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
    # 590 s: a hung part cannot take the run past the 10-minute command limit; the JSON
    # written after each part stays in $out either way
    timeout 590 python3 bench/gpu_check.py --out "$out/gpu_check.json" "${@:3}" 2>&1 | tee "$out/gpu_check.log"
    ;;
  *)
    echo "usage: bash bench/gpu_check.sh wheels | run OUT_DIR [gpu_check.py options]" >&2
    exit 2
    ;;
esac
