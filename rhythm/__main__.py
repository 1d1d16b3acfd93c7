"""``python -m rhythm`` is the ``rhythm`` command."""

from rhythm.cli import main

main()
