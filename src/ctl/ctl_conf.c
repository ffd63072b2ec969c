/* ctl_conf.c - the configuration file parser and the network document's
 * shape check; see ctl_conf.h. jansson parses; this file checks members and
 * types, and finds a bad value's line and column again in the text with a
 * small scanner, since jansson keeps positions only for syntax errors. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl_conf.h"
#include "dp.h"
#include "vlog.h"

void ctl_conf_init(struct ctl_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->log_level = -1;
	c->metrics_port = -1;
	c->sock_mode = -1;
	c->vsock_perm = -1;
	c->mem_max = -1;
	c->port_mem_max = -1;
}

void ctl_conf_free(struct ctl_conf *c)
{
	free(c->state_dir);
	for (unsigned i = 0; i < c->nsock_dirs; i++)
		free(c->sock_dirs[i]);
	c->nsock_dirs = 0;
	free(c->cpus);
	free(c->metrics_address);
	free(c->group);
	free(c->vsock_owner);
	free(c->vsock_group);
	free(c->name);
	free(c->text);
	json_decref(c->net);
	ctl_conf_init(c);
}

void ctl_conf_path_str(const struct ctl_conf_path *path, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < path->depth && n < len; i++) {
		int w;

		if (path->key[i])
			w = snprintf(buf + n, len - n, "%s%s", i ? "." : "", path->key[i]);
		else
			w = snprintf(buf + n, len - n, "[%zu]", path->idx[i]);
		if (w < 0)
			break;
		n += (size_t)w;
	}
}

/* ---- finding a value's position in the text ---- */

struct scan {
	const char *p, *end;
	int line, col;
};

static void adv(struct scan *s)
{
	if (*s->p == '\n') {
		s->line++;
		s->col = 1;
	} else if (((unsigned char)*s->p & 0xc0) != 0x80) {
		s->col++; /* columns count characters, not UTF-8 continuation bytes */
	}
	s->p++;
}

static void ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		adv(s);
}

/* Skips a string at s->p ('"'); copies its raw content (escapes kept) into
 * buf when it fits, for key comparison. */
static bool skip_string(struct scan *s, char *buf, size_t len)
{
	size_t n = 0;

	adv(s);
	while (s->p < s->end && *s->p != '"') {
		if (*s->p == '\\') {
			if (n + 1 < len)
				buf[n++] = *s->p;
			adv(s);
			if (s->p >= s->end)
				return false;
		}
		if (n + 1 < len)
			buf[n++] = *s->p;
		adv(s);
	}
	if (len)
		buf[n < len ? n : len - 1] = '\0';
	if (s->p >= s->end)
		return false;
	adv(s);
	return true;
}

static bool skip_value(struct scan *s, unsigned depth);

/* Walks the object or array at s->p. With path elements left (at level
 * lvl), descends into the matching member; returns true once found. */
static bool walk(struct scan *s, const struct ctl_conf_path *path, unsigned lvl, int *line,
                 int *col)
{
	char key[128];

	ws(s);
	if (lvl == path->depth) {
		*line = s->line;
		*col = s->col;
		return true;
	}
	if (s->p >= s->end)
		return false;
	if (*s->p == '{' && path->key[lvl]) {
		adv(s);
		for (;;) {
			ws(s);
			if (s->p >= s->end || *s->p != '"')
				return false;
			if (!skip_string(s, key, sizeof(key)))
				return false;
			ws(s);
			if (s->p >= s->end || *s->p != ':')
				return false;
			adv(s);
			if (!strcmp(key, path->key[lvl]))
				return walk(s, path, lvl + 1, line, col);
			if (!skip_value(s, 0))
				return false;
			ws(s);
			if (s->p >= s->end || *s->p != ',')
				return false;
			adv(s);
		}
	}
	if (*s->p == '[' && !path->key[lvl]) {
		adv(s);
		for (size_t i = 0;; i++) {
			ws(s);
			if (i == path->idx[lvl])
				return walk(s, path, lvl + 1, line, col);
			if (!skip_value(s, 0))
				return false;
			ws(s);
			if (s->p >= s->end || *s->p != ',')
				return false;
			adv(s);
		}
	}
	return false;
}

