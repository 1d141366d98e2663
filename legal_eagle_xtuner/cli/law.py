"""``legal-eagle law``: build the statute index, search it, show an article, print the
user turn with retrieved articles, check the articles a text cites."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from legal_eagle_xtuner.cli.common import _count, _positive_int, _progress

_NUMBER_RE = re.compile(r"^第?\s*(?P<num>[0-9０-９]+|[零〇一二两三四五六七八九十百千万]+)\s*条?"
                        r"(?:之(?P<sub>[0-9]+|[一二三四五六七八九十]+))?$")


def _err(command: str, message) -> int:
    print(f"legal-eagle law {command}: {message}", file=sys.stderr)
    return 1


def _tqdm(enabled, **kwargs):
    from tqdm import tqdm

    # enabled None: a bar only on a terminal; False (--no-progress): never.
    return lambda items: tqdm(items, disable=True if enabled is False else None, **kwargs)


def _load(command: str, path: str):
    from legal_eagle_xtuner.law import LawIndexError, load_index

    try:
        return load_index(path)
    except LawIndexError as exc:
        _err(command, exc)
        return None


def _index(args) -> int:
    from legal_eagle_xtuner.law import LawIndexError
    from legal_eagle_xtuner.law.build import build

    paths = [Path(p) for p in args.dirs]
    bar = _tqdm(_progress(args), desc="law files", unit="file")
    try:
        built = build(paths, Path(args.output), tokenizer=args.tokenizer,
                      records=[Path(p) for p in args.from_records], jobs=args.jobs,
                      progress=bar, embedding_model=args.embedding_model, device=args.device,
                      embed_progress=_tqdm(_progress(args), desc="embed", unit="batch"))
    except (LawIndexError, ValueError) as exc:
        return _err("index", exc)
    except OSError as exc:
        return _err("index", f"{exc.filename or args.output}: {exc.strerror or exc}")
    corpus = built.corpus
    for reject in corpus.rejects[: args.show_rejects]:
        print(f"reject: {reject}", file=sys.stderr)
    if len(corpus.rejects) > args.show_rejects:
        print(f"... {len(corpus.rejects) - args.show_rejects} more rejects "
              "(--show-rejects N to list them)", file=sys.stderr)
    line_rejects = len(corpus.rejects) - corpus.files_rejected
    print(f"files: {corpus.files} ({corpus.files_indexed} indexed, {corpus.files_rejected} "
          f"rejected); laws: {corpus.laws}; articles: {len(corpus.articles)} "
          f"({sum(a.current for a in corpus.articles)} current"
          + (f", {corpus.records_articles} from records" if args.from_records else "")
          + f"); other rejects: {line_rejects}; charges attached: {corpus.charges}")
    if built.index is None:
        return _err("index", "no article found; nothing written")
    print(f"index: {args.output} ({args.tokenizer}, {built.seconds:.1f} s)")
    return 0


def _search_one(index, query: str, k: int, laws, retriever=None):
    return index.search(query, k=k, laws=laws or None, retriever=retriever)


def _print_hits(hits, as_json: bool) -> None:
    if as_json:
        print(json.dumps([hit.to_json() for hit in hits], ensure_ascii=False))
        return
    for rank, hit in enumerate(hits, 1):
        flag = "" if hit.current else f" (superseded: {hit.version} version)"
        score = "citation" if hit.match == "citation" else f"{hit.score:.2f}"
        print(f"{rank}. {hit.citation()} [{score}]{flag}")
        print("   " + hit.text.replace("\n", "\n   "))


def _queries(args, index) -> int:
    from legal_eagle_xtuner.data.encoding import FileFormatError
    from legal_eagle_xtuner.data.records import Problem, iter_records

    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    answered = rejected = 0
    try:
        bar = _tqdm(_progress(args), desc="questions", unit="q")
        for item in bar(iter_records(args.queries)):
            if isinstance(item, Problem):
                print(f"reject: {item}", file=sys.stderr)
                rejected += 1
                continue
            value = item.value
            question = value.get("question") if isinstance(value, dict) else None
            if not isinstance(question, str) or not question.strip():
                print(f"reject: {item.path}:{item.line}: needs a non-empty 'question' string",
                      file=sys.stderr)
                rejected += 1
                continue
            hits = _search_one(index, question, args.k, args.law, args.retriever)
            out.write(json.dumps({"id": value.get("id"), "hits": [h.to_json() for h in hits]},
                                 ensure_ascii=False) + "\n")
            answered += 1
    except FileFormatError as exc:
        return _err("search", exc)
    except OSError as exc:
        return _err("search", f"{args.queries}: {exc.strerror or exc}")
    finally:
        if out is not sys.stdout:
            out.close()
    print(f"questions: {answered + rejected} ({answered} answered, {rejected} rejected)",
          file=sys.stderr)
    return 0 if answered or not rejected else 1


def _search(args) -> int:
    if (args.query is None) == (args.queries is None):
        return _err("search", "give a QUERY or --queries FILE (not both)")
    index = _load("search", args.index)
    if index is None:
        return 1
    from legal_eagle_xtuner.law import LawIndexError

    if args.retriever not in (None, "bm25") and index.embeddings is None:
        return _err("search", f"--retriever {args.retriever}: {args.index} has no embeddings "
                              "(build it with --embedding-model DIR)")
    if args.queries:
        return _queries(args, index)
    if not args.query.strip():
        return _err("search", "the query is empty")
    try:
        hits = _search_one(index, args.query, args.k, args.law, args.retriever)
    except (LawIndexError, ValueError, OSError) as exc:  # the encoder folder, for dense
        return _err("search", exc)
    _print_hits(hits, args.json)
    return 0


def _parse_number(text: str):
    from legal_eagle_xtuner.law.markdown import to_int

    match = _NUMBER_RE.match(text.strip())
    if match is None:
        raise ValueError(f"not an article number: {text!r}")
    import cn2an

    sub = match["sub"]
    return to_int(match["num"]), f"之{cn2an.an2cn(str(to_int(sub)))}" if sub else ""


def _show(args) -> int:
    index = _load("show", args.index)
    if index is None:
        return 1
    if args.number is None:
        cited = index.cited(args.law)
        from legal_eagle_xtuner.sources.citation_parse import parse_citations

        if not parse_citations(args.law):
            return _err("show", f"{args.law!r} names no article: give LAW NUMBER "
                                "(民法典 1079) or a citation (《民法典》第一千零七十九条)")
        if not cited:
            return _err("show", f"{args.law}: no such article in {args.index}")
        versions = [v for a in cited for v in
                    (index.versions(a.law, a.number, a.suffix) if args.all_versions else [a])]
    else:
        try:
            number, suffix = _parse_number(args.number)
        except ValueError as exc:
            return _err("show", exc)
        versions = index.versions(args.law, number, suffix)
        if not versions:
            what = "law" if index.resolve_law(args.law) is None else "article"
            return _err("show", f"{args.law} {args.number}: no such {what} in {args.index}")
        versions = versions if args.all_versions else versions[:1]
    from legal_eagle_xtuner.law import Hit

    _print_hits([Hit.of(a, 0.0, "citation") for a in versions], args.json)
    return 0


def _prompt(args) -> int:
    from legal_eagle_xtuner.law import prompt_with_references

    index = _load("prompt", args.index)
    if index is None:
        return 1
    if not args.question.strip():
        return _err("prompt", "the question is empty")
    prompt = prompt_with_references(args.question, index.search(args.question, k=args.k))
    if args.request:  # a chat-completions request body for an OpenAI-compatible server
        print(json.dumps({"model": args.request, "messages": [{"role": "user",
                                                               "content": prompt}]},
                         ensure_ascii=False))
    else:
        print(prompt)
    return 0


def _check(args) -> int:
    from legal_eagle_xtuner.law import check_citations

    index = _load("check", args.index)
    if index is None:
        return 1
    text = args.text
    if text == "-":
        text = sys.stdin.read()
    checks = check_citations(text, index)
    if args.json:
        print(json.dumps([c.to_json() for c in checks], ensure_ascii=False))
        return 0
    for check in checks:
        quote = "" if check.quote_match is None else \
            ("; quote matches" if check.quote_match else "; quote does NOT match")
        print(f"{check.citation}: {check.status}"
              + (f" ({check.version})" if check.version else "") + quote)
    if not checks:
        print("no article cited")
    return 0


def add_law_parser(sub) -> None:
    from legal_eagle_xtuner.law.tokenize import TOKENIZERS

    p = sub.add_parser("law", help="the statute index: build, search, show, prompt, check",
                       description="The law at hand: an index of LawRefBook Markdown "
                       "statutes (docs/law.md), BM25 search, exact lookup, the user turn "
                       "with retrieved articles as training renders it, citation checks.")
    law = p.add_subparsers(dest="law_command", required=True, metavar="COMMAND")

    q = law.add_parser("index", help="build an index from LawRefBook Markdown folders",
                       description="Parse every *.md under DIR (LawRefBook format) into "
                       "articles and write the index folder INDEX atomically. Rejects "
                       "(files that are no law, unreadable or empty files, article lines "
                       "that cannot be read) are counted and listed as FILE:LINE.")
    q.add_argument("dirs", nargs="+", metavar="DIR", help="folders (or .md files) of laws")
    q.add_argument("-o", "--output", required=True, metavar="INDEX", help="index folder")
    q.add_argument("--tokenizer", default="bigram", choices=TOKENIZERS,
                   help="BM25 terms: jieba words, character bigrams (default), or both")
    q.add_argument("--from-records", action="append", default=[], metavar="FILE",
                   help="also index the references of DISC-Law-SFT Triplet / LAW-GPT 92k "
                   "records (articles the Markdown lacks); repeatable")
    q.add_argument("--jobs", type=_positive_int, default=None,
                   help="processes that tokenise (default: the CPUs, at most 8)")
    q.add_argument("--embedding-model", metavar="DIR",
                   help="also embed the articles with this local encoder folder (e.g. a copy "
                   "of BAAI/bge-m3) for dense and hybrid search")
    q.add_argument("--device", default="cpu", help="where --embedding-model runs (cuda, cpu)")
    q.add_argument("--show-rejects", type=_count, default=20, metavar="N",
                   help="list the first N rejects (default 20)")
    q.add_argument("--no-progress", action="store_true", help="no progress bar")
    q.set_defaults(func=_index)

    q = law.add_parser("search", help="the best articles for a question",
                       description="Articles the question cites (《民法典》第1079条) are "
                       "looked up exactly and come first; then BM25, one hit per article.")
    q.add_argument("index", metavar="INDEX")
    q.add_argument("query", nargs="?", metavar="QUESTION")
    q.add_argument("-k", type=_positive_int, default=5, help="hits (default 5)")
    q.add_argument("--law", action="append", metavar="LAW",
                   help="search only this law (repeatable), e.g. --law 刑法")
    q.add_argument("--json", action="store_true", help="one JSON list of hits")
    q.add_argument("--retriever", choices=["bm25", "dense", "hybrid"],
                   help="default: hybrid for an index with embeddings, else bm25")
    q.add_argument("--queries", metavar="FILE", help="JSONL with id and question: one "
                   "JSON line {id, hits} per question, the index loaded once")
    q.add_argument("-o", "--output", metavar="FILE", help="with --queries: write here")
    q.add_argument("--no-progress", action="store_true", help="no progress bar")
    q.set_defaults(func=_search)

    q = law.add_parser("show", help="one article by law and number",
                       description="LAW NUMBER (民法典 1079, 刑法 133之一) or one citation "
                       "(\"《民法典》第一千零七十九条\").")
    q.add_argument("index", metavar="INDEX")
    q.add_argument("law", metavar="LAW")
    q.add_argument("number", nargs="?", metavar="NUMBER")
    q.add_argument("--all-versions", action="store_true", help="superseded versions too")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=_show)

    q = law.add_parser("prompt", help="the user turn with retrieved articles, as trained",
                       description="Print the exact user turn (参考法条： block, blank line, "
                       "question) as training builds it, or with --request a request body "
                       "for a served model. (xtuner chat ends its input at the first empty "
                       "line, so the turn cannot be pasted there whole; see docs/law.md.)")
    q.add_argument("index", metavar="INDEX")
    q.add_argument("question", metavar="QUESTION")
    q.add_argument("-k", type=_positive_int, default=3, help="articles (default 3)")
    q.add_argument("--request", metavar="MODEL",
                   help="print a chat-completions request body for the served MODEL "
                   "instead (pipe it to curl -d @-)")
    q.set_defaults(func=_prompt)

    q = law.add_parser("check", help="check the articles a text cites",
                       description="Each cited article: found / no such article / "
                       "superseded, and whether a quote of it matches.")
    q.add_argument("index", metavar="INDEX")
    q.add_argument("text", metavar="TEXT", help="the answer text, or - for stdin")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=_check)
