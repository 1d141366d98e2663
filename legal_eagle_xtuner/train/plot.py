"""Training curves from a run's scalar log: ``legal-eagle plot WORK_DIR``.

mmengine's ``LocalVisBackend`` writes one JSON object a line to
``WORK_DIR/<timestamp>/vis_data/scalars.json``: training rows (``loss``,
``lr``, ``grad_norm``, ``tokens_per_sec``, ... with ``step``) every logging
interval, and validation rows (``val_loss`` from
:mod:`legal_eagle_xtuner.train.validation`) after each validation. A resumed run
starts a new timestamp directory; :func:`read_scalars` merges them in order,
a later run's value for a step replacing an earlier one's.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PlotError", "RunScalars", "auto_smoothing", "ema", "plot_run", "read_scalars", "summary_lines"]


class PlotError(Exception):
    """A work directory without a usable scalar log; the text is for users."""


@dataclass
class RunScalars:
    """The scalar series of one training run, each sorted by step."""

    train: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    """Training scalars (``loss``, ``lr``, ``grad_norm``, ...): name -> (step, value)."""
    val: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    """Validation scalars (``val_loss``, ``val_ppl``): name -> (step, value)."""
    files: list[Path] = field(default_factory=list)
    """The scalar logs read, oldest first."""
    skipped: list[str] = field(default_factory=list)
    """``FILE:LINE: why`` for each line that could not be used."""


def read_scalars(work_dir) -> RunScalars:
    """Read and merge every ``scalars.json`` under ``work_dir``."""
    work_dir = Path(work_dir)
    if not work_dir.is_dir():
        raise PlotError(f"{work_dir}: no such directory")
    files = sorted(work_dir.glob("*/vis_data/scalars.json"))
    if not files and (work_dir / "vis_data" / "scalars.json").is_file():
        files = [work_dir / "vis_data" / "scalars.json"]  # a timestamp dir itself
    if not files:
        raise PlotError(f"{work_dir}: no */vis_data/scalars.json; pass the --work-dir "
                        "of an `xtuner train` run")
    run = RunScalars(files=files)
    merged: dict[str, dict[str, dict[int, float]]] = {"train": {}, "val": {}}
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    run.skipped.append(f"{path}:{number}: not valid JSON (a run killed "
                                       "while writing leaves a cut last line)")
                    continue
                if not isinstance(row, dict) or not isinstance(row.get("step"), (int, float)):
                    run.skipped.append(f"{path}:{number}: not a scalar row with a step")
                    continue
                step = int(row["step"])
                kind = "val" if any(k.startswith("val_") for k in row) else "train"
                for name, value in row.items():
                    if name == "step" or isinstance(value, bool) or \
                            not isinstance(value, (int, float)) or not math.isfinite(value):
                        continue
                    merged[kind].setdefault(name, {})[step] = float(value)
    run.train = {k: sorted(v.items()) for k, v in merged["train"].items()}
    run.val = {k: sorted(v.items()) for k, v in merged["val"].items()}
    if "loss" not in run.train:
        raise PlotError(f"{work_dir}: the scalar log has no training loss yet "
                        f"({', '.join(map(str, files))})")
    return run


def ema(values: list[float], weight: float) -> list[float]:
    """TensorBoard's smoothing: an exponential moving average with weight
    ``weight`` (0 = raw), debiased so that the first points are not pulled
    towards zero."""
    if not 0 <= weight < 1:
        raise ValueError(f"smoothing weight must be in [0, 1), got {weight}")
    out, last = [], 0.0
    for i, value in enumerate(values, 1):
        last = last * weight + (1 - weight) * value
        out.append(last / (1 - weight**i))
    return out


def auto_smoothing(points: int) -> float:
    """A smoothing weight whose window is about a twentieth of the curve
    (0 for short curves, at most 0.95)."""
    return max(0.0, min(0.95, 1 - 20 / points)) if points else 0.0


def summary_lines(run: RunScalars, smoothing: float | None = None) -> list[str]:
    """What the curves say, in words."""
    steps, loss = zip(*run.train["loss"])
    if smoothing is None:
        smoothing = auto_smoothing(len(loss))
    smooth = ema(list(loss), smoothing)
    lines = [f"training loss: {len(loss)} points, iterations {steps[0]}-{steps[-1]}: "
             f"{loss[0]:.4f} -> {loss[-1]:.4f} (smoothed {smooth[0]:.4f} -> {smooth[-1]:.4f})"]
    if "val_loss" in run.val:
        points = run.val["val_loss"]
        best_step, best = min(points, key=lambda p: (p[1], p[0]))
        lines.append(f"validation loss: {len(points)} points: {points[0][1]:.4f} -> "
                     f"{points[-1][1]:.4f}; best {best:.4f} at iteration {best_step}")
    else:
        lines.append("validation loss: none logged (val_size = 0, or no validation yet)")
    return lines


def plot_run(run: RunScalars, out, *, smoothing: float | None = None,
             title: str | None = None) -> Path:
    """Draw loss (raw, smoothed, validation), learning rate and gradient norm
    to ``out`` (any format matplotlib writes: .png, .svg, .pdf). ``smoothing``
    is the EMA weight; ``None`` picks :func:`auto_smoothing`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 2 + ("grad_norm" in run.train)
    fig, axes = plt.subplots(panels, 1, figsize=(9, 3.2 * panels), sharex=True,
                             gridspec_kw={"height_ratios": [2] + [1] * (panels - 1)})
    steps, loss = zip(*run.train["loss"])
    if smoothing is None:
        smoothing = auto_smoothing(len(loss))
    ax = axes[0]
    ax.plot(steps, loss, color="tab:blue", alpha=0.3, linewidth=1, label="training loss")
    ax.plot(steps, ema(list(loss), smoothing), color="tab:blue", linewidth=2,
            label=f"training loss (smoothed, {smoothing:.2g})")
    if "val_loss" in run.val:
        vsteps, vloss = zip(*run.val["val_loss"])
        ax.plot(vsteps, vloss, "o-", color="tab:red", linewidth=2, label="validation loss")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    if title:
        ax.set_title(title)
    if "lr" in run.train:
        lsteps, lr = zip(*run.train["lr"])
        axes[1].plot(lsteps, lr, color="tab:green")
    axes[1].set_ylabel("learning rate")
    axes[1].ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    axes[1].grid(alpha=0.3)
    if panels == 3:
        gsteps, grad = zip(*run.train["grad_norm"])
        axes[2].plot(gsteps, grad, color="tab:purple", linewidth=1)
        axes[2].set_ylabel("grad norm")
        axes[2].grid(alpha=0.3)
    axes[-1].set_xlabel("iteration (micro-batch)")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
