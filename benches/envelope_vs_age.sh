#!/usr/bin/env bash
# Envelope throughput, side by side in one run: fuda (examples/envelope_tool, all cores
# and one thread), Go `age` and `rage`, encrypting and decrypting a file that sits in the
# page cache, writing to /dev/null and to a file. Then peak resident memory (RSS) on a
# larger file.
#
#   benches/envelope_vs_age.sh [SIZE_MIB] [RSS_SIZE_MIB] [REPEATS]
#
# Defaults: 1024 MiB, 4096 MiB, best of 3. Needs `age`/`age-keygen` (Debian package
# `age`) and optionally `rage` (`cargo install rage`; or set RAGE=/path/to/rage).
# Work files go to $BENCH_DIR (default /dev/shm/fuda-bench: tmpfs, so inputs and "to a
# file" outputs live in the page cache and disk writeback does not enter the figures).
# GB/s below means 10^9 bytes/second of plaintext; "cpu" is user+sys seconds of the
# same run, which stays meaningful when other work shares the machine.
set -euo pipefail

SIZE_MIB=${1:-1024}
RSS_MIB=${2:-4096}
REPEATS=${3:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${BENCH_DIR:-/dev/shm/fuda-bench}
mkdir -p "$DIR"

cargo build --quiet --release -p fuda-core --example envelope_tool --manifest-path "$ROOT/Cargo.toml"
FUDA="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/envelope_tool"
AGE=$(command -v age)
RAGE=${RAGE:-$(command -v rage || true)}
[ -x "${RAGE:-}" ] || RAGE=""

echo "# $(date -u +%FT%TZ) $(uname -m), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# load average before the run: $(cut -d" " -f1-3 /proc/loadavg)"
echo "# fuda $(git -C "$ROOT" rev-parse --short HEAD), $($AGE --version | head -1) (Go age), ${RAGE:+$($RAGE --version)}"

age-keygen -o "$DIR/key.txt" 2>/dev/null || true
RECIP=$(age-keygen -y "$DIR/key.txt")

make_input() { # file MiB
  if [ ! -f "$1" ] || [ "$(stat -c %s "$1")" != $(($2 * 1048576)) ]; then
    head -c $(($2 * 1048576)) /dev/urandom > "$1"
  fi
  cat "$1" > /dev/null # into the page cache
}

# best-of-N run of a command: prints "wall cpu" of the fastest run
best() {
  local best="" cpu=""
  for _ in $(seq "$REPEATS"); do
    local r
    r=$(/usr/bin/time -f "%e %U %S" "$@" 2>&1 >/dev/null | tail -1)
    read -r e u s <<< "$r"
    if [ -z "$best" ] || [ "$(echo "$e < $best" | bc -l)" = 1 ]; then
      best=$e; cpu=$(echo "$u + $s" | bc -l)
    fi
  done
  echo "$best $cpu"
}

gbps() { echo "scale=2; $1 / $2 / 1000000000" | bc -l; }

IN="$DIR/in-${SIZE_MIB}M.bin"
make_input "$IN" "$SIZE_MIB"
BYTES=$((SIZE_MIB * 1048576))
# One ciphertext (written by Go age) that every tool decrypts.
"$AGE" -r "$RECIP" -o "$DIR/in.age" "$IN"
cat "$DIR/in.age" > /dev/null

declare -a TOOLS=("fuda" "fuda-1thread" "age")
[ -n "$RAGE" ] && TOOLS+=("rage")

enc() { # tool input output → CMD
  case $1 in
    fuda) CMD=("$FUDA" encrypt -j 0 -r "$RECIP" "$2" "$3") ;;
    fuda-1thread) CMD=("$FUDA" encrypt -j 1 -r "$RECIP" "$2" "$3") ;;
    age) CMD=("$AGE" -r "$RECIP" -o "$3" "$2") ;;
    rage) CMD=("$RAGE" -r "$RECIP" -o "$3" "$2") ;;
  esac
}
dec() { # tool input output → CMD
  case $1 in
    fuda) CMD=("$FUDA" decrypt -j 0 -i "$DIR/key.txt" "$2" "$3") ;;
    fuda-1thread) CMD=("$FUDA" decrypt -j 1 -i "$DIR/key.txt" "$2" "$3") ;;
    age) CMD=("$AGE" -d -i "$DIR/key.txt" -o "$3" "$2") ;;
    rage) CMD=("$RAGE" -d -i "$DIR/key.txt" -o "$3" "$2") ;;
  esac
}

echo
echo "## Commands (INPUT/OUTPUT stand for the paths below)"
for t in "${TOOLS[@]}"; do
  enc "$t" INPUT OUTPUT; echo "  $t encrypt: ${CMD[*]}"
  dec "$t" INPUT OUTPUT; echo "  $t decrypt: ${CMD[*]}"
done

echo
echo "## Throughput, ${SIZE_MIB} MiB in the page cache, best of $REPEATS (GB/s of plaintext)"
echo "(each cell: GB/s, wall seconds, cpu seconds)"
printf "%-13s| %-22s| %-22s| %-22s| %-22s\n" tool "encrypt → /dev/null" "encrypt → file" "decrypt → /dev/null" "decrypt → file"
cell() { # "wall cpu"
  read -r w c <<< "$1"
  printf "%5.2f GB/s %5.2fs %5.2fc " "$(gbps $BYTES "$w")" "$w" "$c"
}
for t in "${TOOLS[@]}"; do
  enc "$t" "$IN" /dev/null; e0=$(best "${CMD[@]}")
  enc "$t" "$IN" "$DIR/out.age"; e1=$(best "${CMD[@]}")
  dec "$t" "$DIR/in.age" /dev/null; d0=$(best "${CMD[@]}")
  dec "$t" "$DIR/in.age" "$DIR/out.bin"; d1=$(best "${CMD[@]}")
  cmp "$DIR/out.bin" "$IN"
  rm -f "$DIR/out.age" "$DIR/out.bin"
  printf "%-13s| %s| %s| %s| %s\n" "$t" "$(cell "$e0")" "$(cell "$e1")" "$(cell "$d0")" "$(cell "$d1")"
done
# Every tool's output decrypts with every other: a quick sanity check of this run.
"$FUDA" encrypt -r "$RECIP" "$IN" "$DIR/check.fuda"
"$AGE" -d -i "$DIR/key.txt" "$DIR/check.fuda" | cmp - "$IN"
rm -f "$DIR/check.fuda"

echo
echo "## Peak resident memory, ${RSS_MIB} MiB file (max RSS, MiB); encrypt to a file, decrypt that file to /dev/null"
BIG="$DIR/in-${RSS_MIB}M.bin"
make_input "$BIG" "$RSS_MIB"
rss() { /usr/bin/time -f "%M" "$@" 2>&1 >/dev/null | tail -1; } # KiB
printf "%-14s %10s %10s\n" tool encrypt decrypt
for t in "${TOOLS[@]}"; do
  enc "$t" "$BIG" "$DIR/big.age"; e=$(rss "${CMD[@]}")
  dec "$t" "$DIR/big.age" /dev/null; d=$(rss "${CMD[@]}")
  rm -f "$DIR/big.age"
  printf "%-14s %10s %10s\n" "$t" "$((e / 1024))" "$((d / 1024))"
done
rm -f "$BIG"
