extension DaemonConfiguration {
    /// Why a decoded state file cannot be loaded, or nil: a newer version, or a target id that
    /// no request can carry (tgt's tids are 32-bit; replaying such a target would trap).
    var loadProblem: String? {
        if version > Self.currentVersion { return "written by a newer version (\(version))" }
        if let target = targets.first(where: { Int32(exactly: $0.tid) == nil }) {
            return "target id \(target.tid) is out of range"
        }
        return nil
    }

    /// The tgtadm requests that rebuild this configuration in an empty daemon, in dependency
    /// order (accounts before their bindings, targets before their LUNs and ACLs).
    public func replayRequests() -> [AdminRequest] {
        let configuration = self
        var requests: [AdminRequest] = []
        for portal in configuration.portals {
            let host = portal.host.contains(":") ? "[\(portal.host)]" : portal.host
            let tag = portal.tag == 1 ? "" : ",\(portal.tag)"
            requests.append(AdminRequest(mode: .portal, op: .new, params: "portal=\(host):\(portal.port)\(tag)"))
        }
        for account in configuration.accounts {
            requests.append(AdminRequest(mode: .account, op: .new, user: account.user, password: account.password))
        }
        for user in configuration.discoveryIncomingUsers {
            requests.append(AdminRequest(mode: .account, op: .bind, user: user))
        }
        if let user = configuration.discoveryOutgoingUser {
            requests.append(AdminRequest(mode: .account, op: .bind, user: user, outgoing: true))
        }
        for object in configuration.storageObjects where DaemonConfiguration.isNamed(object) {
            requests.append(object.creationRequest)
            requests += configuration.aluaGroupRequests(of: object)
        }
        for target in configuration.targets {
            let tid = Int32(target.tid)
            requests.append(AdminRequest(mode: .target, op: .new, tid: tid, targetName: target.name))
            if let groups = target.portalGroups {
                requests.append(
                    AdminRequest(
                        mode: .target, op: .update, tid: tid, name: "portal_groups",
                        value: groups.isEmpty ? "none" : groups.map(String.init).joined(separator: ",")))
            }
            for lun in target.luns {
                if lun.lun != 0, let object = configuration.storageObject(named: lun.storageObject),
                    DaemonConfiguration.isNamed(object)
                {
                    requests.append(
                        AdminRequest(
                            mode: .logicalUnit, op: .new, tid: tid, lun: lun.lun,
                            blockSize: lun.blockSize == 512 ? nil : String(lun.blockSize), storageObject: object.name))
                } else if lun.lun != 0, let object = configuration.storageObject(named: lun.storageObject) {
                    requests.append(
                        AdminRequest(
                            mode: .logicalUnit, op: .new, tid: tid, lun: lun.lun, backingStore: object.path,
                            bsType: object.bsType ?? (object.kind == .null ? "null" : "rdwr"), bsOpts: object.bsOptions,
                            bsOFlags: object.openFlags,
                            blockSize: lun.blockSize == 512 ? nil : String(lun.blockSize)))
                }
                for params in lun.parameters {
                    requests.append(AdminRequest(mode: .logicalUnit, op: .update, tid: tid, lun: lun.lun, params: params))
                }
                if let object = configuration.storageObject(named: lun.storageObject), !DaemonConfiguration.isNamed(object) {
                    requests += configuration.aluaGroupRequests(of: object)
                }
                for member in lun.aluaMembership ?? [] {
                    requests.append(
                        AdminRequest(
                            mode: .logicalUnit, op: .update, tid: tid, lun: lun.lun,
                            params: "alua_tg_pt_gp=\(member.portalGroup):\(member.group)"))
                }
            }
            for entry in target.access {
                switch entry.kind {
                case .address:
                    requests.append(AdminRequest(mode: .target, op: .bind, tid: tid, initiatorAddress: entry.value))
                case .initiatorName:
                    requests.append(AdminRequest(mode: .target, op: .bind, tid: tid, initiatorName: entry.value))
                    if !entry.auth.isEmpty {
                        requests.append(
                            AdminRequest(
                                mode: .nodeACL, op: .update, tid: tid, initiatorName: entry.value, user: entry.auth.userID,
                                password: entry.auth.password, mutualUser: entry.auth.mutualUserID,
                                mutualPassword: entry.auth.mutualPassword))
                    }
                }
            }
            if let authentication = target.authentication {
                requests.append(
                    AdminRequest(mode: .tpg, op: .update, tid: tid, name: "authentication", value: authentication ? "1" : "0"))
            }
            for user in target.incomingUsers {
                requests.append(AdminRequest(mode: .account, op: .bind, tid: tid, user: user))
            }
            if let user = target.outgoingUser {
                requests.append(AdminRequest(mode: .account, op: .bind, tid: tid, user: user, outgoing: true))
            }
            if target.state != "ready" {
                requests.append(AdminRequest(mode: .target, op: .update, tid: tid, name: "state", value: target.state))
            }
        }
        return requests
    }

}
