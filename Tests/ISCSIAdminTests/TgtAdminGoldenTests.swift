// Outputs of Debian's tgt 1.0.85 (tgtd, tgtadm, tgt-admin) captured on this machine; the setups
// are described at each. Tabs are written \t and trailing blanks \u{20}.
enum TgtAdminGoldens {
    /// `tgtadm --op show --mode target` of Debian's tgtd: file and null LUNs, accounts, CIDR, IPv6, ALL and name rules, an offline target.
    static let showMixed = """
        Target 1: iqn.2026-11.test:h10.alpha
            System information:
                Driver: iscsi
                State: ready
            I_T nexus information:
            LUN information:
                LUN: 0
                    Type: controller
                    SCSI ID: IET     00010000
                    SCSI SN: beaf10
                    Size: 0 MB, Block size: 1
                    Online: Yes
                    Removable media: No
                    Prevent removal: No
                    Readonly: No
                    SWP: No
                    Thin-provisioning: No
                    Backing store type: null
                    Backing store path: None
                    Backing store flags:\u{20}
                LUN: 1
                    Type: disk
                    SCSI ID: IET     00010001
                    SCSI SN: beaf11
                    Size: 67 MB, Block size: 512
                    Online: Yes
                    Removable media: No
                    Prevent removal: No
                    Readonly: No
                    SWP: No
                    Thin-provisioning: No
                    Backing store type: rdwr
                    Backing store path: /dev/shm/h10-a.img
                    Backing store flags:\u{20}
                LUN: 2
                    Type: disk
                    SCSI ID: IET     00010002
                    SCSI SN: beaf12
                    Size: 34 MB, Block size: 512
                    Online: Yes
                    Removable media: No
                    Prevent removal: No
                    Readonly: No
                    SWP: No
                    Thin-provisioning: No
                    Backing store type: rdwr
                    Backing store path: /dev/shm/h10-b.img
                    Backing store flags:\u{20}
                LUN: 3
                    Type: disk
                    SCSI ID: IET     00010003
                    SCSI SN: beaf13
                    Size: 1099512 MB, Block size: 512
                    Online: Yes
                    Removable media: No
                    Prevent removal: No
                    Readonly: No
                    SWP: No
                    Thin-provisioning: No
                    Backing store type: null
                    Backing store path: /dev/shm/h10-nullpath
                    Backing store flags:\u{20}
            Account information:
                alice
                bob
                carol (outgoing)
            ACL information:
                192.168.1.10
                10.0.0.0/8
                iqn.1994-05.com.redhat:client1
        Target 2: iqn.2026-11.test:h10.beta
            System information:
                Driver: iscsi
                State: ready
            I_T nexus information:
            LUN information:
                LUN: 0
                    Type: controller
                    SCSI ID: IET     00020000
                    SCSI SN: beaf20
                    Size: 0 MB, Block size: 1
                    Online: Yes
                    Removable media: No
                    Prevent removal: No
                    Readonly: No
                    SWP: No
                    Thin-provisioning: No
                    Backing store type: null
                    Backing store path: None
                    Backing store flags:\u{20}
                LUN: 1
                    Type: disk
                    SCSI ID: IET     00020001
                    SCSI SN: beaf21
                    Size: 17 MB, Block size: 512
                    Online: Yes
                    Removable media: No
                    Prevent removal: No
                    Readonly: No
                    SWP: No
                    Thin-provisioning: No
                    Backing store type: rdwr
                    Backing store path: /dev/shm/h10-c.img
                    Backing store flags:\u{20}
            Account information:
            ACL information:
                ALL
        Target 4: iqn.2026-11.test:h10.gamma
            System information:
                Driver: iscsi
                State: offline
            I_T nexus information:
            LUN information:
                LUN: 0
                    Type: controller
                    SCSI ID: IET     00040000
                    SCSI SN: beaf40
                    Size: 0 MB, Block size: 1
                    Online: Yes
                    Removable media: No
                    Prevent removal: No
                    Readonly: No
                    SWP: No
                    Thin-provisioning: No
                    Backing store type: null
                    Backing store path: None
                    Backing store flags:\u{20}
            Account information:
            ACL information:
                ALL
                fe80::1
                2001:db8::/32
                172.16.0.1
                iqn.2026-11.test:client9

        """

