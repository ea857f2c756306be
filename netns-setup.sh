#!/usr/bin/env bash
# netns-setup.sh up | down | status
#
# Two network namespaces joined by a veth pair, for copybench's `veth`
# transport. Addresses are confined to the benchmarking range 198.18.0.0/15
# (RFC 2544) so that no benchmark traffic can ever leave the host.
#
#   up      create what is missing (idempotent; a failed run removes what it made)
#   down    remove the namespaces and the veth pair (idempotent)
#   status  report what exists and test that the link passes traffic (a TCP
#           connect, see probe_traffic); exit 0 when all is up and passes
#           traffic, 3 if not or if traffic could not be tested
#
# Exit codes: 0 done; 1 an ip command failed; 2 bad input (usage, a setting
# below, not root, no iproute2); 3 status found it not up.
#
# Environment (defaults in brackets):
#   COPYBENCH_NS_SRV [copybench-srv]   COPYBENCH_NS_CLI [copybench-cli]
#   COPYBENCH_VETH_SRV [cb-veth-srv]   COPYBENCH_VETH_CLI [cb-veth-cli]
#   COPYBENCH_ADDR_SRV [198.18.0.1]    COPYBENCH_ADDR_CLI [198.18.0.2]
#   COPYBENCH_PREFIX [30]              MTU [1500]
set -euo pipefail

PROG=netns-setup.sh
NS_SRV=${COPYBENCH_NS_SRV:-copybench-srv}
NS_CLI=${COPYBENCH_NS_CLI:-copybench-cli}
VETH_SRV=${COPYBENCH_VETH_SRV:-cb-veth-srv}
VETH_CLI=${COPYBENCH_VETH_CLI:-cb-veth-cli}
ADDR_SRV=${COPYBENCH_ADDR_SRV:-198.18.0.1}
ADDR_CLI=${COPYBENCH_ADDR_CLI:-198.18.0.2}
PREFIX=${COPYBENCH_PREFIX:-30}
LINK_MTU=${MTU:-1500}
# `ip netns add` bind-mounts namespaces here (/var/run is a link to /run).
NETNS_DIR=/run/netns

usage() {
	echo "usage: $PROG up|down|status  (see the header of this script for the environment it reads)" >&2
	exit 2
}

die() {
	echo "$PROG: $*" >&2
	exit 1
}

# Bad input (the environment's settings, or what this host lacks): exit 2, as copybench does.
bad() {
	echo "$PROG: $*" >&2
	exit 2
}

# Runs an ip command; on failure dies with one line: what we tried and what ip said.
run() {
	local what=$1 err
	shift
	if ! err=$("$@" 2>&1 >/dev/null); then
		die "$what failed: ${err//$'\n'/ }"
	fi
}

preflight() {
	command -v ip >/dev/null 2>&1 || bad "iproute2 'ip' not found: apt-get install iproute2"
	[[ $EUID -eq 0 ]] || bad "must run as root (network namespaces need CAP_SYS_ADMIN): sudo ./$PROG $1"
}

