"""``legal-eagle export``: a merged model (or the adapter's chat template) to serve."""

from __future__ import annotations

import sys


def _system(text: str) -> str | None:
    from legal_eagle_xtuner.map_fns import LEGAL_SYSTEM

    return {"legal": LEGAL_SYSTEM, "none": None}.get(text, text)


def _export(args) -> int:
    from legal_eagle_xtuner.export.merge import TEMPLATE_FILE, ExportError, export

    try:
        done = export(args.adapter, args.output, base=args.base,
                      prompt_template=args.prompt_template, system=_system(args.system),
                      dtype=args.dtype, max_shard_size=args.max_shard_size,
                      template_only=args.template_only)
    except ExportError as exc:
        print(f"legal-eagle export: {exc}", file=sys.stderr)
        return 1
    stops = ", ".join(str(i) for i in done.eos_token_ids)
    if done.merged:
        print(f"merged model: {done.out} (safetensors, tokenizer with the {args.prompt_template} "
              f"chat template, generation stops at token ids {stops})")
    else:
        print(f"chat template: {done.out / TEMPLATE_FILE} ({args.prompt_template}; stop at "
              f"token ids {stops})")
    return 0


def add_export_parser(sub) -> None:
    p = sub.add_parser(
        "export", help="merge an adapter into its base model, with the training chat "
        "template, for serving",
        description="Merge a PEFT adapter (from `xtuner convert pth_to_hf`) into its base "
        "model on CPU and write one safetensors model whose tokenizer carries the training "
        "prompt as its chat_template (XTuner's --prompt-template, with the legal system "
        "prompt as the default system turn) and whose generation config stops at the "
        "template's stop word (<|im_end|>, <eoa>). --template-only writes the template "
        "into the adapter folder as chat_template.jinja instead, for engines that serve "
        "the base model with the adapter as LoRA (vLLM's --chat-template).")
    p.add_argument("adapter", help="the adapter folder (adapter_config.json + weights)")
    p.add_argument("-o", "--output", help="the merged model's folder (new or empty)")
    p.add_argument("--base", help="base model (hub id or folder; default: the adapter's "
                   "base_model_name_or_path)")
    p.add_argument("--prompt-template", required=True, choices=["internlm2_chat",
                                                                "internlm_chat"],
                   help="the template the adapter was trained with")
    p.add_argument("--system", default="legal",
                   help="default system turn: legal (the configs' LEGAL_SYSTEM, default), "
                   "none, or the text itself")
    p.add_argument("--dtype", default="float16", choices=["float16", "bfloat16", "float32"],
                   help="weights of the merged model (default float16, the base's)")
    p.add_argument("--max-shard-size", default="2GB", help="safetensors shard size "
                   "(default 2GB)")
    p.add_argument("--template-only", action="store_true",
                   help="write only ADAPTER/chat_template.jinja (no merge)")
    p.set_defaults(func=_export)
