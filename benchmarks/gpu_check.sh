#!/usr/bin/env bash
# The one prepared GPU run of issue 20 (under 8 minutes on an H100/H200): the CUDA tests,
# then bench_fit at 8192 and 16384 songs held in GPU memory and 16384 streamed from HDF5
# (its phases include the local step with a host sync every 10 iterations instead of
# every one: the cost of the per-iteration convergence check), the planted-truth
# benchmark on the GPU (its filled length buckets and a CPU's) and on the machine's CPUs,
# then goal 1's levers: bench_fit at 8192 with the bfloat16 local step, the compiled one
# (torch.compile) and both, and the planted benchmark compiled. Every benchmark
# prints one JSON line; all of them are collected in OUT_DIR/bench.jsonl, the test log in
# OUT_DIR/tests.log.
#
#   bash benchmarks/gpu_check.sh [OUT_DIR]              # on the GPU machine, repo root
#   DEVICE=cpu SIZES=24 bash benchmarks/gpu_check.sh    # smoke test of the script on a CPU
#
# Needs torch, numpy, h5py, scikit-learn and pytest (not librosa): the model path only;
# the compiled runs need Triton on the GPU (a C++ compiler on a CPU).
set -uo pipefail
out=${1:-${OUT:-gpu_check_out}}
device=${DEVICE:-cuda}
sizes=${SIZES:-"8192 16384"}
py=${PYTHON:-python3}
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p "$out"
status=0

$py -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
torch.cuda.get_device_name() if torch.cuda.is_available() else '')" | tee "$out/device.txt"

timeout 240 $py -m pytest -q -p no:cacheprovider tests/test_cuda.py 2>&1 | tee "$out/tests.log" \
    || status=1

first=${sizes%% *}
last=${sizes##* }
if [ "$device" = cpu ]; then
    small="--batch-size $first --local-iters 5 --components 16 --song-components 4"
else
    small=""
fi
# each corpus is generated once and read by the later runs (not under $out: it would be
# copied back)
corpora=$(mktemp -d)
trap 'rm -rf "$corpora"' EXIT
bench_fit() {  # bench_fit SONGS [OPTIONS...]: one JSON line into bench.jsonl
    local songs=$1
    shift
    # shellcheck disable=SC2086
    timeout 150 $py benchmarks/bench_fit.py --device "$device" --songs "$songs" --epochs 2 \
        --corpus-dir "$corpora" "$@" $small | tee -a "$out/bench.jsonl" || status=1
}
planted() {  # planted DEVICE KERNELS BUCKETS: the planted benchmark's memoized fits
    timeout 150 $py benchmarks/bench_convergence.py --device "$1" --skip-curves \
        --skip-sklearn --threads "$(nproc)" --local-kernels "$2" --min-bucket-frames "$3" \
        | tee -a "$out/bench.jsonl" || status=1
}
# the figures every goal needs first, so that a run cut short still answers each goal
for songs in $sizes; do
    bench_fit "$songs"
done
bench_fit "$last" --stream                  # goal 2: beyond GPU memory, at the same rate
# goal 3: the planted fit on the device (its filled buckets, then a CPU's length buckets)
# and on this machine's CPUs (all its cores), scikit-learn's reference left out
planted "$device" eager auto
planted "$device" eager 0
[ "$device" = cpu ] || planted cpu eager auto
# goal 1's levers: the 16-bit local step (frames/s and held-out score against full), the
# fused one, both; the fused one on the planted fit
bench_fit "$first" --local-precision bfloat16
bench_fit "$first" --local-kernels compiled
bench_fit "$first" --local-kernels compiled --local-precision bfloat16
planted "$device" compiled auto
exit $status
