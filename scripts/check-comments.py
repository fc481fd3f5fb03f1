#!/usr/bin/python3
"""Check that every non-static function and every struct member has a comment.

STYLE.md practice 7 and docs/HACKING.md: a short comment on every non-static
function (before its definition, or before its prototype in a header) and on
every member of a struct defined at file scope (passt's `struct ctx` is the
model: an `@member:` line in the kernel-doc block above the struct, or a
comment on the member's line or the line above it).

The tree is formatted by clang-format (.clang-format), which is what makes a
line-based reading reliable here: a definition starts in column 0 and its `{`
stands alone in column 0; a struct definition starts with `struct NAME {` in
column 0 and ends with `};` in column 0.

PARTS lists the parts held to this (tests/run-all.py runs it over them); a
part joins once it passes: `scripts/check-comments.py --list src/PART` says
what it lacks.

Usage: check-comments.py [--all] [--list] DIR...   (default: the parts in PARTS)
  --all   count static functions too (reported, never a failure)
  --list  print each function or member without a comment
Exit status 1 when a non-static function or a struct member lacks a comment.
"""
import argparse
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARTS = ["src/lib", "src/virt", "src/boot", "src/guest", "src/control", "src/image"]

FUNC_START = re.compile(r"^(?!typedef\b)(?:[A-Za-z_][\w \t\*]*?[\s\*])?(\w+)\(")
KEYWORDS = {"if", "for", "while", "switch", "return", "sizeof", "do"}


def comment_ends_at(lines, i):
    """Whether line i-1 (skipping attribute-only lines) ends a comment: True,
    "see" for a "name() - see x.h" pointer (it counts where x.h has one), or False."""
    j = i - 1
    while j >= 0 and lines[j].strip().startswith("__attribute__"):
        j -= 1
    if j < 0 or not lines[j].rstrip().endswith("*/"):
        return False
    return "see" if re.match(r"^/\* \w+\(\) - see [\w/.]+\.h\b[^*]*\*/$", lines[j]) else True


def strip_attribute(line):
    """@line without a leading __attribute__((...)) (parentheses balanced)."""
    if not line.startswith("__attribute__"):
        return line
    depth, i = 0, len("__attribute__")
    while i < len(line):
        depth += {"(": 1, ")": -1}.get(line[i], 0)
        i += 1
        if depth == 0 and line[i - 1] == ")":
            return line[i:].lstrip()
    return line


def functions(path, lines):
    """Yield (name, line index, is_static, has_comment, is_definition)."""
    i = 0
    while i < len(lines):
        line = strip_attribute(lines[i])
        m = FUNC_START.match(line)
        if not m or m.group(1) in KEYWORDS or line.startswith((" ", "\t", "#", "}")):
            i += 1
            continue
        # the whole signature: up to a line ending in ';' (prototype) or a '{' line
        j = i
        while j < len(lines) and not lines[j].rstrip().endswith((";", "{", ")")):
            j += 1
        sig_end = j
        if sig_end < len(lines) and lines[sig_end].rstrip().endswith(";"):
            defn = False
        elif sig_end + 1 < len(lines) and re.match(r"^\s+__attribute__.*;$", lines[sig_end + 1]):
            defn = False  # a prototype with its attributes on the next line
            sig_end += 1
        elif sig_end + 1 < len(lines) and lines[sig_end + 1].rstrip() == "{":
            defn = True
        elif lines[sig_end].rstrip().endswith("{") and "=" not in line:
            defn = True  # "int f(void) {": not our style, still a definition
        else:
            i += 1
            continue
        if "=" in line.split("(")[0]:
            i += 1
            continue
        static = bool(re.match(r"^(static|__attribute__\S*\s+static)\b", line)) or \
            line.startswith("static ")
        yield m.group(1), i, static, comment_ends_at(lines, i), defn
        i = sig_end + 1


def comment_above(lines, j):
    """Whether line j-1 is a comment of its own (not a member's trailing one)."""
    above = lines[j - 1].strip()
    return above.endswith("*/") and above.startswith(("/*", "*"))


