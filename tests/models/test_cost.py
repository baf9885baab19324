"""har_tf.models.cost: FLOPs checked by hand (Dense, MultiHeadAttention, LSTM), attention ratios, latency."""

from __future__ import annotations

import math
from fractions import Fraction

import keras
import pytest
from keras import layers

from har_tf.errors import InvalidInputError
from har_tf.models import FullAttentionTransformer, PoseFormerFactorized
from har_tf.models.cost import (
    LatencyBudgetExceeded,
    attention_flops,
    attention_flops_ratio,
    count_params,
    einsum_flops,
    flops_breakdown,
    measure_latency,
    model_flops,
    num_attention_sub_blocks,
)


def test_dense_flops_by_hand():
    batch, n_in, n_out = 3, 10, 7
    inputs = keras.Input((n_in,))
    model = keras.Model(inputs, layers.Dense(n_out)(inputs))
    # MatMul: a multiply-add per weight per example = 2 FLOPs; BiasAdd: 1 per output element.
    assert model_flops(model, batch) == 2 * n_in * n_out * batch + n_out * batch
    assert count_params(model) == n_in * n_out + n_out


def test_multi_head_attention_flops_by_hand():
    batch, length, dim, heads, key_dim = 2, 6, 8, 2, 4
    inputs = keras.Input((length, dim))
    model = keras.Model(inputs, layers.MultiHeadAttention(heads, key_dim)(inputs, inputs))
    width = heads * key_dim
    projections = 3 * (2 * batch * length * dim * width + batch * length * width)  # Q, K, V: matmul + bias
    scores = 2 * batch * heads * length * length * key_dim  # Q Kᵀ (an Einsum: the profiler alone counts 0)
    weighted_sum = 2 * batch * heads * length * length * key_dim  # A V (an Einsum too)
    scale_and_softmax = batch * heads * length * length * (1 + 5)  # 1/sqrt(d) multiply; softmax = 5 per element
    output = 2 * batch * length * width * dim + batch * length * dim  # output projection + bias
    breakdown = flops_breakdown(model, batch)
    assert breakdown["total"] == projections + scores + weighted_sum + scale_and_softmax + output
    assert breakdown["einsum"] == scores + weighted_sum
    assert breakdown["profiler_total"] == breakdown["total"] - breakdown["einsum"]  # what the profiler misses


def test_lstm_flops_by_hand_counts_every_time_step():
    batch, frames, n_in, units = 2, 5, 8, 6
    inputs = keras.Input((frames, n_in))
    model = keras.Model(inputs, layers.LSTM(units)(inputs))
    per_step = (
        2 * batch * n_in * 4 * units
        + 2 * batch * units * 4 * units  # input and recurrent matmuls
        + 2 * batch * 4 * units  # their sum and the bias
        + 9 * batch * units  # 3 sigmoid + 2 tanh + 3 multiplies + 1 add on the gates / cell
        + 2
    )  # the loop's two integer counters (the profiler counts scalar adds)
    breakdown = flops_breakdown(model, batch)
    assert breakdown["total"] == frames * per_step
    assert breakdown["loop_bodies"] == frames * per_step
    # The profiler alone sees one step, which is dead code (Keras runs it only to learn the output shape).
    assert breakdown["profiler_total"] == breakdown["profiler_dead_code"] > 0


def test_einsum_flops():
    assert einsum_flops("abc,cd->abd", [(2, 3, 4), (4, 5)]) == 2 * 2 * 3 * 4 * 5
    assert einsum_flops("ab,ab->ab", [(3, 4), (3, 4)]) == 12  # no sum: one multiply per element
    assert einsum_flops("abc->cba", [(2, 3, 4)]) == 0
    assert einsum_flops("...ij,...jk->...ik", [(7, 2, 3), (7, 3, 4)]) == 2 * 7 * 2 * 3 * 4
    with pytest.raises(InvalidInputError):
        einsum_flops("ab,bc", [(2, 3), (3, 4)])


@pytest.mark.parametrize("frames, joints", [(30, 17), (30, 25), (15, 17), (120, 17), (7, 3)])
def test_attention_flops_ratio_is_exact(frames, joints):
    full_one = attention_flops(frames, joints, 64, 1, factorized=False)
    pair = attention_flops(frames, joints, 64, 2, factorized=True)
    # One full-attention sub-block against one spatial + temporal pair: T·J / (T + J), exactly.
    assert Fraction(full_one, pair) == Fraction(frames * joints, frames + joints)
    assert Fraction(
        attention_flops(frames, joints, 32, 4, False), attention_flops(frames, joints, 32, 8, True)
    ) == Fraction(frames * joints, frames + joints)
    # Equal sub-block counts (the two models here): 2·T·J / (T + J).
    equal = Fraction(attention_flops(frames, joints, 64, 8, False), attention_flops(frames, joints, 64, 8, True))
    assert equal == 2 * Fraction(frames * joints, frames + joints) == attention_flops_ratio(frames, joints, 8, 8)
    assert full_one == 4 * (frames * joints) ** 2 * 64


def test_attention_flops_rejects_bad_arguments():
    with pytest.raises(InvalidInputError, match="even"):
        attention_flops(30, 17, 64, 3, factorized=True)
    with pytest.raises(InvalidInputError, match="num_frames"):
        attention_flops(0, 17, 64, 2, factorized=False)


@pytest.fixture(scope="module")
def micro_pair():
    factorized = PoseFormerFactorized.from_preset("micro", "coco17")
    full = FullAttentionTransformer.from_preset("micro", "coco17")
    return factorized, full


def test_whole_model_ratio_and_attention_share(micro_pair):
    factorized, full = micro_pair
    fac, ful = flops_breakdown(factorized), flops_breakdown(full)
    assert count_params(factorized) == count_params(full)
    blocks = num_attention_sub_blocks(factorized)
    assert blocks == num_attention_sub_blocks(full) == 2 * factorized.num_layers
    # The attention products are counted (as einsums, or as batch matmuls by TensorFlow's registry):
    # the full model costs at least the analytic attention difference more than the factorized one.
    att_fac = attention_flops(30, 17, factorized.hidden_dim, blocks, factorized=True)
    att_full = attention_flops(30, 17, full.hidden_dim, blocks, factorized=False)
    assert fac["total"] > att_fac and ful["total"] - fac["total"] >= att_full - att_fac
    ratio = ful["total"] / fac["total"]
    assert 1.0 < ratio < float(attention_flops_ratio(30, 17, blocks, blocks))
    assert model_flops(factorized, 2) == pytest.approx(2 * fac["total"], rel=1e-3)


def test_measure_latency_returns_positive_finite_numbers(micro_pair):
    factorized, _ = micro_pair
    result = measure_latency(factorized, batch_size=2, runs=3, warmup=1)
    assert result["runs"] == 3 and result["batch_size"] == 2
    for key in ("median_ms", "p95_ms", "mean_ms", "min_ms"):
        assert math.isfinite(result[key]) and result[key] > 0
    assert result["min_ms"] <= result["median_ms"] <= result["p95_ms"]
    with pytest.raises(LatencyBudgetExceeded):
        measure_latency(factorized, batch_size=1, runs=1000, warmup=1, max_seconds=1e-6)
    with pytest.raises(InvalidInputError):
        measure_latency(factorized, batch_size=0, runs=1)
