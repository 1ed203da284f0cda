/*
 * send-frame: send Ethernet frames, written in hexadecimal, out of an
 * interface, as they are: for the net tests, which need frames no ordinary
 * tool sends (an ARP whose sender MAC differs from the frame's source, an
 * 802.1Q tagged frame).
 *
 *   send-frame [-n count] IFACE HEX
 *
 * HEX is the whole frame from the destination MAC on; blanks and ':' in it
 * are ignored.  Needs CAP_NET_RAW.  Exits 0 once every frame went out.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FRAME_MAX 1514

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
main(int argc, char **argv)
{
	unsigned char frame[FRAME_MAX];
	struct sockaddr_ll sll;
	const char *p;
	size_t len = 0;
	int fd, ch, count = 1, hi = -1, v, i;

	while ((ch = getopt(argc, argv, "n:")) != -1) {
		if (ch != 'n' || (count = atoi(optarg)) < 1)
			goto usage;
	}
	if (argc - optind != 2)
		goto usage;
	for (p = argv[optind + 1]; *p != '\0'; p++) {
		if (*p == ' ' || *p == ':' || *p == '\t' || *p == '\n')
			continue;
		if ((v = hexval((unsigned char)*p)) < 0 || len == FRAME_MAX) {
			fprintf(stderr, "send-frame: bad or too long frame at '%.8s'\n", p);
			return 2;
		}
		if (hi < 0) {
			hi = v;
		} else {
			frame[len++] = (unsigned char)(hi << 4 | v);
			hi = -1;
		}
	}
	if (hi >= 0 || len < 14) {
		fprintf(stderr, "send-frame: the frame is not whole bytes or shorter than a header\n");
		return 2;
	}
	/* Ethernet pads to 60 bytes; so do we. */
	while (len < 60)
		frame[len++] = 0;
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	if ((sll.sll_ifindex = (int)if_nametoindex(argv[optind])) == 0) {
		fprintf(stderr, "send-frame: no interface '%s'\n", argv[optind]);
		return 1;
	}
	sll.sll_halen = ETH_ALEN;
	memcpy(sll.sll_addr, frame, ETH_ALEN);
	if ((fd = socket(AF_PACKET, SOCK_RAW, 0)) < 0) {
		fprintf(stderr, "send-frame: socket: %s\n", strerror(errno));
		return 1;
	}
	for (i = 0; i < count; i++)
		if (sendto(fd, frame, len, 0, (struct sockaddr *)&sll,
		    sizeof(sll)) != (ssize_t)len) {
			fprintf(stderr, "send-frame: sendto: %s\n", strerror(errno));
			close(fd);
			return 1;
		}
	close(fd);
	return 0;
usage:
	fprintf(stderr, "usage: send-frame [-n count] IFACE HEX\n");
	return 2;
}
