#!/bin/bash
# 085-docs-drift: the man pages, the help texts and the bash completion
# against the tables the code uses, so that none of them can lag:
#  - every vifctl command and its options (vifctl --list-commands, the
#    command table) is in vifctl --help, in vifctl help CMD, in vifctl(8)
#    and completed by contrib/bash-completion/vifctl;
#  - every key=value argument and its listed values (vifctl --list-keys:
#    the key tables, port_keys.h's PORT_POLICY_KEYS included) is in vifctl
#    help CMD, in vifctl(8), and completed (values alone when '=' breaks
#    words, as by default: no "type=type="; key=value when it does not);
#  - every vifd option of vifd --help is in vifd(8);
#  - every metric family vifd serves, and every drop reason, is in vifd(8).
# A command, key, option or metric added without its documentation fails
# here, whoever adds it.
. "$(dirname "$0")/../lib/common.sh"

SRC=$(cd "$(dirname "$0")/../.." && pwd)
MAN_CTL=$SRC/docs/man/vifctl.8
MAN_VIFD=$SRC/docs/man/vifd.8
COMPL=$SRC/contrib/bash-completion/vifctl
# The completion runs "vifctl": this build's.
mkdir "$T/bin"
ln -s "$VIFCTL" "$T/bin/vifctl"
ERRS=0
bad() { echo "[$TEST_NAME] DRIFT: $*" >&2; ERRS=$((ERRS + 1)); }
# (Builtins only below, no process per check: forks are slow on a busy
# machine.) has TEXT STRING; has_line TEXT LINE.
has() { [[ $1 == *"$2"* ]]; }
has_line() { [[ $'\n'$1$'\n' == *$'\n'"$2"$'\n'* ]]; }
CTL8=$(<"$MAN_CTL")
VIFD8=$(<"$MAN_VIFD")
# in_man TEXT WORD: WORD in a man page's source, where roff spells '-' '\-'
in_man() { has "$1" "${2//-/\\-}"; }
# complete LINE [n]: what the completion offers for LINE, one per line;
# with n, '=' does not break words (bash's default COMP_WORDBREAKS has it).
# The checks run twice: the first pass only collects the lines, which one
# bash then completes in a batch (a bash and vifctl per line is slow under
# the sanitizers), the second pass checks the answers.
cat >"$T/complete.sh" <<'EOF'
source "$1"
DEFAULT_BREAKS=$COMP_WORDBREAKS
while IFS=$'\t' read -r mode line; do
	COMP_LINE=$line
	COMP_POINT=${#COMP_LINE}
	COMP_WORDBREAKS=$DEFAULT_BREAKS
	[ "$mode" = n ] && COMP_WORDBREAKS=$' \t\n'
	COMPREPLY=()
	_vifctl
	printf 'Q\t%s\t%s\n' "$mode" "$line"
	for r in "${COMPREPLY[@]}"; do printf 'R\t%s\n' "$r"; done
done
EOF
PASS=collect
declare -A ANSWER
# complete_line VAR LINE [n]: sets VAR.
complete_line() {
	local q
	printf -v q '%s\t%s' "${3:-d}" "$2"
	if [ "$PASS" = collect ]; then
		printf '%s\n' "$q" >>"$T/queries"
		printf -v "$1" '%s' ""
	else
		printf -v "$1" '%s' "${ANSWER[$q]-UNASKED}"
	fi
}
offers() { has_line "$1" "$2"; }

check_vifctl() {
	local cmd opts o key values v CH TOP OC WC KC VC VK
	declare -A CHELP
	CMDS=$("$VIFCTL" --list-commands)
	KEYS=$("$VIFCTL" --list-keys)
	[ "$(wc -l <<<"$CMDS")" -ge 10 ] || fail "vifctl --list-commands: $CMDS"
	[ "$(wc -l <<<"$KEYS")" -ge 20 ] || fail "vifctl --list-keys: $KEYS"
	HELP=$("$VIFCTL" --help)
	complete_line TOP "vifctl "
	ncmd=0
	while read -r cmd opts; do
		ncmd=$((ncmd + 1))
		has "$HELP" $'\n'"  $cmd " || has_line "$HELP" "  $cmd" || bad "vifctl --help lacks $cmd"
		CHELP[$cmd]=$("$VIFCTL" help "$cmd") || bad "vifctl help $cmd failed"
		CH=${CHELP[$cmd]}
		# a .TP item of COMMANDS starts with the command
		o=${cmd//-/\\-}
		has "$CTL8" $'\n'".B $o"$'\n' || has "$CTL8" $'\n'".B $o " ||
			has "$CTL8" $'\n'".BI \"$o " || has "$CTL8" $'\n'".BR \"$o " ||
			has "$CTL8" $'\n'".BR $o " || bad "vifctl.8 has no item for $cmd"
		offers "$TOP" "$cmd" || bad "completion does not offer command $cmd"
		complete_line OC "vifctl $cmd -"
		for o in $opts; do
			has "$CH" "$o" || bad "vifctl help $cmd lacks $o"
			in_man "$CTL8" "$o" || bad "vifctl.8 lacks $cmd's $o"
			offers "$OC" "$o" || bad "completion does not offer $cmd $o"
		done
	done <<<"$CMDS"

	nkey=0
	while read -r cmd key values; do
		if [ "$key" = - ]; then
			# fixed words of a positional argument: the first, or the
			# one after a port (trace PORT arp, capture PORT rx)
			complete_line WC "vifctl $cmd "
			complete_line WC1 "vifctl $cmd x "
			for v in $values; do
				in_man "$CTL8" "$v" || bad "vifctl.8 lacks $cmd's $v"
				offers "$WC" "$v" || offers "$WC1" "$v" || bad "completion does not offer $cmd $v"
			done
			continue
		fi
		nkey=$((nkey + 1))
		# add-port's help sends the policy keys to set-port's
		has "${CHELP[$cmd]}" "$key" ||
			{ [ "$cmd" = add-port ] && has "${CHELP[set-port]}" "$key"; } ||
			bad "vifctl help $cmd lacks $key"
		in_man "$CTL8" "$key" || bad "vifctl.8 lacks $cmd's $key"
		# two words in place of the positional arguments, then the key's start
		complete_line KC "vifctl $cmd x y ${key%=}"
		offers "$KC" "$key" || bad "completion does not offer $cmd $key"
		[ -n "$values" ] || continue
		complete_line VC "vifctl $cmd x y $key"
		complete_line VK "vifctl $cmd x y $key" n
		for v in $values; do
			in_man "$CTL8" "$v" || bad "vifctl.8 lacks $cmd $key$v"
			offers "$VC" "$v" || bad "completion of \"$key\" does not offer $v (offers: $VC)"
			offers "$VK" "$key$v" || bad "completion of \"$key\" without '=' breaks does not offer $key$v"
		done
	done <<<"$KEYS"
	[ "$PASS" = collect ] || log "vifctl: $ncmd commands, $nkey keys checked"
}

check_vifctl 2>/dev/null
PATH="$T/bin:$PATH" bash "$T/complete.sh" "$COMPL" <"$T/queries" >"$T/answers" ||
	fail "the completion failed"
q=
while IFS=$'\t' read -r kind a b; do
	if [ "$kind" = Q ]; then
		printf -v q '%s\t%s' "$a" "$b"
		ANSWER[$q]=
	else
		ANSWER[$q]+="$a"$'\n'
	fi
done <"$T/answers"
PASS=check
ERRS=0
check_vifctl

# vifd's options
VH=$("$VIFD" --help)
nopt=0
for o in $(grep -oE -- '(^|[ ,])--?[a-zA-Z][a-zA-Z-]*' <<<"$VH" | tr -d ' ,' | sort -u); do
	nopt=$((nopt + 1))
	in_man "$VIFD8" "$o" || bad "vifd.8 lacks vifd $o"
done
[ "$nopt" -ge 10 ] || fail "found only $nopt options in vifd --help: $VH"
log "vifd: $nopt options checked"

# metrics: every family and drop reason a vifd with a port serves
MPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_vifd --metrics-port "$MPORT"
vctl add-port br0 p1 type=vhostuser path="$T/p1.sock"
M=$(python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())' \
	"http://127.0.0.1:$MPORT/metrics")
nmet=0
for f in $(awk '$1 == "#" && $2 == "TYPE" {print $3}' <<<"$M"); do
	nmet=$((nmet + 1))
	has "$VIFD8" "$f" || bad "vifd.8 lacks metric $f"
done
for r in $(grep -oE 'reason="[a-z_]+"' <<<"$M" | sort -u | sed 's/reason="\(.*\)"/\1/'); do
	grep -E "(^|[ ,])$r([ ,.)]|\$)" "$MAN_VIFD" >/dev/null || bad "vifd.8 lacks drop reason $r"
done
[ "$nmet" -ge 20 ] || fail "found only $nmet metric families"
log "metrics: $nmet families checked"

[ "$ERRS" = 0 ] || fail "$ERRS places where docs or completion drifted from the code"
log "PASS"
