/* test_conf.c - the configuration file parser and the state file format
 * (src/ctl/ctl_conf.c, ctl_state.c), table-driven, invalid input first:
 * syntax errors and values of the wrong kind must be reported with the
 * file name, line and column; state files that are truncated, of another
 * format or version, or whose checksum does not match must be refused.
 * Then the good cases, and the state directory's files through
 * ctl_state_open/record: rotation into state.json.prev, and a corrupt
 * state.json set aside for the last good copy. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "ctl_conf.h"
#include "ctl_state.h"
#include "vlog.h"

struct conf_case {
	const char *text;
	const char *err;   /* expected substring of the message; NULL: must parse */
};

static const struct conf_case conf_cases[] = {
	/* syntax */
	{ "", "t.json:1:1: " },
	{ "{", "t.json:1:1: " },
	{ "{\n  \"workers\": 1,\n}", "t.json:3:1: " },
	{ "{\n  \"workers\": 1 \"cpus\": \"1\"\n}", "t.json:2:21: " },
	{ "{\"workers\": 1, \"workers\": 2}", "duplicate" },
	{ "[]", "t.json:1:1: a configuration file holds one JSON object, not an array" },
	{ "{\"a\":1}\n{\"b\":2}", "t.json:2:1: " },
	/* settings of the wrong kind, located */
	{ "{\n\"colour\": 1}", "t.json:2:11: colour: unknown setting" },
	{ "{\"workers\": 0}", "t.json:1:13: workers: must be an integer from 1 to 16" },
	{ "{\"workers\": \"2\"}", "workers: must be an integer" },
	{ "{\"workers\": 17}", "workers: must be an integer from 1 to 16" },
	{ "{\"log_level\": \"loud\"}", "log_level: must be one of" },
	{ "{\"state_dir\": \"\"}", "state_dir: must be a non-empty string" },
	{ "{\"cpus\": 3}", "cpus: must be a non-empty string" },
	{ "{\"control\": []}", "control: must be an object" },
	{ "{\"control\": {\"mode\": \"0666\"}}", "t.json:1:22: control.mode: must be an octal mode" },
	{ "{\"control\": {\"mode\": \"rw\"}}", "control.mode: must be an octal mode" },
	{ "{\"control\": {\"mode\": 432}}", "control.mode: must be an octal string" },
	{ "{\"control\": {\"group\": 5}}", "control.group: must be a non-empty string" },
	{ "{\"control\": {\"user\": \"x\"}}", "control.user: unknown member" },
	{ "{\"metrics\": {\"port\": 70000}}", "metrics.port: must be an integer from 0 to 65535" },
	{ "{\"metrics\": {\"address\": \"localhost\"}}", "metrics.address: must be an IPv4 address" },
	{ "{\"metrics\": {\"path\": \"/m\"}}", "metrics.path: unknown member" },
	{ "{\"guests\": {\"socket_perm\": \"0800\"}}", "guests.socket_perm: must be octal mode bits" },
	{ "{\"guests\": {\"socket_perm\": 432}}", "guests.socket_perm: must be octal mode bits" },
	{ "{\"guests\": {\"socket_perm\": \"01777\"}}", "guests.socket_perm: must be octal mode bits" },
	{ "{\"guests\": {\"socket_group\": 5}}", "guests.socket_group: must be a non-empty string" },
	{ "{\"guests\": {\"socket_user\": \"x\"}}", "guests.socket_user: unknown member" },
	{ "{\"guests\": {\"socket_owner\": \"root\", \"socket_group\": \"0\", "
	  "\"socket_perm\": \"0660\", \"socket_dirs\": [\"/run/vifd\"]}}", NULL },
	{ "{\"bridge\": \"br0\"}", "bridge: must be an object" },
	{ "{\"bridge\": {\"name\": 1}}", "bridge.name: must be a string" },
	{ "{\"bridge\": {\"mac_aging\": 1.5}}", "bridge.mac_aging: must be a string or an integer" },
	{ "{\"ports\": {}}", "ports: must be an array" },
	{ "{\"ports\": [1]}", "ports[0]: must be an object, not an integer" },
	{ "{\"ports\": [{\"type\": \"vhostuser\"}]}", "ports[0]: a port needs a \"name\" string" },
	{ "{\"ports\": [{\"name\": \"a\"},\n  {\"name\": \"b\", \"tag\": [10]}]}",
	  "t.json:2:24: ports[1].tag: must be a string or an integer, not an array" },
	{ "{\"ports\": [{\"name\": \"a\"},\n {\"name\": \"a\"}]}",
	  "t.json:2:2: ports[1]: port \"a\" is listed twice" },
	{ "{\"ports\": [{\"name\": \"a\", \"isolated\": true}]}", "ports[0].isolated: must be a string" },
	{ "{\"fdb\": [{\"port\": \"a\"}]}", "fdb[0]: an fdb entry needs \"port\" and \"mac\"" },
	{ "{\"fdb\": [{\"port\": \"a\", \"mac\": \"x\", \"vlan\": null}]}", "fdb[0].vlan: must be a string" },
	/* escapes and multi-byte characters before the bad value keep the column right */
	{ "{\"comment\": \"\\\"é\\\"\", \"workers\": -1}", "t.json:1:33: workers" },
	/* good */
	{ "{}", NULL },
	{ "{\"comment\": \"x\", \"state_dir\": \"/var/lib/vifd\", \"log_level\": \"debug\", "
	  "\"workers\": 2, \"cpus\": \"2-3\", \"control\": {\"group\": \"vifd\", \"mode\": \"0660\"}, "
	  "\"metrics\": {\"address\": \"127.0.0.1\", \"port\": 9464}, "
	  "\"bridge\": {\"name\": \"br0\", \"unknown_unicast\": \"drop\"}, "
	  "\"ports\": [{\"name\": \"vm1\", \"type\": \"vhostuser\", \"path\": \"/run/vm1.sock\", "
	  "\"tag\": 10, \"ingress_rate\": \"100mbit\"}], "
	  "\"fdb\": [{\"port\": \"vm1\", \"mac\": \"02:00:00:00:00:01\", \"vlan\": 10}]}", NULL },
};

