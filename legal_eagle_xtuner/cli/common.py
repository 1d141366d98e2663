"""Argument types and error printing shared by the ``legal-eagle`` commands."""

from __future__ import annotations

import argparse
import sys


def _err(command: str, message) -> None:
    print(f"legal-eagle data {command}: {message}", file=sys.stderr)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or a positive integer, got {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):  # also NaN
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}")
    return value


def _progress(args):
    # None: a bar only on a terminal; --no-progress: never.
    return False if args.no_progress else None


def _print_err(line: str) -> None:
    print(line, file=sys.stderr)


def _eval_err(command: str, message) -> None:
    print(f"legal-eagle eval {command}: {message}", file=sys.stderr)

