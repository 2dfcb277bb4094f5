/* SPDX-License-Identifier: MIT */
/* env: task environments made from a base and the names set over it. */
#include <stdlib.h>
#include <string.h>

#include "env.h"
#include "util.h"

/* Whether entry ("NAME=VALUE") sets name. */
static int
named(const char *entry, const char *name)
{
	size_t n = strlen(name);
	return strncmp(entry, name, n) == 0 && entry[n] == '=';
}

char **
fr_env_make(char *const *base, size_t nbase, char *const *names, char *const *vals, size_t n,
    size_t *nout)
{
	char **env = fr_xcalloc(nbase + n + 1, sizeof(*env));
	size_t i, j, k = 0;

	for (i = 0; i < nbase; i++) {
		for (j = 0; j < n; j++)
			if (named(base[i], names[j]))
				break;
		if (j == n)
			env[k++] = fr_xstrdup(base[i]);
	}
	for (j = 0; j < n; j++)
		env[k++] = fr_xasprintf("%s=%s", names[j], vals[j]);
	env[k] = NULL;
	*nout = k;
	return env;
}

void
fr_env_free(char **env)
{
	size_t i;

	for (i = 0; env && env[i]; i++)
		free(env[i]);
	free(env);
}
