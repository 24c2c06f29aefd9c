#!/usr/bin/env python3
"""Machine reports into the company file index, against `fuda inventory` on the same tree.

Run: cargo build --release -p fuda-cli -p fuda-keyd-server && python3 benches/report_bench.py
     [--files 100000] [--watch-files 1000] [--rate 100] [--bin-dir target/release]

Starts a real `fuda-keyd` on 127.0.0.1, enrolls an admin (who labels the tree) and a
machine (its own HOME), makes a tree of --files labeled 1-KiB files (kept under
target/bench-report-FILES for later runs), then measures in one run:

  - `fuda inventory --format json` on the tree (the baseline: reads every label), cold
    and repeated;
  - `fuda inventory --report`: the first report (every record sent) and a report of the
    unchanged tree (the walk looks at metadata only and sends one closing chunk), and one
    after 1 % of the files were relabeled;
  - `fuda watch --report`: --watch-files files written at --rate files/s into a watched
    tree; for each, the time from its close to its label (the watcher's `labeled` event,
    the baseline) and to its record in the service's index (polled every 10 ms).

Each line: wall time, user+sys CPU of the command (and of fuda-keyd), peak RSS, bytes sent.
"""
import argparse, datetime, json, os, sqlite3, subprocess, sys, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("--files", type=int, default=100_000)
ap.add_argument("--watch-files", type=int, default=1000)
ap.add_argument("--rate", type=float, default=100.0)
ap.add_argument("--bin-dir", default=os.path.join(os.path.dirname(__file__), "..", "target", "release"))
args = ap.parse_args()
fuda = os.path.abspath(os.path.join(args.bin_dir, "fuda"))
keyd = os.path.abspath(os.path.join(args.bin_dir, "fuda-keyd"))
target = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target")
work = tempfile.mkdtemp(prefix="bench-report-", dir=target)


def env_of(home):
    env = dict(os.environ, HOME=home)
    for v in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "FUDA_CONFIG_DIR"):
        env.pop(v, None)
    return env


def cpu_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(home, *argv, check=True):
    out = subprocess.run([fuda, *argv], env=env_of(home), capture_output=True, text=True)
    if check and out.returncode not in (0, 1):
        sys.exit(f"fuda {' '.join(argv)} failed ({out.returncode}):\n{out.stderr}")
    return out


# The service, its admin and a machine.
data = os.path.join(work, "keyd")
init = json.loads(subprocess.run([keyd, "init", "--data", data, "--admin", "admin", "--json"],
                                 check=True, capture_output=True, text=True).stdout)
server = subprocess.Popen([keyd, "serve", "--data", data, "--listen", "127.0.0.1:0"],
                          stdout=subprocess.PIPE, text=True, env=dict(os.environ, FUDA_KEYD_LOG="warn"))
url = "https://" + server.stdout.readline().strip().removeprefix("listening on ")
fp = init["fingerprint"]
admin = os.path.join(work, "admin")
run(admin, "init", "--name", "admin", "--service", url, "--enroll", init["enrollment_code"], "--ca-fingerprint", fp)


def machine(name, kind):
    home = os.path.join(work, name)
    code = json.loads(run(admin, "admin", "user", "add", name, "--kind", kind, "--json").stdout)["code"]
    run(home, "init", "--machine", name, "--service", url, "--enroll", code, "--ca-fingerprint", fp)
    return home


srv = machine("srv-a", "machine")
index_db = os.path.join(data, "keyd.db")

