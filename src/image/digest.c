/* SPDX-License-Identifier: GPL-2.0-or-later */
/* digest: sha256 over OpenSSL's EVP interface. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/digest.h"

/* A sha256 in progress (digest.h keeps the type opaque). */
struct nb_sha256 {
	EVP_MD_CTX *ctx; /* OpenSSL's digest context */
};

/* nb_sha256_new() - see digest.h */
struct nb_sha256 *nb_sha256_new(void)
{
	struct nb_sha256 *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(h->ctx);
		free(h);
		return NULL;
	}
	return h;
}

/* nb_sha256_update() - see digest.h */
void nb_sha256_update(struct nb_sha256 *h, const void *data, size_t len)
{
	if (len)
		EVP_DigestUpdate(h->ctx, data, len);
}

/* "sha256:" and the @n bytes of @md in lower-case hex into @out. */
static void to_hex(const unsigned char *md, unsigned n, char out[NB_DIGEST_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";

	memcpy(out, "sha256:", 7);
	for (unsigned i = 0; i < n && i < 32; i++) {
		out[7 + 2 * i] = hex[md[i] >> 4];
		out[8 + 2 * i] = hex[md[i] & 15];
	}
	out[NB_DIGEST_LEN] = '\0';
}

/* nb_sha256_final() - see digest.h */
void nb_sha256_final(struct nb_sha256 *h, char out[NB_DIGEST_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;

	EVP_DigestFinal_ex(h->ctx, md, &n);
	to_hex(md, n, out);
	nb_sha256_free(h);
}

/* nb_sha256_free() - see digest.h */
void nb_sha256_free(struct nb_sha256 *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

/* nb_sha256_buf() - see digest.h */
void nb_sha256_buf(const void *data, size_t len, char out[NB_DIGEST_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;

	EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
	to_hex(md, n, out);
}

/* nb_digest_valid() - see digest.h */
bool nb_digest_valid(const char *d)
{
	if (!d || strncmp(d, "sha256:", 7) != 0 || strlen(d) != NB_DIGEST_LEN)
		return false;
	for (const char *p = d + 7; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

/* nb_digest_hex() - see digest.h */
const char *nb_digest_hex(const char *d)
{
	return d + 7;
}
