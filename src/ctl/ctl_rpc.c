/* ctl_rpc.c - one request line in, one response line out: the JSON-RPC 2.0
 * envelope and the parameter checks, driven by the method table of
 * ctl_methods.c. See ctl_rpc.h for the wire format.
 *
 * Security model: the line comes from a local client that passed the
 * credential check, but its bytes may be anything. The line length is
 * bounded by the caller (and checked again here); jansson rejects invalid
 * UTF-8, "\u0000", duplicate keys and nesting deeper than its limit; every
 * member of the envelope and every parameter is checked for presence and
 * type here, before a method runs. Error messages quote client strings
 * clipped to a few dozen bytes. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ctl_rpc.h"
#include "ctl_state.h"
#include "xalloc.h"

int ctl_buf_append(struct ctl_buf *b, const void *data, size_t n)
{
	size_t need = b->len + n;

	if (need < b->len || (b->max && need > b->max))
		return -ENOBUFS;
	if (need > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *p;

		while (cap < need)
			cap *= 2;
		if (b->max && cap > b->max)
			cap = b->max;
		p = xcalloc(1, cap);
		if (!p)
			return -ENOMEM;
		if (b->len)
			memcpy(p, b->p, b->len);
		xfree(b->p);
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len = need;
	return 0;
}

void ctl_buf_consume(struct ctl_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

void ctl_buf_free(struct ctl_buf *b)
{
	xfree(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

static void verr(struct ctl_err *e, int code, int err, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

static void verr(struct ctl_err *e, int code, int err, const char *fmt, va_list ap)
{
	e->code = code;
	e->err = err;
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
}

int ctl_err_params(struct ctl_err *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr(e, CTL_ERR_INVALID_PARAMS, 0, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int ctl_err_app(struct ctl_err *e, int err, const char *fmt, ...)
{
	va_list ap;

	if (err < 0)
		err = -err;
	va_start(ap, fmt);
	verr(e, CTL_ERR_APP_BASE - err, err, fmt, ap);
	va_end(ap);
	return -err;
}

static int proto_err(struct ctl_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int proto_err(struct ctl_err *e, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr(e, code, 0, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

struct dump_ctx {
	struct ctl_buf *out;
	int err;        /* first error of ctl_buf_append */
};

static int dump_cb(const char *data, size_t n, void *arg)
{
	struct dump_ctx *d = arg;

	d->err = ctl_buf_append(d->out, data, n);
	return d->err < 0 ? -1 : 0;
}

/* Appends resp as one line; on failure out is left as it was. */
static int emit(struct ctl_buf *out, json_t *resp)
{
	struct dump_ctx d = { .out = out };
	size_t mark = out->len;
	int r;

	if (!resp)
		return -ENOMEM;
	/* Compact output never contains a raw newline: jansson escapes
	 * control characters inside strings. */
	r = json_dump_callback(resp, dump_cb, &d, JSON_COMPACT);
	if (r == 0)
		r = ctl_buf_append(out, "\n", 1);
	else
		r = d.err < 0 ? d.err : -ENOMEM;
	if (r < 0)
		out->len = mark;
	return r;
}

