"""Test stub of onnx: load() returns the path it was given."""


def load(path):
    return "onnx:" + path.rsplit("/", 1)[-1]
