/* SPDX-License-Identifier: MIT */
/* event: one stream of run events, fanned out to subscribers. */
#define _POSIX_C_SOURCE 200809L
#include "event.h"
#include "util.h"

static struct {
	fr_event_fn *fn;
	void *arg;
} subs[8];
static size_t nsubs;

void
fr_event_subscribe(fr_event_fn *fn, void *arg)
{
	if (nsubs < FR_NELEM(subs)) {
		subs[nsubs].fn = fn;
		subs[nsubs++].arg = arg;
	}
}

void
fr_event_reset(void)
{
	nsubs = 0;
}

void
fr_event_emit(struct fr_event *ev)
{
	size_t i;

	ev->time_ns = fr_now_ns();
	for (i = 0; i < nsubs; i++)
		subs[i].fn(ev, subs[i].arg);
}
