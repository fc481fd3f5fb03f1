/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer target: everything a registry or an archive sends as text —
 * manifests, indexes, image configs, references, WWW-Authenticate headers and
 * platform strings. The first byte picks the decoder; the rest is the input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/oci.h"
#include "image/ref.h"
#include "image/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nb_err e = NB_ERR_INIT;
	char *s;

	if (size < 1)
		return 0;
	s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0] % 4) {
	case 0: {
		struct nb_manifest m;
		struct nb_platform p;
		const struct nb_desc *d;

		if (nb_manifest_parse(s, size - 1, &m, &e) == 0) {
			nb_platform_parse(NULL, &p, &e);
			if (m.kind == NB_DOC_INDEX)
				nb_index_select(&m, &p, &d, &e);
		}
		nb_manifest_free(&m);
		break;
	}
	case 1: {
		struct nb_config c;

		if (nb_config_parse(s, size - 1, &c, &e) == 0 && c.n_diff_ids) {
			char (*chain)[NB_DIGEST_LEN + 1] = calloc(c.n_diff_ids, sizeof(*chain));

			if (chain)
				nb_chain_ids(c.diff_ids, c.n_diff_ids, chain);
			free(chain);
		}
		nb_config_free(&c);
		break;
	}
	case 2: {
		struct nb_ref r;
		char name[1024];

		if (nb_ref_parse(s, &r, &e) == 0)
			nb_ref_name(&r, name, sizeof(name));
		break;
	}
	default: {
		struct nb_challenge ch;
		struct nb_platform p;

		nb_challenge_parse(s, &ch);
		nb_platform_parse(s, &p, &e);
		break;
	}
	}
	free(s);
	return 0;
}
