#if os(Linux)
import BlockDevice
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Synchronization

import Glibc

/// A RAM backend that completes every request on a NIO event loop after a short scheduled delay,
/// as an iSCSI session would: completions arrive on another thread, and requests overlap.
final class MemoryBackend: BlockDeviceBackend, @unchecked Sendable {
    let blockSize: Int
    private let capacity: Int
    private let storage: UnsafeMutableRawPointer
    private let group: MultiThreadedEventLoopGroup
    /// nil: complete on the next event-loop turn, without a timer.
    private let delay: TimeAmount?
    private let sizeLock = NIOLock()
    private var size: UInt64

    let outstanding = Synchronization.Atomic<Int>(0)
    let maxOutstanding = Synchronization.Atomic<Int>(0)
    let maxOutstandingWrites = Synchronization.Atomic<Int>(0)
    private let outstandingWrites = Synchronization.Atomic<Int>(0)
    let reads = Synchronization.Atomic<Int>(0)
    let writes = Synchronization.Atomic<Int>(0)
    let flushes = Synchronization.Atomic<Int>(0)
    /// Requests that were not whole blocks inside the device: must stay 0.
    let misaligned = Synchronization.Atomic<Int>(0)
    let largestRequest = Synchronization.Atomic<Int>(0)
    /// When set, every request fails with this error.
    private let failureLock = NIOLock()
    private var failure: BlockDeviceError?

    init(blockSize: Int, byteCount: UInt64, capacity: Int? = nil, delay: TimeAmount? = .microseconds(200)) {
        self.blockSize = blockSize
        self.size = byteCount
        self.capacity = capacity ?? Int(byteCount)
        self.storage = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 4096)
        self.storage.initializeMemory(as: UInt8.self, repeating: 0, count: self.capacity)
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        self.delay = delay
    }

    deinit {
        try? group.syncShutdownGracefully()
        storage.deallocate()
    }

    var byteCount: UInt64 { sizeLock.withLock { size } }

    func resize(to bytes: UInt64) {
        precondition(bytes <= UInt64(capacity))
        sizeLock.withLock { size = bytes }
    }

    func failRequests(with error: BlockDeviceError?) {
        failureLock.withLock { failure = error }
    }

    /// The stored bytes, for checking what reached the backend.
    func bytes(at offset: Int, count: Int) -> [UInt8] {
        Array(UnsafeRawBufferPointer(start: storage + offset, count: count))
    }

    func read(
        offset: UInt64, length: Int,
        completion: @escaping @Sendable (Result<ByteBuffer, BlockDeviceError>) -> Void
    ) {
        reads.wrappingAdd(1, ordering: .relaxed)
        let ok = check(offset: offset, length: length)
        let failure = failureLock.withLock { self.failure }
        enter(write: false)
        complete {
            defer { self.leave(write: false) }
            if let failure { return completion(.failure(failure)) }
            guard ok else { return completion(.failure(BlockDeviceError(.outOfRange))) }
            var buffer = ByteBufferAllocator().buffer(capacity: length)
            buffer.writeBytes(UnsafeRawBufferPointer(start: self.storage + Int(offset), count: length))
            completion(.success(buffer))
        }
    }

    func write(
        offset: UInt64, data: ByteBuffer,
        completion: @escaping @Sendable (Result<Void, BlockDeviceError>) -> Void
    ) {
        writes.wrappingAdd(1, ordering: .relaxed)
        let ok = check(offset: offset, length: data.readableBytes)
        let failure = failureLock.withLock { self.failure }
        enter(write: true)
        complete {
            defer { self.leave(write: true) }
            if let failure { return completion(.failure(failure)) }
            guard ok else { return completion(.failure(BlockDeviceError(.outOfRange))) }
            data.withUnsafeReadableBytes { bytes in
                (self.storage + Int(offset)).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            }
            completion(.success(()))
        }
    }

    func flush(completion: @escaping @Sendable (Result<Void, BlockDeviceError>) -> Void) {
        flushes.wrappingAdd(1, ordering: .relaxed)
        let failure = failureLock.withLock { self.failure }
        enter(write: false)
        complete {
            defer { self.leave(write: false) }
            completion(failure.map { .failure($0) } ?? .success(()))
        }
    }

    /// When set, reads answer in several pieces of uneven sizes, as an iSCSI session does with
    /// Data-In that arrived across socket reads.
    let splitReads = Synchronization.Atomic<Bool>(false)

    func readSegments(
        offset: UInt64, length: Int,
        completion: @escaping @Sendable (Result<[ByteBuffer], BlockDeviceError>) -> Void
    ) {
        let split = splitReads.load(ordering: .relaxed)
        read(offset: offset, length: length) { result in
            completion(result.map { whole in
                guard split else { return [whole] }
                var pieces: [ByteBuffer] = []
                var rest = whole
                var size = 1000
                while rest.readableBytes > 0 {
                    pieces.append(rest.readSlice(length: min(size, rest.readableBytes))!)
                    size = size * 3 + 17
                }
                return pieces
            })
        }
    }

    /// Deallocation requests this backend takes (a thin LUN whose unmapped blocks read zeros).
    let deallocates = Synchronization.Atomic<Bool>(true)
    let zeroRequests = Synchronization.Atomic<Int>(0)

    func zero(
        offset: UInt64, length: UInt64, deallocate: Bool,
        completion: @escaping @Sendable (Result<Void, BlockDeviceError>) -> Void
    ) {
        zeroRequests.wrappingAdd(1, ordering: .relaxed)
        let ok = check(offset: offset, length: Int(length))
        let refused = deallocate && !deallocates.load(ordering: .relaxed)
        enter(write: true)
        complete {
            defer { self.leave(write: true) }
            guard ok else { return completion(.failure(BlockDeviceError(.outOfRange))) }
            guard !refused else { return completion(.failure(BlockDeviceError(.notSupported))) }
            (self.storage + Int(offset)).initializeMemory(as: UInt8.self, repeating: 0, count: Int(length))
            completion(.success(()))
        }
    }

    /// Runs `body` on an event loop, after `delay` when there is one.
    private func complete(_ body: @escaping @Sendable () -> Void) {
        let loop = group.next()
        if let delay {
            loop.scheduleTask(in: delay, body)
        } else {
            loop.execute(body)
        }
    }

    private func check(offset: UInt64, length: Int) -> Bool {
        raise(largestRequest, to: length)
        let ok =
            offset % UInt64(blockSize) == 0 && length % blockSize == 0 && length > 0
            && offset + UInt64(length) <= byteCount
        if !ok { misaligned.wrappingAdd(1, ordering: .relaxed) }
        return ok
    }

    private func enter(write: Bool) {
        raise(maxOutstanding, to: outstanding.wrappingAdd(1, ordering: .relaxed).newValue)
        if write {
            raise(maxOutstandingWrites, to: outstandingWrites.wrappingAdd(1, ordering: .relaxed).newValue)
        }
    }

    private func leave(write: Bool) {
        outstanding.wrappingSubtract(1, ordering: .relaxed)
        if write { outstandingWrites.wrappingSubtract(1, ordering: .relaxed) }
    }

    private func raise(_ maximum: borrowing Synchronization.Atomic<Int>, to value: Int) {
        var seen = maximum.load(ordering: .relaxed)
        while value > seen {
            let (done, original) = maximum.compareExchange(expected: seen, desired: value, ordering: .relaxed)
            if done { return }
            seen = original
        }
    }
}


