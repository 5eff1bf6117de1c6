#!/usr/bin/env python3
"""Fails when the engine's source files import each other in a circle.

Usage: scripts/check_imports.py [SRC_DIR]   (default: engine/src next to this script)

Each .rs file is one node (strict: a folder's mod.rs and its files are separate
nodes). An edge A -> B is any path in A that names B's module:
  - `use crate::x::y`, `crate::x::y(...)` and `super::...` paths (also inside `use`
    groups such as `use crate::{a::X, b::Y}`), resolved to the deepest module that
    has a file (`crate::gateway::handle::Gateway` -> gateway/handle.rs);
  - in a file that declares `mod child;`, any `child::...` path or `use child::...`.
`super` inside an inline `mod tests { ... }` means the file itself; edges from a
file to itself are ignored. Prints the graph's cycles (if any) and exits 1 on a cycle.
"""

import os
import re
import sys


def module_of(root, path):
    """engine/src/gateway/handle.rs -> ('gateway', 'handle'); lib.rs -> ()."""
    rel = os.path.relpath(path, root)[: -len(".rs")].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return tuple(rel)


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    # string literals may hold anything (Python source, messages)
    text = re.sub(r'r(#*)"(.*?)"\1', '""', text, flags=re.S)
    text = re.sub(r'"(\\.|[^"\\])*"', '""', text, flags=re.S)
    return text


def expand_use_tree(tree):
    """'crate::{a::X, b::{Y, Z}}' -> ['crate::a::X', 'crate::b::Y', 'crate::b::Z']."""
    tree = re.sub(r"\s+", "", tree)
    m = re.match(r"^(.*?)\{(.*)\}$", tree)
    if not m:
        return [tree]
    prefix, inner = m.group(1), m.group(2)
    parts, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    if cur:
        parts.append(cur)
    out = []
    for p in parts:
        for sub in expand_use_tree(p):
            out.append(prefix + sub)
    return out


def resolve(segments, modules):
    """The deepest existing module named by a path's leading segments."""
    for n in range(len(segments), 0, -1):
        if tuple(segments[:n]) in modules:
            return tuple(segments[:n])
    return None


def edges_of(path, me, text, modules):
    text = strip_comments(text)
    children = set(re.findall(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", text, re.M))
    # where inline modules (e.g. `mod tests {`) begin: `super` there is this file
    inline_at = [m.start() for m in re.finditer(r"\bmod\s+\w+\s*\{", text)]
    paths = []  # (offset, path text)
    for m in re.finditer(r"\buse\s+([^;]+);", text):
        for p in expand_use_tree(m.group(1)):
            paths.append((m.start(), p))
    for m in re.finditer(r"(?<![\w:])((?:crate|super|self|\w+)(?:::\w+)+)", text):
        paths.append((m.start(), m.group(1)))
    found = set()
    for at, p in paths:
        p = re.sub(r"\s+as\s+\w+$", "", p)
        segs = [s for s in p.split("::") if s]
        if not segs:
            continue
        base = list(me)
        if segs[0] == "crate":
            segs = segs[1:]
            base = []
        elif segs[0] in ("super", "self"):
            depth_inline = sum(1 for i in inline_at if i < at)
            # in mod.rs / a file, `self` is the file's module; `super` its parent
            ups = 0
            while segs and segs[0] in ("super", "self"):
                ups += segs[0] == "super"
                segs = segs[1:]
            if depth_inline and ups:
                ups -= 1  # super from inside `mod tests {}` is this file
            base = base[: len(base) - ups] if ups <= len(base) else []
        elif segs[0] in children:
            pass  # a child module of this file
        else:
            continue  # std::, tokio::, a local name
        target = resolve(base + segs, modules)
        if target is not None and target != me:
            found.add(target)
    return found


def find_cycles(graph):
    """Strongly connected components with more than one node (Tarjan)."""
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

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "engine", "src")
    root = os.path.abspath(root)
    files = {}
    for d, _, names in os.walk(root):
        for n in names:
            if n.endswith(".rs"):
                p = os.path.join(d, n)
                files[module_of(root, p)] = p
    modules = set(files)
    name = lambda m: os.path.relpath(files[m], root)
    graph = {}
    for m, p in files.items():
        with open(p, encoding="utf-8") as f:
            graph[m] = edges_of(p, m, f.read(), modules)
    n_edges = sum(len(e) for e in graph.values())
    cycles = find_cycles(graph)
    if not cycles:
        print(f"no import cycle among {len(files)} files of {root} ({n_edges} edges)")
        return 0
    for comp in cycles:
        members = set(comp)
        print("import cycle: " + ", ".join(name(m) for m in comp))
        for m in comp:
            for t in sorted(graph[m] & members):
                print(f"    {name(m)} -> {name(t)}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
