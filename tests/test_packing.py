"""Packing whole samples into sequences of at most max_length tokens."""

import time

import datasets
import numpy as np
import pyarrow as pa
import pytest
import torch
from datasets.table import MemoryMappedTable
from xtuner.dataset.collate_fns import default_collate_fn
from xtuner.utils import DEFAULT_PAD_TOKEN_INDEX, IGNORE_INDEX

from legal_eagle_xtuner.train.packing import OVERLONG, PackStats, pack_dataset, plan_packs

# Token value of position p of sample i: i * BASE + p, so every token names its
# sample and position (lengths stay below BASE).
BASE = 10_000


def legal_lengths(n, seed):
    """A realistic length distribution of tokenised legal QA samples:
    log-normal, median 350 tokens, sigma 0.7 -> ~85% within 100-800 tokens,
    p99 ~1800, a tail past 3000; at least 16 tokens."""
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(rng.lognormal(np.log(350), 0.7, n)), 16, None).astype(np.int64)


def make_dataset(lengths, masked, *, dtype=np.int64, chunk_rows=None):
    """A dataset of input_ids/labels (plus an extra column) where sample i's
    first masked[i] labels are IGNORE_INDEX; in chunks of chunk_rows rows."""
    lengths = np.asarray(lengths, dtype=np.int64)
    masked = np.broadcast_to(np.asarray(masked, dtype=np.int64), lengths.shape)
    n = len(lengths)
    off = np.concatenate(([0], np.cumsum(lengths)))
    pos = np.arange(off[-1]) - np.repeat(off[:-1], lengths)
    ids = (np.repeat(np.arange(n), lengths) * BASE + pos).astype(dtype)
    labels = np.where(pos < np.repeat(masked, lengths), IGNORE_INDEX, ids).astype(dtype)
    step = chunk_rows or max(n, 1)
    batches = []
    for a in range(0, max(n, 1), step):
        b = min(a + step, n)
        o = pa.array((off[a : b + 1] - off[a]).astype(np.int32))
        batches.append(
            pa.RecordBatch.from_arrays(
                [
                    pa.ListArray.from_arrays(o, pa.array(ids[off[a] : off[b]])),
                    pa.ListArray.from_arrays(o, pa.array(labels[off[a] : off[b]])),
                    pa.array(np.arange(a, b)),
                ],
                names=["input_ids", "labels", "source_row"],
            )
        )
    return datasets.Dataset(pa.Table.from_batches(batches))


def expected_sample(i, length, masked, max_length):
    take = min(length, max_length)
    ids = i * BASE + np.arange(take)
    labels = np.where(np.arange(take) < masked, IGNORE_INDEX, ids)
    return ids, labels


def check_packed(out, lengths, masked, max_length, *, varlen, kept):
    """Every kept sample appears whole (truncated to max_length), contiguous and
    in exactly one pack, with its own labels; varlen fields match the
    boundaries. Returns the samples of each pack in order."""
    masked = np.broadcast_to(np.asarray(masked), np.shape(lengths))
    seen = {}
    order = []
    expected_columns = ["input_ids", "labels"] + (["cumulative_len", "position_ids"] if varlen else [])
    assert out.column_names == expected_columns
    for p, row in enumerate(out):
        ids = np.asarray(row["input_ids"])
        labels = np.asarray(row["labels"])
        assert 0 < len(ids) <= max_length
        assert len(labels) == len(ids)
        sample = ids // BASE
        starts = np.flatnonzero(np.diff(sample, prepend=-1))
        bounds = np.append(starts, len(ids))
        members = []
        for a, b in zip(bounds[:-1], bounds[1:]):
            i = int(sample[a])
            assert i not in seen, f"sample {i} in packs {seen[i]} and {p}"
            seen[i] = p
            members.append(i)
            want_ids, want_labels = expected_sample(i, lengths[i], masked[i], max_length)
            np.testing.assert_array_equal(ids[a:b], want_ids)
            np.testing.assert_array_equal(labels[a:b], want_labels)
        if varlen:
            cum = np.asarray(row["cumulative_len"])
            np.testing.assert_array_equal(cum, bounds)
            assert cum[0] == 0 and cum[-1] == len(ids) and np.all(np.diff(cum) > 0)
            np.testing.assert_array_equal(
                np.diff(cum), [min(lengths[i], max_length) for i in members]
            )
            position_ids = np.asarray(row["position_ids"])
            assert len(position_ids) == len(ids)
            np.testing.assert_array_equal(position_ids[cum[:-1]], 0)
            np.testing.assert_array_equal(
                position_ids, np.concatenate([np.arange(n) for n in np.diff(cum)])
            )
        order.append(members)
    assert sorted(seen) == sorted(int(i) for i in kept)
    return order


