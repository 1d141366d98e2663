"""`legal-eagle web` without a browser: the vote file (one fsync-ed line a vote, a line
cut short by a crash counted and never fatal, a restarted app appending), the tally,
SPEC parsing, the example questions, and a session in which two local tiny models
(base, base + adapter) answer one question and a follow-up with exactly the greedy
answers of `eval generate`'s generator while a dead server's column shows its error."""

import json
import socket
import threading

import pytest

from conftest import CONFIGS, free_port

from legal_eagle_xtuner.cli import main
from legal_eagle_xtuner.web.app import example_questions, tally_markdown
from legal_eagle_xtuner.web.models import ModelError, Spec, parse_spec
from legal_eagle_xtuner.web.votes import VoteLog, read_votes, tally


def _vote(a, b, vote, question="问"):
    return {"time": "2026-12-08T00:00:00+0000", "question": question, "a_name": a,
            "b_name": b, "a_answer": "甲", "b_answer": "乙", "vote": vote}


def test_votes_append_one_line_each_and_a_restart_keeps_appending(tmp_path):
    path = tmp_path / "sub" / "votes.jsonl"
    log = VoteLog(path)
    log.append(_vote("base", "tuned", "b"))
    log.append(_vote("tuned", "base", "a"))
    VoteLog(path).append(_vote("base", "tuned", "tie"))  # a restarted app
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 4
    assert [json.loads(line)["vote"] for line in lines[:3]] == ["b", "a", "tie"]
    assert json.loads(lines[0])["question"] == "问"  # UTF-8, not escaped
    t = log.tally()
    assert (t.votes, t.broken) == (3, [])
    assert t.rows() == [["tuned", "67%", 2, 0, 1, 0, 3], ["base", "0%", 0, 2, 1, 0, 3]]


def test_a_line_cut_short_by_a_crash_is_counted_not_fatal(tmp_path):
    path = tmp_path / "votes.jsonl"
    VoteLog(path).append(_vote("base", "tuned", "a"))
    with open(path, "ab") as f:  # what a kill in the middle of a write leaves
        f.write(b'{"time": "2026-12-08T00:01:00+0000", "question": "\xe9\x97')
    votes, broken = read_votes(path)
    assert len(votes) == 1
    assert broken == [f"{path}:2: unterminated last line (cut short by a crash?)"]
    log = VoteLog(path)  # the restarted app ends the fragment, then appends
    log.append(_vote("base", "tuned", "both_bad"))
    votes, broken = read_votes(path)
    assert [v["vote"] for v in votes] == ["a", "both_bad"]
    assert len(broken) == 1 and broken[0].startswith(f"{path}:2: not JSON")
    t = log.tally()
    assert t.votes + len(t.broken) == 3
    assert t.rows() == [["base", "50%", 1, 0, 0, 1, 2], ["tuned", "0%", 0, 1, 0, 1, 2]]
    md = tally_markdown(log)
    assert md.startswith(f"**2 votes** in `{path}`; 1 broken line skipped "
                         f"(first: {path}:2: not JSON")
    assert "| base | 50% | 1 | 0 | 0 | 1 | 2 |" in md


def test_lines_that_are_not_votes_are_named(tmp_path):
    path = tmp_path / "votes.jsonl"
    path.write_text("[1]\n" + json.dumps({**_vote("x", "y", "maybe")}) + "\n"
                    + json.dumps({"vote": "a"}) + "\n\n", "utf-8")
    votes, broken = read_votes(path)
    assert votes == [] and broken == [
        f"{path}:1: not a JSON object",
        f"{path}:2: vote 'maybe' is none of a, b, tie, both_bad",
        f"{path}:3: missing time, question, a_name, b_name, a_answer, b_answer"]
    assert tally([], broken).rows() == []
    with pytest.raises(ValueError, match="vote 'x' is none of"):
        VoteLog(tmp_path / "v2.jsonl").append(_vote("a", "b", "x"))


def test_specs(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "ad").mkdir()
    (tmp_path / "ad" / "adapter_config.json").write_text("{}")
    assert parse_spec("base=http://127.0.0.1:8000/v1@internlm/internlm2-chat-7b") == Spec(
        "base", base_url="http://127.0.0.1:8000/v1", api_model="internlm/internlm2-chat-7b")
    assert parse_spec(f"t={tmp_path / 'm'}+{tmp_path / 'ad'}") == Spec(
        "t", model=str(tmp_path / "m"), adapter=str(tmp_path / "ad"))
    assert parse_spec(f"b={tmp_path / 'm'}") == Spec("b", model=str(tmp_path / "m"))
    for text, message in [
            ("http://x/v1@m", "expected NAME=SPEC"),
            ("a=http://127.0.0.1:8000/v1", "an endpoint is URL@MODEL"),
            (f"a={tmp_path / 'nope'}", f"{tmp_path / 'nope'}: no such model folder"),
            (f"a={tmp_path / 'm'}+{tmp_path / 'm'}", "not an adapter folder")]:
        with pytest.raises(ModelError, match=message):
            parse_spec(text)


