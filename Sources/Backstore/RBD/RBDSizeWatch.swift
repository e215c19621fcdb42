#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Follows an RBD image's size through librbd's header watch (`rbd_update_watch`), so that an
/// `rbd resize` on any host reaches the logical unit without an administrator.
///
/// librbd calls back on one of its threads after any header change (resize, snapshots,
/// metadata). The size is then read on a thread of our own: `rbd_get_size` refreshes the header
/// synchronously, which must neither hold up librbd's notification thread nor run on an event
/// loop. Notifications arriving during a check coalesce into one more check.
final class RBDSizeWatch: @unchecked Sendable {
    private struct State {
        var handler: (@Sendable () -> Void)?
        var checking = false
        var again = false
    }

    private let lib: LibRBD
    private let image: LibRBD.ImageHandle
    /// The store's gate: a check runs only while the image is open. Weak: the gate's release
    /// (which stops this watch) must not keep the gate alive.
    weak var gate: IOGate?
    /// The last size read from librbd.
    let observedSize: Atomic<UInt64>
    private let state = Mutex(State())
    private var handle: UInt64 = 0
    /// The retained `self` librbd holds as the callback's argument while watching.
    private var argument: UnsafeMutableRawPointer?

    init(lib: LibRBD, image: LibRBD.ImageHandle, size: UInt64) {
        self.lib = lib
        self.image = image
        observedSize = Atomic(size)
    }

    /// Registers the watch; false (and nothing registered) if librbd refuses it.
    func start() -> Bool {
        let argument = Unmanaged.passRetained(self).toOpaque()
        var handle: UInt64 = 0
        guard lib.rbdUpdateWatch(image, &handle, rbdUpdateCallback, argument) == 0 else {
            Unmanaged<RBDSizeWatch>.fromOpaque(argument).release()
            return false
        }
        self.handle = handle
        self.argument = argument
        return true
    }

    /// Unregisters the watch (librbd waits for a callback in progress) before the image closes.
    /// Called once, from the gate's release, never on librbd's callback thread.
    func stop() {
        guard let argument else { return }
        _ = lib.rbdUpdateUnwatch(image, handle)
        self.argument = nil
        Unmanaged<RBDSizeWatch>.fromOpaque(argument).release()
    }

    func setHandler(_ handler: (@Sendable () -> Void)?) {
        state.withLock { $0.handler = handler }
    }

    /// From librbd's thread: start a check, or ask the running one to look again.
    fileprivate func headerChanged() {
        let start = state.withLock { state -> Bool in
            if state.checking {
                state.again = true
                return false
            }
            state.checking = true
            return true
        }
        if start { runDetached { self.check() } }
    }

    private func check() {
        while true {
            if let gate, gate.enter() {
                var size: UInt64 = 0
                let rc = lib.rbdGetSize(image, &size)
                gate.leave()
                if rc == 0, observedSize.exchange(size, ordering: .relaxed) != size {
                    state.withLock { $0.handler }?()
                }
            }
            let done = state.withLock { state -> Bool in
                if state.again {
                    state.again = false
                    return false
                }
                state.checking = false
                return true
            }
            if done { return }
        }
    }
}

/// librbd's header-watch callback: a nonisolated global function, like `rbdCompletionCallback`.
private func rbdUpdateCallback(_ argument: UnsafeMutableRawPointer?) {
    guard let argument else { return }
    Unmanaged<RBDSizeWatch>.fromOpaque(argument).takeUnretainedValue().headerChanged()
}

/// Runs `body` on a new detached thread (falls back to the caller's if none can be created).
func runDetached(_ body: @escaping () -> Void) {
    let argument = Unmanaged.passRetained(DetachedBody(body)).toOpaque()
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    defer { pthread_attr_destroy(&attributes) }
    #if canImport(Glibc)
    var thread = pthread_t()
    #else
    var thread: pthread_t?
    #endif
    let rc = pthread_create(&thread, &attributes, { raw in
        Unmanaged<DetachedBody>.fromOpaque(raw!).takeRetainedValue().body()
        return nil
    }, argument)
    if rc != 0 {
        Unmanaged<DetachedBody>.fromOpaque(argument).release()
        body()
    }
}

private final class DetachedBody {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}
