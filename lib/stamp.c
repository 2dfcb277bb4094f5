/* SPDX-License-Identifier: MIT */
/* stamp: the no-op record in .flowrun/uptodate: what a run that left every
 * needed task up to date decided from, checked by statting. */

/*
 * DIR/uptodate is binary, in the byte order of the machine that wrote it,
 * written to DIR/uptodate.tmp and renamed into place (never changed in place).
 * It starts with this header (u32 and i64 host-order, naturally aligned):
 *
 *   "flowrun-uptodat1"  u32 0x01020304  u32 ntask  u32 nfile  u32 nenv
 *   u32 nglob  u32 strbytes  digest inv[32]  stat pipeline  stat state
 *
 * where a stat is i64 size (-1: no such file), i64 mtime_ns, i64 ctime_ns,
 * u64 ino, u64 dev. Then four arrays and the strings they point into:
 *
 *   file[nfile]  stat st, u32 path, u32 0, digest content[32] (SHA-256)
 *   task[ntask]  u32 name, u32 group (1: a task without an action)
 *   env[nenv]    u32 name, u32 value (0xFFFFFFFF: unset)
 *   glob[nglob]  u32 pattern, u32 0, digest matches[32]
 *   strbytes bytes of NUL-terminated strings; each u32 above is an offset here
 *
 * The digest of a glob's matches is SHA-256 over each match with its length
 * in front (fr_hasher_addstr), in glob(3)'s order. A file whose stat data
 * differ but whose content is the same (touched, copied back) is unchanged:
 * the stamp is rewritten with its new stat data. A file of any other size
 * or shape is no stamp: the run takes the long way, which writes a new one.
 *
 * What makes it sound: a task's key is made of its command after templating
 * (the pipeline file, -D, env.NAME, globs, what tasks upstream handed on), its
 * environment (the pipeline file, env.NAME) and the content of its inputs;
 * whether it is skipped also depends on its record in the state and on its
 * outputs. A stamp is written only after a run in which every needed task
 * succeeded or was skipped and none always runs, so that run's records make
 * every key of an identical run match. Files are compared by stat data, as
 * the state's stat cache compares them; the state file's own stat data cover
 * every record written since, by any run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "htab.h"
#include "stamp.h"
#include "util.h"

#define MAGIC "flowrun-uptodat1"
#define NONE UINT32_MAX
/* Past this many bytes of touched files to hash, the long way does it: it
 * hashes them too, and records what it learns in the state as well. */
#define HASHMAX (64 << 20)
/* Files a checking thread takes at a time. */
#define CHUNK 64

struct head {
	char magic[16];
	uint32_t order, ntask, nfile, nenv, nglob, strbytes;
	struct fr_digest inv;
	struct fr_stat pipeline, state;
};

struct filerec {
	struct fr_stat st;
	uint32_t path, pad;
	struct fr_digest d;
};

struct taskrec {
	uint32_t name, group;
};

struct envrec {
	uint32_t name, value;
};

struct globrec {
	uint32_t pattern, pad;
	struct fr_digest d;
};

/* A stamp's records and strings go to disk as they come, this many bytes at
 * a time (a stamp of 100,000 tasks holds 200,000 file records, 16 MB, and
 * 2.5 MB of names, at the end of the run, when everything else is still in
 * memory). */
#define FILECHUNK (64u << 10)

/* Bytes of the stamp that go to a file once they pass FILECHUNK: the file
 * records to DIR/uptodate.tmp itself, after room for the header; the task
 * records and the strings, which come after them there, each to a file with
 * no name in DIR (none to leave behind), copied in by fr_stamp_write. */
struct stream {
	struct fr_buf buf;		/* those not in the file yet */
	uint64_t len;			/* in all, those in the file included */
	int fd;				/* the file, or -1 until they first go to it */
};

struct fr_stamp {
	struct fr_digest inv;
	char *dir;
	struct stream files, tasks, strs;	/* arrays of records; the strings */
	uint32_t nfile, ntask;
	int toobig;			/* an offset would not fit in 32 bits */
	int werr;			/* errno of a write to a file that failed, or 0 */
};