check_name() { # kind value maxlen
	local kind=$1 value=$2 max=$3
	[[ $value =~ ^[A-Za-z0-9_.-]+$ && $value != . && $value != .. && ${#value} -le $max ]] ||
		bad "invalid $kind name '$value': use up to $max characters from [A-Za-z0-9_.-]"
}

check_names() {
	check_name namespace "$NS_SRV" 200
	check_name namespace "$NS_CLI" 200
	check_name interface "$VETH_SRV" 15
	check_name interface "$VETH_CLI" 15
	[[ $NS_SRV != "$NS_CLI" ]] || bad "COPYBENCH_NS_SRV and COPYBENCH_NS_CLI are both '$NS_SRV': give them different names"
	[[ $VETH_SRV != "$VETH_CLI" ]] || bad "COPYBENCH_VETH_SRV and COPYBENCH_VETH_CLI are both '$VETH_SRV': give them different names"
}

# Prints a dotted quad as an integer; dies unless it lies inside 198.18.0.0/15.
addr_to_int() { # varname value
	local var=$1 value=$2 a b c d
	if [[ ! $value =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$ ]]; then
		bad "$var='$value' is not an IPv4 address: use one inside 198.18.0.0/15, e.g. 198.18.0.1"
	fi
	a=$((10#${BASH_REMATCH[1]})) b=$((10#${BASH_REMATCH[2]}))
	c=$((10#${BASH_REMATCH[3]})) d=$((10#${BASH_REMATCH[4]}))
	if ((a > 255 || b > 255 || c > 255 || d > 255)); then
		bad "$var='$value' is not an IPv4 address: use one inside 198.18.0.0/15, e.g. 198.18.0.1"
	fi
	if ((a != 198 || (b != 18 && b != 19))); then
		bad "$var='$value' is outside 198.18.0.0/15: copybench only uses the benchmarking range, e.g. 198.18.0.1"
	fi
	echo $(((a << 24) | (b << 16) | (c << 8) | d))
}

check_addrs() {
	local srv cli mask
	srv=$(addr_to_int COPYBENCH_ADDR_SRV "$ADDR_SRV")
	cli=$(addr_to_int COPYBENCH_ADDR_CLI "$ADDR_CLI")
	# A prefix shorter than /15 would put addresses outside the range on-link.
	if [[ ! $PREFIX =~ ^[0-9]{1,2}$ ]] || ((10#$PREFIX < 15 || 10#$PREFIX > 31)); then
		bad "COPYBENCH_PREFIX='$PREFIX' is invalid: use 15..31 (default 30)"
	fi
	PREFIX=$((10#$PREFIX))
	mask=$(((0xffffffff << (32 - PREFIX)) & 0xffffffff))
	((srv != cli)) || bad "COPYBENCH_ADDR_SRV and COPYBENCH_ADDR_CLI are both $ADDR_SRV: give them different addresses"
	(((srv & mask) == (cli & mask))) ||
		bad "$ADDR_SRV and $ADDR_CLI are not in the same /$PREFIX: pick a pair in one subnet, e.g. 198.18.0.1 and 198.18.0.2 with /30"
	if ((PREFIX < 31)); then
		local host=$((~mask & 0xffffffff)) x
		for x in "$srv" "$cli"; do
			(((x & host) != 0 && (x & host) != host)) ||
				bad "an address is the network or broadcast address of its /$PREFIX: use host addresses, e.g. 198.18.0.1 and 198.18.0.2"
		done
	fi
}

check_mtu() {
	[[ $LINK_MTU =~ ^[0-9]{1,9}$ ]] || bad "MTU='$LINK_MTU' is not a number: use e.g. MTU=1500 or MTU=9000"
	((10#$LINK_MTU >= 68 && 10#$LINK_MTU <= 65535)) || bad "MTU='$LINK_MTU' is out of range: a veth takes 68..65535, e.g. MTU=1500 or MTU=9000"
}

ns_exists() { [[ -e $NETNS_DIR/$1 ]]; }
link_exists() { ns_exists "$1" && ip -n "$1" link show dev "$2" >/dev/null 2>&1; }

# What this invocation of `up` created, so that a failure removes exactly that.
CREATED_NS=()
CREATED_VETH=0
UP_DONE=0

rollback() {
	local rc=$? ns
	if ((UP_DONE == 0)); then
		if ((CREATED_VETH)) && link_exists "$NS_SRV" "$VETH_SRV"; then
			ip -n "$NS_SRV" link del dev "$VETH_SRV" >/dev/null 2>&1 || true
		fi
		for ns in "${CREATED_NS[@]}"; do
			ip netns del "$ns" >/dev/null 2>&1 || true
		done
		echo "$PROG: up failed; removed what this run had created" >&2
	fi
	exit "$rc"
}

cmd_up() {
	check_names
	check_addrs
	check_mtu
	trap rollback EXIT
	trap 'exit 130' INT TERM

	local ns
	for ns in "$NS_SRV" "$NS_CLI"; do
		if ! ns_exists "$ns"; then
			run "ip netns add $ns" ip netns add "$ns"
			CREATED_NS+=("$ns")
		fi
	done

	local have_srv=0 have_cli=0
	link_exists "$NS_SRV" "$VETH_SRV" && have_srv=1
	link_exists "$NS_CLI" "$VETH_CLI" && have_cli=1
	if ((have_srv != have_cli)); then
		# Half a pair (an end was moved or renamed): only a veth is ours to replace.
		local lone_ns=$NS_SRV lone_dev=$VETH_SRV
		((have_cli)) && lone_ns=$NS_CLI lone_dev=$VETH_CLI
		local details
		# Empty when the end vanished meanwhile: a deleted namespace tears its veth down asynchronously.
		details=$(ip -n "$lone_ns" -d link show dev "$lone_dev" 2>/dev/null || true)
		if [[ -n $details ]]; then
			grep -qE '^[[:space:]]+veth( |$)' <<<"$details" ||
				die "$lone_dev in $lone_ns exists and is not a veth: remove it (ip -n $lone_ns link del $lone_dev) or set COPYBENCH_VETH_SRV/COPYBENCH_VETH_CLI"
			run "removing the unpaired veth $lone_dev in $lone_ns" ip -n "$lone_ns" link del dev "$lone_dev"
		fi
		have_srv=0 have_cli=0
	fi
	if ((!have_srv)); then
		# Created straight inside the namespaces, so nothing ever appears in the root one.
		run "creating veth $VETH_SRV ($NS_SRV) <-> $VETH_CLI ($NS_CLI)" \
			ip link add "$VETH_SRV" netns "$NS_SRV" type veth peer name "$VETH_CLI" netns "$NS_CLI"
		CREATED_VETH=1
	fi

	local side dev addr
	for side in srv cli; do
		if [[ $side == srv ]]; then ns=$NS_SRV dev=$VETH_SRV addr=$ADDR_SRV; else ns=$NS_CLI dev=$VETH_CLI addr=$ADDR_CLI; fi
		run "setting MTU $LINK_MTU on $dev in $ns (MTU must be 68..65535)" ip -n "$ns" link set dev "$dev" mtu "$LINK_MTU"
		if ! ip -n "$ns" -o -4 addr show dev "$dev" | grep -qF " inet $addr/$PREFIX "; then
			# A stale address from an earlier run with other settings would confuse routing.
			run "flushing old addresses on $dev in $ns" ip -n "$ns" -4 addr flush dev "$dev"
			run "adding $addr/$PREFIX to $dev in $ns" ip -n "$ns" addr add "$addr/$PREFIX" dev "$dev"
		fi
		run "bringing up $dev in $ns" ip -n "$ns" link set dev "$dev" up
		run "bringing up lo in $ns" ip -n "$ns" link set dev lo up
	done
	UP_DONE=1
	echo "up: $NS_SRV/$VETH_SRV $ADDR_SRV/$PREFIX <-> $NS_CLI/$VETH_CLI $ADDR_CLI/$PREFIX, mtu $LINK_MTU"
}

cmd_down() {
	check_names
	local removed=0 ns
	# Deleting the namespace alone would leave the veth alive while any process still holds it.
	if link_exists "$NS_SRV" "$VETH_SRV"; then
		run "removing veth $VETH_SRV in $NS_SRV" ip -n "$NS_SRV" link del dev "$VETH_SRV"
		removed=1
	fi
	for ns in "$NS_SRV" "$NS_CLI"; do
		if ns_exists "$ns"; then
			run "removing namespace $ns" ip netns del "$ns"
			removed=1
		fi
	done
	if ((removed)); then echo "down: removed $NS_SRV and $NS_CLI"; else echo "down: nothing to remove"; fi
}

# Tests that the link passes traffic with nothing but bash and iproute2: a TCP
# connect from the client namespace to a port nobody listens on at the server's
# address. A working link answers at once, with a reset ("Connection refused")
# or, should something listen there, a connection; a link that drops packets
# answers nothing, and the connect is cut off after PROBE_SECONDS. ping is not
# needed (minimal machines lack it). Prints one "traffic:" line; fails when the
# link did not answer or could not be tested.
PROBE_PORT=9
PROBE_SECONDS=2
probe_traffic() {
	local err rc=0 target="$NS_CLI -> $ADDR_SRV, TCP port $PROBE_PORT"
	# LC_ALL=C: the error text is matched below, so it must not be translated.
	# shellcheck disable=SC2016 # $1 and $2 expand in the inner bash, on purpose
	err=$(LC_ALL=C timeout "$PROBE_SECONDS" ip netns exec "$NS_CLI" \
		bash -c 'exec 3<>"/dev/tcp/$1/$2"' probe "$ADDR_SRV" "$PROBE_PORT" 2>&1) || rc=$?
	if ((rc == 0)); then
		echo "traffic: ok ($target: connected)"
	elif [[ $err == *"Connection refused"* ]]; then
		echo "traffic: ok ($target: answered with a reset)"
	elif ((rc == 124)); then
		echo "traffic: FAILED ($target: no answer within ${PROBE_SECONDS} s)"
		return 1
	elif [[ $err == *"/dev/tcp"*"No such file"* ]]; then
		echo "traffic: NOT TESTED (this bash was built without /dev/tcp)"
		return 1
	else
		echo "traffic: FAILED ($target: ${err//$'\n'/ })"
		return 1
	fi
}

cmd_status() {
	check_names
	check_addrs
	local ok=1 ns dev addr side line
	for ns in "$NS_SRV" "$NS_CLI"; do
		if ns_exists "$ns"; then echo "namespace $ns: present"; else
			echo "namespace $ns: missing"
			ok=0
		fi
	done
	for side in srv cli; do
		if [[ $side == srv ]]; then ns=$NS_SRV dev=$VETH_SRV addr=$ADDR_SRV; else ns=$NS_CLI dev=$VETH_CLI addr=$ADDR_CLI; fi
		if ! link_exists "$ns" "$dev"; then
			echo "veth $dev in $ns: missing"
			ok=0
			continue
		fi
		line=$(ip -n "$ns" -o link show dev "$dev")
		local state=down mtu=unknown have_addr=no
		[[ $line =~ \<([^\>]*)\> && ,${BASH_REMATCH[1]}, == *,UP,*LOWER_UP,* ]] && state=up
		[[ $line =~ \ mtu\ ([0-9]+) ]] && mtu=${BASH_REMATCH[1]}
		ip -n "$ns" -o -4 addr show dev "$dev" | grep -qF " inet $addr/$PREFIX " && have_addr=yes
		echo "veth $dev in $ns: $state, mtu $mtu, $addr/$PREFIX: $have_addr"
		[[ $state == up && $have_addr == yes ]] || ok=0
	done
	if ((ok)); then
		probe_traffic || ok=0
	fi
	if ((ok)); then
		echo "status: up"
	else
		echo "status: not up (run 'sudo ./$PROG up')"
		exit 3
	fi
}

[[ $# -eq 1 ]] || usage
case $1 in
up | down | status) ;;
*) usage ;;
esac
preflight "$1"
"cmd_$1"
