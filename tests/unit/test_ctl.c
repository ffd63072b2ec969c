/* test_ctl.c - the control socket (src/ctl): ctl_rpc_handle() driven line
 * by line from a table, invalid input first (malformed JSON, non-objects,
 * bad envelopes, wrong id types, oversized lines, bad params), then every
 * method against a real datapath with one worker; then allocation failures
 * and a full output buffer; then the socket itself (stale, live and
 * non-socket paths, mode 0660, a request over the wire, an oversized line,
 * a half-closed peer) through evloop_run_once. Everything lives in a fresh
 * temporary directory. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "check.h"
#include "ctl.h"
#include "ctl_rpc.h"
#include "ctl_stats.h"
#include "util.h"
#include "xalloc.h"

static char dir[64];          /* the temporary directory */
static struct evloop *ev;
static struct dp *dp;
static struct ctl_rpc rpc;

/* One request line and what must come back. In line, "@D@" stands for the
 * temporary directory and "@LONG@" for a 200-byte path component. */
struct rpc_case {
	const char *line;
	int rc;            /* ctl_rpc_handle()'s return */
	int code;          /* error code; 0: a result is expected */
	const char *id;    /* the reply's id as compact JSON; NULL: not checked */
	const char *has;   /* a substring of the reply line, or NULL */
};

#define REQ(method, params) "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"" method "\"" \
	",\"params\":" params "}"
#define APP(e) (CTL_ERR_APP_BASE - (e))