static bool skip_value(struct scan *s, unsigned depth)
{
	char close;

	ws(s);
	if (s->p >= s->end || depth > 64)
		return false;
	if (*s->p == '"')
		return skip_string(s, NULL, 0);
	if (*s->p != '{' && *s->p != '[') {
		while (s->p < s->end && !strchr(",]} \t\r\n", *s->p))
			adv(s);
		return true;
	}
	close = *s->p == '{' ? '}' : ']';
	adv(s);
	for (;;) {
		ws(s);
		if (s->p >= s->end)
			return false;
		if (*s->p == close) {
			adv(s);
			return true;
		}
		if (*s->p == ',' || *s->p == ':') {
			adv(s);
			continue;
		}
		if (!skip_value(s, depth + 1))
			return false;
	}
}

bool ctl_conf_locate(const char *text, size_t len, const struct ctl_conf_path *path,
                     int *line, int *col)
{
	struct scan s = { .p = text, .end = text + len, .line = 1, .col = 1 };

	return walk(&s, path, 0, line, col);
}

/* ---- shape checks ---- */

struct checker {
	struct ctl_conf_path *where;    /* may be NULL */
	struct ctl_conf_path path;      /* where we are */
	char *err;
	size_t errlen;
};

static void push_key(struct checker *k, const char *key)
{
	if (k->path.depth < 4) {
		k->path.key[k->path.depth] = key;
		k->path.idx[k->path.depth] = 0;
	}
	k->path.depth++;
}

static void push_idx(struct checker *k, size_t i)
{
	if (k->path.depth < 4) {
		k->path.key[k->path.depth] = NULL;
		k->path.idx[k->path.depth] = i;
	}
	k->path.depth++;
}

static void pop(struct checker *k)
{
	k->path.depth--;
}

static int bad(struct checker *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reports a problem with the value at the current path: "path: what". */
static int bad(struct checker *k, const char *fmt, ...)
{
	char p[128], what[CTL_CONF_ERR_MAX];
	va_list ap;

	if (k->path.depth > 4)
		k->path.depth = 4;
	ctl_conf_path_str(&k->path, p, sizeof(p));
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(k->err, k->errlen, "%s%s%s", p, *p ? ": " : "", what);
	if (k->where)
		*k->where = k->path;
	return -EINVAL;
}

static const char *type_name(json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number with a fraction";
	case JSON_TRUE:
	case JSON_FALSE: return "true or false";
	case JSON_NULL: return "null";
	}
	return "something else";
}

/* Values of add-port and set-port parameters are strings or integers (the
 * control protocol knows no other kinds); the methods check the rest. */
static int check_param_obj(struct checker *k, json_t *o)
{
	const char *key;
	json_t *v;

	json_object_foreach(o, key, v) {
		push_key(k, key);
		if (!json_is_string(v) && !json_is_integer(v))
			return bad(k, "must be a string or an integer, not %s", type_name(v));
		pop(k);
	}
	return 0;
}

