#!/bin/bash
# Usage: scripts/receive-pairs.sh (after cargo build --release); prints sender, receive, pair, Gbit/s, server ns/byte, mapped share.
# alternating pairs: copy vs zerocopy receive, stream, 1 x 64 KiB fields
B=${COPYBENCH:-target/release/copybench}
for sender in zero-copy one-copy; do
 for i in 1 2 3; do
  for rx in copy zerocopy; do
   $B run --receive $rx --strategy $sender --workload stream --fields 1 --field-size 64K --duration 2 --warmup 0.5 --samples 5 --no-counters --json \
   | python3 -c "import json,sys; d=json.load(sys.stdin); f=d['figures']; print('$sender', '$rx', $i, round(f['throughput_gbps'],2), round(f['server_cpu_ns_per_byte'],4), f['rx_mapped_share'])"
  done
 done
done
