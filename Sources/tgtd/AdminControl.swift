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
    private unowned let daemon: TargetDaemon
    private var server: ControlServer?

    init(daemon: TargetDaemon) { self.daemon = daemon }

    func start() throws {
        let server = ControlServer(controlPort: daemon.controlPort) { [unowned self] request in
            self.handle(request)
        }
        try server.start()
        self.server = server
    }

    func stop() { server?.stop() }

    func handle(_ request: AdminRequest) -> AdminResponse {
        if let lld = request.lld, lld != "iscsi" { return .failure(.noDriver) }
        do {
            switch request.mode {
            case .target: return try target(request)
            case .logicalUnit: return try logicalUnit(request)
            case .portal: return try portal(request)
            case .system: return system(request)
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
            guard let tid = request.tid, tid > 0, let name = request.targetName else { throw TgtadmError.invalidRequest }
            guard (try? ISCSIName.validate(name)) != nil else { throw TgtadmError.invalidRequest }
            do {
                _ = try registry.createTarget(tid: Int(tid), name: name)
            } catch {
                throw TgtadmError.targetExists
            }
            daemon.logger.info("target \(tid) created: \(name)")
            return .success()
        case .delete:
            let target = try existingTarget(request)
            let sessions = daemon.server.sessions.sessions(of: target)
            if !sessions.isEmpty && !request.force { throw TgtadmError.targetActive }
            _ = try? registry.removeTarget(tid: target.tid)
            for session in sessions { session.closeConnection("target deleted") }
            for lu in target.device.logicalUnits where lu.lun != 0 {
                if let store = try? target.device.removeLogicalUnit(lu.lun) { try? store.close() }
            }
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
        default:
            throw TgtadmError.unsupportedOperation
        }
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
                thinProvisioning: lu.thinProvisioning, bsType: lu.backingStoreType, bsPath: lu.backingStorePath)
        }
        var acl = TargetSnapshot.AccessList()
        for rule in target.accessRules {
            switch rule {
            case .initiatorName(let name): acl.initiatorNames.append(name)
            default: acl.addresses.append(rule.description)
            }
        }
        return TargetSnapshot(tid: Int32(target.tid), name: target.name, nexuses: nexuses, luns: luns, acl: acl)
    }

    // MARK: Logical units

    private func logicalUnit(_ request: AdminRequest) throws -> AdminResponse {
        let target = try existingTarget(request)
        guard let lun = request.lun else { throw TgtadmError.invalidRequest }
        switch request.op {
        case .new:
            if target.device.logicalUnits.contains(where: { $0.lun == lun }) { throw TgtadmError.logicalUnitExists }
            let type = request.bsType ?? "rdwr"
            var blockSize = 512
            if let text = request.blockSize {
                guard let size = Int(text), [512, 1024, 2048, 4096].contains(size) else {
                    throw TgtadmError.invalidRequest
                }
                blockSize = size
            }
            guard type == "null" || request.backingStore != nil else { throw TgtadmError.invalidRequest }
            let store: Backstore
            do {
                store = try BackstoreFactory.open(
                    path: request.backingStore, type: type, size: nil, readOnly: false, ioPool: daemon.ioPool)
            } catch {
                daemon.logger.info("cannot open backing store \(request.backingStore ?? "-"): \(error)")
                throw TgtadmError.invalidRequest
            }
            do {
                try target.device.addLogicalUnit(lun, backstore: store, blockSize: blockSize)
            } catch let error as SCSITargetError {
                try? store.close()
                throw error.kind == .duplicateLUN ? TgtadmError.logicalUnitExists : TgtadmError.invalidRequest
            }
            daemon.logger.info("target \(target.tid) LUN \(lun) added: \(request.backingStore ?? type)")
            return .success()
        case .delete:
            guard lun != 0, target.device.logicalUnits.contains(where: { $0.lun == lun }) else {
                throw TgtadmError.noLogicalUnit
            }
            let store = try? target.device.removeLogicalUnit(lun)
            try? store?.close()
            return .success()
        default:
            throw TgtadmError.unsupportedOperation
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
            } else {
                do { try daemon.server.removePortal(portal) } catch { throw TgtadmError.invalidRequest }
            }
            return .success()
        default:
            throw TgtadmError.unsupportedOperation
        }
    }

    private func system(_ request: AdminRequest) -> AdminResponse {
        switch request.op {
        case .show:
            return .success("System:\n    State: ready\n    debug: off\nLLDs:\n    iscsi: ready\nBacking stores:\n    rdwr\n    null\n    ram\nDevice types:\n    disk\n")
        case .delete:
            // `tgtadm --op delete --mode system`: shut down as SIGTERM does.
            kill(getpid(), SIGTERM)
            return .success()
        default:
            return .failure(.unsupportedOperation)
        }
    }
}
