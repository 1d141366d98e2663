"""The page of ``legal-eagle web`` (Gradio): one question box, two columns that stream
the two models' answers with their time to first token, tokens/s and token count, the
blind vote that reveals the names, the tally of the vote file, and a toggle that shows
the exact prompt each model received.

Gradio is imported only by :func:`build_app`, when the command runs.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

from legal_eagle_xtuner.web.models import ModelError
from legal_eagle_xtuner.web.session import COLUMNS, Session
from legal_eagle_xtuner.web.votes import VoteError, VoteLog

__all__ = ["VOTE_LABELS", "build_app", "example_questions", "tally_markdown"]

VOTE_LABELS = {"a": "A is better", "b": "B is better", "tie": "Tie", "both_bad": "Both bad"}

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
"""The recipes beside the package (an editable install's checkout)."""


def example_questions(configs=None) -> list[str]:
    """The ``evaluation_inputs`` of ``configs`` (default: the recipes in ``configs/``
    where the checkout has them), in order, each once. Read from the source (no code
    of the config runs); a config without them adds none."""
    if configs is None:
        configs = sorted(CONFIGS.glob("*.py")) if CONFIGS.is_dir() else []
    questions: list[str] = []
    for path in configs:
        try:
            tree = ast.parse(Path(path).read_text("utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError) as exc:
            raise ModelError(f"{path}: cannot read the config: {exc}") from None
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "evaluation_inputs"
                    for t in node.targets):
                try:
                    value = ast.literal_eval(node.value)
                except ValueError:
                    continue
                questions += [q for q in value if isinstance(q, str) and q not in questions]
    return questions


def tally_markdown(log: VoteLog | None) -> str:
    if log is None:
        return "Votes are not recorded (--votes none)."
    try:
        t = log.tally()
    except VoteError as exc:
        return f"Tally unavailable: {exc}"
    head = f"**{t.votes} vote{'s' * (t.votes != 1)}** in `{log.path}`"
    if t.broken:
        head += f"; {len(t.broken)} broken line{'s' * (len(t.broken) != 1)} skipped " \
                f"(first: {t.broken[0]})"
    if not t.votes:
        return head + "."
    rows = ["| model | win rate | wins | losses | ties | both bad | votes |",
            "|---|---|---|---|---|---|---|"]
    rows += ["| " + " | ".join(str(c) for c in row) + " |" for row in t.rows()]
    return head + "\n\n" + "\n".join(rows)


def _chat(turns) -> list[dict]:
    out = []
    for t in turns:
        out.append({"role": "user", "content": t.question})
        if t.error:
            out.append({"role": "assistant", "content": f"Error: {t.error}"})
        elif t.answer or not t.done:
            out.append({"role": "assistant", "content": t.answer or "…"})
        else:
            out.append({"role": "assistant", "content": "(empty answer)"})
    return out


def _stats(turns) -> str:
    if not turns:
        return ""
    t = turns[-1]
    if t.error:
        return "error"
    return ("" if t.done else "answering · ") + t.stats.line()


def build_app(models, *, votes: VoteLog | None, blind: bool = True, examples=(),
              seed: int | None = None, retrieval=None,
              title: str = "Legal-Eagle: side by side"):
    """The Gradio Blocks of the page for ``models``, two ``(name, model)`` pairs;
    ``retrieval`` (:class:`~legal_eagle_xtuner.web.rag.Retrieval`) for ``--rag``."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    def label(session: Session, column: int) -> str:
        name = models[session.order[column]][0]
        if not session.blind or session.voted and session.turns[0]:
            return f"### {COLUMNS[column]}: {name}"
        return f"### {COLUMNS[column]}"

    def view(session: Session, note: str = ""):
        can_vote = not session.voted and all(
            session.turns[m] and session.turns[m][-1].done for m in (0, 1))
        out = []
        for column in (0, 1):
            turns = session.column_turns(column)
            out += [label(session, column), _chat(turns), _stats(turns),
                    turns[-1].prompt if turns else "",
                    turns[-1].citations if turns and turns[-1].done else ""]
        out.append(session.reference_panel)
        out += [gr.update(interactive=can_vote) for _ in VOTE_LABELS]
        out += [note, session]
        return out

    def fresh(session):
        return session if isinstance(session, Session) else Session(blind=blind, seed=seed)

    def ask(question, session):
        session = fresh(session)
        question = (question or "").strip()
        if not question:
            yield view(session, "Type a question first.")
            return
        if not all(session.turns[m][-1].done for m in (0, 1) if session.turns[m]):
            yield view(session, "Wait until both answers are complete.")
            return
        retrieved = retrieval.retrieve(question) if retrieval else None
        if retrieved is not None:
            from legal_eagle_xtuner.web.rag import references_markdown

            session.reference_panel = references_markdown(retrieved)
        for _ in session.ask(models, question, retrieved and retrieved.user,
                             retrieved and retrieved.citations):
            yield view(session)
        if retrieval:
            for m in (0, 1):
                turn = session.turns[m][-1]
                turn.citations = "" if turn.error else retrieval.check(turn.answer)
        yield view(session, "Vote: which answer is better?" if session.blind else "")

    def vote(choice):
        def handler(session):
            session = fresh(session)
            try:
                record = session.vote(models, choice, votes)
            except (ModelError, VoteError) as exc:
                return [*view(session, str(exc)), tally_markdown(votes)]
            where = f" (recorded in {votes.path})" if votes is not None else ""
            note = (f"A was **{record['a_name']}**, B was **{record['b_name']}**; "
                    f"your vote: {VOTE_LABELS[choice]}{where}.")
            return [*view(session, note), tally_markdown(votes)]
        return handler

    def new_conversation(session):
        session = fresh(session)
        session.new_conversation()
        return view(session, "New conversation.")

    def toggle_blind(on, session):
        session = fresh(session)
        session.blind = bool(on)
        return view(session)

    theme = gr.themes.Default(font=["sans-serif"], font_mono=["monospace"])
    with gr.Blocks(title=title, theme=theme, analytics_enabled=False) as app:
        gr.Markdown(f"## {title}")
        state = gr.State(None)
        with gr.Row():
            blind_box = gr.Checkbox(blind, label="Blind (A/B in random order, names "
                                    "revealed after the vote)", elem_id="blind")
            show_prompts = gr.Checkbox(False, label="Show the prompt each model received",
                                       elem_id="show-prompts")
        columns = []
        with gr.Row(equal_height=False):
            for column in COLUMNS:
                c = column.lower()
                with gr.Column(scale=2):
                    head = gr.Markdown(f"### {column}", elem_id=f"label-{c}")
                    chat = gr.Chatbot(type="messages", render_markdown=False, allow_tags=False,
                                      height=420, elem_id=f"chat-{c}", show_label=False)
                    stats = gr.Markdown("", elem_id=f"stats-{c}")
                    prompt = gr.Textbox(label=f"Prompt {column} received", lines=6,
                                        max_lines=20, visible=False, interactive=False,
                                        elem_id=f"prompt-{c}")
                    cited = gr.Markdown("", elem_id=f"citations-{c}", visible=bool(retrieval))
                columns += [head, chat, stats, prompt, cited]
            with gr.Column(scale=1, visible=bool(retrieval)):
                references = gr.Markdown("", elem_id="references")
        question = gr.Textbox(label="Question", lines=2, elem_id="question",
                              placeholder="请问离婚需要准备什么材料？")
        with gr.Row():
            ask_button = gr.Button("Ask both", variant="primary", elem_id="ask")
            new_button = gr.Button("New conversation", elem_id="new-conversation")
        if examples:
            gr.Examples([[q] for q in examples], inputs=[question], label="Examples")
        with gr.Row():
            vote_buttons = [gr.Button(text, interactive=False, elem_id=f"vote-{key}")
                            for key, text in VOTE_LABELS.items()]
        note = gr.Markdown("", elem_id="note")
        tally = gr.Markdown(tally_markdown(votes), elem_id="tally")

        outputs = [*columns, references, *vote_buttons, note, state]
        for trigger in (ask_button.click, question.submit):
            trigger(ask, [question, state], outputs, concurrency_limit=8).then(
                lambda: "", None, question)
        for key, button in zip(VOTE_LABELS, vote_buttons):
            button.click(vote(key), [state], [*outputs, tally])
        new_button.click(new_conversation, [state], outputs)
        blind_box.change(toggle_blind, [blind_box, state], outputs)
        show_prompts.change(lambda on: [gr.update(visible=on)] * 2, [show_prompts],
                            [columns[3], columns[8]])
    return app
