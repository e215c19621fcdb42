/// Output of Debian's tgtadm 1.0.85 against tgtd, captured on this machine (see the test for the
/// setup). Trailing blanks are written as \u{20} so editors cannot strip them.
enum TgtGoldens {
    /// `--op show --mode target`: LUNs 1-4 (file, 4096-byte blocks, null, sync + readonly/removable/thin), accounts, ACLs.
    static let targetsWithLUNsAndAccounts = """
        Target 1: iqn.2026-11.test:h4
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
                    Size: 1074 MB, Block size: 512
                    Online: Yes
                    Removable media: No
                    Prevent removal: No
                    Readonly: No
                    SWP: No
                    Thin-provisioning: No
                    Backing store type: rdwr
                    Backing store path: /dev/shm/h4-lun1.img
                    Backing store flags:\u{20}
                LUN: 2
                    Type: disk
                    SCSI ID: IET     00010002
                    SCSI SN: beaf12
                    Size: 100 MB, Block size: 4096
                    Online: Yes
                    Removable media: No
                    Prevent removal: No
                    Readonly: No
                    SWP: No
                    Thin-provisioning: No
                    Backing store type: rdwr
                    Backing store path: /dev/shm/h4-lun2.img
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
                    Backing store path: /dev/null
                    Backing store flags:\u{20}
                LUN: 4
                    Type: disk
                    SCSI ID: IET     00010004
                    SCSI SN: beaf14
                    Size: 100 MB, Block size: 512
                    Online: Yes
                    Removable media: Yes
                    Prevent removal: No
                    Readonly: Yes
                    SWP: No
                    Thin-provisioning: Yes
                    Backing store type: rdwr
                    Backing store path: /dev/shm/h4-lun2.img
                    Backing store flags: sync
            Account information:
                alice
                bob (outgoing)
            ACL information:
                ALL
                192.168.1.0/24
                iqn.1994-05.com.redhat:client
        Target 2: iqn.2026-11.test:h4-two
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
            Account information:
            ACL information:

        """

    /// `--op show --mode target` while two iscsi-perf initiators were logged in to target 1.
    static let targetsWithSessions = """
        Target 1: iqn.2026-11.test:h4
            System information:
                Driver: iscsi
                State: ready
            I_T nexus information:
                I_T nexus: 1
                    Initiator: iqn.2010-11.libiscsi:iscsi-perf alias: none
                    Connection: 0
                        IP Address: 127.0.0.1
                I_T nexus: 2
                    Initiator: iqn.2026-11.test:second alias: none
                    Connection: 0
                        IP Address: 127.0.0.1
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
                    Size: 1074 MB, Block size: 512
                    Online: Yes
                    Removable media: No
                    Prevent removal: No
                    Readonly: No
                    SWP: No
                    Thin-provisioning: No
                    Backing store type: rdwr
                    Backing store path: /dev/shm/h4-lun1.img
                    Backing store flags:\u{20}
            Account information:
            ACL information:
                ALL
                127.0.0.1
                iqn.2007-10.com.github:sahlberg:libiscsi:iscsi-perf
        Target 2: iqn.2026-11.test:h4-two
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
            Account information:
                alice
                bob
                bob (outgoing)
            ACL information:

        """

    /// `--op show --mode account` after creating alice, then bob.
    static let accountList = """
        Account list:
            bob
            alice

        """

    /// `--op show --mode system` with alice and bob bound without --tid (bob outgoing). tgt's
    /// quirks: the account heading is indented like its entries and followed by an empty line.
    static let systemWithDiscoveryAccounts = """
        System:
            State: ready
            debug: off
        LLDs:
            iscsi: ready
            iser: error
        Backing stores:
            sheepdog
            bsg
            sg
            null
            ssc
            smc (bsoflags sync:direct)
            mmc (bsoflags sync:direct)
            rdwr (bsoflags sync:direct)
            aio
        Device types:
            disk
            cd/dvd
            osd
            controller
            changer
            tape
            passthrough
            Account information:

            alice
            bob (outgoing)
        iSNS:
            iSNS=Off
            iSNSServerIP=
            iSNSServerPort=3205
            iSNSAccessControl=Off

        """

    /// `--op show --mode target --tid 2`: the target's parameters.
    static let targetParameters = """
        nop_interval=0
        nop_count=0
        MaxRecvDataSegmentLength=8192
        HeaderDigest=None
        DataDigest=None
        InitialR2T=Yes
        MaxOutstandingR2T=1
        ImmediateData=Yes
        FirstBurstLength=65536
        MaxBurstLength=262144
        DataPDUInOrder=Yes
        DataSequenceInOrder=Yes
        ErrorRecoveryLevel=0
        IFMarker=No
        OFMarker=No
        DefaultTime2Wait=2
        DefaultTime2Retain=20
        OFMarkInt=Reject
        IFMarkInt=Reject
        MaxConnections=1
        RDMAExtensions=Yes
        TargetRecvDataSegmentLength=262144
        InitiatorRecvDataSegmentLength=262144
        MaxOutstandingUnexpectedPDUs=0
        MaxXmitDataSegmentLength=8192
        MaxQueueCmd=128

        """
}