static json_t *error_obj(const struct ctl_err *e)
{
	json_t *o = json_pack("{s:i, s:s}", "code", e->code, "message", e->msg);

	if (o && e->err) {
		const char *name = strerrorname_np(e->err);
		json_t *d = json_pack("{s:s}", "errno", name ? name : "unknown");

		if (!d || json_object_set_new(o, "data", d) < 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

static int emit_error(struct ctl_buf *out, json_t *id, const struct ctl_err *e)
{
	json_t *err = error_obj(e), *resp;
	int r;

	if (!err)
		return -ENOMEM;
	resp = json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id ? id : json_null(),
	                 "error", err);
	r = emit(out, resp);
	json_decref(resp);
	return r < 0 ? r : 1;
}

int ctl_rpc_error_line(struct ctl_buf *out, int code, int err, const char *msg)
{
	struct ctl_err e = { .code = err ? CTL_ERR_APP_BASE - err : code, .err = err };

	snprintf(e.msg, sizeof(e.msg), "%s", msg);
	return emit_error(out, NULL, &e);
}

static const char *ptype_name(enum ctl_ptype t)
{
	return t == CTL_P_INT ? "an integer" : "a string";
}

static bool ptype_ok(enum ctl_ptype t, json_t *v)
{
	switch (t) {
	case CTL_P_STRING:
		/* An embedded NUL would make the C string lie about the value. */
		return json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v);
	case CTL_P_INT:
		return json_is_integer(v);
	}
	return false;
}

/* Checks params against m's list: no unknown names, right types, every
 * required one present. Returns 0 or -EINVAL with *e filled. */
static int check_params(const struct ctl_method *m, json_t *params, struct ctl_err *e)
{
	const char *key;
	json_t *v;

	json_object_foreach(params, key, v) {
		const struct ctl_param *p;

		for (p = m->params; p->name; p++)
			if (!strcmp(p->name, key))
				break;
		if (!p->name)
			return ctl_err_params(e, "unknown parameter \"%.40s\" for method %s",
			                      key, m->name);
		if (!ptype_ok(p->type, v))
			return ctl_err_params(e, "parameter \"%s\" must be %s", p->name,
			                      ptype_name(p->type));
	}
	for (const struct ctl_param *p = m->params; p->name; p++)
		if (p->required && !json_object_get(params, p->name))
			return ctl_err_params(e, "missing parameter \"%s\" for method %s",
			                      p->name, m->name);
	return 0;
}

/* The top-level members a request may have (JSON-RPC 2.0 §4). */
static const char *const envelope_keys[] = { "jsonrpc", "id", "method", "params" };

/* Checks the envelope of req. Sets *id to the request's id when it has a
 * usable one (NULL otherwise: the response then carries null), *notify
 * when it has none, and *m / *params. Returns 0 or -EINVAL with *e. */
static int check_envelope(json_t *req, json_t **id, bool *notify, const struct ctl_method **m,
                          json_t **params, struct ctl_err *e)
{
	json_t *v, *jid, *method;
	const char *key;

	if (json_is_array(req))
		return proto_err(e, CTL_ERR_INVALID_REQUEST,
		                 "batch requests are not supported: send one request object per line");
	if (!json_is_object(req))
		return proto_err(e, CTL_ERR_INVALID_REQUEST, "request must be a JSON object");
	/* The id first, so that later errors can be matched to the request. */
	jid = json_object_get(req, "id");
	*notify = !jid;
	if (jid && !json_is_string(jid) && !json_is_number(jid) && !json_is_null(jid))
		return proto_err(e, CTL_ERR_INVALID_REQUEST, "\"id\" must be a string, a number or null");
	*id = jid;
	json_object_foreach(req, key, v) {
		size_t i;

		for (i = 0; i < sizeof(envelope_keys) / sizeof(envelope_keys[0]); i++)
			if (!strcmp(key, envelope_keys[i]))
				break;
		if (i == sizeof(envelope_keys) / sizeof(envelope_keys[0]))
			return proto_err(e, CTL_ERR_INVALID_REQUEST,
			                 "unknown member \"%.40s\" in request", key);
	}
	v = json_object_get(req, "jsonrpc");
	if (!json_is_string(v) || strcmp(json_string_value(v), "2.0"))
		return proto_err(e, CTL_ERR_INVALID_REQUEST, "\"jsonrpc\" must be \"2.0\"");
	method = json_object_get(req, "method");
	if (!method)
		return proto_err(e, CTL_ERR_INVALID_REQUEST, "missing \"method\"");
	if (!json_is_string(method))
		return proto_err(e, CTL_ERR_INVALID_REQUEST, "\"method\" must be a string");
	*params = json_object_get(req, "params");
	if (*params && json_is_array(*params))
		return proto_err(e, CTL_ERR_INVALID_PARAMS,
		                 "\"params\" must be an object (parameters by name)");
	if (*params && !json_is_object(*params))
		return proto_err(e, CTL_ERR_INVALID_REQUEST, "\"params\" must be an object");
	*m = ctl_method_find(json_string_value(method));
	if (!*m)
		return proto_err(e, CTL_ERR_NO_METHOD, "unknown method \"%.40s\"",
		                 json_string_value(method));
	return 0;
}

static bool blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

int ctl_rpc_handle(const struct ctl_rpc *r, const char *line, size_t len, struct ctl_buf *out)
{
	const struct ctl_method *m = NULL;
	json_t *req, *id = NULL, *params = NULL, *result = NULL, *empty = NULL, *resp;
	struct ctl_err e = { 0 };
	json_error_t jerr;
	bool notify = false;
	int rc;

	if (len && line[len - 1] == '\r')
		len--;
	if (blank(line, len))
		return 0;
	if (len > CTL_LINE_MAX) {
		proto_err(&e, CTL_ERR_INVALID_REQUEST, "request line longer than %d bytes",
		          CTL_LINE_MAX);
		return emit_error(out, NULL, &e);
	}
	req = json_loadb(line, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	if (!req) {
		proto_err(&e, CTL_ERR_PARSE, "parse error at byte %d: %s", jerr.position, jerr.text);
		return emit_error(out, NULL, &e);
	}
	if (check_envelope(req, &id, &notify, &m, &params, &e) < 0) {
		/* Invalid requests are answered even without an id (§5), but
		 * a well-formed notification's errors are not (§4.1). */
		rc = (notify && e.code != CTL_ERR_INVALID_REQUEST) ? 0 : emit_error(out, id, &e);
		goto done;
	}
	if (!params)
		params = empty = json_object();
	if (!params) {
		rc = -ENOMEM;
		goto done;
	}
	if (check_params(m, params, &e) < 0 || m->fn(r, params, &result, &e) < 0) {
		rc = notify ? 0 : emit_error(out, id, &e);
		goto done;
	}
	/* Persist before answering, so that a client told "done" finds the
	 * change again after a crash. */
	if (r->state)
		ctl_state_record(r->state, m->name, params);
	if (notify) {
		rc = 0;
		goto done;
	}
	resp = json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id, "result", result);
	result = NULL; /* "o" took it, even on failure */
	rc = emit(out, resp);
	json_decref(resp);
	if (rc == -ENOMEM) {
		/* The result was too big to build: say so rather than go silent. */
		proto_err(&e, CTL_ERR_INTERNAL, "out of memory building the reply");
		rc = emit_error(out, id, &e);
	} else if (rc == 0) {
		rc = 1;
	}
done:
	json_decref(result);
	json_decref(empty);
	json_decref(req);
	return rc;
}
