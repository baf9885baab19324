"""What a pose model costs: parameters, FLOPs per forward pass, analytic attention FLOPs, latency.

FLOPs (:func:`flops_breakdown`, :func:`model_flops`) follow TensorFlow's profiler convention: a
multiply-add is 2 FLOPs (``MatMul``/``BatchMatMul``: ``2·b·m·n·k``), an element-wise arithmetic op is 1
FLOP per element, ``Softmax`` is 5 per element. The forward pass ``model(x, training=False)`` is traced
with ``tf.function`` at a fixed batch size and ``tf.compat.v1.profiler.profile(..., float_operation())``
counts the traced graph. On its own the profiler's number is wrong for these models in three ways,
each corrected here and reported separately:

1. ``Einsum`` has no FLOP rule in the profiler, so it counts 0. Keras ``MultiHeadAttention`` computes
   the attention scores ``QKᵀ`` and the weighted sum ``AV`` with ``Einsum`` (its projections are
   ``BatchMatMulV2`` and are counted). Added analytically: for a two-operand einsum,
   ``2 · Π(size of every distinct index)`` when some index is summed over, else ``Π`` (one multiply
   per output element); a one-operand einsum counts one add per input element if it reduces.
2. ``while`` loops (Keras ``LSTM``/``GRU`` on CPU run their time steps in a ``While`` op whose body is
   a separate function) are not entered: none of the T steps is counted. Worse, Keras computes the
   cell once outside the loop only to learn its output shape (``output_time_zero``); that dead step
   *is* counted. Fixed: ops the outputs do not depend on (found with
   ``tf.compat.v1.graph_util.extract_sub_graph``) are removed, and each ``While`` body is counted by
   the same rules, times its trip count (its static ``maximum_iterations``, which Keras sets to T).
   ``PartitionedCall``-style calls are entered once; ``If``/``Case`` count their costliest branch.
3. Some element-wise math ops have no rule: ``Tanh``, ``Sigmoid``, ``Exp``, ``Erf``, ``Sqrt``,
   ``Relu``, ... (:data:`UNARY_OPS`): added at 1 FLOP per output element; ``Max``/``Min``/``Prod``
   reductions at 1 FLOP per input element (floating-point ones only).

Not counted (0 FLOPs): data movement and bookkeeping (``Reshape``, ``Transpose``, ``Gather``,
``ConcatV2``, ``Select``/``SelectV2`` masking, ``Cast``, logical ops, tensor lists), as in the
profiler. An op whose shapes are not fully known cannot be counted; if that op is a matrix product,
:func:`flops_breakdown` raises rather than return a number that is silently too small.
"""

from __future__ import annotations

import math
import time
from fractions import Fraction

import numpy as np

from har_tf.errors import InvalidInputError, expect

UNARY_OPS = frozenset(
    {
        "Tanh",
        "Sigmoid",
        "Exp",
        "Expm1",
        "Log1p",
        "Erf",
        "Erfc",
        "Sqrt",
        "Relu",
        "Relu6",
        "LeakyRelu",
        "Elu",
        "Selu",
        "Softplus",
        "Softsign",
        "Abs",
        "Sign",
        "Floor",
        "Ceil",
        "Round",
        "Sin",
        "Cos",
        "Tan",
        "Atan",
        "Inv",
        "Gelu",
    }
)
"""Element-wise math ops the profiler has no FLOP rule for: 1 FLOP per output element here."""

REDUCTION_OPS = frozenset({"Max", "Min", "Prod"})
"""Reductions the profiler has no FLOP rule for: 1 FLOP per input element here."""

