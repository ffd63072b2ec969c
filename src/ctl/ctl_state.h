/* ctl_state.h - vifd's persisted configuration: what the operator built
 * with vifctl (bridge settings, ports with every parameter of add-port and
 * of later set-ports, static fdb entries), kept in DIR/state.json and
 * restored on start by replaying it through the control methods, so a
 * restored port is checked exactly as a new one.
 *
 * The model is the network document of ctl_conf.h. Parameters are kept as
 * the JSON the methods accepted, whatever their names: a parameter added
 * to add-port or set-port is persisted with no change here.
 *
 * File: {"format": "vifd-state", "version": 1, "crc32": "89abcdef",
 *        "config": <network document>}
 * crc32 (IEEE) covers the config member dumped compact with sorted keys.
 * Every change is written to state.json.tmp, fsynced, the previous
 * state.json renamed to state.json.prev (only if it was good), the new one
 * renamed into place and the directory fsynced. A state.json that does not
 * parse, has another format or version, or fails its checksum is logged,
 * kept aside as state.json.corrupt, and state.json.prev is used.
 *
 * Control thread only. */
#ifndef VIFD_CTL_STATE_H
#define VIFD_CTL_STATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl_conf.h"

struct ctl_state;
struct ctl_rpc;

enum { CTL_STATE_VERSION = 1 };

/* Opens the state kept in dir and loads it (or its last good copy). With
 * reset, what is loaded is ignored (the file stays until the first save
 * rotates it into state.json.prev). Returns 0 and *out, or -errno (logged)
 * when dir cannot be opened. A missing or corrupt state is not an error. */
int ctl_state_open(const char *dir, bool reset, struct ctl_state **out);
void ctl_state_close(struct ctl_state *s);

/* Whether a persisted state was loaded (and is not being reset). */
bool ctl_state_loaded(const struct ctl_state *s);

/* Replays the persisted state through r's methods: set-bridge, add-port of
 * every port, fdb-add of every entry; a refused one is logged with its
 * parameters and left out. With no persisted state, replays seed's network
 * part instead (may be NULL), and a refused entry is an error:
 * -EINVAL with "FILE:LINE:COL: ports[1]: message" in err. Then saves. */
int ctl_state_restore(struct ctl_state *s, const struct ctl_rpc *r, const struct ctl_conf *seed,
                      char *err, size_t errlen);

/* Records a method that succeeded (ctl_rpc.c calls it); methods that change
 * nothing persistent are ignored. Saves unless a restore is replaying. */
void ctl_state_record(struct ctl_state *s, const char *method, json_t *params);
/* Whether ctl_state_restore is replaying the state (methods run because
 * vifd restarts, not because someone asked). NULL: false. */
bool ctl_state_replaying(const struct ctl_state *s);

/* The file format, for tests: text of a state file holding net (malloc'd,
 * NULL on failure), and the check of one: 0 and a new reference in *net,
 * or -EBADMSG with the reason in why. */
char *ctl_state_format(json_t *net);
int ctl_state_parse(const char *text, size_t len, json_t **net, char *why, size_t whylen);

uint32_t ctl_crc32(const void *data, size_t len);

#endif