static int check_net(struct checker *k, json_t *net, bool whole)
{
	json_t *v, *e;
	size_t i, j;

	if (whole) {
		const char *key;

		json_object_foreach(net, key, v)
			if (strcmp(key, "bridge") && strcmp(key, "ports") && strcmp(key, "fdb")) {
				push_key(k, key);
				return bad(k, "unknown member (known: bridge, ports, fdb)");
			}
	}
	if ((v = json_object_get(net, "bridge"))) {
		push_key(k, "bridge");
		if (!json_is_object(v))
			return bad(k, "must be an object, not %s", type_name(v));
		if (check_param_obj(k, v) < 0)
			return -EINVAL;
		e = json_object_get(v, "name");
		if (e && !json_is_string(e)) {
			push_key(k, "name");
			return bad(k, "must be a string");
		}
		pop(k);
	}
	if ((v = json_object_get(net, "ports"))) {
		push_key(k, "ports");
		if (!json_is_array(v))
			return bad(k, "must be an array of port objects, not %s", type_name(v));
		json_array_foreach(v, i, e) {
			json_t *name, *o;

			push_idx(k, i);
			if (!json_is_object(e))
				return bad(k, "must be an object, not %s", type_name(e));
			if (check_param_obj(k, e) < 0)
				return -EINVAL;
			name = json_object_get(e, "name");
			if (!json_is_string(name))
				return bad(k, "a port needs a \"name\" string");
			for (j = 0; j < i; j++) {
				o = json_array_get(v, j);
				if (json_equal(json_object_get(o, "name"), name))
					return bad(k, "port \"%.40s\" is listed twice (also ports[%zu])",
					           json_string_value(name), j);
			}
			pop(k);
		}
		pop(k);
	}
	if ((v = json_object_get(net, "fdb"))) {
		push_key(k, "fdb");
		if (!json_is_array(v))
			return bad(k, "must be an array of {port, mac, vlan} objects, not %s",
			           type_name(v));
		json_array_foreach(v, i, e) {
			push_idx(k, i);
			if (!json_is_object(e))
				return bad(k, "must be an object, not %s", type_name(e));
			if (check_param_obj(k, e) < 0)
				return -EINVAL;
			if (!json_is_string(json_object_get(e, "port")) ||
			    !json_is_string(json_object_get(e, "mac")))
				return bad(k, "an fdb entry needs \"port\" and \"mac\" strings");
			pop(k);
		}
		pop(k);
	}
	return 0;
}

int ctl_conf_check_net(json_t *net, struct ctl_conf_path *where, char *err, size_t errlen)
{
	struct checker k = { .where = where, .err = err, .errlen = errlen };

	if (!json_is_object(net))
		return bad(&k, "the network document must be an object, not %s", type_name(net));
	return check_net(&k, net, true);
}

static int take_str(struct checker *k, json_t *v, char **out)
{
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v) ||
	    !json_string_length(v))
		return bad(k, "must be a non-empty string");
	free(*out);
	*out = strdup(json_string_value(v));
	if (!*out)
		return bad(k, "out of memory");
	return 0;
}

static int take_int(struct checker *k, json_t *v, long lo, long hi, long *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return bad(k, "must be an integer from %ld to %ld", lo, hi);
	*out = (long)json_integer_value(v);
	return 0;
}

static int parse_control(struct checker *k, json_t *o, struct ctl_conf *c)
{
	const char *key;
	json_t *v;

	if (!json_is_object(o))
		return bad(k, "must be an object {group, mode}, not %s", type_name(o));
	json_object_foreach(o, key, v) {
		push_key(k, key);
		if (!strcmp(key, "group")) {
			if (take_str(k, v, &c->group) < 0)
				return -EINVAL;
		} else if (!strcmp(key, "mode")) {
			const char *s = json_string_value(v);
			char *end;
			long m;

			if (!s)
				return bad(k, "must be an octal string such as \"0660\"");
			m = strtol(s, &end, 8);
			if (!*s || *end || m < 0 || (m & ~0770) || !(m & 0600))
				return bad(k, "must be an octal mode such as \"0660\": owner read and "
				           "write, group bits as wanted, none for others");
			c->sock_mode = (int)m;
		} else {
			return bad(k, "unknown member (known: group, mode)");
		}
		pop(k);
	}
	return 0;
}

static int parse_metrics(struct checker *k, json_t *o, struct ctl_conf *c)
{
	const char *key;
	json_t *v;

	if (!json_is_object(o))
		return bad(k, "must be an object {address, port}, not %s", type_name(o));
	json_object_foreach(o, key, v) {
		push_key(k, key);
		if (!strcmp(key, "address")) {
			struct in_addr a;

			if (take_str(k, v, &c->metrics_address) < 0)
				return -EINVAL;
			if (inet_pton(AF_INET, c->metrics_address, &a) != 1)
				return bad(k, "must be an IPv4 address such as \"127.0.0.1\"");
		} else if (!strcmp(key, "port")) {
			long p;

			if (take_int(k, v, 0, 65535, &p) < 0)
				return -EINVAL;
			c->metrics_port = (int)p;
		} else {
			return bad(k, "unknown member (known: address, port)");
		}
		pop(k);
	}
	return 0;
}

