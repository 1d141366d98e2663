"""Our data pipeline beside XTuner's lawyer path, on the same records.

Generates a reproducible LAW-GPT-92k-shaped corpus (``legal_eagle_xtuner.data.synthetic``:
questions mostly 10-200 characters, answers 50-850, 1-4 statute references —
the shape of ``训练数据_带法律依据_92k.json``, whose long, article-grounded answers
are what stream packing cuts), trains a byte-level BPE tokenizer on it locally
(at most 16k tokens; on 4,000 synthetic records it stops near 6.8k, so it
splits Chinese text somewhat finer than InternLM2's 92k vocabulary and the
samples are somewhat longer than real ones, which makes the packing problem
harder, not easier) -- or takes a real one (``--tokenizer``) -- and builds the
packed training set twice, with the same records, tokenizer, template
(``--template``, default internlm2_chat), max_length and process count:

(a) XTuner's lawyer path: ``law_reference_map_fn`` +
    ``process_hf_dataset(pack_to_max_length=True)``;
(b) ours: ``legal_qa_map_fn_factory(reference_placement="none")`` (the same
    text as (a): question and answer, references left out) + batched
    tokenisation + best-fit packing (``legal_eagle_xtuner.train.dataset.build_best_fit``).

``datasets`` caching is off, so both run cold. Printed for each: records/s,
token utilisation of packs, samples split across packs, and the share of loss
tokens whose sample's first (prompt) token is in another pack. XTuner's split
figures are computed on its own tokenisation of the records, cut the way its
``Packer`` cuts (every max_length tokens of the concatenated stream).

    python benchmarks/data_pipeline.py            # 40,000 records
    python benchmarks/data_pipeline.py --quick    # 4,000 records, < 1 minute on 2 cores
    # a real tokenizer instead of the local BPE: a model directory or hub id, or
    # the folder of InternLM v1's tokenizer.model and remote code
    python benchmarks/data_pipeline.py --tokenizer ../shared/models/internlm-v1 --template internlm_chat

The last line is machine-readable:
``ratio=… split=… utilisation=… xtuner_split=… xtuner_orphan_share=…``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402


def build_tokenizer(corpus: Path, out: Path, vocab_size: int = 16000):
    """A byte-level BPE trained on the corpus, with InternLM2's special tokens."""
    import json

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    records = json.loads(corpus.read_text("utf-8"))
    texts = [r["question"] + "\n" + r["answer"] for r in records[:4000]]
    special = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=special, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>", pad_token="</s>",
                                   additional_special_tokens=special[3:])
    fast.save_pretrained(out)
    return fast


def load_tokenizer(path: str):
    """``AutoTokenizer.from_pretrained(path, trust_remote_code=True)``; a folder of
    InternLM v1's files as published (tokenizer.model and remote code, no
    tokenizer_config.json, e.g. ../shared/models/internlm-v1) is first made a
    model directory by ``legal_eagle_xtuner.demo.tiny_internlm_v1`` (cached)."""
    from transformers import AutoTokenizer

    folder = Path(path)
    if folder.is_dir() and not (folder / "tokenizer_config.json").exists():
        from legal_eagle_xtuner.demo.tiny_internlm_v1 import SOURCE_FILES, build_tiny_internlm_v1

        if all((folder / name).is_file() for name in SOURCE_FILES):
            path = str(build_tiny_internlm_v1(None, folder))
    return AutoTokenizer.from_pretrained(path, trust_remote_code=True)


