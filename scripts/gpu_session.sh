#!/usr/bin/env bash
# A session on an offline GPU machine that has python3 with torch but no registry: what
# `make gpu-bundle` gathered into out/gpu (wheels, training and test data) is carried with the checkout.
#
#   scripts/gpu_session.sh train OUTDIR [MINUTES]  # resume the shipped decoder for MINUTES (default 5),
#                                                  # export it (fp16 + card), evaluate it (JSON, grid)
#   scripts/gpu_session.sh bench OUTDIR            # the flow backends (flow.json), the benchmark, then the
#                                                  # CUDA and video tests and a 1080p profile
#
# The two phases carry different data (see the Makefile's gpu-bundle) so each stays under a 64 MiB
# transfer; OUTDIR gets only small files (the fp16 decoder is 7 MB; a checkpoint with Adam is not).
set -euo pipefail
cd "$(dirname "$0")/.."
phase=${1:?train or bench}
out=${2:?output folder}
minutes=${3:-5}
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    out/gpu/wheels*/*.whl
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt" || true

case $phase in
train)
    data=out/gpu/train-data
    # shellcheck disable=SC2046 # the recipe is a list of options
    python3 -m pipeline train --content-dir "$data/train/content" --style-dir "$data/train/style" \
        --style-dir "$data/styles" $(cat scripts/train_recipe.args) --workers 8 --minutes "$minutes" \
        --resume --init-from pipeline/weights/decoder.safetensors --out /tmp/ckpt 2>&1 | tail -n 5
    python3 -m pipeline export /tmp/ckpt/checkpoint.pt --out "$out/decoder.safetensors"
    cp /tmp/ckpt/log.csv "$out/train_log.csv"
    STYLIZE_DATA=$data python3 scripts/eval_decoder.py --decoder "$out/decoder.safetensors" --gap \
        --modes decoder,calibrated,calibrated_feedback1,adapted,adapted_feedback1 \
        --grid "$out/decoder_grid.jpg" --out "$out/eval.json"
    ;;
bench)
    # Each step reports even when one before it failed; the benchmark prints a JSON line per finished
    # part, so a run cut off by BENCH_SECONDS still tells what it measured. A failed or skipped-for-no-CUDA
    # test makes the whole session fail at the end (exit 1), after the figures are written.
    # The figures first, the tests after: a lease is 15 minutes with the machine's start, and the figures are
    # what no CPU session can give (the default temporal mode at GPU speed is what stays open without them).
    export STYLIZE_DATA=out/gpu/bench-data
    # The flow backends (--flow opencv, torch): per frame pair, then the default temporal mode end to end at
    # 512x288, 720p and 1080p with each, fps and seconds per stage.
    timeout "${FLOW_SECONDS:-300}" python3 scripts/bench.py --flow-only --frames 240 --json "$out/flow.json" 2>&1 \
        | tee "$out/flow.txt" || true
    timeout "${BENCH_SECONDS:-240}" python3 scripts/bench.py --quick --frames 240 --segment-seconds 2.5 --frames-1080p 240 \
        --json "$out/bench.json" 2>&1 | tee "$out/bench.txt" || true
    tests=0
    timeout "${TEST_SECONDS:-240}" python3 -m pytest -q -rs tests/test_cuda.py tests/test_video.py tests/test_memory.py \
        tests/test_flow_torch.py 2>&1 | tee "$out/tests.log" || tests=1
    grep -q "SKIPPED.*needs a CUDA device" "$out/tests.log" && tests=1
    timeout 60 python3 scripts/profile_video.py --frames 64 --out "$out/profile" > /dev/null 2>&1 || echo "profile failed" >&2
    [ "$tests" = 0 ] || { echo "GPU tests failed or were skipped: see $out/tests.log" >&2; exit 1; }
    ;;
*)
    echo "unknown phase $phase: train or bench" >&2
    exit 2
    ;;
esac
