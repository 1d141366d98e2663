"""Pack tokenised SFT samples into sequences of at most ``max_length`` tokens
without ever splitting a sample.

Why: XTuner's ``process_hf_dataset(pack_to_max_length=True)`` runs
``xtuner.dataset.utils.Packer``, which concatenates the tokenised samples into
one stream and cuts it every ``max_length`` tokens. A sample that straddles a
cut is split in two, and the second half trains its answer tokens with the
question out of view (and, with varlen attention, as a fresh sequence starting
mid-answer). Here every sample lands whole in exactly one pack.

Algorithm (:func:`plan_packs`, on the sample lengths only):

1. shuffle the sample indices with ``np.random.default_rng(seed)``;
2. cut the shuffled order into consecutive windows of ``window`` samples;
3. in each window, best-fit decreasing: sort the samples by length, longest
   first (stable; equal lengths by sample index), and put each sample into the
   open pack whose remaining room is the smallest that still fits it (equal
   room: the older pack), else open a new pack. The open packs are kept in a
   sorted list of ``(room, pack)`` keys searched with ``bisect``, so a window
   of ``w`` samples costs ``O(w log w)`` plus short list moves (under a second
   for 300K samples);
4. shuffle the order of all packs with the same generator, so that training
   does not see the long-first order of step 3. Within a pack the samples keep
   the order they were placed in (longest first).

The windows bound the work per decision and keep the packs a random mix of the
corpus, while still giving best-fit enough choice: on a log-normal legal
length distribution at ``max_length=2048`` the packs are ~99% full (see
``tests/test_packing.py``).

Guarantees of :func:`plan_packs`: every index ``0..n-1`` is in exactly one
pack; no pack holds more than ``max_length`` tokens; no sample is split; the
result depends only on ``(lengths, max_length, seed, window)`` -- the same on
every machine for a given NumPy version (NumPy's ``Generator`` streams are
stable across platforms; NumPy does not promise them across releases).

:func:`pack_dataset` applies a plan to a ``datasets.Dataset`` of
``input_ids``/``labels`` (what XTuner's ``encode_fn`` produces), optionally
truncating or dropping samples longer than ``max_length`` first, and dropping
samples with no label token left (nothing to learn from). Each pack row is the
concatenation of its samples' ``input_ids`` and ``labels`` (prompt tokens stay
``IGNORE_INDEX``), not padded; with ``use_varlen_attn`` it also carries
``cumulative_len`` (sample boundaries, ``0 .. len``) and ``position_ids``
(restarting at 0 for every sample), which are the fields XTuner's
``default_collate_fn`` and its varlen attention read. Without varlen attention
the samples of a pack attend to each other, exactly as with XTuner's packer.

Memory: the token columns are read through their Arrow buffers (NumPy views of
each chunk, memory-mapped when the dataset is); no Python list of tokens is
built. Packs are gathered with NumPy a batch (~1M tokens) at a time and turned
into Arrow record batches; with ``cache_file`` they are written to an Arrow
file as they are made and the result is memory-mapped from it.
"""

from __future__ import annotations

import hashlib
import json
import os
from bisect import bisect_left, insort
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from xtuner.utils import IGNORE_INDEX

if TYPE_CHECKING:  # pragma: no cover
    import datasets

__all__ = ["OVERLONG", "PackStats", "plan_packs", "pack_dataset"]

#: What :func:`pack_dataset` may do with a sample longer than ``max_length``.
OVERLONG = ("truncate", "drop")

# Tokens per record batch when building the packed table.
_BATCH_TOKENS = 1 << 20
# Rows per block when scanning labels for an answer token.
_SCAN_ROWS = 8192
# Pack ids are stored in the low bits of the best-fit keys.
_ID_BITS = 40
_ID_MASK = (1 << _ID_BITS) - 1
# Bump when the packed output for the same input and arguments changes.
_FORMAT_VERSION = 1


