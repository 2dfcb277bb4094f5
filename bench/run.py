#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Benchmark runner: flowrun against ninja, make, the posix_spawn floor, Snakemake and
# Dask on the DAGs of gen.py; medians of alternating runs, ratios, bench/results/*.md.
"""Measure flowrun against other tools on the same DAGs.

For each shape and size, gen.py writes one directory per tool; then, for each
repetition, each of these cases is run by each tool in turn (the order of the
tools rotates every repetition), in its own directory:
  full    run from clean (no outputs, no state)
  noop    run again, nothing changed
  change  run after one leaf input's content changed (its line count kept)
  touch   run after the same leaf's mtime changed, content the same
Each run is metered by `floor -t` (wall, user+sys CPU of the tool and all its
children, peak RSS); the tasks it ran are counted from ran.log, to which every
command appends its task id. Medians are printed with the ratios
flowrun/ninja, flowrun/make and flowrun/floor, and written as a markdown table
to RESULTS/<date>-<shape>-<N>.md with the machine and the tool versions. A
ratio is the median of the ratios of the runs of one repetition, which ran
one right after the other: the machine's drift over the minutes of a
benchmark then cancels out, as it does not in a ratio of medians.

Snakemake and Dask are slow at large N: they run up to --snakemake-max and
--dask-max.
Dask has no up-to-date check, so it is measured on the full run only.
A tool that is not installed is skipped, with a message saying so.
"""
import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = ("full", "noop", "change", "touch")
ALL_TOOLS = ("flowrun", "flowrun-long", "ninja", "make", "floor", "snakemake", "dask")
# flowrun-long: flowrun with FLOWRUN_UPTODATE=0, every run loading the pipeline
# and the state (the way a run goes when .flowrun/uptodate cannot answer)
BASES = ("ninja", "make", "floor")
CLEAN = ("o", "final", "ran.log", "out.log", ".flowrun", ".ninja_log", ".ninja_deps",
    ".snakemake")


def say(*a):
	print(*a, flush=True)


def warn(msg):
	print("run.py: " + msg, file=sys.stderr, flush=True)


def first_line(argv):
	try:
		r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
		    text=True, timeout=60)
	except (OSError, subprocess.TimeoutExpired):
		return None
	if r.returncode != 0:
		return None
	return (r.stdout.strip().splitlines() or ["?"])[0]


def build_floor(work, cc):
	out = os.path.join(work, "floor")
	src = os.path.join(HERE, "floor.c")
	if os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(src) and \
	    os.path.getmtime(out) >= os.path.getmtime(os.path.join(HERE, "..", "lib", "exec_shell.c")):
		return out
	if not shutil.which(cc):
		return None
	os.makedirs(work, exist_ok=True)
	# the floor execs simple commands by flowrun's own rule, from lib/exec_shell.c
	lib = os.path.join(HERE, "..", "lib")
	libsrc = [os.path.join(lib, f) for f in
	    ("exec_shell.c", "loop.c", "util.c", "error.c", "buf.c")]
	r = subprocess.run([cc, "-std=c11", "-O2", "-iquote", lib, "-o", out, src] + libsrc)
	return out if r.returncode == 0 else None


