"""``legal-eagle web``: the base model and the fine-tune answering the same question side
by side in the browser, blind votes and their tally. ``models`` (the two sides: an
OpenAI-compatible server or a local model + adapter), ``session`` (one tab: histories,
blind order, streaming both answers, the vote), ``votes`` (the append-only vote file),
``app`` (the Gradio page), ``launch`` (load both sides and serve the page).
Imports ``eval`` (the local generator), ``export`` (the training prompt), ``data``
(JSON lines) and ``sources`` (the legal system prompt); Gradio and torch only when
the command runs."""
