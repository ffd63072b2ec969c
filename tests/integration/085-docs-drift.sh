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
# roff spells '-' as '\-'
roff() { sed 's/-/\\-/g' <<<"$1"; }
in_man() { grep -F -- "$(roff "$2")" "$1" >/dev/null; }
# complete LINE [WORDBREAKS]: what the completion offers, one per line
# (WORDBREAKS default: bash's).
cat >"$T/complete.sh" <<'EOF'
source "$1"
COMP_LINE=$2
COMP_POINT=${#COMP_LINE}
COMP_WORDBREAKS=${3:-$' \t\n"\'><=;|&(:'}
_vifctl
printf '%s\n' "${COMPREPLY[@]}"
EOF
complete_line() { PATH="$T/bin:$PATH" bash "$T/complete.sh" "$COMPL" "$@"; }
offers() { grep -Fx -- "$2" <<<"$1" >/dev/null; }

CMDS=$("$VIFCTL" --list-commands)
KEYS=$("$VIFCTL" --list-keys)
[ "$(wc -l <<<"$CMDS")" -ge 10 ] || fail "vifctl --list-commands: $CMDS"
[ "$(wc -l <<<"$KEYS")" -ge 20 ] || fail "vifctl --list-keys: $KEYS"
HELP=$("$VIFCTL" --help)
TOP=$(complete_line "vifctl ")
ncmd=0
while read -r cmd opts; do
	ncmd=$((ncmd + 1))
	grep -E "^  $cmd( |\$)" <<<"$HELP" >/dev/null || bad "vifctl --help lacks $cmd"
	CH=$("$VIFCTL" help "$cmd") || bad "vifctl help $cmd failed"
	# a .TP item of COMMANDS starts with the command
	grep -E "^\.B[IR]? +\"?$(roff "$cmd" | sed 's/\\/\\\\/g')( |\"|\$)" "$MAN_CTL" >/dev/null ||
		bad "vifctl.8 has no item for $cmd"
	offers "$TOP" "$cmd" || bad "completion does not offer command $cmd"
	OC=$(complete_line "vifctl $cmd -")
	for o in $opts; do
		grep -F -- "$o" <<<"$CH" >/dev/null || bad "vifctl help $cmd lacks $o"
		in_man "$MAN_CTL" "$o" || bad "vifctl.8 lacks $cmd's $o"
		offers "$OC" "$o" || bad "completion does not offer $cmd $o"
	done
done <<<"$CMDS"

nkey=0
SETHELP=$("$VIFCTL" help set-port)
while read -r cmd key values; do
	if [ "$key" = - ]; then
		# fixed words of a positional argument
		WC=$(complete_line "vifctl $cmd ")
		for v in $values; do
			in_man "$MAN_CTL" "$v" || bad "vifctl.8 lacks $cmd's $v"
			offers "$WC" "$v" || bad "completion does not offer $cmd $v"
		done
		continue
	fi
	nkey=$((nkey + 1))
	CH=$("$VIFCTL" help "$cmd")
	grep -F -- "$key" <<<"$CH" >/dev/null ||
		{ [ "$cmd" = add-port ] && grep -F -- "$key" <<<"$SETHELP" >/dev/null; } ||
		bad "vifctl help $cmd lacks $key"
	in_man "$MAN_CTL" "$key" || bad "vifctl.8 lacks $cmd's $key"
	# two words in place of the positional arguments, then the key's start
	offers "$(complete_line "vifctl $cmd x y ${key%=}")" "$key" ||
		bad "completion does not offer $cmd $key"
	[ -n "$values" ] || continue
	VC=$(complete_line "vifctl $cmd x y $key")
	VK=$(complete_line "vifctl $cmd x y $key" $' \t\n')
	for v in $values; do
		in_man "$MAN_CTL" "$v" || bad "vifctl.8 lacks $cmd $key$v"
		offers "$VC" "$v" || bad "completion of \"$key\" does not offer $v (offers: $VC)"
		offers "$VK" "$key$v" || bad "completion of \"$key\" without '=' breaks does not offer $key$v"
	done
done <<<"$KEYS"
log "vifctl: $ncmd commands, $nkey keys checked"

# vifd's options
VH=$("$VIFD" --help)
nopt=0
for o in $(grep -oE -- '(^|[ ,])--?[a-zA-Z][a-zA-Z-]*' <<<"$VH" | tr -d ' ,' | sort -u); do
	nopt=$((nopt + 1))
	in_man "$MAN_VIFD" "$o" || bad "vifd.8 lacks vifd $o"
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
	grep -F -- "$f" "$MAN_VIFD" >/dev/null || bad "vifd.8 lacks metric $f"
done
for r in $(grep -oE 'reason="[a-z_]+"' <<<"$M" | sort -u | sed 's/reason="\(.*\)"/\1/'); do
	grep -E "(^|[ ,])$r([ ,.)]|\$)" "$MAN_VIFD" >/dev/null || bad "vifd.8 lacks drop reason $r"
done
[ "$nmet" -ge 20 ] || fail "found only $nmet metric families"
log "metrics: $nmet families checked"

[ "$ERRS" = 0 ] || fail "$ERRS places where docs or completion drifted from the code"
log "PASS"
