/* The client side of pycontainer/forkserver.py (csrc/warm/client.c). */
#ifndef PYC_WARM_H
#define PYC_WARM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct pyc_buf { char *p; size_t len, cap; int bad; };

/* The request for argv (argv[0] included); b->bad when it cannot be sent
 * as is (a non-UTF-8 environment: Python's to send). */
void pyc_warm_request(struct pyc_buf *b, int argc, char **argv);

/* Send it with fds 0-2 as the command's stdio (SCM_RIGHTS); 0 or -1. */
int pyc_warm_send(int s, const struct pyc_buf *req, const int fds[3]);

/* zlib's crc32, as forkserver's clients key their sockets with it. */
uint32_t pyc_crc32(const char *p, size_t n);

/* n bytes unless the peer ends first (EINTR retried): what was read. */
ssize_t pyc_recv_all(int s, char *buf, size_t n);

int32_t pyc_le32(const char *p);

#endif
