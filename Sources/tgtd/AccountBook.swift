import ISCSIAdmin
import ISCSIProtocol
import ISCSITarget
import NIOConcurrencyHelpers

/// tgtadm's accounts: CHAP users with their passwords, bound to targets (incoming, or one
/// outgoing for mutual CHAP) or, without a target, to discovery sessions. Every change is pushed
/// into the targets' `TargetAuthentication`, which logins read.
final class AccountBook: @unchecked Sendable {
    struct Binding: Equatable {
        var incoming: [String] = []
        var outgoing: String?
    }

    private let lock = NIOLock()
    /// In creation order.
    private var accounts: [(user: String, password: String)] = []
    /// By tid; tid 0 stands for discovery sessions.
    private var bindings: [Int: Binding] = [:]

    var users: [String] { lock.withLock { accounts.map(\.user) } }
    var allAccounts: [(user: String, password: String)] { lock.withLock { accounts } }
    func binding(tid: Int) -> Binding { lock.withLock { bindings[tid] ?? Binding() } }

    func add(user: String, password: String) throws {
        try lock.withLock {
            if accounts.contains(where: { $0.user == user }) { throw TgtadmError.accountExists }
            accounts.append((user, password))
        }
    }

    /// Removes the account and every binding of it; returns the tids whose settings changed.
    func remove(user: String) throws -> [Int] {
        try lock.withLock {
            guard let index = accounts.firstIndex(where: { $0.user == user }) else { throw TgtadmError.noAccount }
            accounts.remove(at: index)
            var changed: [Int] = []
            for (tid, var binding) in bindings {
                let before = binding
                binding.incoming.removeAll { $0 == user }
                if binding.outgoing == user { binding.outgoing = nil }
                if binding != before {
                    bindings[tid] = binding
                    changed.append(tid)
                }
            }
            return changed
        }
    }

    func bind(user: String, tid: Int, outgoing: Bool) throws {
        try lock.withLock {
            guard accounts.contains(where: { $0.user == user }) else { throw TgtadmError.noAccount }
            var binding = bindings[tid] ?? Binding()
            if outgoing {
                if binding.outgoing != nil { throw TgtadmError.outgoingAccountExists }
                binding.outgoing = user
            } else {
                if binding.incoming.contains(user) { throw TgtadmError.accountExists }
                binding.incoming.append(user)
            }
            bindings[tid] = binding
        }
    }

    func unbind(user: String, tid: Int, outgoing: Bool) throws {
        try lock.withLock {
            var binding = bindings[tid] ?? Binding()
            if outgoing {
                guard binding.outgoing == user else { throw TgtadmError.noAccount }
                binding.outgoing = nil
            } else {
                guard let index = binding.incoming.firstIndex(of: user) else { throw TgtadmError.noAccount }
                binding.incoming.remove(at: index)
            }
            bindings[tid] = binding
        }
    }

    /// Why mutual CHAP logins to `tid` (0: discovery) will fail, when the outgoing account shares
    /// its secret with an incoming one (RFC 7143 9.2.1); one-way logins are not affected.
    func sharedSecretWarning(tid: Int) -> String? {
        lock.withLock {
            let binding = bindings[tid] ?? Binding()
            func secret(of user: String) -> String? { accounts.first { $0.user == user }?.password }
            guard let outgoing = binding.outgoing, let shared = secret(of: outgoing),
                let incoming = binding.incoming.first(where: { secret(of: $0) == shared })
            else { return nil }
            let place = tid == 0 ? "discovery" : "target \(tid)"
            let who = incoming == outgoing ? "account \(outgoing) is bound" : "accounts \(incoming) and \(outgoing) are bound"
            return "warning: \(who) to \(place) incoming and outgoing with the same secret: one-way CHAP logins "
                + "work, mutual CHAP logins will be refused (RFC 7143 forbids one secret both ways)"
        }
    }

    func forget(tid: Int) { lock.withLock { _ = bindings.removeValue(forKey: tid) } }

    /// The CHAP settings a login to `tid` (0: discovery) uses.
    func authentication(tid: Int) -> TargetAuthentication {
        lock.withLock {
            let binding = bindings[tid] ?? Binding()
            var auth = TargetAuthentication()
            for user in binding.incoming {
                if let account = accounts.first(where: { $0.user == user }) { auth.incoming[user] = account.password }
            }
            if let user = binding.outgoing, let account = accounts.first(where: { $0.user == user }) {
                auth.outgoing = CHAPCredential(name: user, secret: account.password)
            }
            return auth
        }
    }
}
