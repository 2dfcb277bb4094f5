/* SPDX-License-Identifier: MIT */
/* env: the environment a task runs with, as a NULL-terminated array of
 * "NAME=VALUE" strings made from a base and the names set over it. */
#ifndef FR_ENV_H
#define FR_ENV_H

#include <stddef.h>

/* A new environment: the nbase entries of base without the n names, then each
 * names[i]=vals[i]; *nout gets its length. Every string is a copy. */
char **fr_env_make(char *const *base, size_t nbase, char *const *names, char *const *vals,
    size_t n, size_t *nout);
/* Free an environment fr_env_make made; NULL is a no-op. */
void fr_env_free(char **env);

#endif
