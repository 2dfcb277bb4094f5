# SPDX-License-Identifier: MIT
# Write one benchmark DAG (shape, N) for flowrun, make, ninja, the floor, and
# Snakemake and Dask, every tool in its own directory running byte-identical commands.
"""Generate a benchmark DAG for every tool.

usage: gen.py --shape SHAPE --n N --out DIR [--tools flowrun,make,ninja,floor,...]

DIR/<tool>/ gets the leaf inputs in/L<i> (one line each), an empty o/, and the
tool's file: flowrun.yaml, Makefile, build.ninja, tasks.txt (the floor's),
Snakefile, dask_run.py (which reads tasks.txt). DIR/meta.json says what the
runner needs: the task count, the leaf to change and the tasks that read it.

Every task writes one file with a command of the form
    cksum INPUTS > o/I; echo I >> ran.log
(the line in ran.log is the marker the runner counts), run by /bin/sh -c.
Shapes (task ids are in a topological order):
  wide     N tasks each reading its own leaf, one task (final) reading all N
  chain    N tasks in a line, the first reading leaf L0
  layered  10 layers of N/10 tasks; layer 0 reads leaves, the rest 3 tasks each
           of the layer before
  diamond  one shared expensive task (sleep 0.5) reading L0, N tasks reading it
  cutoff   chain whose first task is `wc -l < in/L0`: an edit of L0 that keeps
           its line count leaves o/0 byte-identical (early cutoff)
"""
import argparse
import json
import os
import sys

SHAPES = ("wide", "chain", "layered", "diamond", "cutoff")
TOOLS = ("flowrun", "flowrun-long", "make", "ninja", "floor", "snakemake", "dask")


def marker(i):
	return "echo %d >> ran.log" % i


