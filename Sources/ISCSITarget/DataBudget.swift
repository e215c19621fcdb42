import Atomics

/// Bytes of initiators' data the whole daemon holds at once: Data-Out gathered for writes, read
/// data being produced, responses not yet taken by the initiator. Every connection draws on it
/// (and on a budget of its own) before soliciting or producing data; a connection over budget
/// leaves its commands waiting and its CmdSN window closed until responses drain.
public final class DataBudget: Sendable {
    public let limit: Int
    private let used = ManagedAtomic<Int>(0)

    public init(limit: Int) {
        self.limit = limit
    }

    public var usedBytes: Int { used.load(ordering: .relaxed) }

    /// Takes `bytes` if they fit under the limit.
    func tryReserve(_ bytes: Int) -> Bool {
        var current = used.load(ordering: .relaxed)
        while current + bytes <= limit {
            let (exchanged, original) = used.compareExchange(
                expected: current, desired: current + bytes, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// Takes `bytes` whatever the limit: for data that exists already (a response being sent), or
    /// the one command a connection with nothing in flight may always run, so none starves.
    func forceReserve(_ bytes: Int) {
        used.wrappingIncrement(by: bytes, ordering: .relaxed)
    }

    func release(_ bytes: Int) {
        used.wrappingDecrement(by: bytes, ordering: .relaxed)
    }
}
