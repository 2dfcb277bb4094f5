/* SPDX-License-Identifier: MIT */
/* json: flowrun's canonical JSON text, the form keys, results and commands
 * are made of: compact, object keys sorted, byte for byte what Jansson's
 * json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) gives (so
 * records written by earlier versions keep their keys), only faster. */
#ifndef FR_JSON_H
#define FR_JSON_H

#include <jansson.h>

#include "buf.h"

/* Append the canonical text of v (borrowed; NULL is written as null) to b. */
void fr_json_canon(struct fr_buf *b, const json_t *v);
/* The same, stopping soon after b grows past max bytes (values shared by
 * YAML aliases can stand for far more text than memory holds): 0, or -1 when
 * it stopped (b then holds a cut text). */
int fr_json_canon_max(struct fr_buf *b, const json_t *v, size_t max);

#endif
