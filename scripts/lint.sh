#!/bin/bash
# Static analysis, as CI runs it: clang-tidy (rules and reasons in .clang-tidy)
# and cppcheck, over every C file of nestbox. Exits non-zero on any finding.
# Usage: lint.sh BUILD_DIR   (needs BUILD_DIR/compile_commands.json from meson)
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files 'src/*.c' 'tests/unit/*.c' 'tests/fuzz/*.c')
# Files built only by musl-gcc (the static guest init) are not in the
# compile database; clang-tidy checks them with the flags of a host build.
echo "lint: clang-tidy on ${#files[@]} files" >&2
printf '%s\n' "${files[@]}" |
	xargs -P "$(nproc)" -n 4 clang-tidy -p "$build" --quiet 2>&1 |
	grep -v -E '^[0-9]+ warnings? generated|^Suppressed [0-9]+ warnings|^Use -header-filter' |
	tee "$build/clang-tidy.log" >&2 || true
if grep -qE 'warning:|error:' "$build/clang-tidy.log"; then
	echo "lint: clang-tidy found problems" >&2
	exit 1
fi
echo "lint: cppcheck" >&2
cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,portability,performance \
	--inline-suppr --suppress=missingIncludeSystem -D_GNU_SOURCE -D__linux__ \
	-I src -I "$build" "${files[@]}"
echo "lint: clean" >&2
