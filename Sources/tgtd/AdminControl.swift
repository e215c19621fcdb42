import Backstore
import ISCSIAdmin
import ISCSIProtocol
import ISCSITarget
import NIOConcurrencyHelpers
import NIOCore
import SCSITarget

#if canImport(Glibc)
    import Glibc
#endif

/// The daemon side of tgtadm: applies each request to the target registry and answers the way
/// tgt's daemon does (same errors, same output).
final class AdminControl: @unchecked Sendable {
    unowned let daemon: TargetDaemon
    private var server: ControlServer?

    init(daemon: TargetDaemon) { self.daemon = daemon }

    func start() throws {
        let logger = daemon.logger
        let server = ControlServer(controlPort: daemon.controlPort, log: { logger.warning("\($0)") }) {
            [unowned self] request in self.handle(request)
        }
        try server.start()
        self.server = server
    }

    func stop() { server?.stop() }

    /// Applies a request and, when it may have changed something, saves the configuration.
    /// Held while a request or an initiator's SET TARGET PORT GROUPS edits the model.
    let modelLock = NIOLock()

    func handle(_ request: AdminRequest) -> AdminResponse {
        modelLock.lock()
        defer { modelLock.unlock() }
        let response = apply(request)
        if ![.show, .stat].contains(request.op) { daemon.persistence.save() }
        return response
    }

    func apply(_ request: AdminRequest) -> AdminResponse {
        if let lld = request.lld, lld != "iscsi" { return .failure(.noDriver) }
        do {
            if Self.isStatisticsRequest(request) { return try statistics(request) }  // AdminControlStatistics.swift
            switch request.mode {
            case .target: return try target(request)
            case .logicalUnit: return try logicalUnit(request)
            case .portal: return try portal(request)
            case .system: return system(request)
            case .account: return try account(request)
            case .storageObject, .nodeACL, .tpg, .configuration: return lio(request)
            default: return .failure(.unsupportedOperation)
            }
        } catch let error as TgtadmError {
            return .failure(error)
        } catch let refusal as TgtadmRefusal {
            return .failure(refusal)
        } catch let refusal as AdminRefusal {
            return AdminResponse(exitCode: TgtadmError.exitCode, message: refusal.message)
        } catch {
            daemon.logger.info("tgtadm request failed: \(error)")
            return .failure(TgtadmError.invalidRequest.because("\(error)"))
        }
    }

    // MARK: Targets

    private func target(_ request: AdminRequest) throws -> AdminResponse {
        let registry = daemon.registry
        switch request.op {
        case .new:
            var requestedTID = request.tid
            if request.allocateTID == true, requestedTID == nil {
                requestedTID = Int32((registry.targets.map(\.tid).max() ?? 0) + 1)
            }
            guard let tid = requestedTID, tid > 0 else { throw TgtadmError.invalidRequest.because("a new target needs a tid above 0") }
            guard let name = request.targetName else { throw TgtadmError.invalidRequest.because("a new target needs a name") }
            try Self.validateTargetName(name)
            do {
                let target = try registry.createTarget(tid: Int(tid), name: name)
                let tid = target.tid
                target.device.onALUAChange = { [weak self] lun, groupID, state in
                    self?.aluaChangedByInitiator(tid: tid, lun: lun, groupID: groupID, state: state)
                }
            } catch {
                throw TgtadmError.targetExists
            }
            daemon.model.targets.append(TargetConfiguration(tid: Int(tid), name: name))
            daemon.logger.info("target \(tid) created: \(name)")
            return .success(request.allocateTID == true ? "\(tid)\n" : "")
        case .delete:
            let target = try existingTarget(request)
            let sessions = daemon.server.sessions.sessions(of: target)
            if !sessions.isEmpty && !request.force { throw TgtadmError.targetActive }
            _ = try? registry.removeTarget(tid: target.tid)
            for session in sessions { session.closeConnection("target deleted") }
            for lu in target.device.logicalUnits where lu.lun != 0 { removeLogicalUnit(target, lun: lu.lun) }
            daemon.model.targets.removeAll { $0.tid == target.tid }
            daemon.logger.info("target \(target.tid) deleted")
            return .success()
        case .show:
            // As tgt: with --tid, the target's iSCSI parameters; without, every target.
            if request.tid != nil {
                _ = try existingTarget(request)
                return .success(AdminTextFormatter.targetParameters(targetParameters()))
            }
            return .success(TargetShowFormatter.format(registry.targets.map(snapshot)))
        case .bind, .unbind:
            let target = try existingTarget(request)
            let entry: AccessEntry
            if let name = request.initiatorName {
                entry = .initiatorName(name)
            } else if let address = request.initiatorAddress {
                guard let rule = AccessRule.parseAddress(address) else {
                    throw TgtadmError.invalidRequest.because(
                        "initiator address \(address) is not ALL, an IP address or a network (ADDRESS/PREFIX)")
                }
                entry = .address(rule.description)
            } else {
                throw TgtadmError.invalidRequest.because("\(request.op) needs an initiator address or name")
            }
            if request.op == .bind {
                guard daemon.model.bind(entry, tid: target.tid) else { throw TgtadmError.aclExists }
            } else {
                guard daemon.model.unbind(kind: entry.kind, value: entry.value, tid: target.tid) else {
                    throw TgtadmError.aclNotFound
                }
            }
            applyAccess(tid: target.tid)
            return .success()
        case .update:
            return try updateTarget(try existingTarget(request), request)
        default:
            throw TgtadmError.unsupportedOperation
        }
    }