def find_tools(a, floor):
	"""Return {tool: (argv prefix, version)} for the tools that are there."""
	found = {}
	want = [t for t in a.tools.split(",") if t]
	for t in want:
		if t not in ALL_TOOLS:
			raise SystemExit("run.py: unknown tool %r (known: %s)" % (t, ",".join(ALL_TOOLS)))
	j = str(a.jobs)
	for t in want:
		if t in ("flowrun", "flowrun-long"):
			fr = os.path.abspath(a.flowrun)
			v = first_line([fr, "-V"]) if os.access(fr, os.X_OK) else None
			if v:
				found[t] = (([] if t == "flowrun" else ["env", "FLOWRUN_UPTODATE=0"]) +
				    [fr, "-j", j], v + ("" if t == "flowrun" else ", FLOWRUN_UPTODATE=0"))
			else:
				warn("flowrun not found at %s: skipped (build it: make flowrun)" % fr)
		elif t == "floor":
			if floor:
				found[t] = ([floor, "-j", j], "bench/floor.c")
			else:
				warn("no C compiler to build bench/floor.c: floor skipped")
		elif t in ("make", "ninja"):
			if shutil.which(t):
				found[t] = ([t, "-j", j], first_line([t, "--version"]))
			else:
				warn("%s not installed: skipped (apt-get install %s)" %
				    (t, "ninja-build" if t == "ninja" else "make"))
		elif t == "snakemake":
			if shutil.which("snakemake"):
				found[t] = (["snakemake", "--cores", j],
				    "snakemake " + (first_line(["snakemake", "--version"]) or "?"))
			else:
				warn("snakemake not installed: skipped (apt-get install snakemake)")
		elif t == "dask":
			for py in (sys.executable, "python3", "/usr/bin/python3"):
				v = first_line([py, "-c", "import dask; print(dask.__version__)"])
				if v:
					found[t] = ([py, "dask_run.py", j], "dask " + v)
					break
			else:
				warn("dask not installed for any python3: skipped (apt-get install python3-dask)")
	return found


def machine(found, a):
	cpu = "?"
	try:
		with open("/proc/cpuinfo") as f:
			for line in f:
				if line.startswith("model name"):
					cpu = line.split(":", 1)[1].strip()
					break
	except OSError:
		pass
	return {"date": time.strftime("%Y-%m-%d %H:%M"), "nproc": os.cpu_count(), "cpu": cpu,
	    "kernel": platform.system() + " " + platform.release(),
	    "versions": {t: v for t, (_, v) in found.items()}, "jobs": a.jobs, "reps": a.reps}


def clean(d, meta, trash):
	"""Make d as before a first run. Directories of outputs are moved into
	trash, which run_case removes once the case is measured: ext4 makes
	creating files slow for a while after thousands were deleted (its inode
	allocator skips recently deleted inodes), which would tax whichever run
	came next, at random, by up to a third at 1k tasks."""
	for name in CLEAN:
		p = os.path.join(d, name)
		if os.path.isdir(p):
			os.makedirs(trash, exist_ok=True)
			os.rename(p, os.path.join(trash, "%d" % len(os.listdir(trash))))
		elif os.path.exists(p):
			os.unlink(p)
	os.mkdir(os.path.join(d, "o"))
	with open(os.path.join(d, meta["changed_leaf"]), "w") as f:
		f.write(meta["leaf_content"])


def count_lines(path, pattern=None):
	try:
		with open(path, errors="replace") as f:
			if pattern is None:
				return sum(1 for _ in f)
			return sum(1 for line in f if pattern.match(line))
	except FileNotFoundError:
		return 0


STEP = re.compile(r"^\[\d+/\d+\] ")


def measure(tool, argv, d, meter, meta, case):
	"""Run argv in d; return a dict with wall, cpu, rss (MiB), ran, ok."""
	ranlog = os.path.join(d, "ran.log")
	if os.path.exists(ranlog):
		os.unlink(ranlog)
	if tool == "floor":
		if case in ("noop", "touch"):
			argv = argv + ["-s", ""]	# nothing needs to run
		elif case == "change":
			argv = argv + ["-s", ",".join(str(s) for s in meta["seeds"])]
		argv = argv + ["tasks.txt"]
	mfile = os.path.join(d, "meter.out")
	with open(os.path.join(d, "out.log"), "w") as log:
		if meter[0] == "floor":
			r = subprocess.run([meter[1], "-t", mfile] + argv, cwd=d, stdout=log,
			    stderr=subprocess.STDOUT)
			with open(mfile) as f:
				wall, user, sys_, rss, code = f.read().split()
		else:	# GNU time: 10 ms resolution for CPU
			t0 = time.perf_counter()
			r = subprocess.run(["/usr/bin/time", "-o", mfile, "-f", "%U %S %M %x"] + argv,
			    cwd=d, stdout=log, stderr=subprocess.STDOUT)
			wall = time.perf_counter() - t0
			with open(mfile) as f:
				user, sys_, rss, code = f.read().split()[-4:]
	res = {"wall": float(wall), "cpu": float(user) + float(sys_), "rss": int(rss) / 1024.0,
	    "ran": count_lines(ranlog), "ok": r.returncode == 0 and int(code) == 0}
	if tool.startswith("flowrun"):
		res["steps"] = count_lines(os.path.join(d, "out.log"), STEP)
		if res["ok"] and res["steps"] != res["ran"]:
			warn("flowrun printed %d [n/N] lines but ran.log has %d" % (res["steps"], res["ran"]))
	if not res["ok"]:
		with open(os.path.join(d, "out.log"), errors="replace") as f:
			tail = f.read()[-2000:]
		warn("%s failed in %s (%s):\n%s" % (tool, d, case, tail))
	return res