static const struct rpc_case invalid_cases[] = {
	/* not JSON */
	{ "{bad", 1, CTL_ERR_PARSE, "null", "parse error" },
	{ "{\"jsonrpc\":\"2.0\"", 1, CTL_ERR_PARSE, "null", NULL },
	{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"show\"} trailing", 1, CTL_ERR_PARSE, "null", NULL },
	{ "\xff\xfe", 1, CTL_ERR_PARSE, "null", NULL },
	{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"del-port\",\"params\":{\"name\":\"a\\u0000\"}}",
	  1, CTL_ERR_PARSE, "null", NULL },
	{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":\"show\"}", 1, CTL_ERR_PARSE, "null",
	  "duplicate" },
	/* not a request object */
	{ "42", 1, CTL_ERR_INVALID_REQUEST, "null", NULL },
	{ "\"show\"", 1, CTL_ERR_INVALID_REQUEST, "null", NULL },
	{ "null", 1, CTL_ERR_INVALID_REQUEST, "null", NULL },
	{ "true", 1, CTL_ERR_INVALID_REQUEST, "null", NULL },
	{ "[]", 1, CTL_ERR_INVALID_REQUEST, "null", "batch" },
	{ "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"show\"}]", 1, CTL_ERR_INVALID_REQUEST, "null",
	  "batch" },
	{ "{}", 1, CTL_ERR_INVALID_REQUEST, "null", NULL },
	/* envelope */
	{ "{\"id\":1,\"method\":\"show\"}", 1, CTL_ERR_INVALID_REQUEST, "1", "jsonrpc" },
	{ "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"show\"}", 1, CTL_ERR_INVALID_REQUEST, "1", NULL },
	{ "{\"jsonrpc\":2.0,\"id\":1,\"method\":\"show\"}", 1, CTL_ERR_INVALID_REQUEST, "1", NULL },
	{ "{\"jsonrpc\":\"2.0\",\"id\":1}", 1, CTL_ERR_INVALID_REQUEST, "1", "missing \\\"method" },
	{ "{\"jsonrpc\":\"2.0\",\"method\":1}", 1, CTL_ERR_INVALID_REQUEST, "null", NULL },
	{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":null}", 1, CTL_ERR_INVALID_REQUEST, "1", NULL },
	{ "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"show\",\"param\":{}}", 1,
	  CTL_ERR_INVALID_REQUEST, "1", "unknown member" },
	/* wrong id types: the reply's id is null */
	{ "{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"show\"}", 1, CTL_ERR_INVALID_REQUEST, "null", "id" },
	{ "{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"show\"}", 1, CTL_ERR_INVALID_REQUEST, "null", NULL },
	{ "{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"show\"}", 1, CTL_ERR_INVALID_REQUEST, "null", NULL },
	{ "{\"jsonrpc\":\"2.0\",\"id\":false,\"method\":\"bogus\"}", 1, CTL_ERR_INVALID_REQUEST, "null", NULL },
	/* methods and params */
	{ REQ("bogus", "{}"), 1, CTL_ERR_NO_METHOD, "1", "bogus" },
	{ REQ("", "{}"), 1, CTL_ERR_NO_METHOD, "1", NULL },
	/* a notification's errors are silent, unless it is no request at all */
	{ "{\"jsonrpc\":\"2.0\",\"method\":\"bogus\"}", 0, 0, NULL, NULL },
	{ "{\"jsonrpc\":\"2.0\",\"method\":\"show\",\"params\":[]}", 0, 0, NULL, NULL },
	{ "{\"jsonrpc\":\"2.0\",\"method\":\"del-port\",\"params\":{}}", 0, 0, NULL, NULL },
	{ "{\"jsonrpc\":\"2.0\",\"method\":\"show\",\"params\":1}", 1, CTL_ERR_INVALID_REQUEST,
	  "null", NULL },
	{ REQ("show", "[]"), 1, CTL_ERR_INVALID_PARAMS, "1", "by name" },
	{ REQ("show", "\"x\""), 1, CTL_ERR_INVALID_REQUEST, "1", NULL },
	{ REQ("show", "{\"x\":1}"), 1, CTL_ERR_INVALID_PARAMS, "1", "unknown parameter" },
	{ REQ("del-port", "{}"), 1, CTL_ERR_INVALID_PARAMS, "1", "missing parameter" },
	{ REQ("del-port", "{\"name\":1}"), 1, CTL_ERR_INVALID_PARAMS, "1", "must be a string" },
	{ REQ("del-port", "{\"name\":null}"), 1, CTL_ERR_INVALID_PARAMS, "1", NULL },
	{ REQ("stats", "{\"name\":[]}"), 1, CTL_ERR_INVALID_PARAMS, "1", NULL },
	{ REQ("add-bridge", "{}"), 1, CTL_ERR_INVALID_PARAMS, "1", NULL },
	/* add-port values */
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"a\",\"type\":\"vhostuser\"}"), 1,
	  CTL_ERR_INVALID_PARAMS, "1", "path" },
	{ REQ("add-port", "{\"bridge\":\"br1\",\"name\":\"a\",\"type\":\"vhostuser\",\"path\":\"@D@/a\"}"),
	  1, APP(ENOENT), "1", "br1" },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"a\",\"type\":\"foo\",\"path\":\"@D@/a\"}"),
	  1, CTL_ERR_INVALID_PARAMS, "1", "unknown port type" },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"a\",\"type\":\"vxlan\",\"path\":\"@D@/a\"}"),
	  1, CTL_ERR_INVALID_PARAMS, "1", "are for vhostuser ports, not vxlan" },
	/* vxlan: its keys (the addresses are the driver's to check) */
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"a\",\"type\":\"vxlan\",\"local\":\"10.0.0.1\"}"),
	  1, CTL_ERR_INVALID_PARAMS, "1", "needs vni=0..16777215" },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"a\",\"type\":\"vxlan\",\"vni\":16777216,\"local\":\"10.0.0.1\"}"),
	  1, CTL_ERR_INVALID_PARAMS, "1", "needs vni=0..16777215" },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"a\",\"type\":\"vxlan\",\"vni\":5}"),
	  1, CTL_ERR_INVALID_PARAMS, "1", "needs local=" },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"a\",\"type\":\"vxlan\",\"vni\":5,\"local\":\"10.0.0.1\",\"dstport\":0}"),
	  1, CTL_ERR_INVALID_PARAMS, "1", "dstport must be 1..65535" },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"a\",\"type\":\"vxlan\",\"vni\":5,\"local\":\"10.0.0.1\",\"dev\":\"eth0\"}"),
	  1, CTL_ERR_INVALID_PARAMS, "1", "takes no ifname= or dev=" },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"a\",\"type\":\"vxlan\",\"vni\":5,\"local\":\"10.0.0.1\",\"netns\":\"../x\"}"),
	  1, CTL_ERR_INVALID_PARAMS, "1", "invalid network namespace name" },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"a\",\"type\":\"vxlan\",\"vni\":5,\"local\":\"10.0.0.1\",\"evpn\":\"yes\"}"),
	  1, CTL_ERR_INVALID_PARAMS, "1", "evpn must be on or off" },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"a\",\"type\":\"afpacket\",\"dev\":\"x\",\"evpn\":\"on\"}"),
	  1, CTL_ERR_INVALID_PARAMS, "1", "are for vxlan ports" },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"a\",\"type\":\"tap\",\"vni\":5}"),
	  1, CTL_ERR_INVALID_PARAMS, "1", "are for vxlan ports" },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"a\",\"type\":\"vhostuser\",\"path\":\"@D@/a\",\"remote\":\"10.0.0.2\"}"),
	  1, CTL_ERR_INVALID_PARAMS, "1", "are for vxlan ports" },
	/* kernel ports: each type's keys (nothing here reaches the kernel) */
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"a\",\"type\":\"tap\",\"path\":\"@D@/a\"}"),
	  1, CTL_ERR_INVALID_PARAMS, "1", "for vhostuser ports" },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"a\",\"type\":\"tap\",\"dev\":\"eth0\"}"),
	  1, CTL_ERR_INVALID_PARAMS, "1", "not dev=" },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"a\",\"type\":\"tap\",\"ifname\":\"a/b\"}"),
	  1, CTL_ERR_INVALID_PARAMS, "1", "invalid interface name" },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"a234567890123456\",\"type\":\"tap\"}"),
	  1, CTL_ERR_INVALID_PARAMS, "1", "give ifname=" },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"a\",\"type\":\"tap\",\"netns\":\"../x\"}"),
	  1, CTL_ERR_INVALID_PARAMS, "1", "invalid network namespace" },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"a\",\"type\":\"tap\",\"queues\":9}"),
	  1, CTL_ERR_INVALID_PARAMS, "1", "queues" },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"a\",\"type\":\"afpacket\"}"),
	  1, CTL_ERR_INVALID_PARAMS, "1", "needs dev=" },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"a\",\"type\":\"afpacket\",\"dev\":\"x\",\"netns\":\"n\"}"),
	  1, CTL_ERR_INVALID_PARAMS, "1", "not ifname= or netns=" },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"a\",\"type\":\"afpacket\",\"dev\":\"\"}"),
	  1, CTL_ERR_INVALID_PARAMS, "1", "invalid interface name" },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"a\",\"type\":\"vhostuser\",\"path\":\"@D@/a\",\"ifname\":\"x\"}"),
	  1, CTL_ERR_INVALID_PARAMS, "1", "for tap, afpacket and afxdp" },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"\",\"type\":\"vhostuser\",\"path\":\"@D@/a\"}"),
	  1, CTL_ERR_INVALID_PARAMS, "1", "invalid port name" },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"-a\",\"type\":\"vhostuser\",\"path\":\"@D@/a\"}"),
	  1, CTL_ERR_INVALID_PARAMS, "1", NULL },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"a b\",\"type\":\"vhostuser\",\"path\":\"@D@/a\"}"),
	  1, CTL_ERR_INVALID_PARAMS, "1", NULL },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"a23456789012345678901234567890123\","
	      "\"type\":\"vhostuser\",\"path\":\"@D@/a\"}"), 1, CTL_ERR_INVALID_PARAMS, "1", NULL },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"a\",\"type\":\"vhostuser\",\"path\":\"@D@/a\","
	      "\"mode\":\"both\"}"), 1, CTL_ERR_INVALID_PARAMS, "1", "mode" },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"a\",\"type\":\"vhostuser\",\"path\":\"@D@/a\","
	      "\"queues\":0}"), 1, CTL_ERR_INVALID_PARAMS, "1", "queues" },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"a\",\"type\":\"vhostuser\",\"path\":\"@D@/a\","
	      "\"queues\":9}"), 1, CTL_ERR_INVALID_PARAMS, "1", "queues" },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"a\",\"type\":\"vhostuser\",\"path\":\"@D@/a\","
	      "\"queues\":1.5}"), 1, CTL_ERR_INVALID_PARAMS, "1", "integer" },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"a\",\"type\":\"vhostuser\",\"path\":\"rel\"}"),
	  1, CTL_ERR_INVALID_PARAMS, "1", "absolute" },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"a\",\"type\":\"vhostuser\",\"path\":\"@D@/@LONG@\"}"),
	  1, CTL_ERR_INVALID_PARAMS, "1", "longer" },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"a\",\"type\":\"vhostuser\",\"path\":\"@D@/file\"}"),
	  1, APP(EEXIST), "1", "not a socket" },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"a\",\"type\":\"vhostuser\",\"path\":\"@D@/live\"}"),
	  1, APP(EADDRINUSE), "1", "mode=client" },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"a\",\"type\":\"vhostuser\",\"path\":\"@D@/ctl\","
	      "\"mode\":\"client\"}"), 1, APP(EADDRINUSE), "1", "control socket" },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"a\",\"type\":\"vhostuser\","
	      "\"path\":\"@D@/nodir/a\"}"), 1, APP(ENOENT), "1", "cannot add port" },
	/* blank lines are not requests */
	{ "", 0, 0, NULL, NULL },
	{ "  \t\r", 0, 0, NULL, NULL },
};

