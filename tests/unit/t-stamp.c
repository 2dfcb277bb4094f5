/* SPDX-License-Identifier: MIT */
/* t-stamp: a stamp written and checked back: what makes it answer, each thing
 * that makes it refuse, a touched file learnt, and damaged stamps refused. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

	unlink(".flowrun/uptodate");
	unlink(".flowrun/state");
	rmdir(".flowrun");
	unlink("a.txt");
	unlink("flowrun.yaml");
	if (chdir("/") == 0)
		rmdir(top);
	return done_testing();
}
