"""Test-only: exports torchvision networks with seeded random weights to ONNX with PyTorch's own
exporter, with an input and PyTorch's output beside each file, for the general ONNX import test.

usage: export_torch.py OUT_DIR SIZE OPSET NAME...
Writes OUT_DIR/<name>.onnx, OUT_DIR/<name>.out.npy and OUT_DIR/input.npy (1x3xSIZExSIZE float32).
Nothing is downloaded: the networks are built with random weights.
"""
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

out_dir, size, opset, names = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
torch.manual_seed(0)


def randomize_bn(model):
    # Fresh BatchNorm statistics are identity; random ones make a folding mistake show.
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model


class UNet(nn.Module):
    """A MobileNetV3-small encoder with a decoder of x2 upsampling, concatenated skips and
    depthwise-separable convs (ReLU6 through F.relu6): the shape of a depth network."""

    def __init__(self):
        super().__init__()
        self.encoder = torchvision.models.mobilenet_v3_small().features
        self.skip_at = {1: 16, 3: 24, 8: 48}

        def sep(cin, cout):
            return nn.Sequential(
                nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False),
                nn.BatchNorm2d(cin),
                nn.ReLU6(),
                nn.Conv2d(cin, cout, 1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU6(),
            )

        self.dec = nn.ModuleList([sep(576 + 48, 64), sep(64 + 24, 32), sep(32 + 16, 16)])
        self.head = nn.Conv2d(16, 1, 1)

    def forward(self, x):
        skips = []
        for i, layer in enumerate(self.encoder):
            x = layer(x)
            if i in self.skip_at:
                skips.append(x)
        for block, skip in zip(self.dec, reversed(skips)):
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        return self.head(F.interpolate(x, scale_factor=2.0, mode="nearest"))


# The encoders are torchvision's `features` (the classifier's Flatten/Linear are no DSL ops).
models = {
    "mobilenet_v2": lambda: torchvision.models.mobilenet_v2().features,
    "mobilenet_v3_small": lambda: torchvision.models.mobilenet_v3_small().features,
    "mobilenet_v3_large": lambda: torchvision.models.mobilenet_v3_large().features,
    "unet_mobilenet_v3": UNet,
}
x = torch.rand(1, 3, size, size)
np.save(f"{out_dir}/input.npy", x.numpy())
for name in names:
    model = randomize_bn(models[name]()).eval()
    with torch.no_grad():
        y = model(x)
    np.save(f"{out_dir}/{name}.out.npy", y.numpy())
    torch.onnx.export(model, x, f"{out_dir}/{name}.onnx", opset_version=opset, input_names=["input"], output_names=["output"])
print("ok")
