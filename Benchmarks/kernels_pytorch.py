"""Time PyTorch's conv2d and linear at the cases of `gradscope-bench kernels`.

Prints the same CSV columns as the Swift benchmark: the median milliseconds of a forward pass
and of a forward plus backward pass (gradients for input, weight and bias), on 2 threads.
Run it with a Python that has torch==2.13.0+cpu (Benchmarks/run-kernels.sh sets one up).
"""

import argparse
import time

import torch
import torch.nn.functional as F

BATCH = 32

# (case, layers, kind, sizes): the distinct VGG19 convolution shapes (3x3, padding 1) at
# 32x32 input, then the classifier. Names match KernelBenchmarks.swift.
CASES = [
    ("conv 3->64 @32", "conv1", "conv", (3, 64, 32)),
    ("conv 64->64 @32", "conv2", "conv", (64, 64, 32)),
    ("conv 64->128 @16", "conv3", "conv", (64, 128, 16)),
    ("conv 128->128 @16", "conv4", "conv", (128, 128, 16)),
    ("conv 128->256 @8", "conv5", "conv", (128, 256, 8)),
    ("conv 256->256 @8", "conv6-8", "conv", (256, 256, 8)),
    ("conv 256->512 @4", "conv9", "conv", (256, 512, 4)),
    ("conv 512->512 @4", "conv10-12", "conv", (512, 512, 4)),
    ("conv 512->512 @2", "conv13-16", "conv", (512, 512, 2)),
    ("linear 25088->4096", "fc1", "linear", (25088, 4096)),
    ("linear 4096->4096", "fc2", "linear", (4096, 4096)),
    ("linear 4096->10", "fc3", "linear", (4096, 10)),
]


def forward_flops(kind, sizes):
    """Floating-point operations of one forward pass (a multiply-add counts as 2)."""
    if kind == "conv":
        inputs, outputs, size = sizes
        return 2.0 * BATCH * outputs * size * size * inputs * 9
    inputs, outputs = sizes
    return 2.0 * BATCH * inputs * outputs


def median_milliseconds(body, repetitions, warmup):
    for _ in range(warmup):
        body()
    samples = []
    for _ in range(repetitions):
        start = time.perf_counter_ns()
        body()
        samples.append((time.perf_counter_ns() - start) / 1e6)
    samples.sort()
    middle = len(samples) // 2
    if len(samples) % 2 == 1:
        return samples[middle]
    return (samples[middle - 1] + samples[middle]) / 2


def time_case(kind, sizes, repetitions, warmup):
    generator = torch.Generator().manual_seed(1)
    if kind == "conv":
        inputs, outputs, size = sizes
        x = torch.randn(BATCH, inputs, size, size, generator=generator)
        weight = torch.randn(outputs, inputs, 3, 3, generator=generator) * 0.05
        bias = torch.randn(outputs, generator=generator)

        def layer(value):
            return F.conv2d(value, weight, bias, padding=1)

    else:
        inputs, outputs = sizes
        x = torch.randn(BATCH, inputs, generator=generator)
        weight = torch.randn(outputs, inputs, generator=generator) * 0.01
        bias = torch.randn(outputs, generator=generator)

        def layer(value):
            return F.linear(value, weight, bias)

    for tensor in (x, weight, bias):
        tensor.requires_grad_(True)
    output_gradient = torch.randn(layer(x).shape, generator=generator)

    def forward():
        layer(x)

    def train():
        for tensor in (x, weight, bias):
            tensor.grad = None
        layer(x).backward(output_gradient)

    return median_milliseconds(forward, repetitions, warmup), median_milliseconds(train, repetitions, warmup)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=10, help="timed runs per case (default 10)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs before timing (default 3)")
    options = parser.parse_args()

    torch.set_num_threads(2)
    print(
        f"# PyTorch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"median of {options.repetitions} after {options.warmup} warm-up runs"
    )
    print("case,layers,forward_ms,train_ms,train_gflops")
    for name, layers, kind, sizes in CASES:
        forward, train = time_case(kind, sizes, options.repetitions, options.warmup)
        gflops = 3 * forward_flops(kind, sizes) / (train * 1e-3) / 1e9
        print(f"{name},{layers},{forward:.3f},{train:.3f},{gflops:.1f}", flush=True)


if __name__ == "__main__":
    main()
