"""Configs train on a file prepared by `legal-eagle data` when
`prepared_train_path` is set, without a map function."""

import json

import pytest
from mmengine.config import Config

from conftest import CONFIGS, SAMPLES
from legal_eagle_xtuner import LEGAL_SYSTEM
from legal_eagle_xtuner.cli import main


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    out = tmp_path_factory.mktemp("prepared") / "train.jsonl"
    samples = sorted(str(p) for p in SAMPLES.iterdir() if p.suffix in (".json", ".jsonl"))
    assert main(["data", "convert", *samples, "-o", str(out), "--no-progress"]) == 0
    return out


@pytest.mark.parametrize("name", ["internlm_7b_disc", "internlm2_7b_disc",
                                  "internlm2_20b_qlora_lawgpt"])
def test_prepared_train_path_replaces_the_raw_files(name, prepared, tiny_model, tmp_path):
    from xtuner.registry import BUILDER

    text = (CONFIGS / f"{name}.py").read_text("utf-8")
    assert text.count("prepared_train_path = None\n") == 1
    text = text.replace("prepared_train_path = None\n",
                        f"prepared_train_path = {str(prepared)!r}\n")
    assert text.count("val_size = 300\n") == 1
    text = text.replace("val_size = 300\n", "val_size = 0\n")  # all 30 records train
    config = tmp_path / f"{name}.py"
    config.write_text(text, "utf-8")
    cfg = Config.fromfile(str(config))
    dataset_cfg = cfg.train_dataloader.dataset
    assert dataset_cfg["dataset_map_fn"] is None
    assert dataset_cfg["dataset"]["data_files"] == {"train": str(prepared)}
    dataset_cfg["tokenizer"]["pretrained_model_name_or_path"] = str(tiny_model)
    dataset_cfg["pack_to_max_length"] = False  # one row per record, to count them
    dataset_cfg["map_num_proc"] = 1
    dataset = BUILDER.build(dataset_cfg)
    records = [json.loads(line) for line in prepared.read_text("utf-8").splitlines()]
    assert len(dataset) == len(records) == 30
    tokenizer = BUILDER.build(dataset_cfg["tokenizer"])
    texts = [tokenizer.decode(row["input_ids"]) for row in dataset]
    # every record is there, with the chat template and the reference block applied
    for record in records:
        turn = record["conversation"][0]
        assert any(turn["input"] in t and turn["output"] in t for t in texts)
    assert sum("参考法条：" in t for t in texts) == 14
    system_prefix = dataset_cfg["template_map_fn"]["template"]["SYSTEM"].split("{system}")[0]
    assert all(system_prefix + LEGAL_SYSTEM in t for t in texts)
    assert cfg.val_dataloader is None and cfg.val_cfg is None  # val_size = 0: off


def _build(dataset_cfg, tiny_model):
    from xtuner.registry import BUILDER

    dataset_cfg["tokenizer"]["pretrained_model_name_or_path"] = str(tiny_model)
    dataset_cfg["map_num_proc"] = 1
    dataset_cfg["pack_to_max_length"] = False
    dataset = BUILDER.build(dataset_cfg)
    tokenizer = BUILDER.build(dataset_cfg["tokenizer"])
    return [tokenizer.decode(row["input_ids"]) for row in dataset]


def _config(name, tmp_path, **settings):
    text = (CONFIGS / f"{name}.py").read_text("utf-8")
    for key, value in settings.items():
        old = {"val_size": "val_size = 300\n"}.get(key, f"{key} = None\n")
        assert text.count(old) == 1, key
        text = text.replace(old, f"{key} = {value!r}\n")
    config = tmp_path / f"{name}.py"
    config.write_text(text, "utf-8")
    return Config.fromfile(str(config))


def test_prepared_train_path_holds_out_val_size_records(prepared, tiny_model, tmp_path):
    cfg = _config("internlm2_7b_disc", tmp_path, prepared_train_path=str(prepared),
                  val_size=6)
    assert cfg.val_cfg["type"].__name__ == "ValLossLoop"
    train = _build(cfg.train_dataloader.dataset, tiny_model)
    val = _build(cfg.val_dataloader.dataset, tiny_model)
    assert (len(train), len(val)) == (24, 6)
    assert not set(train) & set(val)  # nothing validated on was trained on
    # the same 6 records `legal-eagle data split --eval-size 6` puts in eval.jsonl
    out = tmp_path / "split"
    assert main(["data", "split", str(prepared), "-o", str(out), "--eval-size", "6",
                 "--no-progress"]) == 0
    held = [json.loads(line)["conversation"][0]["output"]
            for line in (out / "eval.jsonl").read_text("utf-8").splitlines()]
    assert sorted(held) == sorted(next(o for o in held if o in t) for t in val)


def test_prepared_eval_path_is_validated_on_whole(prepared, tiny_model, tmp_path):
    out = tmp_path / "split"
    assert main(["data", "split", str(prepared), "-o", str(out), "--eval-size", "4",
                 "--no-progress"]) == 0
    cfg = _config("internlm2_20b_qlora_lawgpt", tmp_path,
                  prepared_train_path=str(out / "train.jsonl"),
                  prepared_eval_path=str(out / "eval.jsonl"))
    assert cfg.train_dataloader.dataset["holdout"] is None  # the split already did it
    train = _build(cfg.train_dataloader.dataset, tiny_model)
    val = _build(cfg.val_dataloader.dataset, tiny_model)
    assert (len(train), len(val)) == (26, 4)
    assert not set(train) & set(val)


@pytest.mark.parametrize("name", ["internlm_7b_disc", "internlm2_7b_disc",
                                  "internlm2_20b_qlora_lawgpt"])
def test_raw_files_hold_out_val_size_records_each(name, tiny_model, tmp_path):
    cfg = _config(name, tmp_path)
    assert cfg.val_size == 300 and cfg.train_cfg.val_interval == cfg.evaluation_freq
    parts = cfg.val_dataloader.dataset["datasets"]
    trains = cfg.train_dataloader.dataset["datasets"]
    assert len(parts) == len(trains) == 2
    for val_part, train_part in zip(parts, trains):
        assert val_part["dataset"] == train_part["dataset"]  # the same file
        assert train_part["holdout"] == 300
        assert train_part.get("holdout_part", "train") == "train"
        assert (val_part["holdout"], val_part["holdout_part"]) == (300, "eval")
        assert val_part["pack_to_max_length"] is False  # unpacked without varlen attention
