/// A refusal with its own one-line reason (targetcli prints it as is; tgtadm after "tgtadm: ").
public struct AdminRefusal: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The changes every front end makes to the one model. Pure: the daemon applies them, then
/// brings its running objects (open stores, target ACLs, login settings) in line.
extension DaemonConfiguration {
    /// tid 0 stands for discovery sessions, as tgt's GLOBAL_TID.
    static let discoveryTID = 0

    // MARK: Accounts (tgt's accounts; LIO's TPG-wide credentials are the same objects)

    public mutating func addAccount(user: String, password: String) throws {
        guard !user.isEmpty else { throw TgtadmError.invalidRequest.because("an account needs a user name") }
        if account(user: user) != nil { throw TgtadmError.accountExists }
        accounts.append(AccountConfiguration(user: user, password: password))
    }

    /// Removes the account and every binding of it; returns the tids (0: discovery) whose
    /// login settings changed.
    @discardableResult
    public mutating func removeAccount(user: String) throws -> [Int] {
        guard let index = accounts.firstIndex(where: { $0.user == user }) else { throw TgtadmError.noAccount }
        accounts.remove(at: index)
        var changed: [Int] = []
        if discoveryIncomingUsers.contains(user) || discoveryOutgoingUser == user {
            discoveryIncomingUsers.removeAll { $0 == user }
            if discoveryOutgoingUser == user { discoveryOutgoingUser = nil }
            changed.append(Self.discoveryTID)
        }
        for index in targets.indices where targets[index].incomingUsers.contains(user) || targets[index].outgoingUser == user {
            targets[index].incomingUsers.removeAll { $0 == user }
            if targets[index].outgoingUser == user { targets[index].outgoingUser = nil }
            changed.append(targets[index].tid)
        }
        return changed
    }

    /// The accounts bound to `tid` (0: discovery).
    public func binding(tid: Int) -> (incoming: [String], outgoing: String?) {
        if tid == Self.discoveryTID { return (discoveryIncomingUsers, discoveryOutgoingUser) }
        guard let target = target(tid: tid) else { return ([], nil) }
        return (target.incomingUsers, target.outgoingUser)
    }

    private mutating func setBinding(tid: Int, incoming: [String], outgoing: String?) {
        if tid == Self.discoveryTID {
            discoveryIncomingUsers = incoming
            discoveryOutgoingUser = outgoing
        } else if let index = targetIndex(tid: tid) {
            targets[index].incomingUsers = incoming
            targets[index].outgoingUser = outgoing
        }
    }

    public mutating func bindAccount(user: String, tid: Int, outgoing: Bool) throws {
        guard account(user: user) != nil else { throw TgtadmError.noAccount }
        var (incoming, out) = binding(tid: tid)
        if outgoing {
            if out != nil { throw TgtadmError.outgoingAccountExists }
            out = user
        } else {
            if incoming.contains(user) { throw TgtadmError.accountExists }
            incoming.append(user)
        }
        setBinding(tid: tid, incoming: incoming, outgoing: out)
    }

    public mutating func unbindAccount(user: String, tid: Int, outgoing: Bool) throws {
        var (incoming, out) = binding(tid: tid)
        if outgoing {
            guard out == user else { throw TgtadmError.noAccount }
            out = nil
        } else {
            guard let index = incoming.firstIndex(of: user) else { throw TgtadmError.noAccount }
            incoming.remove(at: index)
        }
        setBinding(tid: tid, incoming: incoming, outgoing: out)
    }

    /// Why mutual CHAP logins to `tid` (0: discovery) will fail, when the outgoing account shares
    /// its secret with an incoming one (RFC 7143 9.2.1); one-way logins are not affected.
    public func sharedSecretWarning(tid: Int) -> String? {
        let (incomingUsers, outgoingUser) = binding(tid: tid)
        func secret(of user: String) -> String? { account(user: user)?.password }
        guard let outgoing = outgoingUser, let shared = secret(of: outgoing),
            let incoming = incomingUsers.first(where: { secret(of: $0) == shared })
        else { return nil }
        let place = tid == Self.discoveryTID ? "discovery" : "target \(tid)"
        let who = incoming == outgoing ? "account \(outgoing) is bound" : "accounts \(incoming) and \(outgoing) are bound"
        return "warning: \(who) to \(place) incoming and outgoing with the same secret: one-way CHAP logins "
            + "work, mutual CHAP logins will be refused (RFC 7143 forbids one secret both ways)"
    }

