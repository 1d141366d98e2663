"""The ``legal-eagle`` command."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path


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
                             progress=_progress(args))
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
                                progress=_progress(args))
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
    return 0 if result.ok else 1


def _print_err(line: str) -> None:
    print(line, file=sys.stderr)


def _data_convert(args) -> int:
    from legal_eagle_xtuner.data.convert import ConvertError, convert_files

    try:
        result = convert_files(
            args.files, args.output, skip_invalid=args.skip_invalid, rejects=args.rejects,
            dedupe=args.dedupe, duplicates=args.duplicates,
            reference_placement=args.reference_placement, report=_print_err,
            progress=_progress(args),
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
                            progress=_progress(args))
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
                               progress=_progress(args))
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


def _add_data_parser(sub) -> None:
    data = sub.add_parser(
        "data", help="inspect, validate, convert, split and decontaminate corpora",
        description=_DATA_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    cmds = data.add_subparsers(dest="data_command", required=True, metavar="COMMAND")

    def common(parser):
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
                   help="benchmark files (JSON arrays / JSONL with a question field)")
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


def _eval_err(command: str, message) -> None:
    print(f"legal-eagle eval {command}: {message}", file=sys.stderr)


def _eval_generate(args) -> int:
    from tqdm.auto import tqdm

    from legal_eagle_xtuner.eval.generate import (GenerateError, GenerationSettings, HFGenerator,
                                check_run_settings, data_items,
                                generate_file, lawbench_items, prompt_template)
    from legal_eagle_xtuner.data.files import OutputError
    from legal_eagle_xtuner.sources import LEGAL_SYSTEM

    system = LEGAL_SYSTEM if args.system == "legal" else args.system
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None
    try:
        template = prompt_template(args.prompt_template)
        if args.lawbench:
            work = lawbench_items(args.lawbench, tasks, args.limit, system)
        else:
            items, rejects, read = data_items(args.data, system=system, limit=args.limit,
                                              reference_placement=args.reference_placement)
            for line in rejects:
                print(line, file=sys.stderr)
            print(f"{args.data}: read {read}, answering {len(items)}, "
                  f"rejected {len(rejects)}")
            work = {Path(args.data).stem.split(".")[0]: items}
        settings = GenerationSettings(
            model=args.model, adapter=args.adapter, prompt_template=args.prompt_template,
            max_new_tokens=args.max_new_tokens, temperature=args.temperature,
            system=args.system)
        check_run_settings(args.output, settings, record=False)
        generator = HFGenerator(args.model, args.adapter, torch_dtype=args.torch_dtype,
                                stop_words=template.get("STOP_WORDS", []))
        check_run_settings(args.output, settings)
        total = sum(len(v) for v in work.values())
        with tqdm(total=total, unit="answer", desc="generate",
                  disable=True if args.no_progress else None) as bar:
            for name, items in work.items():
                bar.set_postfix(task=name, refresh=False)
                result = generate_file(
                    items, Path(args.output) / f"{name}.json", generator, template,
                    max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                    batch_size=args.batch_size, on_done=bar.update)
                tqdm.write(f"{result.path}: {result.total} items ({result.generated} "
                           f"generated, {result.resumed} kept from before) in "
                           f"{result.seconds:.1f} s")
    except (GenerateError, OutputError) as exc:
        _eval_err("generate", exc)
        return 1
    except KeyboardInterrupt:
        _eval_err("generate", "interrupted; run the same command again to resume")
        return 130
    return 0


def _eval_score(args) -> int:
    import json

    from legal_eagle_xtuner.eval.citations import report_lines
    from legal_eagle_xtuner.eval.lawbench import LawBenchError, score_dir, scores_json, table_lines
    from legal_eagle_xtuner.eval.report import DATA_PREFIX, ReportError, data_json, score_data_file

    if not args.lawbench and not args.data:
        _eval_err("score", "give --lawbench PRED_DIR and/or --data PRED_FILE")
        return 2
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None
    out: dict = {}
    try:
        if args.lawbench:
            scores = score_dir(args.lawbench, tasks, progress=_progress(args))
            out.update(scores_json(scores))
            if not args.json:
                print("\n".join(table_lines(scores)))
        for path in args.data or []:
            score = score_data_file(path)
            out[DATA_PREFIX + Path(path).stem] = data_json(score)
            if not args.json:
                print(f"\n{path}")
                print("\n".join("  " + line for line in report_lines(score)))
    except (LawBenchError, ReportError) as exc:
        _eval_err("score", exc)
        return 1
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=1))
    return 0


def _eval_compare(args) -> int:
    import json

    from legal_eagle_xtuner.eval.report import ReportError, compare_lines, load_run

    try:
        a = load_run(args.run_a, progress=_progress(args))
        b = load_run(args.run_b, progress=_progress(args))
    except ReportError as exc:
        _eval_err("compare", exc)
        return 1
    lines, out = compare_lines(a, b, args.run_a, args.run_b)
    print(json.dumps(out, ensure_ascii=False, indent=1) if args.json else "\n".join(lines))
    return 0


def _add_eval_parser(sub) -> None:
    ev = sub.add_parser(
        "eval", help="generate answers, score them (LawBench, citations), compare runs",
        description="Evaluation: `generate` answers LawBench or held-out questions into "
        "LawBench-format prediction files, `score` scores them, `compare` prints the "
        "per-task difference of two runs (base model vs adapter).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="""example (base vs fine-tuned):
  legal-eagle eval generate --model internlm/internlm2-chat-7b \\
      --prompt-template internlm2_chat --lawbench LawBench/data/zero_shot -o preds/base
  legal-eagle eval generate --model internlm/internlm2-chat-7b --adapter adapter/ \\
      --prompt-template internlm2_chat --lawbench LawBench/data/zero_shot -o preds/tuned
  legal-eagle eval compare preds/base preds/tuned""")
    cmds = ev.add_subparsers(dest="eval_command", required=True, metavar="COMMAND")

    p = cmds.add_parser(
        "generate", help="answer LawBench or held-out questions (batched, resumable)",
        description="Answer every question with greedy decoding (unless --temperature) "
        "and write PRED_DIR/<task>.json in LawBench's format ({origin_prompt, "
        "prediction, refr} keyed \"0\"..\"N-1\"). Rerunning the same command resumes: "
        "answers already in PRED_DIR are kept. PRED_DIR/_run.json records the settings; "
        "a rerun with other settings is refused.")
    p.add_argument("--model", required=True, help="base model: hub id or directory")
    p.add_argument("--adapter", help="LoRA adapter directory (xtuner convert pth_to_hf)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--lawbench", metavar="DATA_DIR",
                     help="LawBench data folder (data/zero_shot): <task>.json files")
    src.add_argument("--data", metavar="FILE",
                     help="held-out records of our own (eval.jsonl of `legal-eagle data "
                     "split`); written to PRED_DIR/<stem>.json with their references")
    p.add_argument("--prompt-template", required=True,
                   help="XTuner prompt template: internlm2_chat, internlm_chat, ...")
    p.add_argument("-o", "--output", required=True, metavar="PRED_DIR",
                   help="prediction folder")
    p.add_argument("--tasks", help="LawBench tasks only, comma-separated (e.g. 1-2,3-3)")
    p.add_argument("--limit", type=_positive_int,
                   help="at most N questions per task / file (quick checks)")
    p.add_argument("--max-new-tokens", type=_positive_int, default=512,
                   help="answer length budget in tokens (default: 512)")
    p.add_argument("--temperature", type=_non_negative_float, default=0.0,
                   help="0 = greedy (default); > 0 samples")
    p.add_argument("--batch-size", type=_positive_int, default=8,
                   help="prompts per generate call (default: 8)")
    p.add_argument("--system", default=None,
                   help="system prompt: text, or 'legal' for the one our recipes train "
                   "with. Default: none for LawBench (as LawBench ran), the record's own "
                   "for --data")
    p.add_argument("--reference-placement", choices=("none", "prompt"), default="none",
                   help="--data: put the record's law references into the prompt "
                   "('prompt', as training does) or not ('none', default: the model must "
                   "cite the law itself)")
    p.add_argument("--torch-dtype", choices=("auto", "fp16", "bf16", "fp32"), default="auto",
                   help="auto: bf16 (or fp16) on GPU, fp32 on CPU")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_eval_generate)

    p = cmds.add_parser(
        "score", help="score LawBench predictions and/or own held-out predictions",
        description="Score LawBench prediction files (every <task>.json in PRED_DIR) the "
        "way LawBench publishes its numbers (0-1 scale; 2-1, character-level edit "
        "alignment, is reported as not scored), and/or own-data prediction files by "
        "citation precision / recall / F1 of (law, article) pairs and character ROUGE-L.")
    p.add_argument("--lawbench", metavar="PRED_DIR", help="LawBench prediction folder")
    p.add_argument("--data", metavar="PRED_FILE", action="append",
                   help="own-data prediction file from `eval generate --data` (repeatable)")
    p.add_argument("--tasks", help="LawBench tasks only, comma-separated")
    p.add_argument("--json", action="store_true",
                   help="print {task: {score, abstention_rate}, ...} as JSON instead")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_eval_score)

    p = cmds.add_parser(
        "compare", help="per-task difference of two runs (B - A)",
        description="Print the scores of run A and run B side by side with B - A, the "
        "mean over the LawBench tasks both have, and the citation metrics of own data. "
        "A run is a prediction folder (scored now) or a saved `eval score --json` file.")
    p.add_argument("run_a", metavar="RUN_A", help="e.g. the base model's predictions")
    p.add_argument("run_b", metavar="RUN_B", help="e.g. the fine-tuned model's")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_eval_compare)


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
    smoke.add_argument("--val-size", type=_positive_int, default=2,
                       help="records held out of each data file for validation "
                       "(default: 2; the configs hold out hundreds)")
    smoke.set_defaults(func=_smoke_config)

    _add_data_parser(sub)
    _add_eval_parser(sub)

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
    return parser


def main(argv: list[str] | None = None) -> int:
    # Upstream import-time deprecation notices (mmengine, torch) are not ours to
    # act on and drown the output.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