    /// `--op update --mode target --name N --value V`. tgtd knows "state" (ready or offline),
    /// the iSCSI session keys, nop_interval/nop_count and the Redirect* keys; anything else is an
    /// invalid request. Only the state is applied here (an offline target answers every command
    /// BUSY); the iSCSI values are per daemon in this engine, so those keys are answered "this
    /// operation isn't supported" rather than accepted and ignored.
    private func updateTarget(_ target: ExportedTarget, _ request: AdminRequest) throws -> AdminResponse {
        guard let name = request.name, let value = request.value else {
            throw TgtadmError.invalidRequest.because("update needs a name and a value")
        }
        if name == "state" {
            switch value {
            case "ready": target.device.isOnline = true
            case "offline": target.device.isOnline = false
            default: throw TgtadmError.invalidRequest.because("a target's state is ready or offline, not \(value)")
            }
            daemon.model.update(tid: target.tid) { $0.state = value }
            daemon.logger.info("target \(target.tid) state: \(value)")
            return .success()
        }
        if name == "portal_groups" {
            let groups = try Self.portalGroups(value)
            daemon.model.update(tid: target.tid) { $0.portalGroups = groups }
            target.portalGroups = groups.map(Set.init)
            applyALUA(tid: target.tid)
            daemon.logger.info("target \(target.tid) portal groups: \(value)")
            return .success()
        }
        // tgtd compares these by prefix (strncmp) and the session keys ignoring case.
        let prefixes = ["RedirectAddress", "RedirectPort", "RedirectReason", "RedirectCallback", "nop_count", "nop_interval"]
        if prefixes.contains(where: { name.hasPrefix($0) }) || Self.sessionKeys.contains(name.lowercased()) {
            throw TgtadmError.unsupportedOperation
        }
        throw TgtadmError.invalidRequest.because("unknown target parameter \(name)")
    }

    /// `portal_groups` (ours): "all" (tgt's way, every group with a portal), "none" or tags "1,2".
    static func portalGroups(_ value: String) throws -> [UInt16]? {
        if value.lowercased() == "all" { return nil }
        if value.lowercased() == "none" { return [] }
        var tags: [UInt16] = []
        for item in value.split(separator: ",", omittingEmptySubsequences: false) {
            guard let tag = UInt16(item), tag > 0 else {
                throw TgtadmError.invalidRequest.because(
                    "portal_groups is all, none or tags from 1 to 65535 joined by commas, not \(value)")
            }
            if !tags.contains(tag) { tags.append(tag) }
        }
        return tags.sorted()
    }

