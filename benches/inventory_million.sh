#!/usr/bin/env bash
# One run of `fuda inventory` over a tree of N labeled 1-KiB files (default 1,000,000 in
# folders of 1,000), with `find`, `getfattr -R -d` and reading every file as baselines, in
# the same run and with the page cache warm (inodes, xattrs and contents). "cold" is the
# first inventory by a user (no signature verified before, no content digest remembered):
# every signature is verified and every file hashed; "repeat" is the next one. Prints one line per measurement: wall time,
# files/s, user+sys CPU per file, peak RSS, and the load average when it started.
#
#   cargo build --release -p fuda-cli && benches/inventory_million.sh [FILES] [DIR]
#
# The tree is made once under DIR (default target/bench-inventory-FILES; about 8 KiB of
# disk per file on ext4: a data block and an xattr block) and kept for later runs; delete
# DIR to start afresh. Needs python3 (to write the files), getfattr (attr) and GNU time.
set -euo pipefail

files=${1:-1000000}
dir=$(realpath -m "${2:-target/bench-inventory-$files}")
fuda=$(realpath target/release/fuda)
tree=$dir/share
export HOME=$dir/home
unset XDG_CONFIG_HOME XDG_CACHE_HOME FUDA_CONFIG_DIR

[ -x "$fuda" ] || { echo "build it first: cargo build --release -p fuda-cli" >&2; exit 2; }
command -v getfattr >/dev/null || { echo "getfattr missing: apt-get install attr" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "GNU time missing: apt-get install time" >&2; exit 2; }

if [ ! -e "$dir/ready" ]; then
    echo "making $files files under $tree ..." >&2
    mkdir -p "$dir"
    python3 - "$tree" "$files" <<'PY'
import os, sys
tree, n = sys.argv[1], int(sys.argv[2])
body = bytearray(b"x" * 1024)
for i in range(n):
    d = os.path.join(tree, "d%04d" % (i // 1000))
    if i % 1000 == 0:
        os.makedirs(d, exist_ok=True)
    body[:8] = i.to_bytes(8, "little")  # every file a different digest
    with open(os.path.join(d, "f%07d.txt" % i), "wb") as f:
        f.write(body)
PY
    "$fuda" init --name bench >/dev/null
    echo "labeling ..." >&2
    "$fuda" label set 社外秘 -r -q "$tree"
    sync
    touch "$dir/ready"
fi

# $1: name; the rest: the command. Exit code 1 of fuda inventory (findings) is success.
measure() {
    local name=$1 load rc=0
    shift
    load=$(cut -d' ' -f1 /proc/loadavg)
    /usr/bin/time -f "%e %U %S %M" -o "$dir/time.txt" "$@" >/dev/null 2>"$dir/stderr.txt" || rc=$?
    if [ "$rc" -gt 1 ]; then
        echo "$name failed ($rc):" >&2
        cat "$dir/stderr.txt" >&2
        exit 1
    fi
    read -r wall user sys rss <"$dir/time.txt"
    awk -v n="$name" -v f="$files" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" -v l="$load" \
        'BEGIN { printf "%-44s %7.2f s %9.0f files/s  cpu %5.2f+%5.2f s = %5.1f us/file  rss %6.0f MB  load %s\n",
                 n, w, f / w, u, s, (u + s) * 1e6 / f, r / 1024, l }'
}

caches=("$HOME/.cache/fuda/verified-labels" "$HOME/.cache/fuda/content-digests")
# Warm the page cache: inodes, xattr blocks and file contents.
getfattr -R -d "$tree" >/dev/null 2>&1
find "$tree" -type f -print0 | xargs -0 cat >/dev/null
measure "find TREE -type f" find "$tree" -type f
measure "getfattr -R -d TREE" getfattr -R -d "$tree"
measure "find | xargs cat (read every file)" sh -c "find '$tree' -type f -print0 | xargs -0 cat"
rm -f "${caches[@]}" # cold: no signature verified before, no digest remembered
measure "fuda inventory --format json (cold)" "$fuda" inventory "$tree" --format json --out "$dir/inv.json" -q
measure "fuda inventory --format json (repeat)" "$fuda" inventory "$tree" --format json --out "$dir/inv.json" -q
rm -f "${caches[0]}" # every signature verified again, contents known from the digest cache
measure "fuda inventory --format json (memo forgotten)" "$fuda" inventory "$tree" --format json --out "$dir/inv.json" -q
measure "fuda inventory --since (repeat, review)" "$fuda" inventory "$tree" --format json --since "$dir/inv.json" --out "$dir/inv2.json" -q
measure "fuda inventory --format xlsx (repeat)" "$fuda" inventory "$tree" --out "$dir/inv.xlsx" -q
mkdir -p "$dir/empty" # the process alone: start, load the caches, write an empty ledger
measure "fuda inventory EMPTY (process baseline)" "$fuda" inventory "$dir/empty" --format json --out "$dir/empty.json" -q
