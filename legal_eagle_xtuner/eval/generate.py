"""Batched generation into LawBench-format prediction files.

``legal-eagle eval generate`` writes ``PRED_DIR/<task>.json``: a JSON object
keyed ``"0"``..``"N-1"`` whose values are ``{origin_prompt, prediction,
refr}``, the format of LawBench's published predictions, so the files go into
``legal-eagle eval score``, LawBench's own evaluation or OpenCompass alike.

Inputs:

* ``--lawbench DATA_DIR``: LawBench's ``data/zero_shot`` (or ``one_shot``)
  folder, ``<task>.json`` lists of ``{instruction, question, answer}``. The
  user turn is ``instruction + "\\n" + question``, as in LawBench's own runs;
  no system prompt unless ``--system`` is given (LawBench used none).
* ``--data FILE``: held-out records of our own (``eval.jsonl`` from
  ``legal-eagle data split``; any source format or converted records). Items
  also carry ``references`` (the record's law references, normalised) for the
  citation metrics. The prompt is the question alone by default
  (``reference_placement="none"``): the model is asked as a user would ask it,
  so citing the right article is its own work. The system prompt is the
  record's (converted records) or :data:`~legal_eagle_xtuner.LEGAL_SYSTEM`.

Generation is greedy unless a temperature is given. Prompts are built with
XTuner's prompt template exactly as ``xtuner chat`` builds the first turn.
The output is rewritten (atomically) after every batch, so an interrupted run
resumes where it stopped: items already in the file are skipped, provided
they were made with the same prompt and settings (``_run.json`` records them).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from legal_eagle_xtuner.data.files import OutputError, write_json_atomic

__all__ = [
    "RUN_FILE",
    "EvalItem",
    "GenerateError",
    "GenerationSettings",
    "HFGenerator",
    "build_prompt",
    "data_items",
    "generate_file",
    "lawbench_items",
    "prompt_template",
]

RUN_FILE = "_run.json"
"""Settings of the run that wrote a prediction folder (not a task file)."""


class GenerateError(Exception):
    """Bad input or a prediction folder that cannot be resumed; the text is
    for users (``PATH: what is wrong``)."""


@dataclass
class EvalItem:
    """One question to answer."""

    key: str
    """Its key in the prediction file (``"0"``..``"N-1"``)."""
    user: str
    """The user turn."""
    refr: str
    """The reference answer."""
    system: str | None = None
    """System prompt; ``None`` for none."""
    extra: dict = field(default_factory=dict)
    """More fields for the prediction file (``references``, ``source``, ``id``)."""


@dataclass
class GenerationSettings:
    """What decides the predictions; a folder is only resumed with equal settings."""

    model: str
    """Base model (hub id or directory)."""
    adapter: str | None
    """PEFT adapter directory (from ``xtuner convert pth_to_hf``), or ``None``."""
    prompt_template: str
    """XTuner prompt template name (``internlm2_chat``, ``internlm_chat``, ...)."""
    max_new_tokens: int
    """Generation budget per answer."""
    temperature: float
    """0 = greedy."""
    system: str | None
    """``--system`` as given (``None``: LawBench none / own data the record's).
    What else shapes a prompt (the data, ``--reference-placement``) is checked
    item by item against the stored ``origin_prompt``."""


def prompt_template(name: str) -> dict:
    """XTuner's prompt template ``name``; a clear error for an unknown one."""
    from xtuner.utils import PROMPT_TEMPLATE

    if name not in PROMPT_TEMPLATE:
        raise GenerateError(f"unknown prompt template {name!r}; XTuner has: "
                            f"{', '.join(sorted(PROMPT_TEMPLATE))}")
    return dict(PROMPT_TEMPLATE[name])


def build_prompt(template: dict, user: str, system: str | None = None) -> str:
    """The first-turn prompt as ``xtuner chat`` builds it (without BOS, which
    the tokenizer adds)."""
    prompt = ""
    if system and "SYSTEM" in template:
        prompt += template["SYSTEM"].format(system=system)
    return prompt + template["INSTRUCTION"].format(input=user, round=1, bot_name="BOT")


def _task_files(data_dir: Path, tasks: Sequence[str] | None) -> list[tuple[str, Path]]:
    from legal_eagle_xtuner.eval.lawbench import TASKS

    if not data_dir.is_dir():
        raise GenerateError(f"{data_dir}: no such directory")
    found = {p.stem: p for p in data_dir.glob("*.json") if p.stem in TASKS}
    if tasks:
        unknown = [t for t in tasks if t not in TASKS]
        if unknown:
            raise GenerateError(f"unknown LawBench task(s): {', '.join(unknown)} "
                                f"(tasks are {TASKS[0]} .. {TASKS[-1]})")
        missing = [t for t in tasks if t not in found]
        if missing:
            raise GenerateError(f"{data_dir}: no file for task(s) {', '.join(missing)}")
        found = {t: found[t] for t in tasks}
    if not found:
        raise GenerateError(f"{data_dir}: no LawBench task files (1-1.json .. 3-8.json)")
    return [(t, found[t]) for t in TASKS if t in found]


def lawbench_items(data_dir, tasks: Sequence[str] | None = None, limit: int | None = None,
                   system: str | None = None) -> dict[str, list[EvalItem]]:
    """The questions of every LawBench task file in ``data_dir`` (or of
    ``tasks``), at most ``limit`` a task, in file order."""
    out = {}
    for task, path in _task_files(Path(data_dir), tasks):
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise GenerateError(f"{path}: cannot read LawBench data: {exc}") from None
        if not isinstance(rows, list):
            raise GenerateError(f"{path}: expected a JSON list of "
                                "{instruction, question, answer} objects")
        items = []
        for number, row in enumerate(rows[:limit] if limit else rows):
            if not isinstance(row, dict) or not all(
                    isinstance(row.get(k), str) for k in ("instruction", "question", "answer")):
                raise GenerateError(f"{path}: item {number}: expected string fields "
                                    "instruction, question and answer")
            items.append(EvalItem(str(number), f"{row['instruction']}\n{row['question']}",
                                  row["answer"], system))
        out[task] = items
    return out


def data_items(path, *, reference_placement: str = "none", system: str | None = None,
               limit: int | None = None) -> tuple[list[EvalItem], list[str], int]:
    """The first turn of every usable record of ``path`` as an item, plus
    ``FILE:LINE: why`` for each record left out, and the number read."""
    from legal_eagle_xtuner.data.corpus import iter_checked
    from legal_eagle_xtuner.sources import CONVERSATION, REFERENCE_HEADING, split_reference_block
    from legal_eagle_xtuner.data.records import FileFormatError
    from legal_eagle_xtuner.sources.references import normalize_references

    items, rejects, read = [], [], 0
    try:
        for checked in iter_checked([str(path)], reference_placement="none", system=system):
            if limit and len(items) >= limit:
                break
            read += 1
            if not checked.ok:
                rejects.append(f"{checked.where}: {checked.error}")
                continue
            turn = checked.output["conversation"][0]
            if checked.source == CONVERSATION:
                references, question = split_reference_block(turn["input"])
            else:
                question = turn["input"]
                refs = checked.value.get("reference")
                references = normalize_references(refs) if isinstance(refs, list) else []
            user = question
            if reference_placement == "prompt" and references:
                user = "\n".join([REFERENCE_HEADING, *references]) + "\n\n" + question
            extra = {"references": references, "source": checked.source}
            if "id" in checked.output:
                extra["id"] = checked.output["id"]
            extra["where"] = checked.where
            turn_system = turn.get("system") if system is None else system
            items.append(EvalItem(str(len(items)), user, turn["output"], turn_system or None,
                                  extra))
    except FileFormatError as exc:
        raise GenerateError(str(exc)) from None
    if not items:
        raise GenerateError(f"{path}: no usable records ({read} read, {len(rejects)} rejected)")
    return items, rejects, read


class HFGenerator:
    """A causal LM (plus optional PEFT adapter) that answers batches of prompts."""

    def __init__(self, model: str, adapter: str | None = None, *, torch_dtype: str = "auto",
                 device: str | None = None, stop_words: Iterable[str] = ()):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if torch_dtype == "auto":
            if self.device.startswith("cuda"):
                dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            else:
                dtype = torch.float32
        else:
            dtype = {"fp16": torch.float16, "bf16": torch.bfloat16,
                     "fp32": torch.float32}[torch_dtype]
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model, trust_remote_code=True)
            llm = AutoModelForCausalLM.from_pretrained(model, trust_remote_code=True,
                                                       torch_dtype=dtype)
        except (OSError, ValueError) as exc:
            raise GenerateError(f"{model}: cannot load the model: {exc}") from None
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        if adapter:
            from peft import PeftModel

            try:
                llm = PeftModel.from_pretrained(llm, adapter).merge_and_unload()
            except (OSError, ValueError) as exc:
                raise GenerateError(f"{adapter}: cannot load the adapter: {exc}") from None
        self.model = llm.to(self.device).eval()
        self.stop_words = [w for w in stop_words if w]
        self.stop_ids = {self.tokenizer.eos_token_id} - {None}
        for word in self.stop_words:
            ids = self.tokenizer.encode(word, add_special_tokens=False)
            if len(ids) == 1:
                self.stop_ids.add(ids[0])

    def prompt_length(self, prompt: str) -> int:
        return len(self.tokenizer.encode(prompt))

    def __call__(self, prompts: list[str], *, max_new_tokens: int,
                 temperature: float = 0.0) -> list[str]:
        import torch

        batch = self.tokenizer(prompts, return_tensors="pt", padding=True,
                               return_token_type_ids=False).to(self.device)
        sampling = dict(do_sample=True, temperature=temperature, top_p=1.0) \
            if temperature > 0 else dict(do_sample=False)
        with torch.inference_mode():
            out = self.model.generate(
                **batch, max_new_tokens=max_new_tokens, eos_token_id=sorted(self.stop_ids),
                pad_token_id=self.tokenizer.pad_token_id, **sampling)
        answers = []
        for row in out[:, batch["input_ids"].shape[1]:].tolist():
            for i, token in enumerate(row):
                if token in self.stop_ids:
                    row = row[:i]
                    break
            text = self.tokenizer.decode(row, skip_special_tokens=True)
            for word in self.stop_words:  # stop words of several tokens
                text = text.split(word, 1)[0]
            answers.append(text.strip())
        return answers


