/// `tgt-admin --dump`: the running configuration in targets.conf syntax.
///
/// The output is Debian tgt-admin 1.0.85's, line for line, for every configuration its dump
/// reproduces when fed back with `tgt-admin -e` (file LUNs with default settings, address and
/// initiator-name rules, accounts, whose passwords `show` does not reveal: they are written as
/// PLEASE_CORRECT_THE_PASSWORD). Where Debian's dump loses or garbles information, this one adds
/// what `-e` needs to rebuild the same `tgtadm --op show --mode target` output, using only
/// directives Debian's tgt-admin itself accepts:
/// - targets are printed in tid order (Debian prints them in Perl's random hash order);
/// - ACL rules are told apart by their syntax: CIDR ranges, IPv6 addresses and "ALL" next to other
///   rules are `initiator-address` (Debian's /^[0-9,.E]+$/ turns them into `initiator-name`,
///   which never matches an address, and then `-e` also binds ALL);
/// - when a target's LUNs would not come back as they are from plain `backing-store PATH` lines
///   (another backing-store type, block size, flags, device type, LUN number or SCSI ID/SN,
///   read-only, removable, offline or thin-provisioned units), each LUN is written as a
///   `<backing-store PATH>` block with its `lun` and those settings;
/// - `controller_tid N` when `-e` on an empty daemon would not give the target its tid, and
///   `state offline` for an offline target.
public enum TgtAdminDump {
    public static let passwordPlaceholder = "PLEASE_CORRECT_THE_PASSWORD"

    /// Renders the dump of `tgtadm --op show --mode target` output.
    public static func render(showTarget text: String) -> String {
        render(TgtAdminShownTarget.parse(text))
    }

    /// With the daemon's `model` (ours gives it; Debian's tgtd does not), the dump also carries
    /// what `show` does not reveal, so `-e` rebuilds the same logins: the accounts' passwords,
    /// discovery accounts, LIO's node-ACL CHAP and `authentication` attribute, `allow-all no` for
    /// an empty ACL, and `write-cache off` for a unit whose write cache is off.
    public static func render(_ shown: [TgtAdminShownTarget], model: DaemonConfiguration? = nil) -> String {
        let targets = shown.sorted { $0.tidNumber < $1.tidNumber }
        let drivers = Set(targets.map { $0.driver ?? "" }).sorted(by: TargetsConfSyntax.byteOrder)
        func password(_ user: String) -> String { model?.account(user: user)?.password ?? passwordPlaceholder }
        var text = ""
        if drivers.count == 1 { text += "default-driver \(drivers[0])\n\n" }
        if let model {
            for user in model.discoveryIncomingUsers { text += "incomingdiscoveryuser \(user) \(password(user))\n" }
            if let user = model.discoveryOutgoingUser { text += "outgoingdiscoveryuser \(user) \(password(user))\n" }
            if !model.discoveryIncomingUsers.isEmpty || model.discoveryOutgoingUser != nil { text += "\n" }
        }
        let controllerTids = controllerTids(targets)
        for target in targets {
            let configuration = model?.target(tid: target.tidNumber)
            var notes: [String] = []
            var extraLines: [UInt64: [String]] = [:]
            if let model, let configuration { (notes, extraLines) = annotate(target, configuration, model) }
            text += "<target \(target.name)>\n"
            if drivers.count > 1 { text += "\tdriver \(target.driver ?? "")\n" }
            if let tid = controllerTids[target.name] { text += "\tcontroller_tid \(tid)\n" }
            text += notes.map { "\t# \($0)\n" }.joined()
            text += stores(of: target, extraLines: extraLines)
            for account in target.accounts {
                if let user = outgoingUser(account) {
                    text += "\toutgoinguser \(user) \(password(user))\n"
                } else {
                    text += "\tincominguser \(account) \(password(account))\n"
                }
            }
            if target.acl != ["ALL"] {
                for rule in target.acl {
                    let directive = TgtAdminAddress.isAddressRule(rule) ? "initiator-address" : "initiator-name"
                    text += "\t\(directive) \(rule)\n"
                }
            }
            if let configuration {
                if configuration.access.isEmpty { text += "\tallow-all no\n" }
                for acl in configuration.nodeACLs {
                    if let user = acl.auth.userID, let secret = acl.auth.password {
                        text += "\tinitiator-incominguser \(acl.initiatorName) \(user) \(secret)\n"
                    }
                    if let user = acl.auth.mutualUserID, let secret = acl.auth.mutualPassword {
                        text += "\tinitiator-outgoinguser \(acl.initiatorName) \(user) \(secret)\n"
                    }
                }
                if let authentication = configuration.authentication { text += "\tauthentication \(authentication ? 1 : 0)\n" }
            }
            if target.state == "offline" { text += "\tstate offline\n" }
            text += "</target>\n\n"
        }
        return text
    }

