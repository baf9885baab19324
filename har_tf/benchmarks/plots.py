"""The all-in-one run's figures (matplotlib, Agg backend, PNG): latency against T, latency by model and
format, the streaming stages, training throughput."""

from __future__ import annotations

from pathlib import Path

FORMAT_ORDER = ("keras", "savedmodel", "tflite_fp32", "tflite_fp16", "tflite_int8", "tflite_int8_full")
SHORT_NAMES = {
    "poseformer_micro": "factorized\nmicro",
    "poseformer_small": "factorized\nsmall",
    "poseformer_base": "factorized\nbase",
    "full_attention_small": "full attention\nsmall",
    "lstm_lite": "LSTM-lite",
    "ddnet": "DD-Net",
    "fusion": "fusion",
    "image_only": "image-only",
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def plot_frames_sweep(sweep: list[dict], preset: str, path: Path) -> Path:
    """Latency per clip (batch 1, median with p95 above) against T, factorized vs full attention."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for kind, label, colour in (
        ("factorized", "PoseFormerFactorized", "tab:blue"),
        ("full", "FullAttentionTransformer", "tab:red"),
    ):
        points = [
            (p["num_frames"], p[kind]["median_ms_per_clip"], p[kind]["p95_ms_per_clip"])
            for p in sweep
            if p[kind].get("median_ms_per_clip") is not None
        ]
        if not points:
            continue
        t, median, p95 = zip(*points)
        ax.errorbar(
            t,
            median,
            yerr=[[0] * len(t), [b - a for a, b in zip(median, p95)]],
            marker="o",
            capsize=3,
            label=label,
            color=colour,
        )
    ax.set_xlabel("T (frames per clip)")
    ax.set_ylabel("ms per clip, batch 1 (median, bar to p95)")
    ax.set_yscale("log")
    ax.set_xticks([p["num_frames"] for p in sweep])
    ax.set_title(f"Latency against T (J = {sweep[0]['num_joints'] if sweep else '?'}, {preset} preset)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return _save(fig, path)


def plot_model_latency(models: list[dict], path: Path, batch: int = 1) -> Path:
    """Grouped bars: each model's latency per clip at ``batch`` in each measured format (log scale)."""
    from har_tf.benchmarks.export import FORMAT_NAMES

    plt = _pyplot()
    formats = [f for f in FORMAT_ORDER if any(f"batch_{batch}" in m["formats"].get(f, {}) for m in models)]
    colours = dict(zip(formats, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    fig, ax = plt.subplots(figsize=(max(7, 1.3 * len(models)), 4.5))
    width = 0.8 / max(len(formats), 1)
    labelled = set()
    for j, m in enumerate(models):  # each model's measured formats side by side, centred on its tick
        values = [
            (f, m["formats"][f][f"batch_{batch}"]["median_ms_per_clip"])
            for f in formats
            if (m["formats"].get(f, {}).get(f"batch_{batch}") or {}).get("median_ms_per_clip")
        ]
        for i, (fmt, value) in enumerate(values):
            ax.bar(
                j + (i - (len(values) - 1) / 2) * width,
                value,
                width,
                color=colours[fmt],
                label=None if fmt in labelled else FORMAT_NAMES[fmt],
            )
            labelled.add(fmt)
    ax.set_xticks(range(len(models)))
    ax.set_xticklabels([SHORT_NAMES.get(m.get("key"), m["model"]) for m in models], fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel(f"ms per clip, batch {batch} (median)")
    ax.set_title(f"CPU latency per clip at batch {batch}, by model and format")
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_streaming(stream: dict, path: Path) -> Path:
    """One stacked bar: the mean ms per frame of each streaming stage, with the median frame marked."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 2.0))
    left = 0.0
    for stage, colour in zip(
        ("decode", "pose", "embed", "classify"), ("tab:gray", "tab:blue", "tab:orange", "tab:green")
    ):
        value = stream["stage_ms_per_frame"].get(stage, 0.0)
        ax.barh([0], [value], left=left, color=colour, label=f"{stage} {value:.1f} ms")
        left += value
    ax.axvline(stream["median_ms"], color="black", linestyle="--", label=f"median frame {stream['median_ms']:.1f} ms")
    ax.axvline(stream["p95_ms"], color="black", linestyle=":", label=f"p95 {stream['p95_ms']:.1f} ms")
    ax.set_yticks([])
    ax.set_xlabel("ms per frame (stages: mean per frame)")
    ax.set_title(f"Streaming {stream['video']}: {stream['embedder']} embedder, stride {stream['stride']}")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return _save(fig, path)


def plot_training(rows: list[dict], path: Path) -> Path:
    """Bars: training samples per second of each measured stage / path / phase."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    labels = [r["label"] for r in rows]
    values = [r["samples_per_second"] for r in rows]
    bars = ax.bar(range(len(rows)), values, color="tab:blue")
    ax.bar_label(bars, labels=[f"{v:.0f}" for v in values], fontsize=8)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([label.replace(", ", "\n") for label in labels], fontsize=7)
    ax.set_ylabel("samples per second")
    ax.set_title("Training throughput (batch 32)")
    return _save(fig, path)
