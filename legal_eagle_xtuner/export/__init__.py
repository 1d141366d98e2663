"""From a trained adapter to something an engine serves: ``chat_template`` (the
training prompt as a Jinja chat template and the stop tokens) and ``merge`` (base +
adapter -> one safetensors model carrying that template, on CPU).
Imports ``map_fns`` (the legal system prompt); never ``train``, ``eval``, ``demo``
or ``cli``."""
