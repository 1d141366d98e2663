"""Validation hold-out and the token-weighted validation loss."""

import json
import math

import pytest
import torch
from datasets import load_dataset

from legal_eagle_xtuner.train.dataset import held_out_dataset
from legal_eagle_xtuner.data.split import split_file
from legal_eagle_xtuner.data.synthetic import write_corpus
from legal_eagle_xtuner.train.validation import ValLoss, target_tokens


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("holdout") / "disc_pair.jsonl"
    write_corpus(path, "disc_pair", records=400, seed=3)
    return path


def _cfg(path):
    return dict(type=load_dataset, path="json", data_files=dict(train=str(path)))


def test_holdout_is_the_split_commands_eval_set(corpus, tmp_path):
    result = split_file(corpus, tmp_path / "split", eval_size=37, seed=42)
    expected = sorted(json.loads(line)["id"]
                      for line in (tmp_path / "split" / "eval.jsonl").open(encoding="utf-8"))
    held = held_out_dataset(_cfg(corpus), holdout=37, part="eval")
    kept = held_out_dataset(_cfg(corpus), holdout=37, part="train")
    assert sorted(held["id"]) == expected
    assert len(held) == result.eval == 37
    assert len(kept) + len(held) == 400
    assert not set(kept["id"]) & set(held["id"])
    # another seed picks other records
    other = held_out_dataset(_cfg(corpus), holdout=37, part="eval", seed=7)
    assert set(other["id"]) != set(held["id"])


def test_holdout_ratio(corpus):
    held = held_out_dataset(_cfg(corpus), holdout=0.05, part="eval")
    assert len(held) == 20  # round(0.05 * 400)


@pytest.mark.parametrize("holdout, message", [
    (400, "validation hold-out: holdout 400 leaves no training records: the file has 400 records"),
    (1.5, "validation hold-out: holdout must be between 0 and 1 (exclusive), got 1.5"),
])
def test_holdout_errors(corpus, holdout, message):
    with pytest.raises(ValueError) as info:
        held_out_dataset(_cfg(corpus), holdout=holdout, part="eval")
    assert str(info.value) == message


def test_target_tokens_skip_the_first_position_and_ignored_labels():
    labels = torch.tensor([[5, 6, -100, 7], [-100, -100, 8, 9]])
    assert target_tokens(labels) == 2 + 2


def test_val_loss_is_the_mean_over_tokens_not_batches():
    metric = ValLoss()
    metric.process(None, [{"loss_sum": 2.0 * 10, "tokens": 10}])
    metric.process(None, [{"loss_sum": 4.0 * 30, "tokens": 30}])
    metrics = metric.compute_metrics(metric.results)
    assert metrics["val_loss"] == pytest.approx(3.5)  # not (2 + 4) / 2
    assert metrics["val_ppl"] == pytest.approx(math.exp(3.5))
    assert metrics["val_tokens"] == 40


def test_val_loss_without_tokens_says_why():
    with pytest.raises(ValueError, match="no target tokens"):
        ValLoss().compute_metrics([(0.0, 0)])


def _rank_metric(rank, world, init_file, out_dir):
    import faulthandler
    import sys

    import torch.distributed as dist

    # a hung collective fails the test with both stacks instead of hanging it
    faulthandler.dump_traceback_later(120, exit=True, file=sys.stderr)

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world)
    metric = ValLoss()
    # rank 0 saw samples 0 and 2, rank 1 samples 1 and 3 (DefaultSampler's split);
    # sample i has 10 * (i + 1) tokens at loss i + 1
    for i in range(rank, 4, world):
        metric.process(None, [{"loss_sum": (i + 1) * 10.0 * (i + 1), "tokens": 10 * (i + 1)}])
    result = metric.evaluate(4)
    with open(f"{out_dir}/rank{rank}.json", "w") as fh:
        json.dump(result, fh)
    # no destroy_process_group(): with the file store it can wait forever for a
    # peer that already left; the process exits either way
    dist.barrier()


def test_val_loss_is_gathered_from_every_process(tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_rank_metric, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2)
    results = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    expected = (1 * 10 + 2 * 20 + 3 * 30 + 4 * 40) / 100  # = 3.0: every token of all 4
    assert results[0] == results[1]
    assert results[0]["val_loss"] == pytest.approx(expected)
    assert results[0]["val_tokens"] == 100