def check_plan(packs, lengths, max_length):
    lengths = np.asarray(lengths)
    flat = np.concatenate(packs) if packs else np.zeros(0, int)
    np.testing.assert_array_equal(np.sort(flat), np.arange(len(lengths)))
    for pack in packs:
        assert len(pack) > 0
        assert lengths[pack].sum() <= max_length


# ---------------------------------------------------------------- plan_packs


LENGTH_CASES = {
    "uniform": lambda rng: rng.integers(1, 129, 3000),
    "near_max": lambda rng: rng.integers(100, 129, 2000),
    "tiny": lambda rng: rng.integers(1, 4, 5000),
    "mixed": lambda rng: np.concatenate(
        [rng.integers(120, 129, 500), rng.integers(1, 5, 2000), rng.integers(30, 70, 700)]
    ),
    "exact_max": lambda rng: np.full(300, 128),
}


@pytest.mark.parametrize("case", sorted(LENGTH_CASES))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_plan_packs_places_every_sample_whole_in_one_pack(case, seed):
    rng = np.random.default_rng(100 + seed)
    lengths = LENGTH_CASES[case](rng)
    rng.shuffle(lengths)
    for window in (8192, 97):  # one window; many windows with a short last one
        packs = plan_packs(lengths, 128, seed=seed, window=window)
        check_plan(packs, lengths, 128)
        assert all(p.dtype == np.int64 for p in packs)


def test_plan_packs_best_fit_decreasing():
    # Sorted 7,6,5,5,4,3: 7->A, 6->B, 5->C, 5->C (full), 4->B (full), 3->A (full).
    lengths = [6, 4, 5, 5, 3, 7]
    packs = plan_packs(lengths, 10)
    as_lengths = sorted(tuple(int(lengths[i]) for i in p) for p in packs)
    assert as_lengths == [(5, 5), (6, 4), (7, 3)]  # in placement order, longest first
    # The tightest fitting pack wins, not the first one that fits: 8 and 6 open
    # two packs (rooms 2 and 4); 2 goes to the 8 (room 2), then 4 fills the 6.
    packs = plan_packs([8, 6, 2, 4], 10)
    assert sorted(sorted(p.tolist()) for p in packs) == [[0, 2], [1, 3]]


def test_plan_packs_is_deterministic_and_seeded():
    lengths = np.random.default_rng(7).integers(1, 300, 4000)
    a = plan_packs(lengths, 512, seed=3, window=1000)
    b = plan_packs(lengths.tolist(), 512, seed=3, window=1000)
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))
    c = plan_packs(lengths, 512, seed=4, window=1000)
    assert [x.tolist() for x in a] != [x.tolist() for x in c]
    check_plan(c, lengths, 512)
    # The pack order is shuffled: not longest pack first, not by first index.
    firsts = [int(p.min()) for p in a]
    assert firsts != sorted(firsts)


@pytest.mark.parametrize(
    "lengths", [[3, 0, 2], [3, 11, 2], [-1], np.array([1.0, 2.0])]
)
def test_plan_packs_rejects_impossible_lengths(lengths):
    with pytest.raises(ValueError, match=r"outside 1\.\.10|must be integers"):
        plan_packs(lengths, 10)


