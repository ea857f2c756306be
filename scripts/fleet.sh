#!/usr/bin/env bash
# Runs copybench across the node pairs of a Kubernetes cluster, one pair at a
# time, and writes one report over all of them.
#
#   scripts/fleet.sh --pair NODE_A:NODE_B [--pair ...] [options]
#   scripts/fleet.sh --label copybench.io/fleet=yes [options]
#   scripts/fleet.sh report DIR        # rebuild DIR's index.html and fleet.json
#
# A pair SERVER:CLIENT runs `copybench serve` on SERVER and the client's
# `copybench sweep --connect` on CLIENT, with the manifests of
# deploy/kubernetes/base (docs/kubernetes.md), each pair under its own names
# (copybench-server-pN, copybench-client-pN) and pinned to its two nodes.
# --label takes every ordered pair of the nodes that match the selector.
#
# For each pair: apply the server and its Service, wait until it is ready
# (its TCP readiness probe), apply the client Job, wait until it is complete
# or failed, check that the pods ran on the nodes asked for, collect the
# server's and the client's logs and the sweep (a tar stream between markers
# in the client's log) into OUT/SERVER-CLIENT/, and delete what was applied.
# At the end, `copybench compare` of every pair against the first pair that
# finished (the baseline) and OUT/index.html, which lists every pair, its
# report, its comparison with the baseline, and OUT/fleet.json.
#
# Options:
#   --pair S:C          a pair: server on node S, client on node C (repeatable)
#   --label SELECTOR    every ordered pair of the nodes matching SELECTOR
#   --parallel N        run up to N pairs at once, never two on one node
#                       (default 1: pairs share no link while they run)
#   --sweep-args 'ARGS' the client's sweep matrix instead of the manifest's
#                       (words of [A-Za-z0-9,._:=/+-], split on spaces; not
#                       --connect, --out, --resume or --token, which are set)
#   --image REF         the copybench image (default: the manifests' own)
#   --pod-network       over the pod network instead of hostNetwork
#   --out DIR           default reports/fleet-<UTC time>; must not exist or be empty
#   --ready-timeout S   seconds to wait for a server to be ready (default 300)
#   --timeout S         seconds to wait for a client's sweep (default 3600)
#   --keep              leave each pair's objects in the cluster (debugging)
#   --dry-run           plan and render the manifests into OUT, apply nothing
#
# Environment: KUBECTL (the kubectl command, split on spaces, default
# "kubectl", e.g. "kubectl --context lab"), COPYBENCH (the local copybench
# that runs compare; default: copybench on PATH, else target/release/copybench),
# FLEET_POLL (seconds between looks at a running Job, default 5).
#
# The token Secret must exist first (docs/kubernetes.md):
#   kubectl create namespace copybench
#   kubectl -n copybench create secret generic copybench-token \
#       --from-literal=token="$(head -c 32 /dev/urandom | base64)"
#
# Exit codes: 0 every pair finished, 1 a pair failed (the others still ran and
# are in the report), 2 bad options or a missing prerequisite.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
manifests=$here/../deploy/kubernetes/base
ns=copybench
poll=${FLEET_POLL:-5}
read -ra kubectl <<<"${KUBECTL:-kubectl}"

say() { echo "fleet: $*" >&2; }
die() {
    echo "fleet: $*" >&2
    exit 2
}
k() { "${kubectl[@]}" "$@"; }

# The local copybench, for compare.
find_copybench() {
    if [[ -n ${COPYBENCH:-} ]]; then
        printf '%s\n' "$COPYBENCH"
    elif command -v copybench >/dev/null 2>&1; then
        command -v copybench
    elif [[ -x $here/../target/release/copybench ]]; then
        printf '%s\n' "$here/../target/release/copybench"
    else
        die "no copybench here to compare the pairs: cargo build --release, or set COPYBENCH=/path/to/copybench"
    fi
}

html_escape() {
    sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g'
}

# A value of pair.txt (lines key=value).
field() { sed -n "s/^$2=//p" "$1" | head -n 1; }

# ---------------------------------------------------------------- report

# The rows of a sweep's results.csv whose status is $2.
count_status() {
    awk -F, -v want="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "status") col = i; next }
        col && $col == want { n++ } END { print n + 0 }' "$1"
}

