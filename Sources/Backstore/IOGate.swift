#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Tracks in-flight IO so that `close()` never releases a file descriptor or mapping while another
/// thread still uses it: the release runs when the last operation leaves.
///
/// A plain pthread mutex keeps this module free of extra package dependencies; it is held only for a
/// counter update, so contention is negligible.
final class IOGate: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var inFlight = 0
    private var closed = false
    private var release: (() -> Void)?

    /// - Parameter release: frees the resource; called exactly once, after `close()` and after every
    ///   admitted operation has left.
    init(release: @escaping () -> Void) {
        self.release = release
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        // Normally `close()` already ran the release; this covers stores dropped without closing.
        release?()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Admits one operation; returns false once the store is closed.
    func enter() -> Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        if closed { return false }
        inFlight += 1
        return true
    }

    /// Ends an operation admitted by `enter()`.
    func leave() {
        pthread_mutex_lock(mutex)
        inFlight -= 1
        let releaseNow = closed && inFlight == 0 ? takeRelease() : nil
        pthread_mutex_unlock(mutex)
        releaseNow?()
    }

    /// Refuses new operations and releases the resource once the in-flight ones finish.
    /// Returns false if the gate was already closed.
    @discardableResult
    func close() -> Bool {
        pthread_mutex_lock(mutex)
        if closed {
            pthread_mutex_unlock(mutex)
            return false
        }
        closed = true
        let releaseNow = inFlight == 0 ? takeRelease() : nil
        pthread_mutex_unlock(mutex)
        releaseNow?()
        return true
    }

    private func takeRelease() -> (() -> Void)? {
        defer { release = nil }
        return release
    }
}

extension BackstoreError {
    static let closedStore = BackstoreError(.closed, errno: EBADF, "backing store is closed")

    /// Validates a request against the store size without overflowing.
    static func checkRange(offset: UInt64, length: Int, size: UInt64) -> BackstoreError? {
        if length < 0 {
            return BackstoreError(.invalidArgument, errno: EINVAL, "negative IO length \(length)")
        }
        let (end, overflow) = offset.addingReportingOverflow(UInt64(length))
        if overflow || end > size {
            return BackstoreError(
                .outOfRange, errno: EINVAL,
                "IO of \(length) bytes at offset \(offset) exceeds the store size \(size)")
        }
        return nil
    }
}
