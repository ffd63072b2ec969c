# gen.sh - sourced by bench/run.sh and bench/ab.sh: the traffic generator
# both drive, so that their figures come from the same one. DPDK testpmd
# with 2 virtio-user ports in mac forwarding (a closed loop once seeded with
# `start tx_first`), both lcores on one CPU, no hugepages.
#
# gen_args CPU SOCK1 SOCK2 SIZE PREFIX [server]: sets GEN_ARGS to its
# command line (SIZE counts the FCS: the buffers carry SIZE - 4 bytes).
gen_args() {
	local srv=${6:+,server=1}
	GEN_ARGS=(dpdk-testpmd --lcores "0@$1,1@$1" --no-huge -m 512 --no-pci
		--file-prefix="$5" --log-level=user1,info
		--vdev "net_virtio_user0,path=$2,mac=02:00:00:00:00:01,queue_size=1024$srv"
		--vdev "net_virtio_user1,path=$3,mac=02:00:00:00:00:02,queue_size=1024$srv"
		-- -i --forward-mode=mac --eth-peer=0,02:00:00:00:00:02 --eth-peer=1,02:00:00:00:00:01
		--nb-cores=1 --total-num-mbufs=16384 --rxd=1024 --txd=1024 --burst=32
		--txpkts=$(($4 - 4)) --record-core-cycles --no-flush-rx)
}
