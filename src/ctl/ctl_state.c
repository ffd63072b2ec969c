/* ctl_state.c - the persisted configuration; see ctl_state.h for the model
 * and the file format. The model is kept in memory as the network document
 * and rewritten in full after each change: it is small (a few hundred
 * bytes per port) and changes come one operator command at a time. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl_rpc.h"
#include "ctl_state.h"
#include "vlog.h"
#include "xalloc.h"

#define STATE_FILE "state.json"
#define STATE_TMP "state.json.tmp"
#define STATE_PREV "state.json.prev"
#define STATE_CORRUPT "state.json.corrupt"

enum source { SRC_NONE, SRC_STATE, SRC_PREV };

struct ctl_state {
	char *dir;              /* for log lines */
	int dirfd;              /* the state directory (renames, fsync) */
	json_t *net;            /* the model: {bridge, ports, fdb} */
	json_t *loaded;         /* what was read at open, NULL: nothing usable */
	enum source src;        /* where `loaded` came from */
	bool cur_good;          /* DIR/state.json exists and is good: the next
	                         * save may rotate it into state.json.prev */
	bool replaying;         /* restore in progress: record, do not save */
	bool broken;            /* the model could not be updated (no memory):
	                         * it no longer matches, so nothing is saved */
};

uint32_t ctl_crc32(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t c = 0xffffffffu;

	/* Bitwise CRC-32 (IEEE 802.3, reflected polynomial 0xedb88320): a
	 * few hundred bytes per save do not need a table. */
	for (size_t i = 0; i < len; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
	}
	return ~c;
}

static char *canonical(json_t *net)
{
	return json_dumps(net, JSON_COMPACT | JSON_SORT_KEYS);
}

char *ctl_state_format(json_t *net)
{
	char *canon = canonical(net), *text = NULL, crc[16];
	json_t *doc;

	if (!canon)
		return NULL;
	snprintf(crc, sizeof(crc), "%08x", ctl_crc32(canon, strlen(canon)));
	free(canon);
	doc = json_pack("{s:s, s:i, s:s, s:s, s:O}", "format", "vifd-state", "version",
	                CTL_STATE_VERSION, "written_by", "vifd " VIFD_VERSION, "crc32", crc,
	                "config", net);
	if (doc)
		text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(doc);
	return text;
}

