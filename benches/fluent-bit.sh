#!/usr/bin/env bash
# The edgeheal filter in Fluent Bit itself, side by side with a JSON-passthrough wasm filter
# (and with no filter), over the two streams of the fluentbit_wasm bench: `tail` with a JSON
# parser -> `wasm` (the shipped settings: event_format json, 16M heap, 256K stack) -> `null`.
#
#   FLUENT_BIT=/path/to/fluent-bit benches/fluent-bit.sh [ROUNDS]
#
# With FLB_WAMRC=/path/to/flb-wamrc (Fluent Bit built with -DFLB_WAMRC=On, the same release as
# FLUENT_BIT) both modules are also compiled ahead of time, with the shipped configs' flags, and
# run. Each contender runs over each stream and over its first record alone; the difference in
# CPU time (user + system, GNU time) over the records between is the time a record costs. The
# share is the passthrough's time a record over the filter's, from the same round.
#
# Fluent Bit cannot be installed from the registries this project's CI reaches, so CI does not
# run this script; README (Benchmarks) has its figures for Fluent Bit 4.2.8.
set -euo pipefail

rounds=${1:-2}
fluent_bit=${FLUENT_BIT:-fluent-bit}
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
command -v "$fluent_bit" >/dev/null || { echo "no Fluent Bit at '$fluent_bit' (set FLUENT_BIT)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs GNU time at /usr/bin/time (Debian package: time)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cd "$root"
cargo build --quiet --release --target wasm32-wasip1 -p edgeheal-plugin -p edgeheal-passthrough-wasm
wasm_dir=$target/wasm32-wasip1/release
cp "$wasm_dir/edgeheal_plugin.wasm" "$wasm_dir/edgeheal_passthrough_wasm.wasm" "$work/"
EDGEHEAL_WRITE_STREAMS=$work cargo bench --quiet -p edgeheal-tests --bench fluentbit_wasm

# name:module:function
contenders=(
  "none::"
  "passthrough:$work/edgeheal_passthrough_wasm.wasm:passthrough"
  "edgeheal:$work/edgeheal_plugin.wasm:edgeheal_filter"
)
if [ -n "${FLB_WAMRC:-}" ]; then
  case $(uname -m) in
    x86_64) flags=(--target=x86_64 --cpu=x86-64-v2 --size-level=0) ;;
    aarch64 | arm64) flags=(--target=aarch64 --cpu=generic --size-level=0) ;;
    *) echo "no ahead-of-time flags for $(uname -m)" >&2; exit 2 ;;
  esac
  for m in edgeheal_plugin edgeheal_passthrough_wasm; do
    "$FLB_WAMRC" "${flags[@]}" -o "$work/$m.aot" "$work/$m.wasm" >/dev/null
  done
  contenders+=(
    "passthrough.aot:$work/edgeheal_passthrough_wasm.aot:passthrough"
    "edgeheal.aot:$work/edgeheal_plugin.aot:edgeheal_filter"
  )
fi

cat >"$work/parsers.conf" <<'EOF'
[PARSER]
    Name        edgeheal_bench
    Format      json
    Time_Key    fbtime
    Time_Format %s.%L
    Time_Keep   Off
EOF

# config LOG MODULE FUNCTION OUTPUT
config() {
  cat <<EOF
[SERVICE]
    Flush        1
    Grace        1
    Log_Level    warn
    Parsers_File $work/parsers.conf
[INPUT]
    Name              tail
    Path              $1
    Read_from_Head    On
    Exit_On_Eof       On
    Parser            edgeheal_bench
    Tag               kube.bench
    Buffer_Chunk_Size 1M
    Buffer_Max_Size   4M
EOF
  if [ -n "$2" ]; then
    cat <<EOF
[FILTER]
    Name            wasm
    Match           kube.*
    Wasm_Path       $2
    Function_Name   $3
    Event_Format    json
    Wasm_Heap_Size  16M
    Wasm_Stack_Size 256K
EOF
  fi
  cat <<EOF
[OUTPUT]
    Name   $4
    Match  *
EOF
  if [ "$4" = stdout ]; then
    echo "    Format json_lines"
  fi
}

# cpu_seconds CONFIG: Fluent Bit's CPU time over CONFIG. A run that fails (a crash part-way
# would read as a cheaper record) stops the bench, with the end of Fluent Bit's output.
cpu_seconds() {
  if ! /usr/bin/time -o "$work/time" -f "%U %S" "$fluent_bit" -c "$1" >"$work/out" 2>&1; then
    echo "Fluent Bit failed over $1 ($(head -1 "$work/time")); its output ends:" >&2
    tail -20 "$work/out" >&2
    exit 1
  fi
  awk '{ print $1 + $2 }' "$work/time"
}

# The filter tags what it is given (a wrong path or function would pass records untouched).
config "$work/node1.log" "$work/edgeheal_plugin.wasm" edgeheal_filter stdout >"$work/check.conf"
cpu_seconds "$work/check.conf" >/dev/null
grep -q '"edgeheal":{"kind":"log"' "$work/out" || { echo "the filter tagged nothing:" >&2; cat "$work/out" >&2; exit 1; }

"$fluent_bit" --version | head -1
for round in $(seq 1 "$rounds"); do
  for stream in node mixed; do
    n=$(wc -l <"$work/$stream.log")
    passthrough_us=
    for c in "${contenders[@]}"; do
      IFS=: read -r name module function <<<"$c"
      config "$work/$stream.log" "$module" "$function" null >"$work/all.conf"
      config "$work/${stream}1.log" "$module" "$function" null >"$work/one.conf"
      all=$(cpu_seconds "$work/all.conf")
      one=$(cpu_seconds "$work/one.conf")
      us=$(awk -v a="$all" -v o="$one" -v n="$n" 'BEGIN { printf "%.2f", (a - o) * 1e6 / (n - 1) }')
      case $name in passthrough) passthrough_us=$us ;; esac
      share=$(awk -v p="$passthrough_us" -v u="$us" 'BEGIN { if (p == "" || u <= 0) print "-"; else printf "%.2f", p / u }')
      printf 'round %s  %-5s %-16s %8.2f us a record  %9.0f records/s  share of passthrough %s  (start %.2f s CPU)\n' \
        "$round" "$stream" "$name" "$us" "$(awk -v u="$us" 'BEGIN { print (u > 0 ? 1e6 / u : 0) }')" "$share" "$one"
    done
  done
done
