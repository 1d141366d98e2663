"""``legal-eagle export``: base model + adapter -> one merged safetensors model that
carries the training prompt as its chat template and stops where training taught it
to; or (``template_only``) the template written into the adapter folder, for engines
that serve the base model with the adapter as LoRA.

Runs on CPU: the base is loaded with ``low_cpu_mem_usage`` in ``dtype`` (one copy of
the weights in memory, 14 GB for a 7B model in fp16), the LoRA deltas are added in
place (peft's ``merge_and_unload``), and the result is written in shards of
``max_shard_size``.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from legal_eagle_xtuner.export.chat_template import chat_template, stop_words

TEMPLATE_FILE = "chat_template.jinja"
"""The template as a file beside the adapter, for ``--chat-template`` flags."""


class ExportError(RuntimeError):
    """A base model or adapter that cannot be used: one line for the user."""


@dataclass
class Exported:
    out: Path
    chat_template: str
    eos_token_ids: list[int]
    merged: bool


def _adapter_base(adapter: Path) -> str | None:
    config = adapter / "adapter_config.json"
    if not config.is_file():
        raise ExportError(f"{adapter}: no adapter_config.json (not a PEFT adapter folder; "
                          "convert the checkpoint with `xtuner convert pth_to_hf` first)")
    return json.loads(config.read_text("utf-8")).get("base_model_name_or_path")


def write_template(folder: Path, template: str) -> Path:
    path = Path(folder) / TEMPLATE_FILE
    path.write_text(template, "utf-8")
    return path


def export(adapter, out=None, *, base=None, prompt_template: str, system: str | None,
           dtype: str = "float16", max_shard_size: str = "2GB",
           template_only: bool = False) -> Exported:
    """Merge ``adapter`` into ``base`` (default: the adapter's own base) and write the
    model, tokenizer (with the chat template) and generation config to ``out``; or,
    ``template_only``, write the template into the adapter folder."""
    import torch
    from transformers import AutoTokenizer

    adapter = Path(adapter)
    base = base or _adapter_base(adapter)
    if not base:
        raise ExportError(f"{adapter}: adapter_config.json names no base model; pass --base")
    template = chat_template(prompt_template, system)
    try:
        tokenizer = AutoTokenizer.from_pretrained(base, trust_remote_code=True)
    except (OSError, ValueError) as exc:
        raise ExportError(f"{base}: cannot load the tokenizer: {exc}") from None
    eos = _stop_ids(tokenizer, prompt_template)
    if template_only:
        write_template(adapter, template)
        return Exported(adapter, template, eos, merged=False)
    if out is None:
        raise ExportError("the merged model needs an output folder (-o OUT)")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ExportError(f"{out}: exists and is not empty; choose another -o")
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    try:
        model = AutoModelForCausalLM.from_pretrained(
            base, trust_remote_code=True, torch_dtype=getattr(torch, dtype),
            low_cpu_mem_usage=True)
        model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    except (OSError, ValueError, RuntimeError) as exc:
        raise ExportError(f"cannot merge {adapter} into {base}: {exc}") from None
    model.generation_config.eos_token_id = eos
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True, max_shard_size=max_shard_size)
    tokenizer.chat_template = template
    tokenizer.save_pretrained(tmp)
    write_template(tmp, template)
    if out.exists():
        out.rmdir()
    os.replace(tmp, out)  # a half-written export never has the final name
    return Exported(out, template, eos, merged=True)


def _stop_ids(tokenizer, prompt_template: str) -> list[int]:
    """The EOS id and the ids of the template's stop words, each one token."""
    ids = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    for word in stop_words(prompt_template):
        token = tokenizer.convert_tokens_to_ids(word)
        if token is None or token == tokenizer.unk_token_id:
            raise ExportError(f"the tokenizer has no token {word!r}, which "
                              f"{prompt_template} ends every answer with")
        if token not in ids:
            ids.append(token)
    return ids
