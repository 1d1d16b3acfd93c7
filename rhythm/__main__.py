"""``python -m rhythm`` is the ``rhythm`` command."""

from rhythm.cli import main

main(prog_name="rhythm")  # (not "python -m rhythm" in messages)