struct fr_seen *
fr_seen_new(void)
{
	struct fr_seen *s = fr_xcalloc(1, sizeof(*s));

	s->envat = fr_htab_new(16);
	s->globat = fr_htab_new(16);
	return s;
}

void
fr_seen_free(struct fr_seen *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->nenv; i++) {
		free(s->envname[i]);
		free(s->envval[i]);
	}
	for (i = 0; i < s->nglob; i++)
		free(s->glob[i]);
	fr_htab_free(s->envat);
	fr_htab_free(s->globat);
	free(s->envname);
	free(s->envval);
	free(s->glob);
	free(s->globd);
	free(s);
}

void
fr_seen_env(struct fr_seen *s, const char *name, const char *value)
{
	if (fr_htab_get(s->envat, name))
		return;		/* flowrun's environment does not change while it runs */
	fr_grow(&s->envname, s->nenv + 1, &s->envcap, sizeof(*s->envname));
	s->envval = fr_xrealloc(s->envval, s->envcap * sizeof(*s->envval));
	s->envname[s->nenv] = fr_xstrdup(name);
	s->envval[s->nenv] = value ? fr_xstrdup(value) : NULL;
	s->nenv++;
	fr_htab_put(s->envat, s->envname[s->nenv - 1], (void *)(uintptr_t)s->nenv);
}

static void
matches(char *const *match, size_t n, struct fr_digest *d)
{
	struct fr_hasher h;
	size_t i;

	fr_hasher_init(&h);
	for (i = 0; i < n; i++)
		fr_hasher_addstr(&h, match[i]);
	fr_hasher_final(&h, d);
}

void
fr_seen_glob(struct fr_seen *s, const char *pattern, char *const *match, size_t n)
{
	struct fr_digest d;
	size_t at = (size_t)(uintptr_t)fr_htab_get(s->globat, pattern);

	matches(match, n, &d);
	if (at) {
		if (memcmp(&s->globd[at - 1], &d, sizeof(d)) != 0)
			s->unstable = 1;
		return;
	}
	fr_grow(&s->glob, s->nglob + 1, &s->globcap, sizeof(*s->glob));
	s->globd = fr_xrealloc(s->globd, s->globcap * sizeof(*s->globd));
	s->glob[s->nglob] = fr_xstrdup(pattern);
	s->globd[s->nglob] = d;
	s->nglob++;
	fr_htab_put(s->globat, s->glob[s->nglob - 1], (void *)(uintptr_t)s->nglob);
}

static char *
stamppath(const char *dir, const char *suffix)
{
	return fr_xasprintf("%s/uptodate%s", dir, suffix);
}

struct fr_stamp *
fr_stamp_new(const struct fr_digest *inv, const char *dir)
{
	struct fr_stamp *s = fr_xcalloc(1, sizeof(*s));

	s->inv = *inv;
	s->dir = fr_xstrdup(dir);
	s->files.fd = s->tasks.fd = s->strs.fd = -1;
	return s;
}

void
fr_stamp_free(struct fr_stamp *s)
{
	char *tmp;

	if (!s)
		return;
	if (s->files.fd >= 0) {	/* never written out: leave nothing behind */
		close(s->files.fd);
		tmp = stamppath(s->dir, ".tmp");
		unlink(tmp);
		free(tmp);
	}
	if (s->tasks.fd >= 0)
		close(s->tasks.fd);
	if (s->strs.fd >= 0)
		close(s->strs.fd);
	free(s->dir);
	fr_buf_free(&s->files.buf);
	fr_buf_free(&s->tasks.buf);
	fr_buf_free(&s->strs.buf);
	free(s);
}

/* A file with no name in dir, to read and write: O_TMPFILE, or where the
 * file system has none, one whose name goes at once. -1 with errno set. */
static int
nameless(const char *dir)
{
	char *tmp;
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd >= 0)
		return fd;
	tmp = stamppath(dir, ".part");
	if ((fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) >= 0)
		unlink(tmp);
	free(tmp);
	return fd;
}

/* Append the n bytes at p to st, first writing those it holds to its file
 * when they would pass FILECHUNK, so that its buffer never grows past it. A
 * failure is kept for fr_stamp_write to report; the bytes are dropped either
 * way, but counted, so that offsets stay right. */