_MATRIX_OPS = frozenset(
    {"MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "Einsum", "Conv2D", "Conv3D", "DepthwiseConv2dNative"}
)
_CALL_OPS = frozenset({"PartitionedCall", "StatefulPartitionedCall"})
_WHILE_OPS = frozenset({"While", "StatelessWhile"})
_BRANCH_OPS = frozenset({"If", "StatelessIf", "Case", "StatelessCase"})


# ---------------------------------------------------------------------------------------------- sizes
def count_params(model) -> int:
    """Number of weights (trainable and not) of a built Keras model."""
    return int(model.count_params())


def _input_spec(model, batch_size: int):
    import tensorflow as tf

    expect(
        isinstance(batch_size, int) and batch_size >= 1, f"batch_size must be a positive integer, got {batch_size!r}"
    )
    shape = model.input_shape
    expect(
        isinstance(shape, tuple) and len(shape) >= 2 and all(isinstance(d, int) for d in shape[1:]),
        f"the model must take one input whose shape is fixed but for the batch, e.g. (B, T, J, C); "
        f"got input shape {shape}",
    )
    return tf.TensorSpec((batch_size,) + shape[1:], tf.float32)


def random_poses(shape, seed: int = 0) -> np.ndarray:
    """Valid poses of ``shape`` (..., C): x, y in [0, 1), confidence in [0.2, 1) when C >= 3."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, shape).astype(np.float32)
    if shape[-1] >= 3:
        x[..., 2] = rng.uniform(0.2, 1.0, shape[:-1])
    return x


# ---------------------------------------------------------------------------------------------- FLOPs
def _num_elements(shape) -> int | None:
    if shape.rank is None or not shape.is_fully_defined():
        return None
    return math.prod(int(d) for d in shape)


def _registry_flops(graph, op) -> int | None:
    """FLOPs the profiler assigns to ``op`` (its own per-op rule); None when shapes are unknown."""
    from tensorflow.python.framework import ops as tf_ops

    try:
        stats = tf_ops.get_stats_for_node_def(graph, op.node_def, "flops")
    except ValueError:  # the profiler skips such ops too ("incomplete shapes")
        return None
    return int(stats.value) if stats and stats.value else 0


def einsum_flops(equation: str, shapes) -> int:
    """FLOPs of ``einsum(equation, *operands)`` with operand ``shapes`` (see the module docstring)."""
    equation = equation.replace(" ", "")
    expect("->" in equation, f"only explicit einsum equations ('...->...') are supported, got {equation!r}")
    lhs, out = equation.split("->")
    terms = lhs.split(",")
    expect(
        len(terms) == len(shapes) and len(terms) in (1, 2),
        f"einsum {equation!r}: expected 1 or 2 operands matching the equation, got {len(shapes)}",
    )
    sizes: dict[str, int] = {}
    out_ellipsis = 0
    for term, shape in zip(terms, shapes):
        shape = [int(d) for d in shape]
        if "..." in term:
            head, tail = term.split("...")
            n = len(shape) - len(head) - len(tail)
            out_ellipsis = max(out_ellipsis, n)
            labels = list(head) + [f"...{i}" for i in range(out_ellipsis - n, out_ellipsis)] + list(tail)
        else:
            labels = list(term)
        expect(len(labels) == len(shape), f"einsum {equation!r}: operand rank {len(shape)} does not match {term!r}")
        for label, size in zip(labels, shape):
            sizes[label] = max(sizes.get(label, 1), size)
    out_labels = set(out.replace("...", "")) | {k for k in sizes if k.startswith("...")}
    reduces = any(k not in out_labels for k in sizes)
    macs = math.prod(sizes.values())
    if len(terms) == 1:
        return macs if reduces else 0
    return 2 * macs if reduces else macs


def _function_graph(graph, name: str):
    fn = graph._get_function(name)  # noqa: SLF001 - the only way to reach a traced function body's graph
    expect(fn is not None, f"function {name!r} not found in the traced graph")
    return fn.graph


def _static_int(tensor) -> int | None:
    import tensorflow as tf

    value = tf.get_static_value(tensor)
    if value is None and tensor.op.type in ("Max", "Min", "Identity"):
        inner = tf.get_static_value(tensor.op.inputs[0])
        if inner is not None:
            value = np.max(inner) if tensor.op.type != "Min" else np.min(inner)
    if value is None or np.size(value) != 1:
        return None
    return int(np.asarray(value).reshape(-1)[0])


def _trip_count(op) -> int:
    """Iterations of a while_v2 ``While`` op: its static ``maximum_iterations`` (second input)."""
    trips = _static_int(op.inputs[1]) if len(op.inputs) > 1 else None
    expect(
        trips is not None and trips >= 0,
        f"cannot tell how many times the loop {op.name!r} runs (no static maximum_iterations); "
        "its FLOPs cannot be counted",
    )
    return trips


def _empty() -> dict:
    return {"registered": 0, "einsum": 0, "elementwise_extra": 0, "loop_bodies": 0, "calls": 0}


def _count_graph(graph, live: set[str] | None = None) -> tuple[dict, dict]:
    """Per-source FLOPs of the ``live`` ops of ``graph`` (all ops if None), and the dead ops' registry FLOPs."""
    counts, dead = _empty(), {"registered": 0}
    for op in graph.get_operations():
        kind = op.type
        registered = _registry_flops(graph, op)
        if live is not None and op.name not in live:
            dead["registered"] += registered or 0
            continue
        if registered is None and kind in _MATRIX_OPS:
            raise InvalidInputError(
                f"op {op.name!r} ({kind}) has shapes that are not fully known, its FLOPs cannot be counted"
            )
        if registered:
            counts["registered"] += registered
        elif kind == "Einsum":
            shapes = [t.shape for t in op.inputs]
            counts["einsum"] += einsum_flops(op.get_attr("equation").decode(), shapes)
        elif kind in UNARY_OPS | REDUCTION_OPS and not op.outputs[0].dtype.is_floating:
            continue  # integer bookkeeping (e.g. the max over a loop's lengths), not arithmetic on data
        elif kind in UNARY_OPS:
            counts["elementwise_extra"] += _num_elements(op.outputs[0].shape) or 0
        elif kind in REDUCTION_OPS:
            counts["elementwise_extra"] += _num_elements(op.inputs[0].shape) or 0
        elif kind in _WHILE_OPS:
            body, _ = _count_graph(_function_graph(graph, op.node_def.attr["body"].func.name))
            counts["loop_bodies"] += _trip_count(op) * sum(body.values())
        elif kind in _CALL_OPS:
            inner, _ = _count_graph(_function_graph(graph, op.node_def.attr["f"].func.name))
            counts["calls"] += sum(inner.values())
        elif kind in _BRANCH_OPS:
            names = (
                [op.node_def.attr[k].func.name for k in ("then_branch", "else_branch")]
                if "If" in kind
                else [f.name for f in op.node_def.attr["branches"].list.func]
            )
            counts["calls"] += max(sum(_count_graph(_function_graph(graph, n))[0].values()) for n in names)
    return counts, dead


def _trace(model, batch_size: int):
    import tensorflow as tf

    spec = _input_spec(model, batch_size)
    return tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)


