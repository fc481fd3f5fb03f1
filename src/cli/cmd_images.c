/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nestbox images [--format json]: what the store holds. */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "image/image.h"
#include "lib/log.h"

static void human(long long n, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "kB", "MB", "GB", "TB" };
	double v = (double)n;
	int u = 0;

	while (v >= 1000 && u < 4) {
		v /= 1000;
		u++;
	}
	snprintf(buf, len, u ? "%.3g %s" : "%.0f %s", v, unit[u]);
}

/* cmd_images() - see commands.h */
int cmd_images(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct nb_err e = NB_ERR_INIT;
	json_object *list = NULL;
	bool json = false;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (strcmp(optarg, "json") != 0) {
				nb_error("--format: only 'json' is supported, not '%s'", optarg);
				return NB_EXIT_FAILURE;
			}
			json = true;
			break;
		case 'h':
			printf("Usage: nestbox images [--format json]\n");
			return 0;
		default:
			return NB_EXIT_FAILURE;
		}
	}
	if (optind != argc) {
		nb_error("images: unexpected argument '%s'", argv[optind]);
		return NB_EXIT_FAILURE;
	}
	if (nb_image_list(&list, &e) < 0) {
		nb_error("%s", e.msg);
		return NB_EXIT_FAILURE;
	}
	if (json) {
		printf("%s\n", json_object_to_json_string_ext(list, JSON_C_TO_STRING_PRETTY |
							      JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(list);
		return 0;
	}
	printf("%-50s %-16s %-12s %s\n", "REPOSITORY", "TAG", "IMAGE ID", "SIZE");
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *img = json_object_array_get_idx(list, i);
		json_object *names = json_object_object_get(img, "Names");
		const char *id = json_object_get_string(json_object_object_get(img, "Id"));
		char size[32];

		human(json_object_get_int64(json_object_object_get(img, "Size")), size, sizeof(size));
		for (size_t k = 0; k < json_object_array_length(names); k++) {
			char repo[700];
			const char *nm = json_object_get_string(json_object_array_get_idx(names, k));
			const char *at = strchr(nm, '@');
			const char *slash = strrchr(nm, '/');
			const char *colon = strrchr(slash ? slash : nm, ':');
			const char *tag = "<none>";

			snprintf(repo, sizeof(repo), "%s", nm);
			if (at) {
				repo[at - nm] = '\0';
			} else if (colon) {
				repo[colon - nm] = '\0';
				tag = colon + 1;
			}
			if (at && colon && colon < at) {
				repo[colon - nm] = '\0';
				tag = "<none>";
			}
			printf("%-50s %-16s %-12.12s %s\n", repo, tag, id, size);
		}
	}
	json_object_put(list);
	return 0;
}
