"""legal-eagle doctor names the remote code of the model folder (or hub cache entry): the
two generations of InternLM2's hub code and InternLM v1, told apart by their files; a
first-generation folder FAILs with the remedy where xtuner would dispatch flash-attention
(InternLM/xtuner#791), and the remedy -- the second generation's files in the old
folder -- loads the same weights and computes the same."""

import json
import shutil

import pytest
import torch

from test_doctor import _doctor, _line, _smoke

from legal_eagle_xtuner.cli import main
from legal_eagle_xtuner.train.doctor import remote_code
from legal_eagle_xtuner.train.doctor.inputs import check_model

GEN1 = "InternLM2 remote code, first generation (hub 2024-01 to 2024-06: tuple KV cache, " \
       "rotary_emb(x, seq_len))"
GEN2 = "InternLM2 remote code, second generation (hub 2024-07 on, as xtuner ships: Cache, " \
       "rotary_emb(x, position_ids))"


CODES = {
    "tiny_model": ("internlm2", 2, "modeling_internlm2.py", GEN2),
    "tiny_internlm2_gen1": ("internlm2", 1, "modeling_internlm2.py", GEN1),
    "tiny_internlm_v1": ("internlm", None, "modeling_internlm.py",
                         "InternLM v1 remote code (tuple KV cache)"),
}


@pytest.mark.parametrize("fixture", sorted(CODES))
def test_each_remote_code_is_told_apart(fixture, request):
    folder = request.getfixturevalue(fixture)
    family, generation, file, text = CODES[fixture]
    assert remote_code.detect(folder) == remote_code.RemoteCode(family, generation, file, text)
    check = check_model(str(folder))
    assert (check.status, check.detail) == (
        "ok", f"{folder}: config, tokenizer and remote code present; {text}")
    assert check.as_json()["remote_code"] == {"family": family, "generation": generation,
                                              "file": file, "text": text}


def test_folders_without_known_remote_code(tiny_model, tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "config.json").write_text(json.dumps({"model_type": "llama"}), "utf-8")
    assert remote_code.detect(plain).text == "llama, no remote code"
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model, broken)
    (broken / "modeling_internlm2.py").write_text("def (:\n", "utf-8")
    assert remote_code.detect(broken).text == "modeling_internlm2.py unreadable (SyntaxError)"
    (broken / "modeling_internlm2.py").unlink()  # a hub cache entry with its config only
    assert remote_code.detect(broken).text == "modeling_internlm2.py not there (yet)"
    (broken / "config.json").write_text("{", "utf-8")
    assert remote_code.detect(broken) is None
    assert remote_code.detect(tmp_path / "absent") is None


def test_first_generation_meets_flash_attn(tiny_internlm2_gen1, tiny_model, tmp_path, capsys,
                                           monkeypatch):
    config = _smoke(tmp_path, tiny_internlm2_gen1, save_steps=4)
    monkeypatch.setattr(remote_code, "flash_attn_dispatch", lambda: True)
    code, out = _doctor(capsys, config, "--work-dir", tmp_path / "work")
    assert code == 1
    model = _line(out, "model")[0]
    assert model.startswith(f"FAIL  model          {tiny_internlm2_gen1}: ")
    assert model.endswith(f"{GEN1}: flash-attn is installed, so xtuner's dispatch calls the "
                          "second generation's rotary_emb(x, position_ids) and training fails "
                          "before the first step (InternLM/xtuner#791)")
    assert f"fix: {remote_code.REMEDY}" in out

    assert main(["doctor", str(config), "--work-dir", str(tmp_path / "work"), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    [model] = [c for c in report["checks"] if c["name"] == "model"]
    assert model["status"] == "FAIL" and model["fix"] == remote_code.REMEDY
    assert model["remote_code"]["generation"] == 1
    assert "remote_code" not in [c for c in report["checks"] if c["name"] == "data"][0]

    # the second generation with flash-attn is what xtuner supports
    assert check_model(str(tiny_model)).status == "ok"


def test_a_hub_cache_entry_is_read_from_its_snapshot(tiny_internlm2_gen1, tmp_path,
                                                     monkeypatch):
    from huggingface_hub import constants

    repo = tmp_path / "hub" / "models--internlm--internlm2-chat-7b"
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    for name in ("config.json", "modeling_internlm2.py", "configuration_internlm2.py"):
        shutil.copyfile(tiny_internlm2_gen1 / name, snapshot / name)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    check = check_model("internlm/internlm2-chat-7b")
    assert (check.status, check.detail) == ("ok", f"internlm/internlm2-chat-7b: in the hub "
                                                  f"cache; {GEN1}")
    monkeypatch.setattr(remote_code, "flash_attn_dispatch", lambda: True)
    assert check_model("internlm/internlm2-chat-7b").status == "FAIL"


def test_the_remedy_second_generation_code_in_the_old_folder(tiny_internlm2_gen1, tmp_path):
    """What docs/internlm2_generations.md tells an old folder's owner: the second
    generation's two files (xtuner's copy here; the hub's current ones alike) in place of
    the first's load the same weights and compute the same logits."""
    from transformers import AutoModelForCausalLM

    from legal_eagle_xtuner.demo.tiny import _modeling_dir

    updated = tmp_path / "updated"
    shutil.copytree(tiny_internlm2_gen1, updated)
    for name in ("configuration_internlm2.py", "modeling_internlm2.py"):
        shutil.copyfile(_modeling_dir() / name, updated / name)
    assert remote_code.detect(updated).generation == 2
    ids = torch.tensor([[1, 50, 60, 70, 80, 90, 4, 100]])
    logits = []
    for folder in (tiny_internlm2_gen1, updated):
        model = AutoModelForCausalLM.from_pretrained(str(folder), trust_remote_code=True,
                                                     torch_dtype=torch.float32)
        with torch.no_grad():
            logits.append(model(ids).logits)
    torch.testing.assert_close(logits[1], logits[0], rtol=1e-5, atol=1e-5)