static void
add(struct fr_stamp *s, struct stream *st, const void *p, size_t n)
{
	static const struct head room;

	if (st->buf.len && st->buf.len + n >= FILECHUNK) {
		if (st->fd < 0 && !s->werr && st != &s->files) {
			if ((st->fd = nameless(s->dir)) < 0)
				s->werr = errno;
		} else if (st->fd < 0 && !s->werr) {
			/* fr_stamp_write puts the header there last */
			char *tmp = stamppath(s->dir, ".tmp");
			st->fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
			if (st->fd < 0 || fr_write_full(st->fd, &room, sizeof(room)) < 0)
				s->werr = errno;
			free(tmp);
		}
		if (!s->werr && fr_write_full(st->fd, st->buf.data, st->buf.len) < 0)
			s->werr = errno;
		fr_buf_reset(&st->buf);
	}
	fr_buf_add(&st->buf, p, n);
	st->len += n;
}

/* The offset of a copy of str in the strings. */
static uint32_t
str(struct fr_stamp *s, const char *str)
{
	uint64_t at = s->strs.len;

	if (at >= NONE)
		s->toobig = 1;
	add(s, &s->strs, str, strlen(str) + 1);
	return (uint32_t)at;
}

void
fr_stamp_file(struct fr_stamp *s, const char *path, const struct fr_stat *st,
    const struct fr_digest *d)
{
	struct filerec r = {0};

	if (st) {
		r.st = *st;
		r.d = *d;
	} else {
		r.st.size = -1;
	}
	r.path = str(s, path);
	add(s, &s->files, &r, sizeof(r));
	s->nfile++;
}

void
fr_stamp_task(struct fr_stamp *s, const char *name, int group)
{
	struct taskrec r = { str(s, name), group != 0 };

	add(s, &s->tasks, &r, sizeof(r));
	s->ntask++;
}

void
fr_stamp_remove(const char *dir)
{
	char *path = stamppath(dir, "");

	unlink(path);
	free(path);
}

/* One piece of the stamp file. */
struct piece {
	const void *data;		/* NULL: the first len bytes of the file fd */
	size_t len;
	int fd;
};

/* Append the first n bytes of the file in to out: in the kernel where it
 * can be, else (no copy_file_range across these file systems, or at all)
 * through a buffer, where a real error comes up again to be reported. 0, or
 * -1 with errno set. */
static int
copy(int out, int in, size_t n)
{
	loff_t at = 0;
	size_t k;
	char *bounce;
	int rc = 0;

	while ((size_t)at < n && copy_file_range(in, &at, out, NULL, n - (size_t)at, 0) > 0)
		;
	if ((size_t)at == n)
		return 0;
	bounce = fr_xmalloc(FILECHUNK);
	for (; rc == 0 && (size_t)at < n; at += (loff_t)k) {
		k = n - (size_t)at < FILECHUNK ? n - (size_t)at : FILECHUNK;
		if (fr_pread_full(in, bounce, k, (uint64_t)at) < 0 ||
		    fr_write_full(out, bounce, k) < 0)
			rc = -1;
	}
	free(bounce);
	return rc;
}

/* Write the n pieces one after the other to fd, each from where it lies (a
 * stamp of 100,000 tasks is tens of MB: it is never copied into one buffer).
 * 0, or -1 with errno set. */
static int
putpieces(int fd, const struct piece *pc, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (pc[i].len && (pc[i].data ? fr_write_full(fd, pc[i].data, pc[i].len) :
		    copy(fd, pc[i].fd, pc[i].len)) < 0)
			return -1;
	return 0;
}

/* Write the header h and the n pieces after it (after the file records
 * already spilled) as DIR/uptodate through its temporary file. 0, or -1
 * with err set. */
static int
put(struct fr_stamp *s, const struct head *h, const struct piece *pc, size_t n,
    struct fr_error *err)
{
	char *path = stamppath(s->dir, ""), *tmp = stamppath(s->dir, ".tmp");
	int rc = -1, spilled = s->files.fd >= 0;

