"""legal_sft_dataset with the best-fit packer: whole samples, masked prompts,
cache reuse, XTuner's packer one setting away, and the rank-0 build."""

import os
import sys

import numpy as np
import pytest
from datasets import load_dataset
from transformers import AutoTokenizer
from xtuner.dataset.map_fns import template_map_fn_factory
from xtuner.utils import IGNORE_INDEX, PROMPT_TEMPLATE

from conftest import SAMPLES
from legal_eagle_xtuner import legal_qa_map_fn_factory
from legal_eagle_xtuner.train.dataset import legal_sft_dataset

FILES = [str(SAMPLES / name) for name in
         ("disc_triplet.jsonl", "disc_pair.jsonl", "lawgpt_52k.json", "lawgpt_92k.json")]


def dataset_cfg(tiny_model, cache_dir, files=None, **overrides):
    cfg = dict(
        dataset=dict(type=load_dataset, path="json", data_files=dict(train=files or FILES[:2]),
                     cache_dir=str(cache_dir)),
        tokenizer=dict(type=AutoTokenizer.from_pretrained,
                       pretrained_model_name_or_path=str(tiny_model), trust_remote_code=True),
        max_length=512,
        dataset_map_fn=dict(type=legal_qa_map_fn_factory),
        template_map_fn=dict(type=template_map_fn_factory, template=PROMPT_TEMPLATE.internlm2_chat),
        remove_unused_columns=True,
        shuffle_before_pack=True,
        pack_to_max_length=True,
        use_varlen_attn=True,
        map_num_proc=1,
    )
    cfg.update(overrides)
    return cfg


def segments(row):
    bounds = row["cumulative_len"]
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def test_best_fit_packs_whole_samples_with_masked_prompts(tiny_model, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model), trust_remote_code=True)
    packed = legal_sft_dataset(**dataset_cfg(tiny_model, tmp_path))
    bos = tokenizer.bos_token_id
    samples = 0
    for row in packed:
        ids, labels = row["input_ids"], row["labels"]
        assert len(ids) <= 512 and len(labels) == len(ids)
        assert row["position_ids"] == [i - a for a, b in segments(row) for i in range(a, b)]
        for a, b in segments(row):
            samples += 1
            assert ids[a] == bos  # every segment is a whole sample, from its start
            text = tokenizer.decode(ids[a:b])
            assert text.count("<|im_start|>user") == 1
            # the prompt (up to and including the assistant header) is masked ...
            header = ids[a:b].index(tokenizer.convert_tokens_to_ids("<|im_start|>"), 3)
            answer_from = next(i for i in range(a, b) if labels[i] != IGNORE_INDEX)
            assert answer_from > a + header
            assert all(x == IGNORE_INDEX for x in labels[a:answer_from])
            # ... and the answer is trained on
            assert labels[answer_from:b - 1] == ids[answer_from:b - 1]
    assert samples == 15  # 7 triplets + 8 pairs, none split, none lost
    assert packed.length == [len(row["input_ids"]) for row in packed]


def test_second_build_reuses_the_cache(tiny_model, tmp_path):
    first = legal_sft_dataset(**dataset_cfg(tiny_model, tmp_path))
    files = [f["filename"] for f in first.cache_files]
    assert files and os.path.basename(files[0]).startswith("legal-eagle-packed-")
    mtime = os.path.getmtime(files[0])
    tokenised = sorted(p for p in os.listdir(os.path.dirname(files[0])) if p.startswith("cache-"))
    second = legal_sft_dataset(**dataset_cfg(tiny_model, tmp_path))
    assert [f["filename"] for f in second.cache_files] == files
    assert os.path.getmtime(files[0]) == mtime
    assert sorted(p for p in os.listdir(os.path.dirname(files[0]))
                  if p.startswith("cache-")) == tokenised  # nothing re-tokenised
    assert second["input_ids"] == first["input_ids"]
    # another max_length is another pack file; the tokenised data is reused
    third = legal_sft_dataset(**dataset_cfg(tiny_model, tmp_path, max_length=256))
    assert [f["filename"] for f in third.cache_files] != files
    assert sorted(p for p in os.listdir(os.path.dirname(files[0]))
                  if p.startswith("cache-")) == tokenised


def test_overlong_samples_are_counted(tiny_model, tmp_path, monkeypatch):
    import legal_eagle_xtuner.train.dataset as data

    logged = []
    monkeypatch.setattr(data, "_log", lambda message, level=None: logged.append(message))
    packed = legal_sft_dataset(**dataset_cfg(tiny_model, tmp_path, max_length=160,
                                             overlong="drop"))
    kept = sum(len(segments(row)) for row in packed)
    line = next(m for m in logged if m.startswith("packed ") and " of 15 samples into " in m)
    dropped = int(line.split("truncated, ")[1].split(" dropped")[0])
    assert dropped > 0 and kept + dropped == 15
    assert any(f"and {dropped} dropped (overlong='drop')" in m for m in logged)