    /// Debian tgt-admin --dump of `showMixed` (one of its random target orders: the tid order).
    static let dumpMixedDebian = """
        default-driver iscsi

        <target iqn.2026-11.test:h10.alpha>
        \tbacking-store /dev/shm/h10-a.img
        \tbacking-store /dev/shm/h10-b.img
        \tbacking-store /dev/shm/h10-nullpath
        \tincominguser alice PLEASE_CORRECT_THE_PASSWORD
        \tincominguser bob PLEASE_CORRECT_THE_PASSWORD
        \toutgoinguser carol PLEASE_CORRECT_THE_PASSWORD
        \tinitiator-address 192.168.1.10
        \tinitiator-name 10.0.0.0/8
        \tinitiator-name iqn.1994-05.com.redhat:client1
        </target>

        <target iqn.2026-11.test:h10.beta>
        \tbacking-store /dev/shm/h10-c.img
        </target>

        <target iqn.2026-11.test:h10.gamma>
        \tinitiator-name ALL
        \tinitiator-name fe80::1
        \tinitiator-name 2001:db8::/32
        \tinitiator-address 172.16.0.1
        \tinitiator-name iqn.2026-11.test:client9
        </target>


        """

    /// show of a configuration Debian's dump reproduces exactly.
    static let showPlain = """
        Target 1: iqn.2026-11.test:rt.alpha
            System information:
                Driver: iscsi
                State: ready
            I_T nexus information:
            LUN information:
                LUN: 0
                    Type: controller
                    SCSI ID: IET     00010000
                    SCSI SN: beaf10
                    Size: 0 MB, Block size: 1
                    Online: Yes
                    Removable media: No
                    Prevent removal: No
                    Readonly: No
                    SWP: No
                    Thin-provisioning: No
                    Backing store type: null
                    Backing store path: None
                    Backing store flags:\u{20}
                LUN: 1
                    Type: disk
                    SCSI ID: IET     00010001
                    SCSI SN: beaf11
                    Size: 67 MB, Block size: 512
                    Online: Yes
                    Removable media: No
                    Prevent removal: No
                    Readonly: No
                    SWP: No
                    Thin-provisioning: No
                    Backing store type: rdwr
                    Backing store path: /dev/shm/h10-a.img
                    Backing store flags:\u{20}
                LUN: 2
                    Type: disk
                    SCSI ID: IET     00010002
                    SCSI SN: beaf12
                    Size: 34 MB, Block size: 512
                    Online: Yes
                    Removable media: No
                    Prevent removal: No
                    Readonly: No
                    SWP: No
                    Thin-provisioning: No
                    Backing store type: rdwr
                    Backing store path: /dev/shm/h10-b.img
                    Backing store flags:\u{20}
            Account information:
                alice
                bob
                carol (outgoing)
            ACL information:
                192.168.1.10
                iqn.1994-05.com.redhat:client1
        Target 2: iqn.2026-11.test:rt.beta
            System information:
                Driver: iscsi
                State: ready
            I_T nexus information:
            LUN information:
                LUN: 0
                    Type: controller
                    SCSI ID: IET     00020000
                    SCSI SN: beaf20
                    Size: 0 MB, Block size: 1
                    Online: Yes
                    Removable media: No
                    Prevent removal: No
                    Readonly: No
                    SWP: No
                    Thin-provisioning: No
                    Backing store type: null
                    Backing store path: None
                    Backing store flags:\u{20}
                LUN: 1
                    Type: disk
                    SCSI ID: IET     00020001
                    SCSI SN: beaf21
                    Size: 17 MB, Block size: 512
                    Online: Yes
                    Removable media: No
                    Prevent removal: No
                    Readonly: No
                    SWP: No
                    Thin-provisioning: No
                    Backing store type: rdwr
                    Backing store path: /dev/shm/h10-c.img
                    Backing store flags:\u{20}
            Account information:
            ACL information:
                ALL
        Target 3: iqn.2026-11.test:rt.gamma
            System information:
                Driver: iscsi
                State: ready
            I_T nexus information:
            LUN information:
                LUN: 0
                    Type: controller
                    SCSI ID: IET     00030000
                    SCSI SN: beaf30
                    Size: 0 MB, Block size: 1
                    Online: Yes
                    Removable media: No
                    Prevent removal: No
                    Readonly: No
                    SWP: No
                    Thin-provisioning: No
                    Backing store type: null
                    Backing store path: None
                    Backing store flags:\u{20}
            Account information:
            ACL information:
                10.1.1.1

        """

