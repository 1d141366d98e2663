"""Did it help? Generate answers with base model and adapter (``generate``), score them
as LawBench publishes (``lawbench``), as DISC-Law-Eval publishes (``disc_law_eval``) and by
cited articles (``citations``), ``report``.
Imports ``sources``, ``data`` (reading records, atomic files) and ``law`` (``rag``: the statute
index); never ``train``."""
