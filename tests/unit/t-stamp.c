/* SPDX-License-Identifier: MIT */
/* t-stamp: a stamp written and checked back: what makes it answer, each thing
 * that makes it refuse, a touched file learnt, damaged stamps refused, and a
 * big one made on disk as it comes, leaving nothing behind. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stamp.h"
#include "tap.h"
#include "util.h"

static void
put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	fputs(text, f);
	fclose(f);
}

static struct fr_digest inv;

/* Write a stamp of flowrun.yaml, state, a.txt (as read), gone.txt (missing),
 * env FLOWRUN_T_STAMP and the glob *.txt, for tasks a and all (a group). */
static void
stampnow(void)
{
	struct fr_stamp *s = fr_stamp_new(&inv, ".flowrun");
	struct fr_seen *seen = fr_seen_new();
	struct fr_stat pst, sst, ast;
	struct fr_digest ad;
	struct fr_error err = {0};
	char *match[] = { "a.txt" };

	fr_stat_path("flowrun.yaml", &pst);
	fr_stat_path(".flowrun/state", &sst);
	fr_digest_file("a.txt", &ad, &ast, &err);
	fr_stamp_file(s, "a.txt", &ast, &ad);
	fr_stamp_file(s, "gone.dat", NULL, NULL);
	fr_stamp_task(s, "a", 0);
	fr_stamp_task(s, "all", 1);
	fr_seen_env(seen, "FLOWRUN_T_STAMP", getenv("FLOWRUN_T_STAMP"));
	fr_seen_env(seen, "FLOWRUN_T_STAMP", "ignored: the first value read counts");
	fr_seen_glob(seen, "*.txt", match, 1);
	ok(!seen->unstable, "one glob read twice the same is stable");
	fr_seen_glob(seen, "*.txt", match, 1);
	ok(!seen->unstable, "still stable");
	ok(fr_stamp_write(s, seen, &pst, &sst, &err) == 0, "written: %s", err.text);
	fr_seen_glob(seen, "*.txt", NULL, 0);
	ok(seen->unstable, "a glob that matched something else in the same run is unstable");
	fr_stamp_free(s);
	fr_seen_free(seen);
}

/* Check the stamp; 1 if it answers. */
static int
check(const char **why)
{
	struct fr_stamp_view v;
	int rc = fr_stamp_check(".flowrun", &inv, "flowrun.yaml", ".flowrun/state", 2, 1, &v, why);

	if (rc) {
		ok(v.ntask == 2 && strcmp(v.name[0], "a") == 0 && !v.group[0] &&
		    strcmp(v.name[1], "all") == 0 && v.group[1], "the tasks come back in order");
		fr_stamp_view_free(&v);
	}
	return rc;
}

/* How many files .flowrun holds besides the state and the stamp. */
static int
leftovers(void)
{
	DIR *d = opendir(".flowrun");
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
		    strcmp(e->d_name, "state") != 0 && strcmp(e->d_name, "uptodate") != 0)
			n++;
	if (d)
		closedir(d);
	return n;
}

/* How many files with no name in .flowrun this process holds open (a stamp
 * puts its task records and strings there once they are many). */
static int
nameless(void)
{
	char fd[64], link[4096];
	ssize_t len;
	int i, n = 0;

	for (i = 0; i < 1024; i++) {
		snprintf(fd, sizeof(fd), "/proc/self/fd/%d", i);
		if ((len = readlink(fd, link, sizeof(link) - 1)) < 0)
			continue;
		link[len] = '\0';
		n += strstr(link, "/.flowrun/") && strstr(link, " (deleted)");
	}
	return n;
}

/* The name of the big stamp's task i, or of its file i (in d/, which does not
 * exist), long enough that the strings pass many chunks. */
static const char *
bigname(int file, int i)
{
	static char name[128];

	snprintf(name, sizeof(name), file ? "d/file-%d-whose-name-is-long-enough-to-fill-chunks" :
	    "task-%d-whose-name-is-long-enough-to-fill-chunks", i);
	return name;
}

