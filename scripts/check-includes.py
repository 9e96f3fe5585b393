#!/usr/bin/env python3
"""check-includes.py - dependencies between rooms go one way.

Reads every `#include "..."` in the C sources and fails on an include that
runs against the direction of the house (docs/internals.md, "Rooms"):

    include/spindle  <-  server/lib  <-  conf  <-  app  <-  app/tasks
                     <-  server/proto  <-  server/worker  <-  server/master

A file may include headers of its own room and of rooms to its left.
Modules (middleware/, examples/, app/wsgi/, tests/modules/,
bench/modules/) are written against the public header alone (and their
own folder); app/wsgi/ is a module although it sits under app/, and no
other room may include it.  Only server/master (where main()
hands the built-in middleware table to the app) may include middleware/.
Includes that name no file of this tree (llhttp.h, system headers) are
outside the house and not checked.

Usage: check-includes.py [ROOT]    exit 0 when clean, 1 with one line per
                                   include against the direction.
"""
import os
import re
import sys

# Ranked rooms, lowest first; a longer prefix wins over a shorter one.
RANKS = [
    ("include/spindle/", 0),
    ("server/lib/", 1),
    ("conf/", 2),
    ("app/", 3),
    ("app/tasks/", 4),
    ("server/proto/", 5),
    ("server/worker/", 6),
    ("server/master/", 7),
]
# Rooms written against the public API only.
PUBLIC_ONLY = ("middleware/", "examples/", "app/wsgi/", "tests/modules/", "bench/modules/")
# Who may include a module room's headers, beside the room itself.
MODULE_TABLE = {"middleware/": ("server/master/",), "app/wsgi/": ()}
# The source folders that are checked.
SOURCES = ("include/", "server/", "conf/", "app/", "middleware/", "examples/",
           "tests/modules/", "bench/modules/")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def room(path):
    best = None
    for prefix, rank in RANKS:
        if path.startswith(prefix) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, rank)
    return best


def resolve(root, src, name):
    """The tree file an include names, or None when it is outside the tree."""
    for base in ("", "include/", os.path.dirname(src) + "/"):
        cand = os.path.normpath(base + name)
        if os.path.isfile(os.path.join(root, cand)):
            return cand
    return None


def verdict(src, dst):
    """None when src may include dst, else why not."""
    if dst.startswith("include/spindle/"):
        return None
    for mod in PUBLIC_ONLY:
        if src.startswith(mod):
            if dst.startswith(mod):
                return None
            return f"{mod} is written against include/spindle/ only"
    for mod, allowed in MODULE_TABLE.items():
        if dst.startswith(mod) and not src.startswith(allowed):
            if not allowed:
                return f"{mod} is a module: no other room includes it"
            return f"only {', '.join(allowed)} may include {mod}"
    s, d = room(src), room(dst)
    if s is None or d is None:
        return None
    if d[1] > s[1]:
        return f"{s[0]} may not include {d[0]} (a room above it)"
    if d[1] == s[1] and d[0] != s[0]:
        return f"{s[0]} and {d[0]} are rooms of one rank"
    return None


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                           os.path.join(os.path.dirname(__file__), ".."))
    bad = 0
    checked = 0
    for top in SOURCES:
        for dirpath, _, names in os.walk(os.path.join(root, top)):
            for n in sorted(names):
                if not n.endswith((".c", ".h")):
                    continue
                src = os.path.relpath(os.path.join(dirpath, n), root)
                with open(os.path.join(root, src), encoding="utf-8", errors="replace") as f:
                    for lineno, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        dst = resolve(root, src, m.group(1))
                        if dst is None:
                            continue
                        checked += 1
                        why = verdict(src, dst)
                        if why:
                            print(f"{src}:{lineno}: includes {dst}: {why}")
                            bad += 1
    if bad:
        print(f"check-includes: {bad} include(s) against the direction of the house "
              f"(docs/internals.md, \"Rooms\")")
        return 1
    print(f"check-includes: {checked} includes, all one way")
    return 0


if __name__ == "__main__":
    sys.exit(main())