/// Runs a command (PATH lookup), stdout and stderr to /dev/null unless `quiet` is false;
/// returns its exit status.
@discardableResult
func runCommand(_ arguments: [String], quiet: Bool = true) -> Int32 {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    if quiet {
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    }
    var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid = pid_t()
    guard posix_spawnp(&pid, arguments[0], &actions, nil, &argv, environ) == 0 else { return -1 }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return (status & 0x7f) == 0 ? (status >> 8) & 0xff : -1
}

/// Runs `body(index)` on `count` threads at once and waits for all of them.
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    final class Job {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }
    var threads: [pthread_t] = []
    for index in 0..<count {
        let job = Unmanaged.passRetained(Job { body(index) }).toOpaque()
        var thread = pthread_t()
        precondition(
            pthread_create(&thread, nil, { Unmanaged<Job>.fromOpaque($0!).takeRetainedValue().body(); return nil }, job)
                == 0)
        threads.append(thread)
    }
    for thread in threads { pthread_join(thread, nil) }
}

/// Bytes in a page-aligned buffer, as O_DIRECT wants.
final class AlignedBuffer: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    let count: Int
    init(count: Int, fill: (Int) -> UInt8 = { _ in 0 }) {
        self.count = count
        pointer = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 4096)
        for index in 0..<count { pointer.storeBytes(of: fill(index), toByteOffset: index, as: UInt8.self) }
    }
    deinit { pointer.deallocate() }
    var bytes: [UInt8] { Array(UnsafeRawBufferPointer(start: pointer, count: count)) }
}
#endif
