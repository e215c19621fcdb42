import NIOCore

/// Commands of a multipath LU waiting for a path, as dm-multipath's `queue_if_no_path` with
/// `no_path_retry N`: when the last path goes, commands wait up to `limit`; past it the waiting
/// ones fail and new ones fail at once, until a path is back. Pure: the runner gives the time.
///
/// Bounded: beyond `capacity` commands a new one fails at once. The FUSE layer allows at most
/// `LUNFileSystem.Options.maxBackground` requests outstanding and the kernel stops sending more
/// meanwhile, which pushes back on the block layer long before the bound.
struct NoPathQueue<Item> {
    /// How long commands wait without a path; nil: they fail at once (`no_path_retry fail`).
    let limit: TimeAmount?
    let capacity: Int
    /// When the last path went (nil while there is one).
    private(set) var since: NIODeadline?
    private var items: CircularBuffer<Item>

    init(limit: TimeAmount?, capacity: Int) {
        self.limit = limit
        self.capacity = max(1, capacity)
        self.items = CircularBuffer(initialCapacity: 16)
    }

    var count: Int { items.count }

    enum Decision: Equatable {
        case queued
        /// Fails at once, saying why.
        case fail(String)
    }

    /// The last usable path went at `now` (the clock keeps its first start).
    mutating func lost(now: NIODeadline) {
        if since == nil { since = now }
    }

    /// No path for `item` at `now`: queue it or say why not.
    mutating func add(_ item: Item, now: NIODeadline) -> Decision {
        if since == nil { since = now }
        guard let limit else { return .fail("no path to the LU (no_path_retry fail)") }
        if now - since! >= limit { return .fail(expiredReason(limit)) }
        guard items.count < capacity else { return .fail("no path to the LU and \(capacity) commands already wait for one") }
        items.append(item)
        return .queued
    }

    /// A path is usable again: every waiting command, in arrival order, and the clock stops.
    mutating func pathAvailable() -> [Item] {
        since = nil
        guard !items.isEmpty else { return [] }
        defer { items.removeAll(keepingCapacity: true) }
        return Array(items)
    }

    /// Called every polling interval: past the limit, the waiting commands and why they fail.
    mutating func expire(now: NIODeadline) -> (items: [Item], reason: String) {
        guard let since, let limit, now - since >= limit, !items.isEmpty else { return ([], "") }
        defer { items.removeAll(keepingCapacity: true) }
        return (Array(items), expiredReason(limit))
    }

    private func expiredReason(_ limit: TimeAmount) -> String {
        let ms = limit.nanoseconds / 1_000_000
        let text = ms % 1000 == 0 ? "\(ms / 1000) s" : "\(Double(ms) / 1000) s"
        return "no path to the LU for \(text) (no_path_retry)"
    }
}
