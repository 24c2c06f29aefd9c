#!/usr/bin/env python3
"""Two builds of `fuda`, side by side in one run: the same commands over the same tree,
old and new interleaved, so that a noisy shared machine hurts both alike.

    benches/side_by_side.py OLD_FUDA NEW_FUDA [--files N] [--rounds R] [--dir DIR] [--only TEXT]

Typical use, comparing a change with the commit before it:

    git worktree add /tmp/fuda-old BASE && (cd /tmp/fuda-old && cargo build --release -p fuda-cli)
    cargo build --release -p fuda-cli
    benches/side_by_side.py /tmp/fuda-old/target/release/fuda target/release/fuda

For each command it prints the median wall time and the median CPU-seconds (user+sys of
the child) of each build over R rounds, and new/old ratios. Each build runs in its own copy of one HOME (the same identity and trust store, made by
the old build), so signatures verify across builds while each build's embedded key
service database and caches stay its own (a newer build may migrate them); one untimed
run of each warms its caches. Needs only python3.
"""
import argparse
import os
import pathlib
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def run(argv, env, cwd=None):
    """Runs a command; returns (wall seconds, CPU seconds) and fails loudly on error."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        sys.exit(f"{' '.join(map(str, argv))} failed ({proc.returncode}):\n"
                 f"{proc.stderr.decode(errors='replace')}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def make_tree(tree: pathlib.Path, files: int):
    body = bytearray(b"x" * 1024)
    for i in range(files):
        d = tree / f"d{i // 1000:04d}"
        if i % 1000 == 0:
            d.mkdir(parents=True, exist_ok=True)
        body[:8] = i.to_bytes(8, "little")
        (d / f"f{i:07d}.txt").write_bytes(body)
    # Files the auto-labeling rules have something to say about.
    for i in range(0, files, 50):
        (tree / f"d{i // 1000:04d}" / f"memo{i:07d}.txt").write_text(
            "社外秘\n設計部の打ち合わせメモ。\n" * 20, encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--files", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--dir", default=None, help="work directory (default: a temporary one)")
    ap.add_argument("--only", default=None, help="run only the commands whose name contains this")
    args = ap.parse_args()
    builds = {"old": os.path.realpath(args.old), "new": os.path.realpath(args.new)}

    work = pathlib.Path(args.dir or tempfile.mkdtemp(prefix="fuda-side-by-side-"))
    work.mkdir(parents=True, exist_ok=True)
    home = work / "home"
    tree = work / "tree"
    env = {k: v for k, v in os.environ.items()
           if k not in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "FUDA_CONFIG_DIR")}
    env["HOME"] = str(home)
    # One identity, made by the old build (a newer one may write state the old cannot
    # read), copied into one HOME per build: signatures verify across builds, and each
    # build's embedded key service database stays its own (a newer build may migrate it).
    if not home.exists():
        home.mkdir()
        subprocess.run([builds["old"], "init", "--name", "bench", "--dept", "設計部"],
                       env=env, check=True, stdout=subprocess.DEVNULL)
    homes = {}
    for which in builds:
        own = work / f"home-{which}"
        if not own.exists():
            shutil.copytree(home, own, symlinks=True)
        homes[builds[which]] = dict(env, HOME=str(own))
    if not tree.exists():
        print(f"making {args.files} files under {tree} ...", file=sys.stderr)
        make_tree(tree, args.files)
    payload = work / "payload.bin"
    if not payload.exists():
        payload.write_bytes(os.urandom(64 << 20))

    def protect_open(fuda):
        own = homes[fuda]
        target = work / "p"
        if target.exists():
            shutil.rmtree(target)
        target.mkdir()
        shutil.copy(payload, target / "drawing.bin")
        w1, c1 = run([fuda, "protect", str(target / "drawing.bin")], own)
        protected = next(target.glob("drawing.bin*"))
        w2, c2 = run([fuda, "open", str(protected), "--out", str(target / "out.bin")], own)
        return w1 + w2, c1 + c2

    commands = [
        ("label set -r (relabel)", lambda f: run([f, "label", "set", "社外秘", "-r", "-q", str(tree)], homes[f])),
        ("label check -r (memo warm)", lambda f: run([f, "label", "check", "-r", str(tree)], homes[f])),
        ("classify -r", lambda f: run([f, "classify", "-r", str(tree)], homes[f])),
        ("inventory → xlsx", lambda f: run([f, "inventory", "-q", str(tree), "-o", str(work / "ledger.xlsx")], homes[f])),
        ("protect + open 64 MiB", protect_open),
    ]

    print(f"# {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}, {args.files} files, "
          f"{args.rounds} rounds, load {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores")
    print(f"# old: {builds['old']}\n# new: {builds['new']}")
    print("| command | old wall | new wall | wall new/old | old CPU s | new CPU s | CPU new/old |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, command in commands:
        if args.only and args.only not in name:
            continue
        # One untimed run each warms the page cache, memos and digests.
        for fuda in builds.values():
            command(fuda)
        samples = {"old": [], "new": []}
        for _ in range(args.rounds):
            for which, fuda in builds.items():
                samples[which].append(command(fuda))
        wall = {k: statistics.median(s[0] for s in v) for k, v in samples.items()}
        cpu = {k: statistics.median(s[1] for s in v) for k, v in samples.items()}
        print(f"| {name} | {wall['old']:.3f} s | {wall['new']:.3f} s | "
              f"{wall['new'] / wall['old']:.2f} | {cpu['old']:.2f} | {cpu['new']:.2f} | "
              f"{cpu['new'] / cpu['old']:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
