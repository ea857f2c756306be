#!/bin/bash
# Usage: scripts/receive-pairs.sh [MAXSEG] (after cargo build --release); prints sender, receive, pair, Gbit/s, server ns/byte, mapped share, effective MSS.
# alternating pairs: copy vs zerocopy receive, stream, 1 x 64 KiB fields, both arms at TCP_MAXSEG MAXSEG (default 4108: a page of payload per segment)
set -euo pipefail
B=${COPYBENCH:-target/release/copybench}
M=${1:-4108}
for sender in zero-copy one-copy; do
 for i in 1 2 3; do
  for rx in copy zerocopy; do
   "$B" run --receive "$rx" --maxseg "$M" --strategy "$sender" --workload stream --fields 1 --field-size 64K --duration 2 --warmup 0.5 --samples 5 --no-counters --json \
   | python3 -c "import json,sys; d=json.load(sys.stdin); f=d['figures']; print('$sender', '$rx', $i, round(f['throughput_gbps'],2), round(f['server_cpu_ns_per_byte'],4), f['rx_mapped_share'], d['options']['mss_effective'])"
  done
 done
done