static void test_conf_cases(void)
{
	for (size_t i = 0; i < sizeof(conf_cases) / sizeof(conf_cases[0]); i++) {
		const struct conf_case *t = &conf_cases[i];
		struct ctl_conf c;
		char err[CTL_CONF_ERR_MAX] = "";
		int r;

		ctl_conf_init(&c);
		r = ctl_conf_parse(t->text, strlen(t->text), "t.json", &c, err, sizeof(err));
		if (t->err) {
			CHECK_EQ(r, -EINVAL);
			if (!strstr(err, t->err)) {
				fprintf(stderr, "case %zu: \"%s\"\n  got:  %s\n  want: %s\n", i, t->text,
				        err, t->err);
				CHECK(0);
			}
		} else {
			CHECK_EQ(r, 0);
			if (r)
				fprintf(stderr, "case %zu: %s\n", i, err);
			CHECK(json_is_object(c.net));
		}
		ctl_conf_free(&c);
	}
}

static void test_conf_values(void)
{
	const char *text = conf_cases[sizeof(conf_cases) / sizeof(conf_cases[0]) - 1].text;
	struct ctl_conf c;
	char err[CTL_CONF_ERR_MAX];

	ctl_conf_init(&c);
	CHECK_EQ(c.log_level, -1);
	CHECK_EQ(c.metrics_port, -1);
	CHECK_EQ(ctl_conf_parse(text, strlen(text), "t.json", &c, err, sizeof(err)), 0);
	CHECK(c.state_dir && !strcmp(c.state_dir, "/var/lib/vifd"));
	CHECK_EQ(c.log_level, LOG_DEBUG);
	CHECK_EQ(c.workers, 2);
	CHECK(c.cpus && !strcmp(c.cpus, "2-3"));
	CHECK(c.group && !strcmp(c.group, "vifd"));
	CHECK_EQ(c.sock_mode, 0660);
	CHECK(c.metrics_address && !strcmp(c.metrics_address, "127.0.0.1"));
	CHECK_EQ(c.metrics_port, 9464);
	/* the network part is kept whole, unknown port keys included */
	CHECK_EQ(json_array_size(json_object_get(c.net, "ports")), 1);
	CHECK(!strcmp(json_string_value(json_object_get(json_array_get(json_object_get(c.net, "ports"),
	              0), "ingress_rate")), "100mbit"));
	CHECK(json_object_get(c.net, "comment") == NULL);
	ctl_conf_free(&c);
	CHECK(c.net == NULL && c.state_dir == NULL);
}

/* ctl_conf_locate on a path that does not exist, and on arrays. */
static void test_locate(void)
{
	const char *t = "{\"a\": [1, {\"b\":\n  [true, \"x\"]}]}";
	struct ctl_conf_path p = { .depth = 3, .key = { "a", NULL, "b" }, .idx = { 0, 1, 0 } };
	int line = 0, col = 0;

	CHECK(ctl_conf_locate(t, strlen(t), &p, &line, &col));
	CHECK_EQ(line, 2);
	CHECK_EQ(col, 3);
	p.depth = 4;
	p.key[3] = NULL;
	p.idx[3] = 1;
	CHECK(ctl_conf_locate(t, strlen(t), &p, &line, &col));
	CHECK_EQ(col, 10);
	p.idx[3] = 2;
	CHECK(!ctl_conf_locate(t, strlen(t), &p, &line, &col));
	p.depth = 1;
	p.key[0] = "zz";
	CHECK(!ctl_conf_locate(t, strlen(t), &p, &line, &col));
}

