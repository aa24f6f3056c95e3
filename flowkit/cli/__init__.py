"""The ``flowkit`` command: one console script with a subcommand per module (see ``main.py``)."""

__all__: list[str] = []
