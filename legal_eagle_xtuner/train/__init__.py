"""From converted records to a trained adapter inside ``xtuner train``: the dataset
builder (``dataset``), ``tokenize``, ``packing``, and the runner parts configs name
(``validation``, ``resume``, ``precision``), plus ``smoke`` configs and ``plot``.
Imports ``sources``, ``data`` and ``compat``; never ``eval``, ``demo`` or ``cli``."""