def flops_breakdown(model, batch_size: int = 1) -> dict:
    """FLOPs of one forward pass of ``model`` on a batch of ``batch_size``, with where they come from.

    Keys: ``total`` (the number to use), ``profiler_total`` (what ``tf.compat.v1.profiler`` reports on
    the traced graph), ``profiler_dead_code`` (counted by the profiler for ops the output does not
    depend on; removed), ``einsum`` (added: attention ``QKᵀ`` and ``AV``), ``elementwise_extra``
    (added: tanh, sigmoid, exp, erf, ...), ``loop_bodies`` (added: ``While`` bodies × trip count, e.g.
    the LSTM time steps), ``calls`` (added: called functions), ``total = profiler_total -
    profiler_dead_code + einsum + elementwise_extra + loop_bodies + calls``.
    """
    import tensorflow as tf

    concrete = _trace(model, batch_size)
    graph = concrete.graph
    options = (
        tf.compat.v1.profiler.ProfileOptionBuilder(tf.compat.v1.profiler.ProfileOptionBuilder.float_operation())
        .with_empty_output()
        .build()
    )
    profiler_total = int(tf.compat.v1.profiler.profile(graph, options=options).total_float_ops)
    outputs = sorted({t.op.name for t in concrete.outputs})
    live = {node.name for node in tf.compat.v1.graph_util.extract_sub_graph(graph.as_graph_def(), outputs).node}
    counts, dead = _count_graph(graph, live)
    if counts["registered"] + dead["registered"] != profiler_total:  # the profiler's rule is the registry's
        raise RuntimeError(
            f"per-op FLOPs ({counts['registered']} live + {dead['registered']} dead) do not add up "
            f"to the profiler's total {profiler_total}: TensorFlow changed how it counts"
        )
    total = sum(counts.values())
    return {
        "total": int(total),
        "profiler_total": profiler_total,
        "profiler_dead_code": int(dead["registered"]),
        **{k: int(v) for k, v in counts.items() if k != "registered"},
        "batch_size": batch_size,
    }


def model_flops(model, batch_size: int = 1) -> int:
    """FLOPs of one forward pass (``training=False``) on a batch of ``batch_size``; see :func:`flops_breakdown`."""
    return flops_breakdown(model, batch_size)["total"]


def attention_flops(num_frames: int, num_joints: int, hidden_dim: int, num_sub_blocks: int, factorized: bool) -> int:
    """Analytic FLOPs of the attention-score (``QKᵀ``) and weighted-sum (``AV``) matmuls, one clip.

    A sub-block attending over sequences of length L costs ``2 · (2 · L · L · D)`` per sequence
    (summed over heads, ``D = hidden_dim``). Full attention: 1 sequence of ``T·J`` tokens per
    sub-block. Factorized: ``num_sub_blocks`` must be even, half spatial (T sequences of J joints),
    half temporal (J sequences of T frames). Hence per spatial + temporal pair ``4·T·J·D·(T + J)``
    against ``4·T²·J²·D`` per full sub-block:

    - one full sub-block per factorized pair (``num_sub_blocks`` n vs 2n): ratio ``T·J / (T + J)``;
    - equal sub-block counts (as FullAttentionTransformer vs PoseFormerFactorized, 2 per layer each):
      ratio ``2·T·J / (T + J)`` (see :func:`attention_flops_ratio`).
    """
    for name, value in (
        ("num_frames", num_frames),
        ("num_joints", num_joints),
        ("hidden_dim", hidden_dim),
        ("num_sub_blocks", num_sub_blocks),
    ):
        expect(isinstance(value, int) and value >= 1, f"{name} must be a positive integer, got {value!r}")
    t, j, d = num_frames, num_joints, hidden_dim
    if not factorized:
        return num_sub_blocks * 4 * (t * j) ** 2 * d
    expect(
        num_sub_blocks % 2 == 0,
        f"a factorized model has spatial + temporal pairs: num_sub_blocks must be even, got {num_sub_blocks}",
    )
    pairs = num_sub_blocks // 2
    return pairs * (t * 4 * j * j * d + j * 4 * t * t * d)