@dataclass
class PackStats:
    """What :func:`pack_dataset` did, for the training log."""

    samples: int
    """Samples given (rows of the input dataset)."""
    packed: int
    """Samples placed in packs (``samples - dropped``)."""
    truncated: int
    """Samples longer than ``max_length`` that were cut to ``max_length`` and kept."""
    dropped: int
    """Samples left out: overlong with ``overlong="drop"``, or without any label
    token (``!= IGNORE_INDEX``) after truncation."""
    packs: int
    """Packs (rows of the output dataset)."""
    tokens: int
    """Tokens in all packs together."""
    max_length: int
    """The most tokens a pack may hold."""

    @property
    def utilisation(self) -> float:
        """Share of the packs' capacity holding tokens: ``tokens / (packs *
        max_length)``; 0.0 when there are no packs."""
        if self.packs == 0:
            return 0.0
        return self.tokens / (self.packs * self.max_length)

    def summary(self) -> str:
        """One line for the training log."""
        return (
            f"packed {self.packed} of {self.samples} samples into {self.packs} packs of "
            f"<= {self.max_length} tokens (utilisation {self.utilisation:.1%}); "
            f"{self.truncated} truncated, {self.dropped} dropped"
        )


def _check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def plan_packs(lengths, max_length: int, *, seed: int = 0, window: int = 8192) -> list[np.ndarray]:
    """Group sample indices into packs of at most ``max_length`` tokens.

    ``lengths[i]`` is the token count of sample ``i``; each must be in
    ``1..max_length``. Returns one int64 array of sample indices per pack, in
    training order (see the module docstring for the algorithm and its
    guarantees).
    """
    max_length = _check_positive_int("max_length", max_length)
    window = _check_positive_int("window", window)
    lengths = np.asarray(lengths)
    if lengths.ndim != 1:
        raise ValueError(f"lengths must be one-dimensional, got shape {lengths.shape}")
    n = len(lengths)
    if n == 0:
        return []
    if not np.issubdtype(lengths.dtype, np.integer):
        raise ValueError(f"lengths must be integers, got dtype {lengths.dtype}")
    lengths = lengths.astype(np.int64, copy=False)
    bad = np.flatnonzero((lengths < 1) | (lengths > max_length))
    if len(bad):
        first = int(bad[0])
        raise ValueError(
            f"{len(bad)} of {n} sample lengths are outside 1..{max_length} "
            f"(sample {first} has {int(lengths[first])} tokens); truncate or drop "
            "them first"
        )

    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)

    # For every sample, in placement order: its index and its pack id.
    placed = np.empty(n, dtype=np.int64)
    pack_of = np.empty(n, dtype=np.int64)
    n_packs = 0
    pos = 0
    for w0 in range(0, n, window):
        idx = perm[w0 : w0 + window]
        lens = lengths[idx]
        order = np.lexsort((idx, -lens))  # longest first; ties by sample index
        idx = idx[order]
        first_id = n_packs
        window_packs, opened = _best_fit(lens[order].tolist(), max_length, first_id)
        n_packs = first_id + opened
        placed[pos : pos + len(idx)] = idx
        pack_of[pos : pos + len(idx)] = window_packs
        pos += len(idx)

    # Group by pack, keeping placement order inside each pack.
    grouping = np.argsort(pack_of, kind="stable")
    members = placed[grouping]
    counts = np.bincount(pack_of, minlength=n_packs)
    packs = np.split(members, np.cumsum(counts)[:-1])
    return [packs[p] for p in rng.permutation(n_packs)]