/* A stamp of 20,000 tasks (every third a group) and 40,000 missing files. */
static struct fr_stamp *
bigstamp(void)
{
	struct fr_stamp *s = fr_stamp_new(&inv, ".flowrun");
	int i;

	for (i = 0; i < 20000; i++)
		fr_stamp_task(s, bigname(0, i), i % 3 == 0);
	for (i = 0; i < 40000; i++)
		fr_stamp_file(s, bigname(1, i), NULL, NULL);
	return s;
}

int
main(void)
{
	char tmpl[] = "/tmp/t-stamp.XXXXXX", *top;
	struct fr_digest other;
	const char *why;
	char *defs[] = { "n=1" }, *targets[] = { "all" };
	struct stat sb;
	struct timespec ts[2];

	if (!(top = mkdtemp(tmpl)) || chdir(top) < 0 || mkdir(".flowrun", 0777) < 0) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	setenv("FLOWRUN_T_STAMP", "one", 1);
	put("flowrun.yaml", "flowrun: 1\n");
	put(".flowrun/state", "records");
	put("a.txt", "content a\n");
	fr_stamp_invocation("flowrun.yaml", targets, 1, defs, 1, &inv);
	fr_stamp_invocation("flowrun.yaml", targets, 1, NULL, 0, &other);
	ok(memcmp(&inv, &other, sizeof(inv)) != 0, "-D is part of the invocation");
	fr_stamp_invocation("sub/flowrun.yaml", targets, 1, defs, 1, &other);
	ok(memcmp(&inv, &other, sizeof(inv)) == 0, "the pipeline's directory is not");

	ok(!check(&why), "no stamp: no answer");
	is_str(why, "no stamp", "why");
	stampnow();
	ok(check(&why), "nothing changed: answered");

	fr_stamp_invocation("other.yaml", targets, 1, defs, 1, &other);
	ok(fr_stamp_check(".flowrun", &other, "flowrun.yaml", ".flowrun/state", 1, 1,
	    &(struct fr_stamp_view){0}, &why) == 0, "another pipeline file");
	is_str(why, "another invocation", "why");

	setenv("FLOWRUN_T_STAMP", "two", 1);
	ok(!check(&why), "an env.NAME changed");
	is_str(why, "an environment variable changed", "why");
	unsetenv("FLOWRUN_T_STAMP");
	ok(!check(&why), "an env.NAME unset");
	setenv("FLOWRUN_T_STAMP", "one", 1);
	ok(check(&why), "back as it was: answered");

	put("b.txt", "b\n");
	ok(!check(&why), "a new match of the glob");
	is_str(why, "a glob matches other files", "why");
	unlink("b.txt");

	put("gone.dat", "here now\n");
	ok(!check(&why), "a file that was missing exists");
	is_str(why, "a file changed", "why");
	unlink("gone.dat");
	ok(check(&why), "missing again: answered");

	/* the same bytes with new stat data: hashed, learnt, answered */
	stat("a.txt", &sb);
	ts[0] = sb.st_atim;
	ts[1].tv_sec = sb.st_mtim.tv_sec - 100;
	ts[1].tv_nsec = 0;
	utimensat(AT_FDCWD, "a.txt", ts, 0);
	ok(check(&why), "a touched file with the same content: answered");
	unlink("a.txt");
	put("a.txt", "content b\n");		/* same size, other bytes */
	ok(!check(&why), "the same size, other bytes");
	put("a.txt", "content a\n");
	ok(check(&why), "the first bytes back: answered");

	put(".flowrun/state", "records and more");
	ok(!check(&why), "the state was written");
	is_str(why, "the state changed", "why");
	put(".flowrun/state", "records");
	ok(!check(&why), "rewritten to the same size: other stat data");

	stampnow();
	ok(check(&why), "a new stamp: answered");
	put("flowrun.yaml", "flowrun: 1\nname: x\n");
	ok(!check(&why), "the pipeline file changed");
	is_str(why, "the pipeline file changed", "why");

	stampnow();
	if (truncate(".flowrun/uptodate", 100) < 0)
		ok(0, "truncate");
	ok(!check(&why), "a cut stamp");
	is_str(why, "a damaged stamp", "why");
	put(".flowrun/uptodate", "flowrun-uptodat1 and then nothing that fits");
	ok(!check(&why), "a stamp of the wrong size");

	/* touched files are hashed up to 64 MiB; past that the long way does it */
	{
		struct fr_stamp *s = fr_stamp_new(&inv, ".flowrun");
		struct fr_seen *seen = fr_seen_new();
		struct fr_stat pst, sst, bst;
		struct fr_digest bd;
		struct fr_error err = {0};
		int fd = open("big.bin", O_WRONLY | O_CREAT | O_TRUNC, 0666);
		ok(fd >= 0 && ftruncate(fd, (off_t)65 << 20) == 0 && close(fd) == 0, "a sparse 65 MiB file");
		put("flowrun.yaml", "flowrun: 1\n");
		fr_stat_path("flowrun.yaml", &pst);
		fr_stat_path(".flowrun/state", &sst);
		fr_digest_file("big.bin", &bd, &bst, &err);
		fr_stamp_file(s, "big.bin", &bst, &bd);
		fr_stamp_task(s, "a", 0);
		fr_stamp_task(s, "all", 1);
		ok(fr_stamp_write(s, seen, &pst, &sst, &err) == 0, "a stamp of it");
		fr_stamp_free(s);
		fr_seen_free(seen);
		ok(check(&why), "answered");
		ts[0].tv_nsec = ts[1].tv_nsec = UTIME_NOW;
		utimensat(AT_FDCWD, "big.bin", ts, 0);
		ok(!check(&why), "65 MiB touched: not hashed");
		is_str(why, "a file changed", "why");
		unlink("big.bin");
	}

	/* thousands of files: their records go to the temporary file as they
	 * come, the header last; the last one recorded still counts */
	{
		struct fr_stat pst, sst, ast;
		struct fr_digest ad;
		struct fr_error err = {0};
		struct fr_seen *seen = fr_seen_new();
		struct fr_stamp *s;
		int i;

		put("a.txt", "content a\n");
		fr_stat_path("flowrun.yaml", &pst);
		fr_stat_path(".flowrun/state", &sst);
		fr_digest_file("a.txt", &ad, &ast, &err);
		s = fr_stamp_new(&inv, ".flowrun");
		for (i = 0; i < 3000; i++)
			fr_stamp_file(s, "a.txt", &ast, &ad);
		ok(access(".flowrun/uptodate.tmp", F_OK) == 0, "records spilled before the write");
		fr_stamp_file(s, "gone.dat", NULL, NULL);
		fr_stamp_task(s, "a", 0);
		fr_stamp_task(s, "all", 1);
		ok(fr_stamp_write(s, seen, &pst, &sst, &err) == 0, "3001 files written: %s", err.text);
		fr_stamp_free(s);
		ok(access(".flowrun/uptodate.tmp", F_OK) != 0, "renamed into place");
		ok(check(&why), "3001 files: answered");
		put("gone.dat", "here now\n");
		ok(!check(&why), "the last file recorded exists now");
		unlink("gone.dat");

		s = fr_stamp_new(&inv, ".flowrun");
		for (i = 0; i < 3000; i++)
			fr_stamp_file(s, "a.txt", &ast, &ad);
		fr_stamp_free(s);
		ok(access(".flowrun/uptodate.tmp", F_OK) != 0, "a stamp never written leaves nothing");
		ok(check(&why), "and the one before stays");

		s = fr_stamp_new(&inv, "no/such/dir");
		for (i = 0; i < 3000; i++)
			fr_stamp_file(s, "a.txt", &ast, &ad);
		ok(fr_stamp_write(s, seen, &pst, &sst, &err) < 0 &&
		    strstr(err.text, "cannot write no/such/dir/uptodate.tmp") != NULL,
		    "records that could not be spilled: the write says so (%s)", err.text);
		fr_stamp_free(s);
		fr_seen_free(seen);
	}

	/* tens of thousands of tasks and files: the task records and the
	 * strings go to files of their own as they come too, copied in at the
	 * write; every offset still finds its string, nothing is left behind */
	{
		struct fr_stat pst, sst;
		struct fr_error err = {0};
		struct fr_seen *seen = fr_seen_new();
		struct fr_stamp_view v;
		struct fr_stamp *s;
		struct rlimit rl, small;
		char *match[] = { "a.txt" };
		int i, same;

		stampnow();
		ok(leftovers() == 0 && nameless() == 0, "a small stamp makes no file but itself");
		fr_stat_path("flowrun.yaml", &pst);
		fr_stat_path(".flowrun/state", &sst);
		fr_seen_env(seen, "FLOWRUN_T_STAMP", getenv("FLOWRUN_T_STAMP"));
		fr_seen_glob(seen, "*.txt", match, 1);
		s = bigstamp();
		ok(nameless() == 2, "task records and strings went to files with no name");
		ok(fr_stamp_write(s, seen, &pst, &sst, &err) == 0, "20,000 tasks written: %s", err.text);
		fr_stamp_free(s);
		ok(leftovers() == 0 && nameless() == 0, "nothing left behind");
		same = fr_stamp_check(".flowrun", &inv, "flowrun.yaml", ".flowrun/state", 2, 1, &v,
		    &why);
		ok(same, "20,000 tasks: answered (%s)", same ? "yes" : why);
		same = v.ntask == 20000;
		for (i = 0; same && i < 20000; i++)
			same = strcmp(v.name[i], bigname(0, i)) == 0 && v.group[i] == (i % 3 == 0);
		ok(same, "the tasks come back in order, with their names (%zu tasks)", v.ntask);
		fr_stamp_view_free(&v);
		mkdir("d", 0777);
		put(bigname(1, 39999), "here now\n");
		ok(!check(&why), "the last file recorded exists now");
		is_str(why, "a file changed", "why");
		unlink(bigname(1, 39999));
		put(bigname(1, 12345), "here now\n");
		ok(!check(&why), "one of the files spilled first exists now");
		unlink(bigname(1, 12345));
		rmdir("d");

		s = bigstamp();
		fr_stamp_free(s);
		ok(leftovers() == 0 && nameless() == 0, "a big stamp never written leaves nothing");
		ok(fr_stamp_check(".flowrun", &inv, "flowrun.yaml", ".flowrun/state", 2, 1, &v,
		    &why) == 1 && v.ntask == 20000, "and the one before stays");
		fr_stamp_view_free(&v);

		/* files may grow to 100 KB: the strings fail on their second chunk */
		signal(SIGXFSZ, SIG_IGN);
		getrlimit(RLIMIT_FSIZE, &rl);
		small = rl;
		small.rlim_cur = 100 << 10;
		setrlimit(RLIMIT_FSIZE, &small);
		s = bigstamp();
		ok(fr_stamp_write(s, seen, &pst, &sst, &err) < 0 &&
		    strstr(err.text, "cannot write .flowrun/uptodate.tmp") != NULL,
		    "strings that could not be spilled: the write says so (%s)", err.text);
		setrlimit(RLIMIT_FSIZE, &rl);
		fr_stamp_free(s);
		ok(leftovers() == 0 && nameless() == 0, "and leaves nothing");
		fr_seen_free(seen);
	}

	unlink(".flowrun/uptodate");
	unlink(".flowrun/state");
	rmdir(".flowrun");
	unlink("a.txt");
	unlink("flowrun.yaml");
	if (chdir("/") == 0)
		rmdir(top);
	return done_testing();
}
