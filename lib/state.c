/* SPDX-License-Identifier: MIT */
/* state: the records flowrun keeps between runs in .flowrun/, an append-only
 * text file of checksummed lines under an exclusive flock(2). */

/*
 * Files in the state directory DIR:
 *   DIR/state      the records (below)
 *   DIR/lock       flock(2)ed by the running flowrun, which writes its pid into it
 *   DIR/state.tmp  a compacted copy of DIR/state being written, then renamed over it
 *
 * DIR/state is text. Its first line is exactly "flowrun-state 1\n"; anything
 * else means an unknown format: flowrun warns, starts empty and rewrites the
 * file from scratch at its first write. (An empty file is silently empty.)
 * Then come records, one per line:
 *
 *   FIELD<TAB>FIELD<TAB>...FIELD<TAB>#XXXXXXXX<LF>
 *
 * XXXXXXXX is the lowercase hex FNV-1a 32-bit hash (basis 0x811c9dc5, prime
 * 0x01000193) of every byte of the line before the "<TAB>#". In text fields a
 * backslash, TAB, LF and CR are written \\ \t \n \r. The records are:
 *
 *   T  name  key  cmd  env  duration_ns  result  N_in  (path digest)*N_in
 *      N_out  (path digest)*N_out  N_dep  (task digest)*N_dep
 *	the last success of a task instance. key, cmd, env and each digest are
 *	64 lowercase hex digits (SHA-256); duration_ns is a decimal integer;
 *	result is compact JSON text, or "-" when there is none (a result that
 *	is the one character "-" is written "\-").
 *   F  path  size  mtime_ns  ctime_ns  ino  dev  digest
 *	the stat data and content digest of a file that was hashed (decimal
 *	integers; the times in nanoseconds since the epoch).
 *
 * A later T record for the same name, or F record for the same path,
 * supersedes an earlier one. A line whose checksum is wrong, which does not
 * parse, or which has no final LF (a write torn by a crash) is dropped with a
 * warning; the tasks it described simply run again. flowrun appends each
 * batch of lines (the new F records, then a T record) with a single write(2),
 * first cutting off a torn last line. At the end of a run that wrote anything,
 * if superseded lines outnumber live ones in a file of over 1000 lines, or
 * damaged lines were dropped, it writes the live records to DIR/state.tmp,
 * fsyncs it, renames it over DIR/state and fsyncs DIR.
 *
 * In memory the whole file is one buffer. Loading checks each line's checksum
 * (four lines side by side) and indexes it by name; the remaining fields are
 * split (and unescaped in place) only when the record is first asked for. So
 * a line with a good checksum whose fields do not parse, which flowrun never
 * writes, is dropped (with its own warning) when first asked for.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE		/* flock */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "htab.h"
#include "log.h"
#include "state.h"
#include "util.h"

#define MAGIC "flowrun-state 1\n"
#define MAGICLEN (sizeof(MAGIC) - 1)
#define SUMLEN 10		/* "\t#XXXXXXXX" */
#define COMPACT_MIN 1000	/* never compact a file of fewer lines */
#define FNV_BASIS 2166136261u
#define FNV_PRIME 16777619u

/* A record: T (task) or F (file), parsed on first use. */
struct ent {
	const char *name;	/* task name or file path; the htab key */
	char *raw;		/* the fields after the name, not split yet; or NULL */
	void *val;		/* T: struct fr_state_rec; F: struct fval; NULL until parsed */
	char type, bad, pending;
};

struct fval {
	struct fr_stat st;
	struct fr_digest d;
};

struct fr_state {
	char *dir, *path, *tmp;
	enum fr_lock_mode mode;
	int lockfd, wfd;
	char *data;		/* the file as loaded */
	size_t len, goodlen;	/* its length, and up to its last whole line */
	struct ent *ents;	/* the loaded records */
	size_t nent;
	struct fr_htab *task, *file;	/* name -> ent, path -> ent */
	size_t nbad[2];		/* T and F entries found not to parse */
	size_t nlines;		/* record lines in the file, dead ones included */
	int64_t wsize;		/* size of the file open for appending */
	void **block;		/* allocations freed at close */
	size_t nblock, capblock;
	struct ent **pending;	/* file records to write */
	size_t npending, cappending;
	struct fr_buf wbuf;
	int restart;		/* (re)create the file before appending */
	int rewrite;		/* damaged lines: compact at close if anything was written */
	int torn;		/* the file may end in a partial line */
	int wrote;		/* something was written during this open */
};

