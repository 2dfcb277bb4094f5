/* SPDX-License-Identifier: MIT */
/* spool: bodies written from the loop thread as they arrive; hashed there
 * while small, and past FR_SPOOL_INLINE by the helper thread, which maps the
 * written bytes (still in the page cache) and hashes them in place, so the
 * loop thread does no more per byte than `curl -o` does. The helper hands
 * back through a mutex-guarded list and a pipe the loop watches. Only bytes
 * already written are mapped, and the temporary file has no other writer. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "htab.h"
#include "spool.h"
#include "util.h"

/* The helper is handed work in steps of this many bytes. */
#define STEP (1024 * 1024)
/* It maps what was written in windows of at most this size. */
#define MAPMAX (16 * 1024 * 1024)

struct fr_spool {
	struct fr_spooler *sr;
	char *path, *tmp, *dir;
	int fd, rfd;			/* writing; the helper's reading */
	int made;			/* the temporary file exists */
	int anon;			/* it is an O_TMPFILE with no name yet */
	int unnamable;			/* naming it failed: it stays anonymous */
	char error[600];
	struct fr_hasher h;
	struct fr_pinhasher ph;
	enum fr_pin_algo extra;
	int hashing;			/* h (and ph) initialised */
	int threaded;			/* past FR_SPOOL_INLINE: the helper hashes */
	int noreader;			/* no helper or no reading fd: the loop hashes */
	uint64_t bytes;			/* written */
	void (*ready)(void *arg);
	void *arg;
	/* under sr->lock */
	uint64_t avail;			/* the helper may hash up to here */
	uint64_t hashed;		/* hashed up to here */
	int readerr;			/* errno of a failed read back */
	int inhelper;			/* queued for or held by the helper */
	int waiting;			/* fr_spool_end waits for the helper */
	int dead;			/* aborted: whoever holds it last frees it */
	int listed;			/* in sr->done */
	struct fr_spool *qnext;
};

struct fr_spooler {
	struct fr_loop *loop;
	int noproc;			/* no /proc/self/fd: no O_TMPFILE (linkat needs it) */
	struct fr_htab *dirs;		/* directory -> its leftovers (struct fr_htab of names) */
	pthread_t thread;
	int started, stop;
	int pipe[2];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct fr_spool *qhead, *qtail;	/* for the helper */
	struct fr_spool **done;		/* for the loop: ready() is due */
	size_t ndone, donecap;
};

static void
freespool(struct fr_spool *sp)
{
	if (sp->hashing) {
		struct fr_digest junk;
		fr_hasher_final(&sp->h, &junk);
		fr_pinhasher_final(&sp->ph, NULL);
	}
	if (sp->rfd >= 0)
		close(sp->rfd);
	if (sp->fd >= 0)
		close(sp->fd);
	free(sp->path);
	free(sp->tmp);
	free(sp->dir);
	free(sp);
}

/* Hash what sp has written beyond what is hashed, until it is all hashed. */
static void
work(struct fr_spooler *sr, struct fr_spool *sp, uint64_t page)
{
	uint64_t from, to;
	int gone, wake, err = 0;
	char c = 0;

	for (;;) {
		pthread_mutex_lock(&sr->lock);
		if (err)
			sp->readerr = err;
		from = sp->hashed;
		to = sp->avail;
		if (sp->dead || err || from >= to) {
			sp->inhelper = 0;
			gone = sp->dead;
			wake = !gone && sp->waiting && !sp->listed;
			if (wake) {
				FR_PUSH(sr->done, sr->ndone, sr->donecap, sp);
				sp->listed = 1;
			}
			pthread_mutex_unlock(&sr->lock);
			if (gone)
				freespool(sp);
			if (wake && write(sr->pipe[1], &c, 1) < 0 && errno != EAGAIN)
				abort();
			return;
		}
		pthread_mutex_unlock(&sr->lock);
		while (from < to) {
			/* map what is written (it is in the page cache) rather than
			 * copy it out: the helper's time is the download's tail */
			uint64_t base = from & ~(page - 1), len = to - base;
			char *m;
			if (len > MAPMAX)
				len = MAPMAX;
			m = mmap(NULL, (size_t)len, PROT_READ, MAP_SHARED | MAP_POPULATE, sp->rfd,
			    (off_t)base);
			if (m == MAP_FAILED) {
				err = errno;
				break;
			}
			fr_hasher_add(&sp->h, m + (from - base), (size_t)(base + len - from));
			if (sp->ph.ctx)
				fr_pinhasher_add(&sp->ph, m + (from - base), (size_t)(base + len - from));
			munmap(m, (size_t)len);
			from = base + len;
		}
		pthread_mutex_lock(&sr->lock);
		sp->hashed = from;
		pthread_mutex_unlock(&sr->lock);
	}
}