/* Run in order: each may depend on the state the previous ones left. */
static const struct rpc_case method_cases[] = {
	{ REQ("version", "{}"), 1, 0, "1", "\"name\":\"vifd\"" },
	{ "{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"method\":\"version\"}", 1, 0, "\"abc\"", NULL },
	{ "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"version\"}", 1, 0, "null", NULL },
	{ "{\"jsonrpc\":\"2.0\",\"id\":-7,\"method\":\"version\"}\r", 1, 0, "-7", NULL },
	{ REQ("show", "{}"), 1, 0, "1", "{\"bridges\":[{\"name\":\"br0\",\"unknown_unicast\":\"flood\",\"mac_aging\":300,"
	  "\"placement\":\"spread\",\"rebalance\":\"off\",\"rebalance_threshold\":25,"
	  "\"rebalance_improvement\":10,\"rebalance_interval\":1000,\"busy_poll\":0,\"ports\":[]}]}" },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"vm1\",\"type\":\"vhostuser\",\"path\":\"@D@/vm1\"}"),
	  1, 0, "1", "\"result\":{}" },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"vm2\",\"type\":\"vhostuser\",\"path\":\"@D@/vm2\","
	      "\"mode\":\"client\",\"queues\":4}"), 1, 0, "1", NULL },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"vm1\",\"type\":\"vhostuser\",\"path\":\"@D@/x\"}"),
	  1, APP(EEXIST), "1", "already exists" },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"vm3\",\"type\":\"vhostuser\",\"path\":\"@D@/vm1\"}"),
	  1, APP(EADDRINUSE), "1", "used by port vm1" },
	{ REQ("show", "{}"), 1, 0, "1",
	  "{\"name\":\"vm1\",\"type\":\"vhostuser\",\"path\":\"@D@/vm1\",\"mode\":\"server\","
	  "\"connected\":false,\"broken\":false,\"queue_pairs\":1,\"active_pairs\":1,"
	  "\"live_rx\":0,\"live_tx\":0,\"promisc\":false,\"allmulti\":false,"
	  "\"features\":\"0x0\",\"offloads_rx\":[],\"offloads_tx\":[],\"mtu\":0,\"policy\":{\"tag\":0,\"native\":0,\"trunks\":\"\","
	  "\"isolated\":false,\"mac\":\"none\",\"ip\":\"\",\"mac_limit\":0,"
	  "\"ingress\":{},\"egress\":{},\"overhead\":0,\"weight\":1,\"worker\":\"auto\","
	  "\"worker_group\":\"none\",\"rx_frames\":0,\"rx_usecs\":0,\"adaptive_rx\":\"off\"},\"auto_mac\":\"\",\"ifname\":\"\",\"netns\":\"\",\"mem_bytes\":0,\"sock_owner\":" },
	{ REQ("show", "{}"), 1, 0, "1", "\"name\":\"vm2\",\"type\":\"vhostuser\",\"path\":\"@D@/vm2\","
	  "\"mode\":\"client\"" },
	{ REQ("stats", "{}"), 1, 0, "1",
	  "{\"ports\":[{\"name\":\"vm1\",\"rx_pkts\":0,\"rx_bytes\":0,\"tx_pkts\":0,\"tx_bytes\":0,"
	  "\"drops\":{\"invalid\":0,\"no_room\":0,\"down\":0,\"hairpin\":0,\"vlan\":0,\"spoof\":0,\"isolation\":0,\"unknown_dst\":0,\"mac_limit\":0,\"offload\":0,\"egress_limit\":0,\"congested\":0,\"too_big\":0,\"vxlan_bad\":0,\"vxlan_unknown_vni\":0,\"vxlan_unknown_remote\":0,\"vxlan_too_big\":0,\"vxlan_send_failed\":0},\"rx_gso\":0,\"tx_gso\":0,\"tx_segmented\":0,\"ingress_held\":0,\"share_held\":0,\"tx_calls\":0,\"ring_errors\":0,\"guest_stops\":0,\"msg_errors\":0,\"connects\":0,\"close_stuck\":0,\"inflight_resubmitted\":0,\"vxlan_encap\":0,\"vxlan_decap\":0,\"vxlan_coalesced\":0},"
	  "{\"name\":\"vm2\"" },
	{ REQ("stats", "{\"name\":\"vm2\"}"), 1, 0, "1", "{\"ports\":[{\"name\":\"vm2\"," },
	/* Rate limits in tc's units; show gives them back as numbers. */
	{ REQ("set-port", "{\"name\":\"vm1\",\"ingress_rate\":\"100mbit\",\"egress_pps\":\"20k\","
	      "\"weight\":3,\"overhead\":24}"), 1, 0, "1", "\"result\":{}" },
	{ REQ("show", "{}"), 1, 0, "1", "\"ingress\":{\"rate\":100000000,\"burst\":250000},"
	  "\"egress\":{\"pps\":20000,\"pps_burst\":400},\"overhead\":24,\"weight\":3," },
	{ REQ("set-port", "{\"name\":\"vm1\",\"ingress_rate\":\"0\",\"egress_pps\":\"0\"}"),
	  1, 0, "1", "\"result\":{}" },
	{ REQ("show", "{}"), 1, 0, "1", "\"ingress\":{},\"egress\":{},\"overhead\":24,\"weight\":3," },
	/* Placement: pins, groups, the bridge's policy. */
	{ REQ("set-port", "{\"name\":\"vm1\",\"worker\":\"0:0,3:0\",\"worker_group\":\"web.1\"}"), 1, 0,
	  "1", "\"result\":{}" },
	{ REQ("show", "{}"), 1, 0, "1", "\"worker\":\"0:0,3:0\",\"worker_group\":\"web.1\"" },
	{ REQ("set-port", "{\"name\":\"vm1\",\"worker\":\"0\",\"worker_group\":\"none\"}"), 1, 0, "1", NULL },
	{ REQ("show", "{}"), 1, 0, "1", "\"worker\":\"0\",\"worker_group\":\"none\"" },
	{ REQ("set-port", "{\"name\":\"vm1\",\"worker\":\"1\"}"), 1, CTL_ERR_INVALID_PARAMS, "1",
	  "worker must be auto, a worker 0..0" },
	{ REQ("set-port", "{\"name\":\"vm1\",\"worker\":\"0:0,\"}"), 1, CTL_ERR_INVALID_PARAMS, "1",
	  "worker must be" },
	{ REQ("set-port", "{\"name\":\"vm1\",\"worker\":\"8:0\"}"), 1, CTL_ERR_INVALID_PARAMS, "1",
	  "worker must be" },
	{ REQ("set-port", "{\"name\":\"vm1\",\"worker\":\"1:0,1:0\"}"), 1, CTL_ERR_INVALID_PARAMS,
	  "1", "queue 1 given twice" },
	{ REQ("set-port", "{\"name\":\"vm1\",\"worker\":\"-1\"}"), 1, CTL_ERR_INVALID_PARAMS, "1",
	  "worker must be" },
	{ REQ("set-port", "{\"name\":\"vm1\",\"worker\":\":\"}"), 1, CTL_ERR_INVALID_PARAMS, "1",
	  "worker must be" },
	{ REQ("set-port", "{\"name\":\"vm1\",\"worker_group\":\"0123456789abcdef\"}"), 1,
	  CTL_ERR_INVALID_PARAMS, "1", "worker_group must be" },
	{ REQ("set-port", "{\"name\":\"vm1\",\"worker\":\"auto\"}"), 1, 0, "1", NULL },
	{ REQ("show", "{}"), 1, 0, "1", "\"worker\":\"auto\"" },
	{ REQ("set-bridge", "{\"name\":\"br0\",\"placement\":\"cycles\",\"rebalance\":\"on\","
	      "\"rebalance_interval\":500}"), 1, 0, "1", "\"result\":{}" },
	{ REQ("show", "{}"), 1, 0, "1", "\"placement\":\"cycles\",\"rebalance\":\"on\","
	  "\"rebalance_threshold\":25,\"rebalance_improvement\":10,\"rebalance_interval\":500" },
	{ REQ("set-bridge", "{\"name\":\"br0\",\"placement\":\"roundrobin\"}"), 1,
	  CTL_ERR_INVALID_PARAMS, "1", "placement must be spread" },
	{ REQ("set-bridge", "{\"name\":\"br0\",\"rebalance_threshold\":0}"), 1,
	  CTL_ERR_INVALID_PARAMS, "1", "rebalance_threshold must be" },
	{ REQ("set-bridge", "{\"name\":\"br0\",\"rebalance\":\"yes\"}"), 1,
	  CTL_ERR_INVALID_PARAMS, "1", "rebalance must be on or off" },
	/* No socket directories here: a socket's owner or group is refused. */
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"vm9\",\"type\":\"vhostuser\","
	      "\"path\":\"@D@/vm9\",\"owner\":\"0\"}"), 1, CTL_ERR_INVALID_PARAMS, "1",
	  "owner= and group= need socket directories" },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"vm9\",\"type\":\"vhostuser\","
	      "\"path\":\"@D@/vm9\",\"group\":\"0\"}"), 1, CTL_ERR_INVALID_PARAMS, "1",
	  "owner= and group= need socket directories" },
	{ REQ("set-bridge", "{\"name\":\"br0\",\"busy_poll\":250}"), 1, 0, "1", "\"result\":{}" },
	{ REQ("show", "{}"), 1, 0, "1", "\"busy_poll\":250," },
	{ REQ("set-bridge", "{\"name\":\"br0\",\"busy_poll\":1000001}"), 1,
	  CTL_ERR_INVALID_PARAMS, "1", "busy_poll must be 0..1000000 us" },
	{ REQ("set-bridge", "{\"name\":\"br0\",\"busy_poll\":-1}"), 1,
	  CTL_ERR_INVALID_PARAMS, "1", "busy_poll must be" },
	{ REQ("set-bridge", "{\"name\":\"br0\",\"busy_poll\":0}"), 1, 0, "1", NULL },
	{ REQ("show", "{}"), 1, 0, "1", "\"busy_poll\":0," },
	/* Interrupt moderation. */
	{ REQ("set-port", "{\"name\":\"vm1\",\"rx_frames\":16,\"rx_usecs\":100,"
	      "\"adaptive_rx\":\"on\"}"), 1, 0, "1", NULL },
	{ REQ("show", "{}"), 1, 0, "1", "\"rx_frames\":16,\"rx_usecs\":100,\"adaptive_rx\":\"on\"" },
	{ REQ("set-port", "{\"name\":\"vm1\",\"rx_usecs\":10001}"), 1, CTL_ERR_INVALID_PARAMS, "1",
	  "rx_usecs must be 0..10000" },
	{ REQ("set-port", "{\"name\":\"vm1\",\"rx_frames\":-1}"), 1, CTL_ERR_INVALID_PARAMS, "1",
	  "rx_frames must be" },
	{ REQ("set-port", "{\"name\":\"vm1\",\"adaptive_rx\":\"yes\"}"), 1, CTL_ERR_INVALID_PARAMS,
	  "1", "adaptive_rx must be on or off" },
	{ REQ("set-port", "{\"name\":\"vm1\",\"rx_frames\":0,\"rx_usecs\":0,\"adaptive_rx\":\"off\"}"),
	  1, 0, "1", NULL },
	{ REQ("queues", "{}"), 1, 0, "1", "\"placement\":\"cycles\",\"queues\":[]" },
	{ REQ("set-bridge", "{\"name\":\"br0\",\"placement\":\"spread\",\"rebalance\":\"off\","
	      "\"rebalance_interval\":1000}"), 1, 0, "1", NULL },
	{ REQ("set-port", "{\"name\":\"vm1\",\"ingress_rate\":\"fast\"}"), 1,
	  CTL_ERR_INVALID_PARAMS, "1", "ingress_rate: \\\"fast\\\" is not a rate" },
	{ REQ("set-port", "{\"name\":\"vm1\",\"egress_burst\":\"64k\"}"), 1,
	  CTL_ERR_INVALID_PARAMS, "1", "egress: a burst needs a rate" },
	{ REQ("set-port", "{\"name\":\"vm1\",\"ingress_rate\":\"1kbit\"}"), 1,
	  CTL_ERR_INVALID_PARAMS, "1", "between 8kbit and 1tbit" },
	{ REQ("set-port", "{\"name\":\"vm1\",\"weight\":0}"), 1, CTL_ERR_INVALID_PARAMS, "1",
	  "weight must be 1..100" },
	{ REQ("set-port", "{\"name\":\"vm1\",\"ingress_rate\":100}"), 1, CTL_ERR_INVALID_PARAMS,
	  "1", "ingress_rate" },
	{ REQ("set-port", "{\"name\":\"vm1\",\"weight\":1}"), 1, 0, "1", "\"result\":{}" },
	{ REQ("stats", "{\"name\":\"nope\"}"), 1, APP(ENOENT), "1", "\"errno\":\"ENOENT\"" },
	{ REQ("workers", "{}"), 1, 0, "1", "{\"workers\":[{\"id\":0,\"cpu\":-1,\"queues\":" },
	{ REQ("workers", "{}"), 1, 0, "1", "\"cycles_per_pkt\":" },
	{ REQ("workers", "{}"), 1, 0, "1", "\"busy_iters\":0," },
	{ REQ("workers", "{}"), 1, 0, "1", "\"pkts_per_iter\":0" },
	{ REQ("fdb", "{}"), 1, 0, "1", "{\"entries\":[]}" },
	/* trace: hostile keys first; nothing is connected, so a frame goes nowhere */
	{ REQ("trace", "{\"port\":\"vm1\"}"), 1, CTL_ERR_INVALID_PARAMS, "1", "src" },
	{ REQ("trace", "{\"port\":\"vm1\",\"src\":\"02:00:00:00:00:01x\"}"), 1,
	  CTL_ERR_INVALID_PARAMS, "1", "src:" },
	{ REQ("trace", "{\"port\":\"vm1\",\"src\":\"02:00:00:00:00:01\",\"vlan\":4096}"), 1,
	  CTL_ERR_INVALID_PARAMS, "1", "vlan:" },
	{ REQ("trace", "{\"port\":\"vm1\",\"src\":\"02:00:00:00:00:01\",\"pcp\":3}"), 1,
	  CTL_ERR_INVALID_PARAMS, "1", "pcp:" },
	/* NDP with a VLAN tag: 82 bytes by default; a frame too short for the
	 * target is refused, not written past (ASan builds would see it). */
	{ REQ("trace", "{\"port\":\"vm1\",\"src\":\"02:00:00:00:00:01\",\"vlan\":5,\"proto\":\"ns\","
	      "\"ip_dst\":\"fd00::1\"}"), 1, 0, "1", "\"verdict\"" },
	{ REQ("trace", "{\"port\":\"vm1\",\"src\":\"02:00:00:00:00:01\",\"vlan\":5,\"proto\":\"na\","
	      "\"ip_src\":\"fd00::1\",\"size\":60}"), 1, CTL_ERR_INVALID_PARAMS, "1",
	  "size: 82 at least for na" },
	{ REQ("trace", "{\"port\":\"vm1\",\"src\":\"02:00:00:00:00:01\",\"size\":59}"), 1,
	  CTL_ERR_INVALID_PARAMS, "1", "size:" },
	{ REQ("trace", "{\"port\":\"vm1\",\"src\":\"02:00:00:00:00:01\",\"size\":70000}"), 1,
	  CTL_ERR_INVALID_PARAMS, "1", "size:" },
	{ REQ("trace", "{\"port\":\"vm1\",\"src\":\"02:00:00:00:00:01\",\"proto\":\"ipx\"}"), 1,
	  CTL_ERR_INVALID_PARAMS, "1", "proto:" },
	{ REQ("trace", "{\"port\":\"vm1\",\"src\":\"02:00:00:00:00:01\",\"proto\":\"arp\","
	      "\"ip_src\":\"fd00::1\"}"), 1, CTL_ERR_INVALID_PARAMS, "1", "ip_src:" },
	{ REQ("trace", "{\"port\":\"nope\",\"src\":\"02:00:00:00:00:01\"}"), 1, APP(ENOENT), "1",
	  "no port" },
	{ REQ("trace", "{\"port\":\"vm1\",\"src\":\"02:00:00:00:00:01\",\"size\":65535,"
	      "\"proto\":\"na\",\"ip_src\":\"fd00::1\",\"vlan\":0,\"pcp\":7}"), 1, 0, "1",
	  "\"verdict\":\"drop\"" },
	{ REQ("trace", "{\"port\":\"vm1\",\"src\":\"02:00:00:00:00:01\"}"), 1, 0, "1",
	  "\"drop\":\"no_destination\"" },
	{ REQ("trace", "{\"port\":\"vm1\",\"src\":\"ff:00:00:00:00:01\"}"), 1, 0, "1",
	  "\"drop\":\"invalid\"" },
	{ REQ("trace", "{\"port\":\"vm1\",\"src\":\"02:00:00:00:00:01\",\"gso\":1400,"
	      "\"proto\":\"arp\"}"), 1, CTL_ERR_INVALID_PARAMS, "1", "gso:" },
	{ REQ("trace", "{\"port\":\"vm1\",\"src\":\"02:00:00:00:00:01\",\"gso\":0}"), 1,
	  CTL_ERR_INVALID_PARAMS, "1", "gso:" },
	/* vm1 negotiated nothing: its frames may not ask for TSO */
	{ REQ("trace", "{\"port\":\"vm1\",\"src\":\"02:00:00:00:00:01\",\"gso\":1400,"
	      "\"size\":9000}"), 1, 0, "1", "\"drop\":\"offload\"" },
	{ REQ("trace", "{\"port\":\"vm1\",\"src\":\"02:00:00:00:00:01\",\"gso\":1400,"
	      "\"proto\":\"ipv6\",\"size\":9000}"), 1, 0, "1", "TCP/IPv6 segmentation (MSS 1400)" },
	{ REQ("fdb", "{}"), 1, 0, "1", "{\"entries\":[]}" }, /* trace learned nothing */
	/* capture needs a socket connection to hand its memory over */
	{ REQ("capture", "{\"port\":\"vm1\"}"), 1, APP(EOPNOTSUPP), "1", "connection" },
	{ REQ("captures", "{}"), 1, 0, "1", "{\"captures\":[]}" },
	{ REQ("add-bridge", "{\"name\":\"br0\"}"), 1, APP(EEXIST), "1", "bridge br0 exists" },
	{ REQ("add-bridge", "{\"name\":\"br1\"}"), 1, APP(EOPNOTSUPP), "1",
	  "only one bridge (br0) is supported in this version" },
	/* operator tools */
	{ REQ("stats-reset", "{\"name\":\"vm1\"}"), 1, 0, "1", "{\"ports\":1}" },
	{ REQ("stats-reset", "{}"), 1, 0, "1", "{\"ports\":2}" },
	{ REQ("stats-reset", "{\"name\":\"nope\"}"), 1, APP(ENOENT), "1", "no port named" },
	{ REQ("stats-reset", "{\"port\":\"vm1\"}"), 1, CTL_ERR_INVALID_PARAMS, "1", NULL },
	{ REQ("log-level", "{}"), 1, 0, "1", "\"level\":\"" },
	{ REQ("log-level", "{\"level\":\"warning\"}"), 1, 0, "1", "\"level\":\"warning\"" },
	{ REQ("log-level", "{\"level\":\"info\"}"), 1, 0, "1",
	  "{\"level\":\"info\",\"previous\":\"warning\"}" },
	{ REQ("log-level", "{\"level\":\"loud\"}"), 1, CTL_ERR_INVALID_PARAMS, "1",
	  "level must be err, warning, info or debug" },
	{ REQ("log-level", "{\"level\":\"emerg\"}"), 1, CTL_ERR_INVALID_PARAMS, "1", NULL },
	{ REQ("log-level", "{\"level\":3}"), 1, CTL_ERR_INVALID_PARAMS, "1", NULL },
	{ REQ("fdb-flush", "{}"), 1, 0, "1", "{\"flushed\":0}" },
	{ REQ("fdb-flush", "{\"port\":\"vm1\",\"vlan\":10}"), 1, 0, "1", "{\"flushed\":0}" },
	{ REQ("fdb-flush", "{\"port\":\"nope\"}"), 1, APP(ENOENT), "1", "no port named" },
	{ REQ("fdb-flush", "{\"vlan\":4095}"), 1, CTL_ERR_INVALID_PARAMS, "1", "vlan must be" },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"vu\",\"type\":\"vhost-user\","
	      "\"path\":\"@D@/vu\"}"), 1, 0, "1", NULL },
	{ REQ("show", "{}"), 1, 0, "1", "\"name\":\"vu\",\"type\":\"vhostuser\"" },
	{ REQ("del-port", "{\"name\":\"vu\"}"), 1, 0, "1", NULL },
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"vx\",\"type\":\"vhost_user\","
	      "\"path\":\"@D@/vx\"}"), 1, CTL_ERR_INVALID_PARAMS, "1", "unknown port type" },
	{ REQ("del-port", "{\"name\":\"vm1\"}"), 1, 0, "1", "\"result\":{}" },
	{ REQ("del-port", "{\"name\":\"vm1\"}"), 1, APP(ENOENT), "1", "no port named" },
	/* a valid notification runs and stays silent */
	{ "{\"jsonrpc\":\"2.0\",\"method\":\"del-port\",\"params\":{\"name\":\"vm2\"}}", 0, 0, NULL, NULL },
	{ REQ("show", "{}"), 1, 0, "1", "\"ports\":[]" },
	/* a server port may reuse a path whose listener is gone (stale) */
	{ REQ("add-port", "{\"bridge\":\"br0\",\"name\":\"vm1\",\"type\":\"vhostuser\",\"path\":\"@D@/stale\"}"),
	  1, 0, "1", NULL },
	{ REQ("del-port", "{\"name\":\"vm1\"}"), 1, 0, "1", NULL },
};

