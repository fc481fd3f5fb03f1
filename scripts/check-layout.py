#!/usr/bin/python3
"""Check the tree against the layout docs/HACKING.md states.

The layout block of docs/HACKING.md (under "## Layout and dependencies") has
one entry per part of src/: `src/NAME/  what it holds  (its dependencies)`,
continued on indented lines; the last parenthesised group of an entry lists
the parts it may use ("nothing" for none). This script fails when:
  - a part of src/ has no entry, or an entry names no existing part, or an
    entry's dependencies name an unknown part or go round in a circle;
  - a file of one part includes a header of a part it may not use
    (`#include "PART/..."`; "config.h", made by meson, is allowed anywhere);
  - headers include each other in a circle (a.h includes b.h, ... and back);
  - functions call each other round a circle of files: x.c calls a function
    defined in y.c, ... and back (the cycles headers hide when one header
    declares what several files offer), unless the block's "Call cycles still
    allowed" line lists every file of that cycle.

Usage: check-layout.py [--root DIR]. Prints one line per problem and a summary;
exit status 1 on any problem.
"""
import argparse
import os
import re
import sys

SRC_EXTS = (".c", ".h")
ANYWHERE = {"config.h"}


def read_layout(hacking):
    """The layout entries ({part: set of parts it may use}) and the allowed
    call cycles (a list of sets of files) from HACKING.md's layout section."""
    text = open(hacking, encoding="utf-8").read()
    sec = re.search(r"^## Layout and dependencies\n(.*?)(?=^## )", text, re.S | re.M)
    if not sec:
        raise SystemExit(f"{hacking}: no '## Layout and dependencies' section")
    block = re.search(r"^```\n(.*?)^```", sec.group(1), re.S | re.M)
    if not block:
        raise SystemExit(f"{hacking}: no layout block in 'Layout and dependencies'")
    entries, cur = {}, None
    for line in block.group(1).split("\n"):
        m = re.match(r"^src/([\w-]+)/\s", line + " ")
        if m:
            cur = m.group(1)
            entries[cur] = line
        elif cur and line.startswith((" ", "\t")):
            entries[cur] += " " + line.strip()
        else:
            cur = None
    deps = {}
    for part, entry in entries.items():
        groups = re.findall(r"\(([^()]*)\)", entry)
        if not groups:
            raise SystemExit(f"{hacking}: src/{part}/ states no dependencies "
                             "(a last '(...)' group)")
        words = [w.strip() for w in groups[-1].split(",")]
        deps[part] = set() if words == ["depends on nothing"] or words == ["nothing"] \
            else set(words)
    allowed = []
    for m in re.finditer(r"^Call cycles still allowed[^:]*:(.*?)(?:\n\n|\Z)", sec.group(1),
                         re.S | re.M):
        for cyc in m.group(1).split(";"):
            files = set(re.findall(r"src/[\w/.-]+\.c", cyc))
            if files:
                allowed.append(files)
    return deps, allowed


def strip_c(text):
    """C text without comments and with string and char literals emptied."""
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r'"(\\.|[^"\\\n])*"', '""', text)
    return re.sub(r"'(\\.|[^'\\\n])*'", "''", text)


