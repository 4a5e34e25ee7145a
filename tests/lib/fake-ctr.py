#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A stand-in for ctr talking to containerd on Windows (HCS), for testing
the hcs store's Windows flow on Linux, where there is no Windows
snapshotter nor HCS.  It is NOT containerd: it keeps a small state in
$FAKE_CTR_STATE and answers the commands cairn makes the way ctr does on
Windows (the mount shapes, listings and messages in containerd-notes.md
section 2 and 4):

  version; images ls [name==REF]; images pull ... REF; content get DIGEST;
  snapshot [--snapshotter=S] prepare --mounts KEY PARENT | commit NAME KEY |
  rm KEY | ls; containers ls -q; containers rm ID; task kill|delete ...;
  run --rm [--cni] --config FILE ID

Every call is appended to $FAKE_CTR_STATE/calls (one line, the arguments
after the global options).  `run` keeps the config as configs/ID.json and
"runs" it: args ending in "exit N" exit N, "sleep" waits to be killed,
and `tar -xf C:\\cairn-copy\\data.tar` lists the tar it was given, found
through the config's bind mount, as bsdtar -tv would.

The image: mcr.microsoft.com/windows/nanoserver:ltsc2022 (or any other
ltsc tag of it: the same content), an index with a linux/amd64 and a
windows/amd64 manifest, two layers.

When cairn.exe runs under wine (tests/windows/engine.sh), wine starts this
script as a Unix program and the paths it is given are Windows names of
host paths (Z:\\tmp\\...): they are mapped back.
"""
import hashlib, json, os, signal, sys, tarfile, time

state = os.environ["FAKE_CTR_STATE"]
os.makedirs(state, exist_ok=True)
SNAPROOT = "C:\\ProgramData\\containerd\\root\\io.containerd.snapshotter.v1.windows\\snapshots"
IMAGE = "mcr.microsoft.com/windows/nanoserver:ltsc2022"


def is_image(name):
    return name.startswith("mcr.microsoft.com/windows/nanoserver:ltsc")


def host(path):
    """A host path given as wine's Windows name of it (Z:\\a\\b is /a/b,
    C:\\a is the wine prefix's drive_c/a)."""
    if len(path) > 2 and path[0] in "Zz" and path[1] == ":":
        return path[2:].replace("\\", "/")
    if len(path) > 2 and path[0] in "Cc" and path[1] == ":" and "WINEPREFIX" in os.environ:
        return os.environ["WINEPREFIX"] + "/drive_c" + path[2:].replace("\\", "/")
    return path

args = sys.argv[1:]
while args and args[0].startswith("--"):   # --address=..., --namespace=...
    args = args[1:]
with open(f"{state}/calls", "a") as f:
    f.write(" ".join(args) + "\n")


def die(msg, code=1):
    sys.stderr.write("ctr: " + msg + "\n")
    sys.exit(code)


def blob(obj):
    data = json.dumps(obj, separators=(",", ":")).encode()
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    os.makedirs(f"{state}/blobs", exist_ok=True)
    open(f"{state}/blobs/{d[7:]}", "wb").write(data)
    return d, len(data)


def image():
    diff_ids = ["sha256:" + "1" * 64, "sha256:" + "2" * 64]
    cfg, cfg_size = blob({"architecture": "amd64", "os": "windows",
                          "config": {"Env": ["PATH=C:\\Windows\\system32;C:\\Windows", "WIN_IMAGE=yes"]},
                          "rootfs": {"type": "layers", "diff_ids": diff_ids}})
    lcfg, lcfg_size = blob({"architecture": "amd64", "os": "linux", "config": {"Env": ["WRONG=linux"]},
                            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "3" * 64]}})
    man = lambda c, s: blob({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                             "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                                        "digest": c, "size": s},
                             "layers": [{"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar",
                                         "digest": "sha256:" + "a" * 64, "size": 1}]})
    wm, wms = man(cfg, cfg_size)
    lm, lms = man(lcfg, lcfg_size)
    idx, _ = blob({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
                   "manifests": [
                       {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": lm,
                        "size": lms, "platform": {"architecture": "amd64", "os": "linux"}},
                       {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": wm,
                        "size": wms, "platform": {"architecture": "amd64", "os": "windows",
                                                  "os.version": "10.0.20348.2340"}}]})
    # The chain ID of the two diff IDs, as containerd names the unpacked image.
    chain = diff_ids[0]
    chain = "sha256:" + hashlib.sha256((chain + " " + diff_ids[1]).encode()).hexdigest()
    return idx, chain


def load_snaps():
    try:
        return json.load(open(f"{state}/snapshots.json"))
    except FileNotFoundError:
        return {"next": 1, "snaps": {}}


def save_snaps(s):
    json.dump(s, open(f"{state}/snapshots.json", "w"))


def path_of(s, key):
    return f"{SNAPROOT}\\{s['snaps'][key]['id']}"


def chain_of(s, key):
    out = []
    while key:
        out.append(path_of(s, key))
        key = s["snaps"][key]["parent"]
    return out


cmd = args[0] if args else ""
if cmd == "version":
    print("Client:\n  Version:  fake\nServer:\n  Version:  fake")