/* line with @D@ and @LONG@ expanded, into buf. */
static const char *expand(const char *line, char *buf, size_t n)
{
	size_t o = 0;

	for (const char *s = line; *s && o + 1 < n;) {
		if (!strncmp(s, "@D@", 3)) {
			o += (size_t)snprintf(buf + o, n - o, "%s", dir);
			s += 3;
		} else if (!strncmp(s, "@LONG@", 6)) {
			for (int i = 0; i < 200 && o + 1 < n; i++)
				buf[o++] = 'x';
			s += 6;
		} else {
			buf[o++] = *s++;
		}
	}
	buf[o < n ? o : n - 1] = 0;
	return buf;
}

/* out holds s (out is not NUL-terminated). */
static bool contains(const struct ctl_buf *out, const char *s)
{
	return memmem(out->p, out->len, s, strlen(s)) != NULL;
}

static void run_case(const struct rpc_case *c, unsigned idx, const char *table)
{
	char line[1024], has[1024];
	struct ctl_buf out = { 0 };
	int failed = check_failures;
	json_t *rep, *err;
	int rc;

	expand(c->line, line, sizeof(line));
	rc = ctl_rpc_handle(&rpc, line, strlen(line), &out);
	CHECK_EQ(rc, c->rc);
	if (rc != 1) {
		if (check_failures != failed)
			fprintf(stderr, "  in %s[%u]\n", table, idx);
		CHECK_EQ(out.len, 0);
		ctl_buf_free(&out);
		return;
	}
	/* One line, newline-terminated, nothing else. */
	CHECK(out.len > 0 && out.p[out.len - 1] == '\n');
	CHECK(memchr(out.p, '\n', out.len) == out.p + out.len - 1);
	rep = json_loadb(out.p, out.len, 0, NULL);
	CHECK(rep != NULL);
	CHECK(json_is_string(json_object_get(rep, "jsonrpc")));
	err = json_object_get(rep, "error");
	if (c->code) {
		CHECK(err != NULL);
		CHECK(json_object_get(rep, "result") == NULL);
		CHECK_EQ(json_integer_value(json_object_get(err, "code")), c->code);
		CHECK(json_is_string(json_object_get(err, "message")));
	} else {
		CHECK(err == NULL);
		CHECK(json_is_object(json_object_get(rep, "result")));
	}
	if (c->id) {
		char *id = json_dumps(json_object_get(rep, "id"), JSON_COMPACT | JSON_ENCODE_ANY);

		CHECK(id && !strcmp(id, c->id));
		free(id);
	}
	if (c->has) {
		expand(c->has, has, sizeof(has));
		CHECK(contains(&out, has));
	}
	if (check_failures != failed)
		fprintf(stderr, "  in %s[%u]: %.*s", table, idx, (int)out.len, out.p);
	json_decref(rep);
	ctl_buf_free(&out);
}

