"""``legal-eagle data inspect``: what is in a corpus file.

Per file: encoding, layout (JSONL or JSON array), records per detected source
(and per DISC task), the fields seen, how many records carry references,
length percentiles and how many samples exceed ``max_length``.

Lengths are measured on the converted sample (system + user turn with its
reference block + answer), i.e. what training sees. Without a tokenizer they
are characters, and ``max_length`` is compared with characters (for InternLM2's
tokenizer Chinese legal text runs about 0.7 tokens per character, so this
over-counts). With a tokenizer they are tokens, counted exactly as XTuner's
``encode_fn`` counts them after the chat template is applied — the number the
config's ``max_length`` cuts at.

Memory: the reader streams; lengths are kept as 4-byte integers per record
for the percentiles.
"""

from __future__ import annotations

import copy
from array import array
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from legal_eagle_xtuner.data.corpus import byte_progress, iter_checked
from legal_eagle_xtuner.sources import ID_AS_TEXT, NO_REFERENCES, REFERENCE_HEADING, disc_task
from legal_eagle_xtuner.data.records import FileFormatError, detect_encoding, detect_format

__all__ = ["FileStats", "LengthStats", "TokenCounter", "inspect_file", "report_lines"]

PERCENTILES = (50, 90, 99)


@dataclass
class LengthStats:
    """Length distribution of the valid records of one file."""

    count: int
    """Records measured."""
    percentiles: dict[int, int]
    """Nearest-rank percentile → length."""
    max: int
    """Longest."""
    over: int
    """Records longer than ``max_length``."""