def test_packer_xtuner_is_one_setting(tiny_model, tmp_path):
    ours = legal_sft_dataset(**dataset_cfg(tiny_model, tmp_path, use_varlen_attn=False))
    theirs = legal_sft_dataset(**dataset_cfg(tiny_model, tmp_path, use_varlen_attn=False,
                                             packer="xtuner"))
    lengths = [len(r) for r in theirs["input_ids"]]
    assert all(n == 512 for n in lengths[:-1])  # XTuner cuts the stream
    # XTuner also drops the stream's tail that does not fill a last pack
    assert sum(lengths) < sum(len(r) for r in ours["input_ids"])
    with pytest.raises(ValueError, match="packer must be one of 'best_fit', 'xtuner', got 'bfd'"):
        legal_sft_dataset(**dataset_cfg(tiny_model, tmp_path, packer="bfd"))


def _rank_main(rank, world, init_file, cfg, out_dir):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world)
    import legal_eagle_xtuner.train.dataset as data

    built = []
    real = data.build_best_fit
    data.build_best_fit = lambda **kw: built.append(rank) or real(**kw)
    packed = data.legal_sft_dataset(**cfg)
    np.save(os.path.join(out_dir, f"rank{rank}.npy"),
            np.array([len(built)] + [t for row in packed["input_ids"] for t in row]))
    # no destroy_process_group(): with the file store it can wait forever for a
    # peer that already left; the process exits either way
    dist.barrier()


def test_rank_0_builds_and_shares(tiny_model, tmp_path):
    import torch.multiprocessing as mp

    cfg = dataset_cfg(tiny_model, tmp_path / "cache")
    mp.spawn(_rank_main, args=(2, str(tmp_path / "init"), cfg, str(tmp_path)), nprocs=2)
    rank0, rank1 = (np.load(tmp_path / f"rank{r}.npy") for r in (0, 1))
    assert rank0[0] == 1 and rank1[0] == 0  # only rank 0 built
    assert np.array_equal(rank0[1:], rank1[1:]) and len(rank0) > 100


BUILD_SCRIPT = """
import sys
from datasets import load_dataset
from transformers import AutoTokenizer
from xtuner.dataset.map_fns import template_map_fn_factory
from xtuner.utils import PROMPT_TEMPLATE
from legal_eagle_xtuner import legal_qa_map_fn_factory
import legal_eagle_xtuner.train.dataset as data
data._log = lambda message, level=None: print("LOG", message)
packed = data.legal_sft_dataset(
    dataset=dict(type=load_dataset, path="json", data_files=dict(train=[sys.argv[1]]),
                 cache_dir=sys.argv[2]),
    tokenizer=dict(type=AutoTokenizer.from_pretrained, pretrained_model_name_or_path=sys.argv[3],
                   trust_remote_code=True),
    max_length=512, dataset_map_fn=dict(type=legal_qa_map_fn_factory),
    template_map_fn=dict(type=template_map_fn_factory, template=PROMPT_TEMPLATE.internlm2_chat),
    map_num_proc=1)
print("PACKS", len(packed))
"""


def test_a_second_run_in_a_new_process_starts_from_the_cache(tiny_model, tmp_path):
    import subprocess

    argv = [sys.executable, "-c", BUILD_SCRIPT, FILES[1], str(tmp_path / "cache"), str(tiny_model)]
    first = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    second = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0 and second.returncode == 0, first.stderr[-2000:] + second.stderr[-2000:]
    assert "LOG packed 8 of 8 samples into" in first.stdout
    assert "LOG packed dataset loaded from cache" in second.stdout
    assert "samples into" not in second.stdout  # not packed again
    assert first.stdout.splitlines()[-1] == second.stdout.splitlines()[-1]


@pytest.mark.parametrize("packer", ["best_fit", "xtuner"])
def test_isolate_samples_writes_restarting_positions_on_either_packer(tiny_model, tmp_path,
                                                                      packer):
    cfg = dataset_cfg(tiny_model, tmp_path, packer=packer)
    del cfg["use_varlen_attn"]
    with_varlen = legal_sft_dataset(**dict(cfg, use_varlen_attn=True))
    isolated = legal_sft_dataset(**dict(cfg, isolate_samples=True))
    plain = legal_sft_dataset(**cfg)
    assert "position_ids" not in plain.column_names
    assert len(isolated) == len(with_varlen) > 0
    restarts = 0
    for row, ref in zip(isolated, with_varlen):
        if packer == "best_fit":  # seeded; XTuner's packer shuffles without a seed
            assert row["position_ids"] == ref["position_ids"]
        assert row["position_ids"] == [i - a for a, b in segments(row) for i in range(a, b)]
        restarts += row["position_ids"][1:].count(0)
    assert restarts > 0  # packs of several samples
    unpacked = legal_sft_dataset(**dict(cfg, isolate_samples=True, pack_to_max_length=False))
    assert "position_ids" not in unpacked.column_names  # one sample per row needs none
