import NIOConcurrencyHelpers
import NIOCore

/// Bounds the connections that are still logging in: a few per source address, and a ceiling
/// for all of them at which the oldest gives way to the newest. With the login timeout this keeps
/// a peer that opens connections and never finishes logging in from holding descriptors or
/// locking out other initiators.
final class LoginGate: @unchecked Sendable {
    /// Closes one connection (from any thread); the gate never keeps a connection alive.
    typealias Closer = @Sendable (String) -> Void

    enum Admission {
        case admitted(evicting: Closer?)
        case refused(String)
    }

    private struct Entry {
        var address: String
        var close: Closer
    }

    private let lock = NIOLock()
    private let maxInProgress: Int
    private let maxPerAddress: Int
    /// In the order they arrived, so the first is the one logging in the longest.
    private var entries: [ObjectIdentifier: (order: UInt64, entry: Entry)] = [:]
    private var perAddress: [String: Int] = [:]
    private var nextOrder: UInt64 = 0

    init(maxInProgress: Int, maxPerAddress: Int) {
        self.maxInProgress = max(1, maxInProgress)
        self.maxPerAddress = max(1, maxPerAddress)
    }

    var inProgress: Int { lock.withLock { entries.count } }

    /// A new connection from `address` starts its login.
    func enter(_ id: ObjectIdentifier, address: String, close: @escaping Closer) -> Admission {
        lock.withLock {
            let fromAddress = perAddress[address, default: 0]
            guard fromAddress < maxPerAddress else {
                return .refused("\(fromAddress) connections from \(address) are already logging in")
            }
            var evicted: Closer?
            if entries.count >= maxInProgress, let oldest = entries.min(by: { $0.value.order < $1.value.order }) {
                evicted = oldest.value.entry.close
                removeLocked(oldest.key)
            }
            entries[id] = (nextOrder, Entry(address: address, close: close))
            nextOrder += 1
            perAddress[address, default: 0] += 1
            return .admitted(evicting: evicted)
        }
    }

    /// The connection finished its login (or closed).
    func leave(_ id: ObjectIdentifier) {
        lock.withLock { removeLocked(id) }
    }

    private func removeLocked(_ id: ObjectIdentifier) {
        guard let (_, entry) = entries.removeValue(forKey: id) else { return }
        let left = perAddress[entry.address, default: 1] - 1
        perAddress[entry.address] = left > 0 ? left : nil
    }
}
