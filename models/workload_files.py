"""Bring your own network: GEMM workloads from an ONNX model or a SCALE-Sim topology file.

:func:`load_workload_file` turns a file into a tuple of :class:`models.workloads.Gemm` (each
``(M x K) @ (K x N)``, ``count`` times), which the cost model and ``pearray sweep`` take like a
registered workload.

SCALE-Sim topology CSV (v2's two forms; v3 reads the same): a header line, then one layer per
line, a trailing comma allowed (SCALE-Sim writes one):

* convolution form: ``Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width,
  Channels, Num Filter, Strides`` (and an optional ``Stride width``, else the same stride), lowered
  as SCALE-Sim does: ``M`` = output pixels ``ceil((H - Fh + S) / S) * ceil((W - Fw + Sw) / Sw)``,
  ``K = Fh * Fw * Channels``, ``N`` = Num Filter. A layer whose name contains ``DP`` is
  depth-wise, as in SCALE-Sim: one GEMM per channel with ``Channels = 1`` (here: ``count`` =
  Channels);
* GEMM form (SCALE-Sim's ``-i gemm``): ``Layer name, M, N, K`` (in that order).

The form is told by the number of fields of the layer lines (3 numbers: GEMM; 7 or 8: conv).

ONNX (``.onnx``): the ``onnx`` package's shape inference gives every tensor's shape; then per
node, in graph order: ``Gemm`` (``transA``/``transB`` honoured), ``MatMul`` (leading batch
dimensions broadcast into ``count``) and ``Conv`` (any spatial rank; ``M`` = batch x output
pixels, ``K`` = kernel elements x input channels per group, ``N`` = output channels per group,
``count`` = groups: SCALE-Sim's lowering, with its depth-wise rule as the ``group = C`` case).
Other nodes carry no GEMM and are skipped. A shape that stays symbolic or unknown after
inference is an error naming the node.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from .workloads import Gemm

SUFFIXES = (".onnx", ".csv")


class WorkloadFileError(ValueError):
    """A workload file that cannot be read as GEMMs; the one-line message names the file."""


def is_workload_file(text):
    """Whether a workload argument names a file (by suffix) rather than a registered workload."""
    return isinstance(text, str) and Path(text).suffix.lower() in SUFFIXES


def load_workload_file(path):
    """The GEMMs of an ONNX model or a SCALE-Sim topology CSV (module docstring)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise WorkloadFileError(f"workload file {path}: expected a .onnx model or a .csv SCALE-Sim "
                                f"topology, not {suffix or 'no suffix'}")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise WorkloadFileError(f"cannot read workload file {path}: {e.strerror or e}") from None
    gemms = _onnx_gemms(path, data) if suffix == ".onnx" else _topology_gemms(path, data)
    if not gemms:
        raise WorkloadFileError(f"workload file {path}: no GEMM, MatMul or Conv layer in it")
    return tuple(gemms)


# --------------------------------------------------------------------------------------------
# SCALE-Sim topology CSV


