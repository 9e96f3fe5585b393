#!/usr/bin/env bash
# format.sh - the house format (.clang-format) over every C file of the tree.
#
#   bash scripts/format.sh          rewrite the files in place
#   bash scripts/format.sh --check  list the files clang-format would change
#                                   and exit 1 if there is any (the test
#                                   command runs this as layout/format)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

command -v clang-format >/dev/null || { echo "format: clang-format is not installed (bash scripts/dev.sh setup)"; exit 1; }
# Tracked C sources and headers; in a tree that is not a git checkout,
# every .c/.h below the source folders.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.c' '*.h' |
                         while read -r f; do [ -f "$f" ] && echo "$f"; done)
else
    mapfile -t files < <(find app bench conf examples include middleware server tests \
                         -name '*.c' -o -name '*.h' | sort)
fi

if [ "${1:-}" = "--check" ]; then
    bad=0
    for f in "${files[@]}"; do
        if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
            echo "$f: not in the house format (bash scripts/dev.sh format rewrites it)"
            bad=$((bad + 1))
        fi
    done
    if [ "$bad" -gt 0 ]; then
        echo "format: $bad of ${#files[@]} files differ from .clang-format"
        exit 1
    fi
    echo "format: ${#files[@]} files, all in the house format"
else
    clang-format -i "${files[@]}"
    echo "format: ${#files[@]} files formatted"
fi
