"""Command-line counts, validated in one place, and a parser whose errors are one line.

``positive_int`` and ``non_negative_int`` are argparse ``type=`` functions for every count of the
trainer and of the world-models stages (episodes, steps, epochs, workers, batch sizes ...), so a
zero or negative count is refused at parse time, naming the flag, instead of running a job that
does nothing or fails later. :class:`OneLineParser` prints such an error as a single line.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
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
    """argparse type of a count where 0 means "none" or "no limit" (e.g. --max-generations 0)."""
    return _whole_number(text, 0)


def non_negative_float(text: str) -> float:
    """argparse type of a finite amount where 0 means "no limit" (e.g. --max-seconds 0)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (exit status 2), without the usage.

    Flags are spelled with hyphens (``--max-generations``); the older underscore spelling of any
    flag (``--max_generations``, the reference's spelling) is accepted too, and an on/off switch
    written the reference's way with a number (``--common_seeds 1``, ``--antithetic 0``) means on
    or off.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.numeric_switches: set[str] = set()  # switches the reference gave a 0 or 1
        # Checks of the parsed arguments as a whole (each calls self.error on a bad value); they
        # run before CHECK_ARGS_ONLY stops the program.
        self.checks: list[Callable[[argparse.Namespace], None]] = []

    def error(self, message: str) -> NoReturn:
        """Print ``PROG: error: MESSAGE (see --help)`` and exit with status 2."""
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")

    def parse_args(self, args: Sequence[str] | None = None,
                   namespace: argparse.Namespace | None = None) -> argparse.Namespace:
        """As argparse's, then the parser's `checks`; with the environment variable
        ``CHECK_ARGS_ONLY=1``, a command line that passes ends the program here with status 0 (and
        one line), so batch scripts and the documentation's commands can be checked without
        running them."""
        parsed = super().parse_args(args, namespace)
        for check in self.checks:
            check(parsed)
        if os.environ.get("CHECK_ARGS_ONLY") == "1":
            print(f"{self.prog}: arguments ok", flush=True)
            raise SystemExit(0)
        return parsed

    def parse_known_args(self, args: Sequence[str] | None = None,
                         namespace: argparse.Namespace | None = None
                         ) -> tuple[argparse.Namespace, list[str]]:
        """As argparse's, after :meth:`modern_spelling` of the arguments."""
        argv = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(self.modern_spelling(argv), namespace)

    def modern_spelling(self, argv: list[str]) -> list[str]:
        """`argv` with each older underscore flag replaced by its hyphenated spelling, and a
        switch's older ``0``/``1`` value turned into the switch (or its ``--no-`` form)."""
        out: list[str] = []
        i = 0
        while i < len(argv):
            token = argv[i]
            i += 1
            name, eq, value = token.partition("=")
            modern = name.replace("_", "-")
            known = self._option_string_actions
            if not name.startswith("--") or modern not in known or \
                    (name == modern and modern not in self.numeric_switches):
                out.append(token)  # not a flag, or already spelled as today
                continue
            action = known[modern]
            if action.nargs != 0:  # a flag that takes a value
                out.append(modern + eq + value)
                continue
            if not eq and i < len(argv) and argv[i] in ("0", "1") and modern in self.numeric_switches:
                value = argv[i]
                i += 1
            out.extend(_switch(self, modern, action, value))
        return out


def _switch(parser: argparse.ArgumentParser, flag: str, action: argparse.Action,
            value: str) -> list[str]:
    """The arguments that set the switch `flag` as an older numeric `value` ("1", "0" or "")
    asked."""
    if value in ("", "1"):
        return [flag]
    if value != "0":
        parser.error(f"{flag}: expected 0 or 1, got {value!r}")
    off = "--no-" + flag[2:]
    if off in parser._option_string_actions:
        return [off]
    return [] if action.default is False else parser.error(f"{flag} cannot be switched off")
