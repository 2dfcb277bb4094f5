/* SPDX-License-Identifier: MIT */
/* tracks: the longest track of one CSV file (header, then id,length rows), as
 * a call task for the track-length example. */
#include <stdio.h>
#include <stdlib.h>

#include <flowrun/task.h>

FLOWRUN_TASK_PLUGIN;

json_t *longest(const json_t *args, struct flowrun_ctx *ctx);

json_t *
longest(const json_t *args, struct flowrun_ctx *ctx)
{
	const char *path = json_string_value(json_object_get(args, "path"));
	char line[4096];
	long best = -1, id, len;
	FILE *f;

	if (!path) {
		flowrun_task_error(ctx, "args.path must be a file name");
		return NULL;
	}
	if (!(f = fopen(path, "r"))) {
		flowrun_task_error(ctx, "cannot open %s", path);
		return NULL;
	}
	if (!fgets(line, sizeof(line), f)) {	/* the header */
		fclose(f);
		flowrun_task_error(ctx, "%s is empty", path);
		return NULL;
	}
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%ld,%ld", &id, &len) == 2 && len > best)
			best = len;
	fclose(f);
	if (best < 0) {
		flowrun_task_error(ctx, "%s has no tracks", path);
		return NULL;
	}
	return json_integer(best);
}
