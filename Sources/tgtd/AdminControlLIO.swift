import Backstore
import ISCSIAdmin
import ISCSIProtocol
import ISCSITarget
import SCSITarget

#if canImport(Glibc)
    import Glibc
#endif

/// The requests targetcli sends: LIO's named storage objects, LUN mappings of them, node ACLs
/// with their own CHAP, TPG attributes and auth, and the whole configuration as JSON.
extension AdminControl {
    /// A refusal with its own text (targetcli prints it as is).
    struct Refusal: Error {
        var message: String
        init(_ message: String) { self.message = message }
    }

    func lio(_ request: AdminRequest) -> AdminResponse {
        do {
            switch request.mode {
            case .storageObject: return try storageObject(request)
            case .nodeACL: return try nodeACL(request)
            case .tpg: return try tpg(request)
            case .configuration:
                guard request.op == .show else { throw TgtadmError.unsupportedOperation }
                return .success(try currentConfigurationJSON())
            default: throw TgtadmError.unsupportedOperation
            }
        } catch let refusal as Refusal {
            return AdminResponse(exitCode: EINVAL, message: refusal.message)
        } catch let error as TgtadmError {
            return .failure(error)
        } catch {
            return AdminResponse(exitCode: EINVAL, message: "\(error)")
        }
    }

    /// The running configuration with every portal the daemon listens on.
    func currentConfigurationJSON() throws -> String {
        var configuration = daemon.persistence.capture()
        configuration.portals = daemon.server.portals.map { PortalConfiguration(host: $0.host, port: $0.port) }
        return try configuration.jsonText()
    }

    // MARK: Storage objects

    private func storageObject(_ request: AdminRequest) throws -> AdminResponse {
        let table = daemon.storageObjects
        guard let name = request.storageObject, !name.isEmpty else { throw Refusal("a storage object needs a name") }
        switch request.op {
        case .new:
            guard !name.contains("/"), !name.contains(where: \.isWhitespace) else {
                throw Refusal("invalid storage object name \(name)")
            }
            if table.entry(named: name) != nil { throw Refusal("Storage object \(name) exists") }
            guard let kindName = request.bsType, let kind = StorageObjectConfiguration.Kind(rawValue: kindName),
                kind != .null
            else { throw Refusal("unknown storage object type \(request.bsType ?? "")") }
            let readOnly = request.params?.split(separator: ",").contains("readonly=1") ?? false
            var configuration = StorageObjectConfiguration(name: name, kind: kind, path: request.backingStore, readOnly: readOnly)
            let store: Backstore
            switch kind {
            case .fileio:
                guard let path = request.backingStore, path.hasPrefix("/") else {
                    throw Refusal("fileio needs an absolute file path")
                }
                var info = stat()
                if stat(path, &info) != 0 {
                    guard let size = request.size, size > 0 else { throw Refusal("\(path) does not exist: a size is needed to create it") }
                    let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
                    guard fd >= 0 else { throw Refusal("cannot create \(path): \(String(cString: strerror(errno)))") }
                    defer { close(fd) }
                    guard ftruncate(fd, off_t(size)) == 0 else {
                        let why = String(cString: strerror(errno))
                        unlink(path)
                        throw Refusal("cannot size \(path): \(why)")
                    }
                } else if (info.st_mode & S_IFMT) == S_IFDIR {
                    throw Refusal("\(path) is a directory")
                }  // As LIO: an existing file keeps its own size.
                store = try openStore(path: path, type: "rdwr", size: nil, readOnly: readOnly)
            case .block:
                guard let path = request.backingStore else { throw Refusal("block needs a device path") }
                var info = stat()
                guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFBLK else {
                    throw Refusal("\(path) is not a block device")
                }
                store = try openStore(path: path, type: "rdwr", size: nil, readOnly: readOnly)
            case .ramdisk:
                guard let size = request.size, size > 0 else { throw Refusal("ramdisk needs a size") }
                configuration.path = nil
                store = try openStore(path: nil, type: "ram", size: size, readOnly: false)
            case .null:
                throw Refusal("unknown storage object type null")
            }
            configuration.size = store.byteSize
            table.add(StorageObjectTable.Entry(configuration: configuration, store: store))
            daemon.logger.info("storage object \(name) created (\(kind.rawValue))")
            return .success()
        case .delete:
            guard let entry = table.remove(named: name) else { throw Refusal("No storage object named \(name)") }
            // As LIO: deleting a storage object removes the LUNs that map it.
            for mapping in entry.mappings {
                _ = try? daemon.registry.target(tid: mapping.tid)?.device.removeLogicalUnit(mapping.lun)
            }
            try? entry.store.close()
            daemon.logger.info("storage object \(name) deleted")
            return .success()
        default:
            throw TgtadmError.unsupportedOperation
        }
    }

    private func openStore(path: String?, type: String, size: UInt64?, readOnly: Bool) throws -> Backstore {
        do {
            return try BackstoreFactory.open(path: path, type: type, size: size, readOnly: readOnly, ioPool: daemon.ioPool)
        } catch {
            throw Refusal("cannot open \(path ?? type): \(error)")
        }
    }

