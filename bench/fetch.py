#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Fetch throughput: 1,000 small files and one 1 GiB file from nginx on
# loopback (tests/services/http-up.sh), downloaded by flowrun's fetch tasks,
# by one `curl --parallel` (-Z, --parallel-max = -j) and by `xargs -P` running
# one curl per file, all at -j parallel downloads (flowrun also with as many
# connections to the one host, and with its default 6). Every tool writes real files to the same file system; the
# runs alternate tool by tool and the order rotates; medians are reported with
# throughput ratios, and with --results DIR the table goes there as markdown
# with the machine and its load average. For the large file it also times the
# SHA-256 of the body alone (OpenSSL through hashlib, one core: one body's hash
# cannot be split), the part of flowrun's work that curl does not do, and
# states the best share of curl's throughput that leaves flowrun.
import argparse, hashlib, mmap, os, platform, resource, shutil, statistics, subprocess, sys
import threading, time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def fill(path, size):
    """A file of size random bytes (nothing to compress), made once."""
    if os.path.exists(path) and os.path.getsize(path) == size:
        return
    with open(path + ".tmp", "wb") as f:
        left = size
        while left > 0:
            f.write(os.urandom(min(left, 1 << 20)))
            left -= min(left, 1 << 20)
    os.replace(path + ".tmp", path)


def server(work, nsmall, small_size, big_size):
    srv = os.path.join(work, "srv")
    out = subprocess.run([os.path.join(SRC, "tests/services/http-up.sh"), srv],
                         capture_output=True, text=True)
    if out.returncode == 77:
        sys.exit("bench-fetch: " + out.stderr.strip())
    if out.returncode != 0:
        sys.exit("bench-fetch: the servers did not start:\n" + out.stderr)
    env = dict(line.split("=", 1) for line in out.stdout.split())
    www = env["WWW"]
    os.makedirs(os.path.join(www, "small"), exist_ok=True)
    for i in range(nsmall):
        p = os.path.join(www, "small", "%d.bin" % i)
        if not (os.path.exists(p) and os.path.getsize(p) == small_size):
            with open(p, "wb") as f:
                f.write(os.urandom(small_size))
    if big_size:
        fill(os.path.join(www, "big.bin"), big_size)
    return srv, env


def stop(srv):
    subprocess.run([os.path.join(SRC, "tests/services/http-down.sh"), srv])


def flowrun_tree(work, base, names):
    d = os.path.join(work, "flowrun")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "flowrun.yaml"), "w") as f:
        f.write("flowrun: 1\ntasks:\n  get:\n")
        if len(names) == 1:
            f.write('    fetch: {url: "%s/%s"}\n    outputs: out/%s\n' % (base, names[0], os.path.basename(names[0])))
        else:
            f.write('    foreach: {i: {range: %d}}\n' % len(names))
            f.write('    fetch: {url: "%s/small/${{ i }}.bin"}\n' % base)
            f.write('    outputs: "out/${{ i }}.bin"\n')
    return d


KEPT = []
DEFAULT_HOST = "flowrun (6 per host)"


def clean(d, keep=False):
    """Start d afresh. Small files are moved aside, not removed, until the end:
    ext4 makes creating files slow right after thousands were deleted (it
    scans for inodes not recently deleted), which would tax whichever tool
    comes next. Large files are removed at once, which drops their dirty
    pages, so no run pays for the last one's writeback."""
    out = os.path.join(d, "out")
    if keep and os.path.isdir(out):
        aside = os.path.join(os.path.dirname(d), "done", "%s-%d" % (os.path.basename(d), len(KEPT)))
        os.makedirs(os.path.dirname(aside), exist_ok=True)
        os.rename(out, aside)
        KEPT.append(aside)
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(os.path.join(d, ".flowrun"), ignore_errors=True)
    os.makedirs(out, exist_ok=True)


def commands(tool, work, base, names, jobs, flowrun):
    """(directory, argv, stdin text) of one run of tool."""
    if tool.startswith("flowrun"):
        # as many connections to the one host as curl --parallel opens, or
        # flowrun's default per-host limit (6)
        d = flowrun_tree(work, base, names)
        conns = [] if tool == DEFAULT_HOST else ["--host-connections", str(jobs)]
        return d, [flowrun, "-q", "-j", str(jobs)] + conns + ["-C", d], None
    d = os.path.join(work, tool.split()[0] + "-parallel" if tool.startswith("curl") else "xargs")
    os.makedirs(d, exist_ok=True)
    if tool == "curl --parallel":
        cfg = os.path.join(d, "urls.cfg")
        with open(cfg, "w") as f:
            for n in names:
                f.write('url = "%s/%s"\noutput = "%s/out/%s"\n' % (base, n, d, os.path.basename(n)))
        return d, ["curl", "-Z", "--parallel-max", str(jobs), "--no-progress-meter", "--fail",
                   "-K", cfg], None
    lines = "".join("-o %s/out/%s %s/%s\n" % (d, os.path.basename(n), base, n) for n in names)
    return d, ["xargs", "-P", str(jobs), "-n", "3", "curl", "--no-progress-meter", "--fail"], lines


