"""``python -m legal_eagle_xtuner.cli``: the same as the ``legal-eagle`` command."""

import sys

from legal_eagle_xtuner.cli import main

if __name__ == "__main__":
    sys.exit(main())
