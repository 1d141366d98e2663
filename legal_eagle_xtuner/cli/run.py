"""``legal-eagle demo``, ``smoke-config`` and ``plot``: try, smoke-test, chart runs."""

from __future__ import annotations

import sys
from pathlib import Path

from legal_eagle_xtuner.cli.common import _positive_int


def _demo(args) -> int:
    from legal_eagle_xtuner.demo import StepFailed, run_demo

    try:
        result = run_demo(args.work_dir, max_new_tokens=args.max_new_tokens)
    except StepFailed as exc:
        print(f"legal-eagle demo: {exc}", file=sys.stderr)
        return 1
    print(f"done in {result.seconds:.0f} s; "
          f"loss {result.losses[0]:.3f} -> {result.losses[-1]:.3f}" if result.losses
          else f"done in {result.seconds:.0f} s")
    print(f"adapter: {result.adapter_dir}")
    return 0


def _smoke_config(args) -> int:
    from legal_eagle_xtuner.train.smoke import SmokeOverrides, derive_smoke_config

    data = {}
    for item in args.data or []:
        old, sep, new = item.partition("=")
        if not sep:
            print(f"legal-eagle smoke-config: --data expects OLD=NEW, got {item!r}",
                  file=sys.stderr)
            return 2
        data[old] = new
    try:
        out = derive_smoke_config(
            args.config,
            args.output,
            SmokeOverrides(model_path=args.model, data_files=data,
                           max_iters=args.max_iters, max_length=args.max_length,
                           val_size=args.val_size),
        )
    except (FileNotFoundError, ValueError) as exc:
        print(f"legal-eagle smoke-config: {exc}", file=sys.stderr)
        return 1
    print(out)
    return 0


def _plot(args) -> int:
    from legal_eagle_xtuner.train.plot import PlotError, plot_run, read_scalars, summary_lines

    try:
        run = read_scalars(args.work_dir)
        out = args.output or str(Path(args.work_dir) / "loss.png")
        for line in run.skipped:
            print(f"warning: {line}", file=sys.stderr)
        for line in summary_lines(run, args.smoothing):
            print(line)
        plot_run(run, out, smoothing=args.smoothing, title=args.title)
    except (PlotError, ValueError, OSError) as exc:
        print(f"legal-eagle plot: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {out}")
    return 0


def add_demo_parser(sub) -> None:
    demo = sub.add_parser(
        "demo",
        help="train, convert and chat with a tiny model on the sample data "
        "(offline, CPU, ~2 min)",
        description="Build (and cache) a tiny random InternLM2, train a LoRA "
        "adapter on the packaged sample records with xtuner's training entry, "
        "convert it with pth_to_hf and ask it one legal question with xtuner's "
        "chat tool. The last line printed names the adapter directory.",
    )
    demo.add_argument("--work-dir", default="legal-eagle-demo",
                      help="where logs, checkpoints and the adapter go "
                      "(default: ./legal-eagle-demo)")
    demo.add_argument("--max-new-tokens", type=int, default=48,
                      help="length of the demo answer (default: 48)")
    demo.set_defaults(func=_demo)


def add_smoke_config_parser(sub) -> None:
    smoke = sub.add_parser(
        "smoke-config",
        help="derive a CPU smoke-run variant of a config",
        description="Write a copy of CONFIG that runs on CPU: every model path "
        "replaced by --model, quantization removed, fp32, AmpOptimWrapper "
        "replaced by OptimWrapper, gloo. Run it with `xtuner train`.",
    )
    smoke.add_argument("config", help="the training config")
    smoke.add_argument("-o", "--output", required=True, help="where to write it")
    smoke.add_argument("--model", required=True, help="local model directory")
    smoke.add_argument("--data", action="append", metavar="OLD=NEW",
                       help="replace a data path of the config (repeatable)")
    smoke.add_argument("--max-iters", type=int, help="stop after N iterations")
    smoke.add_argument("--max-length", type=int, help="shorter packs")
    smoke.add_argument("--val-size", type=_positive_int, default=2,
                       help="records held out of each data file for validation "
                       "(default: 2; the configs hold out hundreds)")
    smoke.set_defaults(func=_smoke_config)


def add_plot_parser(sub) -> None:
    plot = sub.add_parser(
        "plot", help="draw a run's loss, validation loss and learning rate",
        description="Read WORK_DIR/*/vis_data/scalars.json (all runs of a resumed "
        "training, merged) and draw training loss (raw and smoothed), validation loss, "
        "learning rate and gradient norm with matplotlib.")
    plot.add_argument("work_dir", metavar="WORK_DIR", help="the --work-dir of xtuner train")
    plot.add_argument("-o", "--output", help="image file (.png, .svg, .pdf; default: "
                      "WORK_DIR/loss.png)")
    plot.add_argument("--smoothing", type=float, default=None,
                      help="EMA weight of the smoothed curve, TensorBoard style, in [0, 1) "
                      "(default: a window of about 1/20 of the run, at most 0.95)")
    plot.add_argument("--title", help="figure title")
    plot.set_defaults(func=_plot)
