"""The ``synthcheck`` command. The library never prints; these modules render.

Each sub-module defines ``register(app)`` adding its sub-commands. Errors the user can act on
(:class:`~synthcheck.errors.SynthcheckError`) become one line on stderr and exit status 2.
"""

from __future__ import annotations

import importlib
import logging
import sys

import typer

from synthcheck.errors import SynthcheckError, one_line

#: Sub-command modules, in help order.
COMMAND_MODULES = (
    "speech", "guard", "attack", "experiment", "images", "evaluate", "calibration", "robustness", "theory",
)

app = typer.Typer(
    name="synthcheck",
    help="Detect attacks on classifiers by re-synthesising their answer and checking it against the input.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress details to stderr.")) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


for _module in COMMAND_MODULES:
    try:
        importlib.import_module(f"synthcheck.cli.{_module}").register(app)
    except ModuleNotFoundError as _exc:  # a sub-command module not written yet
        if _exc.name != f"synthcheck.cli.{_module}":
            raise


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning actionable errors into one line and exit status 2."""
    try:
        app(args=argv, standalone_mode=False)
    except SynthcheckError as exc:
        print(f"synthcheck: error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        print("synthcheck: aborted", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("synthcheck: interrupted; finished work is kept, rerun the same command to resume", file=sys.stderr)
        return 130
    except typer.TyperException as exc:  # usage errors (typer vendors its own click exceptions)
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        print(f"synthcheck: error: {one_line(message)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