    /// tgt takes any name; RFC 3720 names are what initiators can log in to, so only they are.
    static func validateTargetName(_ name: String) throws {
        do {
            try ISCSIName.validate(name)
        } catch let error as ISCSINameError {
            if case .invalidCharacter(let character, _) = error, character.isUppercase,
                (try? ISCSIName.validate(name.lowercased())) != nil
            {
                throw TgtadmError.invalidRequest.because(
                    "iSCSI names are lower case (RFC 3722): \(name.lowercased())")
            }
            // "invalid iSCSI name: <why>" becomes "invalid iSCSI name <name>: <why>".
            let why = "\(error)".split(separator: ":", maxSplits: 1).last.map { $0.drop { $0 == " " } } ?? ""
            throw TgtadmError.invalidRequest.because("invalid iSCSI name \(name): \(why)")
        }
    }

    /// tgt's session_keys (usr/iscsi/param.c), lower-cased.
    private static let sessionKeys: Set<String> = Set(
        [
            "MaxRecvDataSegmentLength", "HeaderDigest", "DataDigest", "InitialR2T", "MaxOutstandingR2T", "ImmediateData",
            "FirstBurstLength", "MaxBurstLength", "DataPDUInOrder", "DataSequenceInOrder", "ErrorRecoveryLevel", "IFMarker",
            "OFMarker", "DefaultTime2Wait", "DefaultTime2Retain", "OFMarkInt", "IFMarkInt", "MaxConnections",
            "RDMAExtensions", "TargetRecvDataSegmentLength", "InitiatorRecvDataSegmentLength",
            "MaxOutstandingUnexpectedPDUs", "MaxXmitDataSegmentLength", "MaxQueueCmd",
        ].map { $0.lowercased() })

    /// The values a login to any target meets: this engine negotiates per daemon, not per target.
    private func targetParameters() -> TargetParameterList {
        let configuration = daemon.server.configuration
        let offer = configuration.negotiation
        var list = TargetParameterList()
        if let interval = configuration.nopInterval, interval.nanoseconds > 0 {
            list.nopInterval = Int((interval.nanoseconds + 999_999_999) / 1_000_000_000)
            // The pings that go unanswered before nop_timeout drops the connection.
            list.nopCount = Int((configuration.nopTimeout.nanoseconds + interval.nanoseconds - 1) / interval.nanoseconds)
        }
        list.maxRecvDataSegmentLength = offer.maxRecvDataSegmentLength
        list.headerDigest = offer.headerDigests.contains(.crc32c) ? "CRC32C" : "None"
        list.dataDigest = offer.dataDigests.contains(.crc32c) ? "CRC32C" : "None"
        list.initialR2T = offer.initialR2T
        list.maxOutstandingR2T = offer.maxOutstandingR2T
        list.immediateData = offer.immediateData
        list.firstBurstLength = offer.firstBurstLength
        list.maxBurstLength = offer.maxBurstLength
        list.dataPDUInOrder = offer.dataPDUInOrder
        list.dataSequenceInOrder = offer.dataSequenceInOrder
        list.errorRecoveryLevel = offer.errorRecoveryLevel
        list.defaultTime2Wait = offer.defaultTime2Wait
        list.defaultTime2Retain = offer.defaultTime2Retain
        list.maxConnections = offer.maxConnections
        list.maxQueueCmd = Int(configuration.commandWindow)
        return list
    }

    private func existingTarget(_ request: AdminRequest) throws -> ExportedTarget {
        guard let tid = request.tid, let target = daemon.registry.target(tid: Int(tid)) else {
            throw TgtadmError.noTarget
        }
        return target
    }