def struct_members(lines):
    """Yield (struct, member, line index, has_comment) for file-scope structs."""
    i = 0
    while i < len(lines):
        m = re.match(r"^(?:typedef\s+)?struct\s+(\w+)\s*\{\s*$", lines[i])
        if not m:
            i += 1
            continue
        name = m.group(1)
        # the kernel-doc block above: @a, @b: ... names documented members
        doc = set()
        k = i - 1
        if k >= 0 and lines[k].rstrip().endswith("*/"):
            while k >= 0 and "/*" not in lines[k]:
                k -= 1
            for d in lines[k:i]:
                dm = re.match(r"^\s*\*?\s*((?:@\w+(?:\[\w*\])?\s*,\s*)*@\w+)\s*:", d.lstrip("/*"))
                if dm:
                    doc.update(re.findall(r"@(\w+)", dm.group(1)))
        depth = 1
        j = i + 1
        while j < len(lines) and not (depth == 1 and re.match(r"^\};?|^\}\s*\w*;", lines[j])):
            text = re.sub(r"/\*.*?\*/", "", lines[j])
            stripped = text.strip()
            first = j
            # a declaration over several lines (a function pointer's parameters)
            while stripped.count("(") > stripped.count(")") and j + 1 < len(lines):
                j += 1
                stripped += " " + re.sub(r"/\*.*?\*/", "", lines[j]).strip()
            j_line, j = j, first
            if depth == 1 and stripped.endswith(";") and not stripped.startswith("}"):
                names = member_names(stripped)
                commented = "/*" in lines[j] or comment_above(lines, j)
                for n in names:
                    yield name, n, j, commented or n in doc
            elif depth == 2 and stripped.startswith("}") and stripped.endswith(";"):
                # "} name;" closing a nested struct or union member
                n = stripped.strip("}; ").split("[")[0].strip()
                if n:
                    commented = "/*" in lines[j] or comment_above(lines, j)
                    yield name, n, j, commented or n in doc or opened_commented
            if stripped.endswith("{") and depth == 1:
                opened_commented = "/*" in lines[j] or comment_above(lines, j)
            depth += stripped.count("{") - stripped.count("}")
            j = j_line + 1
        i = j + 1


def member_names(decl):
    """The names a member declaration declares: "int a, *b, c[4];" -> a, b, c."""
    decl = decl.rstrip(";").strip()
    decl = re.sub(r"__attribute__\s*\(\(.*?\)\)", "", decl)
    if "(" in decl:  # a function pointer: int (*cb)(void *)
        m = re.search(r"\(\s*\*\s*(\w+)\s*\)", decl)
        return [m.group(1)] if m else []
    parts = [p.strip() for p in decl.split(",")]
    names = []
    for n, p in enumerate(parts):
        p = re.sub(r"\[.*?\]", "", p)
        p = re.sub(r":\s*\d+$", "", p).strip()
        m = re.search(r"(\w+)\s*$", p)
        if m:
            names.append(m.group(1))
    return names


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--all", action="store_true")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("dirs", nargs="*")
    a = ap.parse_args()
    dirs = a.dirs or PARTS
    files = []
    for d in dirs:
        d = os.path.join(ROOT, d) if not os.path.isabs(d) else d
        for base, _, names in os.walk(d):
            files += [os.path.join(base, n) for n in sorted(names) if n.endswith((".c", ".h"))]
    commented_protos = set()
    defs = []
    members = []
    for f in files:
        lines = open(f, encoding="utf-8").read().split("\n")
        rel = os.path.relpath(f, ROOT)
        for name, i, static, com, defn in functions(f, lines):
            if not defn:
                if com is True:
                    commented_protos.add(name)
                continue
            defs.append((rel, i + 1, name, static, com))
        for st, mem, i, com in struct_members(lines):
            members.append((rel, i + 1, f"struct {st}.{mem}", com))
    def has(d):
        return d[4] is True or d[2] in commented_protos
    bad_f = [d for d in defs if not d[3] and not has(d) and d[2] != "main"]
    bad_s = [d for d in defs if d[3] and not has(d)] if a.all else []
    bad_m = [m for m in members if not m[3]]
    if a.list:
        for rel, line, name, *_ in bad_f + bad_s:
            print(f"{rel}:{line}: {name}() has no comment")
        for rel, line, name, _ in bad_m:
            print(f"{rel}:{line}: {name} has no comment")
    nonstatic = sum(1 for d in defs if not d[3])
    print(f"check-comments: {len(bad_f)} of {nonstatic} non-static functions and "
          f"{len(bad_m)} of {len(members)} struct members without a comment" +
          (f"; {len(bad_s)} of {len(defs) - nonstatic} static functions" if a.all else ""))
    return 1 if bad_f or bad_m else 0


if __name__ == "__main__":
    sys.exit(main())
