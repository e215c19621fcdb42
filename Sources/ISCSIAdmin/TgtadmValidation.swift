/// tgtadm's per-mode checks, run after every option was read, in tgt's order and with its texts.
extension ParsedOptions {
    func validate() throws {
        guard let op else { throw TgtadmUsageError.plain("specify the operation type") }
        guard let mode else { throw TgtadmUsageError.plain("specify the mode") }
        switch mode {
        case .system: try validateSystem(op)
        case .target: try validateTarget(op)
        case .account: try validateAccount(op)
        case .logicalUnit: try validateLogicalUnit(op)
        case .portal: try validatePortal(op)
        case .lld: try validateLLD(op)
        case .session, .connection: break  // tgtadm leaves these to the daemon
        case .nodeACL: try validateNodeACL(op)
        case .tpg: try validateTPG(op)
        case .storageObject, .configuration: break  // no tgtadm spelling reaches here
        }
    }

    private func validateSystem(_ op: AdminOperation) throws {
        switch op {
        case .update:
            try allowOnly("LmonvC", mode: "system")
            try requireNameAndValue()
        case .show, .delete, .stat:
            break
        default:
            throw unsupported(in: "system")
        }
    }

    private func validateTarget(_ op: AdminOperation) throws {
        if op != .show, (tid ?? -1) <= 0 {
            throw TgtadmUsageError.plain(tid == 0 ? "'tid' cannot be 0" : "'tid' option is necessary")
        }
        switch op {
        case .new:
            try allowOnly("LmotTC", mode: "target")
            if targetName == nil {
                throw TgtadmUsageError.plain("creating new target requires a name, use --targetname")
            }
        case .delete:
            try allowOnly("LmotCF", mode: "target")
        case .show, .stat:
            try allowOnly("LmotC", mode: "target")
        case .bind, .unbind:
            try allowOnly("LmotIQBHC", mode: "target")
            if initiatorAddress == nil && initiatorName == nil && hostNumber == 0 {
                // tgt's text really lacks the space before "or".
                throw TgtadmUsageError.plain("\(opName) operation requires initiator-address, initiator-nameor bus")
            }
        case .update:
            try allowOnly("LmotnvC", mode: "target")
            try requireNameAndValue()
        default:
            throw unsupported(in: "target")
        }
    }

    private func validateAccount(_ op: AdminOperation) throws {
        switch op {
        case .new:
            try allowOnly("LmoupfC", mode: "account")
            if user == nil || password == nil {
                throw TgtadmUsageError.plain("'user' and 'password' options are required")
            }
        case .show:
            try allowOnly("LmoC", mode: "account")
        case .delete:
            try allowOnly("LmouC", mode: "account")
        case .bind, .unbind:
            try allowOnly("LmotuOC", mode: "account")
            if user == nil { throw TgtadmUsageError.plain("'user' option is necessary") }
        default:
            throw unsupported(in: "account")
        }
    }

    private func validateLogicalUnit(_ op: AdminOperation) throws {
        if (tid ?? -1) <= 0 {
            throw TgtadmUsageError.plain(tid == 0 ? "'tid' must not be 0" : "'tid' option is necessary")
        }
        if lun == nil { throw TgtadmUsageError.plain("'lun' option is necessary") }
        switch op {
        case .new:
            try allowOnly("LmofytlbEYCS", mode: "logicalunit")
            if backingStore == nil && !["cd", "tape", "disk"].contains(deviceType) {
                throw TgtadmUsageError.plain("'backing-store' option is necessary")
            }
        case .delete, .stat:
            try allowOnly("LmotlC", mode: "logicalunit")
        case .update:
            try allowOnly("LmofytlPC") { "option '-\($0)' not supported in logicalunit mode" }
        default:
            throw unsupported(in: "logicalunit")
        }
    }

    private func validatePortal(_ op: AdminOperation) throws {
        switch op {
        case .new, .delete:
            try allowOnly("LmoCP", mode: "portal")
            if portalParams == nil { throw TgtadmUsageError.plain("you must specify --param portal=<portal>") }
        case .show:
            try allowOnly("LmoC") { "option '-\($0)' not supported in portal mode" }
        default:
            throw unsupported(in: "portal")
        }
    }

    /// Ours: `--op new|delete|update --mode nodeacl --tid T --initiator-name IQN [--user U
    /// --password P [--outgoing]]`, LIO's node ACL and its CHAP (--outgoing: the mutual pair).
    private func validateNodeACL(_ op: AdminOperation) throws {
        if (tid ?? -1) <= 0 { throw TgtadmUsageError.plain(tid == 0 ? "'tid' cannot be 0" : "'tid' option is necessary") }
        switch op {
        case .new, .update:
            try allowOnly("LmotQupOC", mode: "nodeacl")
        case .delete:
            try allowOnly("LmotQC", mode: "nodeacl")
        default:
            throw unsupported(in: "nodeacl")
        }
        if initiatorName == nil { throw TgtadmUsageError.plain("'initiator-name' option is necessary") }
        if op == .update, user == nil, password == nil {
            throw TgtadmUsageError.plain("update operation requires 'user' or 'password' (\"\" clears one)")
        }
    }

    /// Ours: `--op update --mode tpg --tid T --name authentication|generate_node_acls --value 0|1`.
    private func validateTPG(_ op: AdminOperation) throws {
        if (tid ?? -1) <= 0 { throw TgtadmUsageError.plain(tid == 0 ? "'tid' cannot be 0" : "'tid' option is necessary") }
        guard op == .update else { throw unsupported(in: "tpg") }
        try allowOnly("LmotnvC", mode: "tpg")
        try requireNameAndValue()
    }

    private func validateLLD(_ op: AdminOperation) throws {
        switch op {
        case .start, .stop, .show:
            try allowOnly("LmoC", mode: "lld")
        default:
            throw TgtadmUsageError.plain("option \(op.tgtCode) not supported in lld mode")
        }
    }

    private func requireNameAndValue() throws {
        if name == nil || value == nil {
            throw TgtadmUsageError.plain("update operation requires 'name' and 'value' options")
        }
    }

    private func unsupported(in mode: String) -> TgtadmUsageError {
        .plain("operation \(opName) not supported in \(mode) mode")
    }

    private func allowOnly(_ allowed: String, mode: String) throws {
        try allowOnly(allowed) { "\(mode) mode: option '-\($0)' is not allowed/supported" }
    }

    /// tgt's verify_mode_params: the first option given outside `allowed` (debug is always allowed).
    private func allowOnly(_ allowed: String, message: (Character) -> String) throws {
        if let refused = seen.first(where: { $0 != "d" && !allowed.contains($0) }) {
            throw TgtadmUsageError.plain(message(refused))
        }
    }
}