def _best_fit(lens: list[int], max_length: int, first_id: int) -> tuple[list[int], int]:
    """Best-fit for lengths sorted longest first. Returns each sample's pack id
    (from ``first_id``) and the number of packs opened."""
    # Open packs with room left, as sorted keys room << _ID_BITS | pack id:
    # the first key >= length << _ID_BITS is the tightest pack that fits (the
    # oldest of equally tight ones). Full packs leave the list.
    keys: list[int] = []
    out: list[int] = []
    append = out.append
    pop = keys.pop
    opened = 0
    for length in lens:
        i = bisect_left(keys, length << _ID_BITS)
        if i < len(keys):
            key = pop(i)
            pack = key & _ID_MASK
            room = (key >> _ID_BITS) - length
            if room:
                # The room only shrank: the new key sorts at or before i.
                insort(keys, (room << _ID_BITS) | pack, 0, i)
        else:
            pack = first_id + opened
            opened += 1
            room = max_length - length
            if room:
                insort(keys, (room << _ID_BITS) | pack)
        append(pack)
    return out, opened


class _ListColumn:
    """A list-of-integers Arrow column as NumPy views of its chunks."""

    def __init__(self, column, name: str):
        import pyarrow as pa

        typ = column.type
        if not (pa.types.is_list(typ) or pa.types.is_large_list(typ)) or not pa.types.is_integer(
            typ.value_type
        ):
            raise ValueError(f"column {name!r} must hold lists of integers, got {typ}")
        self.name = name
        self.type = typ
        self.dtype = np.dtype(typ.value_type.to_pandas_dtype())
        self.values: list[np.ndarray] = []
        starts, rows = [], []
        for chunk in column.chunks:
            if chunk.null_count:
                raise ValueError(f"column {name!r} has missing rows")
            values = chunk.values  # the whole child array; offsets index into it
            if values.null_count:
                raise ValueError(f"column {name!r} has missing values")
            offsets = chunk.offsets.to_numpy().astype(np.int64, copy=False)
            self.values.append(values.to_numpy(zero_copy_only=True))
            starts.append(offsets)
            rows.append(len(chunk))
        self.row_start = np.concatenate(([0], np.cumsum(rows, dtype=np.int64)))
        self.start = np.concatenate([o[:-1] for o in starts]) if starts else np.zeros(0, np.int64)
        self.length = np.concatenate([np.diff(o) for o in starts]) if starts else np.zeros(0, np.int64)
        self.chunk_of = np.repeat(np.arange(len(rows)), rows)

    def same_layout(self, other: "_ListColumn") -> bool:
        return np.array_equal(self.row_start, other.row_start) and np.array_equal(
            self.start, other.start
        )

    def has_label(self, take: np.ndarray) -> np.ndarray:
        """Whether row ``r`` has a value != IGNORE_INDEX among its first
        ``take[r]`` values."""
        out = np.zeros(len(self.start), dtype=bool)
        for c, values in enumerate(self.values):
            for b0 in range(int(self.row_start[c]), int(self.row_start[c + 1]), _SCAN_ROWS):
                b1 = min(b0 + _SCAN_ROWS, int(self.row_start[c + 1]))
                s = self.start[b0:b1]
                e = s + take[b0:b1]
                lo = int(s[0])  # offsets never decrease within a chunk
                hi = int(e.max())
                marks = np.zeros(hi - lo + 1, dtype=np.int64)
                np.cumsum(values[lo:hi] != IGNORE_INDEX, out=marks[1:])
                out[b0:b1] = marks[e - lo] > marks[s - lo]
        return out

    def gather_plan(self, rows: np.ndarray, take: np.ndarray):
        """Where the first ``take[k]`` values of row ``rows[k]`` go when the rows
        are concatenated in order: a list of ``(chunk, dst, src)`` index arrays
        (``dst`` None: the whole output, in order)."""
        total = int(take.sum())
        chunk = self.chunk_of[rows]
        if len(self.values) == 1:
            groups = [(0, None)]
        else:
            order = np.argsort(chunk, kind="stable")
            bounds = np.searchsorted(chunk[order], np.arange(len(self.values) + 1))
            groups = [
                (c, order[bounds[c] : bounds[c + 1]])
                for c in range(len(self.values))
                if bounds[c + 1] > bounds[c]
            ]
        dst_start = np.cumsum(take) - take
        plan = []
        for c, sel in groups:
            if sel is None:
                t, s, d = take, self.start[rows], None
                n = total
            else:
                t, s = take[sel], self.start[rows[sel]]
                n = int(t.sum())
            within = np.arange(n, dtype=np.int64) - np.repeat(np.cumsum(t) - t, t)
            src = np.repeat(s, t) + within
            if sel is not None:
                d = np.repeat(dst_start[sel], t) + within
            plan.append((c, d, src))
        return total, plan

    def gather(self, total: int, plan) -> np.ndarray:
        if len(plan) == 1 and plan[0][1] is None:
            c, _, src = plan[0]
            return self.values[c][src]
        out = np.empty(total, dtype=self.dtype)
        for c, dst, src in plan:
            out[dst] = self.values[c][src]
        return out


