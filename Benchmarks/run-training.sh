#!/usr/bin/env bash
# Times whole training steps of GradScope (`gradscope-bench training`) and PyTorch
# (Benchmarks/training_pytorch.py, run with and without jemalloc preloaded) and prints a
# Markdown table: per case the median and minimum step time, images per second, peak resident
# memory, and the ratio GradScope median / faster PyTorch median (below 1 means GradScope is
# faster).
#
# Every case runs in its own process, so the peak resident memory belongs to that case alone.
# For each case the three implementations run one after another, and the whole sequence repeats
# (--rounds N, default 3), so that load from other processes hits all of them alike. Each
# implementation keeps the round with its lowest median.
#
# Options: --rounds N, --cases "NAME NAME ..." (default: all), --steps N and --warmup N (passed
# to both benchmarks; default: per case). The PyTorch virtual environment lives outside the
# repository: GRADSCOPE_TORCH_VENV, or ../venv-torch next to the checkout. It is created with
# torch==2.13.0+cpu when missing. GRADSCOPE_JEMALLOC overrides the jemalloc library path.
set -euo pipefail

repository="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${GRADSCOPE_TORCH_VENV:-$(dirname "$repository")/venv-torch}"
jemalloc="${GRADSCOPE_JEMALLOC:-/usr/lib/x86_64-linux-gnu/libjemalloc.so.2}"
rounds=3
cases="vgg19-32 vgg19-32-probes vgg19-224 resnet50-32 resnet50-32-noskip mlp20-sigmoid vgg19-32-inference"
step_options=()
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds="$2"; shift 2 ;;
        --cases) cases="$2"; shift 2 ;;
        --steps|--warmup) step_options+=("$1" "$2"); shift 2 ;;
        *) echo "run-training.sh: invalid option '$1'; use --rounds N, --cases \"NAME ...\", --steps N, --warmup N" >&2; exit 2 ;;
    esac
done
if [ ! -r "$jemalloc" ]; then
    echo "run-training.sh: jemalloc not found at $jemalloc; install libjemalloc2 or set GRADSCOPE_JEMALLOC" >&2
    exit 2
fi

results="$(mktemp)"
trap 'rm -f "$results"' EXIT

if ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
    echo "Creating $venv with torch==2.13.0+cpu" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet torch==2.13.0+cpu
fi

cd "$repository"
# Sampled before the build, which raises the load average itself.
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
swift build -c release --product gradscope-bench >&2
binary="$(swift build -c release --show-bin-path)/gradscope-bench"

for case_name in $cases; do
    # The probed GradScope case is compared with PyTorch's unprobed step.
    pytorch_case="${case_name%-probes}"
    for round in $(seq "$rounds"); do
        echo "Round $round of $case_name" >&2
        "$binary" training --case "$case_name" ${step_options[@]+"${step_options[@]}"} >> "$results"
        if [ "$pytorch_case" = "$case_name" ]; then
            "$venv/bin/python" Benchmarks/training_pytorch.py --case "$case_name" \
                ${step_options[@]+"${step_options[@]}"} >> "$results"
            LD_PRELOAD="$jemalloc" "$venv/bin/python" Benchmarks/training_pytorch.py --case "$case_name" \
                --label pytorch-jemalloc ${step_options[@]+"${step_options[@]}"} >> "$results"
        fi
    done
done

commit="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- Sources Benchmarks || echo '+uncommitted')"
machine="$(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores"
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
torch_version="$("$venv/bin/python" -c 'import torch; print(torch.__version__)')"

python3 - "$results" "$commit" "$machine" "$load_before" "$load_after" "$torch_version" <<'PYTHON'
import csv
import datetime
import sys

path, commit, machine, load_before, load_after, torch_version = sys.argv[1:7]
columns = "implementation,case,batch,steps,median_ms,min_ms,images_per_s,peak_rss_mb".split(",")

best = {}
order = []
with open(path) as file:
    for row in csv.DictReader(file, fieldnames=columns):
        key = (row["implementation"], row["case"])
        if row["case"] not in order:
            order.append(row["case"])
        if key not in best or float(row["median_ms"]) < float(best[key]["median_ms"]):
            best[key] = row

print(f"Date: {datetime.date.today().isoformat()}; commit: {commit}; machine: {machine}; "
      f"PyTorch {torch_version}, 2 threads; load average before {load_before}, after {load_after}.")
print()
print("| case | batch | GradScope median ms | GradScope min ms | GradScope images/s | GradScope peak MiB "
      "| PyTorch best | PyTorch median ms | PyTorch min ms | PyTorch images/s | PyTorch peak MiB | ratio |")
print("| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
for case in order:
    ours = best.get(("gradscope", case))
    pytorch_case = case[: -len("-probes")] if case.endswith("-probes") else case
    candidates = [best[key] for key in (("pytorch", pytorch_case), ("pytorch-jemalloc", pytorch_case)) if key in best]
    if ours is None or not candidates:
        continue
    theirs = min(candidates, key=lambda row: float(row["median_ms"]))
    ratio = float(ours["median_ms"]) / float(theirs["median_ms"])
    print(f"| {case} | {ours['batch']} | {float(ours['median_ms']):.1f} | {float(ours['min_ms']):.1f} "
          f"| {float(ours['images_per_s']):.1f} | {float(ours['peak_rss_mb']):.0f} "
          f"| {theirs['implementation']} | {float(theirs['median_ms']):.1f} | {float(theirs['min_ms']):.1f} "
          f"| {float(theirs['images_per_s']):.1f} | {float(theirs['peak_rss_mb']):.0f} | {ratio:.2f} |")
PYTHON