def attention_flops_ratio(
    num_frames: int, num_joints: int, full_sub_blocks: int = 1, factorized_sub_blocks: int = 2
) -> Fraction:
    """Exact full/factorized attention FLOPs ratio: ``(full / (factorized / 2)) · T·J / (T + J)``."""
    t, j = num_frames, num_joints
    return Fraction(full_sub_blocks * 2, factorized_sub_blocks) * Fraction(t * j, t + j)


def num_attention_sub_blocks(model) -> int:
    """Attention sub-blocks (Keras ``MultiHeadAttention`` layers) in a model, searched recursively."""
    import keras

    layers = model._flatten_layers(include_self=False, recursive=True)  # noqa: SLF001 - Keras' own walk
    return sum(isinstance(layer, keras.layers.MultiHeadAttention) for layer in layers)


# -------------------------------------------------------------------------------------------- latency
class LatencyBudgetExceeded(RuntimeError):
    """Raised by :func:`measure_latency` when the timed runs would exceed ``max_seconds``."""

    def __init__(self, estimated_s: float, max_seconds: float):
        super().__init__(f"estimated {estimated_s:.3g} s > {max_seconds:g} s")
        self.estimated_s, self.max_seconds = estimated_s, max_seconds


def time_calls(call, runs: int = 50, warmup: int = 5) -> dict:
    """Median, p95, mean and min wall-clock milliseconds of ``runs`` calls of ``call()`` after
    ``warmup`` untimed ones; ``call`` must wait for its result (e.g. return NumPy)."""
    for _ in range(max(warmup, 0)):
        call()
    times = np.empty(runs)
    for i in range(runs):
        start = time.perf_counter()
        call()
        times[i] = time.perf_counter() - start
    ms = times * 1e3
    return {
        "median_ms": float(np.median(ms)),
        "p95_ms": float(np.percentile(ms, 95)),
        "mean_ms": float(ms.mean()),
        "min_ms": float(ms.min()),
        "runs": int(runs),
        "warmup": int(warmup),
    }


def measure_latency(
    model,
    batch_size: int,
    runs: int = 50,
    warmup: int = 5,
    device: str = "/CPU:0",
    seed: int = 0,
    max_seconds: float | None = None,
) -> dict:
    """Wall-clock latency of ``model(x, training=False)`` on a batch of random valid poses.

    The call runs inside a ``tf.function`` traced once for this batch shape; ``warmup`` calls (at
    least 1, the first traces) are made and discarded, then ``runs`` calls are timed one by one (each
    waits for its result). With ``max_seconds`` (and then at least 2 warm-up calls),
    :class:`LatencyBudgetExceeded` is raised before timing when the last warm-up call times ``runs``
    exceeds it. Returns ``median_ms``, ``p95_ms``, ``mean_ms``,
    ``min_ms`` (per batch), ``runs``, ``warmup``, ``batch_size``, ``device``.
    """
    import tensorflow as tf

    expect(isinstance(runs, int) and runs >= 1, f"runs must be a positive integer, got {runs!r}")
    expect(isinstance(warmup, int) and warmup >= 0, f"warmup must be a non-negative integer, got {warmup!r}")
    spec = _input_spec(model, batch_size)
    with tf.device(device):
        x = tf.constant(random_poses(tuple(spec.shape), seed))
        forward = tf.function(lambda inputs: model(inputs, training=False), input_signature=[spec])
        calls = max(warmup, 2 if max_seconds is not None else 1)  # the first call traces: not an estimate
        for _ in range(calls):
            start = time.perf_counter()
            _ = np.asarray(forward(x))
            last = time.perf_counter() - start
        if max_seconds is not None and last * runs > max_seconds:
            raise LatencyBudgetExceeded(last * runs, max_seconds)
        timing = time_calls(lambda: np.asarray(forward(x)), runs, warmup=0)
    return {**timing, "warmup": calls, "batch_size": batch_size, "device": device}