def _list_array(list_type, offsets: np.ndarray, values: np.ndarray):
    import pyarrow as pa

    if pa.types.is_large_list(list_type):
        return pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), pa.array(values))
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32), pa.int32()), pa.array(values))


def _fingerprint(dataset, **params) -> str:
    from datasets.fingerprint import generate_random_fingerprint

    source = getattr(dataset, "_fingerprint", None)
    if not source:
        return generate_random_fingerprint()
    blob = json.dumps({"source": source, "version": _FORMAT_VERSION, **params}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def pack_dataset(
    dataset,
    max_length: int,
    *,
    use_varlen_attn: bool = False,
    seed: int = 0,
    window: int = 8192,
    overlong: str = "truncate",
    cache_file: str | None = None,
) -> tuple["datasets.Dataset", PackStats]:
    """Pack the ``input_ids``/``labels`` rows of ``dataset`` into rows of at
    most ``max_length`` tokens without splitting any sample.

    ``overlong`` says what happens to a sample longer than ``max_length``:
    ``"truncate"`` keeps its first ``max_length`` tokens (as XTuner's
    ``encode_fn`` does), ``"drop"`` leaves it out. A sample with no label
    token (``!= IGNORE_INDEX``) left is left out as well. The packing follows
    :func:`plan_packs` (``seed``, ``window``). The result has the columns
    ``input_ids`` and ``labels`` (same integer type as the input), plus
    ``cumulative_len`` and ``position_ids`` when ``use_varlen_attn``; other
    columns are not kept. With ``cache_file`` the packs are written to that
    Arrow file (replacing it) and the returned dataset is memory-mapped from it;
    otherwise it is held in memory. Returns the packed dataset and its
    :class:`PackStats`.

    The input is read in place (memory-mapped when ``dataset`` is), except that
    a dataset with an indices mapping (after ``shuffle`` or a non-contiguous
    ``select``) has its two columns gathered into memory first; shuffling
    beforehand is unnecessary, :func:`plan_packs` shuffles. XTuner's
    ``process_hf_dataset`` adds a ``length`` column after packing (for
    ``LengthGroupedSampler``); this function does not.
    """
    import datasets
    import pyarrow as pa
    from datasets.arrow_writer import ArrowWriter
    from datasets.table import InMemoryTable

    max_length = _check_positive_int("max_length", max_length)
    window = _check_positive_int("window", window)
    if overlong not in OVERLONG:
        raise ValueError(f"overlong must be one of {', '.join(map(repr, OVERLONG))}, got {overlong!r}")
    missing = [c for c in ("input_ids", "labels") if c not in dataset.column_names]
    if missing:
        raise ValueError(f"pack_dataset needs the columns input_ids and labels; missing: {', '.join(missing)}")

    # The two columns as an Arrow table, with any indices mapping (select /
    # shuffle) applied; zero-copy for a plain or contiguously sliced dataset.
    table = dataset.with_format("arrow", columns=["input_ids", "labels"])[:]
    ids = _ListColumn(table.column("input_ids"), "input_ids")
    labels = _ListColumn(table.column("labels"), "labels")
    n = len(ids.length)
    if not np.array_equal(ids.length, labels.length):
        row = int(np.flatnonzero(ids.length != labels.length)[0])
        raise ValueError(
            f"row {row}: input_ids has {int(ids.length[row])} tokens but labels has {int(labels.length[row])}"
        )

    over = ids.length > max_length
    take = np.minimum(ids.length, max_length)
    keep = labels.has_label(take)
    if overlong == "drop":
        keep &= ~over
    kept = np.flatnonzero(keep)
    truncated = int(np.count_nonzero(over & keep))

    packs = plan_packs(take[kept], max_length, seed=seed, window=window)
    packs = [kept[p] for p in packs]

    share = ids.same_layout(labels)
    out_fields = [
        pa.field("input_ids", ids.type),
        pa.field("labels", labels.type),
    ]
    if use_varlen_attn:
        out_fields += [
            pa.field("cumulative_len", pa.list_(pa.int64())),
            pa.field("position_ids", pa.list_(pa.int64())),
        ]
    schema = pa.schema(out_fields)
    features = datasets.Features.from_arrow_schema(schema)

    def batches():
        per_batch = max(1, _BATCH_TOKENS // max_length)
        for p0 in range(0, len(packs), per_batch):
            group = packs[p0 : p0 + per_batch]
            rows = np.concatenate(group)
            t = take[rows]
            counts = np.fromiter((len(g) for g in group), dtype=np.int64, count=len(group))
            pack_of = np.repeat(np.arange(len(group)), counts)
            sample_off = np.concatenate(([0], np.cumsum(counts)))
            ends = np.cumsum(t)
            pack_off = np.concatenate(([0], ends))[sample_off]  # token offsets of the packs

            total, plan = ids.gather_plan(rows, t)
            columns = [
                _list_array(ids.type, pack_off, ids.gather(total, plan)),
                _list_array(
                    labels.type,
                    pack_off,
                    labels.gather(total, plan if share else labels.gather_plan(rows, t)[1]),
                ),
            ]
            if use_varlen_attn:
                starts = ends - t
                # Pack p's boundaries: 0, then the end of each of its samples.
                cum_off = sample_off + np.arange(len(group) + 1)
                cum = np.zeros(len(rows) + len(group), dtype=np.int64)
                cum[np.arange(len(rows)) + pack_of + 1] = ends - pack_off[pack_of]
                positions = np.arange(total, dtype=np.int64) - np.repeat(starts, t)
                columns += [
                    _list_array(pa.list_(pa.int64()), cum_off, cum),
                    _list_array(pa.list_(pa.int64()), pack_off, positions),
                ]
            yield pa.RecordBatch.from_arrays(columns, schema=schema)

    fingerprint = _fingerprint(
        dataset,
        max_length=max_length,
        use_varlen_attn=bool(use_varlen_attn),
        seed=int(seed),
        window=window,
        overlong=overlong,
    )
    if cache_file is not None:
        cache_file = os.fspath(cache_file)
        tmp = f"{cache_file}.tmp-{os.getpid()}"
        writer = ArrowWriter(features=features, path=tmp, fingerprint=fingerprint)
        try:
            for batch in batches():
                writer.write_table(pa.Table.from_batches([batch]))
            writer.finalize()
        except BaseException:
            writer.close()
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
        writer.close()
        os.replace(tmp, cache_file)
        packed = datasets.Dataset.from_file(cache_file)
    else:
        pa_table = pa.Table.from_batches(list(batches()), schema=schema)
        packed = datasets.Dataset(
            InMemoryTable(pa_table),
            info=datasets.DatasetInfo(features=features),
            fingerprint=fingerprint,
        )

    stats = PackStats(
        samples=n,
        packed=len(kept),
        truncated=truncated,
        dropped=n - len(kept),
        packs=len(packs),
        tokens=int(take[kept].sum()),
        max_length=max_length,
    )
    return packed, stats