    /// Debian tgt-admin --dump of `showPlain`; fed to a fresh tgtd with Debian's tgt-admin -e -f it gives `showPlain` back.
    static let dumpPlainDebian = """
        default-driver iscsi

        <target iqn.2026-11.test:rt.alpha>
        \tbacking-store /dev/shm/h10-a.img
        \tbacking-store /dev/shm/h10-b.img
        \tincominguser alice PLEASE_CORRECT_THE_PASSWORD
        \tincominguser bob PLEASE_CORRECT_THE_PASSWORD
        \toutgoinguser carol PLEASE_CORRECT_THE_PASSWORD
        \tinitiator-address 192.168.1.10
        \tinitiator-name iqn.1994-05.com.redhat:client1
        </target>

        <target iqn.2026-11.test:rt.beta>
        \tbacking-store /dev/shm/h10-c.img
        </target>

        <target iqn.2026-11.test:rt.gamma>
        \tinitiator-address 10.1.1.1
        </target>


        """

    /// show with settings Debian's dump loses: 4096-byte blocks, read-only/removable/thin, null store, offline, CIDR/IPv6/ALL, sync flag, own SCSI ID/SN, tid 5.
    static let showExtended = """
        Target 1: iqn.2026-11.test:x.one
            System information:
                Driver: iscsi
                State: offline
            I_T nexus information:
            LUN information:
                LUN: 0
                    Type: controller
                    SCSI ID: IET     00010000
                    SCSI SN: beaf10
                    Size: 0 MB, Block size: 1
                    Online: Yes
                    Removable media: No
                    Prevent removal: No
                    Readonly: No
                    SWP: No
                    Thin-provisioning: No
                    Backing store type: null
                    Backing store path: None
                    Backing store flags:\u{20}
                LUN: 1
                    Type: disk
                    SCSI ID: IET     00010001
                    SCSI SN: beaf11
                    Size: 8 MB, Block size: 4096
                    Online: Yes
                    Removable media: No
                    Prevent removal: No
                    Readonly: No
                    SWP: No
                    Thin-provisioning: No
                    Backing store type: rdwr
                    Backing store path: /dev/shm/h10-d.img
                    Backing store flags:\u{20}
                LUN: 2
                    Type: disk
                    SCSI ID: IET     00010002
                    SCSI SN: beaf12
                    Size: 8 MB, Block size: 512
                    Online: Yes
                    Removable media: Yes
                    Prevent removal: No
                    Readonly: Yes
                    SWP: No
                    Thin-provisioning: Yes
                    Backing store type: rdwr
                    Backing store path: /dev/shm/h10-e.img
                    Backing store flags:\u{20}
                LUN: 3
                    Type: disk
                    SCSI ID: IET     00010003
                    SCSI SN: beaf13
                    Size: 1099512 MB, Block size: 512
                    Online: Yes
                    Removable media: No
                    Prevent removal: No
                    Readonly: No
                    SWP: No
                    Thin-provisioning: No
                    Backing store type: null
                    Backing store path: /dev/shm/h10-nullpath
                    Backing store flags:\u{20}
            Account information:
            ACL information:
                ALL
                10.0.0.0/8
                fe80::1
                iqn.2026-11.test:client9
        Target 5: iqn.2026-11.test:x.two
            System information:
                Driver: iscsi
                State: ready
            I_T nexus information:
            LUN information:
                LUN: 0
                    Type: controller
                    SCSI ID: IET     00050000
                    SCSI SN: beaf50
                    Size: 0 MB, Block size: 1
                    Online: Yes
                    Removable media: No
                    Prevent removal: No
                    Readonly: No
                    SWP: No
                    Thin-provisioning: No
                    Backing store type: null
                    Backing store path: None
                    Backing store flags:\u{20}
                LUN: 1
                    Type: disk
                    SCSI ID: MYID5
                    SCSI SN: SERIAL5
                    Size: 8 MB, Block size: 512
                    Online: Yes
                    Removable media: No
                    Prevent removal: No
                    Readonly: No
                    SWP: No
                    Thin-provisioning: No
                    Backing store type: rdwr
                    Backing store path: /dev/shm/h10-f.img
                    Backing store flags: sync
            Account information:
            ACL information:
                172.16.0.0/12

        """