CPU = {}     # tool -> CPU seconds (user + sys) of each run, the server's excluded


def run_once(tool, work, base, names, jobs, flowrun, size):
    d, argv, stdin = commands(tool, work, base, names, jobs, flowrun)
    clean(d)
    os.sync()   # no run pays for the writeback of the one before
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(argv, input=stdin, capture_output=True, text=True, errors="replace")
    t1 = time.perf_counter()
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.setdefault(tool, []).append(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime)
    if out.returncode != 0:
        sys.exit("%s failed (%d): %s" % (tool, out.returncode, out.stderr[-1000:]))
    got = sum(os.path.getsize(os.path.join(d, "out", x)) for x in os.listdir(os.path.join(d, "out")))
    if got != size:
        sys.exit("%s wrote %d bytes, not %d" % (tool, got, size))
    clean(d, keep=len(names) > 1)
    return t1 - t0


SHA = "SHA-256 alone (one core)"
SHA2 = "SHA-256, two at once (two threads)"


def sha256_time(path):
    """Seconds to hash the file (in the page cache, as nginx serves it) with
    OpenSSL's SHA-256 through hashlib on one core, from a mapping, as
    flowrun's hashing thread does."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        t0, c0 = time.perf_counter(), time.thread_time()
        hashlib.sha256(m).digest()
        CPU.setdefault(SHA, []).append(time.thread_time() - c0)
        return time.perf_counter() - t0


def sha256_pair_time(path):
    """Seconds to hash the file twice at once on two threads (hashlib lets go
    of the GIL): about sha256_time when two cores are free, twice that when
    the machine's other load leaves one."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        cpu = []

        def one():
            c0 = time.thread_time()
            hashlib.sha256(m).digest()
            cpu.append(time.thread_time() - c0)
        t = [threading.Thread(target=one) for _ in range(2)]
        t0 = time.perf_counter()
        for x in t:
            x.start()
        for x in t:
            x.join()
        CPU.setdefault(SHA2, []).append(sum(cpu))
        return time.perf_counter() - t0


def machine():
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return "%d CPUs (%s), %.0f GiB, %s" % (os.cpu_count(), cpu, mem, platform.platform())