report() {
    local out=$1 cb d base="" n=0 failed=0
    cb=$(find_copybench)
    [[ -d $out ]] || die "report $out: no such directory"
    local pairs=()
    while IFS= read -r d; do
        pairs+=("$d")
    done < <(for f in "$out"/*/pair.txt; do
        [[ -f $f ]] || continue
        printf '%s %s\n' "$(field "$f" index)" "$(dirname "$f")"
    done | sort -n | cut -d' ' -f2-)
    ((${#pairs[@]} > 0)) || die "report $out: no pairs there (no */pair.txt)"
    for d in "${pairs[@]}"; do
        if [[ $(field "$d/pair.txt" status) == ok && -f $d/results.csv ]]; then
            base=$d
            break
        fi
    done
    for d in "${pairs[@]}"; do
        rm -f "$d/compare.txt" "$d/compare.json"
        [[ -n $base && $d != "$base" && $(field "$d/pair.txt" status) == ok ]] || continue
        if "$cb" compare --json "$base" "$d" >"$d/compare.json" 2>"$d/compare.err" &&
            "$cb" compare "$base" "$d" >"$d/compare.txt" 2>>"$d/compare.err"; then
            rm -f "$d/compare.err"
        else
            say "compare $(basename "$base") $(basename "$d") failed: $(tail -n 1 "$d/compare.err")"
        fi
    done

    local html=$out/index.html json=$out/fleet.json
    {
        cat <<'EOF'
<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>copybench fleet</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; max-width: 90em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
.ok { color: #1a7f37; } .failed { color: #cf222e; font-weight: bold; }
pre { background: #f6f8fa; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
</style></head><body>
<h1>copybench fleet</h1>
EOF
        printf '<p>%s. Each pair ran <code>copybench serve</code> on its server node and <code>copybench sweep --connect</code> on its client node (deploy/kubernetes).' \
            "$(basename "$out" | html_escape)"
        if [[ -n $base ]]; then
            printf ' Every pair is compared with the baseline pair <b>%s</b> by <code>copybench compare</code> (NEW/OLD of each figure, better or worse only when the 95 %% intervals are disjoint and differ by 5 %% or more).</p>\n' \
                "$(basename "$base" | html_escape)"
        else
            printf ' No pair finished, so there is nothing to compare.</p>\n'
        fi
        printf '<table><tr><th>#</th><th>server node</th><th>client node</th><th>status</th><th>rows ok / failed</th><th>report</th><th>against the baseline</th><th>logs</th></tr>\n'
        for d in "${pairs[@]}"; do
            local p=$d/pair.txt name status why cells="" link="" against="" logs=""
            name=$(basename "$d")
            status=$(field "$p" status)
            why=$(field "$p" why)
            if [[ -f $d/results.csv ]]; then
                cells="$(count_status "$d/results.csv" ok) / $(count_status "$d/results.csv" failed)"
            fi
            [[ -f $d/index.html ]] && link="<a href=\"$name/index.html\">index.html</a>"
            if [[ $d == "$base" ]]; then
                against="baseline"
            elif [[ -f $d/compare.txt ]]; then
                against="$({ grep -m 1 'cells matched' "$d/compare.txt" || true; } | sed 's/ (.*//' | html_escape) <a href=\"$name/compare.html\">compare.html</a>"
            fi
            for f in serve.log sweep.log collect.log kubectl.log; do
                [[ -s $d/$f ]] && logs+="<a href=\"$name/$f\">$f</a> "
            done
            printf '<tr><td>%s</td><td>%s</td><td>%s</td><td class="%s">%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n' \
                "$(field "$p" index)" "$(field "$p" server | html_escape)" "$(field "$p" client | html_escape)" \
                "$status" "$(printf '%s%s' "$status" "${why:+: $why}" | html_escape)" \
                "$cells" "$link" "$against" "$logs"
        done
        printf '</table>\n'
        for d in "${pairs[@]}"; do
            [[ -f $d/compare.txt ]] || continue
            # compare.html itself, tall enough for its table (a row per cell), then the same as text.
            local rows
            rows=$(wc -l <"$d/compare.txt")
            printf '<h2>%s against %s</h2>\n' "$(basename "$d" | html_escape)" "$(basename "$base" | html_escape)"
            printf '<iframe src="%s/compare.html" title="compare" style="width: 100%%; height: %spx; border: 1px solid #ccc;"></iframe>\n' \
                "$(basename "$d")" "$((260 + 26 * rows))"
            printf '<details><summary>as text (compare.txt)</summary><pre>%s</pre></details>\n' \
                "$(grep -v '^wrote ' "$d/compare.txt" | html_escape)"
        done
        printf '</body></html>\n'
    } >"$html"

    {
        printf '{\n  "fleet": "%s",\n  "baseline": %s,\n  "pairs": [\n' "$(basename "$out")" \
            "$([[ -n $base ]] && printf '"%s"' "$(basename "$base")" || printf null)"
        local first=1
        for d in "${pairs[@]}"; do
            local p=$d/pair.txt
            ((first)) || printf ',\n'
            first=0
            printf '    {"index": %s, "server": "%s", "client": "%s", "dir": "%s", "status": "%s", "why": "%s", "compare": %s}' \
                "$(field "$p" index)" "$(field "$p" server)" "$(field "$p" client)" "$(basename "$d")" \
                "$(field "$p" status)" "$(field "$p" why | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')" \
                "$([[ -s $d/compare.json ]] && printf '"%s/compare.json"' "$(basename "$d")" || printf null)"
        done
        printf '\n  ]\n}\n'
    } >"$json"

    for d in "${pairs[@]}"; do
        n=$((n + 1))
        local status
        status=$(field "$d/pair.txt" status)
        [[ $status == ok ]] || failed=$((failed + 1))
        printf '%-40s %-7s %s\n' "$(basename "$d")" "$status" \
            "$([[ $d == "$base" ]] && echo baseline || grep -m 1 'cells matched' "$d/compare.txt" 2>/dev/null | sed 's/ (.*//' || field "$d/pair.txt" why)"
    done
    echo "$n pair(s), $failed failed: $html"
    ((failed == 0))
}

if [[ ${1:-} == report ]]; then
    [[ $# -eq 2 ]] || die "usage: fleet.sh report DIR"
    report "$2"
    exit $?
fi

# ---------------------------------------------------------------- options

pair_srv=()
pair_cli=()
label=""
parallel=1
sweep_args=""
image=""
pod_network=0
out=""
ready_timeout=300
timeout=3600
keep=0
dry_run=0

node_ok() { [[ $1 =~ ^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$ ]]; }
whole() { [[ $1 =~ ^[1-9][0-9]*$ ]]; }
need() { (($# >= 2)) || die "$1 needs a value"; }

while (($# > 0)); do
    case $1 in
    --pair)
        need "$@"
        [[ $2 == *:* ]] || die "--pair $2: give SERVER:CLIENT"
        s=${2%%:*} c=${2#*:}
        { node_ok "$s" && node_ok "$c"; } || die "--pair $2: node names are lower-case DNS names"
        [[ $s != "$c" ]] || die "--pair $2: a pair needs two nodes"
        for ((j = 0; j < ${#pair_srv[@]}; j++)); do
            [[ ${pair_srv[j]}:${pair_cli[j]} != "$s:$c" ]] || die "--pair $2: given twice"
        done
        pair_srv+=("$s")
        pair_cli+=("$c")
        shift 2
        ;;
    --label) need "$@" && label=$2 && shift 2 ;;
    --parallel) need "$@" && parallel=$2 && shift 2 ;;
    --sweep-args) need "$@" && sweep_args=$2 && shift 2 ;;
    --image) need "$@" && image=$2 && shift 2 ;;
    --pod-network) pod_network=1 && shift ;;
    --out) need "$@" && out=$2 && shift 2 ;;
    --ready-timeout) need "$@" && ready_timeout=$2 && shift 2 ;;
    --timeout) need "$@" && timeout=$2 && shift 2 ;;
    --keep) keep=1 && shift ;;
    --dry-run) dry_run=1 && shift ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
        exit 0
        ;;
    *) die "unknown option $1 (see --help)" ;;
    esac
done

whole "$parallel" || die "--parallel $parallel: a whole number >= 1"
whole "$ready_timeout" || die "--ready-timeout $ready_timeout: whole seconds >= 1"
whole "$timeout" || die "--timeout $timeout: whole seconds >= 1"
[[ $poll =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "FLEET_POLL=$poll: seconds"
if [[ -n $label && ${#pair_srv[@]} -gt 0 ]]; then
    die "--pair and --label: give one of them"
fi
if [[ -z $label && ${#pair_srv[@]} -eq 0 ]]; then
    die "which nodes? --pair SERVER:CLIENT (repeatable) or --label SELECTOR (see --help)"
fi
for f in server-service.json server.json client-job.json namespace.json; do
    [[ -f $manifests/$f ]] || die "$manifests/$f: missing"
done

# Edits that make the manifests this run's: sed expressions, checked below.
edits=()
if [[ -n $sweep_args ]]; then
    quoted=""
    read -ra words <<<"$sweep_args"
    for w in "${words[@]}"; do
        [[ $w =~ ^[A-Za-z0-9,._:=/+-]+$ ]] || die "--sweep-args: '$w': only [A-Za-z0-9,._:=/+-] in a word"
        case $w in
        --connect* | --out* | --resume | --token*) die "--sweep-args: $w is set by the fleet" ;;
        esac
        quoted+=", \"$w\""
    done
    edits+=(-e "s|\\(\"--out\", \"sweep\", \"--resume\"\\)[^]]*\\]|\\1$quoted]|")
fi
if [[ -n $image ]]; then
    [[ $image =~ ^[A-Za-z0-9./:@_-]+$ ]] || die "--image $image: not an image reference"
    edits+=(-e "s|\"image\": \"copybench:latest\"|\"image\": \"$image\"|")
fi
if ((pod_network)); then
    edits+=(-e 's|"hostNetwork": true|"hostNetwork": false|'
        -e 's|"dnsPolicy": "ClusterFirstWithHostNet"|"dnsPolicy": "ClusterFirst"|'
        -e 's|"pod-security.kubernetes.io/enforce": "[a-z]*"|"pod-security.kubernetes.io/enforce": "restricted"|'
        -e 's|"pod-security.kubernetes.io/warn": "[a-z]*"|"pod-security.kubernetes.io/warn": "restricted"|')
fi

# Writes manifest $1 for pair id $2 (server node $3, client node $4) to $5.
render() {
    local src=$manifests/$1 id=$2 s=$3 c=$4 dst=$5
    sed -e "s|copybench-server|copybench-server-$id|g" \
        -e "s|copybench-client|copybench-client-$id|g" \
        -e "s|\"copybench\\.io/role\": \"server\"|\"kubernetes.io/hostname\": \"$s\"|" \
        -e "s|\"copybench\\.io/role\": \"client\"|\"kubernetes.io/hostname\": \"$c\"|" \
        ${edits[@]+"${edits[@]}"} "$src" >"$dst"
    # The manifests may have been edited: say so rather than apply a pair unpinned.
    case $1 in
    server.json) grep -q "\"kubernetes.io/hostname\": \"$s\"" "$dst" ||
        die "render $1: no nodeSelector \"copybench.io/role\": \"server\" to pin the server with" ;;
    client-job.json)
        grep -q "\"kubernetes.io/hostname\": \"$c\"" "$dst" ||
            die "render $1: no nodeSelector \"copybench.io/role\": \"client\" to pin the client with"
        grep -q "\"--connect\", \"copybench-server-$id\\." "$dst" ||
            die "render $1: the client's args do not --connect to copybench-server"
        if [[ -n $sweep_args ]]; then
            grep -qF "\"--resume\"$quoted]" "$dst" ||
                die "render $1: no args line ending in \"--out\", \"sweep\", \"--resume\", ... to put --sweep-args in"
        fi
        ;;
    esac
}

# ---------------------------------------------------------------- pairs

if [[ -n $label ]]; then
    nodes=$(k get nodes -l "$label" -o 'jsonpath={.items[*].metadata.name}') ||
        die "kubectl get nodes -l $label failed"
    read -ra nodes <<<"$nodes"
    ((${#nodes[@]} >= 2)) || die "--label $label: ${#nodes[@]} node(s) match; a pair needs two"
    for s in "${nodes[@]}"; do
        node_ok "$s" || die "node $s: not a name this script can use"
        for c in "${nodes[@]}"; do
            [[ $s == "$c" ]] && continue
            pair_srv+=("$s")
            pair_cli+=("$c")
        done
    done
fi
npairs=${#pair_srv[@]}

# Rounds of pairs that run at once: at most --parallel, no node in two.
rounds=()
left=()
for ((i = 0; i < npairs; i++)); do left+=("$i"); done
while ((${#left[@]} > 0)); do
    busy=" " round="" rest=() taken=0
    for i in "${left[@]}"; do
        s=${pair_srv[i]} c=${pair_cli[i]}
        if ((taken < parallel)) && [[ $busy != *" $s "* && $busy != *" $c "* ]]; then
            round+="$i "
            busy+="$s $c "
            taken=$((taken + 1))
        else
            rest+=("$i")
        fi
    done
    rounds+=("$round")
    left=(${rest[@]+"${rest[@]}"})
done

[[ -n $out ]] || out=reports/fleet-$(date -u +%Y%m%dT%H%M%SZ)
if [[ -e $out ]] && [[ -n $(ls -A "$out") ]]; then
    die "--out $out: exists and is not empty"
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
cb=""
((dry_run)) || cb=$(find_copybench)

r=0
for round in "${rounds[@]}"; do
    r=$((r + 1))
    for i in $round; do
        say "round $r: pair $((i + 1)) of $npairs: server ${pair_srv[i]}, client ${pair_cli[i]}"
    done
done

# Render every pair's manifests first: a bad edit stops the run before anything is applied.
mkdir -p "$out/.fleet"
render namespace.json "" "" "" "$out/.fleet/namespace.json"
for ((i = 0; i < npairs; i++)); do
    s=${pair_srv[i]} c=${pair_cli[i]}
    dir=$out/$s-$c
    mkdir -p "$dir/manifests"
    for f in server-service.json server.json client-job.json; do
        render "$f" "p$((i + 1))" "$s" "$c" "$dir/manifests/$f"
    done
done
if ((dry_run)); then
    say "dry run: manifests in $out/*/manifests; nothing applied"
    exit 0
fi

"$cb" --version >/dev/null 2>&1 || die "COPYBENCH=$cb does not run"
k apply -f "$out/.fleet/namespace.json" >"$out/.fleet/kubectl.log" 2>&1 ||
    die "kubectl apply of the namespace failed: $(tail -n 1 "$out/.fleet/kubectl.log")"
if ! k -n "$ns" get secret copybench-token -o name >/dev/null 2>&1; then
    die "no Secret copybench-token in namespace $ns: kubectl -n $ns create secret generic copybench-token --from-literal=token=\"\$(head -c 32 /dev/urandom | base64)\""
fi

# Runs pair $1 (0-based) and writes its pair.txt; never exits the script.
run_pair() {
    local i=$1 s=${pair_srv[$1]} c=${pair_cli[$1]} id="p$(($1 + 1))"
    local dir=$out/$s-$c
    local m=$dir/manifests log=$dir/kubectl.log
    local server=copybench-server-$id client=copybench-client-$id
    local status=ok why="" where="" t0=$SECONDS
    : >"$log"
    tell() { say "[$s -> $c] $*"; }
    fail() {
        status=failed
        why=$1
        tell "failed: $why"
    }
    collect_logs() {
        k -n "$ns" logs "deployment/$server" >"$dir/serve.log" 2>>"$log" || true
        k -n "$ns" logs "job/$client" -c sweep >"$dir/sweep.log" 2>>"$log" || true
        k -n "$ns" logs "job/$client" -c collect >"$dir/collect.log" 2>>"$log" || true
    }

    tell "applying the server"
    if ! k apply -f "$m/server-service.json" -f "$m/server.json" >>"$log" 2>&1; then
        fail "kubectl apply of the server failed (kubectl.log)"
    elif ! k -n "$ns" wait --for=condition=Available --timeout="${ready_timeout}s" "deployment/$server" >>"$log" 2>&1; then
        fail "the server was not ready within ${ready_timeout}s (serve.log, kubectl.log)"
    else
        tell "server ready; applying the client"
        if ! k apply -f "$m/client-job.json" >>"$log" 2>&1; then
            fail "kubectl apply of the client failed (kubectl.log)"
        else
            local state="" deadline=$((SECONDS + timeout))
            while :; do
                state=$(k -n "$ns" get job "$client" -o 'jsonpath={.status.conditions[?(@.status=="True")].type}' 2>>"$log") || state=""
                [[ $state == *Complete* || $state == *Failed* ]] && break
                if ((SECONDS >= deadline)); then
                    state=timeout
                    break
                fi
                sleep "$poll"
            done
            local sn cn
            sn=$(k -n "$ns" get pods -l "app.kubernetes.io/instance=$server" -o 'jsonpath={.items[*].spec.nodeName}' 2>>"$log") || sn="?"
            cn=$(k -n "$ns" get pods -l "app.kubernetes.io/instance=$client" -o 'jsonpath={.items[*].spec.nodeName}' 2>>"$log") || cn="?"
            where="server on $sn, client on $cn"
            collect_logs
            case $state in
            *Complete*)
                if [[ $sn != "$s" || $cn != "$c" ]]; then
                    fail "the pods did not run on the nodes asked for: $where"
                elif ! grep -q '^==== copybench results end' "$dir/collect.log"; then
                    fail "the client's log holds no whole results stream (collect.log)"
                else
                    rm -rf "$dir/.extract"
                    mkdir -p "$dir/.extract"
                    if sed -n '/^==== copybench results begin/,/^==== copybench results end/p' "$dir/collect.log" |
                        sed -e '1d' -e '$d' | base64 -d | tar -xzf - -C "$dir/.extract" 2>>"$log" &&
                        [[ -f $dir/.extract/sweep/results.csv ]]; then
                        cp -R "$dir/.extract/sweep/." "$dir/"
                        rm -rf "$dir/.extract"
                        tell "collected $(count_status "$dir/results.csv" ok) ok cell run(s) in $((SECONDS - t0)) s"
                    else
                        fail "the results stream did not unpack to a sweep (collect.log)"
                    fi
                fi
                ;;
            timeout) fail "the client did not finish within ${timeout}s (sweep.log)" ;;
            *) fail "the client Job failed (sweep.log)" ;;
            esac
        fi
    fi
    if ((keep)); then
        tell "kept in the cluster (--keep)"
    else
        [[ -s $dir/serve.log ]] || collect_logs
        k delete --ignore-not-found --cascade=foreground --wait=true \
            -f "$m/client-job.json" -f "$m/server.json" -f "$m/server-service.json" >>"$log" 2>&1 ||
            tell "kubectl delete failed (kubectl.log): delete namespace $ns's copybench-*-$id by hand"
    fi
    printf 'index=%s\nserver=%s\nclient=%s\nstatus=%s\nwhy=%s\nwhere=%s\nseconds=%s\n' \
        "$((i + 1))" "$s" "$c" "$status" "$why" "$where" "$((SECONDS - t0))" >"$dir/pair.txt"
}

# On Ctrl-C: delete what the pairs in flight applied.
cleanup() {
    trap - INT TERM
    say "interrupted: deleting the pairs in flight"
    for ((i = 0; i < npairs; i++)); do
        local dir=$out/${pair_srv[i]}-${pair_cli[i]}
        [[ -f $dir/kubectl.log && ! -f $dir/pair.txt ]] || continue
        k delete --ignore-not-found --wait=false -f "$dir/manifests/client-job.json" \
            -f "$dir/manifests/server.json" -f "$dir/manifests/server-service.json" >/dev/null 2>&1 || true
    done
    exit 130
}
((keep)) || trap cleanup INT TERM

for round in "${rounds[@]}"; do
    pids=()
    for i in $round; do
        if ((parallel == 1)); then
            run_pair "$i"
        else
            run_pair "$i" &
            pids+=($!)
        fi
    done
    for pid in ${pids[@]+"${pids[@]}"}; do wait "$pid" || true; done
done
trap - INT TERM

report "$out"