/* A decimal id below 2^32 - 1 ((uid_t)-1 means "unchanged" to chown). */
static int id_parse(const char *s, long long *id)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end || errno || v >= 0xffffffffull)
		return -EINVAL;
	*id = (long long)v;
	return 0;
}

/* Names as useradd takes them, at most 32 bytes: anything else is
 * refused before NSS sees it. */
static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 32 || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-' || s[i] == '.' ||
		      (s[i] == '$' && i == n - 1)))
			return false;
	return true;
}

int ctl_user_parse(const char *s, long long *uid)
{
	struct passwd *pw;

	if (id_parse(s, uid) == 0)
		return 0;
	if (!name_ok(s))
		return -EINVAL;
	pw = getpwnam(s);
	if (!pw)
		return -ENOENT;
	*uid = pw->pw_uid;
	return 0;
}

int ctl_group_parse(const char *s, long long *gid)
{
	struct group *gr;

	if (id_parse(s, gid) == 0)
		return 0;
	if (!name_ok(s))
		return -EINVAL;
	gr = getgrnam(s);
	if (!gr)
		return -ENOENT;
	*gid = gr->gr_gid;
	return 0;
}

int ctl_perm_parse(const char *s, int *mode)
{
	char *end;
	long v;

	if (*s < '0' || *s > '7')
		return -EINVAL;
	v = strtol(s, &end, 8);
	if (*end || v < 0 || v > 0777 || end - s > 4)
		return -EINVAL;
	*mode = (int)v;
	return 0;
}

int ctl_size_parse(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;
	int shift = 0;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default: break;
	}
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

static int take_size(struct checker *k, json_t *v, int64_t *out)
{
	uint64_t n;

	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*out = json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v) || ctl_size_parse(json_string_value(v), &n) < 0 || n > INT64_MAX)
		return bad(k, "must be a size in bytes, or a string such as \"64G\" (K, M, G, T)");
	*out = (int64_t)n;
	return 0;
}

static int parse_guests(struct checker *k, json_t *o, struct ctl_conf *c)
{
	const char *key;
	json_t *v, *e;
	size_t i;

	if (!json_is_object(o))
		return bad(k, "must be an object {socket_dirs, socket_owner, socket_group, "
		           "socket_perm, mem_max, port_mem_max}, not %s", type_name(o));
	json_object_foreach(o, key, v) {
		push_key(k, key);
		if (!strcmp(key, "socket_dirs")) {
			if (!json_is_array(v) || json_array_size(v) > CTL_CONF_SOCK_DIRS)
				return bad(k, "must be an array of at most %d directories",
				           CTL_CONF_SOCK_DIRS);
			json_array_foreach(v, i, e) {
				push_idx(k, i);
				if (take_str(k, e, &c->sock_dirs[c->nsock_dirs]) < 0)
					return -EINVAL;
				c->nsock_dirs++;
				if (c->sock_dirs[c->nsock_dirs - 1][0] != '/')
					return bad(k, "must be an absolute directory");
				pop(k);
			}
		} else if (!strcmp(key, "socket_owner") || !strcmp(key, "socket_group")) {
			/* Looked up when vifd starts (by then NSS answers). */
			if (take_str(k, v, key[7] == 'o' ? &c->vsock_owner : &c->vsock_group) < 0)
				return -EINVAL;
		} else if (!strcmp(key, "socket_perm")) {
			if (!json_is_string(v) || ctl_perm_parse(json_string_value(v), &c->vsock_perm) < 0)
				return bad(k, "must be octal mode bits as a string, \"0000\" to \"0777\"");
		} else if (!strcmp(key, "mem_max")) {
			if (take_size(k, v, &c->mem_max) < 0)
				return -EINVAL;
		} else if (!strcmp(key, "port_mem_max")) {
			if (take_size(k, v, &c->port_mem_max) < 0)
				return -EINVAL;
		} else {
			return bad(k, "unknown member (known: socket_dirs, socket_owner, socket_group, "
			           "socket_perm, mem_max, port_mem_max)");
		}
		pop(k);
	}
	return 0;
}

