#!/usr/bin/env python3
"""LIO for scripts/kernel-peers.sh's stage 2, run INSIDE the guest: three iSCSI targets on
0.0.0.0:3260 through rtslib's python API (Debian's targetcli-fb 2.1.53 dies without a system
D-Bus, rtslib does not need one). Names and secrets come from /mnt/kp/env."""
import os
from rtslib_fb import FabricModule, FileIOStorageObject, LUN, NetworkPortal, Target, TPG

env = {}
for line in open("/mnt/kp/env"):
    if "=" in line:
        key, value = line.strip().split("=", 1)
        env[key] = value

fabric = FabricModule("iscsi")
os.makedirs("/var/tmp/lio", exist_ok=True)
for name, auth in (("lio-open", None), ("lio-chap", "one-way"), ("lio-mutual", "mutual")):
    so = FileIOStorageObject(name, "/var/tmp/lio/%s.img" % name, size=int(env["LIO_SIZE_MB"]) << 20, write_back=False)
    target = Target(fabric, "%s:%s" % (env["LIO_IQN_PREFIX"], name))
    tpg = TPG(target, 1)
    NetworkPortal(tpg, "0.0.0.0", 3260)
    LUN(tpg, 0, so)
    tpg.set_attribute("generate_node_acls", "1")
    tpg.set_attribute("cache_dynamic_acls", "1")
    tpg.set_attribute("demo_mode_write_protect", "0")
    if auth:
        tpg.chap_userid = env["CHAP_USER"]
        tpg.chap_password = env["CHAP_PASS"]
        if auth == "mutual":
            tpg.chap_mutual_userid = env["CHAP_OUT_USER"]
            tpg.chap_mutual_password = env["CHAP_OUT_PASS"]
        tpg.set_attribute("authentication", "1")
    else:
        tpg.set_attribute("authentication", "0")
    tpg.enable = True
    print("LIO target %s (%s)" % (target.wwn, auth or "no auth"))