static void *
helper(void *arg)
{
	struct fr_spooler *sr = arg;
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	struct fr_spool *sp;

	for (;;) {
		pthread_mutex_lock(&sr->lock);
		while (!sr->qhead && !sr->stop)
			pthread_cond_wait(&sr->cond, &sr->lock);
		if (!(sp = sr->qhead)) {
			pthread_mutex_unlock(&sr->lock);
			return NULL;
		}
		if (!(sr->qhead = sp->qnext))
			sr->qtail = NULL;
		pthread_mutex_unlock(&sr->lock);
		work(sr, sp, page);
	}
}

/* Hand sp to the helper unless it holds it already (sr->lock held). */
static void
enqueue(struct fr_spooler *sr, struct fr_spool *sp)
{
	if (sp->inhelper)
		return;
	sp->inhelper = 1;
	sp->qnext = NULL;
	if (sr->qtail)
		sr->qtail->qnext = sp;
	else
		sr->qhead = sp;
	sr->qtail = sp;
	pthread_cond_signal(&sr->cond);
}

/* The pipe is readable: call ready() of each spool the helper listed. */
static void
onwake(void *arg, int fd, short revents)
{
	struct fr_spooler *sr = arg;
	struct fr_spool *sp;
	char buf[64];

	(void)revents;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	for (;;) {
		pthread_mutex_lock(&sr->lock);
		sp = sr->ndone ? sr->done[--sr->ndone] : NULL;
		if (sp) {
			sp->listed = 0;
			sp->waiting = 0;
		}
		pthread_mutex_unlock(&sr->lock);
		if (!sp)
			return;
		sp->ready(sp->arg);	/* may abort other listed spools: one at a time */
	}
}

struct fr_spooler *
fr_spooler_new(struct fr_loop *loop)
{
	struct fr_spooler *sr = fr_xcalloc(1, sizeof(*sr));

	sr->loop = loop;
	sr->pipe[0] = sr->pipe[1] = -1;
	sr->noproc = access("/proc/self/fd", X_OK) < 0;
	sr->dirs = fr_htab_new(8);
	pthread_mutex_init(&sr->lock, NULL);
	pthread_cond_init(&sr->cond, NULL);
	return sr;
}

void
fr_spooler_free(struct fr_spooler *sr)
{
	const char *k, *name;
	void *v, *w;
	size_t pos = 0, at;

	if (!sr)
		return;
	while (fr_htab_next(sr->dirs, &pos, &k, &v)) {
		for (at = 0; fr_htab_next(v, &at, &name, &w);)
			free((char *)name);
		fr_htab_free(v);
		free((char *)k);
	}
	fr_htab_free(sr->dirs);
	if (sr->started) {
		pthread_mutex_lock(&sr->lock);
		sr->stop = 1;
		pthread_cond_signal(&sr->cond);
		pthread_mutex_unlock(&sr->lock);
		pthread_join(sr->thread, NULL);
		fr_loop_unwatch_fd(sr->loop, sr->pipe[0]);
		close(sr->pipe[0]);
		close(sr->pipe[1]);
	}
	pthread_mutex_destroy(&sr->lock);
	pthread_cond_destroy(&sr->cond);
	free(sr->done);
	free(sr);
}

