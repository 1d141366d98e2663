"""Batched tokenisation that reproduces XTuner's ``template_map_fn`` + ``encode_fn``.

XTuner prepares SFT data one example at a time: ``template_map_fn`` wraps every
turn of ``example["conversation"]`` in the prompt template, then ``encode_fn``
tokenises the turns one string at a time (each through a non-batched
``datasets.map``). :func:`encode_batch` does both steps for a whole batch of a
``datasets.map(batched=True)`` call: it templates every turn, calls the (fast)
tokenizer once for all prompt strings of the batch and once for all answer
strings (and once for the template's separator), then assembles ``input_ids``
and ``labels`` exactly as ``encode_fn(example, tokenizer, max_length,
input_ids_with_output=True)`` does after ``template_map_fn(example, template)``:

* BOS (from ``xtuner.dataset.utils.get_bos_eos_token_ids``) before a turn's
  prompt when the previous turn ended with EOS (always for the first turn),
  labelled ``IGNORE_INDEX``;
* the templated prompt (``SYSTEM`` when the turn's system is neither ``""`` nor
  ``None``, then ``INSTRUCTION`` with ``{input}`` and ``{round}``), labelled
  ``IGNORE_INDEX``;
* the output plus the template's ``SUFFIX`` (when it has a non-empty one),
  labelled with its own ids, or ``IGNORE_INDEX`` when the turn's
  ``output_with_loss`` is falsy;
* EOS unless the template sets ``SUFFIX_AS_EOS`` (labelled like the output);
  without EOS the next turn gets no BOS;
* the template's ``SEP`` (when not ``""``), labelled ``IGNORE_INDEX``;
* finally truncation of both lists to ``max_length``.

Tokenising the prompt and the answer as separate strings is what ``encode_fn``
does too (``tokenizer.encode(text, add_special_tokens=False)`` per string), and
a fast tokenizer encodes each string of a batch independently, so the batched
result is the same token for token; ``tests/test_tokenize.py`` checks it
against ``encode_fn`` on generated records of every source, several templates
and two different tokenizers.

Usage with ``datasets``::

    from legal_eagle_xtuner.train.tokenize import batch_encoder

    encoded = dataset.map(
        batch_encoder(tokenizer, PROMPT_TEMPLATE.internlm2_chat, max_length=2048),
        batched=True,
        num_proc=4,
        remove_columns=dataset.column_names,
    )
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Mapping, NamedTuple

from xtuner.dataset.utils import get_bos_eos_token_ids
from xtuner.utils import IGNORE_INDEX

__all__ = ["encode_batch", "batch_encoder"]


class _Template(NamedTuple):
    """The parts of a prompt template that ``template_map_fn`` uses."""

    instruction: str
    system: str | None  # None: the template has no SYSTEM entry
    suffix: str  # "" when the template has no (or an empty/None) SUFFIX
    need_eos_token: bool  # not SUFFIX_AS_EOS
    sep: str


def _resolve_template(template: Any) -> Mapping:
    """Accept a template mapping, or (like ``template_map_fn_factory``) the
    dotted path of one, e.g. ``"xtuner.utils.PROMPT_TEMPLATE.internlm2_chat"``."""
    if isinstance(template, str):
        from mmengine.utils.misc import get_object_from_string

        resolved = get_object_from_string(template)
        if resolved is None:
            raise ValueError(f"cannot resolve prompt template {template!r}")
        template = resolved
    if not isinstance(template, Mapping):
        raise TypeError(
            f"template must be a mapping (e.g. xtuner.utils.PROMPT_TEMPLATE.internlm2_chat), "
            f"got {type(template).__name__}"
        )
    return template


def _template_parts(template: Mapping) -> _Template:
    """Read a template the way ``template_map_fn`` does (``SUFFIX`` counts only
    when truthy, ``SUFFIX_AS_EOS`` defaults to False, ``SEP`` to ``""``)."""
    if "INSTRUCTION" not in template:
        raise KeyError("prompt template has no 'INSTRUCTION'")
    return _Template(
        instruction=template["INSTRUCTION"],
        system=template.get("SYSTEM", None),
        suffix=template.get("SUFFIX", None) or "",
        need_eos_token=not template.get("SUFFIX_AS_EOS", False),
        sep=template.get("SEP", ""),
    )


def _tokenize(tokenizer, texts: list[str]) -> list[list[int]]:
    """One tokenizer call for a list of strings, no special tokens added.

    Only ``input_ids`` are asked for: the attention mask and token type ids that
    ``encode_fn`` never reads would cost a fifth of the call's time; the ids are
    the same either way.
    """
    if not texts:
        return []
    return tokenizer(
        texts,
        add_special_tokens=False,
        return_attention_mask=False,
        return_token_type_ids=False,
    )["input_ids"]


def _check_max_length(max_length: int | None) -> None:
    if max_length is None:
        return
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
        raise ValueError(f"max_length must be a positive integer or None, got {max_length!r}")


def encode_batch(
    batch: dict, *, tokenizer, template, max_length: int | None = None
) -> dict:
    """Tokenise a batch of conversations exactly like XTuner's per-example
    ``template_map_fn`` + ``encode_fn``.

    ``batch`` is a ``datasets`` batch: ``batch["conversation"]`` holds one list
    of turns (dicts with ``input``, ``output`` and optionally ``system`` and
    ``output_with_loss``) per example; other columns are ignored. Neither the
    batch nor its turns are modified.

    ``template`` is an XTuner prompt template (e.g.
    ``xtuner.utils.PROMPT_TEMPLATE.internlm2_chat``), a plain dict with the same
    keys, or the dotted path of one.

    Returns ``{"input_ids": [...], "labels": [...], "length": [...]}`` with one
    entry per example. ``length`` is the number of tokens *before* truncation;
    with ``max_length=None`` nothing is truncated, otherwise ``input_ids`` and
    ``labels`` are cut to ``max_length`` tokens like ``encode_fn`` does.
    """
    _check_max_length(max_length)
    parts = _template_parts(_resolve_template(template))
    conversations = batch["conversation"]

    # 1. Template every turn (template_map_fn), collecting the strings.
    prompts: list[str] = []
    answers: list[str] = []
    for conversation in conversations:
        for i, turn in enumerate(conversation):
            text = turn.get("input", "")
            if text is None:
                text = ""
            prompt = parts.instruction.format(input=text, round=i + 1)
            system = turn.get("system", "")
            if system != "" and system is not None:
                if parts.system is None:
                    raise KeyError(
                        "the prompt template has no 'SYSTEM' but a turn has a system prompt"
                    )
                prompt = parts.system.format(system=system) + prompt
            prompts.append(prompt)
            if parts.suffix:
                answers.append(turn.get("output", "") + parts.suffix)
            else:
                answers.append(turn["output"])

    # 2. One tokenizer call per kind of string.
    prompt_ids = _tokenize(tokenizer, prompts)
    answer_ids = _tokenize(tokenizer, answers)
    sep_ids = _tokenize(tokenizer, [parts.sep])[0] if parts.sep != "" else []
    sep_labels = [IGNORE_INDEX] * len(sep_ids)

    bos, eos = get_bos_eos_token_ids(tokenizer)
    if prompts and bos is None:
        raise ValueError("the tokenizer has no BOS token (encode_fn needs one)")
    if prompts and parts.need_eos_token and eos is None:
        raise ValueError("the tokenizer has no EOS token and the template needs one")
    bos_labels = [IGNORE_INDEX] * len(bos or ())
    eos_masked = [IGNORE_INDEX] * len(eos or ())

    # 3. Assemble each example (encode_fn).
    all_input_ids: list[list[int]] = []
    all_labels: list[list[int]] = []
    lengths: list[int] = []
    k = 0
    for conversation in conversations:
        input_ids: list[int] = []
        labels: list[int] = []
        next_needs_bos_token = True
        for turn in conversation:
            p_ids = prompt_ids[k]
            a_ids = answer_ids[k]
            k += 1
            if next_needs_bos_token:
                input_ids += bos
                labels += bos_labels
            input_ids += p_ids
            labels += [IGNORE_INDEX] * len(p_ids)
            input_ids += a_ids
            with_loss = turn.get("output_with_loss", True)
            labels += a_ids if with_loss else [IGNORE_INDEX] * len(a_ids)
            if parts.need_eos_token:
                next_needs_bos_token = True
                input_ids += eos
                labels += eos if with_loss else eos_masked
            else:
                next_needs_bos_token = False
            if sep_ids:
                input_ids += sep_ids
                labels += sep_labels
        lengths.append(len(input_ids))
        if max_length is not None and len(input_ids) > max_length:
            input_ids = input_ids[:max_length]
            labels = labels[:max_length]
        all_input_ids.append(input_ids)
        all_labels.append(labels)

    return {"input_ids": all_input_ids, "labels": all_labels, "length": lengths}


def batch_encoder(tokenizer, template, max_length: int | None = None) -> Callable[[dict], dict]:
    """:func:`encode_batch` bound to a tokenizer, template and ``max_length``,
    for ``datasets.Dataset.map(batched=True)``.

    The result is a ``functools.partial`` of a top-level function (the template
    is copied into a plain dict), so it pickles and works with ``num_proc > 1``.
    """
    _check_max_length(max_length)
    resolved = _resolve_template(template)
    _template_parts(resolved)  # fail now, not in a worker process
    plain = {key: resolved[key] for key in resolved}
    return functools.partial(
        encode_batch, tokenizer=tokenizer, template=plain, max_length=max_length
    )
