"""`legal-eagle plot`: reading a run's scalar log and drawing it."""

import json

import pytest

from legal_eagle_xtuner.cli import main
from legal_eagle_xtuner.train.plot import PlotError, ema, read_scalars, summary_lines


def _log(work, stamp, rows, tail=""):
    path = work / stamp / "vis_data" / "scalars.json"
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + tail, encoding="utf-8")
    return path


@pytest.fixture
def resumed_run(tmp_path):
    work = tmp_path / "work"
    # first run: iterations 10..40, validated at 20, killed while writing
    _log(work, "20261126_010000", [
        {"lr": 1e-4, "loss": 3.0, "grad_norm": 2.0, "step": 10},
        {"lr": 2e-4, "loss": 2.8, "grad_norm": 1.5, "step": 20},
        {"val_loss": 2.9, "val_ppl": 18.17, "val_tokens": 100, "step": 20},
        {"lr": 2e-4, "loss": 2.7, "grad_norm": 1.2, "step": 30},
        {"lr": 2e-4, "loss": 9.9, "grad_norm": 1.1, "step": 40},
    ], tail='{"lr": 2e-4, "lo')
    # resumed from iteration 30: its step 40 replaces the lost run's
    _log(work, "20261126_020000", [
        {"lr": 1.5e-4, "loss": 2.5, "grad_norm": 1.0, "step": 40},
        {"val_loss": 2.6, "val_ppl": 13.46, "val_tokens": 100, "step": 40},
    ])
    return work


def test_read_scalars_merges_resumed_runs(resumed_run):
    run = read_scalars(resumed_run)
    assert run.train["loss"] == [(10, 3.0), (20, 2.8), (30, 2.7), (40, 2.5)]
    assert run.train["lr"][-1] == (40, 1.5e-4)
    assert run.val["val_loss"] == [(20, 2.9), (40, 2.6)]
    assert "val_loss" not in run.train and "loss" not in run.val
    assert len(run.skipped) == 1
    assert run.skipped[0].endswith("scalars.json:6: not valid JSON (a run killed while "
                                   "writing leaves a cut last line)")


def test_ema_is_debiased():
    assert ema([4.0, 4.0, 4.0], 0.9) == pytest.approx([4.0, 4.0, 4.0])
    # second point: (0.09 * 4 + 0.1 * 2) / (1 - 0.81) = 0.56 / 0.19
    assert ema([4.0, 2.0], 0.9) == pytest.approx([4.0, 0.56 / 0.19])
    assert ema([1.0, 5.0], 0.0) == [1.0, 5.0]
    with pytest.raises(ValueError):
        ema([1.0], 1.0)


def test_auto_smoothing_window_is_a_twentieth_of_the_curve():
    from legal_eagle_xtuner.train.plot import auto_smoothing

    assert auto_smoothing(10) == 0.0
    assert auto_smoothing(100) == pytest.approx(0.8)  # window 1 / (1 - w) = 5 points
    assert auto_smoothing(5000) == 0.95


def test_summary_lines(resumed_run):
    lines = summary_lines(read_scalars(resumed_run), 0.0)
    assert lines == [
        "training loss: 4 points, iterations 10-40: 3.0000 -> 2.5000 "
        "(smoothed 3.0000 -> 2.5000)",
        "validation loss: 2 points: 2.9000 -> 2.6000; best 2.6000 at iteration 40",
    ]


def test_plot_command_writes_an_image(resumed_run, tmp_path, capsys):
    import matplotlib.image

    out = tmp_path / "curves" / "loss.png"
    assert main(["plot", str(resumed_run), "-o", str(out), "--title", "run"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[-1] == f"wrote {out}"
    assert "scalars.json:6: not valid JSON" in captured.err
    image = matplotlib.image.imread(out)
    assert image.ndim == 3 and image.shape[0] > 300
    # default output: WORK_DIR/loss.png
    assert main(["plot", str(resumed_run)]) == 0
    assert (resumed_run / "loss.png").is_file()


def test_plot_errors(tmp_path, capsys):
    assert main(["plot", str(tmp_path / "nope")]) == 1
    assert capsys.readouterr().err.strip() == \
        f"legal-eagle plot: {tmp_path / 'nope'}: no such directory"
    assert main(["plot", str(tmp_path)]) == 1
    assert "no */vis_data/scalars.json" in capsys.readouterr().err
    _log(tmp_path, "x", [{"val_loss": 1.0, "step": 5}])
    with pytest.raises(PlotError, match="no training loss yet"):
        read_scalars(tmp_path)
