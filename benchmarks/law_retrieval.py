"""The statute index measured: retrieval, LawBench by lookup and retrieval alone, cost.

(a) recall@1/5/10 and MRR of the articles cited by the reference answers of
    DISC-Law-Eval's open questions (``datasets/subjective/qa_short_answer.json``),
    retrieved from the question alone: the items whose cited articles the index has
    (at least one), all of them, the case-fact items ("请对以下案件…") and the other
    questions apart. Per retriever: ``plain`` (the anchor: BM25 over character bigrams
    of the article text, bm25s's default parameters, every version, hits merged by law
    and article) and ``ours`` (the index ``legal-eagle law index`` builds) for each
    tokenizer given.
(b) LawBench 1-1 (recite an article) answered by exact lookup alone, and 3-1 (the
    Criminal Law articles of a case) by the top BM25 article(s) over the Criminal Law
    alone, scored by our LawBench scorer beside the published internlm-chat-7b.
(c) the whole corpus indexed by ``legal-eagle law index`` in a child process (its
    build time, wall time with imports, peak RSS), the index size on disk, and query
    latency p50/p95 over 1,000 questions.

    python benchmarks/law_retrieval.py                       # bigram (the default) only
    python benchmarks/law_retrieval.py --tokenizers bigram jieba both

The published numbers are LawBench's (``../shared/lawbench/expected_zero_shot_scores.csv``);
the anchors of (a) are the issue's measurements of plain BM25 and this script's own
``plain`` row.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
ANCHOR = {"recall@5 plain bigram BM25 (issue)": 0.124, "recall@5 target": 0.31,
          "1-1 internlm-chat-7b": 0.155, "3-1 internlm-chat-7b": 0.349}
CASE = "请对以下案件"


def _gold(index, answer: str) -> list[tuple]:
    import cn2an

    from legal_eagle_xtuner.sources.citation_parse import parse_citations

    found = []
    for citation in parse_citations(answer):
        suffix = f"之{cn2an.an2cn(str(citation.sub))}" if citation.sub else ""
        versions = index.versions(citation.law, citation.article, suffix)
        if versions and versions[0].key not in found:
            found.append(versions[0].key)
    return found


def retrieval(index, items: list[dict]) -> dict:
    """Recall@1/5/10 and MRR over all, case-fact and other items with a gold article."""
    rows = []
    for item in items:
        gold = _gold(index, item["output"])
        if not gold:
            continue
        hits = [hit.key for hit in index.search(item["input"], k=10)]
        recall = {k: len(set(gold) & set(hits[:k])) / len(gold) for k in (1, 5, 10)}
        rank = next((1 / (i + 1) for i, key in enumerate(hits) if key in gold), 0.0)
        rows.append((item["input"].startswith(CASE), recall, rank))
    out = {}
    for part, chosen in (("all", rows), ("case facts", [r for r in rows if r[0]]),
                         ("questions", [r for r in rows if not r[0]])):
        n = len(chosen) or 1
        out[part] = {"items": len(chosen),
                     **{f"recall@{k}": round(sum(r[1][k] for r in chosen) / n, 3)
                        for k in (1, 5, 10)},
                     "mrr": round(sum(r[2] for r in chosen) / n, 3)}
    return out


def lawbench(index, data: Path) -> dict:
    """1-1 by exact lookup, 3-1 by the top 1 and top 2 Criminal Law articles."""
    from legal_eagle_xtuner.eval.lawbench.score import score_task

    out = {}
    rows = json.loads((data / "1-1.json").read_text("utf-8"))
    items = []
    for row in rows:
        cited = index.cited(row["question"])
        items.append({"origin_prompt": row["question"], "refr": row["answer"],
                      "prediction": cited[0].text if cited else ""})
    out["1-1 lookup"] = {"score": round(score_task("1-1", items).score, 3),
                         "looked up": sum(bool(i["prediction"]) for i in items),
                         "items": len(items)}
    rows = json.loads((data / "3-1.json").read_text("utf-8"))
    for k in (1, 2):
        items = []
        for row in rows:
            hits = index.search(row["question"], k=k, laws=["刑法"])
            answer = "、".join(f"刑法第{hit.number}条" for hit in hits)
            items.append({"origin_prompt": row["question"], "refr": row["answer"],
                          "prediction": f"[法条]{answer}<eoa>"})
        out[f"3-1 top {k}"] = {"score": round(score_task("3-1", items).score, 3),
                               "items": len(items)}
    return out


def published(lawbench_dir: Path) -> dict:
    table = lawbench_dir / "expected_zero_shot_scores.csv"
    with open(table, encoding="utf-8") as rows:
        return {(r["task"], r["model_name"]): float(r["score"]) for r in csv.DictReader(rows)}


def build_cost(statutes: Path, out: Path, tokenizer: str) -> dict:
    """``legal-eagle law index`` in a child: its own build time, wall time, peak RSS."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "legal_eagle_xtuner.cli", "law", "index",
                             str(statutes), "-o", str(out), "--tokenizer", tokenizer,
                             "--no-progress", "--show-rejects", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout = proc.stdout.read()
    stderr = proc.stderr.read()  # a few lines: --show-rejects 0, no progress bar
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"law index failed: {stderr[-2000:]}")
    match = re.search(r"\((\w+), ([0-9.]+) s\)", stdout)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    peak = usage.ru_maxrss / 1024  # KiB on Linux
    return {"counts": stdout.splitlines()[0], "build_s": float(match[2]),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            "wall_with_imports_s": round(wall, 1), "peak_rss_mib": round(peak),
            "index_mib": round(size / 2**20, 1)}


