"""Arrow side of packing: read token columns in place, write packs as Arrow.

Memory: the token columns are read through their Arrow buffers (NumPy views of
each chunk, memory-mapped when the dataset is); no Python list of tokens is
built. Packs are gathered with NumPy a batch (~1M tokens) at a time and turned
into Arrow record batches; with ``cache_file`` they are written to an Arrow
file as they are made and the result is memory-mapped from it.
"""

from __future__ import annotations

import os

import numpy as np

from xtuner.utils import IGNORE_INDEX

__all__ = ["write_packs"]

# Tokens per record batch when building the packed table.
_BATCH_TOKENS = 1 << 20
# Rows per block when scanning labels for an answer token.
_SCAN_ROWS = 8192


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



def _schema(ids: _ListColumn, labels: _ListColumn, use_varlen_attn: bool):
    import pyarrow as pa

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
    return schema


def _batches(packs, take, ids: _ListColumn, labels: _ListColumn, schema, max_length: int,
             use_varlen_attn: bool, share: bool):
    """Record batches of about ``_BATCH_TOKENS`` tokens of the ``packs`` (arrays
    of row numbers), each row cut to its first ``take[row]`` tokens."""
    import pyarrow as pa

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


def write_packs(packs, take, ids: _ListColumn, labels: _ListColumn, *, max_length: int,
                use_varlen_attn: bool, fingerprint: str, cache_file):
    """The ``datasets.Dataset`` of the ``packs`` (arrays of row numbers of
    ``ids`` / ``labels``, each row cut to its first ``take[row]`` tokens): the
    columns ``input_ids`` and ``labels``, plus ``cumulative_len`` and
    ``position_ids`` with ``use_varlen_attn``. With ``cache_file`` it is written
    to that Arrow file (replacing it) and memory-mapped from it, else held in
    memory."""
    import datasets
    import pyarrow as pa
    from datasets.arrow_writer import ArrowWriter
    from datasets.table import InMemoryTable

    share = ids.same_layout(labels)
    schema = _schema(ids, labels, use_varlen_attn)
    features = datasets.Features.from_arrow_schema(schema)
    batches = _batches(packs, take, ids, labels, schema, max_length, use_varlen_attn, share)
    if cache_file is not None:
        cache_file = os.fspath(cache_file)
        tmp = f"{cache_file}.tmp-{os.getpid()}"
        writer = ArrowWriter(features=features, path=tmp, fingerprint=fingerprint)
        try:
            for batch in batches:
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
        pa_table = pa.Table.from_batches(list(batches), schema=schema)
        packed = datasets.Dataset(
            InMemoryTable(pa_table),
            info=datasets.DatasetInfo(features=features),
            fingerprint=fingerprint,
        )
    return packed