    /// Debian tgt-admin --dump of `showExtended`.
    static let dumpExtendedDebian = """
        default-driver iscsi

        <target iqn.2026-11.test:x.one>
        \tbacking-store /dev/shm/h10-d.img
        \tbacking-store /dev/shm/h10-e.img
        \tbacking-store /dev/shm/h10-nullpath
        \tinitiator-name ALL
        \tinitiator-name 10.0.0.0/8
        \tinitiator-name fe80::1
        \tinitiator-name iqn.2026-11.test:client9
        </target>

        <target iqn.2026-11.test:x.two>
        \tbacking-store /dev/shm/h10-f.img
        \tinitiator-name 172.16.0.0/12
        </target>


        """

    /// A targets.conf exercising tgt-admin's directives.
    static let confA = """
        # tgt-admin -e golden: options and their order
        default-driver iscsi
        incomingdiscoveryuser discuser discpass12345

        <target iqn.2026-11.test:conf.zeta>
            backing-store /dev/shm/h10-i.img
            backing-store /dev/shm/h10-h.img     # becomes LUN 1 (sorted)
            backing-store /dev/shm/h10-missing.img
            write-cache off
            vendor_id MyCompany Inc.
            scsi_sn multipath-10
            initiator-address 192.168.100.1
            initiator-address 192.168.200.5
            initiator-name iqn.1994-05.com.redhat:zeta
            incominguser user1 secretpass12
            incominguser user2 secretpass23
            outgoinguser userA secretpassA
            outgoinguser userB secretpassB
            MaxRecvDataSegmentLength 65536
            HeaderDigest CRC32C
            HeaderDigest None
        </target>

        <target iqn.2026-11.test:conf.alpha>
            <backing-store /dev/shm/h10-g.img>
                lun 5
                block-size 4096
                bs-type rdwr
                write-cache off
            </backing-store>
            <backing-store /dev/shm/h10-f.img>
                params thin_provisioning=1,removable=1
            </backing-store>
            <backing-store /dev/shm/h10-e.img>
                lun 1
                vendor_id ACME
            </backing-store>
            readonly 1
            incominguser user1 secretpass12
        </target>

        <target iqn.2026-11.test:conf.mid>
            backing-store /dev/shm/h10-d.img
            lun 7
            bsoflags sync
            device-type cd
            controller_tid 20
        </target>

        <target iqn.2026-11.test:conf.omega>
        </target>

        """