    /// `--mode logicalunit --op new` with a storage object: maps it (LUN chosen when absent).
    func mapStorageObject(_ target: ExportedTarget, _ request: AdminRequest) -> AdminResponse {
        let table = daemon.storageObjects
        guard let name = request.storageObject, let entry = table.entry(named: name) else {
            return AdminResponse(exitCode: EINVAL, message: "No storage object named \(request.storageObject ?? "")")
        }
        let used = Set(target.device.logicalUnits.map(\.lun))
        if let existing = entry.mappings.first(where: { $0.tid == target.tid }) {
            return AdminResponse(exitCode: EEXIST, message: "\(name) is already mapped as LUN \(existing.lun) of \(target.name)")
        }
        let lun = request.lun ?? (1...).first { !used.contains(UInt64($0)) }.map(UInt64.init)!
        if used.contains(lun) { return .failure(.logicalUnitExists) }
        var blockSize = 512
        if let text = request.blockSize {
            guard let size = Int(text), [512, 1024, 2048, 4096].contains(size) else { return .failure(.invalidRequest) }
            blockSize = size
        }
        var options = LogicalUnitOptions()
        options.readOnly = entry.configuration.readOnly
        do {
            try target.device.addLogicalUnit(lun, backstore: entry.store, blockSize: blockSize, options: options)
        } catch {
            return AdminResponse(exitCode: EINVAL, message: "cannot map \(name) as LUN \(lun): \(error)")
        }
        table.map(name, StorageObjectTable.Mapping(tid: target.tid, lun: lun))
        daemon.logger.info("target \(target.tid) LUN \(lun) maps storage object \(name)")
        return .success("\(lun)\n")
    }

    // MARK: Node ACLs and TPG settings

    private func target(of request: AdminRequest) throws -> ExportedTarget {
        guard let tid = request.tid, let target = daemon.registry.target(tid: Int(tid)) else { throw TgtadmError.noTarget }
        return target
    }

    private func nodeACL(_ request: AdminRequest) throws -> AdminResponse {
        let target = try target(of: request)
        guard let name = request.initiatorName else { throw Refusal("a node ACL needs an initiator name") }
        let key = name.lowercased()
        let exists = target.accessRules.contains { rule in
            if case .initiatorName(let bound) = rule { return bound.lowercased() == key }
            return false
        }
        switch request.op {
        case .new:
            guard (try? ISCSIName.validate(name)) != nil else { throw Refusal("invalid initiator name \(name)") }
            if exists { throw Refusal("ACL for \(name) exists") }
            target.bind(.initiatorName(name))
            daemon.tpgs.update(tid: target.tid) { $0.aclAuth[key] = nil }
            if [request.user, request.password, request.mutualUser, request.mutualPassword].contains(where: { $0 != nil }) {
                daemon.tpgs.update(tid: target.tid) { $0.aclAuth[key, default: CHAPCredentials()].apply(request) }
            }
        case .delete:
            guard exists else { throw Refusal("No ACL for \(name)") }
            for rule in target.accessRules {
                if case .initiatorName(let bound) = rule, bound.lowercased() == key { target.unbind(rule) }
            }
            daemon.tpgs.update(tid: target.tid) { $0.aclAuth[key] = nil }
        case .update:
            guard exists else { throw Refusal("No ACL for \(name)") }
            daemon.tpgs.update(tid: target.tid) { settings in
                settings.aclAuth[key, default: CHAPCredentials()].apply(request)
                if settings.aclAuth[key]?.isEmpty == true { settings.aclAuth[key] = nil }
            }
        default:
            throw TgtadmError.unsupportedOperation
        }
        applyAuthentication(tid: target.tid)
        return .success()
    }

    private func tpg(_ request: AdminRequest) throws -> AdminResponse {
        let target = try target(of: request)
        guard request.op == .update else { throw TgtadmError.unsupportedOperation }
        if let name = request.name {
            guard let value = request.value, value == "0" || value == "1" else {
                throw Refusal("\(name) takes 0 or 1")
            }
            switch name {
            case "authentication": daemon.tpgs.update(tid: target.tid) { $0.authentication = value == "1" }
            case "generate_node_acls": daemon.tpgs.update(tid: target.tid) { $0.generateNodeACLs = value == "1" }
            default: throw Refusal("unsupported TPG attribute \(name)")
            }
        } else {
            daemon.tpgs.update(tid: target.tid) { $0.tpgAuth.apply(request) }
        }
        applyAuthentication(tid: target.tid)
        return .success()
    }

    /// The login settings of one target: tgt's bound accounts and LIO's TPG auth as target-wide
    /// credentials, node-ACL CHAP per initiator, the authentication attribute as the requirement.
    func targetAuthentication(tid: Int) -> TargetAuthentication {
        var auth = daemon.accounts.authentication(tid: tid)
        let settings = daemon.tpgs.settings(tid: tid)
        auth.required = settings.authentication
        if let user = settings.tpgAuth.userID, let password = settings.tpgAuth.password { auth.incoming[user] = password }
        if auth.outgoing == nil, let user = settings.tpgAuth.mutualUserID, let password = settings.tpgAuth.mutualPassword {
            auth.outgoing = CHAPCredential(name: user, secret: password)
        }
        for (key, credentials) in settings.aclAuth {
            var entry = TargetAuthentication.InitiatorCredentials()
            if let user = credentials.userID, let password = credentials.password {
                entry.incoming = CHAPCredential(name: user, secret: password)
            }
            if let user = credentials.mutualUserID, let password = credentials.mutualPassword {
                entry.outgoing = CHAPCredential(name: user, secret: password)
            }
            auth.initiators[key] = entry
        }
        return auth
    }
}
