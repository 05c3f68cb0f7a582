#!/usr/bin/env python3
"""Fails when a source file awaits where GCC 12 miscompiles coroutines.

GCC 12 (Debian 12's compiler) lays out a coroutine frame wrongly for a `co_await` in the
condition of an `if` whose body is a bare `co_return` (GCC PR 106188: the coroutine later resumes
at an invalid index, SIGILL or a crash), and destroys a temporary twice for a `co_await` inside
`?:` or on the right of `&&` / `||`. The code awaits into a local first; this check keeps it so,
since the miscompiled shapes compile without a warning and may only fail under load.
Usage: check_coroutines.py <repo root>
"""
import pathlib
import re
import sys

PATTERNS = [
    (re.compile(r"\bif\s*\(\s*!?\s*co_await\b"), "co_await in an if condition"),
    (re.compile(r"\?\s*co_await\b|:\s*co_await\b(?!.*;\s*//)"), "co_await inside ?:"),
    (re.compile(r"(&&|\|\|)\s*!?\s*co_await\b"), "co_await on the right of && or ||"),
]


def main(root):
    problems = []
    for path in sorted((pathlib.Path(root) / "src").rglob("*")):
        if path.suffix not in (".cpp", ".h"):
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            code = line.split("//", 1)[0]
            for pattern, what in PATTERNS:
                if pattern.search(code):
                    problems.append(f"{path.relative_to(root)}:{number}: {what}: await into a local first")
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
