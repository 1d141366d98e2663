"""``legal-eagle web``: the base model and the fine-tune answering the same question side
by side in the browser, blind votes and their tally. ``models`` (the two sides: an
OpenAI-compatible server or a local model + adapter), ``session`` (one tab: histories,
blind order, streaming both answers, the vote), ``votes`` (the append-only vote file),
``app`` (the Gradio page), ``rag`` (``--rag``: retrieved articles into both prompts,
cited articles checked), ``launch`` (load both sides and serve the page).
Imports ``eval`` (the local generator), ``export`` (the training prompt), ``law`` (the
statute index), ``data`` (JSON lines) and ``sources``; Gradio and torch only when the
command runs."""