    /// Debian `tgt-admin -C 105 -p -e -c confA.conf` on an empty tgtd, with /dev/shm/h10-{d,e,f}.img open elsewhere and h10-missing.img absent.
    static let confAPretend = """
        # Using confA.conf as configuration file

        tgtadm -C 105 --mode account --op new --user=discuser --password=discpass12345
        tgtadm -C 105 --mode account --op bind --user=discuser\u{20}
        # Adding target: iqn.2026-11.test:conf.alpha
        tgtadm -C 105 --lld iscsi --op new --mode target --tid 1 -T iqn.2026-11.test:conf.alpha
        # Device /dev/shm/h10-e.img is used (already tgtd target?).
        # Run 'lsof /dev/shm/h10-e.img' to see the details.
        # Skipping device /dev/shm/h10-e.img - it is in use.
        # You can override it with --force or 'allow-in-use yes' config option.
        # Note - do so only if you know what you're doing, you may damage your data.
        # Device /dev/shm/h10-f.img is used (already tgtd target?).
        # Run 'lsof /dev/shm/h10-f.img' to see the details.
        # Skipping device /dev/shm/h10-f.img - it is in use.
        # You can override it with --force or 'allow-in-use yes' config option.
        # Note - do so only if you know what you're doing, you may damage your data.
        tgtadm -C 105 --lld iscsi --op new --mode logicalunit --tid 1 --lun 5 -b "/dev/shm/h10-g.img"  --bstype rdwr   --blocksize 4096
        tgtadm -C 105 --lld iscsi --op update --mode logicalunit --tid 1 --lun=5 --params mode_page=8:0:18:0x10:0:0xff:0xff:0:0:0xff:0xff:0xff:0xff:0x80:0x14:0:0:0:0:0:0
        tgtadm -C 105 --lld iscsi --op update --mode logicalunit --tid 1 --lun=5 --params readonly="1"
        tgtadm -C 105 --lld iscsi --mode account --op new --user=user1 --password=secretpass12
        tgtadm -C 105 --lld iscsi --mode account --op bind --tid=1 --user=user1
        tgtadm -C 105 --lld iscsi --op bind --mode target --tid 1 -I ALL
        # Adding target: iqn.2026-11.test:conf.mid
        tgtadm -C 105 --lld iscsi --op new --mode target --tid 20 -T iqn.2026-11.test:conf.mid
        # Device /dev/shm/h10-d.img is used (already tgtd target?).
        # Run 'lsof /dev/shm/h10-d.img' to see the details.
        # Skipping device /dev/shm/h10-d.img - it is in use.
        # You can override it with --force or 'allow-in-use yes' config option.
        # Note - do so only if you know what you're doing, you may damage your data.
        tgtadm -C 105 --lld iscsi --op bind --mode target --tid 20 -I ALL
        # Adding target: iqn.2026-11.test:conf.omega
        tgtadm -C 105 --lld iscsi --op new --mode target --tid 21 -T iqn.2026-11.test:conf.omega
        tgtadm -C 105 --lld iscsi --op bind --mode target --tid 21 -I ALL
        # Adding target: iqn.2026-11.test:conf.zeta
        tgtadm -C 105 --lld iscsi --op new --mode target --tid 22 -T iqn.2026-11.test:conf.zeta
        # Warning: only one HeaderDigest is allowed. Will only use the first one.
        tgtadm -C 105 --lld iscsi --mode target --op update --tid 22 --name HeaderDigest --value CRC32C
        tgtadm -C 105 --lld iscsi --mode target --op update --tid 22 --name MaxRecvDataSegmentLength --value 65536
        tgtadm -C 105 --lld iscsi --op new --mode logicalunit --tid 22 --lun 1 -b "/dev/shm/h10-h.img"\u{20}\u{20}\u{20}\u{20}\u{20}
        tgtadm -C 105 --lld iscsi --op update --mode logicalunit --tid 22 --lun=1 --params mode_page=8:0:18:0x10:0:0xff:0xff:0:0:0xff:0xff:0xff:0xff:0x80:0x14:0:0:0:0:0:0
        tgtadm -C 105 --lld iscsi --op update --mode logicalunit --tid 22 --lun=1 --params vendor_id="MyCompany Inc."
        tgtadm -C 105 --lld iscsi --op update --mode logicalunit --tid 22 --lun=1 --params scsi_sn="multipath-10"
        tgtadm -C 105 --lld iscsi --op new --mode logicalunit --tid 22 --lun 2 -b "/dev/shm/h10-i.img"\u{20}\u{20}\u{20}\u{20}\u{20}
        tgtadm -C 105 --lld iscsi --op update --mode logicalunit --tid 22 --lun=2 --params mode_page=8:0:18:0x10:0:0xff:0xff:0:0:0xff:0xff:0xff:0xff:0x80:0x14:0:0:0:0:0:0
        tgtadm -C 105 --lld iscsi --op update --mode logicalunit --tid 22 --lun=2 --params vendor_id="MyCompany Inc."
        tgtadm -C 105 --lld iscsi --op update --mode logicalunit --tid 22 --lun=2 --params scsi_sn="multipath-10"
        # Skipping device: /dev/shm/h10-missing.img
        # /dev/shm/h10-missing.img does not exist - please check the configuration file
        tgtadm -C 105 --lld iscsi --mode account --op bind --tid=22 --user=user1
        tgtadm -C 105 --lld iscsi --mode account --op new --user=user2 --password=secretpass23
        tgtadm -C 105 --lld iscsi --mode account --op bind --tid=22 --user=user2
        tgtadm -C 105 --lld iscsi --op bind --mode target --tid 22 -I 192.168.100.1
        tgtadm -C 105 --lld iscsi --op bind --mode target --tid 22 -I 192.168.200.5
        tgtadm -C 105 --lld iscsi --op bind --mode target --tid 22 -Q iqn.1994-05.com.redhat:zeta
        # Warning: only one outgoinguser is allowed. Will only use the first one.
        tgtadm -C 105 --lld iscsi --mode account --op new --user=userA --password=secretpassA
        tgtadm -C 105 --lld iscsi --mode account --op bind --tid=22 --user=userA --outgoing


        """

