#!/bin/bash
# 111-afpacket-veth: a namespace on a tap port and one behind a veth pair
# attached with type=afpacket; and the same namespaces over a Linux bridge
# for reference. See tests/lib/veth-port.sh.
KTYPE=afpacket REFERENCE=1
. "$(dirname "$0")/../lib/veth-port.sh"