def check_run_settings(pred_dir, settings: GenerationSettings, *, record: bool = True) -> None:
    """Check that the run that wrote ``pred_dir/_run.json`` used ``settings``;
    if there is none yet and ``record``, write it (callers check before loading
    the model and record once it loaded, so a failed start leaves nothing)."""
    path = Path(pred_dir) / RUN_FILE
    mine = asdict(settings)
    if path.exists():
        try:
            theirs = json.loads(path.read_text(encoding="utf-8")).get("settings", {})
        except (OSError, ValueError, AttributeError) as exc:
            raise GenerateError(f"{path}: unreadable ({exc}); delete it to start afresh") \
                from None
        differ = [f"{k} {theirs.get(k)!r} there, {v!r} now" for k, v in mine.items()
                  if theirs.get(k) != v]
        if differ:
            raise GenerateError(f"{pred_dir} holds predictions made with other settings ("
                                + "; ".join(differ) + "); use another -o or delete it")
        return
    if record:
        write_json_atomic(path, {"settings": mine,
                                 "created": time.strftime("%Y-%m-%d %H:%M:%S")})


def _load_existing(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GenerateError(f"{path}: cannot resume from it ({exc}); delete it to "
                            "generate afresh") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) and "prediction" in v
                                             for v in data.values()):
        raise GenerateError(f"{path}: not a prediction file (an object of "
                            "{origin_prompt, prediction, refr}); delete it or use another -o")
    return data


