"""One page's Python interpreter: runs ``python`` and ``pycon`` blocks sent on stdin, in one namespace.

Protocol: one JSON object per stdin line (``{"kind", "code", "name", "line"}``); each answer is one
line ``RESULT_MARK + JSON`` (``{"ok", "output"}``) on the real stdout. Anything else on stdout (a
child process writing to the inherited descriptor) is not an answer and is passed through.
"""

from __future__ import annotations

import contextlib
import doctest
import io
import json
import sys
import traceback

RESULT_MARK = "\x1edocs-result "
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def run_python(code: str, name: str, line: int, namespace: dict) -> tuple[bool, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            # blank lines first, so a traceback names the block's line in the page
            exec(compile("\n" * (line) + code, name, "exec"), namespace)
        except BaseException:  # the example's failure is the answer, not the runner's
            traceback.print_exc(file=out)
            return False, out.getvalue()
    return True, out.getvalue()


def run_pycon(code: str, name: str, line: int, namespace: dict) -> tuple[bool, str]:
    test = doctest.DocTestParser().get_doctest(code, namespace, name, name, line)
    report = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    with contextlib.redirect_stderr(report):
        result = runner.run(test, out=report.write, clear_globs=False)
    namespace.update(test.globs)  # DocTest runs in a copy; later blocks see what this one defined
    return result.failed == 0, report.getvalue()


def main() -> None:
    namespace: dict = {"__name__": "__main__"}
    real_stdout = sys.stdout
    for request_line in sys.stdin:
        request = json.loads(request_line)
        run = run_pycon if request["kind"] == "pycon" else run_python
        ok, output = run(request["code"], request["name"], request["line"], namespace)
        real_stdout.write(RESULT_MARK + json.dumps({"ok": ok, "output": output}) + "\n")
        real_stdout.flush()


if __name__ == "__main__":
    main()
