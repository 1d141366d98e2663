#!/usr/bin/env bash
# The GPU side of the acceptance run: install the offline kit (benchmarks/gpu_kit.py build)
# into a temporary folder put first on PYTHONPATH, print what is actually imported, and
# run benchmarks/gpu_acceptance.py. Needs no network and downloads no model.
#
#   bash benchmarks/gpu_kit_run.sh [KIT] [OUT] [BUDGET_S] [-- gpu_acceptance.py options]
#
# KIT defaults to .gpu-kit/ in the repository, OUT to ./gpu-acceptance-out, BUDGET_S to
# 480. OUT receives env.json, gpu_acceptance.json and
# gpu_acceptance.log. Exit status: 2 when the kit does not install or the environment
# check fails, else gpu_acceptance.py's (1 when a check failed).
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
kit=${1:-$repo/.gpu-kit}
out=${2:-$PWD/gpu-acceptance-out}
budget=${3:-480}
shift $(( $# < 3 ? $# : 3 ))
[ "${1:-}" = "--" ] && shift
python=${PYTHON:-python3}
mkdir -p "$out"
site=$(mktemp -d "${TMPDIR:-/tmp}/legal-eagle-kit.XXXXXX")
"$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --disable-pip-version-check \
  --target "$site" "$kit"/*.whl || { echo "gpu_kit_run: the kit in $kit did not install" >&2; exit 2; }
# The kit first: its transformers 4.48 / tokenizers 0.21 / huggingface_hub 0.36 shadow the
# image's newer ones. Offline everywhere; DeepSpeed compiles no op at start.
export PYTHONPATH="$site:$repo${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 \
  HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 DS_BUILD_OPS=0 \
  DS_SKIP_CUDA_CHECK=1 TOKENIZERS_PARALLELISM=false
cd "$repo"
"$python" benchmarks/gpu_kit.py env --site "$site" -o "$out/env.json" || exit 2
"$python" benchmarks/gpu_acceptance.py --budget-s "$budget" -o "$out/gpu_acceptance.json" "$@" \
  2>&1 | tee "$out/gpu_acceptance.log"