    /// LIO's `set auth` on a TPG: nil leaves a field, "" clears it. The TPG's userid/password is
    /// the target's first incoming account and mutual_userid/mutual_password its outgoing one, so
    /// a change creates, re-passwords or rebinds accounts. An account bound elsewhere keeps its
    /// password: tgt's accounts are shared, and changing it would change other targets' logins.
    public mutating func updateTPGCredentials(tid: Int, _ change: CHAPCredentials) throws {
        guard tid == Self.discoveryTID || targetIndex(tid: tid) != nil else { throw TgtadmError.noTarget }
        var (incoming, outgoing) = binding(tid: tid)
        var wanted = credentials(incoming: incoming, outgoing: outgoing)
        wanted.merge(change)
        if change.userID != nil || change.password != nil {
            let user = try credentialAccount(wanted.userID, wanted.password, tid: tid, what: "userid")
            if !incoming.isEmpty { incoming.removeFirst() }
            if let user {
                incoming.removeAll { $0 == user }
                incoming.insert(user, at: 0)
            }
        }
        if change.mutualUserID != nil || change.mutualPassword != nil {
            outgoing = try credentialAccount(wanted.mutualUserID, wanted.mutualPassword, tid: tid, what: "mutual_userid")
        }
        setBinding(tid: tid, incoming: incoming, outgoing: outgoing)
    }

    /// LIO's CHAP view of tgt's bindings to `tid` (0: discovery, LIO's discovery_auth).
    public func tpgCredentials(tid: Int) -> CHAPCredentials {
        let (incoming, outgoing) = binding(tid: tid)
        return credentials(incoming: incoming, outgoing: outgoing)
    }

    private func credentials(incoming: [String], outgoing: String?) -> CHAPCredentials {
        var credentials = CHAPCredentials()
        if let user = incoming.first {
            credentials.userID = user
            credentials.password = account(user: user)?.password
        }
        if let user = outgoing {
            credentials.mutualUserID = user
            credentials.mutualPassword = account(user: user)?.password
        }
        return credentials
    }

    /// The account a pair of TPG credentials stands for (nil when both are cleared), created or
    /// re-passworded as needed.
    private mutating func credentialAccount(
        _ user: String?, _ password: String?, tid: Int, what: String
    ) throws -> String? {
        switch (user, password) {
        case (nil, nil): return nil
        case (let user?, let password?):
            if let existing = account(user: user) {
                guard existing.password != password else { return user }
                let elsewhere = isBound(user: user, exceptTID: tid)
                guard !elsewhere else {
                    throw AdminRefusal(
                        "account \(user) is bound to other targets with another password; tgt's accounts are shared, "
                            + "so choose another \(what) or change the password with tgtadm for all of them")
                }
                if let index = accounts.firstIndex(where: { $0.user == user }) { accounts[index].password = password }
            } else {
                accounts.append(AccountConfiguration(user: user, password: password))
            }
            return user
        default:
            let missing = user == nil ? what : String(what.dropLast("userid".count)) + "password"
            throw AdminRefusal(
                "\(missing) is not set: the TPG's credentials are a tgt account, so give \(what) and its password together")
        }
    }

    private func isBound(user: String, exceptTID tid: Int) -> Bool {
        if discoveryIncomingUsers.contains(user) || discoveryOutgoingUser == user { return true }
        return targets.contains { $0.tid != tid && ($0.incomingUsers.contains(user) || $0.outgoingUser == user) }
    }

    /// Changes one target in place; nothing when there is none of that tid.
    public mutating func update(tid: Int, _ change: (inout TargetConfiguration) -> Void) {
        if let index = targetIndex(tid: tid) { change(&targets[index]) }
    }

    // MARK: ACLs

    /// tgt's `--op bind --mode target`: `ALL`, an address or network (already validated), or an
    /// initiator name. False when the rule is already there.
    @discardableResult
    public mutating func bind(_ entry: AccessEntry, tid: Int) -> Bool {
        guard let index = targetIndex(tid: tid) else { return false }
        let exists = targets[index].access.contains { $0.kind == entry.kind && $0.value.lowercased() == entry.value.lowercased() }
        if exists { return false }
        targets[index].access.append(entry)
        return true
    }

    @discardableResult
    public mutating func unbind(kind: AccessEntry.Kind, value: String, tid: Int) -> Bool {
        guard let index = targetIndex(tid: tid) else { return false }
        let before = targets[index].access.count
        targets[index].access.removeAll { $0.kind == kind && $0.value.lowercased() == value.lowercased() }
        return targets[index].access.count != before
    }
}

extension CHAPCredentials {
    /// Applies an update: nil leaves a field, "" clears it.
    public mutating func merge(_ change: CHAPCredentials) {
        func merged(_ old: String?, _ new: String?) -> String? {
            guard let new else { return old }
            return new.isEmpty ? nil : new
        }
        userID = merged(userID, change.userID)
        password = merged(password, change.password)
        mutualUserID = merged(mutualUserID, change.mutualUserID)
        mutualPassword = merged(mutualPassword, change.mutualPassword)
    }
}