def find_cycles(graph):
    """Every cycle the depth-first search meets (one per back edge), as lists."""
    cycles, color, stack = [], {}, []

    def visit(u):
        color[u] = 1
        stack.append(u)
        for v in sorted(graph.get(u, ())):
            if color.get(v) == 1:
                cycles.append(stack[stack.index(v):] + [v])
            elif not color.get(v):
                visit(v)
        stack.pop()
        color[u] = 2

    sys.setrecursionlimit(10000)
    for u in sorted(graph):
        if not color.get(u):
            visit(u)
    return cycles


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    a = ap.parse_args()
    root = a.root
    deps, allowed = read_layout(os.path.join(root, "docs", "HACKING.md"))
    problems = []
    srcdir = os.path.join(root, "src")
    parts = sorted(d for d in os.listdir(srcdir) if os.path.isdir(os.path.join(srcdir, d)))

    for p in parts:
        if p not in deps:
            problems.append(f"src/{p}/: not in docs/HACKING.md's layout")
    for p, ds in sorted(deps.items()):
        if p not in parts:
            problems.append(f"docs/HACKING.md: src/{p}/ does not exist")
        for d in sorted(ds - set(parts)):
            problems.append(f"docs/HACKING.md: src/{p}/ depends on unknown part '{d}'")
    for cyc in find_cycles({p: ds & set(parts) for p, ds in deps.items()}):
        problems.append("docs/HACKING.md: dependencies go round: " + " -> ".join(cyc))

    files = []
    for p in parts:
        for base, _, names in os.walk(os.path.join(srcdir, p)):
            files += [os.path.join(base, n) for n in sorted(names) if n.endswith(SRC_EXTS)]
    rel = {f: os.path.relpath(f, srcdir) for f in files}
    texts = {f: strip_c(open(f, encoding="utf-8").read()) for f in files}

    # includes across parts, and the graph of headers including headers
    known = set(rel.values())
    incgraph = {}
    for f in files:
        part = rel[f].split("/")[0]
        for n, line in enumerate(open(f, encoding="utf-8"), 1):
            m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
            if not m:
                continue
            inc = m.group(1)
            where = f"src/{rel[f]}:{n}"
            if inc in ANYWHERE:
                continue
            if "/" not in inc:
                problems.append(f"{where}: #include \"{inc}\": name the part (\"{part}/{inc}\")")
                continue
            ipart = inc.split("/")[0]
            if inc not in known:
                problems.append(f"{where}: #include \"{inc}\": no such file under src/")
                continue
            if ipart != part and ipart not in deps.get(part, set()):
                problems.append(f"{where}: #include \"{inc}\": src/{part}/ may not use "
                                f"src/{ipart}/ (docs/HACKING.md)")
            if f.endswith(".h"):
                incgraph.setdefault(rel[f], set()).add(inc)
    for cyc in find_cycles(incgraph):
        problems.append("include cycle: " + " -> ".join(cyc))

    # call cycles between .c files: who calls a function defined (not static) where
    defined = {}
    statics = {}
    cfiles = [f for f in files if f.endswith(".c")]
    defn = re.compile(r"^(static\s+)?(?:[A-Za-z_][\w \t\*]*?[\s\*])?(\w+)\(([^;{]*?)\)\s*\{",
                      re.M | re.S)
    for f in cfiles:
        statics[f] = set()
        for m in defn.finditer(texts[f]):
            name = m.group(2)
            if name in ("if", "for", "while", "switch", "return", "sizeof"):
                continue
            if m.group(1):
                statics[f].add(name)
            elif name != "main":
                defined.setdefault(name, set()).add(f)
    calls = {}
    for f in cfiles:
        for m in re.finditer(r"(?<![\w.>])(\w+)\s*\(", texts[f]):
            name = m.group(1)
            if name in statics[f]:
                continue
            for g in defined.get(name, ()):
                if g != f:
                    calls.setdefault(rel[f], set()).add(rel[g])
    used_allow = set()
    for cyc in find_cycles(calls):
        members = {"src/" + c for c in cyc}
        hit = [i for i, al in enumerate(allowed) if members <= al]
        if hit:
            used_allow.update(hit)
            continue
        problems.append("call cycle: " + " -> ".join("src/" + c for c in cyc))
    for i, al in enumerate(allowed):
        if i not in used_allow:
            problems.append("docs/HACKING.md: allowed call cycle " + " ".join(sorted(al)) +
                            " is gone: drop it from the list")

    for p in problems:
        print(p)
    print(f"check-layout: {len(parts)} parts, {len(files)} files, "
          f"{len(problems)} problem{'s' if len(problems) != 1 else ''}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
