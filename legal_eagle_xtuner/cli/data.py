"""``legal-eagle data``: inspect, validate, convert, split and decontaminate corpora."""

from __future__ import annotations

import argparse

from legal_eagle_xtuner.cli.common import _count, _err, _positive_int, _print_err, _progress

# The names of legal_eagle_xtuner.sources, written out so that building the parser
# imports nothing heavy; tests/test_real_records.py checks they agree.
SOURCE_CHOICES = ("disc_pair", "disc_triplet", "lawgpt_52k", "lawgpt_92k", "conversation")


def note_lines(notes):
    from legal_eagle_xtuner.data.inspect import note_lines as lines

    return lines(notes)


def _data_inspect(args) -> int:
    from legal_eagle_xtuner.data.inspect import TokenCounter, inspect_file, report_lines

    counter = None
    if args.tokenizer:
        try:
            counter = TokenCounter(args.tokenizer, args.template)
        except (OSError, ValueError) as exc:
            _err("inspect", f"cannot load tokenizer {args.tokenizer}: {exc}")
            return 1
    status = 0
    for number, path in enumerate(args.files):
        stats = inspect_file(path, token_counter=counter, max_length=args.max_length,
                             progress=_progress(args), source=args.source)
        if number:
            print()
        print("\n".join(report_lines(stats)))
        if stats.error:
            status = 1
    return status


def _data_validate(args) -> int:
    from legal_eagle_xtuner.data.convert import ConvertError, validate_files

    try:
        result = validate_files(args.files, reference_placement=args.reference_placement,
                                progress=_progress(args), source=args.source)
    except ConvertError as exc:
        _err("validate", exc)
        return 1
    extra = ""
    if result.extra_fields:
        extra = "; fields left out: " + ", ".join(
            f"{name} ({count})" for name, count in result.extra_fields.most_common())
    print(f"{len(args.files)} file(s): read {result.read}, valid {result.valid}, "
          f"invalid {result.invalid}, warnings {result.warnings}"
          + (f", unreadable files {len(result.unreadable)}" if result.unreadable else "")
          + extra)
    for line in note_lines(result.notes):
        print(line)
    return 0 if result.ok else 1


def _data_convert(args) -> int:
    from legal_eagle_xtuner.data.convert import ConvertError, convert_files

    try:
        result = convert_files(
            args.files, args.output, skip_invalid=args.skip_invalid, rejects=args.rejects,
            dedupe=args.dedupe, duplicates=args.duplicates,
            reference_placement=args.reference_placement, report=_print_err,
            progress=_progress(args), source=args.source,
        )
    except ConvertError as exc:
        _err("convert", exc)
        return 1
    dups = (f" (exact {result.exact_duplicates}, normalised {result.normalised_duplicates})"
            if args.dedupe else "")
    print(f"read {result.read}, written {result.written}, rejected {result.rejected}, "
          f"duplicates {result.duplicates}{dups}")
    if result.sources:
        print("written per source: " + ", ".join(
            f"{source} {count}" for source, count in result.sources.most_common()))
    for line in note_lines(result.notes):
        print(line)
    if result.extra_fields:
        print("fields left out: " + ", ".join(
            f"{name} ({count})" for name, count in result.extra_fields.most_common()))
    print(f"output: {result.output_path}")
    if result.rejects_path:
        print(f"rejects: {result.rejects_path}")
    if result.duplicates_path:
        print(f"duplicates: {result.duplicates_path}")
    return 0


def _data_split(args) -> int:
    from legal_eagle_xtuner.data.split import SplitError, report_lines, split_file

    try:
        result = split_file(args.file, args.output, eval_size=args.eval_size,
                            eval_ratio=args.eval_ratio, seed=args.seed,
                            progress=_progress(args), source=args.source)
    except SplitError as exc:
        _err("split", exc)
        return 1
    print("\n".join(report_lines(result)))
    return 0


def _data_decontaminate(args) -> int:
    from legal_eagle_xtuner.data.decontaminate import (DecontaminationError, decontaminate, load_benchmarks,
                                report_lines)

    try:
        index = load_benchmarks(args.against, n=args.ngram,
                                max_gram_items=args.max_gram_items or None)
        result = decontaminate(args.files, index, output=args.output, flagged=args.flagged,
                               progress=_progress(args), source=args.source)
    except DecontaminationError as exc:
        _err("decontaminate", exc)
        return 1
    print("\n".join(report_lines(result)))
    return 0


_DATA_HELP = """\
Prepare legal corpora for training. Typical order:

  legal-eagle data inspect FILE...            what is in the files
  legal-eagle data validate FILE...           every problem as FILE:LINE: what is wrong
  legal-eagle data convert FILE... -o all.jsonl --skip-invalid --dedupe
  legal-eagle data decontaminate all.jsonl --against BENCH... -o clean.jsonl
  legal-eagle data split clean.jsonl -o splits/ --eval-size 2000 --seed 42

Inputs: JSONL or JSON arrays, UTF-8 (with or without BOM) or GBK/GB18030, of
DISC-Law-SFT (Pair, Triplet, QA-released), LAW-GPT 52k / 92k, or records
already in XTuner's conversation format.
"""