    private func snapshot(_ target: ExportedTarget) -> TargetSnapshot {
        let nexuses = daemon.server.sessions.sessions(of: target).map { session in
            TargetSnapshot.Nexus(
                id: session.nexus.id, initiatorName: session.initiatorName, alias: session.initiatorAlias,
                connections: [
                    TargetSnapshot.Connection(
                        cid: UInt32(session.connectionID), address: session.peerAddress?.ipAddress ?? "")
                ])
        }
        let luns = target.device.logicalUnits.map { lu in
            TargetSnapshot.LogicalUnit(
                lun: lu.lun, type: lu.type, scsiID: lu.scsiID, scsiSN: lu.scsiSerial, sizeBytes: lu.size,
                blockSize: UInt32(lu.blockSize), online: lu.online, removable: lu.removable,
                preventRemoval: lu.preventRemoval, readonly: lu.readOnly, swp: lu.softwareWriteProtect,
                thinProvisioning: lu.thinProvisioning, bsType: lu.backingStoreType, bsPath: lu.backingStorePath,
                bsFlags: lu.backingStoreFlags)
        }
        var acl = TargetSnapshot.AccessList()
        for rule in target.accessRules {
            switch rule {
            case .initiatorName(let name): acl.initiatorNames.append(name)
            default: acl.addresses.append(rule.description)
            }
        }
        let binding = daemon.model.binding(tid: target.tid)
        return TargetSnapshot(
            tid: Int32(target.tid), name: target.name, state: target.device.isOnline ? "ready" : "offline",
            nexuses: nexuses, luns: luns,
            accounts: TargetSnapshot.Accounts(incomingUsers: binding.incoming, outgoingUser: binding.outgoing), acl: acl)
    }

    // MARK: Logical units

    private func logicalUnit(_ request: AdminRequest) throws -> AdminResponse {
        let target = try existingTarget(request)
        if request.op == .new, request.storageObject != nil { return mapStorageObject(target, request) }
        guard let lun = request.lun else { throw TgtadmError.invalidRequest.because("a logical unit request needs a lun") }
        switch request.op {
        case .new:
            if target.device.logicalUnits.contains(where: { $0.lun == lun }) { throw TgtadmError.logicalUnitExists }
            let type = request.bsType ?? "rdwr"
            // Only disks are emulated (tgt also has cd, tape, changer, osd and passthrough).
            if let deviceType = request.deviceType, deviceType != "disk" { throw TgtadmError.unsupportedOperation }
            var blockSize = 512
            if let text = request.blockSize {
                guard let size = Int(text), [512, 1024, 2048, 4096].contains(size) else {
                    throw TgtadmError.invalidRequest.because("block size \(text) is not 512, 1024, 2048 or 4096")
                }
                blockSize = size
            }
            guard type == "null" || request.backingStore != nil else {
                throw TgtadmError.invalidRequest.because("a \(type) logical unit needs a backing store")
            }
            // --bsoflags: as in tgt, only "rdwr" takes them, and only sync and direct.
            var openFlags: FileOpenFlags = []
            if let text = request.bsOFlags {
                guard let flags = FileOpenFlags(tgtString: text) else {
                    throw TgtadmError.invalidRequest.because("bsoflags \(text) is not sync, direct or sync:direct")
                }
                if !flags.isEmpty && !["rdwr", ""].contains(type) {
                    throw TgtadmError.invalidRequest.because("only bstype rdwr takes bsoflags, not \(type)")
                }
                openFlags = flags
            }
            // --params (tgtadm itself refuses them here; tgt-admin sends them as an update right
            // after): applied from the start, and nothing is created if one is refused.
            var options = LogicalUnitOptions()
            var onlineSteps: [Bool] = []
            if let params = request.params {
                let parsed = LogicalUnitParameters(parsing: params, over: options, blockSize: blockSize)
                for step in parsed.steps {
                    switch step {
                    case .online(let online): onlineSteps.append(online)
                    case .invalid(let token): throw TgtadmError.invalidRequest.because(Self.invalidParameter(token))
                    case .unsupported: throw TgtadmError.unsupportedOperation
                    }
                }
                options = parsed.options
            }
            let store = try openStore(request, type: type, flags: openFlags, options: &options)
            options.adoptIdentity(of: store)
            do {
                try target.device.addLogicalUnit(lun, backstore: store, blockSize: blockSize, options: options)
            } catch let error as SCSITargetError {
                try? store.close()
                if error.kind == .duplicateLUN { throw TgtadmError.logicalUnitExists }
                throw TgtadmError.invalidRequest.because(error.description)
            }
            for online in onlineSteps { try? target.device.setLogicalUnitOnline(lun, online) }
            let rbd = (store as? RBDBackstore)?.location
            let object = StorageObjectConfiguration(
                name: Self.ownedObjectName(tid: target.tid, lun: lun), kind: Self.kind(type: type, path: request.backingStore),
                path: rbd?.path ?? request.backingStore, size: store.byteSize, bsType: type,
                openFlags: request.bsOFlags.flatMap { $0.isEmpty ? nil : $0 }, bsOptions: rbd?.options)
            daemon.model.storageObjects.append(object)
            var entry = LUNConfiguration(lun: lun, storageObject: object.name, blockSize: blockSize)
            if let params = request.params { entry.parameters.append(params) }
            daemon.model.update(tid: target.tid) { $0.luns.append(entry) }
            daemon.logger.info("target \(target.tid) LUN \(lun) added: \(request.backingStore ?? type)")
            return .success()
        case .update:
            return try updateLogicalUnit(target, lun: lun, request)
        case .delete:
            guard lun != 0, target.device.logicalUnits.contains(where: { $0.lun == lun }) else {
                throw TgtadmError.noLogicalUnit
            }
            removeLogicalUnit(target, lun: lun)
            return .success()
        default:
            throw TgtadmError.unsupportedOperation
        }
    }