def version(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True)
        return (out.stdout + out.stderr).splitlines()[0].strip()
    except (OSError, IndexError):
        return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--flowrun", default=os.path.join(SRC, "flowrun"))
    ap.add_argument("--work", default=os.path.join(HERE, "work", "fetch"))
    ap.add_argument("--small", type=int, default=1000, help="how many small files")
    ap.add_argument("--small-size", type=int, default=4096)
    ap.add_argument("--big-size", type=int, default=1 << 30, help="0: no big file")
    ap.add_argument("-j", type=int, default=8, help="parallel downloads for every tool")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--results", default=None, help="write the table here as markdown")
    a = ap.parse_args()
    flowrun = os.path.abspath(a.flowrun)
    os.makedirs(a.work, exist_ok=True)
    srv, env = server(a.work, a.small, a.small_size, a.big_size)
    tools = ["flowrun", DEFAULT_HOST, "curl --parallel", "xargs -P"]
    loads = [os.getloadavg()[0]]
    rows = []
    try:
        work = [("%d x %d B" % (a.small, a.small_size), ["small/%d.bin" % i for i in range(a.small)],
                 a.small * a.small_size)]
        if a.big_size:
            work.append(("1 x %.0f MiB" % (a.big_size / 2**20), ["big.bin"], a.big_size))
        for label, names, size in work:
            big = len(names) == 1
            times = {t: [] for t in tools + ([SHA, SHA2] if big else [])}
            CPU.clear()
            for rep in range(a.reps):
                order = tools[rep % len(tools):] + tools[:rep % len(tools)]
                for t in order:
                    times[t].append(run_once(t, a.work, env["HTTP_URL"] + "/files", names, a.j,
                                             flowrun, size))
                if big:
                    times[SHA].append(sha256_time(os.path.join(env["WWW"], names[0])))
                    times[SHA2].append(sha256_pair_time(os.path.join(env["WWW"], names[0])))
                print("%s, repetition %d: %s" % (label, rep + 1, ", ".join(
                    "%s %.3fs" % (t, times[t][-1]) for t in times)), flush=True)
            for t in times:
                m = statistics.median(times[t])
                rows.append((label, t, m, min(times[t]), max(times[t]), size / m / 1e6,
                             statistics.median(CPU[t])))
            loads.append(os.getloadavg()[0])
    finally:
        stop(srv)
        shutil.rmtree(os.path.join(a.work, "done"), ignore_errors=True)
    lines = ["# fetch throughput: flowrun against curl --parallel and xargs -P curl", "",
             "%s; nginx on loopback (1 worker, sendfile), files written to %s; -j %d (curl "
             "--parallel-max %d, xargs -P %d; flowrun --host-connections %d, as many connections "
             "to the one host as curl opens, and flowrun with its default of 6 per host); %d "
             "repetitions, medians; tools alternate run by run. CPU s is the client's "
             "user and system time (the server's is not counted)."
             % (time.strftime("%Y-%m-%d %H:%M"), a.work, a.j, a.j, a.j, a.j, a.reps), "",
             "Machine: %s." % machine(), "",
             "Load average (1 min) before, between and after: %s." % ", ".join("%.2f" % x for x in loads), "",
             "Versions: %s; %s; %s." % (version([flowrun, "--version"]), version(["curl", "--version"]),
                                         version(["nginx", "-v"])), "",
             "| files | tool | wall s | min–max | MB/s | CPU s |", "|---|---|---:|---:|---:|---:|"]
    for label, t, m, lo, hi, mbs, cpu in rows:
        lines.append("| %s | %s | %.3f | %.3f–%.3f | %.0f | %.3f |" % (label, t, m, lo, hi, mbs, cpu))
    lines.append("")
    for label in dict.fromkeys(r[0] for r in rows):
        r = {t: m for l, t, m, *_ in rows if l == label}
        c = {t: x[6] for x in rows if x[0] == label for t in [x[1]]}
        lines.append("%s: flowrun has %.0f%% of curl --parallel's throughput (%.0f%% with 6 "
                     "connections to the host) and %.0f%% of xargs -P's."
                     % (label, 100 * r["curl --parallel"] / r["flowrun"],
                        100 * r["curl --parallel"] / r[DEFAULT_HOST], 100 * r["xargs -P"] / r["flowrun"]))
        if SHA in r:
            # flowrun receives and writes on one thread and hashes on another:
            # it cannot end before the hash, nor before its CPU time (curl's
            # and the hash's at least) has run on the cores the machine's
            # other load leaves, which two hashes at once measure
            cores = max(1.0, min(2.0, 2 * r[SHA] / r[SHA2]))
            floor = max(r[SHA], (c["curl --parallel"] + c[SHA]) / cores)
            best = min(1.0, r["curl --parallel"] / floor)
            lines.append("%s: the SHA-256 that flowrun's result carries takes %.3f s alone on one "
                         "core (%.0f MB/s); one body's hash cannot be split across cores, so flowrun "
                         "cannot end before it. Two at once took %.3f s: the machine's other load left "
                         "this benchmark about %.1f of its %d cores, on which flowrun's own work "
                         "(curl's %.3f s of CPU and the hash's %.3f s) takes at least %.3f s. So "
                         "flowrun can have at most %.0f%% of curl --parallel's throughput here (curl "
                         "does not hash): it has %.0f%%, %.0f%% of that ceiling."
                         % (label, r[SHA], next(x[5] for x in rows if x[0] == label and x[1] == SHA),
                            r[SHA2], cores, os.cpu_count(), c["curl --parallel"], c[SHA],
                            (c["curl --parallel"] + c[SHA]) / cores, 100 * best,
                            100 * r["curl --parallel"] / r["flowrun"],
                            100 * r["curl --parallel"] / r["flowrun"] / best))
            lines.append("%s: in CPU time, which the machine's other load does not change as much, "
                         "flowrun takes %.3f s: curl --parallel's %.3f s and the hash's %.3f s, "
                         "and %.3f s more."
                         % (label, c["flowrun"], c["curl --parallel"], c[SHA],
                            c["flowrun"] - c["curl --parallel"] - c[SHA]))
    text = "\n".join(lines) + "\n"
    print(text)
    if a.results:
        os.makedirs(a.results, exist_ok=True)
        with open(os.path.join(a.results, time.strftime("%Y-%m-%d") + "-fetch.md"), "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