	if (s->files.fd < 0 && !s->werr) {
		s->files.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
		if (s->files.fd < 0)
			s->werr = errno;
	}
	if (!s->werr && (putpieces(s->files.fd, pc, n) < 0 ||
	    (spilled && pwrite(s->files.fd, h, sizeof(*h), 0) != (ssize_t)sizeof(*h))))
		s->werr = errno ? errno : EIO;
	if (s->files.fd >= 0 && close(s->files.fd) < 0 && !s->werr)
		s->werr = errno;
	s->files.fd = -1;
	if (s->werr) {
		errno = s->werr;
		fr_error_set(err, FR_ESTATE, NULL, "cannot write %s:", tmp);
		unlink(tmp);
	} else if (unlink(path) < 0 && errno != ENOENT) {
		fr_error_set(err, FR_ESTATE, NULL, "cannot replace %s:", path);
		unlink(tmp);
	} else if (rename(tmp, path) < 0) {
		/* no fsync, and the old stamp removed first, or ext4 would start
		 * writing the new one out at the rename (auto_da_alloc): a stamp
		 * lost to a crash is only a slower next run, and one that survives
		 * it still describes files that all survived with it or that
		 * differ now */
		fr_error_set(err, FR_ESTATE, NULL, "cannot rename %s:", tmp);
		unlink(tmp);
	} else {
		rc = 0;
	}
	free(path);
	free(tmp);
	return rc;
}

int
fr_stamp_write(struct fr_stamp *s, const struct fr_seen *seen,
    const struct fr_stat *pipeline, const struct fr_stat *state, struct fr_error *err)
{
	struct head h = {0};
	struct fr_buf env = {0}, glob = {0};
	size_t i;
	int rc = -1;

	for (i = 0; i < seen->nenv; i++) {
		struct envrec r = { str(s, seen->envname[i]),
		    seen->envval[i] ? str(s, seen->envval[i]) : NONE };
		fr_buf_add(&env, &r, sizeof(r));
	}
	for (i = 0; i < seen->nglob; i++) {
		struct globrec r = { str(s, seen->glob[i]), 0, seen->globd[i] };
		fr_buf_add(&glob, &r, sizeof(r));
	}
	if (s->toobig || s->strs.len >= NONE) {
		rc = fr_error_set(err, FR_ESTATE, NULL, "cannot write %s/uptodate: over 4 GB of "
		    "names", s->dir);
		goto out;
	}
	while (s->strs.len % 8)
		add(s, &s->strs, "", 1);
	memcpy(h.magic, MAGIC, sizeof(h.magic));
	h.order = 0x01020304;
	h.ntask = s->ntask;
	h.nfile = s->nfile;
	h.nenv = (uint32_t)seen->nenv;
	h.nglob = (uint32_t)seen->nglob;
	h.strbytes = (uint32_t)s->strs.len;
	h.inv = s->inv;
	h.pipeline = *pipeline;
	h.state = *state;
	{
		/* the header goes in last, at its place before the file
		 * records: those not spilled yet come first here */
		struct stream *t = &s->tasks, *strs = &s->strs;
		const struct piece pc[] = {
			{ &h, s->files.fd < 0 && !s->werr ? sizeof(h) : 0, -1 },
			{ s->files.buf.data, s->files.buf.len, -1 },
			{ NULL, t->len - t->buf.len, t->fd }, { t->buf.data, t->buf.len, -1 },
			{ env.data, env.len, -1 }, { glob.data, glob.len, -1 },
			{ NULL, strs->len - strs->buf.len, strs->fd },
			{ strs->buf.data, strs->buf.len, -1 },
		};
		rc = put(s, &h, pc, FR_NELEM(pc), err);
	}
out:
	fr_buf_free(&env);
	fr_buf_free(&glob);
	return rc;
}

void
fr_stamp_invocation(const char *pipeline, char *const *targets, size_t ntargets,
    char *const *defs, size_t ndefs, struct fr_digest *inv)
{
	struct fr_hasher h;
	struct fr_stat exe = {0};
	const char *base = strrchr(pipeline, '/');
	size_t i;

	fr_hasher_init(&h);
	fr_hasher_addstr(&h, "flowrun " PACKAGE_VERSION);
	/* a rebuilt flowrun may decide differently */
	if (fr_stat_path("/proc/self/exe", &exe) == 0)
		fr_hasher_add(&h, &exe, sizeof(exe));
	fr_hasher_addstr(&h, base ? base + 1 : pipeline);
	for (i = 0; i < ntargets; i++)
		fr_hasher_addstr(&h, targets[i]);
	fr_hasher_addstr(&h, "");
	for (i = 0; i < ndefs; i++)
		fr_hasher_addstr(&h, defs[i]);
	fr_hasher_final(&h, inv);
}

