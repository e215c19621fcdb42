extension TgtadmCommandLine {
    /// The `--help` text: the same commands as tgt's tgtadm, in this project's own words.
    public static let helpText = """
        tgtadm \(version) (swift-iscsi): administer a running tgtd

        Usage: tgtadm --lld <driver> --mode <mode> --op <operation> [OPTION]...

        Targets (--mode target):
          --op new --tid <id> --targetname <iqn>      create target <id> (non-zero)
          --op delete [--force] --tid <id>            remove a target; --force even while in use
          --op show [--tid <id>]                      list all targets, or one target's parameters
          --op update --tid <id> --name <p> --value <v>
                                                      change a parameter of a target
          --op bind|unbind --tid <id> --initiator-address <address|ALL>
          --op bind|unbind --tid <id> --initiator-name <iqn>
                                                      allow or disallow initiators
        Logical units (--mode logicalunit):
          --op new --tid <id> --lun <lun> --backing-store <path> [--bstype <type>]
                   [--bsopts <options>] [--bsoflags sync|direct|sync:direct] [--blocksize <bytes>]
                                                      add a LUN backed by a file or block device
                                                      (types: rdwr, aio, null, ram)
          --op update --tid <id> --lun <lun> --params <key=value,...>
          --op delete --tid <id> --lun <lun>          remove a LUN
        Accounts (--mode account):
          --op new --user <name> --password <secret>  create a CHAP account
          --op delete --user <name>                   remove an account
          --op bind|unbind --tid <id> --user <name> [--outgoing]
                                                      attach an account to a target (incoming,
                                                      or the single outgoing one)
          --op show                                   list accounts
        LIO's node ACLs and TPG attributes (ours; targetcli edits the same objects):
          --mode nodeacl --op new|delete --tid <id> --initiator-name <iqn>
          --mode nodeacl --op update --tid <id> --initiator-name <iqn> --user <u> --password <p> [--outgoing]
                                                      the initiator's own CHAP (--outgoing: mutual)
          --mode tpg --op update --tid <id> --name authentication|generate_node_acls --value 0|1
        Other modes: system, portal, session, connection, lld.

        Common options:
          --control-port, -C <port>  talk to the tgtd started with this control port (default 0)
          --help, -h                 show this text
          --version, -V              show the version

        """
}