def build(shape, n):
	"""Return (tasks, leaves, changed_leaf) where a task is a dict with
	id, name, cmd, inputs (paths), deps (task ids), output (path)."""
	tasks = []

	def add(cmd, inputs, deps, output=None):
		i = len(tasks)
		out = output or "o/%d" % i
		tasks.append({"id": i, "cmd": cmd.replace("@OUT@", out).replace("@I@", str(i)),
		    "inputs": inputs, "deps": deps, "output": out})
		return i

	def cks(inputs, deps):
		return add("cksum %s > @OUT@; %s" % (" ".join(inputs), "echo @I@ >> ran.log"),
		    inputs, deps)

	if shape == "wide":
		leaves = ["in/L%d" % i for i in range(n)]
		for i in range(n):
			cks([leaves[i]], [])
		add("find o -type f | LC_ALL=C sort | xargs cat | cksum > @OUT@; echo @I@ >> ran.log",
		    ["o/%d" % i for i in range(n)], list(range(n)), output="final")
	elif shape in ("chain", "cutoff"):
		leaves = ["in/L0"]
		if shape == "cutoff":
			add("wc -l < in/L0 > @OUT@; echo @I@ >> ran.log", ["in/L0"], [])
		else:
			cks(["in/L0"], [])
		for i in range(1, n):
			cks(["o/%d" % (i - 1)], [i - 1])
	elif shape == "layered":
		w = max(1, n // 10)
		leaves = ["in/L%d" % i for i in range(w)]
		for j in range(w):
			cks([leaves[j]], [])
		for layer in range(1, 10):
			base = (layer - 1) * w
			for j in range(w):
				picks = []
				for k in (j, (j + 1) % w, (j + w // 2) % w):
					if base + k not in picks:
						picks.append(base + k)
				cks(["o/%d" % d for d in picks], picks)
	elif shape == "diamond":
		leaves = ["in/L0"]
		add("sleep 0.5; cksum in/L0 > @OUT@; echo @I@ >> ran.log", ["in/L0"], [])
		for _ in range(n):
			cks(["o/0"], [0])
	else:
		raise SystemExit("gen.py: unknown shape %r" % shape)
	return tasks, leaves, leaves[0]


def sinks(tasks):
	used = set()
	for t in tasks:
		used.update(t["deps"])
	return [t for t in tasks if t["id"] not in used]


def yaml_scalar(s):
	"""A plain YAML scalar when that reads back as s, else single-quoted."""
	plain_ok = (s and s[0] not in "!&*-?[]{}|>'\"%@`#,:" and ": " not in s and " #" not in s
	    and s == s.strip())
	return s if plain_ok else "'" + s.replace("'", "''") + "'"


def yaml_list(items):
	return "[" + ", ".join(yaml_scalar(x) for x in items) + "]"


def write_flowrun(d, tasks):
	with open(os.path.join(d, "flowrun.yaml"), "w") as f:
		f.write("flowrun: 1\ntasks:\n")
		for t in tasks:
			f.write("  t%d:\n    run: %s\n    inputs: %s\n    outputs: [%s]\n" % (
			    t["id"], yaml_scalar(t["cmd"]), yaml_list(t["inputs"]), t["output"]))


def write_make(d, tasks):
	with open(os.path.join(d, "Makefile"), "w") as f:
		f.write("MAKEFLAGS += --no-builtin-rules\n.SUFFIXES:\n.PHONY: all\n")
		f.write("all: %s\n" % " ".join(t["output"] for t in sinks(tasks)))
		for t in tasks:
			f.write("%s: %s\n\t%s\n" % (t["output"], " ".join(t["inputs"]), t["cmd"]))


def write_ninja(d, tasks):
	with open(os.path.join(d, "build.ninja"), "w") as f:
		f.write("rule r\n  command = $cmd\n")
		for t in tasks:
			f.write("build %s: r %s\n  cmd = %s\n" % (t["output"], " ".join(t["inputs"]), t["cmd"]))


def write_floor(d, tasks):
	# One line a task: its dependencies' ids (comma separated), a tab, its command.
	with open(os.path.join(d, "tasks.txt"), "w") as f:
		for t in tasks:
			f.write("%s\t%s\n" % (",".join(str(x) for x in t["deps"]), t["cmd"]))


def write_snakemake(d, tasks):
	# Rules with a wildcard, as Snakemake is written; the shell is /bin/sh with
	# no prefix so the command run is byte-identical to the other tools'.
	table = {}
	final = None
	for t in tasks:
		if t["output"].startswith("o/"):
			table[t["output"][2:]] = (t["inputs"], t["cmd"])
		else:
			final = t
	with open(os.path.join(d, "Snakefile"), "w") as f:
		# Snakemake builds the DAG recursively: a long chain needs a deep stack.
		f.write("import sys\nsys.setrecursionlimit(1000000)\n")
		f.write("shell.executable('/bin/sh')\nshell.prefix('')\n")
		f.write("T = %s\n" % json.dumps(table, separators=(",", ":")))
		f.write("rule all:\n    input: %s\n" % json.dumps([t["output"] for t in sinks(tasks)]))
		if final:
			f.write("rule final:\n    input: %s\n    output: %s\n    params: cmd=%s\n"
			    "    shell: '{params.cmd}'\n" % (json.dumps(final["inputs"]),
			    json.dumps(final["output"]), json.dumps(final["cmd"])))
		f.write("rule task:\n    input: lambda wc: T[wc.i][0]\n    output: 'o/{i}'\n"
		    "    wildcard_constraints: i='[0-9]+'\n    params: cmd=lambda wc: T[wc.i][1]\n"
		    "    shell: '{params.cmd}'\n")


DASK_SCRIPT = '''# SPDX-License-Identifier: MIT
# Run tasks.txt with dask.delayed, each task calling subprocess on its command
# (/bin/sh -c), on the threaded scheduler; usage: dask_run.py JOBS. Dask has no
# up-to-date check: every run runs every task.
import subprocess
import sys

import dask


def run(cmd, *deps):
    subprocess.run(cmd, shell=True, check=True)
    return None


def main():
    jobs = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    nodes, used = [], set()
    with open("tasks.txt") as f:
        for line in f:
            deps, cmd = line.rstrip("\\n").split("\\t", 1)
            ids = [int(x) for x in deps.split(",")] if deps else []
            used.update(ids)
            nodes.append(dask.delayed(run, pure=False)(cmd, *[nodes[i] for i in ids]))
    targets = [n for i, n in enumerate(nodes) if i not in used]
    dask.compute(*targets, scheduler="threads", num_workers=jobs)


if __name__ == "__main__":
    sys.setrecursionlimit(1000000)
    main()
'''


def write_dask(d, tasks):
	write_floor(d, tasks)
	with open(os.path.join(d, "dask_run.py"), "w") as f:
		f.write(DASK_SCRIPT)


WRITERS = {"flowrun": write_flowrun, "flowrun-long": write_flowrun, "make": write_make, "ninja": write_ninja,
    "floor": write_floor, "snakemake": write_snakemake, "dask": write_dask}


def main():
	ap = argparse.ArgumentParser(description="Write a benchmark DAG for each tool.")
	ap.add_argument("--shape", required=True, choices=SHAPES)
	ap.add_argument("--n", type=int, required=True)
	ap.add_argument("--out", required=True, help="directory; DIR/<tool>/ per tool")
	ap.add_argument("--tools", default="flowrun,make,ninja,floor",
	    help="comma-separated, from: " + ",".join(TOOLS))
	a = ap.parse_args()
	if a.n < 1 or (a.shape == "layered" and a.n < 10):
		ap.error("N too small for this shape")
	tools = [t for t in a.tools.split(",") if t]
	for t in tools:
		if t not in TOOLS:
			ap.error("unknown tool %r" % t)
	tasks, leaves, changed = build(a.shape, a.n)
	for tool in tools:
		d = os.path.join(a.out, tool)
		os.makedirs(os.path.join(d, "in"), exist_ok=True)
		os.makedirs(os.path.join(d, "o"), exist_ok=True)
		for i, leaf in enumerate(leaves):
			with open(os.path.join(d, leaf), "w") as f:
				f.write("leaf %d\n" % i)
		WRITERS[tool](d, tasks)
	meta = {"shape": a.shape, "n": a.n, "tasks": len(tasks), "leaves": len(leaves),
	    "changed_leaf": changed, "leaf_content": "leaf 0\n",
	    "seeds": [t["id"] for t in tasks if changed in t["inputs"]],
	    "tools": tools}
	with open(os.path.join(a.out, "meta.json"), "w") as f:
		json.dump(meta, f, indent=1)
		f.write("\n")
	return 0


if __name__ == "__main__":
	sys.exit(main())