def _conv_out(size, kernel, stride):
    """SCALE-Sim's output size: ceil((size - kernel + stride) / stride)."""
    return -(-(size - kernel + stride) // stride)


def _topology_gemms(path, data):
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise WorkloadFileError(f"workload file {path}: not a text (CSV) file") from None
    lines = [row for row in csv.reader(text.splitlines())]
    body = [(n, [f.strip() for f in row]) for n, row in enumerate(lines, 1)][1:]   # the header
    gemms = []
    for line, fields in body:
        while fields and fields[-1] == "":   # SCALE-Sim ends each line with a comma
            fields.pop()
        if not fields:
            continue
        name, numbers = fields[0], fields[1:]
        where = f"workload file {path}, line {line} ({name or 'no name'})"
        try:
            values = [int(v) for v in numbers]
        except ValueError:
            raise WorkloadFileError(f"{where}: expected whole numbers after the layer name, got "
                                    f"{', '.join(numbers)}") from None
        if any(v < 1 for v in values):
            raise WorkloadFileError(f"{where}: every number must be positive")
        if len(values) == 3:
            m, n, k = values
            gemms.append(Gemm(name, m, k, n))
        elif len(values) in (7, 8):
            h, w, fh, fw, channels, filters, sh = values[:7]
            sw = values[7] if len(values) == 8 else sh
            if fh > h or fw > w:
                raise WorkloadFileError(f"{where}: the filter ({fh}x{fw}) is larger than the "
                                        f"IFMAP ({h}x{w})")
            m = _conv_out(h, fh, sh) * _conv_out(w, fw, sw)
            if "DP" in name:
                gemms.append(Gemm(name, m, fh * fw, filters, count=channels))
            else:
                gemms.append(Gemm(name, m, fh * fw * channels, filters))
        else:
            raise WorkloadFileError(f"{where}: expected 3 numbers (GEMM form: M, N, K) or 7-8 "
                                    f"(conv form: IFMAP H, W, filter H, W, channels, filters, "
                                    f"strides), got {len(values)}")
    return gemms


# --------------------------------------------------------------------------------------------
# ONNX


def _onnx_gemms(path, data):
    # deferred: onnx (and protobuf) take a noticeable time to import, and only model files need it
    import onnx
    from onnx import shape_inference
    try:
        model = onnx.load_from_string(data)
        model = shape_inference.infer_shapes(model)
    except Exception as e:   # DecodeError, InferenceError, ...: any unreadable model
        first = str(e).strip().splitlines()
        raise WorkloadFileError(f"workload file {path}: not a readable ONNX model "
                                f"({type(e).__name__}: {first[0] if first else ''})") from None
    graph = model.graph
    shapes = {}
    for info in (*graph.input, *graph.value_info, *graph.output):
        dims = info.type.tensor_type.shape.dim
        if info.type.tensor_type.HasField("shape"):
            shapes[info.name] = tuple(d.dim_value if d.HasField("dim_value") else None for d in dims)
    for init in graph.initializer:
        shapes[init.name] = tuple(init.dims)
    gemms = []
    for i, node in enumerate(graph.node):
        if node.op_type not in ("Gemm", "MatMul", "Conv"):
            continue
        name = node.name or f"{node.op_type}_{i}"
        where = f"workload file {path}, node {name} ({node.op_type})"

        def shape(tensor):
            found = shapes.get(tensor)
            if found is None or any(d is None or d < 1 for d in found):
                raise WorkloadFileError(f"{where}: the shape of {tensor!r} is unknown after shape "
                                        f"inference ({found}); give the model fixed input shapes")
            return found

        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Gemm":
            a, b = shape(node.input[0]), shape(node.input[1])
            m, k = (a[1], a[0]) if attrs.get("transA", 0) else a
            n = b[0] if attrs.get("transB", 0) else b[1]
            gemms.append(Gemm(name, m, k, n))
        elif node.op_type == "MatMul":
            a, b = shape(node.input[0]), shape(node.input[1])
            a2 = (1, *a) if len(a) == 1 else a
            b2 = (*b, 1) if len(b) == 1 else b
            batch = _broadcast(a2[:-2], b2[:-2], where)
            gemms.append(Gemm(name, a2[-2], a2[-1], b2[-1], count=math.prod(batch)))
        else:
            w, y = shape(node.input[1]), shape(node.output[0])
            group = attrs.get("group", 1)
            cout, cin_per_group, kernel = w[0], w[1], w[2:]
            gemms.append(Gemm(name, y[0] * math.prod(y[2:]), math.prod(kernel) * cin_per_group,
                              cout // group, count=group))
    return gemms


def _broadcast(a, b, where):
    out = []
    for i in range(max(len(a), len(b))):
        da = a[len(a) - 1 - i] if i < len(a) else 1
        db = b[len(b) - 1 - i] if i < len(b) else 1
        if da != db and 1 not in (da, db):
            raise WorkloadFileError(f"{where}: batch dimensions {a} and {b} do not broadcast")
        out.append(max(da, db))
    return out
