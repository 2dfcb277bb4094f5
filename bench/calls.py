#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Per-task overhead of call tasks: N trivial calls (inc) in a wide fan-out
# feeding one sum, run by flowrun on threads and in processes, next to Dask's
# threaded scheduler on the same graph (dask.delayed). Prints a table and the
# ratios; with --results DIR also writes it there as markdown.
import argparse, os, platform, shutil, statistics, subprocess, sys, time

DASK = r'''
import sys, time
import dask
from dask import delayed
def inc(x):
    return x + 1
n = int(sys.argv[1])
t0 = time.perf_counter()
total = delayed(sum)([delayed(inc)(i) for i in range(n)])
r = total.compute(scheduler="threads")
t1 = time.perf_counter()
assert r == n * (n + 1) // 2, r
print(t1 - t0)
'''

def pipeline(n, iso, lib):
    return f'''flowrun: 1
tasks:
  inc:
    foreach: {{i: {{range: {n}}}}}
    isolation: {iso}
    call: {{library: {lib}, function: inc, args: {{x: "${{{{ i }}}}"}}}}
  total:
    call: {{function: sum, args: {{values: "${{{{ tasks.inc.result }}}}"}}}}
'''

def run_flowrun(flowrun, work, n, iso, lib, jobs):
    d = os.path.join(work, f"calls-{iso}-{n}")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    with open(os.path.join(d, "flowrun.yaml"), "w") as f:
        f.write(pipeline(n, iso, os.path.abspath(lib)))
    t0 = time.perf_counter()
    out = subprocess.run([flowrun, "-q", "-j", str(jobs), "-C", d, "--result", "total"],
                         capture_output=True, text=True)
    t1 = time.perf_counter()
    if out.returncode != 0 or int(out.stdout.strip()) != n * (n + 1) // 2:
        sys.exit(f"flowrun failed: {out.returncode} {out.stdout[-200:]} {out.stderr[-500:]}")
    t2 = time.perf_counter()
    subprocess.run([flowrun, "-q", "-j", str(jobs), "-C", d], check=True)
    t3 = time.perf_counter()
    return t1 - t0, t3 - t2

def run_dask(python, n):
    out = subprocess.run([python, "-c", DASK, str(n)], capture_output=True, text=True)
    if out.returncode != 0:
        return None
    return float(out.stdout.strip())

def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--flowrun", default="./flowrun")
    ap.add_argument("--plugin", default="examples/plugins/libmath.so")
    ap.add_argument("--work", default="bench/work")
    ap.add_argument("-n", type=int, default=100000)
    ap.add_argument("-j", type=int, default=os.cpu_count())
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--python", default="/usr/bin/python3", help="a python with dask")
    ap.add_argument("--results", default=None)
    a = ap.parse_args()
    rows = []
    for name, fn in (("flowrun threads", lambda: run_flowrun(a.flowrun, a.work, a.n, "thread", a.plugin, a.j)),
                     ("flowrun processes", lambda: run_flowrun(a.flowrun, a.work, a.n, "process", a.plugin, a.j)),
                     ("dask threads", lambda: (run_dask(a.python, a.n), None))):
        full, noop = [], []
        for _ in range(a.reps):
            f, n_ = fn()
            if f is None:
                break
            full.append(f)
            if n_ is not None:
                noop.append(n_)
        if not full:
            rows.append((name, None, None))
            continue
        rows.append((name, statistics.median(full), statistics.median(noop) if noop else None))
    lines = [f"# call tasks: {a.n} trivial calls feeding one sum, -j {a.j}, median of {a.reps}",
             "", f"machine: {platform.node()}, {os.cpu_count()} CPUs, {platform.platform()}, "
             f"load average at the end {os.getloadavg()[0]:.2f}", "",
             "| runner | full run (s) | per task (us) | no-op rerun (s) |", "|---|---|---|---|"]
    for name, full, noop in rows:
        if full is None:
            lines.append(f"| {name} | not available | | |")
            continue
        lines.append(f"| {name} | {full:.3f} | {full / a.n * 1e6:.1f} | {'' if noop is None else f'{noop:.3f}'} |")
    base = dict((r[0], r[1]) for r in rows)
    if base.get("dask threads") and base.get("flowrun threads"):
        lines += ["", f"dask threads / flowrun threads: {base['dask threads'] / base['flowrun threads']:.1f}x"]
    text = "\n".join(lines) + "\n"
    print(text)
    if a.results:
        os.makedirs(a.results, exist_ok=True)
        with open(os.path.join(a.results, time.strftime("%Y-%m-%d") + f"-calls-{a.n}.md"), "w") as f:
            f.write(text)

if __name__ == "__main__":
    main()