/* A listening socket at path (a live vhost-user peer). */
static int listen_at(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	CHECK(fd >= 0);
	CHECK_EQ(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	CHECK_EQ(listen(fd, 4), 0);
	return fd;
}

static void test_lines(void)
{
	static const char ver[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"version\"}";
	char path[128], big[CTL_LINE_MAX + 2];
	struct ctl_buf out = { 0 };
	struct stat st;
	int live, stale, fd;

	/* The fixtures the cases name: a file, a live listener, a stale
	 * socket, and a stand-in for the control socket's inode. */
	snprintf(path, sizeof(path), "%s/file", dir);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/live", dir);
	live = listen_at(path);
	snprintf(path, sizeof(path), "%s/stale", dir);
	stale = listen_at(path);
	close(stale);
	CHECK_EQ(ctl_sock_probe(path), 0);
	snprintf(path, sizeof(path), "%s/live", dir);
	CHECK_EQ(ctl_sock_probe(path), 1);
	snprintf(path, sizeof(path), "%s/ctl", dir);
	close(listen_at(path));
	CHECK_EQ(stat(path, &st), 0);
	rpc.sock_dev = st.st_dev;
	rpc.sock_ino = st.st_ino;

	for (unsigned i = 0; i < ARRAY_SIZE(invalid_cases); i++)
		run_case(&invalid_cases[i], i, "invalid_cases");

	/* Oversized: one byte over the limit is refused unread. */
	memset(big, ' ', sizeof(big));
	memcpy(big, ver, strlen(ver));
	CHECK_EQ(ctl_rpc_handle(&rpc, big, CTL_LINE_MAX, &out), 1);
	CHECK(contains(&out, "\"result\""));
	out.len = 0;
	CHECK_EQ(ctl_rpc_handle(&rpc, big, CTL_LINE_MAX + 1, &out), 1);
	CHECK(contains(&out, "-32600") && contains(&out, "\"id\":null"));
	ctl_buf_free(&out);

	for (unsigned i = 0; i < ARRAY_SIZE(method_cases); i++)
		run_case(&method_cases[i], i, "method_cases");
	close(live);
}

/* stats-reset's baselines: subtracted while the counters are above them,
 * dropped when one is below (a new port of the same name) or forgotten. */
static void test_stats_base(void)
{
	struct ctl_stats_base *b = ctl_stats_base_new();
	struct dp_port_stats s = { .rx_pkts = 10, .tx_bytes = 100, .drop_spoof = 2 }, t;
	char name[16];

	CHECK(b != NULL);
	if (!b)
		return;
	CHECK_EQ(ctl_stats_base_set(b, "p", &s), 0);
	t = s;
	t.rx_pkts = 15;
	t.tx_bytes = 130;
	ctl_stats_base_apply(b, "p", &t);
	CHECK_EQ(t.rx_pkts, 5);
	CHECK_EQ(t.tx_bytes, 30);
	CHECK_EQ(t.drop_spoof, 0);
	t = s;
	ctl_stats_base_apply(b, "q", &t); /* no baseline: as it is */
	CHECK_EQ(t.rx_pkts, 10);
	ctl_stats_base_apply(NULL, "p", &t);
	CHECK_EQ(t.rx_pkts, 10);
	/* Below the baseline: the port was re-created; its counters count. */
	t = (struct dp_port_stats){ .rx_pkts = 3, .tx_bytes = 500 };
	ctl_stats_base_apply(b, "p", &t);
	CHECK_EQ(t.rx_pkts, 3);
	CHECK_EQ(t.tx_bytes, 500);
	t = s;
	ctl_stats_base_apply(b, "p", &t);
	CHECK_EQ(t.rx_pkts, 10);
	/* Forgotten (del-port). */
	CHECK_EQ(ctl_stats_base_set(b, "p", &s), 0);
	ctl_stats_base_forget(b, "p");
	ctl_stats_base_forget(NULL, "p");
	t = s;
	ctl_stats_base_apply(b, "p", &t);
	CHECK_EQ(t.rx_pkts, 10);
	/* As many as there can be ports; setting one again takes no room. */
	for (int i = 0; i < DP_MAX_PORTS; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		CHECK_EQ(ctl_stats_base_set(b, name, &s), 0);
	}
	CHECK_EQ(ctl_stats_base_set(b, "p0", &s), 0);
	CHECK_EQ(ctl_stats_base_set(b, "one-more", &s), -ENOSPC);
	ctl_stats_base_free(b);
}

/* Replies that do not fit, and allocations that fail, leave the output
 * buffer as it was and are reported, never half-written. */
static void test_failures(void)
{
	static const char show[] = REQ("show", "{}");
	struct ctl_buf out = { .max = 16 };

	CHECK_EQ(ctl_rpc_handle(&rpc, show, strlen(show), &out), -ENOBUFS);
	CHECK_EQ(out.len, 0);
	ctl_buf_free(&out);
	for (unsigned long n = 1; n <= 4; n++) {
		struct ctl_buf o = { 0 };
		int rc;

		xalloc_fail_at(n);
		rc = ctl_rpc_handle(&rpc, show, strlen(show), &o);
		xalloc_fail_at(0);
		CHECK(rc == 1 || rc == -ENOMEM);
		if (rc == -ENOMEM)
			CHECK_EQ(o.len, 0);
		else
			CHECK(o.len > 0 && o.p[o.len - 1] == '\n');
		ctl_buf_free(&o);
	}
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Runs the loop until fd has something to read (or 2 s pass); then reads
 * up to n - 1 bytes (0 at EOF). */
static ssize_t pump_read(int fd, char *buf, size_t n)
{
	for (int i = 0; i < 200; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		evloop_run_once(ev, 10);
		if (poll(&p, 1, 0) == 1) {
			ssize_t r = read(fd, buf, n - 1);
			buf[r > 0 ? r : 0] = 0;
			return r;
		}
	}
	return -ETIMEDOUT;
}

static void test_socket(void)
{
	static const char req[] = "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"version\"}\n";
	char path[128], buf[4096], *big;
	struct ctl *c = NULL, *c2 = NULL;
	struct stat st;
	int fd, f;

	/* Not a socket: left alone. */
	snprintf(path, sizeof(path), "%s/file", dir);
	CHECK_EQ(ctl_create(ev, dp, path, &c), -EEXIST);
	/* Too long. */
	memset(buf, 'x', 200);
	buf[200] = 0;
	CHECK_EQ(ctl_create(ev, dp, buf, &c), -ENAMETOOLONG);
	/* A stale socket is replaced; the new one is 0660. */
	snprintf(path, sizeof(path), "%s/vifd.sock", dir);
	close(listen_at(path));
	CHECK_EQ(ctl_create(ev, dp, path, &c), 0);
	CHECK_EQ(stat(path, &st), 0);
	CHECK(S_ISSOCK(st.st_mode));
	CHECK_EQ(st.st_mode & 0777, 0660);
	/* A live one (this very server) is refused. */
	CHECK_EQ(ctl_create(ev, dp, path, &c2), -EADDRINUSE);

	/* A request, and two in one write, the last without '\n' after
	 * a half-close: every one answered, then EOF. */
	fd = connect_to(path);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	CHECK(pump_read(fd, buf, sizeof(buf)) > 0);
	CHECK(strstr(buf, "\"id\":5,\"result\":{\"name\":\"vifd\"") != NULL);
	CHECK_EQ(write(fd, "\n" REQ("fdb", "{}") "\n" REQ("version", "{}"),
	               strlen("\n" REQ("fdb", "{}") "\n" REQ("version", "{}"))),
	         (ssize_t)strlen("\n" REQ("fdb", "{}") "\n" REQ("version", "{}")));
	shutdown(fd, SHUT_WR);
	{
		size_t got = 0;
		ssize_t r;

		while ((r = pump_read(fd, buf + got, sizeof(buf) - got)) > 0)
			got += (size_t)r;
		CHECK_EQ(r, 0); /* EOF after the replies */
		CHECK(strstr(buf, "\"entries\"") && strstr(buf, "\"name\":\"vifd\""));
	}
	close(fd);

	/* An oversized line: one error, then the connection is closed. */
	fd = connect_to(path);
	CHECK(fd >= 0);
	big = calloc(1, CTL_LINE_MAX + 100);
	CHECK(big != NULL);
	memset(big, 'x', CTL_LINE_MAX + 100);
	f = 0;
	for (size_t off = 0; off < CTL_LINE_MAX + 100;) {
		ssize_t w = send(fd, big + off, CTL_LINE_MAX + 100 - off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w > 0)
			off += (size_t)w;
		else if (++f > 200)
			break;
		evloop_run_once(ev, 5);
	}
	free(big);
	CHECK(pump_read(fd, buf, sizeof(buf)) > 0);
	CHECK(strstr(buf, "longer than 65536") != NULL);
	CHECK(pump_read(fd, buf, sizeof(buf)) <= 0);
	close(fd);

	ctl_destroy(c);
	CHECK(stat(path, &st) < 0); /* removed: it was ours */
}

static void cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_ctl.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	CHECK_EQ(evloop_create(&ev), 0);
	CHECK_EQ(dp_create(ev, 1, NULL, &dp), 0);
	rpc.dp = dp;
	rpc.stats_base = ctl_stats_base_new();
	CHECK(rpc.stats_base != NULL);
	test_lines();
	test_stats_base();
	test_failures();
	test_socket();
	ctl_stats_base_free(rpc.stats_base);
	dp_destroy(dp);
	evloop_destroy(ev);
	cleanup();
	return check_result("test_ctl");
}