def test_plan_packs_rejects_bad_arguments():
    with pytest.raises(ValueError, match="max_length must be a positive integer"):
        plan_packs([1], 0)
    with pytest.raises(ValueError, match="window must be a positive integer"):
        plan_packs([1], 4, window=0)
    assert plan_packs([], 4) == []


def test_plan_packs_utilisation_on_legal_lengths():
    lengths = np.minimum(legal_lengths(20_000, 1), 2048)
    assert ((lengths >= 100) & (lengths <= 800)).mean() > 0.8
    assert (legal_lengths(20_000, 1) > 3000).any()
    packs = plan_packs(lengths, 2048)
    check_plan(packs, lengths, 2048)
    utilisation = lengths.sum() / (len(packs) * 2048)
    assert utilisation >= 0.97, utilisation


def test_plan_packs_is_n_log_n():
    # 100K samples in a few hundred ms on a quiet core; a quadratic scan of the
    # open packs would take minutes.
    lengths = np.minimum(legal_lengths(100_000, 2), 2048)
    start = time.perf_counter()
    packs = plan_packs(lengths, 2048)
    assert time.perf_counter() - start < 5
    assert sum(len(p) for p in packs) == 100_000


# -------------------------------------------------------------- pack_dataset


@pytest.mark.parametrize("varlen", [False, True])
def test_pack_dataset_keeps_samples_whole_and_prompts_masked(varlen):
    rng = np.random.default_rng(11)
    lengths = np.concatenate([rng.integers(1, 40, 300), rng.integers(200, 256, 60), [256, 256]])
    rng.shuffle(lengths)
    masked = rng.integers(0, lengths)  # at least one label token each
    ds = make_dataset(lengths, masked, chunk_rows=50)
    assert ds.data.column("input_ids").num_chunks > 1
    out, stats = pack_dataset(ds, 256, use_varlen_attn=varlen, window=100)
    order = check_packed(out, lengths, masked, 256, varlen=varlen, kept=range(len(lengths)))
    assert (stats.samples, stats.packed, stats.truncated, stats.dropped) == (len(lengths), len(lengths), 0, 0)
    assert stats.packs == len(out)
    assert stats.tokens == lengths.sum() == sum(len(r) for r in out["input_ids"])
    assert stats.utilisation == pytest.approx(lengths.sum() / (len(out) * 256))
    # The packs are plan_packs on the lengths: same packs, order, samples' order.
    assert order == [p.tolist() for p in plan_packs(lengths, 256, window=100)]


