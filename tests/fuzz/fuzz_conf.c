/* fuzz_conf.c - libFuzzer target for the text vifd reads from files: the
 * configuration file parser (ctl_conf_parse, which also runs the position
 * scanner on valid JSON with bad values) and the state file check
 * (ctl_state_parse). Neither may crash, leak or read out of bounds on any
 * input; a state file that passes must format back to one that passes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_conf.h"
#include "ctl_state.h"
#include "vlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[CTL_CONF_ERR_MAX], why[256];
	struct ctl_conf c;
	json_t *net;

	vlog_set_level(LOG_CRIT);
	ctl_conf_init(&c);
	if (ctl_conf_parse((const char *)data, size, "fuzz.json", &c, err, sizeof(err)) == 0) {
		/* The kept text locates anything in it, including nothing. */
		struct ctl_conf_path p = { .depth = 2, .key = { "ports", NULL }, .idx = { 0, 1 } };
		int line, col;

		(void)ctl_conf_locate(c.text, c.text_len, &p, &line, &col);
	}
	ctl_conf_free(&c);
	if (ctl_state_parse((const char *)data, size, &net, why, sizeof(why)) == 0) {
		char *text = ctl_state_format(net);
		json_t *again = NULL;

		if (text && ctl_state_parse(text, strlen(text), &again, why, sizeof(why)) != 0)
			abort();
		if (again && !json_equal(again, net))
			abort();
		json_decref(again);
		free(text);
		json_decref(net);
	}
	return 0;
}