    /// What the model knows of a target's units that `show` does not: a unit with its write cache
    /// off (LIO's write_back=false, a caching mode page) gets `write-cache off`; a unit with no file
    /// (a ramdisk) cannot be written and gets a note.
    private static func annotate(
        _ target: TgtAdminShownTarget, _ configuration: TargetConfiguration, _ model: DaemonConfiguration
    ) -> (notes: [String], lines: [UInt64: [String]]) {
        var notes: [String] = []
        var lines: [UInt64: [String]] = [:]
        for unit in target.logicalUnits where unit.lun != 0 {
            guard let lun = configuration.luns.first(where: { $0.lun == unit.lun }),
                let object = model.storageObject(named: lun.storageObject)
            else { continue }
            if object.kind == .ramdisk {
                notes.append("LUN \(unit.lun): ramdisk \(object.name) (\(object.size ?? 0) bytes) has no file; targets.conf cannot hold it")
                continue
            }
            if let options = object.bsOptions { lines[unit.lun, default: []].append("bsopts \"\(options)\"") }
            if (lun.writeCacheParameter ?? object.writeCache) == false { lines[unit.lun, default: []].append("write-cache off") }
        }
        return (notes, lines)
    }

    /// "bob (outgoing)" -> "bob".
    static func outgoingUser(_ account: String) -> String? {
        let suffix = " (outgoing)"
        guard account.hasSuffix(suffix), account.count > suffix.count else { return nil }
        return String(account.dropLast(suffix.count))
    }

    /// The tids `-e` would not allocate by itself: it walks the targets in name order, giving each
    /// the previous tid + 1 unless the target names its `controller_tid`.
    static func controllerTids(_ targets: [TgtAdminShownTarget]) -> [String: Int] {
        var result: [String: Int] = [:]
        var next = 0
        for target in targets.sorted(by: { TargetsConfSyntax.byteOrder($0.name, $1.name) }) {
            next += 1
            if target.tidNumber != next {
                result[target.name] = target.tidNumber
                next = target.tidNumber
            }
        }
        return result
    }

    /// tgt's default SCSI ID and serial number of a logical unit.
    static func defaultSCSIID(tid: Int, lun: UInt64) -> String {
        "IET     " + hex4(UInt64(tid)) + hex4(lun)
    }

    static func defaultSCSISN(tid: Int, lun: UInt64) -> String {
        "beaf\(tid)\(lun)"
    }

    private static func hex4(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    private static func stores(of target: TgtAdminShownTarget, extraLines: [UInt64: [String]] = [:]) -> String {
        let units = target.logicalUnits.filter { $0.bsPath != nil }
        if extraLines.isEmpty, isPlain(units, tid: target.tidNumber) {
            return units.map { "\tbacking-store \($0.bsPath!)\n" }.joined()
        }
        var text = ""
        for unit in units {
            text += "\t<backing-store \(unit.bsPath!)>\n"
            for line in settings(of: unit, tid: target.tidNumber) + (extraLines[unit.lun] ?? []) { text += "\t\t\(line)\n" }
            text += "\t</backing-store>\n"
        }
        return text
    }

    /// Whether `backing-store PATH` lines recreate these units: default settings, and LUNs 1, 2, ...
    /// in byte order of the paths, as `-e` numbers them.
    static func isPlain(_ units: [TgtAdminShownTarget.LogicalUnit], tid: Int) -> Bool {
        let sortedPaths = units.compactMap(\.bsPath).sorted(by: TargetsConfSyntax.byteOrder)
        guard Set(sortedPaths).count == sortedPaths.count else { return false }
        return units.allSatisfy { unit in
            settings(of: unit, tid: tid).count == 1
                && sortedPaths.firstIndex(of: unit.bsPath!).map { UInt64($0 + 1) } == unit.lun
        }
    }

    /// The block lines that recreate one unit: its LUN, then what differs from tgt's defaults.
    static func settings(of unit: TgtAdminShownTarget.LogicalUnit, tid: Int) -> [String] {
        var lines = ["lun \(unit.lun)"]
        let deviceTypes = ["cd/dvd": "cd", "tape": "tape", "changer": "changer", "osd": "osd", "passthrough": "pt"]
        if unit.type != "disk", let deviceType = deviceTypes[unit.type] { lines.append("device-type \(deviceType)") }
        let impliedBSType = unit.type == "tape" ? "ssc" : "rdwr"
        if unit.bsType != impliedBSType { lines.append("bs-type \(unit.bsType)") }
        if unit.blockSize != "512" { lines.append("block-size \(unit.blockSize)") }
        if !unit.bsFlags.isEmpty { lines.append("bsoflags \(unit.bsFlags)") }
        if !unit.scsiID.isEmpty && unit.scsiID != defaultSCSIID(tid: tid, lun: unit.lun) {
            lines.append("scsi_id \(unit.scsiID)")
        }
        if !unit.scsiSN.isEmpty && unit.scsiSN != defaultSCSISN(tid: tid, lun: unit.lun) {
            lines.append("scsi_sn \(unit.scsiSN)")
        }
        if unit.readonly { lines.append("readonly 1") }
        if unit.removable { lines.append("removable 1") }
        if !unit.online { lines.append("online 0") }
        if unit.thinProvisioning { lines.append("params thin_provisioning=1") }
        return lines
    }
}
