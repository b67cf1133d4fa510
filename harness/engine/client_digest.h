/* harness/engine/client_digest.h - the oracle's digest (oracle.h) of what a
 * pool shows, through the client interface (client.h): the same digest
 * pool_digest() gives for a core pool. */
#ifndef PD_CLIENT_DIGEST_H
#define PD_CLIENT_DIGEST_H

#include "client.h"
#include "oracle.h"

/* 0, or -errno (-EPROTO: the kernel's answers disagree with the image,
 * c->msg says how). */
int client_digest(struct client *c, struct digest *d);

#endif /* PD_CLIENT_DIGEST_H */