def _length_stats(lengths: array, max_length: int) -> LengthStats:
    ordered = sorted(lengths)
    count = len(ordered)
    if not count:
        return LengthStats(0, {p: 0 for p in PERCENTILES}, 0, 0)
    # nearest rank: the smallest value with at least p% of values <= it
    pct = {p: ordered[max(0, -(-p * count // 100) - 1)] for p in PERCENTILES}
    return LengthStats(count, pct, ordered[-1], sum(1 for n in ordered if n > max_length))


class TokenCounter:
    """Counts a converted record's tokens the way XTuner's dataset pipeline
    does: ``template_map_fn`` with the named prompt template, then ``encode_fn``
    (BOS, template, answer, suffix / EOS)."""

    def __init__(self, tokenizer_path, template: str = "internlm2_chat"):
        from transformers import AutoTokenizer
        from xtuner.utils import PROMPT_TEMPLATE

        if template not in PROMPT_TEMPLATE:
            raise ValueError(
                f"unknown prompt template {template!r}; XTuner's templates: "
                + ", ".join(sorted(PROMPT_TEMPLATE))
            )
        self.template = PROMPT_TEMPLATE[template]
        self.tokenizer = AutoTokenizer.from_pretrained(
            str(tokenizer_path), trust_remote_code=True
        )

    def __call__(self, record: dict) -> int:
        from xtuner.dataset.map_fns import template_map_fn
        from xtuner.dataset.utils import encode_fn

        example = template_map_fn(copy.deepcopy(record), self.template)
        encoded = encode_fn(example, self.tokenizer, max_length=1 << 30)
        return len(encoded["input_ids"])


@dataclass
class FileStats:
    """What :func:`inspect_file` found in one file."""

    path: str
    encoding: str = ""
    """``utf-8``, ``utf-8-sig`` (BOM) or ``gb18030``."""
    layout: str = ""
    """``jsonl``, ``array`` or ``empty``."""
    read: int = 0
    """Items read."""
    valid: int = 0
    """Items that convert."""
    invalid: int = 0
    """Items that do not (``legal-eagle data validate`` lists them)."""
    error: str | None = None
    """Set when the file cannot be read at all."""
    sources: Counter = field(default_factory=Counter)
    """Valid records per source."""
    tasks: Counter = field(default_factory=Counter)
    """Valid DISC records per task named by their id."""
    fields: Counter = field(default_factory=Counter)
    """Valid records carrying each top-level field."""
    with_references: int = 0
    """Valid records whose converted prompt has a ``参考法条：`` block."""
    detections: Counter = field(default_factory=Counter)
    """Valid records per :class:`~legal_eagle_xtuner.sources.Detection` (how
    their source was decided)."""
    notes: Counter = field(default_factory=Counter)
    """Valid records per conversion note (``id_as_text``, ``no_references``)."""
    max_length: int = 2048
    """The limit ``chars.over`` / ``tokens.over`` count against."""
    chars: LengthStats | None = None
    """Characters of the converted sample."""
    tokens: LengthStats | None = None
    """Tokens of the templated sample (with a tokenizer only)."""


def inspect_file(
    path,
    *,
    token_counter: TokenCounter | None = None,
    max_length: int = 2048,
    progress: bool | None = None,
    source: str | None = None,
) -> FileStats:
    """Gather :class:`FileStats` for ``path`` in one streaming pass."""
    stats = FileStats(str(path), max_length=max_length)
    try:
        stats.encoding = detect_encoding(path)
        stats.layout = detect_format(path, encoding=stats.encoding)
    except FileFormatError as exc:
        stats.error = str(exc)
        return stats
    chars = array("I")
    tokens = array("I")
    try:
        with byte_progress([path], f"inspect {Path(path).name}", progress) as on_bytes:
            for item in iter_checked([path], on_bytes=on_bytes, encoding=stats.encoding,
                                     source=source):
                stats.read += 1
                if not item.ok:
                    stats.invalid += 1
                    continue
                stats.valid += 1
                stats.sources[item.source] += 1
                stats.detections[item.detection] += 1
                stats.notes.update(item.notes)
                stats.fields.update(item.value.keys())
                if item.source.startswith("disc_"):
                    task = disc_task(item.value.get("id"))
                    if task:
                        stats.tasks[task] += 1
                turns = item.output["conversation"]
                if any(turn["input"].startswith(REFERENCE_HEADING) for turn in turns):
                    stats.with_references += 1
                chars.append(
                    sum(len(turn.get("system", "")) + len(turn["input"]) + len(turn["output"])
                        for turn in turns)
                )
                if token_counter is not None:
                    tokens.append(token_counter({"conversation": turns}))
    except FileFormatError as exc:
        stats.error = str(exc)
    stats.chars = _length_stats(chars, max_length)
    if token_counter is not None:
        stats.tokens = _length_stats(tokens, max_length)
    return stats


def _length_line(label: str, lengths: LengthStats, max_length: int) -> str:
    pct = "  ".join(f"p{p} {lengths.percentiles[p]}" for p in PERCENTILES)
    return (f"  {label}: {pct}  max {lengths.max}  "
            f"> {max_length}: {lengths.over} ({_share(lengths.over, lengths.count)})")


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "0.0%"


NOTE_LABELS = {ID_AS_TEXT: "ids converted to text", NO_REFERENCES: "without references"}
"""How each conversion note is counted in the data commands' summaries."""


def note_lines(notes: Counter, indent: str = "") -> list[str]:
    """``ids converted to text: N`` / ``without references: N``, for the notes that occur."""
    return [f"{indent}{label}: {notes[key]}" for key, label in NOTE_LABELS.items() if notes[key]]


def _detection_lines(detections: Counter) -> list[str]:
    lines = []
    for detection, count in sorted(detections.items(), key=lambda kv: (-kv[1], kv[0].source)):
        if not detection.fields:
            how = "given with --source"
        else:
            how = "decided by the fields " + ", ".join(detection.fields)
            if detection.guess:
                how += ("; a guess: DISC-Law-SFT-Pair records without 'id' have the same "
                        "fields (pass --source disc_pair if these are DISC records)")
        lines.append(f"    {detection.source} {count}: {how}")
    return lines


def report_lines(stats: FileStats) -> list[str]:
    """A readable summary of one file."""
    lines = [f"{stats.path}"]
    if stats.error and not stats.read:
        return lines + [f"  error: {stats.error}"]
    encoding = {"utf-8-sig": "utf-8 with BOM", "gb18030": "GBK/GB18030"}.get(
        stats.encoding, stats.encoding
    )
    lines.append(f"  {stats.layout}, {encoding}")
    lines.append(f"  records: {stats.read} read, {stats.valid} valid, {stats.invalid} invalid"
                 + (" (list them with `legal-eagle data validate`)" if stats.invalid else ""))
    if stats.error:
        lines.append(f"  error: {stats.error}")
    if stats.sources:
        lines.append("  source: " + ", ".join(
            f"{source} {count}" for source, count in stats.sources.most_common()))
        lines.extend(_detection_lines(stats.detections))
    if stats.tasks:
        lines.append("  DISC tasks: " + ", ".join(
            f"{task} {count}" for task, count in stats.tasks.most_common()))
    if stats.fields:
        lines.append("  fields: " + ", ".join(
            f"{name} {count}" for name, count in stats.fields.most_common()))
    if stats.valid:
        lines.append(f"  with references: {stats.with_references} "
                     f"({_share(stats.with_references, stats.valid)})")
        lines.extend(note_lines(stats.notes, indent="  "))
        lines.append(_length_line("chars", stats.chars, stats.max_length))
        if stats.tokens is not None:
            lines.append(_length_line("tokens", stats.tokens, stats.max_length))
    return lines