static void
keep(struct fr_state *s, void *p)
{
	FR_PUSH(s->block, s->nblock, s->capblock, p);
}

static uint32_t
fnv(uint32_t h, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ (unsigned char)p[i]) * FNV_PRIME;
	return h;
}

/* The sums of n <= 4 lines (0 for lines too short to hold one). Each line's
 * hash is a chain of multiplications; four side by side run 3-4 times faster. */
static void
sum4(char *const *line, const size_t *len, int n, uint32_t *sum)
{
	size_t l[4] = { 0, 0, 0, 0 }, m = SIZE_MAX, i;
	uint32_t a = FNV_BASIS, b = a, c = a, d = a;
	const unsigned char *p[4];
	int k;

	for (k = 0; k < 4; k++) {
		p[k] = (const unsigned char *)line[k < n ? k : 0];
		l[k] = k < n && len[k] > SUMLEN ? len[k] - SUMLEN : 0;
		m = l[k] < m ? l[k] : m;
	}
	for (i = 0; i < m; i++) {
		a = (a ^ p[0][i]) * FNV_PRIME;
		b = (b ^ p[1][i]) * FNV_PRIME;
		c = (c ^ p[2][i]) * FNV_PRIME;
		d = (d ^ p[3][i]) * FNV_PRIME;
	}
	sum[0] = fnv(a, line[0] + m, l[0] - m);
	for (k = 1; k < n; k++)
		sum[k] = fnv(k == 1 ? b : k == 2 ? c : d, line[k] + m, l[k] - m);
}

/* Undo the escapes of s in place. */
static int
unescape(char *s)
{
	char *r = strchr(s, '\\'), *w;

	if (!r)
		return 0;
	for (w = r; *r; r++) {
		if (*r != '\\') {
			*w++ = *r;
			continue;
		}
		switch (*++r) {
		case '\\': *w++ = '\\'; break;
		case 't': *w++ = '\t'; break;
		case 'n': *w++ = '\n'; break;
		case 'r': *w++ = '\r'; break;
		default: return -1;
		}
	}
	*w = '\0';
	return 0;
}

/* The next field of *p, terminated in place; NULL past the last. */
static char *
field(char **p)
{
	char *f = *p, *t;

	if (!f)
		return NULL;
	t = strchr(f, '\t');
	*p = t ? t + 1 : NULL;
	if (t)
		*t = '\0';
	return f;
}

static int
hexf(const char *f, struct fr_digest *d)
{
	return f ? fr_digest_parse(f, strlen(f), d) : -1;
}

/* A decimal integer, negative only if neg allows (returned two's complement).
 * Hand-written: strtoull is most of the cost of loading F records. */
