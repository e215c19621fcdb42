// FUSE and loop devices are Linux facilities; elsewhere the module keeps only its portable parts.
#if os(Linux)
import NIOConcurrencyHelpers

/// One file of the filesystem, bound to a backend. Lookup counts and the removed mark are guarded
/// by the filesystem's lock; the IO path touches only the immutable fields.
final class LUNFile: @unchecked Sendable {
    let inode: UInt64
    let name: String
    let backend: any BlockDeviceBackend
    /// Serialises read-modify-write cycles (see `SerialRunner`).
    let readModifyWrites = SerialRunner()
    var lookups: UInt64 = 0
    var removed = false

    init(inode: UInt64, name: String, backend: any BlockDeviceBackend) {
        self.inode = inode
        self.name = name
        self.backend = backend
    }
}

/// Runs asynchronous jobs one after another. Two read-modify-write cycles on the same block
/// would otherwise both read the old block and the second write would undo the first.
final class SerialRunner: @unchecked Sendable {
    /// A job calls `done` once when it has finished (from any thread).
    typealias Job = (_ done: @escaping @Sendable () -> Void) -> Void

    private let lock = NIOLock()
    private var busy = false
    private var queue: [Job] = []

    func submit(_ job: @escaping Job) {
        let runNow = lock.withLock { () -> Bool in
            if busy {
                queue.append(job)
                return false
            }
            busy = true
            return true
        }
        if runNow { run(job) }
    }

    private func run(_ job: Job) {
        job { self.next() }
    }

    private func next() {
        var job: Job?
        lock.withLock {
            if queue.isEmpty {
                busy = false
            } else {
                job = queue.removeFirst()
            }
        }
        if let job { run(job) }
    }
}
#endif
