"""A hook for the DeepSpeed resume test (tests only): before iteration ``at`` + 1
starts -- after iteration ``at``'s checkpoint is written -- every rank marks that it
got there (its file holds the pid: torchrun starts each worker in a session of its
own) and waits to be killed, so the kill lands at a known point."""

import os
import time
from pathlib import Path

from mmengine.hooks import Hook


class HoldForKill(Hook):
    priority = "LOWEST"

    def __init__(self, at: int):
        self.at = at

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter == self.at:
            Path(runner.work_dir, f"held.rank{runner.rank}").write_text(str(os.getpid()))
            time.sleep(3600)
