#!/usr/bin/env python3
"""p50/p99 time from a file's close to its label with `fuda watch`, under a burst.

Run: cargo build --release -p fuda-cli && python3 benches/watch_latency.py
     [--files 1000] [--rate 1000] [--settle-ms 300] [--bin target/release/fuda]

Writes --files files at --rate files/s into a watched tree (each: open, write, close),
records each close time, and reads the watcher's `labeled` events (JSON lines with
sub-second times). The floor is the settle window (a file must stay quiet that long).
"""
import argparse, datetime, json, os, subprocess, sys, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("--files", type=int, default=1000)
ap.add_argument("--rate", type=float, default=1000.0)
ap.add_argument("--settle-ms", type=int, default=300)
ap.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "fuda"))
args = ap.parse_args()

base = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target")
root = tempfile.mkdtemp(prefix="bench-watch-", dir=base)
home, tree = os.path.join(root, "home"), os.path.join(root, "tree")
os.makedirs(home), os.makedirs(tree)
env = dict(os.environ, HOME=home)
for v in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "FUDA_CONFIG_DIR"):
    env.pop(v, None)
subprocess.run([args.bin, "init", "--name", "bench"], env=env, check=True, stdout=subprocess.DEVNULL)
log_path = os.path.join(root, "watch.log")
log = open(log_path, "w")
watch = subprocess.Popen([args.bin, "watch", tree, "--settle-ms", str(args.settle_ms)], env=env, stderr=log)

def events():
    out = []
    with open(log_path) as f:
        for line in f:
            try:
                out.append(json.loads(line))
            except ValueError:
                pass  # a line being written right now
    return out

try:
    while not any(e["event"] == "watching" for e in events()):
        time.sleep(0.01)
except BaseException:
    watch.kill()
    raise

body = ("本書は極秘です。" + "設計変更の議事録。" * 200).encode()
closed = {}
start = time.time()
for i in range(args.files):
    due = start + i / args.rate
    now = time.time()
    if due > now:
        time.sleep(due - now)
    path = os.path.join(tree, f"d{i % 20}", f"f{i:05}.txt")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(body)
    closed[path] = time.time()
burst = time.time() - start

deadline = time.time() + 120
try:
    while True:
        labeled = {e["path"]: e["at"] for e in events() if e["event"] == "labeled"}
        if len(labeled) >= args.files or time.time() > deadline:
            break
        time.sleep(0.05)
finally:
    watch.terminate()
    watch.wait(timeout=30)

def ts(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()

lat = sorted(ts(labeled[p]) - t for p, t in closed.items() if p in labeled)
if len(lat) < args.files:
    print(f"only {len(lat)} of {args.files} files labeled", file=sys.stderr)
    sys.exit(1)
q = lambda x: lat[min(len(lat) - 1, int(x * len(lat)))]
print(f"{args.files} files in {burst:.2f} s ({args.files / burst:.0f} files/s), settle {args.settle_ms} ms")
print(f"close → label: p50 {q(0.50) * 1000:.0f} ms, p90 {q(0.90) * 1000:.0f} ms, "
      f"p99 {q(0.99) * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms")
subprocess.run(["rm", "-rf", root])
