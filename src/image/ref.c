/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ref: reference grammar of the distribution spec, normalized like podman. */
#include "image/diag.h"
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "image/ref.h"

/* Whether @p is a valid repository path: lowercase alphanumeric components,
 * separators only between alphanumerics. */
static bool path_ok(const char *p)
{
	/* lowercase alphanumerics separated by '.', '_', '__', '-', and '/' between parts */
	size_t n = strlen(p);

	if (n == 0 || p[0] == '/' || p[n - 1] == '/')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			continue;
		if (c != '.' && c != '_' && c != '-' && c != '/')
			return false;
		/* a separator must sit between alphanumerics ('__' and '--' allowed) */
		if (i == 0 || i + 1 == n || p[i - 1] == '/' || p[i + 1] == '/')
			return false;
		if (c == '/' && (p[i - 1] == '.' || p[i - 1] == '_' || p[i - 1] == '-'))
			return false;
	}
	return true;
}

/* Whether @t is a valid tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. */
static bool tag_ok(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > 128 || !(isalnum((unsigned char)t[0]) || t[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)t[i]) || t[i] == '_' || t[i] == '.' || t[i] == '-'))
			return false;
	return true;
}

/* Whether @d can be a registry host[:port] (also an IPv6 literal in brackets). */
static bool domain_ok(const char *d)
{
	if (!*d)
		return false;
	for (const char *p = d; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '.' || *p == '-' || *p == ':' ||
		      *p == '[' || *p == ']'))
			return false;
	return true;
}

/* nb_ref_parse() - see ref.h */
int nb_ref_parse(const char *s, struct nb_ref *r, struct nb_err *e)
{
	char buf[640];
	char *at, *slash, *colon, *rest;

	memset(r, 0, sizeof(*r));
	if (!s || !*s)
		return nb_err_set(e, EINVAL, "reference '': empty");
	if (strncmp(s, "docker://", 9) == 0)
		s += 9;
	if (strlen(s) >= sizeof(buf))
		return nb_err_set(e, EINVAL, "reference '%.64s...': too long", s);
	snprintf(buf, sizeof(buf), "%s", s);

	at = strchr(buf, '@');
	if (at) {
		*at = '\0';
		if (!nb_digest_valid(at + 1))
			return nb_err_set(e, EINVAL, "reference '%s': invalid digest '%s'", s, at + 1);
		snprintf(r->digest, sizeof(r->digest), "%s", at + 1);
	}
	/* The first component is a registry when it looks like a host. */
	slash = strchr(buf, '/');
	rest = buf;
	if (slash) {
		*slash = '\0';
		if (strchr(buf, '.') || strchr(buf, ':') || strcmp(buf, "localhost") == 0) {
			if (!domain_ok(buf))
				return nb_err_set(e, EINVAL, "reference '%s': invalid registry '%s'", s, buf);
			snprintf(r->domain, sizeof(r->domain), "%s", buf);
			rest = slash + 1;
		} else {
			*slash = '/';
		}
	}
	r->short_name = !r->domain[0];
	if (!r->domain[0] || strcmp(r->domain, "index.docker.io") == 0 ||
	    strcmp(r->domain, "registry-1.docker.io") == 0)
		snprintf(r->domain, sizeof(r->domain), "%s", "docker.io");

	/* A tag is a ':' after the last '/'. */
	slash = strrchr(rest, '/');
	colon = strrchr(slash ? slash : rest, ':');
	if (colon) {
		*colon = '\0';
		if (!tag_ok(colon + 1))
			return nb_err_set(e, EINVAL, "reference '%s': invalid tag '%s'", s, colon + 1);
		snprintf(r->tag, sizeof(r->tag), "%s", colon + 1);
	} else if (!r->digest[0]) {
		snprintf(r->tag, sizeof(r->tag), "%s", "latest");
	}
	if (!path_ok(rest))
		return nb_err_set(e, EINVAL, "reference '%s': invalid repository name '%s'", s,
				  rest);
	if (strcmp(r->domain, "docker.io") == 0 && !strchr(rest, '/')) {
		if (snprintf(r->path, sizeof(r->path), "library/%s", rest) >= (int)sizeof(r->path))
			return nb_err_set(e, EINVAL, "reference '%s': name too long", s);
	} else if (snprintf(r->path, sizeof(r->path), "%s", rest) >= (int)sizeof(r->path)) {
		return nb_err_set(e, EINVAL, "reference '%s': name too long", s);
	}
	return 0;
}

/* nb_ref_repo() - see ref.h */
void nb_ref_repo(const struct nb_ref *r, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", r->domain, r->path);
}

/* nb_ref_name() - see ref.h */
void nb_ref_name(const struct nb_ref *r, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s%s%s%s%s", r->domain, r->path, r->tag[0] ? ":" : "", r->tag,
		 r->digest[0] ? "@" : "", r->digest);
}

/* nb_ref_registry_host() - see ref.h */
const char *nb_ref_registry_host(const struct nb_ref *r)
{
	return strcmp(r->domain, "docker.io") == 0 ? "registry-1.docker.io" : r->domain;
}