/* Start the helper: 0, or -1 when no thread can be made (the loop hashes). */
static int
start(struct fr_spooler *sr)
{
	if (sr->started)
		return 0;
	if (pipe2(sr->pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -1;
	if (pthread_create(&sr->thread, NULL, helper, sr) != 0) {
		close(sr->pipe[0]);
		close(sr->pipe[1]);
		return -1;
	}
	fr_loop_watch_fd(sr->loop, sr->pipe[0], POLLIN, onwake, sr);
	sr->started = 1;
	return 0;
}

struct fr_spool *
fr_spool_new(struct fr_spooler *sr, const char *path, enum fr_pin_algo extra,
    void (*ready)(void *arg), void *arg)
{
	struct fr_spool *sp = fr_xcalloc(1, sizeof(*sp));
	const char *slash = strrchr(path, '/');

	sp->sr = sr;
	sp->path = fr_xstrdup(path);
	sp->tmp = slash ? fr_xasprintf("%.*s/.%s.flowrun-tmp", (int)(slash - path), path,
	    slash + 1) : fr_xasprintf(".%s.flowrun-tmp", path);
	sp->dir = slash ? fr_xstrndup(path, slash == path ? 1 : (size_t)(slash - path)) :
	    fr_xstrdup(".");
	sp->fd = sp->rfd = -1;
	sp->extra = extra;
	sp->ready = ready;
	sp->arg = arg;
	return sp;
}

static int
failed(struct fr_spool *sp, const char *what, int errnum)
{
	snprintf(sp->error, sizeof(sp->error), "cannot %s %s: %s", what, sp->tmp,
	    strerror(errnum));
	return -1;
}

/* Give the anonymous temporary file its name, replacing a file a crashed run
 * left there. When it cannot be named it stays anonymous: only its name is lost. */
static void
name(struct fr_spool *sp)
{
	for (;;) {
		if (fr_linkfd(sp->fd, sp->tmp) == 0) {
			sp->anon = 0;
			return;
		}
		if (errno != EEXIST || unlink(sp->tmp) < 0)
			break;
	}
	sp->unnamable = 1;
}

/* Make the temporary file: an anonymous one in the output's directory
 * (O_TMPFILE) when the file system has them, else the named one, replacing
 * a file a crashed run left; start hashing. */
static int
begin(struct fr_spool *sp)
{
	if (sp->made)
		return 0;
	if (!sp->sr->noproc &&
	    (sp->fd = open(sp->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0666)) >= 0) {
		sp->anon = 1;
	} else {
		for (;;) {
			sp->fd = open(sp->tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
			    0666);
			if (sp->fd >= 0 || errno != EEXIST || unlink(sp->tmp) < 0)
				break;
		}
		if (sp->fd < 0)
			return failed(sp, "create", errno);
	}
	sp->made = 1;
	fr_hasher_init(&sp->h);
	if (sp->extra != FR_PIN_NONE)
		fr_pinhasher_init(&sp->ph, sp->extra);
	sp->hashing = 1;
	return 0;
}

int
fr_spool_add(struct fr_spool *sp, const void *p, size_t n)
{
	struct fr_spooler *sr = sp->sr;

	if (begin(sp) < 0)
		return -1;
	/* a body that comes in more than one piece is named, so that it can be
	 * watched as it grows; one in a single piece is never seen half-written */
	if (sp->anon && sp->bytes > 0 && !sp->unnamable)
		name(sp);
	/* written as it comes, in the pieces libcurl hands on: writes of 1 MiB
	 * into the page cache cost Linux 6 twice the time of 16 KiB ones */
	if (fr_write_full(sp->fd, p, n) < 0)
		return failed(sp, "write", errno);
	sp->bytes += n;
	if (!sp->threaded) {
		fr_hasher_add(&sp->h, p, n);
		if (sp->ph.ctx)
			fr_pinhasher_add(&sp->ph, p, n);
		if (sp->bytes <= FR_SPOOL_INLINE || sp->noreader)
			return 0;
		if (start(sr) < 0 || (sp->rfd = fcntl(sp->fd, F_DUPFD_CLOEXEC, 0)) < 0) {
			sp->noreader = 1;	/* hash it all here, then */
			return 0;
		}
		sp->threaded = 1;	/* the helper goes on from here */
		sp->hashed = sp->avail = sp->bytes;
		return 0;
	}
	if (sp->bytes - sp->avail >= STEP) {
		pthread_mutex_lock(&sr->lock);
		sp->avail = sp->bytes;
		enqueue(sr, sp);
		pthread_mutex_unlock(&sr->lock);
	}
	return 0;
}

int
fr_spool_end(struct fr_spool *sp)
{
	struct fr_spooler *sr = sp->sr;
	int wait;

	if (begin(sp) < 0)
		return -1;
	if (!sp->threaded)
		return 0;
	pthread_mutex_lock(&sr->lock);
	sp->avail = sp->bytes;
	wait = sp->hashed < sp->avail || sp->inhelper;
	if (wait) {
		sp->waiting = 1;
		enqueue(sr, sp);
	}
	pthread_mutex_unlock(&sr->lock);
	return wait;
}

int
fr_spool_digests(struct fr_spool *sp, struct fr_digest *sha256, struct fr_pin *extra)
{
	int rc = 0;

	fr_hasher_final(&sp->h, sha256);
	if (sp->ph.ctx)
		fr_pinhasher_final(&sp->ph, extra);
	sp->hashing = 0;
	if (sp->readerr)
		rc = failed(sp, "read back", sp->readerr);
	if (sp->anon)	/* linked through its descriptor: closed by fr_spool_commit */
		return rc;
	if (close(sp->fd) < 0 && rc == 0)
		rc = failed(sp, "write", errno);
	sp->fd = -1;
	return rc;
}

uint64_t
fr_spool_bytes(const struct fr_spool *sp)
{
	return sp->bytes;
}

const char *
fr_spool_error(const struct fr_spool *sp)
{
	return sp->error;
}

/* A leftover in a directory's table: still there, or removed. */
static char mark[2];
#define LEFT ((void *)&mark[0])
#define GONE ((void *)&mark[1])

/* Remove the file a crashed run left under the temporary name of sp, whose
 * body was never named: the directory is read once for such files. */
static void
leftover(struct fr_spool *sp)
{
	struct fr_htab *left = fr_htab_get(sp->sr->dirs, sp->dir);
	const char *base = strrchr(sp->tmp, '/') ? strrchr(sp->tmp, '/') + 1 : sp->tmp;
	struct dirent *de;
	size_t n;
	DIR *d;

	if (!left) {
		left = fr_htab_new(4);
		if ((d = opendir(sp->dir))) {
			while ((de = readdir(d)))
				if (de->d_name[0] == '.' && (n = strlen(de->d_name)) > 13 &&
				    strcmp(de->d_name + n - 12, ".flowrun-tmp") == 0)
					fr_htab_put(left, fr_xstrdup(de->d_name), LEFT);
			closedir(d);
		}
		fr_htab_put(sp->sr->dirs, fr_xstrdup(sp->dir), left);
	}
	if (fr_htab_count(left) > 0 && fr_htab_get(left, base) == LEFT) {
		unlink(sp->tmp);
		fr_htab_put(left, base, GONE);
	}
}

/* Link the anonymous file at the output: 0, 1 when the output exists (the
 * file was given its temporary name instead, to be renamed), -1. */
static int
linkout(struct fr_spool *sp, struct fr_stat *st, int *errnum)
{
	struct stat sb;

	if (fr_linkfd(sp->fd, sp->path) == 0) {
		/* the link changed its ctime: stat it now, on the descriptor */
		if (fstat(sp->fd, &sb) == 0)
			fr_stat_from(st, &sb);
		else
			*errnum = errno;
		if (close(sp->fd) < 0) {	/* a write error after all: take it back */
			*errnum = errno;
			sp->fd = -1;
			unlink(sp->path);
			return -1;
		}
		sp->fd = -1;
		return *errnum ? -2 : 0;
	}
	if (errno != EEXIST)
		return *errnum = errno, -1;
	name(sp);
	if (sp->anon)
		return *errnum = EEXIST, -1;
	return 1;
}

int
fr_spool_commit(struct fr_spool *sp, int replace, struct fr_stat *st, int *errnum)
{
	int rc = 0;

	*errnum = 0;
	if (sp->anon) {
		leftover(sp);
		if (!replace || (rc = linkout(sp, st, errnum)) <= 0) {
			freespool(sp);	/* closes the descriptor, removing the file */
			return rc;
		}
		if (close(sp->fd) < 0) {
			*errnum = errno;
			rc = -1;
		}
		sp->fd = -1;
		if (rc < 0) {
			unlink(sp->tmp);
			freespool(sp);
			return -1;
		}
		rc = 0;	/* named now: renamed over the output as below */
	}
	if (replace && rename(sp->tmp, sp->path) < 0) {
		*errnum = errno;
		rc = -1;
	}
	if (!replace || rc < 0)
		unlink(sp->tmp);
	else if (fr_stat_path(sp->path, st) < 0) {
		*errnum = errno;
		rc = -2;
	}
	freespool(sp);
	return rc;
}

void
fr_spool_abort(struct fr_spool *sp)
{
	struct fr_spooler *sr;
	size_t i;
	int later;

	if (!sp)
		return;
	sr = sp->sr;
	if (sp->fd >= 0)
		close(sp->fd);
	sp->fd = -1;
	if (sp->made && !sp->anon)
		unlink(sp->tmp);
	pthread_mutex_lock(&sr->lock);
	for (i = 0; sp->listed && i < sr->ndone; i++)
		if (sr->done[i] == sp) {
			sr->done[i] = sr->done[--sr->ndone];
			sp->listed = 0;
		}
	sp->dead = 1;
	later = sp->inhelper;
	pthread_mutex_unlock(&sr->lock);
	if (!later)
		freespool(sp);
}