static void test_state_format(void)
{
	json_t *net = json_pack("{s:{s:s, s:i}, s:[{s:s, s:s, s:s, s:i}], s:[]}", "bridge", "name",
	                        "br0", "mac_aging", 60, "ports", "name", "vm1", "type", "vhostuser",
	                        "path", "/run/vm1.sock", "egress_pps", 1000, "fdb");
	char *text = ctl_state_format(net), why[256], *bad;
	json_t *back;
	size_t n;

	CHECK(text != NULL);
	n = strlen(text);
	CHECK_EQ(ctl_state_parse(text, n, &back, why, sizeof(why)), 0);
	CHECK(json_equal(back, net));
	json_decref(back);
	/* every truncation is refused */
	for (size_t cut = 0; cut < n - 1; cut += 7) {
		int r = ctl_state_parse(text, cut, &back, why, sizeof(why));
		CHECK_EQ(r, -EBADMSG);
		CHECK(back == NULL);
	}
	/* one changed value: still JSON, wrong checksum */
	bad = strdup(text);
	*strstr(bad, "1000") = '2';
	CHECK_EQ(ctl_state_parse(bad, n, &back, why, sizeof(why)), -EBADMSG);
	CHECK(strstr(why, "checksum mismatch") != NULL);
	free(bad);
	bad = strdup(text);
	memcpy(strstr(bad, "\"version\": 1"), "\"version\": 7", 12);
	CHECK_EQ(ctl_state_parse(bad, n, &back, why, sizeof(why)), -EBADMSG);
	CHECK(strstr(why, "version 7") != NULL);
	free(bad);
	CHECK_EQ(ctl_state_parse("{\"format\":\"other\"}", 18, &back, why, sizeof(why)), -EBADMSG);
	CHECK(strstr(why, "not a vifd state file") != NULL);
	CHECK_EQ(ctl_state_parse("", 0, &back, why, sizeof(why)), -EBADMSG);
	CHECK(strstr(why, "empty file") != NULL);
	free(text);
	json_decref(net);
	/* CRC-32 check value of "123456789" */
	CHECK_EQ(ctl_crc32("123456789", 9), 0xcbf43926u);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
}

static int nports(const char *path)
{
	json_t *j = json_load_file(path, 0, NULL);
	int n = (int)json_array_size(json_object_get(json_object_get(j, "config"), "ports"));

	json_decref(j);
	return j ? n : -1;
}

static void test_state_files(void)
{
	char dir[] = "/tmp/vifd-test-conf.XXXXXX", f[128], prev[128], corrupt[128];
	struct ctl_state *s;
	json_t *p;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(f, sizeof(f), "%s/state.json", dir);
	snprintf(prev, sizeof(prev), "%s/state.json.prev", dir);
	snprintf(corrupt, sizeof(corrupt), "%s/state.json.corrupt", dir);
	CHECK_EQ(ctl_state_open("/nonexistent/dir", false, &s), -ENOENT);

	/* nothing yet; each recorded change is saved, the last one kept */
	CHECK_EQ(ctl_state_open(dir, false, &s), 0);
	CHECK(!ctl_state_loaded(s));
	p = json_pack("{s:s, s:s, s:s, s:s}", "bridge", "br0", "name", "a", "type", "vhostuser",
	              "path", "/x/a");
	ctl_state_record(s, "add-port", p);
	json_decref(p);
	CHECK_EQ(nports(f), 1);
	CHECK(access(prev, F_OK) < 0);
	p = json_pack("{s:s, s:s, s:s, s:s}", "bridge", "br0", "name", "b", "type", "vhostuser",
	              "path", "/x/b");
	ctl_state_record(s, "add-port", p);
	json_decref(p);
	CHECK_EQ(nports(f), 2);
	CHECK_EQ(nports(prev), 1);
	/* methods that change nothing persistent do not write */
	p = json_object();
	ctl_state_record(s, "show", p);
	json_decref(p);
	CHECK_EQ(nports(prev), 1);
	ctl_state_close(s);

	/* a corrupt state.json: set aside, the last good copy loaded, and
	 * never rotated over state.json.prev */
	write_file(f, "{\"format\": \"vifd-state\", \"ver");
	CHECK_EQ(ctl_state_open(dir, false, &s), 0);
	CHECK(ctl_state_loaded(s));
	CHECK(access(corrupt, F_OK) == 0);
	CHECK(access(f, F_OK) < 0);
	p = json_pack("{s:s}", "name", "a");
	ctl_state_record(s, "del-port", p);
	json_decref(p);
	CHECK_EQ(nports(prev), 1);      /* still the good copy it loaded */
	ctl_state_close(s);
	/* --reset-state ignores what is there */
	CHECK_EQ(ctl_state_open(dir, true, &s), 0);
	CHECK(!ctl_state_loaded(s));
	ctl_state_close(s);

	unlink(f);
	unlink(prev);
	unlink(corrupt);
	CHECK_EQ(rmdir(dir), 0);
}

int main(void)
{
	vlog_set_level(LOG_CRIT); /* the corrupt-file cases log errors on purpose */
	test_conf_cases();
	test_conf_values();
	test_locate();
	test_state_format();
	test_state_files();
	return check_result("test_conf");
}
