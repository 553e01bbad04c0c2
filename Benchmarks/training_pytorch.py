"""Time PyTorch training steps at the cases of `gradscope-bench training`.

A step is what GradScope's trainer does without probes: zero the gradients, forward, mean
cross-entropy, backward and one Adam step (learning rate 1e-4), on 2 threads. The models are
built here with torchvision's module layout and initialisation, because torchvision from PyPI
does not import beside the CPU wheel of torch 2.13.0. Prints one CSV line with the same
columns as the Swift benchmark. Run it with a Python that has torch==2.13.0+cpu
(Benchmarks/run-training.sh sets one up).
"""

import argparse
import resource
import sys
import time

import torch
from torch import nn

NUM_CLASSES = 10

VGG19_CONFIGURATION = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
                       512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]


def vgg19():
    """torchvision.models.vgg19(num_classes=10): features, avgpool to 7x7, classifier."""
    layers = []
    channels = 3
    for entry in VGG19_CONFIGURATION:
        if entry == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(channels, entry, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            channels = entry
    model = nn.Module()
    model.features = nn.Sequential(*layers)
    model.avgpool = nn.AdaptiveAvgPool2d((7, 7))
    model.classifier = nn.Sequential(
        nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(0.5),
        nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(0.5),
        nn.Linear(4096, NUM_CLASSES))
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            nn.init.constant_(module.bias, 0)
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0, 0.01)
            nn.init.constant_(module.bias, 0)

    def forward(x):
        x = model.features(x)
        x = model.avgpool(x)
        return model.classifier(torch.flatten(x, 1))

    model.forward = forward
    return model


class Bottleneck(nn.Module):
    """torchvision's Bottleneck (stride on the 3x3 convolution); `skip=False` drops the shortcut."""

    expansion = 4

    def __init__(self, inplanes, width, stride, downsample, skip):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, width * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.skip = skip

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.skip:
            out = out + identity
        return self.relu(out)


class ResNet50(nn.Module):
    """torchvision.models.resnet50(num_classes=10), optionally without any shortcut."""

    def __init__(self, skip):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        channels = 64
        for stage, (width, blocks) in enumerate(zip([64, 128, 256, 512], [3, 4, 6, 3])):
            modules = []
            for block in range(blocks):
                stride = 2 if stage > 0 and block == 0 else 1
                downsample = None
                if skip and (stride != 1 or channels != width * 4):
                    downsample = nn.Sequential(
                        nn.Conv2d(channels, width * 4, 1, stride=stride, bias=False), nn.BatchNorm2d(width * 4))
                modules.append(Bottleneck(channels, width, stride, downsample, skip))
                channels = width * 4
            setattr(self, f"layer{stage + 1}", nn.Sequential(*modules))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(2048, NUM_CLASSES)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.constant_(module.weight, 1)
                nn.init.constant_(module.bias, 0)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def mlp(depth=20, width=256, input_size=3 * 32 * 32):
    """GradScope's MLP: flatten, then `depth` linear layers with sigmoid between them."""
    layers = [nn.Flatten()]
    features = input_size
    for index in range(depth):
        last = index == depth - 1
        layers.append(nn.Linear(features, NUM_CLASSES if last else width))
        if not last:
            layers.append(nn.Sigmoid())
        features = width
    return nn.Sequential(*layers)


# case: (model factory, image size, batch, steps, warm-up steps, inference only).
# The names and sizes match TrainingBenchmark.swift.
CASES = {
    "vgg19-32": (vgg19, 32, 32, 10, 3, False),
    "vgg19-32-inference": (vgg19, 32, 32, 10, 3, True),
    "vgg19-224": (vgg19, 224, 8, 3, 1, False),
    "resnet50-32": (lambda: ResNet50(skip=True), 32, 32, 8, 3, False),
    "resnet50-32-noskip": (lambda: ResNet50(skip=False), 32, 32, 8, 3, False),
    "mlp20-sigmoid": (mlp, 32, 128, 50, 5, False),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", required=True, choices=sorted(CASES))
    parser.add_argument("--steps", type=int, help="timed steps (default: per case)")
    parser.add_argument("--warmup", type=int, help="untimed steps before them (default: per case)")
    parser.add_argument("--label", default="pytorch", help="the implementation column, e.g. pytorch-jemalloc")
    arguments = parser.parse_args()

    torch.set_num_threads(2)
    torch.manual_seed(1)
    factory, size, batch, steps, warmup, inference_only = CASES[arguments.case]
    steps = arguments.steps or steps
    warmup = warmup if arguments.warmup is None else arguments.warmup

    model = factory()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    images = torch.randn(batch, 3, size, size)
    labels = torch.arange(batch) % NUM_CLASSES
    loss_function = nn.CrossEntropyLoss()
    model.train(not inference_only)

    def step():
        if inference_only:
            with torch.no_grad():
                logits = model(images)
            assert torch.isfinite(logits[0, 0])
            return
        optimizer.zero_grad(set_to_none=True)
        loss = loss_function(model(images), labels)
        loss.backward()
        optimizer.step()
        assert torch.isfinite(loss)

    for _ in range(warmup):
        step()
    samples = []
    for _ in range(steps):
        start = time.perf_counter_ns()
        step()
        samples.append((time.perf_counter_ns() - start) / 1e6)

    samples.sort()
    middle = len(samples) // 2
    median = samples[middle] if len(samples) % 2 == 1 else (samples[middle - 1] + samples[middle]) / 2
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{arguments.label},{arguments.case},{batch},{len(samples)},{median:.2f},{samples[0]:.2f},"
          f"{batch / (median / 1000):.2f},{peak:.1f}")


if __name__ == "__main__":
    sys.exit(main())
