/* test_libvif_link.c - builds a program against include/libvif.h alone
 * (no private header, no vifd module), takes the address of every public
 * function so a missing or mistyped definition fails at link time, and runs
 * the calls that need no backend. Exit 0 on success. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <libvif.h>

int main(void)
{
	/* Every public function, so the linker must resolve each one. */
	static void *const fns[] = {
		(void *)vif_config_init, (void *)vif_open, (void *)vif_close,
		(void *)vif_queue_pairs, (void *)vif_features, (void *)vif_mac,
		(void *)vif_tx_burst, (void *)vif_rx_burst, (void *)vif_rx_wait,
		(void *)vif_rx_fd, (void *)vif_conn_poll, (void *)vif_conn_fd,
		(void *)vif_get_stats, (void *)vif_last_error,
		(void *)vif_ctrl_mq_pairs, (void *)vif_ctrl_rx,
	};
	struct vif_config c;
	struct vif *v = (struct vif *)&c;
	int err;

	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++)
		if (!fns[i])
			return 1;
	vif_config_init(&c);
	if (c.path || c.queue_pairs != 1 || c.ring_size != 256 || c.rx_buf_size != 2048 ||
	    c.timeout_ms != 5000) {
		fprintf(stderr, "vif_config_init: unexpected defaults\n");
		return 1;
	}
	err = vif_open(&c, &v); /* no path: refused before any I/O */
	if (err != -EINVAL || v != NULL || !strlen(vif_last_error())) {
		fprintf(stderr, "vif_open without path: %d (%s)\n", err, vif_last_error());
		return 1;
	}
	vif_close(NULL);
	printf("libvif link test: ok (%zu functions)\n", sizeof(fns) / sizeof(fns[0]));
	return 0;
}
