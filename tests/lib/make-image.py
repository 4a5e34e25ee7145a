#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Make OCI image layouts for the tests, from a static busybox.

  make-image.py KIND DIR TAG BUSYBOX

KIND: simple (one gzip layer, env REG=yes), layered (two layers with
whiteouts, an opaque directory and a hard link), multiarch (an index for
linux/amd64 and linux/s390x), codecs (gzip, zstd and
uncompressed layers), family (DIR and DIR.big, two images
sharing their two bottom layers), ordered (a 16 MB bottom layer and two small
ones above, the first deleting the big file: the small ones finish
downloading first, yet must be applied after it), hostile (a layer with ".." names and links
out of the root).  The layout's index names the image TAG.  Prints the
digest of what TAG points to.

  make-image.py docker-archive FILE BUSYBOX

writes the layered image as `docker save` would.
"""
import gzip, hashlib, io, json, os, sys, tarfile

if sys.argv[1] == "docker-archive":
    kind, out, tag, busybox = sys.argv[1], None, None, sys.argv[3]
else:
    kind, out, tag, busybox = sys.argv[1:5]
    os.makedirs(f"{out}/blobs/sha256", exist_ok=True)
bb = open(busybox, "rb").read()
D, R, S, H = tarfile.DIRTYPE, tarfile.REGTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE


def tar_bytes(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, k, data, link in entries:
            i = tarfile.TarInfo(name); i.type = k; i.linkname = link; i.mode = 0o755
            if data is not None:
                i.size = len(data); t.addfile(i, io.BytesIO(data))
            else:
                t.addfile(i)
    return buf.getvalue()


def blob(b):
    h = hashlib.sha256(b).hexdigest()
    open(f"{out}/blobs/sha256/{h}", "wb").write(b)
    return {"digest": "sha256:" + h, "size": len(b)}


def image(layers, env, arch="amd64"):
    diff_ids = ["sha256:" + hashlib.sha256(l).hexdigest() for l in layers]
    cfg = json.dumps({"architecture": arch, "os": "linux", "config": {"Env": env},
                      "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    descs = []
    for l in layers:
        z = gzip.compress(l)
        descs.append(dict(blob(z), mediaType="application/vnd.oci.image.layer.v1.tar+gzip"))
    man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": dict(blob(cfg), mediaType="application/vnd.oci.image.config.v1+json"),
                      "layers": descs}).encode()
    return dict(blob(man), mediaType="application/vnd.oci.image.manifest.v1+json")


# Every image gets its own first layer (the registry shares identical blobs
# between repositories, so a test that corrupts one must not hit others).
base = [("bin", D, None, ""), ("bin/busybox", R, bb, ""), ("image-name", R, f"{out}:{tag}".encode(), "")] + \
       [("bin/" + a, S, None, "busybox") for a in ("sh", "echo", "cat", "ls", "test", "readlink")]
env = ["PATH=/bin", "REG=yes"]
if kind == "simple":
    top = image([tar_bytes(base)], env)
elif kind in ("layered", "docker-archive"):
    l1 = tar_bytes(base + [("etc", D, None, ""), ("etc/keep", R, b"keep\n", ""), ("etc/gone", R, b"gone\n", ""),
                           ("opq", D, None, ""), ("opq/old", R, b"old\n", ""), ("hard", R, b"linked\n", "")])
    l2 = tar_bytes([("etc/.wh.gone", R, b"", ""), ("opq/.wh..wh..opq", R, b"", ""), ("opq/new", R, b"new\n", ""),
                    ("hard2", H, None, "hard"), ("etc/added", R, b"added\n", "")])
    if kind == "docker-archive":
        cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Env": env}}).encode()
        with tarfile.open(sys.argv[2], "w") as t:
            for name, data in (("cfg.json", cfg), ("l1/layer.tar", l1), ("l2/layer.tar", l2),
                               ("manifest.json", json.dumps([{"Config": "cfg.json", "RepoTags": ["x:latest"],
                                                              "Layers": ["l1/layer.tar", "l2/layer.tar"]}]).encode())):
                i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
        sys.exit(0)
    top = image([l1, l2], env)
elif kind == "multiarch":
    amd = dict(image([tar_bytes(base)], env + ["ARCH=amd64"]), platform={"os": "linux", "architecture": "amd64"})
    s390 = dict(image([tar_bytes([("s390x-only", R, b"x", "")])], ["ARCH=s390x"], "s390x"),
                platform={"os": "linux", "architecture": "s390x"})
    idx = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                      "manifests": [s390, amd]}).encode()
    top = dict(blob(idx), mediaType="application/vnd.oci.image.index.v1+json")
elif kind == "ordered":
    big = os.urandom(16 << 20)
    top = image([tar_bytes(base + [("big", R, big, ""), ("etc", D, None, "")]),
                 tar_bytes([(".wh.big", R, b"", ""), ("etc/second", R, b"second\n", "")]),
                 tar_bytes([("etc/third", R, b"third\n", "")])], env)
elif kind == "family":
    # Two images sharing their two bottom layers, byte for byte (gzip
    # without a timestamp): DIR is the small one, DIR.big has three more
    # layers, the first of which deletes a file of the bottom one.
    def image_det(layers, env):
        global out
        diff_ids = ["sha256:" + hashlib.sha256(l).hexdigest() for l in layers]
        cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Env": env},
                          "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
        descs = [dict(blob(gzip.compress(l, mtime=0)), mediaType="application/vnd.oci.image.layer.v1.tar+gzip")
                 for l in layers]
        man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                          "config": dict(blob(cfg), mediaType="application/vnd.oci.image.config.v1+json"),
                          "layers": descs}).encode()
        return dict(blob(man), mediaType="application/vnd.oci.image.manifest.v1+json")
    fam = [("bin", D, None, ""), ("bin/busybox", R, bb, "")] + \
          [("bin/" + a, S, None, "busybox") for a in ("sh", "echo", "cat", "ls", "test")]
    l1 = tar_bytes(fam + [("etc", D, None, ""), ("etc/one", R, b"one\n", ""), ("etc/doomed", R, b"doomed\n", "")])
    l2 = tar_bytes([("etc/two", R, b"two\n", "")])
    l3 = tar_bytes([("etc/.wh.doomed", R, b"", ""), ("etc/three", R, b"three\n", "")])
    l4 = tar_bytes([("etc/four", R, b"four\n", "")])
    l5 = tar_bytes([("etc/five", R, b"five\n", "")])
    small_dir = out
    out = small_dir + ".big"
    os.makedirs(f"{out}/blobs/sha256", exist_ok=True)
    big = image_det([l1, l2, l3, l4, l5], ["PATH=/bin", "FAM=big"])
    big["annotations"] = {"org.opencontainers.image.ref.name": tag}
    json.dump({"schemaVersion": 2, "manifests": [big]}, open(f"{out}/index.json", "w"))
    open(f"{out}/oci-layout", "w").write('{"imageLayoutVersion": "1.0.0"}')
    out = small_dir
    top = image_det([l1, l2], ["PATH=/bin", "FAM=small"])
elif kind == "codecs":
    # One layer each gzip, zstd (the zstd tool; Python has no zstd) and
    # uncompressed, with their OCI media types.
    import subprocess
    l1 = tar_bytes(base + [("etc", D, None, ""), ("etc/gzip", R, b"gzip\n", "")])
    l2 = tar_bytes([("etc/zstd", R, b"zstd\n", "")])
    l3 = tar_bytes([("etc/plain", R, b"plain\n", "")])
    diff_ids = ["sha256:" + hashlib.sha256(l).hexdigest() for l in (l1, l2, l3)]
    cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Env": env},
                      "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    z = subprocess.run(["zstd", "-q", "-c"], input=l2, stdout=subprocess.PIPE, check=True).stdout
    descs = [dict(blob(gzip.compress(l1)), mediaType="application/vnd.oci.image.layer.v1.tar+gzip"),
             dict(blob(z), mediaType="application/vnd.oci.image.layer.v1.tar+zstd"),
             dict(blob(l3), mediaType="application/vnd.oci.image.layer.v1.tar")]
    man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": dict(blob(cfg), mediaType="application/vnd.oci.image.config.v1+json"),
                      "layers": descs}).encode()
    top = dict(blob(man), mediaType="application/vnd.oci.image.manifest.v1+json")
elif kind == "hostile":
    l = tar_bytes(base + [("../../escaped", R, b"gotcha", "")])
    top = image([l], env)
else:
    sys.exit(f"unknown kind {kind}")
top["annotations"] = {"org.opencontainers.image.ref.name": tag}
json.dump({"schemaVersion": 2, "manifests": [top]}, open(f"{out}/index.json", "w"))
open(f"{out}/oci-layout", "w").write('{"imageLayoutVersion": "1.0.0"}')
print(top["digest"])