/* Whether path's stat data are st (size -1: no such file). */
static int
same(const char *path, const struct fr_stat *st)
{
	struct fr_stat now;

	if (fr_stat_path(path, &now) < 0)
		return st->size < 0 && (errno == ENOENT || errno == ENOTDIR);
	return st->size >= 0 && fr_stat_equal(&now, st);
}

/* Whether the file of f is unchanged: the same stat data, or other stat data
 * (then put in f) over the same content, hashed while *budget allows. */
static int
unchanged(struct filerec *f, const char *path, int *touched, int64_t *budget)
{
	struct fr_stat now;
	struct fr_digest d;
	struct fr_error err = {0};

	if (same(path, &f->st))
		return 1;
	if (f->st.size < 0 || __atomic_sub_fetch(budget, f->st.size, __ATOMIC_RELAXED) < 0 ||
	    fr_digest_file(path, &d, &now, &err) < 0 || memcmp(&d, &f->d, sizeof(d)) != 0)
		return 0;
	f->st = now;
	*touched = 1;
	return 1;
}

struct checker {
	pthread_t thread;
	struct filerec *file;
	const char *strs;
	size_t n;
	size_t *next;			/* shared: the next chunk to take, in file order */
	int *differs;			/* shared: someone found a change */
	int64_t *budget;		/* shared: bytes of touched files left to hash */
	int touched;			/* some file has new stat data, not new content */
};

static void *
checkfiles(void *arg)
{
	struct checker *c = arg;
	size_t i, end;

	/* every thread takes the next chunk, so that the files most likely to
	 * have changed, which come first, are checked first */
	while (!__atomic_load_n(c->differs, __ATOMIC_RELAXED) &&
	    (i = __atomic_fetch_add(c->next, CHUNK, __ATOMIC_RELAXED)) < c->n) {
		for (end = c->n - i < CHUNK ? c->n : i + CHUNK; i < end; i++) {
			if (!unchanged(&c->file[i], c->strs + c->file[i].path, &c->touched,
			    c->budget)) {
				__atomic_store_n(c->differs, 1, __ATOMIC_RELAXED);
				break;
			}
		}
	}
	return NULL;
}

/* Check the n files on up to threads threads (this one included): 1 all
 * unchanged, with *touched set when some have new stat data. */
static int
allsame(struct filerec *file, size_t n, const char *strs, unsigned threads, int *touched)
{
	struct checker c[8];
	int differs = 0;
	int64_t budget = HASHMAX;
	size_t next = 0, k, nt = threads < 1 ? 1 : threads > 8 ? 8 : threads, started = 0;

	if (n < 256 * nt)
		nt = n / 256 + 1;	/* a thread is dearer than a few hundred stats */
	for (k = 0; k < nt; k++) {
		c[k].file = file;
		c[k].strs = strs;
		c[k].n = n;
		c[k].next = &next;
		c[k].differs = &differs;
		c[k].budget = &budget;
		c[k].touched = 0;
	}
	for (k = 1; k < nt; k++) {
		if (pthread_create(&c[k].thread, NULL, checkfiles, &c[k]) != 0)
			break;
		started = k;
	}
	for (k = started + 1; k < nt; k++)	/* those that could not be started */
		checkfiles(&c[k]);
	checkfiles(&c[0]);
	for (k = 1; k <= started; k++)
		pthread_join(c[k].thread, NULL);
	for (k = 0; k < nt; k++)
		*touched |= c[k].touched;
	return !differs;
}

/* Whether the string at off lies in the strings. */
static int
strok(uint32_t off, const char *strs, uint32_t strbytes)
{
	return off < strbytes && memchr(strs + off, '\0', strbytes - off) != NULL;
}

