"""``legal-eagle eval``: generate answers, score them, compare runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from legal_eagle_xtuner.cli.common import _eval_err, _non_negative_float, _positive_int, _progress


def _generate_work(args, system):
    """``[(name, items, run)]``: what to answer and how (``run(generator, template, ...)``)."""
    from functools import partial

    from legal_eagle_xtuner.eval.generate import data_items, generate_file, lawbench_items

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None
    if args.disc_law_eval:
        from legal_eagle_xtuner.eval.disc_law_eval.generate import disc_jobs, run_job

        jobs = disc_jobs(args.disc_law_eval, tasks, args.limit, few_shot=args.few_shot,
                         system=system)
        for job in jobs:
            for line in job.notes:
                print(line, file=sys.stderr)
        return [(job.name, job.items, partial(run_job, job, args.output)) for job in jobs]

    if args.lawbench:
        work = lawbench_items(args.lawbench, tasks, args.limit, system)
    else:
        items, rejects, read = data_items(args.data, system=system, limit=args.limit,
                                          reference_placement=args.reference_placement)
        for line in rejects:
            print(line, file=sys.stderr)
        print(f"{args.data}: read {read}, answering {len(items)}, rejected {len(rejects)}")
        work = {Path(args.data).stem.split(".")[0]: items}
    return [(name, items, partial(generate_file, items, Path(args.output) / f"{name}.json"))
            for name, items in work.items()]


def _eval_generate(args) -> int:
    from tqdm.auto import tqdm

    from legal_eagle_xtuner.eval.generate import (GenerateError, GenerationSettings, HFGenerator,
                                check_run_settings, prompt_template)
    from legal_eagle_xtuner.data.files import OutputError
    from legal_eagle_xtuner.sources import LEGAL_SYSTEM

    system = LEGAL_SYSTEM if args.system == "legal" else args.system
    if bool(args.model) == bool(args.api_base):
        _eval_err("generate", "give either --model (and --adapter) or --api-base with "
                  "--api-model")
        return 2
    if args.api_base and (not args.api_model or args.adapter):
        _eval_err("generate", "--api-base needs --api-model NAME (the server's model or "
                  "LoRA module) and takes no --adapter (serve it as a LoRA module)")
        return 2
    if args.rag and args.reference_placement == "prompt":
        _eval_err("generate", "--rag puts retrieved articles where --reference-placement "
                  "prompt puts the record's own; give one of them")
        return 2
    if args.few_shot and not args.disc_law_eval:
        _eval_err("generate", "--few-shot is for --disc-law-eval (the benchmark's examples)")
        return 2
    try:
        template = prompt_template(args.prompt_template)
        work = _generate_work(args, system)
        if args.rag and not _add_retrieved(args, work):
            return 1
        settings = GenerationSettings(
            model=args.model or f"{args.api_base} {args.api_model}", adapter=args.adapter,
            prompt_template=args.prompt_template, max_new_tokens=args.max_new_tokens,
            temperature=args.temperature, system=args.system)
        check_run_settings(args.output, settings, record=False)
        if args.api_base:
            from legal_eagle_xtuner.eval.api import APIGenerator

            generator = APIGenerator(args.api_base, args.api_model,
                                     concurrency=args.concurrency, api_key=args.api_key)
            args.batch_size = max(args.batch_size, 4 * args.concurrency)
        else:
            generator = HFGenerator(args.model, args.adapter, torch_dtype=args.torch_dtype,
                                    stop_words=template.get("STOP_WORDS", []))
        check_run_settings(args.output, settings)
        total = sum(len(items) for _, items, _ in work)
        with tqdm(total=total, unit="answer", desc="generate",
                  disable=True if args.no_progress else None) as bar:
            for name, items, run in work:
                bar.set_postfix(task=name, refresh=False)
                result = run(generator, template, max_new_tokens=args.max_new_tokens,
                             temperature=args.temperature, batch_size=args.batch_size,
                             on_done=bar.update)
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


def _add_retrieved(args, work) -> bool:
    """``--rag INDEX``: the retrieved articles before each question, as training renders them."""
    from legal_eagle_xtuner.eval.rag import add_retrieved
    from legal_eagle_xtuner.law import LawIndexError, load_index

    try:
        index = load_index(args.rag)
    except LawIndexError as exc:
        _eval_err("generate", exc)
        return False
    for name, items, _ in work:
        got = add_retrieved(items, index, args.rag_k)
        print(f"{name}: {got} of {len(items)} questions get retrieved articles ({args.rag})",
              file=sys.stderr)
    return True


def _citation_counts(args, paths, out: dict) -> bool:
    """``--citations INDEX``: every cited article checked, counted per run or file."""
    from legal_eagle_xtuner.eval.rag import citation_lines, run_citation_counts
    from legal_eagle_xtuner.law import LawIndexError, load_index

    try:
        index = load_index(args.citations)
    except LawIndexError as exc:
        _eval_err(args.eval_command, exc)
        return False
    out["citations"] = {}
    for label, path in paths:
        counts = out["citations"][label] = run_citation_counts(path, index)
        if not args.json:
            print(f"\ncitations checked against {args.citations}: {label} ({path})")
            print("\n".join(citation_lines(counts)))
    return True


def _score_disc(args, out: dict) -> None:
    """``--disc-law-eval``: accuracies, the open questions, ``--published``."""
    from legal_eagle_xtuner.eval.citations import report_lines
    from legal_eagle_xtuner.eval.disc_law_eval import (check_published, load_published,
                                                       published_lines, score_dir, scores_json,
                                                       table_lines)
    from legal_eagle_xtuner.eval.report import DATA_PREFIX, data_json, disc_subjective_file, \
        score_data_file

    pred_dir = Path(args.disc_law_eval)
    subjective = disc_subjective_file(pred_dir)
    scores, lines = {}, []
    if subjective is None or any(pred_dir.glob("*/*_results.csv")):
        # raises if there are none
        scores = score_dir(pred_dir, args.disc_law_eval_data, rule=args.disc_rule)
        out.update(scores_json(scores))
        lines = table_lines(scores)
    if subjective is not None:
        score = score_data_file(subjective)
        out[DATA_PREFIX + subjective.stem] = data_json(score)
        lines += [f"open questions ({subjective}):", *("  " + x for x in report_lines(score))]
    if args.published:
        model = args.published_model or pred_dir.resolve().name
        checks = check_published(scores, load_published(args.published), model)
        if not checks:
            lines.append(f"{args.published}: no published accuracies of {model!r} "
                         "(--published-model NAME)")
        lines += published_lines(checks, model, args.published) if checks else []
        out["published"] = {"model": model, "agree": [c.name for c in checks if c.agree],
                            "differ": {c.name: {"ours": None if c.ours is None
                                                else round(c.ours.accuracy, 2),
                                                "published": c.published, "note": c.note}
                                       for c in checks if not c.agree}}
    if not args.json:
        print("\n".join(lines))


def _eval_score(args) -> int:
    import json

    from legal_eagle_xtuner.eval.citations import report_lines
    from legal_eagle_xtuner.eval.disc_law_eval import DiscDataError
    from legal_eagle_xtuner.eval.lawbench import LawBenchError, score_dir, scores_json, table_lines
    from legal_eagle_xtuner.eval.report import DATA_PREFIX, ReportError, data_json, score_data_file

    if not args.lawbench and not args.data and not args.disc_law_eval:
        _eval_err("score", "give --lawbench PRED_DIR and/or --data PRED_FILE "
                  "(or --disc-law-eval PRED_DIR)")
        return 2
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None
    out: dict = {}
    try:
        if args.lawbench:
            scores = score_dir(args.lawbench, tasks, progress=_progress(args))
            out.update(scores_json(scores))
            if not args.json:
                print("\n".join(table_lines(scores)))
        if args.disc_law_eval:
            _score_disc(args, out)
        for path in args.data or []:
            score = score_data_file(path)
            out[DATA_PREFIX + Path(path).stem] = data_json(score)
            if not args.json:
                print(f"\n{path}")
                print("\n".join("  " + line for line in report_lines(score)))
    except (LawBenchError, ReportError, DiscDataError) as exc:
        _eval_err("score", exc)
        return 1
    given = [args.lawbench, args.disc_law_eval, *(args.data or [])]
    if args.citations and not _citation_counts(args, [(p, p) for p in given if p], out):
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
    if not args.json:
        print("\n".join(lines))
    if args.citations and not _citation_counts(args, [("A", args.run_a), ("B", args.run_b)],
                                               out):
        return 1
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=1))
    return 0


def add_eval_parser(sub) -> None:
    ev = sub.add_parser(
        "eval", help="generate answers, score them (LawBench, DISC-Law-Eval, citations), "
        "compare runs",
        description="Evaluation: `generate` answers LawBench, DISC-Law-Eval or held-out "
        "questions into prediction files, `score` scores them, `compare` prints the "
        "per-task difference of two runs (base model vs adapter).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="""example (base vs fine-tuned, both benchmarks in one folder per model):
  legal-eagle eval generate --model internlm/internlm2-chat-7b \\
      --prompt-template internlm2_chat --lawbench LawBench/data/zero_shot -o preds/base
  legal-eagle eval generate --model internlm/internlm2-chat-7b \\
      --prompt-template internlm2_chat --disc-law-eval DISC-LawLLM/eval -o preds/base
  legal-eagle eval generate --model internlm/internlm2-chat-7b --adapter adapter/ \\
      --prompt-template internlm2_chat --lawbench LawBench/data/zero_shot -o preds/tuned
  legal-eagle eval generate --model internlm/internlm2-chat-7b --adapter adapter/ \\
      --prompt-template internlm2_chat --disc-law-eval DISC-LawLLM/eval -o preds/tuned
  legal-eagle eval compare preds/base preds/tuned""")
    cmds = ev.add_subparsers(dest="eval_command", required=True, metavar="COMMAND")

    p = cmds.add_parser(
        "generate", help="answer LawBench, DISC-Law-Eval or held-out questions (batched, "
        "resumable)",
        description="Answer every question with greedy decoding (unless --temperature) "
        "and write PRED_DIR/<task>.json in LawBench's format ({origin_prompt, "
        "prediction, refr} keyed \"0\"..\"N-1\"); DISC-Law-Eval in its published layout "
        "PRED_DIR/<single|multi>/<exam>_results.csv (written once an exam is complete; "
        "the .json beside it holds the prompts and progress) and its open questions in "
        "PRED_DIR/subjective/qa_short_answer.json. Rerunning the same command resumes: "
        "answers already in PRED_DIR are kept. PRED_DIR/_run.json records the settings; "
        "a rerun with other settings is refused.")
    p.add_argument("--model", help="base model: hub id or directory (or --api-base)")
    p.add_argument("--adapter", help="LoRA adapter directory (xtuner convert pth_to_hf)")
    p.add_argument("--api-base", metavar="URL",
                   help="instead of --model: an OpenAI-compatible server (vLLM, LMDeploy, "
                   "SGLang), e.g. http://127.0.0.1:8000/v1; each question goes as chat "
                   "messages, so serve a model made by `legal-eagle export` (its chat "
                   "template is the training prompt)")
    p.add_argument("--api-model", metavar="NAME",
                   help="--api-base: the served model's name (a LoRA module's name for an "
                   "adapter)")
    p.add_argument("--concurrency", type=_positive_int, default=8,
                   help="--api-base: requests in flight (default: 8)")
    p.add_argument("--api-key", default="EMPTY",
                   help="--api-base: the key the server wants (default: EMPTY)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--lawbench", metavar="DATA_DIR",
                     help="LawBench data folder (data/zero_shot): <task>.json files")
    src.add_argument("--data", metavar="FILE",
                     help="held-out records of our own (eval.jsonl of `legal-eagle data "
                     "split`); written to PRED_DIR/<stem>.json with their references")
    src.add_argument("--disc-law-eval", metavar="DATA_DIR",
                     help="DISC-Law-Eval (the eval/ folder of DISC-LawLLM: datasets/objective/"
                     "mcq_*.csv, few_shot/, datasets/subjective/)")
    p.add_argument("--prompt-template", required=True,
                   help="XTuner prompt template: internlm2_chat, internlm_chat, ...")
    p.add_argument("-o", "--output", required=True, metavar="PRED_DIR",
                   help="prediction folder")
    p.add_argument("--tasks", help="only these, comma-separated: LawBench tasks (1-2,3-3); "
                   "DISC-Law-Eval single/cpa, multi/nje, single, multi, an exam (cpa) or "
                   "subjective")
    p.add_argument("--few-shot", action="store_true",
                   help="--disc-law-eval: put the benchmark's few-shot examples before each "
                   "question (default: zero-shot)")
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
                   "with. Default: none for LawBench and DISC-Law-Eval (as they ran), the "
                   "record's own for --data")
    p.add_argument("--reference-placement", choices=("none", "prompt"), default="none",
                   help="--data: put the record's law references into the prompt "
                   "('prompt', as training does) or not ('none', default: the model must "
                   "cite the law itself)")
    p.add_argument("--torch-dtype", choices=("auto", "fp16", "bf16", "fp32"), default="auto",
                   help="auto: bf16 (or fp16) on GPU, fp32 on CPU")
    p.add_argument("--rag", metavar="INDEX",
                   help="put the articles retrieved from this statute index (legal-eagle law "
                   "index) before each question, as training renders 参考法条：")
    p.add_argument("--rag-k", type=_positive_int, default=3, metavar="N",
                   help="articles per question with --rag (default 3)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_eval_generate)

    p = cmds.add_parser(
        "score", help="score LawBench, DISC-Law-Eval and/or own held-out predictions",
        description="Score LawBench prediction files (every <task>.json in PRED_DIR) the "
        "way LawBench publishes its numbers (0-1 scale; 2-1, character-level edit "
        "alignment, is reported as not scored); DISC-Law-Eval prediction folders "
        "(<single|multi>/<exam>_results.csv) as the benchmark publishes them: per exam the "
        "percentage of items whose extracted answer letters equal the gold set; and/or "
        "own-data prediction files (and DISC-Law-Eval's open questions) by citation "
        "precision / recall / F1 of (law, article) pairs and character ROUGE-L.")
    p.add_argument("--lawbench", metavar="PRED_DIR", help="LawBench prediction folder")
    p.add_argument("--data", metavar="PRED_FILE", action="append",
                   help="own-data prediction file from `eval generate --data` (repeatable)")
    p.add_argument("--disc-law-eval", metavar="PRED_DIR",
                   help="DISC-Law-Eval prediction folder (<single|multi>/<exam>_results.csv)")
    p.add_argument("--disc-law-eval-data", metavar="DATA_DIR",
                   help="the benchmark's data folder, for prediction files without the gold "
                   "'output' column (the published ones; default: PRED_DIR/../.. when it "
                   "is the benchmark's eval/ folder)")
    p.add_argument("--disc-rule", choices=["benchmark", "names"], default="benchmark",
                   help="how answer letters are read: benchmark (default), the benchmark's "
                   "own rule (its answer phrases, then lettered options, then verdict "
                   "phrases; short answers whole), which reproduces its published "
                   "numbers; names, ours of 0.1: every A-D except one in a name the item "
                   "uses (A公司) -- see docs/disc_law_eval.md")
    p.add_argument("--published", metavar="FILE",
                   help="published accuracies ({\"<model>/<kind>\": {exam: acc}}, e.g. "
                   "published_accuracy.json): print ours beside them and name every exam "
                   "they disagree on")
    p.add_argument("--published-model", metavar="NAME",
                   help="the model's name in --published (default: PRED_DIR's name)")
    p.add_argument("--tasks", help="LawBench tasks only, comma-separated")
    p.add_argument("--json", action="store_true",
                   help="print {task: {score, abstention_rate}, ...} (LawBench) and "
                   "{\"single\": {exam: accuracy}, \"multi\": {...}} (DISC-Law-Eval) as JSON")
    p.add_argument("--citations", metavar="INDEX",
                   help="check every article the answers cite against this statute index: "
                   "found / no such article / superseded, and quotes")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_eval_score)

    p = cmds.add_parser(
        "compare", help="per-task difference of two runs (B - A)",
        description="Print the scores of run A and run B side by side with B - A, the "
        "mean over the LawBench tasks both have, DISC-Law-Eval's exams (accuracy as a "
        "fraction) and their mean, and the citation metrics of own data. "
        "A run is a prediction folder (scored now) or a saved `eval score --json` file.")
    p.add_argument("run_a", metavar="RUN_A", help="e.g. the base model's predictions")
    p.add_argument("run_b", metavar="RUN_B", help="e.g. the fine-tuned model's")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.add_argument("--citations", metavar="INDEX",
                   help="also count, per run, the cited articles found / no such article / "
                   "superseded in this statute index")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_eval_compare)