    /// Opens the store; like tgt's rdwr, a file that cannot be opened for writing (EACCES, EROFS)
    /// is opened read-only and the unit made read-only.
    private func openStore(_ request: AdminRequest, type: String, flags: FileOpenFlags, options: inout LogicalUnitOptions)
        throws -> Backstore
    {
        func open(readOnly: Bool) throws -> Backstore {
            if let path = request.backingStore, !flags.isEmpty {
                return try FileBackstore(path: path, readOnly: readOnly, ioPool: daemon.ioPool, openFlags: flags)
            }
            return try BackstoreFactory.open(
                path: request.backingStore, type: type, size: nil, readOnly: readOnly, options: request.bsOpts,
                ioPool: daemon.ioPool)
        }
        do {
            return try open(readOnly: false)
        } catch let error as BackstoreError where ["rdwr", "aio", ""].contains(type) && [EACCES, EROFS].contains(error.errno) {
            if let store = try? open(readOnly: true) {
                options.readOnly = true
                return store
            }
            daemon.logger.info("cannot open backing store \(request.backingStore ?? "-"): \(error)")
            throw TgtadmError.invalidRequest.because("\(error)")
        } catch {
            daemon.logger.info("cannot open backing store \(request.backingStore ?? "-"): \(error)")
            throw TgtadmError.invalidRequest.because("\(error)")
        }
    }

    /// `--op update --mode logicalunit --params k=v,...` as tgtd's lu_config does it: every
    /// parameter applies in order and the answer is the last one a parameter gave (see
    /// `LogicalUnitParameters`). The request text is rebuilt the way tgtadm sends it, so
    /// `--bsoflags` or `--blocksize` on an update spoil it as they do in tgtd.
    private func updateLogicalUnit(_ target: ExportedTarget, lun: UInt64, _ request: AdminRequest) throws -> AdminResponse {
        let device = target.device
        guard let options = device.logicalUnitOptions(lun),
            let info = device.logicalUnits.first(where: { $0.lun == lun })
        else { throw TgtadmError.noLogicalUnit }
        var request = request
        if let params = request.params {
            let (alua, rest) = Self.splitALUAParameters(params)
            if !alua.isEmpty {
                // ALUA keys edit the model (the unit's storage object and its group per TPG),
                // all or none, and are replayed from it rather than from the recorded text.
                var edited = daemon.model
                for (key, value) in alua { try edited.applyALUAParameter(tid: target.tid, lun: lun, key: key, value: value) }
                daemon.model = edited
                applyALUA(tid: target.tid)
                daemon.logger.info("target \(target.tid) LUN \(lun) ALUA: \(alua.map { "\($0)=\($1)" }.joined(separator: ","))")
                guard !rest.isEmpty || request.backingStore != nil || request.bsOFlags != nil || request.blockSize != nil else {
                    return .success()
                }
            }
            request.params = rest.isEmpty ? nil : rest
        }
        var parts: [String] = []
        if let path = request.backingStore { parts.append("path=\(path)") }
        if let flags = request.bsOFlags { parts.append("bsoflags=\(flags)") }
        if let size = request.blockSize { parts.append("blocksize=\(size)") }
        if let params = request.params { parts.append("targetOps \(params),") }
        let parsed = LogicalUnitParameters(parsing: parts.joined(separator: ","), over: options, blockSize: info.blockSize)
        if parsed.options != options {
            try device.updateLogicalUnit(lun, options: parsed.options)
        }
        var answer: AdminResponse?
        for step in parsed.steps {
            switch step {
            case .online(let online):
                do {
                    try device.setLogicalUnitOnline(lun, online)
                    answer = nil
                } catch let error as SCSITargetError where error.kind == .removalPrevented {
                    answer = .failure(.preventRemoval)
                }
            case .invalid(let token):
                daemon.logger.info("target \(target.tid) LUN \(lun): unknown parameter \(token)")
                answer = .failure(TgtadmError.invalidRequest.because(Self.invalidParameter(token)))
            case .unsupported(let token):
                daemon.logger.info("target \(target.tid) LUN \(lun): parameter \(token) is not supported")
                answer = .failure(.unsupportedOperation)
            }
        }
        if let params = request.params { recordParameters(params, tid: target.tid, lun: lun) }
        daemon.logger.info("target \(target.tid) LUN \(lun) updated: \(request.params ?? "")")
        return answer ?? .success()
    }

