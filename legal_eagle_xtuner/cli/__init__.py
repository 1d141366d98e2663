"""The ``legal-eagle`` command: the top-level parser and :func:`main`.

Each command group lives in its own module (:mod:`~legal_eagle_xtuner.cli.data`,
:mod:`~legal_eagle_xtuner.cli.eval`, :mod:`~legal_eagle_xtuner.cli.run`); the
heavy modules behind a command are imported only when it runs. Imports every
stage (sources, data, train, eval, demo); nothing imports the CLI.
"""

from __future__ import annotations

import argparse
import warnings

from legal_eagle_xtuner.cli.data import add_data_parser
from legal_eagle_xtuner.cli.doctor import add_doctor_parser
from legal_eagle_xtuner.cli.eval import add_eval_parser
from legal_eagle_xtuner.cli.export import add_export_parser
from legal_eagle_xtuner.cli.law import add_law_parser
from legal_eagle_xtuner.cli.run import add_demo_parser, add_plot_parser, add_smoke_config_parser
from legal_eagle_xtuner.cli.web import add_web_parser

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="legal-eagle",
        description="Fine-tune InternLM / InternLM2 into Chinese legal assistants "
        "with XTuner.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    add_demo_parser(sub)
    add_smoke_config_parser(sub)
    add_data_parser(sub)
    add_doctor_parser(sub)
    add_eval_parser(sub)
    add_export_parser(sub)
    add_law_parser(sub)
    add_plot_parser(sub)
    add_web_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Upstream import-time deprecation notices (mmengine, torch) are not ours to
    # act on and drown the output.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    args = build_parser().parse_args(argv)
    return args.func(args)
