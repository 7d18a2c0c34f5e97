"""``python -m dropgan.batch ARGS`` is ``dropgan batch ARGS``: the same command, errors and
exit statuses (0 all done, 1 a job failed, 2 a bad invocation, 130 interrupted)."""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence

from ..errors import DropganError
from .command import add_batch_command


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` as the arguments of ``dropgan batch`` and run it."""
    from ..cli import _one_line_warnings, _Parser, _terminate

    signal.signal(signal.SIGTERM, _terminate)
    parser = _Parser(prog="dropgan")
    add_batch_command(parser.add_subparsers(parser_class=_Parser))
    args = parser.parse_args(["batch", *(sys.argv[1:] if argv is None else argv)])
    import warnings

    warnings.showwarning = _one_line_warnings
    try:
        return args.run(args)
    except DropganError as e:
        print(f"dropgan: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dropgan: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