    /// The ALUA keys of a `--params` text (see `DaemonConfiguration.aluaParameterKeys`) and
    /// the rest, in order.
    static func splitALUAParameters(_ params: String) -> (alua: [(String, String)], rest: String) {
        var alua: [(String, String)] = []
        var rest: [Substring] = []
        for token in params.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = token.split(separator: "=", maxSplits: 1)
            if parts.count == 2, DaemonConfiguration.aluaParameterKeys.contains(String(parts[0])) {
                alua.append((String(parts[0]), String(parts[1])))
            } else {
                rest.append(token)
            }
        }
        return (alua, rest.joined(separator: ","))
    }

    /// Why tgtd's lu_config refuses a `--params` token (see `LogicalUnitParameters.Step.invalid`).
    static func invalidParameter(_ token: String) -> String {
        let key = token.prefix { $0 != "=" }
        if ["bsoflags", "bsopts", "blocksize"].contains(key) { return "\(key) is set when the logical unit is created" }
        if !token.contains("=") { return "parameter \(token) is not KEY=VALUE" }
        if token.hasSuffix("=") { return "parameter \(key) has no value" }
        return "unknown logical unit parameter \(key)"
    }

    /// The storage object recorded for a LUN tgtadm created from a path: the LUN owns it.
    static func ownedObjectName(tid: Int, lun: UInt64) -> String { "tgt_\(tid)_\(lun)" }

    /// How LIO files a tgt store: a block device is a "block" object, a file "fileio".
    static func kind(type: String, path: String?) -> StorageObjectConfiguration.Kind {
        if type == "null" { return .null }
        if type == "rbd" { return .rbd }
        var info = stat()
        if let path, stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFBLK { return .block }
        return .fileio
    }

    /// Removes a LUN from the running target and the model; its store is closed unless it is a
    /// named storage object (LIO's), which outlives its mappings.
    func removeLogicalUnit(_ target: ExportedTarget, lun: UInt64) {
        let store = try? target.device.removeLogicalUnit(lun)
        let objectName = daemon.model.target(tid: target.tid)?.luns.first { $0.lun == lun }?.storageObject
        daemon.model.update(tid: target.tid) { $0.luns.removeAll { $0.lun == lun } }
        if let objectName, daemon.namedStores[objectName] != nil { return }
        try? store?.close()
        if let objectName { daemon.model.storageObjects.removeAll { $0.name == objectName } }
    }

    /// tgt applies `--params` keys in order, so a LUN keeps every update's text to replay.
    private func recordParameters(_ params: String, tid: Int, lun: UInt64) {
        daemon.model.update(tid: tid) { target in
            if let index = target.luns.firstIndex(where: { $0.lun == lun }) {
                target.luns[index].parameters.append(params)
            } else {
                // LUN 0 exists by itself; it is recorded once its parameters change.
                target.luns.append(LUNConfiguration(lun: lun, storageObject: "", parameters: [params]))
            }
        }
    }

    // MARK: Accounts

    private func account(_ request: AdminRequest) throws -> AdminResponse {
        switch request.op {
        case .new:
            guard let user = request.user, !user.isEmpty, let password = request.password else {
                throw TgtadmError.invalidRequest.because("a new account needs a user name and a password")
            }
            try daemon.model.addAccount(user: user, password: password)
            daemon.logger.info("account \(user) created")
        case .delete:
            guard let user = request.user else { throw TgtadmError.invalidRequest.because("\(request.op) needs a user name") }
            for tid in try daemon.model.removeAccount(user: user) { applyAuthentication(tid: tid) }
            daemon.logger.info("account \(user) deleted")
        case .show:
            return .success(AdminTextFormatter.accountList(daemon.model.accounts.map(\.user).reversed()))
        case .bind, .unbind:
            guard let user = request.user else { throw TgtadmError.invalidRequest.because("\(request.op) needs a user name") }
            // No tid: the account guards discovery sessions.
            let tid = request.tid.map(Int.init) ?? 0
            if tid != 0 { _ = try existingTarget(request) }
            if request.op == .bind {
                try daemon.model.bindAccount(user: user, tid: tid, outgoing: request.outgoing)
            } else {
                try daemon.model.unbindAccount(user: user, tid: tid, outgoing: request.outgoing)
            }
            applyAuthentication(tid: tid)
            // tgt binds without a word; the warning (exit 0) says now what a mutual login will meet.
            if request.op == .bind, let warning = daemon.model.sharedSecretWarning(tid: tid) {
                daemon.logger.warning("\(warning)")
                return AdminResponse(message: warning)
            }
        default:
            throw TgtadmError.unsupportedOperation
        }
        return .success()
    }

    /// Pushes the CHAP settings of `tid` (0: discovery) from the model to where logins read them.
    func applyAuthentication(tid: Int) {
        if tid == 0 {
            daemon.server.discoveryAuthentication = accountAuthentication(daemon.model.binding(tid: 0))
        } else if let target = daemon.registry.target(tid: tid), let configuration = daemon.model.target(tid: tid) {
            target.authentication = targetAuthentication(configuration)
        }
    }

    /// Pushes the ACL of `tid` from the model to the running target, then its CHAP settings
    /// (node ACLs carry their own).
    func applyAccess(tid: Int) {
        guard let target = daemon.registry.target(tid: tid), let configuration = daemon.model.target(tid: tid) else { return }
        target.setAccessRules(
            configuration.access.compactMap { entry in
                entry.kind == .initiatorName ? .initiatorName(entry.value) : AccessRule.parseAddress(entry.value)
            })
        applyAuthentication(tid: tid)
    }

    private func accountAuthentication(_ binding: (incoming: [String], outgoing: String?)) -> TargetAuthentication {
        var auth = TargetAuthentication()
        for user in binding.incoming {
            if let account = daemon.model.account(user: user) { auth.incoming[user] = account.password }
        }
        if let user = binding.outgoing, let account = daemon.model.account(user: user) {
            auth.outgoing = CHAPCredential(name: user, secret: account.password)
        }
        return auth
    }

    /// The login settings of one target: its bound accounts (LIO's TPG credentials) as
    /// target-wide credentials, node-ACL CHAP per initiator, the authentication attribute as
    /// the requirement.
    private func targetAuthentication(_ configuration: TargetConfiguration) -> TargetAuthentication {
        var auth = accountAuthentication((configuration.incomingUsers, configuration.outgoingUser))
        auth.required = configuration.authentication
        for acl in configuration.nodeACLs where !acl.auth.isEmpty {
            var entry = TargetAuthentication.InitiatorCredentials()
            if let user = acl.auth.userID, let password = acl.auth.password {
                entry.incoming = CHAPCredential(name: user, secret: password)
            }
            if let user = acl.auth.mutualUserID, let password = acl.auth.mutualPassword {
                entry.outgoing = CHAPCredential(name: user, secret: password)
            }
            auth.initiators[acl.initiatorName.lowercased()] = entry
        }
        return auth
    }

    // MARK: Portals and system

    private func portal(_ request: AdminRequest) throws -> AdminResponse {
        switch request.op {
        case .show:
            return .success(
                AdminTextFormatter.portals(
                    daemon.server.taggedPortals.map { (address: $0.portal.host, port: $0.portal.port, tpgt: Int($0.tag)) }))
        case .new, .delete:
            let (host, port, tag) = try AdminPortalParameter.parse(request.params)
            let portal = Portal(host: host, port: port)
            let saved = PortalConfiguration(host: portal.host, port: portal.port, tag: tag ?? 1)
            if request.op == .new {
                if let existing = daemon.server.portalGroupTag(of: portal) {
                    let group = existing == saved.tag ? "" : " (in portal group \(existing))"
                    throw TgtadmError.invalidRequest.because("there is already a portal \(portal)\(group)")
                }
                do {
                    try daemon.server.addPortal(portal, tag: saved.tag)
                } catch {
                    throw TgtadmError.invalidRequest.because("cannot listen on \(portal): \(Self.socketError(error))")
                }
                daemon.model.portals.removeAll { $0.hasAddress(of: saved) }
                daemon.model.portals.append(saved)
            } else {
                // tgt refuses to delete a portal it does not have (one saved that could not be
                // opened again is still deleted).
                let listening = daemon.server.portalGroupTag(of: portal)
                guard listening != nil || daemon.model.portals.contains(where: { $0.hasAddress(of: saved) }) else {
                    throw TgtadmError.invalidRequest.because("there is no portal \(portal)")
                }
                if let tag, let listening, tag != listening {
                    throw TgtadmError.invalidRequest.because("portal \(portal) is in portal group \(listening), not \(tag)")
                }
                do {
                    try daemon.server.removePortal(portal)
                } catch {
                    throw TgtadmError.invalidRequest.because("cannot close portal \(portal): \(Self.socketError(error))")
                }
                daemon.model.portals.removeAll { $0.hasAddress(of: saved) }
            }
            // Targets served through every group gain or lose a target port.
            applyALUAEverywhere()
            return .success()
        default:
            throw TgtadmError.unsupportedOperation
        }
    }

    static func socketError(_ error: Error) -> String {
        if let error = error as? IOError { return String(cString: strerror(error.errnoCode)) }
        return "\(error)"
    }

    private func system(_ request: AdminRequest) -> AdminResponse {
        switch request.op {
        case .show:
            var system = SystemSnapshot()
            system.debug = daemon.logger.logLevel <= .debug
            system.drivers = [.init(name: "iscsi", state: "ready")]
            // What `--bstype` opens (rdwr alone takes --bsoflags); ram is LIO's ramdisk.
            system.backingStores = BackstoreFactory.supportedTypes.map { type in
                .init(name: type, openFlags: type == "rdwr" ? "sync:direct" : nil)
            }
            // Disks, and the controller every target has as LUN 0.
            system.deviceTypes = ["disk", "controller"]
            system.discoveryIncomingUsers = daemon.model.discoveryIncomingUsers
            system.discoveryOutgoingUser = daemon.model.discoveryOutgoingUser
            return .success(AdminTextFormatter.system(system))
        case .update:
            return updateSystem(request)
        case .delete:
            // `tgtadm --op delete --mode system`: shut down as SIGTERM does.
            kill(getpid(), SIGTERM)
            return .success()
        default:
            return .failure(.unsupportedOperation)
        }
    }

    /// `--op update --mode system --name N --value V`: tgtd knows debug (on, off) and its iSNS
    /// settings. This daemon's log level is set when it starts and it has no iSNS client, so
    /// those are "not supported"; other values and names are invalid, as in tgt.
    private func updateSystem(_ request: AdminRequest) -> AdminResponse {
        guard let name = request.name, let value = request.value else {
            return .failure(TgtadmError.invalidRequest.because("update needs a name and a value"))
        }
        switch name {
        case "debug":
            // tgt compares prefixes: "onward" is on.
            guard value.hasPrefix("on") || value.hasPrefix("off") else {
                return .failure(TgtadmError.invalidRequest.because("debug is on or off, not \(value)"))
            }
            return .failure(.unsupportedOperation)
        case "iSNS", "iSNSServerIP", "iSNSServerPort", "iSNSAccessControl":
            return .failure(.unsupportedOperation)
        default:
            return .failure(TgtadmError.invalidRequest.because("unknown system parameter \(name)"))
        }
    }
}