def stream_cut_stats(lengths: np.ndarray, first_loss: np.ndarray, max_length: int):
    """Split samples and orphaned loss tokens when samples (in this order) are
    concatenated and cut every ``max_length`` tokens, as XTuner's Packer does.
    ``first_loss[i]`` is the offset of sample i's first loss token; loss tokens
    are taken to run from there to the end of the sample (single-turn)."""
    ends = np.cumsum(lengths)
    starts = ends - lengths
    first_pack = starts // max_length
    last_pack = (ends - 1) // max_length
    split = int(np.count_nonzero(last_pack != first_pack))
    loss_start = starts + first_loss
    # loss tokens at or after the first cut after the sample's start
    cut = (first_pack + 1) * max_length
    orphan = np.clip(ends - np.maximum(loss_start, cut), 0, None)
    total_loss = int((ends - loss_start).sum())
    return split, int(orphan.sum()), total_loss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="4,000 records")
    parser.add_argument("--records", type=int, help="records to generate (default 40,000)")
    parser.add_argument("--max-length", type=int, default=2048)
    parser.add_argument("--num-proc", type=int, help="processes (default: the CPUs available)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tokenizer", metavar="PATH",
                        help="tokenizer to use (a directory or hub id, loaded with "
                             "AutoTokenizer and trust_remote_code) instead of a BPE "
                             "trained on the corpus")
    parser.add_argument("--template", default="internlm2_chat",
                        help="XTuner prompt template (default internlm2_chat)")
    args = parser.parse_args()

    import datasets
    from mmengine.logging import MMLogger
    from xtuner.dataset import process_hf_dataset
    from xtuner.dataset.map_fns import law_reference_map_fn, template_map_fn_factory
    from xtuner.utils import PROMPT_TEMPLATE

    from legal_eagle_xtuner import legal_qa_map_fn_factory
    from legal_eagle_xtuner.train.dataset import build_best_fit, default_num_proc
    from legal_eagle_xtuner.data.synthetic import write_corpus
    from legal_eagle_xtuner.train.tokenize import batch_encoder

    MMLogger.get_instance("legal-eagle-bench", log_level="WARNING")
    datasets.disable_caching()
    datasets.utils.logging.disable_progress_bar()
    n_records = args.records or (4000 if args.quick else 40000)
    num_proc = args.num_proc or default_num_proc()
    max_length = args.max_length
    if args.template not in PROMPT_TEMPLATE:
        parser.error(f"unknown prompt template {args.template!r}")
    template = PROMPT_TEMPLATE[args.template]

    with tempfile.TemporaryDirectory(prefix="legal-eagle-pipeline-") as tmp:
        tmp = Path(tmp)
        corpus = tmp / "lawgpt_92k.json"
        write_corpus(corpus, "lawgpt_92k", records=n_records, seed=args.seed)
        if args.tokenizer:
            tokenizer = load_tokenizer(args.tokenizer)
            which = f"{type(tokenizer).__name__} from {args.tokenizer}"
        else:
            tokenizer = build_tokenizer(corpus, tmp / "tokenizer")
            which = "BPE trained on the corpus"
        raw = datasets.load_dataset("json", data_files=str(corpus), split="train")
        print(f"{n_records} LAW-GPT-92k-shaped records, max_length {max_length}, "
              f"{num_proc} process(es), tokenizer vocab {len(tokenizer)} ({which}), "
              f"template {args.template}")

        # (a) XTuner
        start = time.perf_counter()
        theirs = process_hf_dataset(
            dataset=raw, tokenizer=tokenizer, max_length=max_length,
            dataset_map_fn=law_reference_map_fn,
            template_map_fn=template_map_fn_factory(template=template),
            remove_unused_columns=True, shuffle_before_pack=True, pack_to_max_length=True,
            map_num_proc=num_proc)
        xtuner_s = time.perf_counter() - start

        # (b) ours; with the varlen fields (a little more work than the configs'
        # default), which show every sample boundary in the output.
        start = time.perf_counter()
        ours = build_best_fit(
            dataset=raw, tokenizer=tokenizer, max_length=max_length,
            dataset_map_fn=legal_qa_map_fn_factory(reference_placement="none"),
            template_map_fn=dict(template=template), seed=args.seed, map_num_proc=num_proc,
            use_varlen_attn=True)
        ours_s = time.perf_counter() - start

        # Per-sample lengths and first loss token, on (a)'s own tokenisation
        # (untimed), to measure what its stream cutting does.
        convs = raw.map(law_reference_map_fn, remove_columns=raw.column_names)
        enc = convs.map(batch_encoder(tokenizer, template), batched=True,
                        remove_columns=convs.column_names)
        lengths = np.minimum(np.asarray(enc["length"]), max_length)
        first_loss = np.array([next(i for i, x in enumerate(lab) if x >= 0)
                               for lab in enc["labels"]])
        order = np.random.default_rng(args.seed).permutation(len(lengths))
        x_split, x_orphan, x_loss = stream_cut_stats(lengths[order], first_loss[order],
                                                     max_length)
        x_tokens = sum(len(row) for row in theirs["input_ids"])
        x_util = x_tokens / (len(theirs) * max_length)

        # Ours, measured on the output: every segment of a pack (cumulative_len)
        # must start with BOS, i.e. be a whole sample; a segment that does not is
        # the continuation of a split sample and its loss tokens are orphaned.
        bos = tokenizer.bos_token_id
        o_split = o_orphan = o_loss = o_tokens = 0
        for row in ours:
            ids, labels = np.asarray(row["input_ids"]), np.asarray(row["labels"])
            o_tokens += len(ids)
            o_loss += int(np.count_nonzero(labels >= 0))
            bounds = row["cumulative_len"]
            for a, b in zip(bounds[:-1], bounds[1:]):
                if ids[a] != bos:
                    o_split += 1
                    o_orphan += int(np.count_nonzero(labels[a:b] >= 0))
        o_util = o_tokens / (len(ours) * max_length)

    rows = [("xtuner (law_reference_map_fn + process_hf_dataset)", xtuner_s, len(theirs),
             x_util, x_split, x_orphan / x_loss),
            ("ours (legal_qa_map_fn + batched tokenise + best fit)", ours_s, len(ours),
             o_util, o_split, o_orphan / o_loss)]
    print(f"{'path':<54} {'s':>7} {'records/s':>10} {'packs':>7} {'util':>7} "
          f"{'split':>7} {'orphan loss':>12}")
    for name, seconds, packs_n, util, split, orphan in rows:
        print(f"{name:<54} {seconds:>7.1f} {n_records / seconds:>10.0f} {packs_n:>7} "
              f"{util:>7.3f} {split:>7} {orphan:>11.1%}")
    ratio = xtuner_s / ours_s
    print(f"targets: ratio >= 2.0 {'met' if ratio >= 2 else 'MISSED'}, split = 0 "
          f"{'met' if o_split == 0 else 'MISSED'}, utilisation >= 0.97 "
          f"{'met' if o_util >= 0.97 else 'MISSED'}")
    print(f"ratio={ratio:.2f} split={o_split} utilisation={o_util:.3f} "
          f"xtuner_split={x_split} xtuner_orphan_share={x_orphan / x_loss:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