int
fr_stamp_check(const char *dir, const struct fr_digest *inv, const char *pipeline,
    const char *statepath, unsigned threads, int rewrite, struct fr_stamp_view *v,
    const char **why)
{
	char *path = stamppath(dir, "");
	struct stat sb;
	struct head h;
	struct filerec *file;
	const struct taskrec *task;
	const struct envrec *env;
	const struct globrec *globs;
	const char *strs;
	unsigned char *data = NULL;
	size_t i, size;
	int fd = -1, touched = 0;
	struct fr_error err = {0};

	memset(v, 0, sizeof(*v));
	*why = "no stamp";
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		goto no;
	*why = "a damaged stamp";
	if (fstat(fd, &sb) < 0 || (size_t)sb.st_size < sizeof(h))
		goto no;
	size = (size_t)sb.st_size;
	data = fr_xmalloc(size);
	if (fr_read_full(fd, data, size) != (long)size)
		goto no;
	memcpy(&h, data, sizeof(h));
	if (memcmp(h.magic, MAGIC, sizeof(h.magic)) != 0 || h.order != 0x01020304 ||
	    size != sizeof(h) + (size_t)h.nfile * sizeof(*file) + (size_t)h.ntask * sizeof(*task) +
	    (size_t)h.nenv * sizeof(*env) + (size_t)h.nglob * sizeof(*globs) + h.strbytes ||
	    h.strbytes == 0 || data[size - 1] != '\0')
		goto no;
	file = (struct filerec *)(data + sizeof(h));
	task = (const struct taskrec *)(file + h.nfile);
	env = (const struct envrec *)(task + h.ntask);
	globs = (const struct globrec *)(env + h.nenv);
	strs = (const char *)(globs + h.nglob);
	*why = "another invocation";
	if (memcmp(&h.inv, inv, sizeof(h.inv)) != 0)
		goto no;
	*why = "the pipeline file changed";
	if (!same(pipeline, &h.pipeline))
		goto no;
	*why = "the state changed";
	if (!same(statepath, &h.state))
		goto no;
	*why = "an environment variable changed";
	for (i = 0; i < h.nenv; i++) {
		const char *now;
		if (!strok(env[i].name, strs, h.strbytes) ||
		    (env[i].value != NONE && !strok(env[i].value, strs, h.strbytes)))
			goto no;
		now = getenv(strs + env[i].name);
		if (env[i].value == NONE ? now != NULL :
		    !now || strcmp(now, strs + env[i].value) != 0)
			goto no;
	}
	*why = "a glob matches other files";
	for (i = 0; i < h.nglob; i++) {
		struct fr_digest d;
		glob_t gl;
		int grc;
		if (!strok(globs[i].pattern, strs, h.strbytes))
			goto no;
		grc = glob(strs + globs[i].pattern, 0, NULL, &gl);
		matches(gl.gl_pathv, grc == 0 ? gl.gl_pathc : 0, &d);
		globfree(&gl);
		if (memcmp(&d, &globs[i].d, sizeof(d)) != 0)
			goto no;
	}
	*why = "a damaged stamp";
	for (i = 0; i < h.nfile; i++)
		if (!strok(file[i].path, strs, h.strbytes))
			goto no;
	for (i = 0; i < h.ntask; i++)
		if (!strok(task[i].name, strs, h.strbytes))
			goto no;
	*why = "a file changed";
	if (!allsame(file, h.nfile, strs, threads, &touched))
		goto no;
	if (touched && rewrite) {
		const struct piece whole = { data, size, -1 };
		struct fr_stamp again = { .dir = (char *)dir, .files.fd = -1 };
		/* else the next run hashes them again */
		put(&again, (const struct head *)data, &whole, 1, &err);
	}
	v->data = data;
	v->ntask = h.ntask;
	v->name = fr_xcalloc(h.ntask ? h.ntask : 1, sizeof(*v->name));
	v->group = fr_xcalloc(h.ntask ? h.ntask : 1, 1);
	for (i = 0; i < h.ntask; i++) {
		v->name[i] = strs + task[i].name;
		v->group[i] = task[i].group != 0;
	}
	close(fd);
	free(path);
	*why = NULL;
	return 1;
no:
	if (fd >= 0)
		close(fd);
	free(data);
	free(path);
	return 0;
}

void
fr_stamp_view_free(struct fr_stamp_view *v)
{
	free(v->data);
	free(v->name);
	free(v->group);
	memset(v, 0, sizeof(*v));
}