def change_leaf(d, meta, k):
	p = os.path.join(d, meta["changed_leaf"])
	old = os.stat(p).st_mtime_ns
	with open(p, "w") as f:	# same line count: the cutoff shape's first task sees no change
		f.write("leaf 0 changed %d\n" % k)
	bump(p, old)


def touch_leaf(d, meta):
	p = os.path.join(d, meta["changed_leaf"])
	old = os.stat(p).st_mtime_ns
	os.utime(p)
	bump(p, old)


def bump(p, old):
	while os.stat(p).st_mtime_ns <= old:
		time.sleep(0.01)
		os.utime(p)


def run_case(shape, n, a, found, meter, results_dir):
	work = os.path.join(a.work, "%s-%d" % (shape, n))
	cap = {"snakemake": a.snakemake_max, "dask": a.dask_max}
	tools = [t for t in found if n <= cap.get(t, n)]
	for t in found:
		if t not in tools:
			warn("%s skipped at N=%d (over --%s-max %d)" % (t, n, t, cap[t]))
	if os.path.isdir(work):
		shutil.rmtree(work)
	gen_tools = [t for t in tools if t != "floor"] + ["floor"]
	say("== %s N=%d: generating %s" % (shape, n, work))
	subprocess.run([sys.executable, os.path.join(HERE, "gen.py"), "--shape", shape, "--n",
	    str(n), "--out", work, "--tools", ",".join(gen_tools)], check=True)
	with open(os.path.join(work, "meta.json")) as f:
		meta = json.load(f)
	data = {t: {c: [] for c in CASES} for t in tools}
	failed = False
	load = [os.getloadavg()[0]]
	for rep in range(a.reps):
		# each case is run by every tool in turn, so that the runs compared
		# are next to each other in time (the paired ratios below)
		order = tools[rep % len(tools):] + tools[:rep % len(tools)]
		for case in CASES:
			for t in order:
				if t == "dask" and case != "full":
					continue	# no up-to-date check: every run is a full run
				d = os.path.join(work, t)
				if case == "full":
					clean(d, meta, a.trash)
				elif case == "change":
					change_leaf(d, meta, rep)
				elif case == "touch":
					touch_leaf(d, meta)
				r = measure(t, found[t][0], d, meter, meta, case)
				failed |= not r["ok"]
				data[t][case].append(r)
				say("  rep %d %-9s %-6s wall %8.3fs cpu %8.3fs rss %7.1f MiB ran %d%s" % (
				    rep + 1, t, case, r["wall"], r["cpu"], r["rss"], r["ran"],
				    "" if r["ok"] else " FAILED"))
	med = {}
	for t in tools:
		for c in CASES:
			rs = data[t][c]
			if rs:
				med[(t, c)] = {k: statistics.median(r[k] for r in rs)
				    for k in ("wall", "cpu", "rss", "ran")}
				med[(t, c)]["ok"] = all(r["ok"] for r in rs)
				med[(t, c)]["spread"] = (min(r["wall"] for r in rs), max(r["wall"] for r in rs))
				med[(t, c)]["runs"] = rs
	load.append(os.getloadavg()[0])
	m = machine(found, a)
	m["load"] = load
	text = report(shape, n, meta, tools, med, m)
	say(text)
	os.makedirs(results_dir, exist_ok=True)
	out = os.path.join(results_dir, "%s-%s-%d.md" % (time.strftime("%Y-%m-%d"), shape, n))
	with open(out, "w") as f:
		f.write(text)
	say("wrote %s" % out)
	if not a.keep:	# removed with the trash, after the last case
		os.makedirs(a.trash, exist_ok=True)
		os.rename(work, os.path.join(a.trash, "%d" % len(os.listdir(a.trash))))
	return not failed