elif cmd == "images" and args[1] in ("ls", "list"):
    print("REF TYPE DIGEST SIZE PLATFORMS LABELS")
    if os.path.exists(f"{state}/pulled"):
        idx, _ = image()
        name = args[2][6:] if len(args) > 2 and args[2].startswith("name==") else IMAGE
        if is_image(name):
            print(f"{name} application/vnd.docker.distribution.manifest.list.v2+json {idx} 100.0 MiB "
                  "linux/amd64,windows/amd64 -")
elif cmd == "images" and args[1] == "pull":
    if not is_image(args[-1]):
        die(f"failed to resolve reference \"{args[-1]}\": {args[-1]}: not found")
    open(f"{state}/pulled", "w").write(" ".join(args))
    _, chain = image()
    s = load_snaps()
    s["snaps"].setdefault(chain, {"id": 900, "parent": "", "kind": "Committed"})
    save_snaps(s)
    print(f"{args[-1]}: resolved")
elif cmd == "content" and args[1] == "get":
    p = f"{state}/blobs/{args[2][7:]}"
    if not os.path.exists(p):
        die(f"content digest {args[2]}: not found")
    sys.stdout.buffer.write(open(p, "rb").read())
elif cmd == "snapshot":
    rest = [a for a in args[1:] if not a.startswith("--snapshotter")]
    s = load_snaps()
    sub = rest[0]
    if sub == "prepare":
        key, parent = rest[2], rest[3]
        if key in s["snaps"]:
            die(f"snapshot \"{key}\": already exists")
        if parent not in s["snaps"]:
            die(f"parent snapshot {parent} does not exist: not found")
        s["snaps"][key] = {"id": s["next"], "parent": parent, "kind": "Active"}
        s["next"] += 1
        save_snaps(s)
        parents = chain_of(s, parent)
        print(json.dumps([{"Type": "windows-layer", "Source": path_of(s, key),
                           "Options": ["rw", "parentLayerPaths=" + json.dumps(parents, separators=(",", ":"))]}],
                         indent=4))
    elif sub == "commit":
        name, key = rest[1], rest[2]
        if key not in s["snaps"]:
            die(f"snapshot {key} does not exist: not found")
        if name in s["snaps"]:
            die(f"snapshot \"{name}\": already exists")
        snap = s["snaps"].pop(key)
        snap["kind"] = "Committed"
        s["snaps"][name] = snap
        for other in s["snaps"].values():
            if other["parent"] == key:
                other["parent"] = name
        save_snaps(s)
    elif sub == "rm":
        key = rest[1]
        if key not in s["snaps"]:
            die(f"failed to remove \"{key}\": snapshot {key} does not exist: not found")
        if any(o["parent"] == key for o in s["snaps"].values()):
            die(f"failed to remove \"{key}\": cannot remove snapshot with child: failed precondition")
        del s["snaps"][key]
        save_snaps(s)
    elif sub == "ls":
        print("KEY PARENT KIND")
        for k, v in s["snaps"].items():
            print(f"{k} {v['parent']} {v['kind']}")
    else:
        die(f"unknown snapshot command {sub}")
elif cmd in ("containers", "c") and args[1] == "ls":
    for c in sorted(os.listdir(f"{state}/containers")) if os.path.isdir(f"{state}/containers") else []:
        print(c)
elif cmd in ("containers", "c") and args[1] == "rm":
    try:
        os.unlink(f"{state}/containers/{args[2]}")
    except FileNotFoundError:
        die(f"container \"{args[2]}\": not found")
elif cmd in ("task", "t"):
    if args[1] == "kill":
        cid = args[-1]
        try:
            pid = int(open(f"{state}/containers/{cid}").read())
            os.kill(pid, signal.SIGKILL)
        except (FileNotFoundError, ValueError, ProcessLookupError):
            die(f"task {cid}: not found")
elif cmd == "run":
    cfg_path, cid = host(args[args.index("--config") + 1]), args[-1]
    cfg = json.load(open(cfg_path))
    os.makedirs(f"{state}/configs", exist_ok=True)
    open(f"{state}/configs/{cid}.json", "w").write(open(cfg_path).read())
    os.makedirs(f"{state}/containers", exist_ok=True)
    open(f"{state}/containers/{cid}", "w").write(str(os.getpid()))
    argv = cfg["process"]["args"]
    status = 0
    if argv[0] == "tar":
        m = [x for x in cfg.get("mounts", []) if x["destination"] == "C:\\cairn-copy"][0]
        with tarfile.open(os.path.join(host(m["source"]), "data.tar")) as t:
            for i in t.getmembers():
                kind = "d" if i.isdir() else "l" if i.issym() else "-"
                print(f"x {kind}{i.mode:o} {i.uname}:{i.uid} {i.name}" + (f" -> {i.linkname}" if i.issym() else ""))
    else:
        print("fake-run: " + " ".join(argv))
        line = argv[-1]
        if "sleep" in line:
            print("started", flush=True)
            time.sleep(60)
        if "exit " in line:
            status = int(line.rsplit("exit ", 1)[1].split()[0])
    if "--rm" in args:
        os.unlink(f"{state}/containers/{cid}")
    sys.exit(status)
else:
    die(f"fake ctr: unsupported command: {' '.join(args)}")