static int parse_top(struct checker *k, json_t *root, struct ctl_conf *c)
{
	const char *key;
	json_t *v;
	long n;

	if (!json_is_object(root))
		return bad(k, "a configuration file holds one JSON object, not %s", type_name(root));
	json_object_foreach(root, key, v) {
		push_key(k, key);
		if (!strcmp(key, "state_dir")) {
			if (take_str(k, v, &c->state_dir) < 0)
				return -EINVAL;
		} else if (!strcmp(key, "log_level")) {
			if (!json_is_string(v) || (c->log_level = vlog_level_parse(json_string_value(v))) < 0)
				return bad(k, "must be one of \"err\", \"warning\", \"info\", \"debug\"");
		} else if (!strcmp(key, "workers")) {
			if (take_int(k, v, 1, DP_MAX_WORKERS, &n) < 0)
				return -EINVAL;
			c->workers = (int)n;
		} else if (!strcmp(key, "cpus")) {
			if (take_str(k, v, &c->cpus) < 0)
				return -EINVAL;
		} else if (!strcmp(key, "control")) {
			if (parse_control(k, v, c) < 0)
				return -EINVAL;
		} else if (!strcmp(key, "metrics")) {
			if (parse_metrics(k, v, c) < 0)
				return -EINVAL;
		} else if (!strcmp(key, "guests")) {
			if (parse_guests(k, v, c) < 0)
				return -EINVAL;
		} else if (strcmp(key, "bridge") && strcmp(key, "ports") && strcmp(key, "fdb") &&
		           strcmp(key, "comment")) {
			return bad(k, "unknown setting (known: state_dir, log_level, workers, cpus, "
			           "control, metrics, guests, bridge, ports, fdb, comment)");
		}
		pop(k);
	}
	return check_net(k, root, false);
}

int ctl_conf_parse(const char *text, size_t len, const char *name, struct ctl_conf *c,
                   char *err, size_t errlen)
{
	struct ctl_conf_path where = { 0 };
	struct checker k = { .where = &where, .errlen = CTL_CONF_ERR_MAX };
	char msg[CTL_CONF_ERR_MAX];
	json_error_t je;
	json_t *root;
	int line = 0, col = 0;

	k.err = msg;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		/* jansson counts columns in characters from 1, as editors do;
		 * at the end of input it reports the last line. */
		snprintf(err, errlen, "%s:%d:%d: %s", name, je.line < 1 ? 1 : je.line,
		         je.column < 1 ? 1 : je.column, je.text);
		return -EINVAL;
	}
	if (parse_top(&k, root, c) < 0) {
		if (ctl_conf_locate(text, len, &where, &line, &col))
			snprintf(err, errlen, "%s:%d:%d: %s", name, line, col, msg);
		else
			snprintf(err, errlen, "%s: %s", name, msg);
		json_decref(root);
		return -EINVAL;
	}
	c->net = json_object();
	c->name = strdup(name);
	c->text = malloc(len + 1);
	if (!c->net || !c->name || !c->text) {
		json_decref(root);
		snprintf(err, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	for (const char *const *m = (const char *const[]){ "bridge", "ports", "fdb", NULL }; *m; m++)
		if (json_object_get(root, *m))
			json_object_set(c->net, *m, json_object_get(root, *m));
	memcpy(c->text, text, len);
	c->text[len] = '\0';
	c->text_len = len;
	json_decref(root);
	return 0;
}

int ctl_conf_load(const char *path, struct ctl_conf *c, char *err, size_t errlen)
{
	struct stat st;
	char *text;
	ssize_t n;
	size_t got = 0;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > CTL_CONF_MAX_BYTES) {
		snprintf(err, errlen, "%s: not a regular file of at most %d bytes", path,
		         CTL_CONF_MAX_BYTES);
		close(fd);
		return -EINVAL;
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text) {
		close(fd);
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size && (n = read(fd, text + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)n;
	close(fd);
	r = ctl_conf_parse(text, got, path, c, err, errlen);
	free(text);
	return r;
}
