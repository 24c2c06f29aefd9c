#!/usr/bin/env python3
"""`fuda watch` at the size of a real share: start-up on a large tree, and a soak.

Run: cargo build --release -p fuda-cli && python3 benches/watch_scale.py startup
        --files 100000 --dir /mnt/fudawatch [--old OLD_FUDA] [--bin target/release/fuda]
     python3 benches/watch_scale.py soak --seconds 600 --rate 200 --dir /mnt/fudawatch

startup: builds --files files (1 in 4 carries a keyword a default rule labels) in
  folders of 1,000 below --dir, then for each binary (--old first, the baseline, then
  --bin) runs `fuda watch` on a fresh copy of the labels (the tree's labels removed, a new
  HOME) until its `reconciled` event, and reports: wall seconds to `reconciled`, the
  watcher's CPU seconds (and each thread's: the workers, the main thread that feeds them,
  notify's event thread), peak resident memory (VmHWM), and `overflow` events seen within
  --linger seconds after. Baseline in the same run: `find -type f` and `getfattr -R` over
  the same tree (the floor for walking it and reading its xattrs).

soak: a watcher on a tree of --files files; a stream of creates (write+close), renames
  (inside the tree) and deletes at --rate operations/s for --seconds. Reports p50/p99/max
  close→label over the created files, resident memory sampled every 10 s (first, last,
  max) and overflow events.

The trees are removed at the end. Put --dir on a tmpfs for a million files.
"""
import argparse, datetime, json, os, random, shutil, subprocess, sys, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("mode", choices=["startup", "soak"])
ap.add_argument("--files", type=int, default=100_000)
ap.add_argument("--dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target"))
ap.add_argument("--bin", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target", "release", "fuda"))
ap.add_argument("--old", help="baseline binary (e.g. the previous commit's), run first")
ap.add_argument("--linger", type=float, default=5.0, help="seconds to watch for overflow after reconciling")
ap.add_argument("--seconds", type=float, default=600.0, help="soak duration")
ap.add_argument("--rate", type=float, default=200.0, help="soak operations per second")
ap.add_argument("--settle-ms", type=int, default=300)
args = ap.parse_args()

SECRET = "本書は極秘です。設計変更の議事録。\n".encode()
PLAIN = b"meeting notes, nothing special\n"


def ts(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def proc_status(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu(pid):
    """CPU seconds of each thread alive now, by name ("main" for the process's own)."""
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = "main" if tid == str(pid) else stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        out.append((name, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")))
    return sorted(out, key=lambda t: -t[1])


class Watch:
    """One `fuda watch` with its own HOME; events read from its log."""

    def __init__(self, binary, root, tree, fresh=True):
        self.home = os.path.join(root, "home")
        self.env = dict(os.environ, HOME=self.home)
        for v in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "FUDA_CONFIG_DIR"):
            self.env.pop(v, None)
        if fresh:
            shutil.rmtree(self.home, ignore_errors=True)
            os.makedirs(self.home)
            subprocess.run([binary, "init", "--name", "bench"], env=self.env, check=True, stdout=subprocess.DEVNULL)
        self.log_path = os.path.join(root, "watch.log")
        self.log = open(self.log_path, "w")
        self.offset, self.seen = 0, []
        self.started = time.time()
        self.proc = subprocess.Popen([binary, "watch", tree, "--settle-ms", str(args.settle_ms)],
                                     env=self.env, stderr=self.log)

    def events(self):
        with open(self.log_path) as f:
            f.seek(self.offset)
            while True:
                line = f.readline()
                if not line.endswith("\n"):
                    break
                self.offset += len(line.encode())
                try:
                    self.seen.append(json.loads(line))
                except ValueError:
                    pass
        return self.seen

    def wait_for(self, event, timeout):
        deadline = time.time() + timeout
        while not any(e["event"] == event for e in self.events()):
            if time.time() > deadline or self.proc.poll() is not None:
                raise SystemExit(f"no {event} event (see {self.log_path})")
            time.sleep(0.05)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=120)


def build_tree(tree, n):
    for i in range(n):
        d = os.path.join(tree, f"d{i // 1000:04}")
        if i % 1000 == 0:
            os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i:07}.txt"), "wb") as f:
            f.write(SECRET if i % 4 == 0 else PLAIN)


def unlabel(tree):
    subprocess.run(["find", tree, "-type", "f", "-exec", "setfattr", "-x", "user.fuda.label", "{}", "+"],
                   stderr=subprocess.DEVNULL)


def timed(cmd):
    t = time.time()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.time() - t


def startup(root, tree):
    print(f"building {args.files} files …", file=sys.stderr)
    build_tree(tree, args.files)
    print(f"baseline: find -type f {timed(['find', tree, '-type', 'f']):.1f} s, "
          f"getfattr -R -d {timed(['getfattr', '-R', '-d', tree]):.1f} s")
    for name, binary in (("old", args.old), ("new", args.bin)):
        if not binary:
            continue
        for run in ("first start (nothing labeled)", "restart (labels and memory there)"):
            fresh = run.startswith("first")
            if fresh:
                unlabel(tree)
            w = Watch(binary, root, tree, fresh)
            w.wait_for("reconciled", 3600)
            wall = time.time() - w.started
            rec = next(e for e in w.events() if e["event"] == "reconciled")
            time.sleep(args.linger)
            cpu, hwm = cpu_seconds(w.proc.pid), proc_status(w.proc.pid, "VmHWM")
            threads = ", ".join(f"{n} {c:.1f}" for n, c in thread_cpu(w.proc.pid) if c >= 0.1)
            overflows = sum(e["event"] == "overflow" for e in w.events())
            labeled = sum(e["event"] == "labeled" for e in w.events())
            w.stop()
            print(f"{name} {run}: reconciled {rec['files']} files in {rec['seconds']:.1f} s "
                  f"(wall to reconciled {wall:.1f} s), labeled {labeled}, CPU {cpu:.1f} s, "
                  f"peak RSS {hwm / 2**20:.0f} MB, overflow events {overflows}; CPU s by thread: {threads}",
                  flush=True)


def soak(root, tree):
    build_tree(tree, args.files)
    w = Watch(args.bin, root, tree)
    w.wait_for("watching", 3600)
    rng = random.Random(1)
    live = []  # files the stream created and that still exist
    closed, samples = {}, []
    os.makedirs(os.path.join(tree, "soak"), exist_ok=True)
    start, i, next_sample = time.time(), 0, time.time()
    while time.time() - start < args.seconds:
        due = start + i / args.rate
        now = time.time()
        if due > now:
            time.sleep(due - now)
        if now >= next_sample:
            samples.append(proc_status(w.proc.pid, "VmRSS"))
            next_sample += 10
        op = rng.random()
        if op < 0.5 or len(live) < 100:
            p = os.path.join(tree, "soak", f"d{i % 50}", f"n{i:08}.txt")
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(SECRET)
            closed[p] = time.time()
            live.append(p)
        elif op < 0.75:
            k = rng.randrange(len(live))
            p = live[k]
            q = p + ".r"
            os.rename(p, q)
            live[k] = q
        else:
            p = live.pop(rng.randrange(len(live)))
            os.unlink(p)
        i += 1
    elapsed = time.time() - start
    time.sleep(2 + args.settle_ms / 1000)
    samples.append(proc_status(w.proc.pid, "VmRSS"))
    labeled = {}
    for e in w.events():
        path = e.get("path")
        path = path.get("text") if isinstance(path, dict) else path
        if e["event"] == "labeled" and path not in labeled:
            labeled[path] = ts(e["at"])
    overflows = sum(e["event"] == "overflow" for e in w.events())
    w.stop()
    # Files renamed or deleted before they settled have no label event of their own.
    lat = sorted(labeled[p] - t for p, t in closed.items() if p in labeled)
    q = lambda x: lat[min(len(lat) - 1, int(x * len(lat)))]
    mb = [s / 2**20 for s in samples]
    print(f"soak {elapsed:.0f} s, {i} operations ({i / elapsed:.0f}/s) on a tree of {args.files} files; "
          f"{len(closed)} created, {len(lat)} labeled (others renamed/deleted before settling)")
    print(f"close → label: p50 {q(0.5) * 1000:.0f} ms, p99 {q(0.99) * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms")
    print(f"RSS: first {mb[0]:.0f} MB, last {mb[-1]:.0f} MB, max {max(mb):.0f} MB "
          f"({len(mb)} samples); overflow events {overflows}")


root = tempfile.mkdtemp(prefix="bench-watchscale-", dir=args.dir)
tree = os.path.join(root, "tree")
os.makedirs(tree)
try:
    startup(root, tree) if args.mode == "startup" else soak(root, tree)
finally:
    shutil.rmtree(root, ignore_errors=True)