@dataclass
class FileResult:
    """What :func:`generate_file` did for one output file."""

    path: Path
    total: int
    generated: int
    resumed: int
    seconds: float


def generate_file(items: Sequence[EvalItem], out_path, generator, template: dict, *,
                  max_new_tokens: int, temperature: float = 0.0, batch_size: int = 8,
                  on_done: Callable[[int], None] | None = None) -> FileResult:
    """Answer ``items`` into ``out_path`` (resuming it), ``batch_size`` prompts
    at a time, longest first; ``on_done(n)`` after each batch (progress)."""
    start = time.time()
    out_path = Path(out_path)
    existing = _load_existing(out_path)
    results: dict[str, dict] = {}
    pending = []
    for item in items:
        prompt = build_prompt(template, item.user, item.system)
        old = existing.get(item.key)
        if old is not None:
            if old.get("origin_prompt") != prompt:
                raise GenerateError(
                    f"{out_path}: item {item.key} was generated from another prompt "
                    "(different data, template or system?); use another -o or delete the file")
            results[item.key] = old
        else:
            pending.append((item, prompt))
    resumed = len(results)
    if on_done and resumed:
        on_done(resumed)
    pending.sort(key=lambda pair: -generator.prompt_length(pair[1]))
    for first in range(0, len(pending), batch_size):
        chunk = pending[first:first + batch_size]
        if getattr(generator, "wants_messages", False):  # a chat server builds the prompt
            from legal_eagle_xtuner.eval.api import chat_messages

            inputs = [chat_messages(item.user, item.system) for item, _ in chunk]
        else:
            inputs = [p for _, p in chunk]
        answers = generator(inputs, max_new_tokens=max_new_tokens, temperature=temperature)
        for (item, prompt), answer in zip(chunk, answers):
            results[item.key] = {"origin_prompt": prompt, "prediction": answer,
                                 "refr": item.refr, **item.extra}
        ordered = {k: results[k] for k in sorted(results, key=int)}
        try:
            write_json_atomic(out_path, ordered)
        except OutputError as exc:
            raise GenerateError(str(exc)) from None
        if on_done:
            on_done(len(chunk))
    if not pending and not out_path.exists():
        write_json_atomic(out_path, {})
    return FileResult(out_path, len(items), len(pending), resumed, time.time() - start)

