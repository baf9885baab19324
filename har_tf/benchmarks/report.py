"""Markdown tables, number formats and atomic text files for the benchmark reports."""

from __future__ import annotations

from pathlib import Path


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file renamed into place)."""
    from har_tf.io import atomic_write

    with atomic_write(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def si(value: float | None, unit: str = "") -> str:
    """``1.23e9`` -> ``"1.23 G<unit>"``; None -> ``"—"``."""
    if value is None:
        return "—"
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}".strip()


def ms(entry: dict | None) -> str:
    """``"median (p95)"`` ms per clip of a latency entry; ``"—"`` when not measured."""
    if not entry or entry.get("median_ms_per_clip") is None:
        return "—"
    return f"{number(entry['median_ms_per_clip'])} ({number(entry['p95_ms_per_clip'])})"


def number(value: float) -> str:
    """Three significant digits, without an exponent up to 10⁶ (``1234.5`` -> ``"1235"``)."""
    return f"{value:.0f}" if 1000 <= abs(value) < 1e6 else f"{value:.3g}"


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b``, or None when either is missing or ``b`` is 0."""
    return None if a is None or b is None or b == 0 else a / b


def times(value: float | None) -> str:
    """``2.5`` -> ``"2.5×"``; None -> ``"—"``."""
    return "—" if value is None else f"{value:.3g}×"


def mb(num_bytes: float | None) -> str:
    """Bytes as ``"1.23 MB"``; None -> ``"—"``."""
    return "—" if num_bytes is None else f"{num_bytes / 1e6:.2f} MB"


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
