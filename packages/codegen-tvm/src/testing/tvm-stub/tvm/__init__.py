"""Test stub of the parts of TVM that build.py touches. It records every call as a JSON line
in $STUB_LOG and computes nothing: the graph executor answers $STUB_EXPECTED + $STUB_OFFSET.
load_param_dict does parse the real parameter file format, as a second reader of it."""
import json
import os
import re
import struct
import sys
import types

import numpy as np


def _log(event, **data):
    with open(os.environ["STUB_LOG"], "a") as f:
        f.write(json.dumps(dict(event=event, **data)) + "\n")


def _module(name):
    m = types.ModuleType(name)
    sys.modules[name] = m
    return m


class _Kind:
    def __init__(self, name):
        self.name = name


class _Target:
    def __init__(self, target, host=None):
        self.target, self.host = target, host
        self.kind = _Kind(target.split()[0])
        _log("Target", target=target, host=host)

    def __str__(self):
        return self.target


target = _module("tvm.target")
target.Target = _Target


class _Dev:
    def __init__(self, kind):
        self.kind = kind


def cpu(i=0):
    return _Dev("cpu")


def cuda(i=0):
    return _Dev("cuda")


class _Ctx:
    def __init__(self, event, **data):
        self.event, self.data = event, data

    def __enter__(self):
        _log(self.event + ".enter", **self.data)
        return self

    def __exit__(self, *exc):
        _log(self.event + ".exit")
        return False


transform = _module("tvm.transform")
transform.PassContext = lambda opt_level=2, config=None: _Ctx("PassContext", opt_level=opt_level, config=config or {})


class _Var:
    def __init__(self, name):
        self.name_hint = name


class _Func:
    def __init__(self, names):
        self.params = [_Var(n) for n in names]


class _Mod:
    def __init__(self, text):
        head = next(line for line in text.splitlines() if line.startswith("def @main("))
        self.names = re.findall(r"%([A-Za-z_][A-Za-z0-9_]*):", head)

    def __getitem__(self, key):
        assert key == "main"
        return _Func(self.names)


class _Lib:
    def __init__(self, kind):
        self.kind = kind

    def export_library(self, path):
        _log("export_library", path=path)
        with open(path, "w") as f:
            f.write("stub library\n")

    def __getitem__(self, key):
        assert key == "default"
        return lambda dev: ("factory", dev.kind)


relay = _module("tvm.relay")


def _parse(text):
    _log("relay.parse", first_line=text.splitlines()[0], chars=len(text))
    return _Mod(text)


def _build(mod, target=None, params=None):
    _log("relay.build", target=str(target), host=target.host, params=sorted(params), inputs=mod.names)
    return _Lib("relay")


relay.parse = _parse
relay.fromtext = _parse
relay.build = _build


def _output():
    return np.load(os.environ["STUB_EXPECTED"]) + np.float32(float(os.environ.get("STUB_OFFSET", "0")))


class _Out:
    def __init__(self, a):
        self.a = a

    def numpy(self):
        return self.a


contrib = _module("tvm.contrib")
graph_executor = _module("tvm.contrib.graph_executor")
contrib.graph_executor = graph_executor


class _GraphModule:
    def __init__(self, factory):
        _log("GraphModule", factory=list(factory))

    def set_input(self, name, value):
        _log("set_input", name=name, shape=list(value.shape), dtype=str(value.dtype))

    def run(self):
        _log("run")

    def get_output(self, i):
        return _Out(_output())


graph_executor.GraphModule = _GraphModule

runtime = _module("tvm.runtime")


def load_param_dict(data):
    """Reads the TVM parameter format (file_utils.cc LoadParams)."""
    p = 0

    def take(fmt):
        nonlocal p
        v = struct.unpack_from("<" + fmt, data, p)
        p += struct.calcsize("<" + fmt)
        return v

    magic, reserved, count = take("QQQ")
    assert magic == 0xF7E58D4F05049CB7 and reserved == 0, "bad list header"
    names = []
    for _ in range(count):
        (n,) = take("Q")
        names.append(data[p : p + n].decode())
        p += n
    (arrays,) = take("Q")
    assert arrays == count
    out = {}
    for name in names:
        magic, reserved, dev_type, dev_id, ndim, code, bits, lanes = take("QQiiiBBH")
        assert (magic, reserved, dev_type, dev_id, code, bits, lanes) == (0xDD5E40F096B4A13F, 0, 1, 0, 2, 32, 1), name
        shape = take("q" * ndim)
        (size,) = take("q")
        out[name] = np.frombuffer(data, dtype="<f4", count=size // 4, offset=p).reshape(shape)
        p += size
    assert p == len(data), "trailing bytes"
    _log("load_param_dict", names=names, shapes={k: list(v.shape) for k, v in out.items()})
    return out


runtime.load_param_dict = load_param_dict
runtime.tensor = lambda a, dev: a

auto_scheduler = _module("tvm.auto_scheduler")


def _extract_tasks(func, params, target):
    _log("extract_tasks", target=str(target), params=len(params))
    return ["task0", "task1"], [1, 2]


class _TaskScheduler:
    def __init__(self, tasks, weights, load_log_file=None):
        _log("TaskScheduler", tasks=len(tasks), load_log_file=load_log_file)

    def tune(self, options):
        _log("tune", trials=options.kw["num_measure_trials"], runner=type(options.kw["runner"]).__name__)
        for cb in options.kw["measure_callbacks"]:
            with open(cb.path, "a") as f:
                f.write('{"stub": "record"}\n')


class _Kw:
    def __init__(self, *args, **kw):
        self.args, self.kw = args, kw


class RecordToFile:
    def __init__(self, path):
        self.path = path


auto_scheduler.extract_tasks = _extract_tasks
auto_scheduler.TaskScheduler = _TaskScheduler
auto_scheduler.TuningOptions = type("TuningOptions", (_Kw,), {})
auto_scheduler.LocalRunner = type("LocalRunner", (_Kw,), {})
auto_scheduler.RPCRunner = type("RPCRunner", (_Kw,), {})
auto_scheduler.LocalBuilder = type("LocalBuilder", (_Kw,), {})
auto_scheduler.RecordToFile = RecordToFile
auto_scheduler.ApplyHistoryBest = lambda log: _Ctx("ApplyHistoryBest", log=log)

relax = _module("tvm.relax")
relax_frontend = _module("tvm.relax.frontend")
relax_onnx = _module("tvm.relax.frontend.onnx")
relax.frontend = relax_frontend
relax_frontend.onnx = relax_onnx
relax_transform = _module("tvm.relax.transform")
relax.transform = relax_transform


def _from_onnx(model, keep_params_in_input=False):
    _log("from_onnx", model=model, keep_params_in_input=keep_params_in_input)
    return "relax-mod"


relax_onnx.from_onnx = _from_onnx
relax_transform.DecomposeOpsForInference = lambda: (lambda mod: mod)
relax_transform.LegalizeOps = lambda: (lambda mod: mod)


def _relax_build(mod, target=None):
    _log("relax.build", target=str(target))
    return _Lib("relax")


relax.build = _relax_build


class _VM:
    def __init__(self, lib, dev):
        _log("VirtualMachine", dev=dev.kind)

    def __getitem__(self, name):
        return lambda x: _Out(_output())


relax.VirtualMachine = _VM

# Attributes reached as tvm.x after `import tvm`.
this = sys.modules[__name__]
for _name, _mod in [("target", target), ("transform", transform), ("relay", relay), ("contrib", contrib),
                    ("runtime", runtime), ("auto_scheduler", auto_scheduler), ("relax", relax)]:
    setattr(this, _name, _mod)