    /// A targets.conf against a daemon holding `showPlain`.
    static let confB = """
        <target iqn.2026-11.test:rt.gamma>
         initiator-address 10.1.1.1
        </target>
        <target iqn.2026-11.test:rt.beta>
         backing-store /dev/shm/h10-c.img
        </target>
        <target iqn.2026-11.test:rt.new>
         backing-store /dev/shm/h10-i.img
         incominguser alice newpass
         incominguser dave davepass
        </target>

        """

    /// Debian `tgt-admin -C 103 -p -e -c confB.conf` against `showPlain` (accounts carol, bob, alice exist).
    static let confBPretend = """
        # Using confB.conf as configuration file

        # default-driver not defined, defaulting to iscsi.

        # Target iqn.2026-11.test:rt.beta already exists!
        # Target iqn.2026-11.test:rt.gamma already exists!
        # Adding target: iqn.2026-11.test:rt.new
        tgtadm -C 103 --lld iscsi --op new --mode target --tid 4 -T iqn.2026-11.test:rt.new
        tgtadm -C 103 --lld iscsi --op new --mode logicalunit --tid 4 --lun 1 -b "/dev/shm/h10-i.img"\u{20}\u{20}\u{20}\u{20}\u{20}
        # Write cache is enabled (default) for lun 1.
        tgtadm -C 103 --lld iscsi --mode account --op bind --tid=4 --user=alice
        tgtadm -C 103 --lld iscsi --mode account --op new --user=dave --password=davepass
        tgtadm -C 103 --lld iscsi --mode account --op bind --tid=4 --user=dave
        tgtadm -C 103 --lld iscsi --op bind --mode target --tid 4 -I ALL

        # Removing target: iqn.2026-11.test:rt.alpha
        tgtadm -C 103 --mode target --op delete --tid=1


        """

