#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch

/// One asynchronous librados call: `finish` runs once with its return code, on a librados
/// thread (or the caller's if librados refused the call). Retained through librados' `arg`.
final class RADOSObjectCall: @unchecked Sendable {
    let lib: LibRADOSObjects
    private let finish: (Int32) -> Void

    init(lib: LibRADOSObjects, finish: @escaping (Int32) -> Void) {
        self.lib = lib
        self.finish = finish
    }

    func start(_ body: (LibRADOSObjects.Handle) -> Int32) {
        let argument = Unmanaged.passRetained(self).toOpaque()
        var completion: LibRADOSObjects.Handle?
        var rc = lib.aioCreateCompletion2(argument, radosObjectCompletion, &completion)
        if rc == 0, let completion {
            rc = body(completion)
            if rc >= 0 { return }
            lib.aioRelease(completion)
        } else if rc == 0 {
            rc = -ENOMEM
        }
        Unmanaged<RADOSObjectCall>.fromOpaque(argument).release()
        finish(rc)
    }

    fileprivate func complete(_ rc: Int32) { finish(rc) }

    /// Starts a call and waits for it at most `timeoutSeconds`: its code, or nil on timeout.
    /// Blocks: for opening and closing, off the event loops.
    static func wait(
        lib: LibRADOSObjects, timeoutSeconds: Double, finish: @escaping (Int32) -> Void = { _ in },
        _ body: (LibRADOSObjects.Handle) -> Int32
    ) -> Int32? {
        let semaphore = DispatchSemaphore(value: 0)
        let resultBox = ResultCell()
        let call = RADOSObjectCall(lib: lib) { rc in
            finish(rc)
            resultBox.set(rc)
            semaphore.signal()
        }
        call.start(body)
        guard semaphore.wait(timeout: .now() + timeoutSeconds) == .success else { return nil }
        return resultBox.get()
    }
}

/// An Int32 set on one thread and read on another.
private final class ResultCell: @unchecked Sendable {
    private let mutex = PThreadMutex()
    private var value: Int32 = 0
    func set(_ newValue: Int32) { mutex.withLock { value = newValue } }
    func get() -> Int32 { mutex.withLock { value } }
}

/// A plain pthread mutex (this module has no locking package).
final class PThreadMutex: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    init() { pthread_mutex_init(mutex, nil) }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}

/// librados' completion callback: a nonisolated global function without captures (a closure
/// written in main-actor code and called on a librados thread kills the process with SIGILL).
private func radosObjectCompletion(_ completion: UnsafeMutableRawPointer?, _ argument: UnsafeMutableRawPointer?) {
    guard let argument else { return }
    let call = Unmanaged<RADOSObjectCall>.fromOpaque(argument).takeRetainedValue()
    let rc = call.lib.aioGetReturnValue(completion)
    call.lib.aioRelease(completion)
    call.complete(rc)
}