def fmt_ratio(num, den):
	if not den:
		return "n/a"
	return "%.2f" % (num / den)


def paired(f, b, k):
	"""The median of the per-repetition ratios f/b of metric k (each pair ran
	next to each other), with their range when there are several; falls
	back to the ratio of medians when the runs do not pair up."""
	rf, rb = f.get("runs", []), b.get("runs", [])
	ratios = [x[k] / y[k] for x, y in zip(rf, rb) if y[k]]
	if len(rf) != len(rb) or not ratios:
		return fmt_ratio(f[k], b[k])
	mid = "%.2f" % statistics.median(ratios)
	if len(ratios) == 1 or k == "rss":
		return mid
	return "%s (%.2f–%.2f)" % (mid, min(ratios), max(ratios))


def report(shape, n, meta, tools, med, m):
	L = []
	L.append("# flowrun benchmark: %s, N=%d (%d tasks)\n" % (shape, n, meta["tasks"]))
	L.append("%s; %d CPUs (%s), %s; -j %d; %d repetition%s, medians; each case is run by "
	    "every tool in turn, in an order that rotates repetition by repetition.\n" % (m["date"], m["nproc"], m["cpu"], m["kernel"], m["jobs"], m["reps"],
	    "" if m["reps"] == 1 else "s"))
	L.append("Load average (1 min) before and after: %.2f, %.2f: other work on the machine "
	    "above 0 shows in the spread of wall times.\n" % tuple(m["load"]))
	L.append("Versions: " + "; ".join("%s: %s" % (t, v) for t, v in m["versions"].items()
	    if t in tools) + ".\n")
	L.append("Every task runs `/bin/sh -c` on the same command (`cksum INPUTS > OUT; echo ID >> "
	    "ran.log`); *ran* counts the lines of ran.log. *change* rewrites %s with other content "
	    "of the same line count; *touch* only changes its mtime. CPU is user+sys of the tool and "
	    "all its children; RSS is the peak of the largest process.\n" % meta["changed_leaf"])
	if "flowrun-long" in tools:
		L.append("*flowrun-long* is the same flowrun with `FLOWRUN_UPTODATE=0`: every run loads "
		    "the pipeline and the state and decides task by task, the way a run goes when "
		    "`.flowrun/uptodate` cannot answer it.\n")
	L.append("| case | tool | wall s | wall min–max | CPU s | peak RSS MiB | tasks ran |")
	L.append("|---|---|---:|---:|---:|---:|---:|")
	for c in CASES:
		for t in tools:
			r = med.get((t, c))
			if not r:
				if t == "dask":
					L.append("| %s | dask | – | – | – | – | (no up-to-date check) |" % c)
				continue
			L.append("| %s | %s | %.3f | %.3f–%.3f | %.3f | %.1f | %d%s |" % (c, t, r["wall"],
			    r["spread"][0], r["spread"][1], r["cpu"], r["rss"], r["ran"],
			    "" if r["ok"] else " FAILED"))
	L.append("")
	bases = [b for b in BASES if b in tools]
	if "flowrun" in tools and bases:
		L.append("Ratios (below 1: flowrun is faster or smaller): the median of the ratios of "
		    "each repetition's two runs, which ran one after the other, with their range; "
		    "floor ratios only where the floor ran a task.\n")
		L.append("| case | metric | " + " | ".join("flowrun/%s" % b for b in bases) + " |")
		L.append("|---|---|" + "---:|" * len(bases))
		for c in CASES:
			for who in ("flowrun", "flowrun-long"):
				f = med.get((who, c))
				if not f:
					continue
				for k, name in (("wall", "wall"), ("cpu", "CPU"), ("rss", "RSS")):
					cells = []
					for b in bases:
						r = med.get((b, c))
						if not r or (b == "floor" and r["ran"] == 0):
							cells.append("n/a")
						else:
							cells.append(paired(f, r, k))
					L.append("| %s | %s%s | %s |" % (c, name,
					    "" if who == "flowrun" else " (long)", " | ".join(cells)))
		L.append("")
	if shape == "cutoff":
		L.append("Early cutoff: after the edit of %s (same line count, so task 0's output is "
		    "byte-identical), tasks rerun: %s.\n" % (meta["changed_leaf"], ", ".join(
		    "%s %d%s" % (t, med[(t, "change")]["ran"], "" if med[(t, "change")]["ok"] else
		    " (FAILED)") for t in tools if (t, "change") in med)))
	return "\n".join(L)


