import Backstore
import ISCSIAdmin
import ISCSIProtocol
import ISCSITarget
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
    func handle(_ request: AdminRequest) -> AdminResponse {
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
        } catch {
            daemon.logger.info("tgtadm request failed: \(error)")
            return .failure(.invalidRequest)
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
            guard let tid = requestedTID, tid > 0, let name = request.targetName else { throw TgtadmError.invalidRequest }
            guard (try? ISCSIName.validate(name)) != nil else { throw TgtadmError.invalidRequest }
            do {
                _ = try registry.createTarget(tid: Int(tid), name: name)
            } catch {
                throw TgtadmError.targetExists
            }
            daemon.logger.info("target \(tid) created: \(name)")
            return .success(request.allocateTID == true ? "\(tid)\n" : "")
        case .delete:
            let target = try existingTarget(request)
            let sessions = daemon.server.sessions.sessions(of: target)
            if !sessions.isEmpty && !request.force { throw TgtadmError.targetActive }
            _ = try? registry.removeTarget(tid: target.tid)
            daemon.accounts.forget(tid: target.tid)
            daemon.tpgs.forget(tid: target.tid)
            daemon.persistence.forgetParameters(tid: target.tid)
            for session in sessions { session.closeConnection("target deleted") }
            for lu in target.device.logicalUnits where lu.lun != 0 {
                let shared = daemon.storageObjects.owner(tid: target.tid, lun: lu.lun) != nil
                if let store = try? target.device.removeLogicalUnit(lu.lun), !shared { try? store.close() }
            }
            daemon.storageObjects.unmapTarget(tid: target.tid)
            daemon.logger.info("target \(target.tid) deleted")
            return .success()
        case .show:
            let targets: [ExportedTarget]
            if request.tid != nil {
                targets = [try existingTarget(request)]
            } else {
                targets = registry.targets
            }
            return .success(TargetShowFormatter.format(targets.map(snapshot)))
        case .bind, .unbind:
            let target = try existingTarget(request)
            let rule: AccessRule
            if let name = request.initiatorName {
                rule = .initiatorName(name)
            } else if let address = request.initiatorAddress, let parsed = AccessRule.parseAddress(address) {
                rule = parsed
            } else {
                throw TgtadmError.invalidRequest
            }
            if request.op == .bind {
                guard target.bind(rule) else { throw TgtadmError.aclExists }
            } else {
                guard target.unbind(rule) else { throw TgtadmError.aclNotFound }
            }
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
        guard let name = request.name, let value = request.value else { throw TgtadmError.invalidRequest }
        if name == "state" {
            switch value {
            case "ready": target.device.isOnline = true
            case "offline": target.device.isOnline = false
            default: throw TgtadmError.invalidRequest
            }
            daemon.logger.info("target \(target.tid) state: \(value)")
            return .success()
        }
        // tgtd compares these by prefix (strncmp) and the session keys ignoring case.
        let prefixes = ["RedirectAddress", "RedirectPort", "RedirectReason", "RedirectCallback", "nop_count", "nop_interval"]
        if prefixes.contains(where: { name.hasPrefix($0) }) || Self.sessionKeys.contains(name.lowercased()) {
            throw TgtadmError.unsupportedOperation
        }
        throw TgtadmError.invalidRequest
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
        let binding = daemon.accounts.binding(tid: target.tid)
        return TargetSnapshot(
            tid: Int32(target.tid), name: target.name, state: target.device.isOnline ? "ready" : "offline",
            nexuses: nexuses, luns: luns,
            accounts: TargetSnapshot.Accounts(incomingUsers: binding.incoming, outgoingUser: binding.outgoing), acl: acl)
    }

    // MARK: Logical units

    private func logicalUnit(_ request: AdminRequest) throws -> AdminResponse {
        let target = try existingTarget(request)
        if request.op == .new, request.storageObject != nil { return mapStorageObject(target, request) }
        guard let lun = request.lun else { throw TgtadmError.invalidRequest }
        switch request.op {
        case .new:
            if target.device.logicalUnits.contains(where: { $0.lun == lun }) { throw TgtadmError.logicalUnitExists }
            let type = request.bsType ?? "rdwr"
            // Only disks are emulated (tgt also has cd, tape, changer, osd and passthrough).
            if let deviceType = request.deviceType, deviceType != "disk" { throw TgtadmError.unsupportedOperation }
            var blockSize = 512
            if let text = request.blockSize {
                guard let size = Int(text), [512, 1024, 2048, 4096].contains(size) else {
                    throw TgtadmError.invalidRequest
                }
                blockSize = size
            }
            guard type == "null" || request.backingStore != nil else { throw TgtadmError.invalidRequest }
            // --bsoflags: as in tgt, only "rdwr" takes them, and only sync and direct.
            var openFlags: FileOpenFlags = []
            if let text = request.bsOFlags {
                guard let flags = FileOpenFlags(tgtString: text) else { throw TgtadmError.invalidRequest }
                if !flags.isEmpty && !["rdwr", ""].contains(type) { throw TgtadmError.invalidRequest }
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
                    case .invalid: throw TgtadmError.invalidRequest
                    case .unsupported: throw TgtadmError.unsupportedOperation
                    }
                }
                options = parsed.options
            }
            let store = try openStore(request, type: type, flags: openFlags, options: &options)
            do {
                try target.device.addLogicalUnit(lun, backstore: store, blockSize: blockSize, options: options)
            } catch let error as SCSITargetError {
                try? store.close()
                throw error.kind == .duplicateLUN ? TgtadmError.logicalUnitExists : TgtadmError.invalidRequest
            }
            for online in onlineSteps { try? target.device.setLogicalUnitOnline(lun, online) }
            if let params = request.params { daemon.persistence.recordParameters(tid: target.tid, lun: lun, params) }
            daemon.logger.info("target \(target.tid) LUN \(lun) added: \(request.backingStore ?? type)")
            return .success()
        case .update:
            return try updateLogicalUnit(target, lun: lun, request)
        case .delete:
            guard lun != 0, target.device.logicalUnits.contains(where: { $0.lun == lun }) else {
                throw TgtadmError.noLogicalUnit
            }
            let shared = daemon.storageObjects.owner(tid: target.tid, lun: lun) != nil
            let store = try? target.device.removeLogicalUnit(lun)
            if shared {
                daemon.storageObjects.unmap(StorageObjectTable.Mapping(tid: target.tid, lun: lun))
            } else {
                try? store?.close()
            }
            daemon.persistence.forgetParameters(tid: target.tid, lun: lun)
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
                path: request.backingStore, type: type, size: nil, readOnly: readOnly, ioPool: daemon.ioPool)
        }
        do {
            return try open(readOnly: false)
        } catch let error as BackstoreError where ["rdwr", "aio", ""].contains(type) && [EACCES, EROFS].contains(error.errno) {
            if let store = try? open(readOnly: true) {
                options.readOnly = true
                return store
            }
            daemon.logger.info("cannot open backing store \(request.backingStore ?? "-"): \(error)")
            throw TgtadmError.invalidRequest
        } catch {
            daemon.logger.info("cannot open backing store \(request.backingStore ?? "-"): \(error)")
            throw TgtadmError.invalidRequest
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
        var parts: [String] = []
        if let path = request.backingStore { parts.append("path=\(path)") }
        if let flags = request.bsOFlags { parts.append("bsoflags=\(flags)") }
        if let size = request.blockSize { parts.append("blocksize=\(size)") }
        if let params = request.params { parts.append("targetOps \(params),") }
        let parsed = LogicalUnitParameters(parsing: parts.joined(separator: ","), over: options, blockSize: info.blockSize)
        if parsed.options != options {
            try device.updateLogicalUnit(lun, options: parsed.options)
        }
        var answer: TgtadmError?
        for step in parsed.steps {
            switch step {
            case .online(let online):
                do {
                    try device.setLogicalUnitOnline(lun, online)
                    answer = nil
                } catch let error as SCSITargetError where error.kind == .removalPrevented {
                    answer = .preventRemoval
                }
            case .invalid(let token):
                daemon.logger.info("target \(target.tid) LUN \(lun): unknown parameter \(token)")
                answer = .invalidRequest
            case .unsupported(let token):
                daemon.logger.info("target \(target.tid) LUN \(lun): parameter \(token) is not supported")
                answer = .unsupportedOperation
            }
        }
        if let params = request.params { daemon.persistence.recordParameters(tid: target.tid, lun: lun, params) }
        daemon.logger.info("target \(target.tid) LUN \(lun) updated: \(request.params ?? "")")
        if let answer { return .failure(answer) }
        return .success()
    }

    // MARK: Accounts

    private func account(_ request: AdminRequest) throws -> AdminResponse {
        let book = daemon.accounts
        switch request.op {
        case .new:
            guard let user = request.user, !user.isEmpty, let password = request.password else {
                throw TgtadmError.invalidRequest
            }
            try book.add(user: user, password: password)
            daemon.logger.info("account \(user) created")
        case .delete:
            guard let user = request.user else { throw TgtadmError.invalidRequest }
            for tid in try book.remove(user: user) { applyAuthentication(tid: tid) }
            daemon.logger.info("account \(user) deleted")
        case .show:
            return .success(AdminTextFormatter.accountList(book.users.reversed()))
        case .bind, .unbind:
            guard let user = request.user else { throw TgtadmError.invalidRequest }
            // No tid: the account guards discovery sessions.
            let tid = request.tid.map(Int.init) ?? 0
            if tid != 0 { _ = try existingTarget(request) }
            if request.op == .bind {
                try book.bind(user: user, tid: tid, outgoing: request.outgoing)
            } else {
                try book.unbind(user: user, tid: tid, outgoing: request.outgoing)
            }
            applyAuthentication(tid: tid)
            // tgt binds without a word; the warning (exit 0) says now what a mutual login will meet.
            if request.op == .bind, let warning = book.sharedSecretWarning(tid: tid) {
                daemon.logger.warning("\(warning)")
                return AdminResponse(message: warning)
            }
        default:
            throw TgtadmError.unsupportedOperation
        }
        return .success()
    }

    /// Pushes the account bindings of `tid` (0: discovery) to where logins read them.
    func applyAuthentication(tid: Int) {
        if tid == 0 {
            daemon.server.discoveryAuthentication = daemon.accounts.authentication(tid: 0)
        } else if let target = daemon.registry.target(tid: tid) {
            target.authentication = targetAuthentication(tid: tid)
            target.generateNodeACLs = daemon.tpgs.settings(tid: tid).generateNodeACLs
        }
    }

    // MARK: Portals and system

    private func portal(_ request: AdminRequest) throws -> AdminResponse {
        switch request.op {
        case .show:
            let tag = Int(daemon.server.configuration.portalGroupTag)
            return .success(
                AdminTextFormatter.portals(daemon.server.portals.map { (address: $0.host, port: $0.port, tpgt: tag) }))
        case .new, .delete:
            guard let param = request.params, param.hasPrefix("portal="),
                let portal = Portal(parsing: String(param.dropFirst("portal=".count)))
            else { throw TgtadmError.invalidRequest }
            if request.op == .new {
                do { try daemon.server.addPortal(portal) } catch { throw TgtadmError.invalidRequest }
                daemon.persistence.portalAdded(portal)
            } else {
                do { try daemon.server.removePortal(portal) } catch { throw TgtadmError.invalidRequest }
                daemon.persistence.portalRemoved(portal)
            }
            return .success()
        default:
            throw TgtadmError.unsupportedOperation
        }
    }

    private func system(_ request: AdminRequest) -> AdminResponse {
        switch request.op {
        case .show:
            return .success("System:\n    State: ready\n    debug: off\nLLDs:\n    iscsi: ready\nBacking stores:\n    rdwr (bsoflags sync:direct)\n    null\n    ram\nDevice types:\n    disk\n")
        case .delete:
            // `tgtadm --op delete --mode system`: shut down as SIGTERM does.
            kill(getpid(), SIGTERM)
            return .success()
        default:
            return .failure(.unsupportedOperation)
        }
    }
}
