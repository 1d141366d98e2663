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
