#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Write a two-layer busybox OCI image archive for `ctr images import`.

  make-ctr-image.py NAME OUT.tar BUSYBOX

No network: the root file system is made from a static busybox.
Layer 1: /bin/busybox, a /bin symlink for every applet of `busybox --list`,
         empty /etc, /tmp (1777) and /root (0700).
Layer 2: /etc/passwd (root and opam), /etc/group, /etc/layer2 ("two\\n").
Config:  os linux, architecture amd64, Env PATH=... and CTD_IMAGE=yes,
         Cmd ["/bin/sh"], WorkingDir "/".

OUT.tar is an oci-archive (oci-layout, index.json, blobs/sha256/...).  The
index entry carries io.containerd.image.name = NAME (the name ctr 1.6 gives
the image, untranslated) and org.opencontainers.image.ref.name = NAME's tag.
Every timestamp is 0, so the same busybox gives the same digests.

Prints two lines: the config digest and the chain ID of the top layer
(chain[0] = diff_ids[0], chain[n] = sha256(chain[n-1] + " " + diff_ids[n])),
which is the name of the Committed snapshot containerd unpacks it to.
"""
import gzip, hashlib, io, json, os, subprocess, sys, tarfile

name, out, busybox = sys.argv[1:4]
# The tag is what follows the last ":" after the last "/" (a registry port
# is not a tag); a digest reference has none.
last = name.rsplit("/", 1)[-1]
tag = "latest" if "@" in name or ":" not in last else last.rsplit(":", 1)[1]

bb = open(busybox, "rb").read()
applets = subprocess.run([busybox, "--list"], check=True, capture_output=True,
                         text=True).stdout.split()
D, R, S = tarfile.DIRTYPE, tarfile.REGTYPE, tarfile.SYMTYPE


def tar_bytes(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for path, kind, mode, data, link in entries:
            i = tarfile.TarInfo(path)
            i.type, i.mode, i.linkname, i.mtime = kind, mode, link, 0
            i.uid = i.gid = 0
            i.uname = i.gname = "root"
            if data is not None:
                i.size = len(data)
                t.addfile(i, io.BytesIO(data))
            else:
                t.addfile(i)
    return buf.getvalue()


layer1 = tar_bytes(
    [("bin", D, 0o755, None, ""), ("bin/busybox", R, 0o755, bb, "")]
    + [("bin/" + a, S, 0o777, None, "busybox") for a in applets if a != "busybox"]
    + [("etc", D, 0o755, None, ""), ("tmp", D, 0o1777, None, ""), ("root", D, 0o700, None, "")])
layer2 = tar_bytes([
    ("etc", D, 0o755, None, ""),
    ("etc/passwd", R, 0o644, b"root:x:0:0:root:/root:/bin/sh\nopam:x:1000:1000::/home/opam:/bin/sh\n", ""),
    ("etc/group", R, 0o644, b"root:x:0:\nopam:x:1000:\n", ""),
    ("etc/layer2", R, 0o644, b"two\n", ""),
])

blobs = {}


def blob(data, media_type):
    h = hashlib.sha256(data).hexdigest()
    blobs[h] = data
    return {"mediaType": media_type, "digest": "sha256:" + h, "size": len(data)}


diff_ids = ["sha256:" + hashlib.sha256(l).hexdigest() for l in (layer1, layer2)]
chain = diff_ids[0]
for d in diff_ids[1:]:
    chain = "sha256:" + hashlib.sha256(f"{chain} {d}".encode()).hexdigest()

layers = [blob(gzip.compress(l, compresslevel=1, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip")
          for l in (layer1, layer2)]
config = json.dumps({
    "architecture": "amd64", "os": "linux",
    "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                       "CTD_IMAGE=yes"],
               "Cmd": ["/bin/sh"], "WorkingDir": "/"},
    "rootfs": {"type": "layers", "diff_ids": diff_ids},
    "history": [{"created_by": "make-ctr-image.py layer 1: busybox"},
                {"created_by": "make-ctr-image.py layer 2: /etc"}],
}, separators=(",", ":")).encode()
cfg = blob(config, "application/vnd.oci.image.config.v1+json")
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": cfg, "layers": layers}, separators=(",", ":")).encode()
top = blob(manifest, "application/vnd.oci.image.manifest.v1+json")
top["annotations"] = {"io.containerd.image.name": name,
                      "org.opencontainers.image.ref.name": tag}
top["platform"] = {"architecture": "amd64", "os": "linux"}
index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                    "manifests": [top]}, separators=(",", ":")).encode()

files = [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", index)]
dirs = ["blobs", "blobs/sha256"]
files += [(f"blobs/sha256/{h}", b) for h, b in sorted(blobs.items())]
tmp = out + ".tmp"
with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as t:
    for d in dirs:
        i = tarfile.TarInfo(d); i.type = D; i.mode = 0o755
        t.addfile(i)
    for path, data in files:
        i = tarfile.TarInfo(path); i.size = len(data); i.mode = 0o644
        t.addfile(i, io.BytesIO(data))
os.replace(tmp, out)
print(cfg["digest"])
print(chain)
