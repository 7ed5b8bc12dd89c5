"""Test-only: exports a small network of F.interpolate calls (every form the resize import
reads) to ONNX with PyTorch's own exporter, with its input and PyTorch's output beside it.

usage: export_resize.py OUT_DIR OPSET...
Writes OUT_DIR/resize-<opset>.onnx and OUT_DIR/output-<opset>.npy for each opset, and
OUT_DIR/input.npy (1x3x10x14). An opset written "11-kept" exports BatchNorm as its own node
and leaves the shape arithmetic unfolded (do_constant_folding=False).
Opset 9 writes Upsample (nearest only: its linear mode is not PyTorch's); 11+ write Resize,
sizes through the Shape/Gather/Concat arithmetic the import folds.
"""
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

out_dir, opsets = sys.argv[1], sys.argv[2:]
torch.manual_seed(0)


class Resizes(nn.Module):
    def __init__(self, bilinear):
        super().__init__()
        self.bilinear = bilinear
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.Conv2d(4, 4, 3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.c = nn.Conv2d(8, 2, 1)

    def forward(self, x):
        a = torch.relu(self.a(x))  # 10x14
        b = torch.relu(self.bn(self.b(a)))  # 5x7
        near3 = F.interpolate(b, scale_factor=3.0, mode="nearest")  # 15x21
        near = F.interpolate(near3, size=a.shape[-2:], mode="nearest")  # 10x14: from a's shape
        if self.bilinear:
            up = F.interpolate(b, size=(10, 14), mode="bilinear", align_corners=False)
            odd = F.interpolate(up, size=(7, 9), mode="bilinear", align_corners=False)
            back = F.interpolate(odd, scale_factor=2.0, mode="bilinear", align_corners=False)  # 14x18
            up = up + F.interpolate(back, size=(10, 14), mode="bilinear", align_corners=False)
        else:
            up = F.interpolate(b, scale_factor=2.0, mode="nearest")
        y = self.c(torch.cat([near, up], dim=1))
        return F.interpolate(y, scale_factor=(2.0, 3.0), mode="nearest")


x = torch.rand(1, 3, 10, 14)
np.save(f"{out_dir}/input.npy", x.numpy())
for tag in opsets:
    opset, kept = int(tag.split("-")[0]), tag.endswith("-kept")
    model = Resizes(bilinear=opset >= 11).eval()
    bn = model.bn
    bn.running_mean.uniform_(-0.2, 0.2)
    bn.running_var.uniform_(0.5, 1.5)
    bn.weight.data.uniform_(0.5, 1.5)
    with torch.no_grad():
        y = model(x)
    np.save(f"{out_dir}/output-{tag}.npy", y.numpy())
    torch.onnx.export(
        model,
        x,
        f"{out_dir}/resize-{tag}.onnx",
        opset_version=opset,
        input_names=["input"],
        output_names=["output"],
        do_constant_folding=not kept,
        training=torch.onnx.TrainingMode.PRESERVE if kept else torch.onnx.TrainingMode.EVAL,
    )
print("ok")
