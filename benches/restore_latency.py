#!/usr/bin/env python3
"""p50/p99 time from an editor's save (a rename over a labeled file) to its label being
back, with `fuda watch` running (labels that survive editing, issue 7).

Run: cargo build --release -p fuda-cli && python3 benches/restore_latency.py
     [--files 1000] [--rate 100] [--settle-ms 300] [--bin target/release/fuda]

Labels --files text files 秘 by hand, starts the watcher (which learns them into its label
memory), then saves each file once the way sed -i, LibreOffice and rsync do: write a new
temporary file in the same folder and rename it over the labeled one, --rate saves per
second. A save's latency is from its rename to the watcher's `restored` event (logged
after the label is written, so the label is readable then); at the end every file is
checked to carry a label again. The floor is the settle window: the watcher waits until
the new file has been quiet that long.
"""
import argparse, datetime, json, os, subprocess, sys, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("--files", type=int, default=1000)
ap.add_argument("--rate", type=float, default=100.0)
ap.add_argument("--settle-ms", type=int, default=300)
ap.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "fuda"))
args = ap.parse_args()

base = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "target"))
root = tempfile.mkdtemp(prefix="bench-restore-", dir=base)
home, tree = os.path.join(root, "home"), os.path.join(root, "tree")
os.makedirs(home), os.makedirs(tree)
env = dict(os.environ, HOME=home)
for v in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "FUDA_CONFIG_DIR"):
    env.pop(v, None)
subprocess.run([args.bin, "init", "--name", "bench"], env=env, check=True, stdout=subprocess.DEVNULL)

body = ("設計変更の議事録。" * 100).encode()
paths = []
for i in range(args.files):
    path = os.path.join(tree, f"d{i % 20}", f"f{i:05}.txt")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(body)
    paths.append(path)
subprocess.run([args.bin, "label", "set", "confidential", "-r", tree], env=env, check=True,
               stdout=subprocess.DEVNULL)

log_path = os.path.join(root, "watch.log")
log = open(log_path, "w")
watch = subprocess.Popen([args.bin, "watch", tree, "--settle-ms", str(args.settle_ms),
                          "--memory", os.path.join(root, "memory.sqlite")], env=env, stderr=log)

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

saved = {}
start = time.time()
for i, path in enumerate(paths):
    due = start + i / args.rate
    now = time.time()
    if due > now:
        time.sleep(due - now)
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.XXXX{i}")
    with open(tmp, "wb") as f:
        f.write(body + f" 改訂 {i}\n".encode())
    os.rename(tmp, path)
    saved[os.path.abspath(path)] = time.time()
burst = time.time() - start

deadline = time.time() + 120
try:
    while True:
        restored = {e["path"]: e["at"] for e in events() if e["event"] == "restored"}
        if len(restored) >= args.files or time.time() > deadline:
            break
        time.sleep(0.05)
finally:
    watch.terminate()
    watch.wait(timeout=30)

def ts(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()

unlabeled = [p for p in paths if b"user.fuda.label" not in [a.encode() for a in os.listxattr(p)]]
lat = sorted(ts(restored[p]) - t for p, t in saved.items() if p in restored)
if len(lat) < args.files or unlabeled:
    print(f"only {len(lat)} of {args.files} labels restored; {len(unlabeled)} files unlabeled", file=sys.stderr)
    sys.exit(1)
q = lambda x: lat[min(len(lat) - 1, int(x * len(lat)))]
print(f"{args.files} saves by rename in {burst:.2f} s ({args.files / burst:.0f} saves/s), settle {args.settle_ms} ms")
print(f"rename → label restored: p50 {q(0.50) * 1000:.0f} ms, p90 {q(0.90) * 1000:.0f} ms, "
      f"p99 {q(0.99) * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms")
subprocess.run(["rm", "-rf", root])