def test_example_questions_are_the_configs_evaluation_inputs():
    assert example_questions() == [
        "请问离婚需要准备什么材料？", "销售鳄鱼皮包违法吗？",
        "公司拖欠工资三个月，我可以申请劳动仲裁吗？需要哪些证据？",
        "朋友借了我五万元一直不还，只有微信聊天记录，能起诉吗？"]
    assert example_questions([CONFIGS / "internlm2_20b_qlora_lawgpt.py"]) == [
        "请问离婚需要准备什么材料？", "销售鳄鱼皮包违法吗？"]


def test_bad_input_is_one_line(tmp_path, capsys):
    pytest.importorskip("gradio", reason="the web extra (pip install -e '.[web]')")
    assert main(["web", "--a", "x", "--b", "y=http://h/v1@m", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err == ("legal-eagle web: 'x': expected NAME=SPEC (NAME=http://host:8000/v1@model "
                   "or NAME=path/to/model[+path/to/adapter])\n")
    assert main(["web", "--a", "m=http://h/v1@a", "--b", "m=http://h/v1@b",
                 "--no-progress"]) == 1
    assert "both models are named 'm'" in capsys.readouterr().err
    (tmp_path / "dir.jsonl").mkdir()
    assert main(["web", "--a", "a=http://h/v1@a", "--b", "b=http://h/v1@b", "--votes",
                 str(tmp_path / "dir.jsonl"), "--no-progress", "--port",
                 str(free_port())]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"legal-eagle web: {tmp_path / 'dir.jsonl'}: cannot open the vote "
                          "file: Is a directory") and err.count("\n") == 1
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["web", "--a", "a=http://h/v1@a", "--b", "b=http://h/v1@b", "--votes",
                     "none", "--no-progress", "--port", str(port)]) == 1
    assert capsys.readouterr().err == (f"legal-eagle web: cannot serve on 127.0.0.1:{port}: "
                                       "the port is in use (--port PORT for another)\n")


@pytest.fixture(scope="module")
def two_local(tiny_model, tmp_path_factory):
    from vllm_server import make_adapter

    adapter = make_adapter(tiny_model, tmp_path_factory.mktemp("web") / "adapter", 3)
    return tiny_model, adapter


def test_a_session_answers_as_eval_generate_and_a_dead_server_is_its_own_column(two_local,
                                                                             tmp_path):
    from legal_eagle_xtuner.eval.generate import HFGenerator
    from legal_eagle_xtuner.export.chat_template import stop_words, xtuner_prompt
    from legal_eagle_xtuner.sources import LEGAL_SYSTEM
    from legal_eagle_xtuner.web.launch import WebSettings, load_models
    from legal_eagle_xtuner.web.session import Session

    base, adapter = two_local
    dead = f"http://127.0.0.1:{free_port()}/v1"
    settings = WebSettings(a=f"base={base}", b=f"tuned={base}+{adapter}",
                           system=LEGAL_SYSTEM, max_new_tokens=12)
    models = load_models(settings)
    stops = stop_words("internlm2_chat")
    reference = {"base": HFGenerator(str(base), stop_words=stops),
                 "tuned": HFGenerator(str(base), str(adapter), stop_words=stops)}
    session = Session(seed=0)
    log = VoteLog(tmp_path / "votes.jsonl")
    history = {"base": [], "tuned": []}  # each model's own conversation
    for question in ("请问离婚需要准备什么材料？", "那么需要多久？"):
        list(session.ask(models, question))
        answers = {}
        for index, (name, _) in enumerate(models):
            prompt = xtuner_prompt("internlm2_chat", [*history[name], (question, None)],
                                   LEGAL_SYSTEM)
            turn = session.turns[index][-1]
            assert turn.done and turn.error is None and turn.prompt == prompt
            assert turn.answer == reference[name]([prompt], max_new_tokens=12)[0]
            assert 0 < turn.stats.tokens <= 13 and turn.stats.first_token_s is not None
            answers[name] = turn.answer
            history[name].append((question, turn.answer))
        assert answers["base"] != answers["tuned"]
        record = session.vote(models, "a", log)
        names = [models[m][0] for m in session.order]
        assert (record["a_name"], record["b_name"]) == tuple(names)
        assert record["a_answer"] == answers[names[0]] and record["vote"] == "a"
    with pytest.raises(ModelError, match="nothing to vote on"):
        session.vote(models, "b", log)
    assert [v["question"] for v in read_votes(log.path)[0]] == ["请问离婚需要准备什么材料？",
                                                                "那么需要多久？"]

    # two models of one server are asked one after the other unless --parallel
    same = load_models(WebSettings(a=f"x={dead}@merged", b=f"y={dead}@lora"))
    assert same[0][1].turn_lock is same[1][1].turn_lock
    assert type(same[0][1].turn_lock) is type(threading.Lock())
    same = load_models(WebSettings(a=f"x={dead}@merged", b=f"y={dead}@lora", parallel=True))
    assert not isinstance(same[0][1].turn_lock, type(threading.Lock()))
    broken = load_models(WebSettings(a=f"base={base}", b=f"down={dead}@merged",
                                     max_new_tokens=4))
    broken[0] = models[0]  # the base already loaded
    session = Session(blind=False)
    list(session.ask(broken, "问题"))
    ok, down = session.turns[0][-1], session.turns[1][-1]
    assert ok.error is None and ok.answer
    assert down.error.startswith(f"{dead}: cannot reach the server (")


@pytest.fixture(scope="module")
def law_index(tmp_path_factory):
    from law_common import small_folder

    from legal_eagle_xtuner.law.build import build

    tmp = tmp_path_factory.mktemp("web-law")
    build([small_folder(tmp)], tmp / "index", jobs=1)
    return tmp / "index"


def test_rag_puts_the_retrieved_articles_into_both_prompts_and_checks_citations(
        two_local, law_index):
    from legal_eagle_xtuner.export.chat_template import xtuner_prompt
    from legal_eagle_xtuner.law import load_index, prompt_with_references
    from legal_eagle_xtuner.sources import LEGAL_SYSTEM
    from legal_eagle_xtuner.web.launch import WebSettings, load_models
    from legal_eagle_xtuner.web.rag import Retrieval, references_markdown
    from legal_eagle_xtuner.web.session import Session

    retrieval = Retrieval(law_index, k=2)
    question = "夫妻一方要求离婚，可以直接向人民法院起诉吗？"
    got = retrieval.retrieve(question)
    hits = load_index(law_index).search(question, 2)
    assert got.user == prompt_with_references(question, hits)
    assert got.user.startswith("参考法条：\n《民法典》第") and got.user.endswith("\n\n" + question)
    assert got.citations == [hit.citation() for hit in hits] and len(hits) == 2
    panel = references_markdown(got)
    assert panel.startswith("**参考法条：**\n\n《民法典》第")
    base, adapter = two_local
    models = load_models(WebSettings(a=f"base={base}", b=f"tuned={base}+{adapter}",
                                     system=LEGAL_SYSTEM, max_new_tokens=4))
    session = Session(seed=1)
    list(session.ask(models, question, got.user, got.citations))
    for index in (0, 1):
        turn = session.turns[index][-1]
        assert turn.question == question and turn.user == got.user
        assert turn.prompt == xtuner_prompt("internlm2_chat", [(got.user, None)], LEGAL_SYSTEM)
    assert session.vote(models, "tie", None)["references"] == got.citations
    assert session.history(0) == [(got.user, session.turns[0][-1].answer)]

    answer = ("根据《民法典》第一千零七十九条，可以起诉；另见《民法典》第五千条、《会计法》第五十二条"
              "和《没有这部法》第三条。")
    assert retrieval.check(answer) == (
        "Cited articles:\n"
        "- 《民法典》第一千零七十九条: ✓ found (2020-05-28)\n"
        "- 《民法典》第五千条: ✗ no such article\n"
        "- 《会计法》第五十二条: ⚠ superseded (2017-11-04)\n"
        "- 《没有这部法》第三条: ✗ no such article, a law the index does not hold")
    assert retrieval.check("请咨询律师。") == "Cites no article."


def test_a_bad_index_is_one_line(tmp_path, capsys):
    pytest.importorskip("gradio", reason="the web extra (pip install -e '.[web]')")
    assert main(["web", "--a", "a=http://h/v1@a", "--b", "b=http://h/v1@b", "--rag",
                 str(tmp_path / "none"), "--votes", "none", "--no-progress"]) == 1
    assert capsys.readouterr().err == (f"legal-eagle web: {tmp_path / 'none'}: no such index "
                                       "folder (build one with legal-eagle law index)\n")


class _Server:
    """A local HTTP server that answers /v1/chat/completions slowly or with an error."""

    def __init__(self, mode):
        import http.server

        self.release = threading.Event()
        release = self.release

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers["Content-Length"]))
                if mode == "slow":
                    release.wait(10)
                body = json.dumps({"error": {"message": "model overloaded", "type": "x"}})
                self.send_response(503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.httpd.shutdown()


@pytest.mark.parametrize("mode, message", [
    ("slow", "{url}: no answer within the timeout (the server is slow or hung)"),
    ("error", "{url}: the server answered 503: model overloaded")])
def test_a_slow_or_failing_server_is_one_line_in_its_column(mode, message):
    from legal_eagle_xtuner.web.launch import WebSettings, load_models
    from legal_eagle_xtuner.web.session import Session

    server = _Server(mode)
    try:
        models = load_models(WebSettings(a=f"x={server.url}@m", b=f"y={server.url}@n",
                                         timeout=0.5, parallel=True))
        session = Session(blind=False)
        list(session.ask(models, "问题"))
        errors = [session.turns[m][-1].error for m in (0, 1)]
        assert errors == [message.format(url=server.url)] * 2
        record = session.vote(models, "both_bad", None)
        assert record["a_error"] and record["a_answer"] == errors[0]
    finally:
        server.close()
