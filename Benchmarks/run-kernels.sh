#!/usr/bin/env bash
# Builds gradscope-bench in release mode, runs `gradscope-bench kernels` and
# Benchmarks/kernels_pytorch.py, and prints a Markdown table with the
# ratio GradScope time / PyTorch time per case (below 1 means GradScope is faster).
# Both benchmarks run twice, alternating, and each case keeps the lower of its two medians, so
# that a burst of load from other processes on this shared machine hits at most one of them.
#
# The PyTorch virtual environment lives outside the repository: GRADSCOPE_TORCH_VENV, or
# ../venv-torch next to the checkout. It is created with torch==2.13.0+cpu when missing.
# Extra arguments (--repetitions N, --warmup N) go to both benchmarks.
set -euo pipefail

repository="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${GRADSCOPE_TORCH_VENV:-$(dirname "$repository")/venv-torch}"
results="$(mktemp -d)"
trap 'rm -rf "$results"' EXIT

if ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
    echo "Creating $venv with torch==2.13.0+cpu" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet torch==2.13.0+cpu
fi

cd "$repository"
swift build -c release --product gradscope-bench >&2
binary="$(swift build -c release --show-bin-path)/gradscope-bench"

for round in 1 2; do
    echo "Running gradscope-bench kernels, round $round" >&2
    "$binary" kernels "$@" > "$results/gradscope-$round.csv"
    echo "Running kernels_pytorch.py, round $round" >&2
    "$venv/bin/python" Benchmarks/kernels_pytorch.py "$@" > "$results/pytorch-$round.csv"
done

commit="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- Sources Benchmarks || echo '+uncommitted')"
machine="$(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores"

python3 - "$results" "$commit" "$machine" <<'PYTHON'
import csv
import datetime
import sys

results, commit, machine = sys.argv[1:4]


def read(path):
    with open(path) as file:
        comments = []
        rows = []
        for line in file:
            if line.startswith("#"):
                comments.append(line[1:].strip())
            else:
                rows.append(line)
    return comments, {row["case"]: row for row in csv.DictReader(rows)}


def read_rounds(prefix):
    """Reads both rounds and keeps, per case, the lower median of each timing column."""
    notes, first = read(f"{results}/{prefix}-1.csv")
    _, second = read(f"{results}/{prefix}-2.csv")
    merged = {}
    for case, row in first.items():
        faster = dict(row)
        for column in ("forward_ms", "train_ms"):
            faster[column] = str(min(float(row[column]), float(second[case][column])))
        faster["train_gflops"] = str(
            float(row["train_gflops"]) * float(row["train_ms"]) / float(faster["train_ms"]))
        merged[case] = faster
    return notes, merged


gradscope_notes, gradscope = read_rounds("gradscope")
pytorch_notes, pytorch = read_rounds("pytorch")

print(f"Date: {datetime.date.today().isoformat()}; commit: {commit}; machine: {machine}")
for note in gradscope_notes + pytorch_notes:
    print(f"{note}, lower of 2 runs.  ")
print()
print("| case | VGG19 layers | GradScope fwd ms | PyTorch fwd ms | fwd ratio "
      "| GradScope fwd+bwd ms | PyTorch fwd+bwd ms | fwd+bwd ratio | GradScope GFLOP/s |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for case, ours in gradscope.items():
    theirs = pytorch[case]
    forward_ratio = float(ours["forward_ms"]) / float(theirs["forward_ms"])
    train_ratio = float(ours["train_ms"]) / float(theirs["train_ms"])
    print(f"| {case} | {ours['layers']} | {float(ours['forward_ms']):.2f} | {float(theirs['forward_ms']):.2f} "
          f"| {forward_ratio:.2f} | {float(ours['train_ms']):.2f} | {float(theirs['train_ms']):.2f} "
          f"| {train_ratio:.2f} | {float(ours['train_gflops']):.1f} |")
PYTHON
