// FUSE and loop devices are Linux facilities; elsewhere the module keeps only its portable parts.
#if os(Linux)
import Glibc

/// A joinable pthread running a closure (the FUSE session loop must not run on a Swift
/// concurrency or NIO thread: it blocks in read(2) on /dev/fuse).
struct JoinableThread {
    private final class Box {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    private let handle: pthread_t

    init(_ body: @escaping () -> Void) throws {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var handle = pthread_t()
        let rc = pthread_create(
            &handle, nil,
            { argument in
                Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue().body()
                return nil
            }, box)
        if rc != 0 {
            Unmanaged<Box>.fromOpaque(box).release()
            throw BlockDeviceSetupError.system("cannot start the FUSE session thread", rc)
        }
        self.handle = handle
    }

    func join() { pthread_join(handle, nil) }

    /// Lets the thread finish on its own; it must not be joined afterwards.
    func detach() { pthread_detach(handle) }
}

/// Polls `condition` every few milliseconds until it holds or `seconds` pass. Only used on slow
/// paths (unmount, loop detach), where a condition variable would add more code than it saves.
func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = monotonicSeconds() + seconds
    while true {
        if condition() { return true }
        if monotonicSeconds() >= deadline { return false }
        usleep(5_000)
    }
}

func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// mkdir -p with mode 0700 for directories it creates.
func makeDirectories(_ path: String) throws {
    var current = path.hasPrefix("/") ? "" : "."
    for component in path.split(separator: "/") {
        current += "/" + component
        if mkdir(current, 0o700) != 0 && errno != EEXIST {
            throw BlockDeviceSetupError.system("cannot create \(current)", errno)
        }
    }
}
#endif
