#!/usr/bin/env bash
# Builds the adapter against a copy of the module with patches applied, for
# A/B runs of changes to the library:
#
#   bash bench/ab/variant.sh /tmp/adapter-x my-change.patch
#
# Run from the module root; the work tree is not touched.
set -euo pipefail
out=$(realpath -m "${1:?output binary}")
shift
copy=$(mktemp -d)
trap 'rm -rf "$copy"' EXIT
tar --exclude=.git --exclude=node_modules --exclude=.bin -cf - . | tar -C "$copy" -xf -
for p in "$@"; do patch -s -d "$copy" -p1 <"$p"; done
(cd "$copy/bench/peer" && go build -o "$out" ./adapter)
echo "built $out with: ${*:-no patches}" >&2
