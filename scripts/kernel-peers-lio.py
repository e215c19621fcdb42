#!/usr/bin/env python3
"""LIO for scripts/kernel-peers.sh's stage 2, run INSIDE the guest: three iSCSI targets on
0.0.0.0:3260 through rtslib's python API (Debian's targetcli-fb 2.1.53 dies without a system
D-Bus, rtslib does not need one), and lio-mpath, one LU exported through two TPGs (tpg1 on
0.0.0.0:3260, tpg2 on 0.0.0.0:3261) with ALUA groups: tpg2's port Active/optimized, tpg1's
Active/non-optimized. Names and secrets come from /mnt/kp/env; lio-mpath's ALUA setup ("groups"
or "default" when LIO refused the groups) is written to /mnt/kp/lio-mpath-alua.

With arguments it changes the running setup instead (the host asks through the guest's request
loop): "tpg-enable TARGET TAG 0|1" disables or enables a TPG (disabling closes its sessions),
"lun-writes TARGET" prints each TPG's LUN 0 "tag:write_mbytes"."""
import os
import sys
from rtslib_fb import (ALUATargetPortGroup, FabricModule, FileIOStorageObject, LUN, NetworkPortal, Target, TPG)

env = {}
for line in open("/mnt/kp/env"):
    if "=" in line:
        key, value = line.strip().split("=", 1)
        env[key] = value

fabric = FabricModule("iscsi")


def target_named(name):
    return Target(fabric, "%s:%s" % (env["LIO_IQN_PREFIX"], name), mode="lookup")


if len(sys.argv) > 1:
    if sys.argv[1] == "tpg-enable":
        tpg = TPG(target_named(sys.argv[2]), int(sys.argv[3]), mode="lookup")
        tpg.enable = sys.argv[4] == "1"
        print("%s tpg %s enable=%s" % (sys.argv[2], sys.argv[3], int(tpg.enable)))
    elif sys.argv[1] == "lun-writes":
        out = []
        for tpg in sorted(target_named(sys.argv[2]).tpgs, key=lambda t: t.tag):
            path = "%s/lun/lun_0/statistics/scsi_tgt_port/write_mbytes" % tpg.path
            out.append("%d:%s" % (tpg.tag, open(path).read().strip()))
        print(" ".join(out))
    else:
        sys.exit("unknown request %s" % sys.argv[1])
    sys.exit(0)


def setup_tpg(tpg, auth):
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


os.makedirs("/var/tmp/lio", exist_ok=True)
for name, auth in (("lio-open", None), ("lio-chap", "one-way"), ("lio-mutual", "mutual")):
    so = FileIOStorageObject(name, "/var/tmp/lio/%s.img" % name, size=int(env["LIO_SIZE_MB"]) << 20, write_back=False)
    target = Target(fabric, "%s:%s" % (env["LIO_IQN_PREFIX"], name))
    tpg = TPG(target, 1)
    NetworkPortal(tpg, "0.0.0.0", 3260)
    LUN(tpg, 0, so)
    setup_tpg(tpg, auth)
    tpg.enable = True
    print("LIO target %s (%s)" % (target.wwn, auth or "no auth"))

# lio-mpath: one LU, two TPGs (two target ports of one SCSI target device).
so = FileIOStorageObject("lio-mpath", "/var/tmp/lio/lio-mpath.img", size=int(env["LIO_SIZE_MB"]) << 20, write_back=False)
target = Target(fabric, "%s:lio-mpath" % env["LIO_IQN_PREFIX"])
luns = {}
for tag, port in ((1, 3260), (2, 3261)):
    tpg = TPG(target, tag)
    NetworkPortal(tpg, "0.0.0.0", port)
    luns[tag] = LUN(tpg, 0, so)
    setup_tpg(tpg, None)
    tpg.enable = True
# ALUA groups on the storage object (tag 1 is default_tg_pt_gp's): tpg2's port Active/optimized
# (state 0), tpg1's Active/non-optimized (state 1).
alua = "default"
try:
    groups = {}
    for tpg_tag, group_name, group_id, state in ((2, "ao", 2, 0), (1, "ano", 3, 1)):
        group = ALUATargetPortGroup(so, group_name, group_id)
        group.alua_access_state = state
        luns[tpg_tag].alua_tg_pt_gp_name = group_name  # (rtslib's setter fails silently: read back)
        if luns[tpg_tag].alua_tg_pt_gp_name != group_name or group.alua_access_state != state:
            raise RuntimeError("tpg%d's LUN is in %s (state %s), not %s (state %d)"
                               % (tpg_tag, luns[tpg_tag].alua_tg_pt_gp_name, group.alua_access_state, group_name, state))
        groups[group_name] = group
    alua = "groups"
    print("LIO target %s: tpg1 (3260) in ALUA group ano (id 3, Active/non-optimized), tpg2 (3261) in ao (id 2, Active/optimized)" % target.wwn)
except Exception as e:  # fall back: both ports in default_tg_pt_gp (Active/optimized)
    for lun in luns.values():
        lun.alua_tg_pt_gp_name = "default_tg_pt_gp"
    print("LIO target %s: ALUA groups failed (%s): both TPGs in default_tg_pt_gp, both Active/optimized" % (target.wwn, e))
with open("/mnt/kp/lio-mpath-alua", "w") as f:
    f.write(alua + "\n")
