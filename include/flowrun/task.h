/* SPDX-License-Identifier: MIT */
/* flowrun/task.h: the ABI of call tasks. A plugin is a shared library that
 * includes this header, says FLOWRUN_TASK_PLUGIN once, and exports functions
 * of the type flowrun_task_fn, which flowrun loads with dlopen and calls with
 * the task's args (after templating) as a Jansson value. See flowrun-task(3). */
#ifndef FLOWRUN_TASK_H
#define FLOWRUN_TASK_H

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>

/* The version of this ABI; flowrun refuses a plugin built for another one. */
#define FLOWRUN_TASK_ABI 1

/* What flowrun hands a call: do not touch the fields, use the functions below. */
struct flowrun_ctx {
	int abi;				/* FLOWRUN_TASK_ABI of the caller */
	const char *task;			/* the task instance, e.g. "square[x=3]" */
	void (*fail)(struct flowrun_ctx *ctx, const char *message);
	void *priv;
};

/* A call task's function. args: the task's args object, borrowed (do not
 * modify or keep it). Return a new reference, which flowrun takes (its JSON
 * result), or NULL after flowrun_task_error. With isolation: thread (the
 * default) functions run on flowrun's worker threads and must be thread-safe. */
typedef json_t *flowrun_task_fn(const json_t *args, struct flowrun_ctx *ctx);

/* Say why the call failed; the function then returns NULL. The first message wins. */
static inline void
flowrun_task_error(struct flowrun_ctx *ctx, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctx->fail(ctx, msg);
}

/* Exported once per plugin: the ABI it was built for. */
#define FLOWRUN_TASK_PLUGIN \
	extern const int flowrun_task_abi; \
	__attribute__((visibility("default"))) const int flowrun_task_abi = FLOWRUN_TASK_ABI

#endif
