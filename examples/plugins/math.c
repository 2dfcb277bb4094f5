/* SPDX-License-Identifier: MIT */
/* math: the small functions of the Dask tutorials (inc, add, square, ...) as
 * flowrun call tasks. Build: cc -shared -fPIC $(pkg-config --cflags --libs flowrun-task) */
#include <stdio.h>

#include <flowrun/task.h>

FLOWRUN_TASK_PLUGIN;

/* An integer argument, or an error naming it. */
static int
arg(const json_t *args, const char *name, json_int_t *v, struct flowrun_ctx *ctx)
{
	const json_t *x = json_object_get(args, name);

	if (!json_is_integer(x)) {
		flowrun_task_error(ctx, "args.%s must be an integer", name);
		return -1;
	}
	*v = json_integer_value(x);
	return 0;
}

/* With args.log set, append the task's name to that file: the tests count calls. */
static void
logcall(const json_t *args, struct flowrun_ctx *ctx)
{
	const char *log = json_string_value(json_object_get(args, "log"));
	FILE *f;

	if (log && (f = fopen(log, "a"))) {
		fprintf(f, "%s\n", ctx->task);
		fclose(f);
	}
}

json_t *inc(const json_t *args, struct flowrun_ctx *ctx);
json_t *add(const json_t *args, struct flowrun_ctx *ctx);
json_t *sub(const json_t *args, struct flowrun_ctx *ctx);
json_t *mul(const json_t *args, struct flowrun_ctx *ctx);
json_t *square(const json_t *args, struct flowrun_ctx *ctx);
json_t *sum_to_n(const json_t *args, struct flowrun_ctx *ctx);
json_t *crash(const json_t *args, struct flowrun_ctx *ctx);
json_t *spin(const json_t *args, struct flowrun_ctx *ctx);

json_t *
inc(const json_t *args, struct flowrun_ctx *ctx)
{
	json_int_t x;

	if (arg(args, "x", &x, ctx) < 0)
		return NULL;
	return json_integer(x + 1);
}

json_t *
add(const json_t *args, struct flowrun_ctx *ctx)
{
	json_int_t x, y;

	if (arg(args, "x", &x, ctx) < 0 || arg(args, "y", &y, ctx) < 0)
		return NULL;
	return json_integer(x + y);
}

json_t *
sub(const json_t *args, struct flowrun_ctx *ctx)
{
	json_int_t x, y;

	if (arg(args, "x", &x, ctx) < 0 || arg(args, "y", &y, ctx) < 0)
		return NULL;
	return json_integer(x - y);
}

json_t *
mul(const json_t *args, struct flowrun_ctx *ctx)
{
	json_int_t x, y;

	if (arg(args, "x", &x, ctx) < 0 || arg(args, "y", &y, ctx) < 0)
		return NULL;
	return json_integer(x * y);
}

json_t *
square(const json_t *args, struct flowrun_ctx *ctx)
{
	json_int_t x;

	if (arg(args, "x", &x, ctx) < 0)
		return NULL;
	logcall(args, ctx);
	return json_integer(x * x);
}

/* 1 + 2 + ... + n, the slow way, as the tutorial does. */
json_t *
sum_to_n(const json_t *args, struct flowrun_ctx *ctx)
{
	json_int_t n, i, total = 0;

	if (arg(args, "n", &n, ctx) < 0)
		return NULL;
	for (i = 1; i <= n; i++)
		total += i;
	return json_integer(total);
}

/* For the tests: a function that crashes its process. */
json_t *
crash(const json_t *args, struct flowrun_ctx *ctx)
{
	(void)args;
	(void)ctx;
	*(volatile int *)0 = 1;
	return NULL;
}

/* For the tests: a function that never returns. */
json_t *
spin(const json_t *args, struct flowrun_ctx *ctx)
{
	volatile unsigned long n = 0;

	(void)args;
	(void)ctx;
	for (;;)
		n++;
	return NULL;
}