def add_data_parser(sub) -> None:
    data = sub.add_parser(
        "data", help="inspect, validate, convert, split and decontaminate corpora",
        description=_DATA_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    cmds = data.add_subparsers(dest="data_command", required=True, metavar="COMMAND")

    def common(parser):
        parser.add_argument("--source", choices=SOURCE_CHOICES, metavar="SOURCE",
                            help="the source of every record, instead of detecting it "
                            "from the fields (DISC-Law-SFT-Pair records without 'id' look "
                            "like lawgpt_52k); records are checked against its fields. "
                            "One of: " + ", ".join(SOURCE_CHOICES))
        parser.add_argument("--no-progress", action="store_true",
                            help="no progress bar (default: shown on a terminal)")

    def placement(parser):
        parser.add_argument("--reference-placement", choices=("prompt", "none"),
                            default="prompt",
                            help="where references go in the user turn, as in the configs "
                            "(default: prompt)")

    p = cmds.add_parser(
        "inspect", help="formats, counts, fields, references and lengths per file",
        description="Per file: encoding and layout, records per detected source and DISC "
        "task, fields, records with references, length percentiles of the converted "
        "sample and how many exceed --max-length. Lengths are characters, or tokens "
        "counted exactly as XTuner encodes the templated sample when --tokenizer is "
        "given. Exit 1 if a file cannot be read.")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--tokenizer", metavar="PATH",
                   help="tokenizer (model directory) to count tokens with")
    p.add_argument("--template", default="internlm2_chat",
                   help="XTuner prompt template used with --tokenizer (default: internlm2_chat; "
                   "internlm_chat for InternLM v1)")
    p.add_argument("--max-length", type=_positive_int, default=2048,
                   help="count samples longer than this (default: 2048, the configs' value)")
    common(p)
    p.set_defaults(func=_data_inspect)

    p = cmds.add_parser(
        "validate", help="report every problem as FILE:LINE: what is wrong",
        description="Check every record with the map function training uses. Prints "
        "FILE:LINE: what is wrong for each problem (LINE is the JSONL line, or the line "
        "where a JSON-array item starts), warnings for ids reused with different "
        "content, and a summary. Exit 0 when every record is valid, 1 otherwise.")
    p.add_argument("files", nargs="+", metavar="FILE")
    placement(p)
    common(p)
    p.set_defaults(func=_data_validate)

    p = cmds.add_parser(
        "convert", help="write XTuner conversation-format JSONL",
        description="Convert records of any supported source into one JSONL of "
        "{\"conversation\": [{\"system\", \"input\", \"output\"}], \"source\", \"id\"}, "
        "loadable by XTuner configs without a map function. Without --skip-invalid the "
        "first invalid record stops it (exit 1) and nothing is written. Prints "
        "`read N, written W, rejected R, duplicates D`; always N = W + R + D.")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("-o", "--output", required=True, metavar="OUT.jsonl")
    p.add_argument("--skip-invalid", action="store_true",
                   help="write the valid records; list invalid ones in the rejects file")
    p.add_argument("--rejects", metavar="PATH",
                   help="rejects file (default: OUT.rejects.jsonl); each line has file, "
                   "line, error and the original record")
    p.add_argument("--dedupe", action="store_true",
                   help="drop exact and normalised (whitespace, full/half-width "
                   "punctuation) duplicates within and across files; the first wins")
    p.add_argument("--duplicates", metavar="PATH",
                   help="where dropped duplicates are listed (default: OUT.duplicates.jsonl)")
    placement(p)
    common(p)
    p.set_defaults(func=_data_convert)

    p = cmds.add_parser(
        "split", help="deterministic, stratified train / eval split",
        description="Hold out an evaluation set, stratified by source and DISC task. "
        "The split depends only on the seed and the records' questions: same seed, "
        "same split on any machine and in any file order; records with the same "
        "question stay on one side. Writes DIR/train.jsonl, DIR/eval.jsonl and "
        "DIR/split.json.")
    p.add_argument("file", metavar="FILE")
    p.add_argument("-o", "--output", required=True, metavar="DIR")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--eval-size", type=int, metavar="K", help="records to hold out")
    size.add_argument("--eval-ratio", type=float, metavar="F",
                      help="share of records to hold out, 0 < F < 1")
    p.add_argument("--seed", type=int, default=42, help="default: 42, as in the configs")
    common(p)
    p.set_defaults(func=_data_split)

    p = cmds.add_parser(
        "decontaminate", help="flag training records that overlap benchmark questions",
        description="Flag training records whose question shares a 13-character run "
        "(after NFKC, case folding and dropping everything but letters and digits) "
        "with a benchmark question, e.g. LawBench's data/zero_shot/*.json (its "
        "`question` field; instructions and answers are not compared). Benchmark "
        "questions of 8-12 characters must appear whole. Reports per benchmark task "
        "how many training records overlap; -o writes the records that do not, "
        "--flagged the ones that do with the item they match.")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--against", nargs="+", required=True, metavar="BENCH",
                   help="benchmark files: JSON arrays / JSONL with a question field "
                   "(LawBench), or DISC-Law-Eval CSVs (question and options)")
    p.add_argument("-o", "--output", metavar="CLEAN.jsonl", help="write the clean records")
    p.add_argument("--flagged", metavar="PATH",
                   help="write the flagged records with the benchmark items they match")
    p.add_argument("--ngram", type=_positive_int, default=13,
                   help="characters in a matching run (default: 13)")
    p.add_argument("--max-gram-items", type=_count, default=10, metavar="K",
                   help="ignore runs found in more than K benchmark items: legal "
                   "boilerplate, not item-specific text (default: 10; 0 keeps all)")
    common(p)
    p.set_defaults(func=_data_decontaminate)

