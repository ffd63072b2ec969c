#!/bin/bash
# 112-afxdp-veth: a namespace on a tap port and one behind a veth pair
# attached with type=afxdp (native XDP on veth, copy mode). See
# tests/lib/veth-port.sh.
KTYPE=afxdp REFERENCE=0
. "$(dirname "$0")/../lib/veth-port.sh"
