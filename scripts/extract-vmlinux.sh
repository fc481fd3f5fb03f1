#!/bin/bash
# Print the uncompressed ELF vmlinux held in a bzImage. Looks for each
# compressor's magic, decompresses from there, and keeps the first result
# that is an ELF file (the same approach as the kernel's own extract-vmlinux).
# Usage: extract-vmlinux.sh BZIMAGE > vmlinux
set -euo pipefail
img=${1:?usage: extract-vmlinux.sh BZIMAGE}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

try() { # magic-bytes decompressor...
	local magic=$1; shift
	for off in $(LC_ALL=C grep -obUaP "$magic" "$img" | cut -d: -f1); do
		tail -c +$((off + 1)) "$img" | "$@" >"$tmp" 2>/dev/null || true
		if [ "$(head -c 4 "$tmp" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
			cat "$tmp"
			exit 0
		fi
	done
}
try '\xfd\x37\x7a\x58\x5a\x00' xz -dc
try '\x28\xb5\x2f\xfd' zstd -dc
try '\x1f\x8b\x08' gzip -dc
try '\x5d\x00\x00\x00' unlzma -c
try '\x02\x21\x4c\x18' lz4 -dc
echo "extract-vmlinux: no ELF kernel found in $img" >&2
exit 1
