#!/usr/bin/env python3
"""Fails when a source folder includes a header of a layer above it.

The layer order is declared once, in src/CMakeLists.txt: each gatehouse_module(<target> <folder>
<deps...>) may include the folders of the gh_* targets it links, directly or through them, and
nothing else. A file belongs to the module whose folder is the longest prefix of its own (so
pluginserver/msgpack is not pluginserver). src/app (the executable) may include anything.
Usage: check_layers.py <repo root>
"""
import pathlib
import re
import sys

MODULE = re.compile(r"^\s*gatehouse_(?:module|plugin_module)\((\S+)\s+(\S+)([^)]*)\)", re.M)
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def modules(cmake_text):
    folder_of, deps_of = {}, {}
    for target, folder, rest in MODULE.findall(cmake_text):
        folder_of[target] = folder
        deps_of[target] = [d for d in rest.split() if d.startswith("gh_")]
    return folder_of, deps_of


def closure(target, deps_of, seen=None):
    seen = set() if seen is None else seen
    for dep in deps_of.get(target, []):
        if dep not in seen:
            seen.add(dep)
            closure(dep, deps_of, seen)
    return seen


def owner(path, folders):
    """The module folder a source path (relative to src/) belongs to, or None."""
    best = None
    for folder in folders:
        if (path == folder or path.startswith(folder + "/")) and (best is None or len(folder) > len(best)):
            best = folder
    return best


def main(root):
    src = root / "src"
    folder_of, deps_of = modules((src / "CMakeLists.txt").read_text())
    target_of = {folder: target for target, folder in folder_of.items()}
    allowed = {folder: {folder} | {folder_of[d] for d in closure(target, deps_of) if d in folder_of}
               for target, folder in folder_of.items()}
    problems = []
    for file in sorted(src.rglob("*")):
        if file.suffix not in (".h", ".cpp"):
            continue
        rel = file.relative_to(src).as_posix()
        mine = owner(rel.rsplit("/", 1)[0], folder_of.values())
        if mine is None:
            continue  # app/: the executable sees every layer
        for header in INCLUDE.findall(file.read_text(errors="replace")):
            theirs = owner(header.rsplit("/", 1)[0], folder_of.values()) if "/" in header else None
            if theirs is None or theirs in allowed[mine]:
                continue
            problems.append(f"src/{rel}: includes \"{header}\" ({target_of[theirs]}), "
                            f"but {target_of[mine]} does not link it")
    for line in problems:
        print(line)
    if problems:
        print(f"{len(problems)} include(s) against the layering of src/CMakeLists.txt")
        return 1
    print(f"layering ok: {len(folder_of)} modules")
    return 0


if __name__ == "__main__":
    sys.exit(main(pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")))
