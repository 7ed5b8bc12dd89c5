"""Test-only: exports the torchvision networks whose decoders resize (LR-ASPP MobileNetV3-Large,
and a U-Net decoder of our own on a MobileNetV2 encoder) with seeded random weights through
PyTorch's own ONNX exporter, with an input and PyTorch's output beside each file.

usage: export_torch_resize.py OUT_DIR SIZE OPSET NAME...
Writes OUT_DIR/<name>.onnx, OUT_DIR/<name>.out.npy and OUT_DIR/input.npy (1x3xSIZExSIZE float32).
Nothing is downloaded: weights=None, weights_backbone=None.
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


class LRASPP(nn.Module):
    """torchvision's LR-ASPP MobileNetV3-Large; its forward returns a dict, the export one tensor."""

    def __init__(self):
        super().__init__()
        self.net = torchvision.models.segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None)

    def forward(self, x):
        return self.net(x)["out"]


def separable(cin, cout):
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False),
        nn.BatchNorm2d(cin),
        nn.ReLU6(),
        nn.Conv2d(cin, cout, 1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU6(),
    )


class UNetDecoder(nn.Module):
    """A MobileNetV2 encoder (to stride 32, 320 channels) and a decoder of bilinear x2 to each
    skip's size, concatenated skips and depthwise-separable convs, to stride 4; the head's
    output is resized bilinearly to the input's size (x4)."""

    def __init__(self):
        super().__init__()
        self.encoder = torchvision.models.mobilenet_v2().features[:18]
        self.skip_at = {3: 24, 6: 32, 13: 96}
        self.dec = nn.ModuleList([separable(320 + 96, 96), separable(96 + 32, 48), separable(48 + 24, 24)])
        self.head = nn.Conv2d(24, 1, 1)

    def forward(self, x):
        skips = []
        y = x
        for i, layer in enumerate(self.encoder):
            y = layer(y)
            if i in self.skip_at:
                skips.append(y)
        for block, skip in zip(self.dec, reversed(skips)):
            y = F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            y = block(torch.cat([y, skip], dim=1))
        return F.interpolate(self.head(y), size=x.shape[-2:], mode="bilinear", align_corners=False)


models = {"lraspp_mobilenet_v3_large": LRASPP, "unet_decoder_mobilenet_v2": UNetDecoder}
x = torch.rand(1, 3, size, size)
np.save(f"{out_dir}/input.npy", x.numpy())
for name in names:
    model = randomize_bn(models[name]()).eval()
    with torch.no_grad():
        y = model(x)
    np.save(f"{out_dir}/{name}.out.npy", y.numpy())
    torch.onnx.export(model, x, f"{out_dir}/{name}.onnx", opset_version=opset, input_names=["input"], output_names=["output"])
print("ok")
