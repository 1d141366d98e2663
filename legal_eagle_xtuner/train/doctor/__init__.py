"""``legal-eagle doctor CONFIG``: every known trap of a training run, found before the
GPUs are rented. ``environment`` (stack, GPU, bitsandbytes, attention, launch),
``inputs`` (model, data, work dir), ``plan`` (iterations per epoch, warmup, save and
eval intervals), ``memory`` (peak GPU memory per device), ``report`` (the table).
Imports ``data``, ``sources`` and ``train``; no model weights are loaded."""
