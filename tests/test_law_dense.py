"""Dense and hybrid search with a tiny randomly initialised BERT built here (no weights
can be downloaded): embeddings of unit length, an article's own text finds it first,
the index keeps them on disk, and a missing model or embeddings is one line."""

import json

import pytest

from legal_eagle_xtuner.cli import main
from legal_eagle_xtuner.law import Article, build_index, load_index

ARTICLES = [
    Article("刑法", 264, "", "盗窃公私财物，数额较大的，处三年以下有期徒刑。", version="2023-12-29"),
    Article("民法典", 1079, "", "夫妻一方要求离婚的，可以向人民法院提起离婚诉讼。",
            version="2020-05-28"),
    Article("劳动合同法", 47, "", "经济补偿按劳动者在本单位工作的年限支付。", version="2012-12-28"),
]


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    out = tmp_path_factory.mktemp("tiny-bert")
    chars = sorted({c for a in ARTICLES for c in a.law + a.text + "\n"} - {"\n"})
    (out / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
                                              *chars]) + "\n", "utf-8")
    BertTokenizer(str(out / "vocab.txt")).save_pretrained(out)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=5 + len(chars), hidden_size=32, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=64)
    BertModel(config).save_pretrained(out)
    return out


def test_dense_and_hybrid_search(encoder_dir, tmp_path):
    import numpy as np

    index = build_index(ARTICLES, embedding_model=str(encoder_dir))
    assert index.embeddings.shape == (3, 32)
    assert np.allclose(np.linalg.norm(index.embeddings, axis=1), 1.0, atol=1e-5)
    query = "刑法\n" + ARTICLES[1].text  # an article's own index text: cosine 1
    dense = index.search(query.replace("刑法", "民法典"), k=3, retriever="dense")
    assert dense[0].key == ("民法典", 1079, "") and dense[0].score == pytest.approx(1.0, abs=1e-4)
    hybrid = index.search("盗窃公私财物", k=3)  # the default with embeddings: hybrid
    assert hybrid[0].key == ("刑法", 264, "") and len(hybrid) == 3
    index.save(tmp_path / "i")
    loaded = load_index(tmp_path / "i")
    assert np.array_equal(loaded.embeddings, index.embeddings)
    assert [h.key for h in loaded.search("盗窃公私财物", k=3)] == [h.key for h in hybrid]


def test_cli_errors_are_one_line(encoder_dir, tmp_path, capsys):
    folder = tmp_path / "laws"
    folder.mkdir()
    (folder / "刑法.md").write_text("# 中华人民共和国刑法\n\n第二百六十四条 盗窃公私财物。\n", "utf-8")
    assert main(["law", "index", str(folder), "-o", str(tmp_path / "i"), "--no-progress",
                 "--embedding-model", str(tmp_path / "none")]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"legal-eagle law index: {tmp_path}/none: not a model folder (no config.json)")
    assert main(["law", "index", str(folder), "-o", str(tmp_path / "i"), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["law", "search", str(tmp_path / "i"), "盗窃", "--retriever", "dense"]) == 1
    assert capsys.readouterr().err == (
        f"legal-eagle law search: --retriever dense: {tmp_path}/i has no embeddings (build it "
        "with --embedding-model DIR)\n")
    assert main(["law", "index", str(folder), "-o", str(tmp_path / "d"), "--no-progress",
                 "--embedding-model", str(encoder_dir)]) == 0
    capsys.readouterr()
    assert main(["law", "search", str(tmp_path / "d"), "盗窃", "--retriever", "dense",
                 "--json"]) == 0
    [hit] = json.loads(capsys.readouterr().out)
    assert (hit["law"], hit["number"]) == ("刑法", 264)