int ctl_state_parse(const char *text, size_t len, json_t **net, char *why, size_t whylen)
{
	json_t *doc, *cfg, *v;
	json_error_t je;
	char *canon, crc[16];
	int r = -EBADMSG;

	*net = NULL;
	doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!doc) {
		snprintf(why, whylen, "line %d column %d: %s%s", je.line, je.column, je.text,
		         len == 0 ? " (empty file)" : "");
		return -EBADMSG;
	}
	v = json_object_get(doc, "format");
	if (!json_is_object(doc) || !json_is_string(v) || strcmp(json_string_value(v), "vifd-state")) {
		snprintf(why, whylen, "not a vifd state file (no \"format\": \"vifd-state\")");
		goto out;
	}
	v = json_object_get(doc, "version");
	if (!json_is_integer(v) || json_integer_value(v) != CTL_STATE_VERSION) {
		snprintf(why, whylen, "version %lld, this vifd reads version %d",
		         json_is_integer(v) ? (long long)json_integer_value(v) : -1LL,
		         CTL_STATE_VERSION);
		goto out;
	}
	cfg = json_object_get(doc, "config");
	v = json_object_get(doc, "crc32");
	if (!json_is_object(cfg) || !json_is_string(v)) {
		snprintf(why, whylen, "\"config\" or \"crc32\" missing");
		goto out;
	}
	canon = canonical(cfg);
	if (!canon) {
		snprintf(why, whylen, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	snprintf(crc, sizeof(crc), "%08x", ctl_crc32(canon, strlen(canon)));
	free(canon);
	if (strcmp(crc, json_string_value(v))) {
		snprintf(why, whylen, "checksum mismatch (file says %.16s, content is %s)",
		         json_string_value(v), crc);
		goto out;
	}
	if (ctl_conf_check_net(cfg, NULL, why, whylen) < 0)
		goto out;
	*net = json_incref(cfg);
	r = 0;
out:
	json_decref(doc);
	return r;
}

/* Loads one file of the directory: 0, -ENOENT, -EBADMSG (why) or -errno. */
static int load_file(struct ctl_state *s, const char *name, json_t **net, char *why,
                     size_t whylen)
{
	struct stat st;
	char *text;
	size_t got = 0;
	ssize_t n;
	int fd, r;

	fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		r = -errno;
		snprintf(why, whylen, "%s", strerror(errno));
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > CTL_CONF_MAX_BYTES) {
		snprintf(why, whylen, "not a regular file of at most %d bytes", CTL_CONF_MAX_BYTES);
		close(fd);
		return -EBADMSG;
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text) {
		close(fd);
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size && (n = read(fd, text + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)n;
	close(fd);
	r = ctl_state_parse(text, got, net, why, whylen);
	free(text);
	return r;
}

static json_t *empty_net(void)
{
	return json_pack("{s:{s:s}, s:[], s:[]}", "bridge", "name", CTL_BRIDGE, "ports", "fdb");
}

int ctl_state_open(const char *dir, bool reset, struct ctl_state **out)
{
	struct ctl_state *s = xcalloc(1, sizeof(*s));
	char why[CTL_CONF_ERR_MAX];
	json_t *net = NULL;
	int r;

	if (!s)
		return -ENOMEM;
	s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	s->dir = strdup(dir);
	if (s->dirfd < 0 || !s->dir) {
		r = s->dirfd < 0 ? -errno : -ENOMEM;
		vlog_err("state: cannot open %s: %s", dir, strerror(-r));
		ctl_state_close(s);
		return r;
	}
	r = load_file(s, STATE_FILE, &net, why, sizeof(why));
	if (r == 0) {
		s->src = SRC_STATE;
		s->cur_good = true;
	} else {
		bool corrupt = r != -ENOENT;

		if (corrupt) {
			vlog_err("state: %s/%s is corrupt or unreadable: %s; keeping it as %s/%s and "
			         "using the last good copy %s/%s",
			         dir, STATE_FILE, why, dir, STATE_CORRUPT, dir, STATE_PREV);
			if (renameat(s->dirfd, STATE_FILE, s->dirfd, STATE_CORRUPT) < 0)
				vlog_err("state: cannot rename %s/%s: %s", dir, STATE_FILE, strerror(errno));
			fsync(s->dirfd);
		}
		r = load_file(s, STATE_PREV, &net, why, sizeof(why));
		if (r == 0) {
			s->src = SRC_PREV;
			vlog_warn("state: restoring from the last good copy %s/%s%s", dir, STATE_PREV,
			          corrupt ? "" : " (state.json is missing: vifd stopped while saving)");
		} else if (r != -ENOENT) {
			vlog_err("state: the last good copy %s/%s is unusable too: %s; starting "
			         "without a persisted state (both files are kept)", dir, STATE_PREV, why);
		} else if (corrupt) {
			vlog_err("state: no last good copy %s/%s; starting without a persisted state",
			         dir, STATE_PREV);
		}
	}
	if (net && reset) {
		vlog_warn("state: --reset-state: ignoring the persisted state in %s", dir);
		json_decref(net);
		net = NULL;
		s->src = SRC_NONE;
	}
	s->loaded = net;
	s->net = empty_net();
	if (!s->net) {
		ctl_state_close(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

void ctl_state_close(struct ctl_state *s)
{
	if (!s)
		return;
	if (s->dirfd >= 0)
		close(s->dirfd);
	free(s->dir);
	json_decref(s->net);
	json_decref(s->loaded);
	xfree(s);
}

bool ctl_state_loaded(const struct ctl_state *s)
{
	return s->loaded != NULL;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Writes the model: tmp file, fsync, rotate, rename, fsync the directory. */
static int save(struct ctl_state *s)
{
	char *text;
	int fd, r;

	if (s->broken)
		return -ENOMEM;
	text = ctl_state_format(s->net);
	if (!text)
		return -ENOMEM;
	fd = openat(s->dirfd, STATE_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	            0640);
	if (fd < 0) {
		free(text);
		return -errno;
	}
	r = write_all(fd, text, strlen(text));
	if (r == 0)
		r = write_all(fd, "\n", 1);
	free(text);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0)
		goto fail;
	/* Only a state.json known to be good becomes the fallback copy: a
	 * corrupt one never replaces a good state.json.prev. Between the two
	 * renames state.json is missing and a restart uses the .prev copy,
	 * which is then the newest. */
	if (s->cur_good && renameat(s->dirfd, STATE_FILE, s->dirfd, STATE_PREV) < 0 &&
	    errno != ENOENT) {
		r = -errno;
		goto fail;
	}
	if (renameat(s->dirfd, STATE_TMP, s->dirfd, STATE_FILE) < 0) {
		r = -errno;
		goto fail;
	}
	s->cur_good = true;
	if (fsync(s->dirfd) < 0)
		return -errno;
	return 0;
fail:
	unlinkat(s->dirfd, STATE_TMP, 0);
	return r;
}

static const char *str_or(json_t *v, const char *dflt)
{
	return json_is_string(v) ? json_string_value(v) : dflt;
}

static bool mac_eq(const char *a, const char *b)
{
	unsigned x[6], y[6];

	if (!a || !b)
		return false;
	if (sscanf(a, "%x:%x:%x:%x:%x:%x", &x[0], &x[1], &x[2], &x[3], &x[4], &x[5]) != 6 ||
	    sscanf(b, "%x:%x:%x:%x:%x:%x", &y[0], &y[1], &y[2], &y[3], &y[4], &y[5]) != 6)
		return !strcasecmp(a, b);
	return !memcmp(x, y, sizeof(x));
}

static json_int_t vlan_of(json_t *o)
{
	json_t *v = json_object_get(o, "vlan");

	return json_is_integer(v) ? json_integer_value(v) : 0;
}

/* Index of the port called name in the model's list, or -1. */
static long port_index(json_t *ports, const char *name)
{
	json_t *p;
	size_t i;

	json_array_foreach(ports, i, p)
		if (name && !strcmp(str_or(json_object_get(p, "name"), ""), name))
			return (long)i;
	return -1;
}

/* Removes fdb entries for (mac, vlan), or (port == port) when mac is NULL. */
static void fdb_remove(json_t *fdb, const char *mac, json_int_t vlan, const char *port)
{
	for (size_t i = json_array_size(fdb); i-- > 0;) {
		json_t *e = json_array_get(fdb, i);

		if (mac ? (mac_eq(json_string_value(json_object_get(e, "mac")), mac) &&
		           vlan_of(e) == vlan)
		        : !strcmp(str_or(json_object_get(e, "port"), ""), port))
			json_array_remove(fdb, i);
	}
}

/* Applies one successful method to the model: 1 changed, 0 not ours,
 * -ENOMEM. */
static int apply(json_t *net, const char *method, json_t *params)
{
	json_t *ports = json_object_get(net, "ports"), *fdb = json_object_get(net, "fdb");
	const char *name = json_string_value(json_object_get(params, "name"));
	json_t *copy;
	long i;

	if (!strcmp(method, "add-port") || !strcmp(method, "set-port")) {
		i = port_index(ports, name);
		if (!strcmp(method, "set-port") && i < 0)
			return 0; /* cannot happen: the port exists, so it was recorded */
		if (!strcmp(method, "add-port")) {
			if (i >= 0)
				json_array_remove(ports, (size_t)i);
			copy = json_deep_copy(params);
			return copy && json_array_append_new(ports, copy) == 0 ? 1 : -ENOMEM;
		}
		/* dp_port_set keeps the port's fdb-add entries. */
		return json_object_update(json_array_get(ports, (size_t)i), params) == 0 ? 1 : -ENOMEM;
	}
	if (!strcmp(method, "del-port")) {
		i = port_index(ports, name);
		if (i >= 0)
			json_array_remove(ports, (size_t)i);
		if (name)
			fdb_remove(fdb, NULL, 0, name);
		return 1;
	}
	if (!strcmp(method, "set-bridge"))
		return json_object_update(json_object_get(net, "bridge"), params) == 0 ? 1 : -ENOMEM;
	if (!strcmp(method, "fdb-add") || !strcmp(method, "fdb-del")) {
		const char *mac = json_string_value(json_object_get(params, "mac"));

		if (!mac)
			return 0;
		fdb_remove(fdb, mac, vlan_of(params), NULL);
		if (!strcmp(method, "fdb-del"))
			return 1;
		copy = json_deep_copy(params);
		return copy && json_array_append_new(fdb, copy) == 0 ? 1 : -ENOMEM;
	}
	return 0;
}

bool ctl_state_replaying(const struct ctl_state *s)
{
	return s && s->replaying;
}

void ctl_state_record(struct ctl_state *s, const char *method, json_t *params)
{
	int r;

	if (!s || s->broken)
		return;
	r = apply(s->net, method, params);
	if (r == 0)
		return;
	if (r < 0) {
		s->broken = true;
		vlog_err("state: out of memory recording %s; changes are no longer persisted in %s",
		         method, s->dir);
		return;
	}
	if (s->replaying)
		return;
	r = save(s);
	if (r < 0)
		VLOG_RL(LOG_ERR, "state: cannot save %s/%s after %s: %s; the change is in effect "
		        "but will be lost on restart until a save succeeds",
		        s->dir, STATE_FILE, method, strerror(-r));
}

/* Runs one request through the control methods, as a client's would run.
 * Returns 0, or -EINVAL with the method's error message in msg. */
static int replay(const struct ctl_rpc *r, const char *method, json_t *params, char *msg,
                  size_t msglen)
{
	json_t *req = json_pack("{s:s, s:i, s:s, s:O}", "jsonrpc", "2.0", "id", 1, "method",
	                        method, "params", params);
	struct ctl_buf out = { 0 };
	char *line = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_t *rep = NULL, *err;
	int rc = -ENOMEM;

	json_decref(req);
	if (!line)
		goto out;
	if (ctl_rpc_handle(r, line, strlen(line), &out) != 1)
		goto out;
	rep = json_loadb(out.p, out.len, 0, NULL);
	if (!rep)
		goto out;
	err = json_object_get(rep, "error");
	if (!err) {
		rc = 0;
		goto out_ok;
	}
	snprintf(msg, msglen, "%s", str_or(json_object_get(err, "message"), "error"));
	rc = -EINVAL;
	goto out_ok;
out:
	snprintf(msg, msglen, "out of memory");
out_ok:
	json_decref(rep);
	free(line);
	ctl_buf_free(&out);
	return rc;
}

struct restore_ctx {
	struct ctl_state *s;
	const struct ctl_rpc *r;
	const struct ctl_conf *seed;    /* strict: failures are errors */
	char *err;
	size_t errlen;
	unsigned failed;
};

/* One entry of the document: replays it; a failure is an error (seed) or
 * logged with the request to redo it by hand (persisted state). */
static int one(struct restore_ctx *x, const char *method, json_t *params, const char *list,
               size_t idx)
{
	char msg[CTL_MSG_MAX + 64];
	char *js;

	if (replay(x->r, method, params, msg, sizeof(msg)) == 0)
		return 0;
	if (x->seed) {
		struct ctl_conf_path p = { .depth = list ? 2 : 1, .key = { list ? list : "bridge" },
		                           .idx = { 0, idx } };
		char where[64];
		int line, col;

		ctl_conf_path_str(&p, where, sizeof(where));
		if (ctl_conf_locate(x->seed->text, x->seed->text_len, &p, &line, &col))
			snprintf(x->err, x->errlen, "%s:%d:%d: %s: %s", x->seed->name, line, col, where,
			         msg);
		else
			snprintf(x->err, x->errlen, "%s: %s: %s", x->seed->name, where, msg);
		return -EINVAL;
	}
	js = json_dumps(params, JSON_COMPACT | JSON_SORT_KEYS);
	vlog_err("state: cannot restore %s %s: %s; left out (to redo it: vifctl %s with %s)",
	         method, str_or(json_object_get(params, "name"),
	                        str_or(json_object_get(params, "mac"), "")), msg, method,
	         js ? js : "?");
	free(js);
	x->failed++;
	return 0;
}

static int replay_net(struct restore_ctx *x, json_t *net)
{
	json_t *br = json_object_get(net, "bridge"), *e;
	size_t i;

	if (br && json_object_size(br) > (json_object_get(br, "name") ? 1u : 0u)) {
		json_t *p = json_deep_copy(br);

		if (!p || (!json_object_get(p, "name") &&
		           json_object_set_new(p, "name", json_string(CTL_BRIDGE)) < 0)) {
			json_decref(p);
			return -ENOMEM;
		}
		if (one(x, "set-bridge", p, NULL, 0) < 0) {
			json_decref(p);
			return -EINVAL;
		}
		json_decref(p);
	}
	json_array_foreach(json_object_get(net, "ports"), i, e) {
		json_t *p = json_deep_copy(e);
		int rc;

		if (!p || (!json_object_get(p, "bridge") &&
		           json_object_set_new(p, "bridge", json_string(CTL_BRIDGE)) < 0)) {
			json_decref(p);
			return -ENOMEM;
		}
		rc = one(x, "add-port", p, "ports", i);
		json_decref(p);
		if (rc < 0)
			return rc;
	}
	json_array_foreach(json_object_get(net, "fdb"), i, e)
		if (one(x, "fdb-add", e, "fdb", i) < 0)
			return -EINVAL;
	return 0;
}

int ctl_state_restore(struct ctl_state *s, const struct ctl_rpc *r, const struct ctl_conf *seed,
                      char *err, size_t errlen)
{
	struct restore_ctx x = { .s = s, .r = r, .err = err, .errlen = errlen };
	json_t *net = s->loaded;
	bool have_seed = seed && seed->net && json_object_size(seed->net);
	int rc;

	err[0] = '\0';
	if (net && have_seed)
		vlog_info("state: using the persisted state in %s; the bridge, ports and fdb of %s "
		          "apply only when there is none (or with --reset-state)", s->dir, seed->name);
	if (!net && have_seed) {
		net = seed->net;
		x.seed = seed;
	}
	if (!net)
		return 0;
	s->replaying = true;
	rc = replay_net(&x, net);
	s->replaying = false;
	if (rc == -ENOMEM && !*err)
		snprintf(err, errlen, "out of memory restoring the configuration");
	if (rc < 0)
		return rc;
	vlog_info("state: restored %zu port(s) and %zu fdb entr%s from %s%s%s",
	          json_array_size(json_object_get(s->net, "ports")),
	          json_array_size(json_object_get(s->net, "fdb")),
	          json_array_size(json_object_get(s->net, "fdb")) == 1 ? "y" : "ies",
	          x.seed ? seed->name : s->dir, x.seed ? "" : "/",
	          x.seed ? "" : (s->src == SRC_PREV ? STATE_PREV : STATE_FILE));
	/* Rewrite unless state.json already says exactly this. */
	if (x.seed || s->src != SRC_STATE || x.failed || !json_equal(s->loaded, s->net)) {
		rc = save(s);
		if (rc < 0)
			vlog_err("state: cannot save %s/%s: %s", s->dir, STATE_FILE, strerror(-rc));
	}
	return 0;
}
