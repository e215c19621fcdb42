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
    typealias Refusal = AdminRefusal

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
        var configuration = daemon.model
        configuration.portals = daemon.server.taggedPortals.map {
            PortalConfiguration(host: $0.portal.host, port: $0.portal.port, tag: $0.tag)
        }
        return try configuration.jsonText()
    }

    // MARK: Storage objects

    private func storageObject(_ request: AdminRequest) throws -> AdminResponse {
        guard let name = request.storageObject, !name.isEmpty else { throw Refusal("a storage object needs a name") }
        switch request.op {
        case .new:
            guard !name.contains("/"), !name.contains(where: \.isWhitespace) else {
                throw Refusal("invalid storage object name \(name)")
            }
            if daemon.model.storageObject(named: name) != nil { throw Refusal("Storage object \(name) exists") }
            guard let kindName = request.bsType, let kind = StorageObjectConfiguration.Kind(rawValue: kindName),
                kind != .null
            else { throw Refusal("unknown storage object type \(request.bsType ?? "")") }
            var configuration = StorageObjectConfiguration(name: name, kind: kind, path: request.backingStore)
            var sparse = true
            for pair in (request.params ?? "").split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { throw Refusal("storage object setting \(pair) is not key=value") }
                let flag = parts[1] == "1" ? true : parts[1] == "0" ? false : nil
                switch parts[0] {
                case "readonly": configuration.readOnly = try Self.required(flag, parts)
                case "write_back": configuration.writeCache = try Self.required(flag, parts)
                case "sparse": sparse = try Self.required(flag, parts)
                case "emulate_tpu", "emulate_tpws": configuration.thinProvisioning = try Self.required(flag, parts)
                case "wwn":
                    guard !parts[1].isEmpty, parts[1].utf8.count <= 36, parts[1].allSatisfy({ $0.isASCII && !$0.isWhitespace }) else {
                        throw Refusal("wwn \(parts[1]) must be 1 to 36 printable ASCII characters (it is the unit serial number)")
                    }
                    configuration.serial = parts[1]
                default: throw Refusal("unknown storage object setting \(parts[0])")
                }
            }
            let readOnly = configuration.readOnly
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
                    // sparse=false allocates every block now, as LIO does.
                    let sized = sparse ? ftruncate(fd, off_t(size)) : posix_fallocate(fd, 0, off_t(size))
                    guard sized == 0 else {
                        let why = String(cString: strerror(sparse ? errno : sized))
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
            case .rbd:
                guard let path = request.backingStore, !path.isEmpty else { throw Refusal("user:rbd needs cfgstring pool/image") }
                store = try openStore(path: path, type: "rbd", size: nil, readOnly: readOnly, options: request.bsOpts)
                if let image = store as? RBDBackstore {
                    configuration.path = image.location.path
                    configuration.bsOptions = image.location.options
                    // Saved with the object, so a restored one keeps the serial every gateway reports.
                    configuration.serial = configuration.serial ?? image.imageID
                }
            case .null:
                throw Refusal("unknown storage object type null")
            }
            configuration.size = store.byteSize
            daemon.model.storageObjects.append(configuration)
            daemon.namedStores[name] = store
            daemon.logger.info("storage object \(name) created (\(kind.rawValue))")
            return .success()
        case .update:
            return try updateStorageObject(name, request)
        case .delete:
            guard let store = daemon.namedStores.removeValue(forKey: name) else {
                throw Refusal("No storage object named \(name)")
            }
            // As LIO: deleting a storage object removes the LUNs that map it.
            for target in daemon.model.targets {
                for lun in target.luns where lun.storageObject == name {
                    _ = try? daemon.registry.target(tid: target.tid)?.device.removeLogicalUnit(lun.lun)
                }
                daemon.model.update(tid: target.tid) { $0.luns.removeAll { $0.storageObject == name } }
            }
            daemon.model.storageObjects.removeAll { $0.name == name }
            try? store.close()
            daemon.logger.info("storage object \(name) deleted")
            return .success()
        default:
            throw TgtadmError.unsupportedOperation
        }
    }

    /// LIO's storage-object attributes that change a running unit: emulate_tpu and emulate_tpws
    /// (both switch this target's one thin-provisioning setting), applied to every LUN mapping it.
    private func updateStorageObject(_ name: String, _ request: AdminRequest) throws -> AdminResponse {
        if let attribute = request.name, attribute.hasPrefix("alua") {
            return try updateALUA(object: name, attribute: attribute, value: request.value ?? "")
        }
        guard daemon.namedStores[name] != nil, let index = daemon.model.storageObjects.firstIndex(where: { $0.name == name }) else {
            throw Refusal("No storage object named \(name)")
        }
        guard let attribute = request.name, let value = request.value else { throw Refusal("an update needs an attribute and a value") }
        let parts = [attribute, value]
        switch attribute {
        case "emulate_tpu", "emulate_tpws":
            let thin = try Self.required(value == "1" ? true : value == "0" ? false : nil, parts)
            for (tid, lun) in daemon.model.mappings(of: name) {
                guard let device = daemon.registry.target(tid: tid)?.device, var options = device.logicalUnitOptions(lun.lun) else {
                    continue
                }
                options.thinProvisioning = thin
                try device.updateLogicalUnit(lun.lun, options: options)
            }
            daemon.model.storageObjects[index].thinProvisioning = thin ? true : nil
        default:
            throw Refusal("storage object attribute \(attribute) cannot be changed here (emulate_tpu, emulate_tpws can)")
        }
        return .success()
    }

    /// ALUA groups of a storage object (a tgtadm LUN's too): `alua_create` NAME:ID,
    /// `alua_delete` NAME, `alua:GROUP:KEY` VALUE.
    private func updateALUA(object: String, attribute: String, value: String) throws -> AdminResponse {
        var edited = daemon.model
        switch attribute {
        case "alua_create":
            let parts = value.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, let id = UInt16(parts[1]) else { throw Refusal("alua_create takes NAME:ID, not \(value)") }
            try edited.createALUAGroup(object: object, name: parts[0], id: id)
        case "alua_delete":
            try edited.deleteALUAGroup(object: object, name: value)
        default:
            let parts = attribute.split(separator: ":", maxSplits: 2).map(String.init)
            guard parts.count == 3, parts[0] == "alua" else { throw Refusal("unknown storage object attribute \(attribute)") }
            try edited.setALUAGroupAttribute(object: object, group: parts[1], key: parts[2], value: value)
        }
        daemon.model = edited
        for (tid, _) in daemon.model.mappings(of: object) { applyALUA(tid: tid) }
        return .success()
    }

    private static func required(_ flag: Bool?, _ parts: [String]) throws -> Bool {
        guard let flag else { throw Refusal("\(parts[0]) takes 0 or 1, not \(parts[1])") }
        return flag
    }

    private func openStore(path: String?, type: String, size: UInt64?, readOnly: Bool, options: String? = nil) throws
        -> Backstore
    {
        do {
            return try BackstoreFactory.open(
                path: path, type: type, size: size, readOnly: readOnly, options: options, ioPool: daemon.ioPool)
        } catch {
            throw Refusal("cannot open \(path ?? type): \(error)")
        }
    }

    /// `--mode logicalunit --op new` with a storage object: maps it (LUN chosen when absent).
    func mapStorageObject(_ target: ExportedTarget, _ request: AdminRequest) -> AdminResponse {
        guard let name = request.storageObject, let store = daemon.namedStores[name],
            let object = daemon.model.storageObject(named: name)
        else {
            return AdminResponse(exitCode: EINVAL, message: "No storage object named \(request.storageObject ?? "")")
        }
        let used = Set(target.device.logicalUnits.map(\.lun))
        if let existing = daemon.model.target(tid: target.tid)?.luns.first(where: { $0.storageObject == name }) {
            return AdminResponse(exitCode: EEXIST, message: "\(name) is already mapped as LUN \(existing.lun) of \(target.name)")
        }
        let lun = request.lun ?? (1...).first { !used.contains(UInt64($0)) }.map(UInt64.init)!
        if used.contains(lun) { return .failure(.logicalUnitExists) }
        var blockSize = 512
        if let text = request.blockSize {
            guard let size = Int(text), [512, 1024, 2048, 4096].contains(size) else {
                return .failure(TgtadmError.invalidRequest.because("block size \(text) is not 512, 1024, 2048 or 4096"))
            }
            blockSize = size
        }
        var options = LogicalUnitOptions()
        options.readOnly = object.readOnly
        options.writeCache = object.writeCache
        options.serialNumber = object.serial
        options.thinProvisioning = object.thinProvisioning ?? false
        options.adoptIdentity(of: store)
        do {
            try target.device.addLogicalUnit(lun, backstore: store, blockSize: blockSize, options: options)
        } catch {
            return AdminResponse(exitCode: EINVAL, message: "cannot map \(name) as LUN \(lun): \(error)")
        }
        daemon.model.update(tid: target.tid) { $0.luns.append(LUNConfiguration(lun: lun, storageObject: name, blockSize: blockSize)) }
        applyALUA(tid: target.tid)
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
        let index = daemon.model.target(tid: target.tid)?.nodeACLIndex(name)
        let change = CHAPCredentials(
            userID: request.user, password: request.password, mutualUserID: request.mutualUser,
            mutualPassword: request.mutualPassword)
        switch request.op {
        case .new:
            guard (try? ISCSIName.validate(name)) != nil else { throw Refusal("invalid initiator name \(name)") }
            if index != nil { throw Refusal("ACL for \(name) exists") }
            var auth = CHAPCredentials()
            auth.merge(change)
            daemon.model.bind(.initiatorName(name, auth: auth), tid: target.tid)
        case .delete:
            guard index != nil else { throw Refusal("No ACL for \(name)") }
            daemon.model.unbind(kind: .initiatorName, value: name, tid: target.tid)
        case .update:
            guard let index else { throw Refusal("No ACL for \(name)") }
            daemon.model.update(tid: target.tid) { $0.access[index].auth.merge(change) }
        default:
            throw TgtadmError.unsupportedOperation
        }
        applyAccess(tid: target.tid)
        return .success()
    }

    private func tpg(_ request: AdminRequest) throws -> AdminResponse {
        guard request.op == .update else { throw TgtadmError.unsupportedOperation }
        if request.tid == 0, request.name == nil {
            // LIO's discovery_auth: the accounts bound to discovery sessions.
            try daemon.model.updateTPGCredentials(
                tid: 0,
                CHAPCredentials(
                    userID: request.user, password: request.password, mutualUserID: request.mutualUser,
                    mutualPassword: request.mutualPassword))
            applyAuthentication(tid: 0)
            return .success()
        }
        let target = try target(of: request)
        if let name = request.name {
            guard let value = request.value, value == "0" || value == "1" else {
                throw Refusal("\(name) takes 0 or 1")
            }
            switch name {
            case "authentication": daemon.model.update(tid: target.tid) { $0.authentication = value == "1" }
            // The same thing as tgt's `-I ALL`.
            case "generate_node_acls": daemon.model.update(tid: target.tid) { $0.generateNodeACLs = value == "1" }
            default: throw Refusal("unsupported TPG attribute \(name)")
            }
        } else {
            try daemon.model.updateTPGCredentials(
                tid: target.tid,
                CHAPCredentials(
                    userID: request.user, password: request.password, mutualUserID: request.mutualUser,
                    mutualPassword: request.mutualPassword))
        }
        applyAccess(tid: target.tid)
        return .success()
    }
}
