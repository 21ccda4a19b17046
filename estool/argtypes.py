"""Command-line counts, validated in one place, and a parser whose errors are one line.

``positive_int`` and ``non_negative_int`` are argparse ``type=`` functions for every count of the
trainer and of the world-models stages (episodes, steps, epochs, workers, batch sizes ...), so a
zero or negative count is refused at parse time, naming the flag, instead of running a job that
does nothing or fails later. :class:`OneLineParser` prints such an error as a single line.
"""

from __future__ import annotations

import argparse
from typing import NoReturn


def _whole_number(text: str, minimum: int) -> int:
    """``text`` as an int >= ``minimum``; ArgumentTypeError (argparse names the flag) otherwise."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {text!r}") \
            from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse type of a count that must be at least 1 (episodes, steps, workers, ...)."""
    return _whole_number(text, 1)


def non_negative_int(text: str) -> int:
    """argparse type of a count where 0 means "none" or "no limit" (e.g. --max_generations 0)."""
    return _whole_number(text, 0)


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (exit status 2), without the usage."""

    def error(self, message: str) -> NoReturn:
        """Print ``PROG: error: MESSAGE (see --help)`` and exit with status 2."""
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")
