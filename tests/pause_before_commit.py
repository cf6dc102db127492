"""Run livecat, pausing every load just before it commits (so a test can kill it there).

Usage: ``python tests/pause_before_commit.py SECONDS cli ARGS...`` runs ``livecat ARGS``;
``python tests/pause_before_commit.py SECONDS code PYTHON_CODE ARGS...`` runs the code with
``sys.argv[1:] = ARGS``. Once a load has done all its work and checked its counts, this
prints ``helpers.PAUSE_MARKER`` on stderr and sleeps SECONDS before the load commits. The hook is
installed here, in the test tree: production code has none.
"""

from __future__ import annotations

import sys
import time

from helpers import PAUSE_MARKER  # the script's own folder, tests/, is on sys.path


def main() -> None:
    seconds, mode, *rest = sys.argv[1:]
    from ingest import load

    checked = load.check_invariants

    def check_then_pause(*args, **kwargs):
        checked(*args, **kwargs)
        print(PAUSE_MARKER, file=sys.stderr, flush=True)
        time.sleep(float(seconds))

    load.check_invariants = check_then_pause
    if mode == "cli":
        sys.argv = ["livecat", *rest]
        from catalog.cli import main as livecat

        livecat()
    else:
        code, *args = rest
        sys.argv = ["-c", *args]
        exec(compile(code, "<test code>", "exec"), {"__name__": "__main__"})


if __name__ == "__main__":
    main()