static int
num(const char *f, int neg, uint64_t *v)
{
	uint64_t n = 0;
	int minus = 0;

	if (!f)
		return -1;
	if (neg && *f == '-') {
		minus = 1;
		f++;
	}
	if (*f < '0' || *f > '9')
		return -1;
	for (; *f >= '0' && *f <= '9'; f++) {
		uint64_t d = (uint64_t)(*f - '0');
		if (n > (UINT64_MAX - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	if (*f)
		return -1;
	*v = minus ? (uint64_t)0 - n : n;
	return 0;
}

/* Split a T entry's fields into its record. */
static int
tparse(struct fr_state *s, struct ent *e)
{
	struct fr_state_item *it, **arr[3];
	struct fr_state_rec *r;
	size_t nf = 1, nitem, used = 0, i, *cnt[3];
	char *p = e->raw, *f, *k;
	uint64_t n;
	int j;

	for (f = p; (f = strchr(f, '\t')); f++)
		nf++;
	if (nf < 8 || (nf - 8) % 2)
		return -1;
	nitem = (nf - 8) / 2;
	r = fr_xcalloc(1, sizeof(*r) + nitem * sizeof(*it));
	keep(s, r);
	it = (struct fr_state_item *)(r + 1);
	r->name = e->name;
	if (hexf(field(&p), &r->key) < 0 || hexf(field(&p), &r->cmd) < 0 ||
	    hexf(field(&p), &r->env) < 0 || num(field(&p), 1, &n) < 0)
		return -1;
	r->duration_ns = (int64_t)n;
	f = field(&p);
	if (strcmp(f, "\\-") == 0)
		r->result = f + 1;
	else if (strcmp(f, "-") != 0 && unescape(f) == 0)
		r->result = f;
	else if (strcmp(f, "-") != 0)
		return -1;
	arr[0] = &r->input, cnt[0] = &r->ninput;
	arr[1] = &r->output, cnt[1] = &r->noutput;
	arr[2] = &r->dep, cnt[2] = &r->ndep;
	for (j = 0; j < 3; j++) {
		if (num(field(&p), 0, &n) < 0 || n > nitem - used)
			return -1;
		*arr[j] = it + used;
		*cnt[j] = (size_t)n;
		for (i = 0; i < n; i++, used++) {
			k = field(&p);
			if (!k || unescape(k) < 0 || hexf(field(&p), &it[used].digest) < 0)
				return -1;
			it[used].name = k;
		}
	}
	if (p || used != nitem)
		return -1;
	e->val = r;
	return 0;
}

static int
fparse(struct fr_state *s, struct ent *e)
{
	struct fval *fv = fr_xmalloc(sizeof(*fv));
	char *p = e->raw;
	uint64_t u[5];
	int i;

	keep(s, fv);
	for (i = 0; i < 5; i++) {
		if (num(field(&p), i < 3, &u[i]) < 0)
			return -1;
	}
	if (hexf(field(&p), &fv->d) < 0 || p)
		return -1;
	fv->st.size = (int64_t)u[0];
	fv->st.mtime_ns = (int64_t)u[1];
	fv->st.ctime_ns = (int64_t)u[2];
	fv->st.ino = u[3];
	fv->st.dev = u[4];
	e->val = fv;
	return 0;
}

/* The parsed value of e, parsing it on first use; NULL if damaged. */
static void *
ready(struct fr_state *s, struct ent *e)
{
	if (e->bad)
		return NULL;
	if (!e->val && (e->type == 'T' ? tparse(s, e) : fparse(s, e)) < 0) {
		e->bad = 1;
		s->nbad[e->type == 'F']++;
		s->rewrite = 1;
		fr_warn("state file %s: dropped damaged record of %s", s->path, e->name);
		return NULL;
	}
	e->raw = NULL;
	return e->val;
}

/* Index one line (without its LF) whose sum was computed. */
static int
record(struct fr_state *s, char *line, size_t len, uint32_t sum)
{
	char *end, *name = line + 2, *t;
	struct ent *e;

	if (len < 3 + SUMLEN)
		return -1;
	end = line + len - SUMLEN;
	if (end[0] != '\t' || end[1] != '#' ||
	    strspn(end + 2, "0123456789abcdef") < 8 || strtoul(end + 2, NULL, 16) != sum ||
	    (line[0] != 'T' && line[0] != 'F') || line[1] != '\t')
		return -1;
	*end = '\0';
	if (!(t = memchr(name, '\t', (size_t)(end - name))))
		return -1;
	*t = '\0';
	if (unescape(name) < 0)
		return -1;
	e = &s->ents[s->nent++];
	e->name = name;
	e->raw = t + 1;
	e->type = line[0];
	fr_htab_put(e->type == 'T' ? s->task : s->file, name, e);
	return 0;
}

/* Index the loaded file. */
static void
index_data(struct fr_state *s)
{
	char *q, *nl, *start = s->data + MAGICLEN, *end = s->data + s->len, *line[4];
	size_t n[2] = { 0, 0 }, damaged = 0, len[4];
	uint32_t sum[4];
	int i, k;

	if (s->len < MAGICLEN || memcmp(s->data, MAGIC, MAGICLEN) != 0) {
		if (s->len > 0)
			fr_warn("state file %s has an unknown format; starting afresh", s->path);
		s->restart = 1;
		s->task = fr_htab_new(0);
		s->file = fr_htab_new(0);
		return;
	}
	for (q = start; q < end; q = nl + 1) {
		n[*q == 'F']++;
		if (!(nl = memchr(q, '\n', (size_t)(end - q))))
			break;
	}
	s->ents = fr_xcalloc(n[0] + n[1], sizeof(*s->ents));
	s->task = fr_htab_new(n[0]);
	s->file = fr_htab_new(n[1]);
	s->goodlen = MAGICLEN;
	for (q = start; q < end; ) {
		for (k = 0; k < 4 && q < end; k++) {
			s->nlines++;
			if (!(nl = memchr(q, '\n', (size_t)(end - q)))) {
				damaged++;	/* torn */
				q = end;
				break;
			}
			line[k] = q;
			len[k] = (size_t)(nl - q);
			q = nl + 1;
			s->goodlen = (size_t)(q - s->data);
		}
		if (k > 0)
			sum4(line, len, k, sum);
		for (i = 0; i < k; i++)
			damaged += record(s, line[i], len[i], sum[i]) < 0;
	}
	if (damaged > 0) {
		fr_warn("state file %s: dropped %zu damaged records", s->path, damaged);
		s->rewrite = 1;
	}
}

static int
load(struct fr_state *s, struct fr_error *err)
{
	struct stat sb;
	size_t size;
	ssize_t n;
	int fd;

	fd = open(s->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		index_data(s);
		return 0;
	}
	if (fd < 0 || fstat(fd, &sb) < 0)
		goto fail;
	size = (size_t)sb.st_size;
	s->data = fr_xmalloc(size + 1);
	if ((n = fr_read_full(fd, s->data, size)) < 0)
		goto fail;
	s->len = (size_t)n;
	s->data[s->len] = '\0';
	close(fd);
	index_data(s);
	return 0;
fail:
	fr_error_set(err, FR_ESTATE, NULL, "cannot read state %s:", s->path);
	if (fd >= 0)
		close(fd);
	return -1;
}

static void
addesc(struct fr_buf *b, const char *s)
{
	size_t n;

	for (;;) {
		n = strcspn(s, "\\\t\n\r");
		fr_buf_add(b, s, n);
		s += n;
		switch (*s++) {
		case '\0': return;
		case '\\': fr_buf_add(b, "\\\\", 2); break;
		case '\t': fr_buf_add(b, "\\t", 2); break;
		case '\n': fr_buf_add(b, "\\n", 2); break;
		default: fr_buf_add(b, "\\r", 2); break;
		}
	}
}

static void
addhex(struct fr_buf *b, const struct fr_digest *d)
{
	char hex[2 * FR_DIGEST_LEN + 2];

	hex[0] = '\t';
	fr_digest_hex(d, hex + 1);
	fr_buf_add(b, hex, 2 * FR_DIGEST_LEN + 1);
}

static void
endline(struct fr_buf *b, size_t start)
{
	fr_buf_printf(b, "\t#%08" PRIx32 "\n", fnv(FNV_BASIS, b->data + start, b->len - start));
}

static void
addtask(struct fr_buf *b, const struct fr_state_rec *r)
{
	const struct fr_state_item *arr[3] = { r->input, r->output, r->dep };
	size_t cnt[3] = { r->ninput, r->noutput, r->ndep }, start = b->len, i;
	int j;

	fr_buf_add(b, "T\t", 2);
	addesc(b, r->name);
	addhex(b, &r->key);
	addhex(b, &r->cmd);
	addhex(b, &r->env);
	fr_buf_printf(b, "\t%" PRId64 "\t", r->duration_ns);
	if (!r->result || strcmp(r->result, "-") == 0)
		fr_buf_addstr(b, r->result ? "\\-" : "-");
	else
		addesc(b, r->result);
	for (j = 0; j < 3; j++) {
		fr_buf_printf(b, "\t%zu", cnt[j]);
		for (i = 0; i < cnt[j]; i++) {
			fr_buf_addc(b, '\t');
			addesc(b, arr[j][i].name);
			addhex(b, &arr[j][i].digest);
		}
	}
	endline(b, start);
}

static void
addfile(struct fr_buf *b, const char *path, const struct fval *fv)
{
	size_t start = b->len;

	fr_buf_add(b, "F\t", 2);
	addesc(b, path);
	fr_buf_printf(b, "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRIu64 "\t%" PRIu64,
	    fv->st.size, fv->st.mtime_ns, fv->st.ctime_ns, fv->st.ino, fv->st.dev);
	addhex(b, &fv->d);
	endline(b, start);
}

/* Write the header and, if all, every live record to the temporary file, sync
 * it and rename it over the state file. */
static int
compact(struct fr_state *s, int all, struct fr_error *err)
{
	struct fr_buf b = { NULL, 0, 0 };
	struct fr_htab *tab[2] = { s->file, s->task };
	struct ent *e;
	size_t pos;
	int fd, dfd, i, ret = -1;

	fr_buf_add(&b, MAGIC, MAGICLEN);
	for (i = 0; all && i < 2; i++) {
		for (pos = 0; fr_htab_next(tab[i], &pos, NULL, (void **)&e); ) {
			if (ready(s, e) && e->type == 'F')
				addfile(&b, e->name, e->val);
			else if (ready(s, e))
				addtask(&b, e->val);
		}
	}
	fd = open(s->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0 || fr_write_full(fd, b.data, b.len) < 0 || fsync(fd) < 0)
		goto fail;
	ret = close(fd);
	fd = -1;
	if (ret < 0 || rename(s->tmp, s->path) < 0)
		goto fail;
	if ((dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(dfd);	/* best effort: not every file system can */
		close(dfd);
	}
	ret = 0;
	goto cleanup;
fail:
	ret = fr_error_set(err, FR_ESTATE, NULL, "cannot write state %s:", s->path);
	if (fd >= 0)
		close(fd);
	unlink(s->tmp);
cleanup:
	fr_buf_free(&b);
	return ret;
}

/* Open the state file for appending, creating it if need be. */
static int
openwriter(struct fr_state *s, struct fr_error *err)
{
	struct stat sb;

	if (s->wfd >= 0)
		return 0;
	if (!s->restart) {
		s->wfd = open(s->path, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (s->wfd < 0 && errno != ENOENT)
			goto fail;
		if (s->wfd < 0) {	/* removed since it was loaded */
			s->restart = 1;
			s->rewrite = s->nlines > 0;
		}
	}
	if (s->restart) {
		if (compact(s, 0, err) < 0)
			return -1;
		s->restart = 0;
		s->nlines = 0;
		if ((s->wfd = open(s->path, O_WRONLY | O_APPEND | O_CLOEXEC)) < 0)
			goto fail;
	} else if (s->goodlen < s->len && ftruncate(s->wfd, (off_t)s->goodlen) < 0) {
		s->torn = 1;	/* cannot cut the torn line off: end it */
	}
	if (fstat(s->wfd, &sb) < 0)
		goto fail;
	s->wsize = (int64_t)sb.st_size;
	return 0;
fail:
	return fr_error_set(err, FR_ESTATE, NULL, "cannot write state %s:", s->path);
}

/* Append the pending file records and rec (if not NULL) with one write. */
static int
flush(struct fr_state *s, const struct fr_state_rec *rec, struct fr_error *err)
{
	struct stat sb;
	size_t i, lines = s->npending + (rec != NULL);

	if (openwriter(s, err) < 0)
		return -1;
	fr_buf_reset(&s->wbuf);
	if (s->torn) {
		if (fstat(s->wfd, &sb) < 0)
			return fr_error_set(err, FR_ESTATE, NULL, "cannot write state %s:", s->path);
		s->wsize = (int64_t)sb.st_size;
		fr_buf_addc(&s->wbuf, '\n');
		lines++;
	}
	for (i = 0; i < s->npending; i++)
		addfile(&s->wbuf, s->pending[i]->name, s->pending[i]->val);
	if (rec)
		addtask(&s->wbuf, rec);
	if (fr_write_full(s->wfd, s->wbuf.data, s->wbuf.len) < 0) {
		fr_error_set(err, FR_ESTATE, NULL, "cannot write state %s:", s->path);
		if (ftruncate(s->wfd, (off_t)s->wsize) < 0)
			s->torn = 1;
		return -1;
	}
	s->rewrite |= s->torn;
	s->torn = 0;
	s->wsize += (int64_t)s->wbuf.len;
	s->nlines += lines;
	s->wrote = 1;
	for (i = 0; i < s->npending; i++)
		s->pending[i]->pending = 0;
	s->npending = 0;
	return 0;
}

static int
lock(struct fr_state *s, void (*waiting)(pid_t, void *), void *arg, struct fr_error *err)
{
	char *path = fr_xasprintf("%s/lock", s->dir), buf[32];
	long holder = 0;
	ssize_t n;
	int ret = -1;

	if (mkdir(s->dir, 0777) < 0 && errno != EEXIST) {
		fr_error_set(err, FR_ESTATE, NULL, "cannot create state directory %s:", s->dir);
		goto cleanup;
	}
	if ((s->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666)) < 0) {
		fr_error_set(err, FR_ESTATE, NULL, "cannot open lock %s:", path);
		goto cleanup;
	}
	if (flock(s->lockfd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK) {
			fr_error_set(err, FR_ESTATE, NULL, "cannot lock %s:", path);
			goto cleanup;
		}
		if ((n = pread(s->lockfd, buf, sizeof(buf) - 1, 0)) > 0) {
			buf[n] = '\0';
			holder = strtol(buf, NULL, 10);
		}
		if (s->mode == FR_LOCK_FAIL) {
			snprintf(buf, sizeof(buf), " (pid %ld)", holder);
			fr_error_set(err, FR_ESTATE, NULL, "another flowrun%s is running "
			    "on this pipeline", holder > 0 ? buf : "");
			goto cleanup;
		}
		if (waiting)
			waiting(holder > 0 ? (pid_t)holder : 0, arg);
		/* EINTR fails: a handler installed without SA_RESTART means to
		 * interrupt the wait. */
		if (flock(s->lockfd, LOCK_EX) < 0) {
			fr_error_set(err, FR_ESTATE, NULL, "cannot lock %s:", path);
			goto cleanup;
		}
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(s->lockfd, 0) < 0 || pwrite(s->lockfd, buf, (size_t)n, 0) != n) {
		/* the pid is only for the message of whoever waits */
	}
	ret = 0;
cleanup:
	free(path);
	return ret;
}

static void
freeall(struct fr_state *s)
{
	size_t i;

	if (s->wfd >= 0)
		close(s->wfd);
	if (s->lockfd >= 0)
		close(s->lockfd);	/* releases the lock */
	for (i = 0; i < s->nblock; i++)
		free(s->block[i]);
	free(s->block);
	free(s->pending);
	fr_htab_free(s->task);
	fr_htab_free(s->file);
	free(s->ents);
	free(s->data);
	fr_buf_free(&s->wbuf);
	free(s->dir);
	free(s->path);
	free(s->tmp);
	free(s);
}

struct fr_state *
fr_state_open(const char *dir, enum fr_lock_mode mode,
    void (*waiting)(pid_t holder, void *arg), void *arg, struct fr_error *err)
{
	struct fr_state *s = fr_xcalloc(1, sizeof(*s));

	s->dir = fr_xstrdup(dir);
	s->path = fr_xasprintf("%s/state", dir);
	s->tmp = fr_xasprintf("%s/state.tmp", dir);
	s->mode = mode;
	s->lockfd = s->wfd = -1;
	if ((mode != FR_LOCK_READONLY && lock(s, waiting, arg, err) < 0) || load(s, err) < 0) {
		freeall(s);
		return NULL;
	}
	return s;
}

const struct fr_state_rec *
fr_state_get(struct fr_state *s, const char *name)
{
	struct ent *e = fr_htab_get(s->task, name);

	return e ? ready(s, e) : NULL;
}

/* Copy string src to *w and advance it. */
static const char *
stash(char **w, const char *src)
{
	size_t n = strlen(src) + 1;
	char *p = *w;

	memcpy(p, src, n);
	*w += n;
	return p;
}

/* A deep copy of src in one allocation, freed at close. */
static struct fr_state_rec *
copyrec(struct fr_state *s, const struct fr_state_rec *src)
{
	const struct fr_state_item *from[3] = { src->input, src->output, src->dep };
	size_t cnt[3] = { src->ninput, src->noutput, src->ndep };
	size_t nitem = cnt[0] + cnt[1] + cnt[2], size, i, used;
	struct fr_state_item *it;
	struct fr_state_rec *r;
	char *w;
	int j;

	size = sizeof(*r) + nitem * sizeof(*it) + strlen(src->name) + 1;
	size += src->result ? strlen(src->result) + 1 : 0;
	for (j = 0; j < 3; j++) {
		for (i = 0; i < cnt[j]; i++)
			size += strlen(from[j][i].name) + 1;
	}
	r = fr_xmalloc(size);
	keep(s, r);
	it = (struct fr_state_item *)(r + 1);
	w = (char *)(it + nitem);
	*r = *src;
	r->name = stash(&w, src->name);
	r->result = src->result ? stash(&w, src->result) : NULL;
	r->input = it;
	r->output = it + cnt[0];
	r->dep = it + cnt[0] + cnt[1];
	for (j = 0, used = 0; j < 3; j++) {
		for (i = 0; i < cnt[j]; i++, used++) {
			it[used].name = stash(&w, from[j][i].name);
			it[used].digest = from[j][i].digest;
		}
	}
	return r;
}

/* The entry of name in tab, a new one if there is none, made usable. */
static struct ent *
entry(struct fr_state *s, char type, const char *name)
{
	struct fr_htab *tab = type == 'T' ? s->task : s->file;
	struct ent *e = fr_htab_get(tab, name);

	if (!e) {
		e = fr_xcalloc(1, sizeof(*e));
		keep(s, e);
		e->name = name;
		e->type = type;
		fr_htab_put(tab, name, e);
	} else if (e->bad) {
		e->bad = 0;
		s->nbad[type == 'F']--;
	}
	e->raw = NULL;
	return e;
}

int
fr_state_put(struct fr_state *s, const struct fr_state_rec *rec, struct fr_error *err)
{
	struct fr_state_rec *r = copyrec(s, rec);

	entry(s, 'T', r->name)->val = r;
	return s->mode == FR_LOCK_READONLY ? 0 : flush(s, r, err);
}

int
fr_state_file_get(struct fr_state *s, const char *path, struct fr_stat *st,
    struct fr_digest *d)
{
	struct ent *e = fr_htab_get(s->file, path);
	struct fval *fv = e ? ready(s, e) : NULL;

	if (!fv)
		return -1;
	if (st)
		*st = fv->st;
	if (d)
		*d = fv->d;
	return 0;
}

void
fr_state_file_set(struct fr_state *s, const char *path, const struct fr_stat *st,
    const struct fr_digest *d)
{
	struct ent *e = fr_htab_get(s->file, path);
	struct fval *fv = e ? ready(s, e) : NULL;
	size_t n;

	if (fv && fr_stat_equal(&fv->st, st) && memcmp(fv->d.b, d->b, FR_DIGEST_LEN) == 0)
		return;
	if (!fv) {
		n = e ? 0 : strlen(path) + 1;
		fv = fr_xmalloc(sizeof(*fv) + n);
		keep(s, fv);
		e = entry(s, 'F', e ? e->name : memcpy(fv + 1, path, n));
		e->val = fv;
	}
	fv->st = *st;
	fv->d = *d;
	if (s->mode != FR_LOCK_READONLY && !e->pending) {
		e->pending = 1;
		FR_PUSH(s->pending, s->npending, s->cappending, e);
	}
}

size_t
fr_state_count(const struct fr_state *s)
{
	return fr_htab_count(s->task) - s->nbad[0];
}

int
fr_state_close(struct fr_state *s, struct fr_error *err)
{
	size_t live;
	int ret = 0;

	if (!s)
		return 0;
	if (s->mode != FR_LOCK_READONLY) {
		if (s->npending > 0 && flush(s, NULL, err) < 0)
			ret = -1;
		live = fr_state_count(s) + fr_htab_count(s->file) - s->nbad[1];
		if (ret == 0 && s->wrote && (s->restart || s->rewrite ||
		    (s->nlines > COMPACT_MIN && s->nlines > 2 * live)))
			ret = compact(s, 1, err);
	}
	freeall(s);
	return ret;
}
