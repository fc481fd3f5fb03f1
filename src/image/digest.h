/* SPDX-License-Identifier: GPL-2.0-or-later */
/* digest: sha256 content digests ("sha256:<64 hex>") for the image store.
 * Owns the streaming hash context and the digest string rules. */
#ifndef NESTBOX_IMAGE_DIGEST_H
#define NESTBOX_IMAGE_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

#define NB_DIGEST_LEN 71 /* "sha256:" + 64 hex */

struct nb_sha256;

/* nb_sha256_new() - a fresh streaming context, or NULL on allocation failure */
struct nb_sha256 *nb_sha256_new(void);

/* nb_sha256_update() - hash @len more bytes */
void nb_sha256_update(struct nb_sha256 *h, const void *data, size_t len);

/* nb_sha256_final() - write "sha256:<hex>" into @out (NB_DIGEST_LEN + 1 bytes) and free @h */
void nb_sha256_final(struct nb_sha256 *h, char out[NB_DIGEST_LEN + 1]);

/* nb_sha256_free() - drop a context without a result (NULL is fine) */
void nb_sha256_free(struct nb_sha256 *h);

/* nb_sha256_buf() - digest of a buffer as "sha256:<hex>" */
void nb_sha256_buf(const void *data, size_t len, char out[NB_DIGEST_LEN + 1]);

/* nb_digest_valid() - whether @d is "sha256:" followed by exactly 64 lowercase hex digits */
bool nb_digest_valid(const char *d);

/* nb_digest_hex() - the 64 hex digits of a valid digest (pointer into @d) */
const char *nb_digest_hex(const char *d);

#endif