tree_dir = os.path.abspath(os.path.join(target, f"bench-report-{args.files}"))
tree = os.path.join(tree_dir, "share")
if not os.path.exists(os.path.join(tree_dir, "ready")):
    print(f"making {args.files} files under {tree} ...", file=sys.stderr)
    body = bytearray(b"x" * 1024)
    for i in range(args.files):
        d = os.path.join(tree, "d%04d" % (i // 1000))
        if i % 1000 == 0:
            os.makedirs(d, exist_ok=True)
        body[:8] = i.to_bytes(8, "little")
        with open(os.path.join(d, "f%07d.txt" % i), "wb") as f:
            f.write(body)
    open(os.path.join(tree_dir, "ready"), "w").close()
print("labeling ...", file=sys.stderr)
run(admin, "label", "set", "confidential", "-r", "-q", tree)
subprocess.run(["sync"])

load = open("/proc/loadavg").read().split()[0]
print(f"# {args.files} files, load average {load} at the start, {os.cpu_count()} cores")


def measure(name, home, *argv):
    t = f"{work}/time.txt"
    keyd_cpu = cpu_of(server.pid)
    start = time.monotonic()
    out = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", "-o", t, fuda, *argv],
                         env=env_of(home), capture_output=True, text=True)
    wall = time.monotonic() - start
    if out.returncode not in (0, 1):
        sys.exit(f"{name} failed:\n{out.stderr}")
    user, sys_, rss = open(t).read().split()[-3:]
    extra = ""
    lines = [json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")]
    rep = next((l for l in lines if l.get("type") == "report"), None)
    if rep:
        extra = f" | sent {rep['sent']} records, {rep['removed']} removals, {rep['chunks']} chunks, {rep['bytes']} bytes"
    print(f"{name:<48} {wall:7.2f} s  cpu {float(user) + float(sys_):6.2f} s  keyd cpu {cpu_of(server.pid) - keyd_cpu:6.2f} s  "
          f"rss {int(rss) // 1024} MB  {args.files / wall:9.0f} files/s{extra}")
    return rep


out_json = os.path.join(work, "inv.json")
measure("fuda inventory --format json (cold)", srv, "inventory", tree, "--format", "json", "--out", out_json, "-q")
measure("fuda inventory --format json (repeat)", srv, "inventory", tree, "--format", "json", "--out", out_json, "-q")
measure("fuda inventory --report (first: every record)", srv, "inventory", "--report", tree, "--json")
measure("fuda inventory --report (unchanged)", srv, "inventory", "--report", tree, "--json")
measure("fuda inventory --report (unchanged, again)", srv, "inventory", "--report", tree, "--json")
# 1 % of the files relabeled.
some = [os.path.join(tree, "d%04d" % (i // 1000), "f%07d.txt" % i) for i in range(0, args.files, 100)]
for k in range(0, len(some), 500):
    run(admin, "label", "set", "strictly-confidential", "-q", *some[k:k + 500])
measure("fuda inventory --report (1 % relabeled)", srv, "inventory", "--report", tree, "--json")
with sqlite3.connect(f"file:{index_db}?mode=ro", uri=True) as db:
    n = db.execute("SELECT count(*) FROM file_index WHERE machine = 'srv-a'").fetchone()[0]
assert n == args.files, f"the index holds {n} files of srv-a, not {args.files}"

# fuda watch --report: close → label, close → index.
if args.watch_files:
    hook = machine("fs-1", "hook")
    wtree = os.path.join(work, "watched")
    os.makedirs(wtree)
    log_path = os.path.join(work, "watch.log")
    watch = subprocess.Popen([fuda, "watch", wtree, "--report", "--settle-ms", "300"], env=env_of(hook),
                             stderr=open(log_path, "w"))

    def events():
        out = []
        with open(log_path) as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    while not any(e.get("event") == "watching" for e in events()):
        if watch.poll() is not None:
            sys.exit(open(log_path).read())
        time.sleep(0.01)
    body = ("本書は極秘です。" + "設計変更の議事録。" * 200).encode()
    closed, seen = {}, {}
    db = sqlite3.connect(f"file:{index_db}?mode=ro", uri=True)
    start = time.time()
    i = 0
    while len(seen) < args.watch_files:
        now = time.time()
        while i < args.watch_files and start + i / args.rate <= now:
            path = os.path.join(wtree, f"d{i % 20}", f"f{i:05}.txt")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(body)
            closed[path.encode()] = time.time()
            i += 1
        for (p,) in db.execute("SELECT path FROM file_index WHERE machine = 'fs-1' AND level IS NOT NULL"):
            if p not in seen and p in closed:
                seen[p] = time.time()
        if time.time() - start > args.watch_files / args.rate + 120:
            sys.exit(f"only {len(seen)} of {args.watch_files} files reached the index:\n" + open(log_path).read()[-3000:])
        time.sleep(0.01)
    watch.terminate()
    watch.wait()
    labeled = {}
    for e in events():
        if e.get("event") == "labeled":
            p = e["path"]["text"].encode()
            labeled[p] = datetime.datetime.fromisoformat(e["at"].replace("Z", "+00:00")).timestamp()

    def pct(xs, q):
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(len(xs) * q))]

    to_label = [labeled[p] - closed[p] for p in closed if p in labeled]
    to_index = [seen[p] - closed[p] for p in closed]
    print(f"fuda watch --report, {args.watch_files} files at {args.rate:.0f}/s, settle 300 ms:")
    print(f"  close → label (baseline)  p50 {pct(to_label, .5) * 1000:6.0f} ms  p99 {pct(to_label, .99) * 1000:6.0f} ms  max {max(to_label) * 1000:6.0f} ms")
    print(f"  close → index             p50 {pct(to_index, .5) * 1000:6.0f} ms  p99 {pct(to_index, .99) * 1000:6.0f} ms  max {max(to_index) * 1000:6.0f} ms")

server.terminate()
server.wait()
