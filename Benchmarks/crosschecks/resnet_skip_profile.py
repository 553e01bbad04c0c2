import torch, torchvision
from torchvision.models.resnet import Bottleneck
torch.manual_seed(0)
torch.set_num_threads(2)

def no_skip_forward(self, x):
    out = self.relu(self.bn1(self.conv1(x)))
    out = self.relu(self.bn2(self.conv2(out)))
    out = self.bn3(self.conv3(out))
    return self.relu(out)

for skip in (True, False):
    torch.manual_seed(0)
    m = torchvision.models.resnet50(num_classes=10)
    if not skip:
        for mod in m.modules():
            if isinstance(mod, Bottleneck):
                mod.downsample = None
                mod.forward = no_skip_forward.__get__(mod)
    m.train()
    grads = {}
    def hook(name):
        def f(mod, gi, go):
            g = go[0]
            grads[name] = (g.norm() / g.numel() ** 0.5).item()
        return f
    for name, mod in m.named_modules():
        if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear)):
            mod.register_full_backward_hook(hook(name))
    g = torch.Generator().manual_seed(1)
    x = torch.rand(32, 3, 32, 32, generator=g)
    y = torch.randint(0, 10, (32,), generator=g)
    torch.nn.functional.cross_entropy(m(x), y).backward()
    print("skip" if skip else "no-skip", "conv1 rms", grads["conv1"], "fc rms", grads["fc"], "ratio", grads["conv1"] / grads["fc"])