    /// Target zeta's configuration (block settings in the order Debian's hash happened to print them).
    static let confZeta = """
        <target iqn.2026-11.test:zeta>
            <backing-store /dev/shm/h10-d.img>
                lun 5
                scsi_sn SN123
                vendor_id ACME
                write-cache off
                bs-type rdwr
                block-size 4096
            </backing-store>
            <backing-store /dev/shm/h10-e.img>
                params thin_provisioning=1,removable=1
            </backing-store>
            initiator-address 192.168.1.10
            initiator-address 10.0.0.0/8
            initiator-name iqn.x:y
            incominguser alice secretpass12
            incominguser bob secretpass34
            outgoinguser carol secretpass56
            MaxRecvDataSegmentLength 65536
            HeaderDigest CRC32C
            vendor_id GLOBAL
            readonly 1
        </target>

        """

    /// Debian `tgt-admin -C 102 -p --update tid=2 -f -c conf3.conf` while an initiator (iqn.x:y, sid 1, cid 0) was logged in to zeta (tid 2); accounts alice, bob, carol existed.
    static let updateZetaForcePretend = """
        # Using conf3.conf as configuration file

        # default-driver not defined, defaulting to iscsi.

        # Removing target: iqn.2026-11.test:zeta
        tgtadm -C 102 --op unbind --mode target --tid 2 -I 192.168.1.10
        tgtadm -C 102 --op unbind --mode target --tid 2 -I 10.0.0.0/8
        tgtadm -C 102 --op unbind --mode target --tid 2 -I iqn.x:y
        tgtadm -C 102 --op delete --mode conn --tid 2 --sid 1 --cid 0
        tgtadm -C 102 --mode target --op delete --tid=2

        # Adding target: iqn.2026-11.test:zeta
        tgtadm -C 102 --lld iscsi --op new --mode target --tid 2 -T iqn.2026-11.test:zeta
        tgtadm -C 102 --lld iscsi --mode target --op update --tid 2 --name HeaderDigest --value CRC32C
        tgtadm -C 102 --lld iscsi --mode target --op update --tid 2 --name MaxRecvDataSegmentLength --value 65536
        tgtadm -C 102 --lld iscsi --op new --mode logicalunit --tid 2 --lun 5 -b "/dev/shm/h10-d.img"  --bstype rdwr   --blocksize 4096
        tgtadm -C 102 --lld iscsi --op update --mode logicalunit --tid 2 --lun=5 --params mode_page=8:0:18:0x10:0:0xff:0xff:0:0:0xff:0xff:0xff:0xff:0x80:0x14:0:0:0:0:0:0
        tgtadm -C 102 --lld iscsi --op update --mode logicalunit --tid 2 --lun=5 --params scsi_sn="SN123"
        tgtadm -C 102 --lld iscsi --op update --mode logicalunit --tid 2 --lun=5 --params vendor_id="ACME"
        tgtadm -C 102 --lld iscsi --op update --mode logicalunit --tid 2 --lun=5 --params readonly="1"
        tgtadm -C 102 --lld iscsi --op new --mode logicalunit --tid 2 --lun 1 -b "/dev/shm/h10-e.img"\u{20}\u{20}\u{20}\u{20}\u{20}
        tgtadm -C 102 --lld iscsi --op update --mode logicalunit --tid 2 --lun=1 --params "thin_provisioning=1,removable=1"
        tgtadm -C 102 --lld iscsi --op update --mode logicalunit --tid 2 --lun=1 --params readonly="1"
        tgtadm -C 102 --lld iscsi --op update --mode logicalunit --tid 2 --lun=1 --params vendor_id="GLOBAL"
        # Write cache is enabled (default) for lun 1.
        tgtadm -C 102 --lld iscsi --mode account --op bind --tid=2 --user=alice
        tgtadm -C 102 --lld iscsi --mode account --op bind --tid=2 --user=bob
        tgtadm -C 102 --lld iscsi --op bind --mode target --tid 2 -I 192.168.1.10
        tgtadm -C 102 --lld iscsi --op bind --mode target --tid 2 -I 10.0.0.0/8
        tgtadm -C 102 --lld iscsi --op bind --mode target --tid 2 -Q iqn.x:y
        tgtadm -C 102 --lld iscsi --mode account --op bind --tid=2 --user=carol --outgoing


        """
}
