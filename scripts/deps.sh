#!/bin/sh
# deps.sh - installs what vifd needs to build, run its demo and run its whole
# test suite on Debian 12 (as root). Idempotent: installs only what is missing.
set -eu
pkgs="build-essential meson ninja-build pkg-config clang libclang-rt-14-dev linux-libc-dev
libxdp-dev libbpf-dev libmnl-dev frr
systemd passwd util-linux
libjansson-dev libpcap-dev tcpdump python3 jq iproute2 procps ethtool
dpdk-dev librte-net-virtio23 librte-net-vhost23 librte-mempool-ring23
qemu-system-x86 iperf3 busybox-static cpio kmod gzip
libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
dpdk openvswitch-switch-dpdk gnuplot-nox linux-perf valgrind"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep "install ok installed" >/dev/null || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "deps: installing$missing"
	if [ "$(id -u)" != 0 ]; then
		echo "deps: need root for apt-get (run as root)" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# No package's maintainer script may start a system service (Open
	# vSwitch's would start the system's ovs-vswitchd): bench/run.sh runs
	# its own private instance. Keep an existing policy-rc.d as it is.
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		trap 'rm -f /usr/sbin/policy-rc.d' EXIT
	fi
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing
fi
# libvirt without libvirt-daemon-system (which would add a default network,
# its dnsmasq and services): the guest suite starts its own libvirtd. QEMU
# under libvirt runs as libvirt-qemu; create that user the way
# libvirt-daemon-system does (group libvirt-qemu, in group kvm).
if ! getent passwd libvirt-qemu >/dev/null; then
	getent group kvm >/dev/null || groupadd --system kvm
	getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
	useradd --system --gid kvm --groups libvirt-qemu --home-dir /var/lib/libvirt \
		--no-create-home --shell /usr/sbin/nologin --comment "Libvirt Qemu" libvirt-qemu
fi