def parse_cases(a):
	cases = []
	for s in a.shapes.split(","):
		for n in a.sizes.split(","):
			if s and n:
				cases.append((s, int(n)))
	for extra in (a.also or "").split(","):
		if extra:
			s, n = extra.rsplit("-", 1)
			cases.append((s, int(n)))
	return cases


def main():
	ap = argparse.ArgumentParser(description="Benchmark flowrun against other tools.",
	    formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
	ap.add_argument("--shapes", default="wide,chain", help="wide,chain,layered,diamond,cutoff")
	ap.add_argument("--sizes", default="1000", help="comma-separated N")
	ap.add_argument("--also", help="extra SHAPE-N cases, e.g. wide-100000,chain-100000")
	ap.add_argument("--reps", type=int, default=3, help="repetitions (default 3)")
	ap.add_argument("-j", "--jobs", type=int, default=2, help="parallelism (default 2)")
	ap.add_argument("--tools", default=",".join(ALL_TOOLS))
	ap.add_argument("--snakemake-max", type=int, default=1000,
	    help="largest N snakemake runs (default 1000: 10k takes it half an hour)")
	ap.add_argument("--dask-max", type=int, default=10000, help="largest N dask runs (default 10000)")
	ap.add_argument("--flowrun", default=os.path.join(HERE, "..", "flowrun"))
	ap.add_argument("--floor", help="a built bench/floor (default: build it with $CC)")
	ap.add_argument("--work", default=os.path.join(HERE, "work"))
	ap.add_argument("--results", default=os.path.join(HERE, "results"))
	ap.add_argument("--keep", action="store_true", help="keep the generated trees")
	ap.add_argument("--smoke", action="store_true",
	    help="wide and chain at 1k, one repetition, flowrun, ninja, make and floor")
	a = ap.parse_args()
	if a.smoke:
		a.shapes, a.sizes, a.also, a.reps = "wide,chain", "1000", None, 1
		a.tools = "flowrun,ninja,make,floor"
	if a.reps < 1 or a.jobs < 1:
		ap.error("--reps and -j must be positive")
	a.work = os.path.abspath(a.work)
	a.results = os.path.abspath(a.results)
	floor = os.path.abspath(a.floor) if a.floor else build_floor(a.work,
	    os.environ.get("CC", "cc"))
	meter = ("floor", floor) if floor else ("time", "/usr/bin/time")
	if not floor and not os.access("/usr/bin/time", os.X_OK):
		raise SystemExit("run.py: need a C compiler (for bench/floor.c) or /usr/bin/time")
	found = find_tools(a, floor)
	if not found:
		raise SystemExit("run.py: no tool to measure")
	say("tools: " + ", ".join("%s (%s)" % (t, v) for t, (_, v) in found.items()))
	ok = True
	a.trash = os.path.join(a.work, ".trash")
	try:
		for shape, n in parse_cases(a):
			ok &= run_case(shape, n, a, found, meter, a.results)
	finally:
		shutil.rmtree(a.trash, ignore_errors=True)
	return 0 if ok else 1


if __name__ == "__main__":
	sys.exit(main())
