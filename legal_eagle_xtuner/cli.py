"""The ``legal-eagle`` command."""

from __future__ import annotations

import argparse
import sys
import warnings


def _demo(args) -> int:
    from .demo import StepFailed, run_demo

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
    from .smoke import SmokeOverrides, derive_smoke_config

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
                           max_iters=args.max_iters, max_length=args.max_length),
        )
    except (FileNotFoundError, ValueError) as exc:
        print(f"legal-eagle smoke-config: {exc}", file=sys.stderr)
        return 1
    print(out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="legal-eagle",
        description="Fine-tune InternLM / InternLM2 into Chinese legal assistants "
        "with XTuner.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

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
    smoke.set_defaults(func=_smoke_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Upstream import-time deprecation notices (mmengine, torch) are not ours to
    # act on and drown the output.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