def latency(index, questions: list[str], n: int) -> dict:
    times = []
    for i in range(n):
        start = time.perf_counter()
        index.search(questions[i % len(questions)], k=5)
        times.append(time.perf_counter() - start)
    times.sort()
    return {"queries": n, "p50_ms": round(1000 * times[n // 2], 1),
            "p95_ms": round(1000 * times[int(n * 0.95)], 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--statutes", type=Path, default=SHARED / "statutes" / "lawrefbook")
    parser.add_argument("--disc-law-eval", type=Path, default=SHARED / "disc-law-eval")
    parser.add_argument("--lawbench", type=Path, default=SHARED / "lawbench")
    parser.add_argument("--tokenizers", nargs="+", default=["bigram"],
                        choices=["bigram", "jieba", "both"])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)
    for path in (args.statutes, args.disc_law_eval, args.lawbench):
        if not path.exists():
            print(f"{path}: not found (the benchmark reads ../shared)", file=sys.stderr)
            return 1
    from legal_eagle_xtuner.law import build_index, load_index
    from legal_eagle_xtuner.law.corpus import load_corpus

    subjective = json.loads((args.disc_law_eval / "datasets" / "subjective" /
                             "qa_short_answer.json").read_text("utf-8"))
    data = args.lawbench / "data" / "zero_shot"
    report: dict = {"anchors": ANCHOR, "retrieval": {}, "cost": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for tokenizer in args.tokenizers:
            out = Path(tmp) / f"index-{tokenizer}"
            report["cost"][tokenizer] = build_cost(args.statutes, out, tokenizer)
            index = load_index(out)
            report["retrieval"][f"ours ({tokenizer})"] = retrieval(index, subjective)
            if tokenizer == "bigram":
                report["lawbench"] = lawbench(index, data)
                questions = [i["input"] for i in subjective] + [
                    r["question"] for t in ("1-1", "3-1")
                    for r in json.loads((data / f"{t}.json").read_text("utf-8"))]
                report["latency"] = latency(index, questions, args.queries)
            del index
        corpus = load_corpus([args.statutes])
        plain = build_index(corpus.articles, "bigram", law_weight=0, kind_weights={},
                            superseded_weight=1.0, routes=[], expand_queries=False)
        report["retrieval"]["plain (bigram BM25, anchor)"] = retrieval(plain, subjective)
    pub = published(args.lawbench)
    report["published"] = {t: pub.get((t, "internlm-chat-7b-8k-hf")) for t in ("1-1", "3-1")}
    _print(report)
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=1), "utf-8")
    return 0


def _print(report: dict) -> None:
    print("(a) DISC-Law-Eval open questions, gold = articles the reference answer cites")
    print(f"{'retriever':<30}{'part':<12}{'items':>6}{'R@1':>7}{'R@5':>7}{'R@10':>7}{'MRR':>7}")
    for name, parts in report["retrieval"].items():
        for part, r in parts.items():
            print(f"{name:<30}{part:<12}{r['items']:>6}{r['recall@1']:>7.3f}"
                  f"{r['recall@5']:>7.3f}{r['recall@10']:>7.3f}{r['mrr']:>7.3f}")
    print(f"anchors: plain bigram BM25 recall@5 {ANCHOR['recall@5 plain bigram BM25 (issue)']} "
          f"(the issue's), target {ANCHOR['recall@5 target']}")
    if "lawbench" in report:
        print("(b) LawBench, ours (no model) beside internlm-chat-7b (published)")
        pub = report["published"]
        for name, r in report["lawbench"].items():
            print(f"  {name:<12} {r['score']:.3f}   internlm-chat-7b {pub[name[:3]]:.3f}"
                  + (f"   ({r['looked up']} of {r['items']} looked up)" if "looked up" in r
                     else ""))
    print("(c) cost")
    for tokenizer, c in report["cost"].items():
        print(f"  {tokenizer}: {c['counts']}")
        print(f"    build {c['build_s']} s (wall with imports {c['wall_with_imports_s']} s, "
              f"CPU {c['cpu_s']} s), "
              f"peak RSS {c['peak_rss_mib']} MiB, index {c['index_mib']} MiB")
    if "latency" in report:
        lat = report["latency"]
        print(f"  query latency over {lat['queries']} questions: p50 {lat['p50_ms']} ms, "
              f"p95 {lat['p95_ms']} ms (target p95 < 50 ms)")


if __name__ == "__main__":
    sys.exit(main())
