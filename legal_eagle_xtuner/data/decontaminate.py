"""Flag training records whose question overlaps a benchmark item (LawBench).

LawBench reuses the sources our corpora come from (task 3-2 is built from
LAW-GPT scenario questions, 2-4 from CrimeKgAssitant, the 3-x cases from
CAIL), so a model fine-tuned on them may have seen test items. This module
finds training records that share text with a benchmark question and writes a
clean copy without them.

The rule
--------

*Normalisation* (both sides): Unicode NFKC, ``str.casefold``, then only
letters and digits are kept (Unicode categories ``L*`` and ``N*``); whitespace,
punctuation, symbols and marks are dropped. Full-width/half-width,
``，`` vs ``,``, line breaks and spacing therefore never hide an overlap.

*Benchmark side*: the ``question`` of every item (for files that are not
LawBench-shaped, :func:`~legal_eagle_xtuner.sources.question_text` of the item);
LawBench's ``instruction`` is the same prompt for every item of a task and is
never used, nor is ``answer``. The task name is the file stem (``3-2``). An item
whose normalised question has at least ``n`` characters (default 13, the usual
decontamination n-gram) contributes every character ``n``-gram of it; an item
shorter than ``n`` but with at least ``min_chars`` characters (default 8)
contributes its whole normalised question as one gram, matched as a substring
of the training question; shorter items are not checked (they are the
``items - checked`` of a task).

*Refinement, boilerplate*: a gram that occurs in more than ``max_gram_items``
(default 10) distinct benchmark items is not used. LawBench's case tasks repeat
formulae and quoted statutes in hundreds of items (``行为触犯了中华人民共和国刑法``
in 344 items, ``处三年以上十年以下有期徒刑`` in 251 items of 3-5), and the same text
is everywhere in legal training data, so such grams would flag records that
share no item-specific content. Text that is specific to an item is repeated in
at most about six items (LawBench reuses one CAIL case in 3-1, 3-3, 3-4, 3-5,
2-5 and 3-7), which stays under the limit. ``max_gram_items=None`` keeps every
gram (the plain rule).

*Training side*: the record's :func:`~legal_eagle_xtuner.sources.question_text`
(raw records of the four sources, or the user inputs of a converted record
without its ``参考法条：`` block), normalised. A record is flagged when any of its
``n``-character substrings equals a benchmark ``n``-gram, or any substring
equals a short item's whole question. Answers are not compared: statute texts
are shared between benchmark answers and training answers by design (both
quote the same law), so comparing them would flag nearly everything.

*Counts*: a record overlapping items of several tasks is one ``flagged``
record, and counts once in the ``records_flagged`` of each of those tasks;
``items_hit`` counts the items of a task that share a gram with at least one
training record (a gram shared by several items hits all of them).
``read == kept + flagged`` always. Records whose question has no letter or
digit are kept (``no_question``).

*Outputs*: the clean copy holds the kept records, ``json.dumps(value,
ensure_ascii=False)`` one per line in input order; the flagged file one line
``{"file", "line", "matches": [{"task", "item", "text"}], "record"}`` per
flagged record, ``item`` the 0-based position in the benchmark file, ``text``
the shared normalised gram, and at most one match per task (the one earliest
in the record, then the lowest item). Both are written to a temp file beside
the target and renamed at the end, so an error leaves nothing behind.

Implementation: grams are not kept as Python strings. Each is a 64-bit
polynomial rolling hash of its code points (numpy, over a batch of records at
a time, times an odd constant so the top bits depend on every character);
benchmark hashes sit in a sorted ``uint64`` array per gram length with a
parallel array of owners (benchmark items). Windows are pre-filtered with a
bitmap of the hashes' top bits (for the few short-item grams: by first and last
character), then looked up with :func:`numpy.searchsorted`. Every hash hit is
confirmed by comparing code points with the benchmark text, so a hash
collision never flags a record. For all of LawBench (10,000 items, 3M
characters) the index holds 1.8M distinct 13-grams (3,127 dropped as
boilerplate) in about 56 MB and builds in about 1.5 s.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from legal_eagle_xtuner.data.corpus import byte_progress, json_type
from legal_eagle_xtuner.sources import question_text
from legal_eagle_xtuner.data.files import AtomicJsonl, OutputError
from legal_eagle_xtuner.data.records import FileFormatError, Problem, iter_records

__all__ = [
    "BenchmarkIndex",
    "DecontaminationError",
    "DecontaminationResult",
    "TaskOverlap",
    "decontaminate",
    "load_benchmarks",
    "normalize",
    "report_lines",
]

_BASE = np.uint64(0x9E3779B97F4A7C15)  # odd, so every step of the polynomial hash is invertible
_SPREAD = np.uint64(0xFF51AFD7ED558CCD)  # odd; moves low-bit differences into the top bits

_BATCH_CHARS = 1 << 18
"""Training characters normalised and hashed at a time (bounds the arrays to a few MB)."""
_BATCH_RECORDS = 4096

_FIRST_CHAR_GRAMS = 4096
"""Tables with at most this many grams pre-filter windows by their first and last
character (the short items' tables); larger ones by a bitmap of hashes."""
_BITMAP_BITS_PER_GRAM = 32
"""Bitmap size of larger tables: about 3% of windows that are no gram pass it."""


class DecontaminationError(Exception):
    """A user-facing failure; ``FILE:LINE: message`` when it is about one item."""


@functools.lru_cache(maxsize=None)
def _alnum_table() -> np.ndarray:
    """``table[code point]``: whether it is a letter or digit (category L* or N*).

    Built with the pattern ``[^\\W_]``, which for ``str`` is exactly
    ``str.isalnum`` (a test checks it against the categories of every code point)."""
    points = np.concatenate(
        [np.arange(0xD800, dtype="<u4"), np.arange(0xE000, 0x110000, dtype="<u4")]
    )
    text = points.tobytes().decode("utf-32-le")
    table = np.zeros(0x110000, dtype=bool)
    for run in re.finditer(r"[^\W_]+", text):
        table[points[run.start() : run.end()]] = True
    return table


@functools.lru_cache(maxsize=None)
def _bmp_replacements() -> np.ndarray:
    """``table[c]`` for BMP code points: the single character ``c`` decomposes
    to under NFKD (full-width forms, ideographic and other spaces, ①, small
    form variants, CJK compatibility ideographs), ``.`` for ``…`` and ``‥``,
    else ``c`` itself."""
    table = np.arange(0x10000, dtype="<u4")
    for point in range(0x10000):
        if 0xD800 <= point < 0xE000:
            continue
        decomposed = unicodedata.normalize("NFKD", chr(point))
        if len(decomposed) == 1:
            table[point] = ord(decomposed)
    table[[0x2025, 0x2026]] = 0x2E
    return table


def _normalize_batch(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Normalise ``texts``: their code points concatenated, and their lengths.

    Exactly NFKC, casefold, keep L*/N*, done in bulk with numpy. Shortcut: BMP
    characters whose compatibility decomposition is one character (full-width
    forms, ideographic space, ① ...) are first replaced by it. NFKC begins by
    decomposing every character, so its result is unchanged, and most Chinese
    text is then NFKC already, which :func:`unicodedata.is_normalized` confirms
    without normalising (about 5x faster). ``…`` and ``‥`` (``...``, ``..``)
    become one ``.``: ``.`` never composes with a neighbour, so NFKC keeps any
    run of dots as it is, and dots are dropped anyway. Texts are joined with
    ``"\\n"`` (their own line breaks become spaces), likewise a character NFKC
    never composes, produces or moves marks across, and dropped at the end.
    """
    joined = "\n".join(text.replace("\n", " ") for text in texts)
    codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype="<u4").copy()
    bmp = codes < 0x10000
    codes[bmp] = _bmp_replacements()[codes[bmp]]
    pieces = codes.tobytes().decode("utf-32-le", "surrogatepass").split("\n")
    for number, piece in enumerate(pieces):
        if not unicodedata.is_normalized("NFKC", piece):
            pieces[number] = unicodedata.normalize("NFKC", piece)
    joined = "\n".join(pieces).casefold()
    codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype="<u4")
    text_of = np.cumsum(codes == 0x0A)
    keep = _alnum_table()[codes]
    lengths = np.bincount(text_of[keep], minlength=len(texts)).astype(np.int64)
    return codes[keep], lengths[: len(texts)]


def normalize(text: str) -> str:
    """``text`` as compared: NFKC, casefolded, only letters and digits kept."""
    codes, _ = _normalize_batch([text])
    return codes.tobytes().decode("utf-32-le")


# -- hashing ------------------------------------------------------------------


def _rolling(codes: np.ndarray, lengths: Iterable[int]):
    """Yield ``(length, h)`` for each of ``lengths`` (ascending), where ``h[i]``
    is the polynomial ``sum(c[i+j] * B**(length-1-j)) mod 2**64`` of the window
    ``codes[i:i+length]``; the gram's hash is ``h * _SPREAD``. ``h`` is reused
    for the next length: use it before resuming. Windows running past the end
    are hashed over zero padding; callers mask them out."""
    lengths = sorted(set(lengths))
    size = len(codes)
    padded = np.zeros(size + lengths[-1], dtype=np.uint64)
    padded[:size] = codes
    h = np.zeros(size, dtype=np.uint64)
    for j in range(lengths[-1]):
        h *= _BASE
        h += padded[j : j + size]
        if j + 1 in lengths:
            yield j + 1, h


def _gather(codes: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """``codes[s:s+length]`` for every ``s`` in ``starts``, as rows."""
    return codes[starts[:, None] + np.arange(length)]


@dataclass
class _Table:
    """The distinct benchmark grams of one length."""

    length: int
    hashes: np.ndarray  # uint64, sorted; one entry per distinct gram
    rep: np.ndarray  # int32/int64 offset in BenchmarkIndex.codes of one occurrence
    ptr: np.ndarray  # int32/int64, len(hashes) + 1: owners of gram g are owners[ptr[g]:ptr[g+1]]
    owners: np.ndarray  # int32 global item numbers, ascending per gram
    bitmap: np.ndarray  # uint8 bit set over the top ``bits`` bits of the hashes
    bits: int
    first: np.ndarray | None  # small tables: bool by code point, "a gram starts with it"
    last: np.ndarray | None  # ... "a gram ends with it"; both end with a False entry

    @property
    def nbytes(self) -> int:
        arrays = (self.hashes, self.rep, self.ptr, self.owners, self.bitmap)
        if self.first is not None:
            arrays += (self.first, self.last)
        return sum(a.nbytes for a in arrays)

    def find(self, h, codes, ends, bench_codes):
        """Windows of ``codes`` (texts ending at ``ends``) that are grams of this
        table, given their polynomials ``h`` (see :func:`_rolling`):
        ``(start positions, gram numbers)``, text-verified."""
        if not len(self.hashes) or not len(h):
            return np.empty(0, np.int64), np.empty(0, np.int64)
        if self.first is not None:  # few grams: windows with a gram's first and last character
            tail = len(codes) - self.length + 1
            if tail <= 0:
                return np.empty(0, np.int64), np.empty(0, np.int64)
            capped = np.minimum(codes, len(self.first) - 1)  # the last entry is False
            ok = self.first[capped[:tail]]
            ok &= self.last[capped[self.length - 1 :]]
            maybe = np.nonzero(ok)[0]
            query = h[maybe] * _SPREAD
        else:  # many grams: pre-filter with the bitmap
            hashes = h * _SPREAD
            top = hashes >> np.uint64(64 - self.bits)
            bit = (top & np.uint64(7)).astype(np.uint8)
            maybe = np.nonzero((self.bitmap[top >> np.uint64(3)] >> bit) & 1)[0]
            query = hashes[maybe]
        # windows that run into the next text (or past the end) do not count
        valid = maybe + self.length <= ends[np.searchsorted(ends, maybe, side="right")]
        maybe, query = maybe[valid], query[valid]
        slot = np.searchsorted(self.hashes, query)
        found_at, found_gram = [], []
        last = len(self.hashes) - 1
        cand = np.nonzero((slot <= last) & (self.hashes[np.minimum(slot, last)] == query))[0]
        while len(cand):  # normally once; again only where hashes collide
            where, gram = maybe[cand], slot[cand]
            same = (
                _gather(codes, where, self.length)
                == _gather(bench_codes, self.rep[gram], self.length)
            ).all(axis=1)
            found_at.append(where[same])
            found_gram.append(gram[same])
            slot[cand] += 1
            nxt = slot[cand]
            cand = cand[(nxt <= last) & (self.hashes[np.minimum(nxt, last)] == query[cand])]
        if not found_at:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        return np.concatenate(found_at).astype(np.int64), np.concatenate(found_gram)


def _build_table(length, hashes, starts, items, codes, max_gram_items) -> tuple[_Table, int]:
    """Group occurrences ``(hash, start, item)`` of grams of one length into a
    :class:`_Table`; return it and the number of boilerplate grams dropped."""
    order = np.argsort(hashes, kind="stable")  # stable: items stay ascending within a gram
    hashes, starts, items = hashes[order], starts[order], items[order]
    count = len(hashes)
    new_gram = np.ones(count, dtype=bool)
    if count > 1:
        new_gram[1:] = hashes[1:] != hashes[:-1]
        pairs = np.nonzero(~new_gram)[0]
        for lo in range(0, len(pairs), 1 << 16):  # equal hash: equal text too?
            chunk = pairs[lo : lo + (1 << 16)]
            differ = (
                _gather(codes, starts[chunk], length) != _gather(codes, starts[chunk - 1], length)
            ).any(axis=1)
            new_gram[chunk[differ]] = True
    gram_of = np.cumsum(new_gram) - 1
    keep = np.ones(count, dtype=bool)  # one occurrence per (gram, item)
    if count > 1:
        keep[1:] = (gram_of[1:] != gram_of[:-1]) | (items[1:] != items[:-1])
    gram_of, items = gram_of[keep], items[keep]
    heads = np.nonzero(new_gram)[0]
    owner_counts = np.bincount(gram_of, minlength=len(heads))
    usable = np.ones(len(heads), dtype=bool)
    if max_gram_items is not None:
        usable = owner_counts <= max_gram_items
    dropped = int((~usable).sum())
    owner_keep = usable[gram_of]
    ptr = np.zeros(int(usable.sum()) + 1, dtype=np.int64)
    np.cumsum(owner_counts[usable], out=ptr[1:])
    small = np.int32 if len(codes) < 2**31 and ptr[-1] < 2**31 else np.int64
    table_hashes = hashes[heads][usable]
    rep = starts[heads][usable]
    first = last = None
    if len(table_hashes) <= _FIRST_CHAR_GRAMS:
        size = int(max(codes[rep].max(), codes[rep + length - 1].max(), 0)) + 2 if len(rep) else 1
        first = np.zeros(size, dtype=bool)
        first[codes[rep]] = True
        last = np.zeros(size, dtype=bool)
        last[codes[rep + length - 1]] = True
        bits = 3
    else:
        bits = int(np.ceil(np.log2(len(table_hashes) * _BITMAP_BITS_PER_GRAM)))
        bits = min(bits, 34)
    bitmap = np.zeros(1 << (bits - 3), dtype=np.uint8)
    if first is None:
        top = table_hashes >> np.uint64(64 - bits)
        np.bitwise_or.at(
            bitmap, top >> np.uint64(3), np.uint8(1) << (top & np.uint64(7)).astype(np.uint8)
        )
    table = _Table(
        length=length,
        hashes=table_hashes,
        rep=rep.astype(small),
        ptr=ptr.astype(small),
        owners=items[owner_keep].astype(np.int32),
        bitmap=bitmap,
        bits=bits,
        first=first,
        last=last,
    )
    return table, dropped


# -- benchmark index ----------------------------------------------------------


@dataclass(eq=False)
class BenchmarkIndex:
    """The benchmark grams, built once by :func:`load_benchmarks`."""

    n: int
    """Gram length for items of at least ``n`` normalised characters."""
    min_chars: int
    """Shortest normalised question that is checked (as one whole gram)."""
    max_gram_items: int | None
    """Grams found in more benchmark items than this are boilerplate, unused."""
    tasks: list[str]
    """Task names (file stems), in the order the files were given."""
    paths: list[str]
    """The benchmark files, as given."""
    items: list[int]
    """Items per task."""
    checked: list[int]
    """Items per task whose normalised question has at least ``min_chars`` characters."""
    item_task: np.ndarray = field(repr=False)
    """Task number (into ``tasks``) of each checked item, by global item number."""
    item_index: np.ndarray = field(repr=False)
    """0-based position in its file of each checked item."""
    item_start: np.ndarray = field(repr=False)
    """Offset in ``codes`` where each checked item's normalised question starts
    (one more entry: the end)."""
    codes: np.ndarray = field(repr=False)
    """Code points of all checked items' normalised questions, concatenated."""
    tables: dict[int, _Table] = field(repr=False)
    """Distinct grams per gram length (``n`` and the short items' lengths)."""
    boilerplate_grams: int = 0
    """Distinct grams dropped because more than ``max_gram_items`` items have them."""

    @property
    def grams(self) -> int:
        """Distinct grams used for matching."""
        return sum(len(t.hashes) for t in self.tables.values())

    @property
    def nbytes(self) -> int:
        """Memory held by the index's arrays."""
        arrays = (self.item_task, self.item_index, self.item_start, self.codes)
        return sum(a.nbytes for a in arrays) + sum(t.nbytes for t in self.tables.values())

    def gram_text(self, start: int, length: int) -> str:
        """The normalised benchmark text ``codes[start:start+length]``."""
        return self.codes[start : start + length].tobytes().decode("utf-32-le")


def _benchmark_question(value) -> str:
    """LawBench's ``question``; for other files the record's question text."""
    if isinstance(value, Mapping) and isinstance(value.get("question"), str):
        return value["question"]
    return question_text(value)


def load_benchmarks(
    paths, *, n: int = 13, min_chars: int = 8, max_gram_items: int | None = 10
) -> BenchmarkIndex:
    """Read benchmark files (LawBench's ``data/<setting>/<task>.json``, or any
    JSON array / JSONL of records) and index their questions' grams (see the
    module docstring for the rule). Raises :class:`DecontaminationError` for an
    unreadable file or item, an item without question text (``FILE:LINE:
    benchmark item has no 'question' text``), or two files with one stem."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not isinstance(min_chars, int) or min_chars < 1:
        raise ValueError(f"min_chars must be a positive integer, got {min_chars!r}")
    if max_gram_items is not None and (not isinstance(max_gram_items, int) or max_gram_items < 1):
        raise ValueError(
            f"max_gram_items must be a positive integer or None, got {max_gram_items!r}"
        )
    paths = [str(p) for p in paths]
    if not paths:
        raise DecontaminationError("no benchmark files given")
    tasks, items, checked = [], [], []
    questions, item_task, item_index = [], [], []
    seen: dict[str, str] = {}
    for task_no, path in enumerate(paths):
        task = Path(path).stem
        if task in seen:
            raise DecontaminationError(
                f"{path}: task name {task!r} (the file stem) is also that of {seen[task]}; "
                "give benchmark files distinct names"
            )
        seen[task] = path
        total = 0
        try:
            for item in iter_records(path):
                if isinstance(item, Problem):
                    raise DecontaminationError(str(item))
                total += 1
                if not isinstance(item.value, Mapping):
                    raise DecontaminationError(
                        f"{path}:{item.line}: benchmark item is not a JSON object "
                        f"(got {json_type(item.value)})"
                    )
                question = _benchmark_question(item.value)
                if not question.strip():
                    raise DecontaminationError(
                        f"{path}:{item.line}: benchmark item has no 'question' text"
                    )
                questions.append(question)
                item_task.append(task_no)
                item_index.append(item.index - 1)
        except FileFormatError as exc:
            raise DecontaminationError(str(exc)) from None
        tasks.append(task)
        items.append(total)

    codes, lengths = _normalize_batch(questions)
    del questions
    item_task = np.asarray(item_task, dtype=np.int32)
    item_index = np.asarray(item_index, dtype=np.int32)
    usable = lengths >= min_chars  # shorter items are not checked
    checked = np.bincount(item_task[usable], minlength=len(tasks)).tolist()
    text_of = np.repeat(usable, lengths)
    codes, lengths = codes[text_of].copy(), lengths[usable]
    item_task, item_index = item_task[usable], item_index[usable]
    item_start = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=item_start[1:])
    tables, dropped = {}, 0
    if len(codes):
        item_of_pos = np.repeat(np.arange(len(lengths), dtype=np.int32), lengths)
        wanted = {n} | {int(x) for x in lengths[lengths < n]}
        occurrences = {}
        for length, h in _rolling(codes, wanted):
            if length == n:
                starts = np.arange(len(codes), dtype=np.int64)
                starts = starts[starts + n <= item_start[1:][item_of_pos]]
            else:  # short items: their whole question, one gram at their start
                starts = item_start[:-1][lengths == length]
            occurrences[length] = (h[starts] * _SPREAD, starts, item_of_pos[starts])
        del item_of_pos
        for length in sorted(occurrences):
            table, count = _build_table(length, *occurrences.pop(length), codes, max_gram_items)
            tables[length] = table
            dropped += count
    return BenchmarkIndex(
        n=n,
        min_chars=min_chars,
        max_gram_items=max_gram_items,
        tasks=tasks,
        paths=paths,
        items=items,
        checked=checked,
        item_task=item_task,
        item_index=item_index,
        item_start=item_start,
        codes=codes,
        tables=tables,
        boilerplate_grams=dropped,
    )


# -- matching -----------------------------------------------------------------


def _match_batch(index: BenchmarkIndex, codes: np.ndarray, lengths: np.ndarray):
    """Match normalised training texts (``codes`` of texts of ``lengths``,
    concatenated); return ``{text number: [(task number, item number, gram
    text), ...]}`` (one per task, earliest position first) and the global item
    numbers hit."""
    if not len(codes) or not index.tables:
        return {}, np.empty(0, np.int32)
    ends = np.cumsum(lengths)
    hit_pos, hit_len, hit_gram = [], [], []
    for length, hashes in _rolling(codes, index.tables):
        pos, gram = index.tables[length].find(hashes, codes, ends, index.codes)
        if len(pos):
            hit_pos.append(pos)
            hit_len.append(np.full(len(pos), length, dtype=np.int64))
            hit_gram.append(gram)
        del hashes
    if not hit_pos:
        return {}, np.empty(0, np.int32)
    pos = np.concatenate(hit_pos)
    glen = np.concatenate(hit_len)
    grams = np.concatenate(hit_gram)
    # one row per (hit, owner item)
    ptr_lo = np.empty(len(grams), dtype=np.int64)
    ptr_hi = np.empty(len(grams), dtype=np.int64)
    for length in index.tables:
        sel = glen == length
        if sel.any():
            table = index.tables[length]
            ptr_lo[sel] = table.ptr[grams[sel]]
            ptr_hi[sel] = table.ptr[grams[sel] + 1]
    counts = ptr_hi - ptr_lo
    row = np.repeat(np.arange(len(grams)), counts)
    offset = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    owner = np.empty(len(row), dtype=np.int64)
    for length in index.tables:
        sel = glen[row] == length
        if sel.any():
            owner[sel] = index.tables[length].owners[ptr_lo[row[sel]] + offset[sel]]
    rec = np.searchsorted(ends, pos[row], side="right")
    task = index.item_task[owner]
    order = np.lexsort((owner, pos[row], task, rec))
    rec, task, owner, row = rec[order], task[order], owner[order], row[order]
    first = np.ones(len(rec), dtype=bool)
    first[1:] = (rec[1:] != rec[:-1]) | (task[1:] != task[:-1])
    out: dict[int, list] = {}
    for r, t, o, h in zip(rec[first], task[first], owner[first], row[first]):
        length = int(glen[h])
        rep = int(index.tables[length].rep[grams[h]])
        out.setdefault(int(r), []).append((int(t), int(o), index.gram_text(rep, length)))
    return out, np.unique(owner)


# -- the command --------------------------------------------------------------


@dataclass
class TaskOverlap:
    """Overlap with one benchmark task."""

    task: str
    """Task name (the benchmark file's stem)."""
    items: int
    """Items in the task."""
    checked: int
    """Items long enough to be checked (at least ``min_chars`` normalised characters)."""
    records_flagged: int
    """Training records overlapping at least one item of the task."""
    items_hit: int
    """Items of the task overlapped by at least one training record."""


@dataclass
class DecontaminationResult:
    """What :func:`decontaminate` did."""

    read: int
    """Training records read (``kept + flagged``)."""
    kept: int
    """Records that overlap no benchmark item (written to ``output_path``)."""
    flagged: int
    """Records that overlap at least one item (written to ``flagged_path``)."""
    tasks: list[TaskOverlap]
    """One entry per benchmark task, in the order the benchmark files were given."""
    output_path: Path | None
    """The clean copy written, if any."""
    flagged_path: Path | None
    """The flagged records written, if any."""
    no_question: int = 0
    """Records whose question text has no letter or digit (nothing to compare;
    counted in ``kept``)."""


def _writer(path: Path) -> AtomicJsonl:
    try:
        return AtomicJsonl(path, make_parents=False)
    except OutputError as exc:
        raise DecontaminationError(str(exc)) from None


def decontaminate(
    paths,
    index: BenchmarkIndex,
    *,
    output=None,
    flagged=None,
    progress: bool | None = None,
) -> DecontaminationResult:
    """Check every record of the training files ``paths`` (JSONL or JSON arrays
    of raw or converted records) against ``index``.

    ``output``: write the records that overlap nothing, one compact JSON per
    line, in input order. ``flagged``: write one JSON line per flagged record,
    ``{"file", "line", "matches": [{"task", "item", "text"}, ...], "record"}``
    with at most one match per task (the earliest in the record). Both are
    written to a temp file and renamed at the end, so an error leaves neither
    (and an existing file untouched); either may be one of ``paths``.
    Raises :class:`DecontaminationError` (``FILE:LINE: ...``) for an item that
    is not valid JSON or not an object, or an unreadable file, and ``cannot
    write PATH: ...`` for an output that cannot be written. ``progress``: tqdm
    bar over the input bytes (``None``: only on a terminal).
    """
    paths = [str(p) for p in paths]
    output = Path(output) if output is not None else None
    flagged = Path(flagged) if flagged is not None else None
    if output is not None and flagged is not None and output.resolve() == flagged.resolve():
        raise DecontaminationError(f"the clean copy and the flagged records would both be {output}")
    task_count = len(index.tasks)
    records_flagged = np.zeros(task_count, dtype=np.int64)
    item_hit = np.zeros(len(index.item_task), dtype=bool)
    counts = {"read": 0, "kept": 0, "flagged": 0, "no_question": 0}
    writers: list[AtomicJsonl] = []
    try:
        out_w = _writer(output) if output is not None else None
        if out_w:
            writers.append(out_w)
        flag_w = _writer(flagged) if flagged is not None else None
        if flag_w:
            writers.append(flag_w)

        batch: list[tuple[str, int, object]] = []
        texts: list[str] = []
        size = 0

        def flush():
            codes, lengths = _normalize_batch(texts)
            counts["no_question"] += int((lengths == 0).sum())
            found, hit = _match_batch(index, codes, lengths)
            item_hit[hit] = True
            for number, (path, line, value) in enumerate(batch):
                matches = found.get(number)
                if not matches:
                    counts["kept"] += 1
                    if out_w:
                        out_w.write(value)
                    continue
                counts["flagged"] += 1
                for task_no, _, _ in matches:
                    records_flagged[task_no] += 1
                if flag_w:
                    flag_w.write(
                        {
                            "file": path,
                            "line": line,
                            "matches": [
                                {
                                    "task": index.tasks[t],
                                    "item": int(index.item_index[o]),
                                    "text": text,
                                }
                                for t, o, text in matches
                            ],
                            "record": value,
                        }
                    )
            batch.clear()
            texts.clear()

        with byte_progress(paths, "decontaminate", progress) as on_bytes:
            for path in paths:
                try:
                    for item in iter_records(path, on_bytes=on_bytes):
                        if isinstance(item, Problem):
                            raise DecontaminationError(str(item))
                        if not isinstance(item.value, Mapping):
                            raise DecontaminationError(
                                f"{path}:{item.line}: record is not a JSON object "
                                f"(got {json_type(item.value)})"
                            )
                        counts["read"] += 1
                        text = question_text(item.value)
                        batch.append((path, item.line, item.value))
                        texts.append(text)
                        size += len(text)
                        if size >= _BATCH_CHARS or len(batch) >= _BATCH_RECORDS:
                            flush()
                            size = 0
                except FileFormatError as exc:
                    raise DecontaminationError(str(exc)) from None
            flush()
        for writer in writers:
            writer.commit()
    except BaseException as exc:
        for writer in writers:
            writer.discard()
        if isinstance(exc, OutputError):
            raise DecontaminationError(str(exc)) from None
        raise
    first_item = np.searchsorted(index.item_task, np.arange(task_count + 1))
    tasks = [
        TaskOverlap(
            task=index.tasks[t],
            items=index.items[t],
            checked=index.checked[t],
            records_flagged=int(records_flagged[t]),
            items_hit=int(item_hit[first_item[t] : first_item[t + 1]].sum()),
        )
        for t in range(task_count)
    ]
    return DecontaminationResult(
        read=counts["read"],
        kept=counts["kept"],
        flagged=counts["flagged"],
        tasks=tasks,
        output_path=output,
        flagged_path=flagged,
        no_question=counts["no_question"],
    )


def report_lines(result: DecontaminationResult) -> list[str]:
    """A per-task table (task, items, checked, training records overlapping,
    items hit), then ``read N, kept K, flagged F``."""
    header = ("task", "items", "checked", "training records overlapping", "items hit")
    rows = [
        (t.task, str(t.items), str(t.checked), str(t.records_flagged), str(t.items_hit))
        for t in result.tasks
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def fmt(row):
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        return "  ".join(cells).rstrip()

    lines = [fmt(header), *(fmt(r) for r in rows)]
    summary = f"read {result.read}, kept {result.kept}, flagged {result.flagged}"
    if result.no_question:
        summary += f" ({result.no_question} kept without question text to compare)"
    lines.append(summary)
    return lines