def test_pack_dataset_follows_selection_and_shuffle():
    lengths = np.random.default_rng(5).integers(1, 60, 400)
    ds = make_dataset(lengths, 0, chunk_rows=64)
    for view, rows in (
        (ds.select(range(37, 301)), np.arange(37, 301)),
        (ds.shuffle(seed=1).select(range(150)), None),
    ):
        if rows is None:
            rows = np.asarray(view["source_row"])
        out, stats = pack_dataset(view, 64, use_varlen_attn=True)
        assert stats.samples == len(rows)
        # Samples keep their identity (the token values name the source row).
        seen = sorted(set(int(t) // BASE for r in out["input_ids"] for t in r))
        assert seen == sorted(rows.tolist())
        check_packed(out, lengths, 0, 64, varlen=True, kept=rows)


def test_pack_dataset_is_deterministic_and_seeded():
    lengths = np.random.default_rng(3).integers(1, 100, 500)
    ds = make_dataset(lengths, 2, chunk_rows=128)
    a, _ = pack_dataset(ds, 128, use_varlen_attn=True, seed=9)
    b, _ = pack_dataset(ds, 128, use_varlen_attn=True, seed=9)
    c, _ = pack_dataset(ds, 128, use_varlen_attn=True, seed=10)
    assert a.data.table.equals(b.data.table)
    assert a._fingerprint == b._fingerprint != c._fingerprint
    assert a["input_ids"] != c["input_ids"]


def test_pack_dataset_truncates_overlong_samples():
    lengths = [5, 12, 30, 8]
    masked = [1, 3, 4, 2]
    ds = make_dataset(lengths, masked)
    out, stats = pack_dataset(ds, 10, use_varlen_attn=True)
    # 12 and 30 keep their first 10 tokens (and labels) each.
    check_packed(out, lengths, masked, 10, varlen=True, kept=[0, 1, 2, 3])
    assert (stats.samples, stats.packed, stats.truncated, stats.dropped) == (4, 4, 2, 0)
    assert stats.tokens == 5 + 10 + 10 + 8


def test_pack_dataset_drops_overlong_samples():
    lengths = [5, 12, 30, 8, 10]
    ds = make_dataset(lengths, 1)
    out, stats = pack_dataset(ds, 10, overlong="drop")
    check_packed(out, lengths, 1, 10, varlen=False, kept=[0, 3, 4])
    assert (stats.samples, stats.packed, stats.truncated, stats.dropped) == (5, 3, 0, 2)
    assert stats.samples == stats.packed + stats.dropped


def test_pack_dataset_drops_samples_without_answer_tokens():
    # Sample 1's answer starts after token 10 and is cut off; sample 3 has no
    # answer at all; sample 4 is empty. Sample 2 keeps one answer token.
    lengths = [6, 14, 11, 7, 0, 9]
    masked = [2, 10, 9, 7, 0, 0]
    ds = make_dataset(lengths, masked)
    out, stats = pack_dataset(ds, 10, use_varlen_attn=True)
    check_packed(out, lengths, masked, 10, varlen=True, kept=[0, 2, 5])
    assert (stats.samples, stats.packed, stats.truncated, stats.dropped) == (6, 3, 1, 3)
    assert stats.samples == stats.packed + stats.dropped
    assert stats.tokens == 6 + 10 + 9
    _, dropped = pack_dataset(ds, 10, overlong="drop")
    assert (dropped.packed, dropped.truncated, dropped.dropped) == (2, 0, 4)


def test_pack_dataset_rejects_bad_input():
    ds = make_dataset([3, 4], 0)
    with pytest.raises(ValueError, match="'truncate', 'drop'"):
        pack_dataset(ds, 8, overlong="split")
    assert OVERLONG == ("truncate", "drop")
    with pytest.raises(ValueError, match="missing: labels"):
        pack_dataset(ds.remove_columns("labels"), 8)
    bad = datasets.Dataset.from_dict({"input_ids": [[1, 2, 3]], "labels": [[1, 2]]})
    with pytest.raises(ValueError, match="row 0: input_ids has 3 tokens but labels has 2"):
        pack_dataset(bad, 8)


def test_pack_dataset_keeps_the_token_dtype_and_handles_nothing_to_pack():
    ds = make_dataset([3, 4, 5], 1, dtype=np.int32)
    out, _ = pack_dataset(ds, 8, use_varlen_attn=True)
    assert out.features["input_ids"].feature.dtype == "int32"
    assert out.features["labels"].feature.dtype == "int32"
    assert out.features["cumulative_len"].feature.dtype == "int64"
    check_packed(out, [3, 4, 5], 1, 8, varlen=True, kept=[0, 1, 2])

    empty, stats = pack_dataset(make_dataset([4, 6], [4, 6]), 8, use_varlen_attn=True)
    assert len(empty) == 0 and empty.column_names == ["input_ids", "labels", "cumulative_len", "position_ids"]
    assert (stats.packs, stats.tokens, stats.dropped, stats.utilisation) == (0, 0, 2, 0.0)


def test_pack_stats_summary():
    stats = PackStats(samples=1003, packed=1000, truncated=3, dropped=3, packs=212, tokens=428000, max_length=2048)
    assert stats.utilisation == pytest.approx(428000 / (212 * 2048))
    assert stats.summary() == (
        "packed 1000 of 1003 samples into 212 packs of <= 2048 tokens (utilisation 98.6%); "
        "3 truncated, 3 dropped"
    )


def test_utilisation_on_legal_lengths_end_to_end():
    lengths = legal_lengths(4000, 4)
    ds = make_dataset(lengths, 8, chunk_rows=1000)
    out, stats = pack_dataset(ds, 2048, use_varlen_attn=True)
    assert stats.truncated == int((lengths > 2048).sum()) > 0
    assert stats.utilisation >= 0.97, stats.summary()
    assert max(len(r) for r in out["input_ids"]) <= 2048


# ------------------------------------------------------------ XTuner collate


def test_default_collate_fn_pads_a_batch_of_packs():
    lengths = np.random.default_rng(8).integers(1, 30, 60)
    out, _ = pack_dataset(make_dataset(lengths, 3), 64)
    batch = [out[i] for i in range(4)]
    sizes = [len(b["input_ids"]) for b in batch]
    data = default_collate_fn(batch)["data"]
    width = max(sizes)
    assert data["input_ids"].shape == data["labels"].shape == (4, width)
    assert data["attention_mask"].shape == (4, width)
    assert data["position_ids"].shape == (4, width)
    for k, n in enumerate(sizes):
        assert data["attention_mask"][k].sum().item() == n
        assert data["input_ids"][k, :n].tolist() == batch[k]["input_ids"]
        assert data["labels"][k, :n].tolist() == batch[k]["labels"]
        assert (data["input_ids"][k, n:] == DEFAULT_PAD_TOKEN_INDEX).all()
        assert (data["labels"][k, n:] == IGNORE_INDEX).all()


def test_default_collate_fn_reads_the_varlen_fields():
    lengths = np.random.default_rng(9).integers(1, 30, 60)
    out, _ = pack_dataset(make_dataset(lengths, 3), 64, use_varlen_attn=True)
    pack = out[0]
    data = default_collate_fn([pack], use_varlen_attn=True)["data"]
    n = len(pack["input_ids"])
    assert data["input_ids"].shape == data["labels"].shape == data["position_ids"].shape == (1, n)
    assert "attention_mask" not in data
    (cum,) = data["cumulative_len"]
    assert cum.dtype == torch.int32 and cum.tolist() == pack["cumulative_len"]
    assert data["max_seqlen"] == max(np.diff(pack["cumulative_len"]))
    assert data["position_ids"][0].tolist() == pack["position_ids"]
    assert len(pack["cumulative_len"]) > 2  # several samples in the pack


# ----------------------------------------------------------------- cache_file


def test_cache_file_is_memory_mapped_and_equal(tmp_path):
    lengths = np.random.default_rng(12).integers(1, 90, 700)
    ds = make_dataset(lengths, 5, chunk_rows=200)
    in_memory, stats = pack_dataset(ds, 128, use_varlen_attn=True)
    cache = tmp_path / "packed.arrow"
    mapped, mapped_stats = pack_dataset(ds, 128, use_varlen_attn=True, cache_file=str(cache))
    assert isinstance(mapped.data, MemoryMappedTable)
    assert [f["filename"] for f in mapped.cache_files] == [str(cache)]
    assert mapped_stats == stats
    assert mapped.features == in_memory.features
    assert mapped.data.table.equals(in_memory.data.table)
    assert mapped._fingerprint == in_memory._fingerprint
    assert list(tmp_path.iterdir()) == [cache]  # no temporary file left behind
    # Rewriting the same file works (the first result keeps its mapping).
    again, _ = pack_dataset(ds, 128, use_varlen_attn=True, cache_file=cache)
    assert again.data.table.equals(mapped.data.table)
    assert mapped[0]["input_ids"] == in_memory[0]["input_ids"]
