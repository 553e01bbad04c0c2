"""Writes torchvision's state-dict names and shapes for the VGG and ResNet families.

Run with torchvision 0.28 installed: python make_state_dict_shapes.py
Each line of the output is `name shape` with the shape as comma-separated sizes (empty for a scalar).
"""
import torchvision

MODELS = [f"vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "_bn")]
MODELS += [f"resnet{d}" for d in (18, 34, 50, 101, 152)]

for name in MODELS:
    model = getattr(torchvision.models, name)(num_classes=10)
    trainable = sum(p.numel() for p in model.parameters())
    with open(f"{name}.txt", "w") as out:
        out.write(f"# torchvision {torchvision.__version__} {name}(num_classes=10): {trainable} parameters\n")
        for key, tensor in model.state_dict().items():
            out.write(f"{key} {','.join(str(s) for s in tensor.shape)}\n")
