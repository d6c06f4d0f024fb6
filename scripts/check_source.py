#!/usr/bin/env python3
"""Checks of the source layout that issue 16 promises and review forgets:

  1. no include cycle between the modules of the core (a module is a file
     name without its extension: foo.h, foo.cpp and foo.cu are one module);
  2. no file of the core (tensor, autograd, model, data, reward, grpo) is over
     600 lines;
  3. every repository path a source comment names (`dir/file.ext`) exists.

Usage: scripts/check_source.py [--root DIR]. Prints each problem and exits 1
if there is any; prints one line and exits 0 otherwise.
"""
import argparse
import os
import re
import sys

CORE = ["tensor", "autograd", "model", "data", "reward", "grpo"]
SOURCE_DIRS = CORE + ["cli", "tests", "bench"]
EXTS = (".h", ".cpp", ".cu", ".cuh")
MAX_LINES = 600
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
# A path as comments write them: a known top folder, then name/ parts, then a file with an extension.
TOP = "|".join(SOURCE_DIRS + ["docs", "scripts", "notebooks", "results", "cli"])
PATH = re.compile(r"\b((?:%s)/[A-Za-z0-9_./-]*[A-Za-z0-9_]\.(?:h|cpp|cu|cuh|py|sh|md|ipynb|cells|json|tsv))\b" % TOP)


def sources(root, dirs):
    for d in dirs:
        for base, _, files in os.walk(os.path.join(root, d)):
            for f in sorted(files):
                if f.endswith(EXTS):
                    yield os.path.relpath(os.path.join(base, f), root)


def module(path):
    return os.path.splitext(path)[0]


def find_cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    root = os.path.abspath(ap.parse_args().root)
    problems = []

    graph = {}
    for path in sources(root, CORE):
        text = open(os.path.join(root, path), encoding="utf-8").read()
        for inc in INCLUDE.findall(text):
            if inc.split("/")[0] in CORE and module(inc) != module(path):
                graph.setdefault(module(path), set()).add(module(inc))
        lines = text.count("\n")
        if lines > MAX_LINES:
            problems.append(f"{path}: {lines} lines, over {MAX_LINES}")
    for comp in find_cycles(graph):
        problems.append("include cycle between modules: " + " <-> ".join(comp))

    for path in sources(root, SOURCE_DIRS):
        for n, line in enumerate(open(os.path.join(root, path), encoding="utf-8"), 1):
            if "//" not in line and not line.lstrip().startswith("*"):
                continue
            for ref in PATH.findall(line[line.find("//"):] if "//" in line else line):
                if not os.path.exists(os.path.join(root, ref)):
                    problems.append(f"{path}:{n}: the comment names {ref}, which is not in the repository")

    for p in problems:
        print(p)
    if problems:
        print(f"check_source: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print("check_source: no include cycles, no core file over %d lines, every path in a comment exists" % MAX_LINES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
