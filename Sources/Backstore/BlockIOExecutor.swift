#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import NIOCore
import NIOPosix

/// Worker threads for blocking file IO, built to keep locks and wake-ups off the hot path.
///
/// A general thread pool takes a lock and wakes a thread for every job, and hops back to the
/// event loop for every completion; at tens of thousands of IOs per second those futex calls and
/// context switches cost more than the IO itself (measured: 0.6 futex calls per 4 KiB write and
/// over 20% of the CPU). Here:
/// - jobs submitted from an event loop are gathered and handed over once per event-loop task,
///   so the PDUs of one socket read cost one lock and at most one wake-up;
/// - a worker takes its share of the queue under one lock, not one job at a time;
/// - a sleeping worker is woken only when no awake worker will soon take the work: none is awake,
///   or every awake one has been inside its current batch for longer than `slowBatchNanos`
///   (blocked on a slow device). Fast stores (page cache, tmpfs) run on one warm worker, slow
///   ones fan out to every worker;
/// - a worker gathers the completions of the jobs it ran and hands them to each event loop in one
///   task once the queue runs dry (or every `completionBatch` jobs).
public final class BlockIOExecutor: @unchecked Sendable {
    /// A job runs on a worker and returns the completion to run on its event loop.
    public typealias Work = () -> (() -> Void)

    private struct Job {
        var eventLoop: EventLoop
        var work: Work
    }

    /// Jobs submitted on one event-loop thread during the current event-loop task.
    private final class PendingBatch {
        var jobs: [Job] = []
        var scheduled = false
    }

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var queue: [Job] = []
    private var head = 0
    /// Workers running or signalled to run; a signalled one counts before it is scheduled, so a
    /// burst of submissions wakes one worker, not one per job.
    private var awake = 0
    private var signalsPending = 0
    /// Start time (monotonic ns) of each worker's current batch, 0 while it has none.
    private var batchStart: [UInt64] = []
    private var stopping = false
    private var threads: [pthread_t] = []
    private let pending = ThreadSpecificVariable<PendingBatch>()

    /// A batch running longer than this marks its worker as blocked.
    private let slowBatchNanos: UInt64 = 50_000
    private let completionBatch = 32
    /// How long an idle worker polls before sleeping.
    private let spinNanos: UInt64 = 50_000
    private let maxTake = 16
    public let numberOfThreads: Int

    public init(numberOfThreads: Int) {
        self.numberOfThreads = max(1, numberOfThreads)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    public func start() {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        guard threads.isEmpty else { return }
        awake = numberOfThreads
        batchStart = Array(repeating: 0, count: numberOfThreads)
        for index in 0..<numberOfThreads {
            var thread = pthread_t()
            let box = Unmanaged.passRetained(WorkerStart(executor: self, index: index)).toOpaque()
            let rc = pthread_create(&thread, nil, { raw in
                let start = Unmanaged<WorkerStart>.fromOpaque(raw!).takeRetainedValue()
                start.executor.workerLoop(index: start.index)
                return nil
            }, box)
            precondition(rc == 0, "cannot start an IO thread: \(rc)")
            threads.append(thread)
        }
    }

    /// Stops the workers after the queued jobs ran.
    public func shutdown() {
        pthread_mutex_lock(mutex)
        stopping = true
        pthread_cond_broadcast(condition)
        let all = threads
        threads = []
        pthread_mutex_unlock(mutex)
        for thread in all { pthread_join(thread, nil) }
    }

    /// Runs `work` on a worker; its returned completion runs on `eventLoop`.
    public func submit(on eventLoop: EventLoop, _ work: @escaping Work) {
        let job = Job(eventLoop: eventLoop, work: work)
        guard eventLoop.inEventLoop else {
            enqueue(CollectionOfOne(job))
            return
        }
        let batch: PendingBatch
        if let current = pending.currentValue {
            batch = current
        } else {
            batch = PendingBatch()
            pending.currentValue = batch
        }
        batch.jobs.append(job)
        if !batch.scheduled {
            batch.scheduled = true
            // Runs after the current event-loop task, e.g. after every PDU of one socket read.
            eventLoop.execute { [self] in
                batch.scheduled = false
                enqueue(batch.jobs)
                batch.jobs.removeAll(keepingCapacity: true)
            }
        }
    }

    /// Runs `body` on a worker and fulfils the returned future on `eventLoop`.
    public func run<T>(on eventLoop: EventLoop, _ body: @escaping () throws -> T) -> EventLoopFuture<T> {
        let promise = eventLoop.makePromise(of: T.self)
        submit(on: eventLoop) {
            do {
                let value = try body()
                return { promise.succeed(value) }
            } catch {
                return { promise.fail(error) }
            }
        }
        return promise.futureResult
    }

    private func enqueue<C: Collection>(_ jobs: C) where C.Element == Job {
        guard !jobs.isEmpty else { return }
        pthread_mutex_lock(mutex)
        queue.append(contentsOf: jobs)
        if awake < numberOfThreads && !hasResponsiveWorker() { wakeOne() }
        pthread_mutex_unlock(mutex)
    }

    /// Called with the mutex held.
    private func wakeOne() {
        awake += 1
        signalsPending += 1
        pthread_cond_signal(condition)
    }

    /// An awake worker that is idle or in a batch that started recently. Called with the mutex held.
    private func hasResponsiveWorker() -> Bool {
        if awake == 0 { return false }
        let now = Self.monotonicNanos()
        var blocked = 0
        for start in batchStart where start != 0 && now &- start > slowBatchNanos { blocked += 1 }
        return blocked < awake
    }

    static func monotonicNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    private func workerLoop(index: Int) {
        var done: [(EventLoop, () -> Void)] = []
        var taken: [Job] = []
        done.reserveCapacity(completionBatch)
        taken.reserveCapacity(maxTake)
        pthread_mutex_lock(mutex)
        while true {
            let waiting = queue.count - head
            if waiting == 0 {
                // Nothing queued: hand over what we finished before sleeping.
                if !done.isEmpty {
                    pthread_mutex_unlock(mutex)
                    deliver(&done)
                    pthread_mutex_lock(mutex)
                    continue
                }
                if stopping { break }
                // Under load the next job usually arrives within microseconds: yield the CPU a
                // few times before paying for a futex sleep and wake-up.
                if spinForWork() { continue }
                awake -= 1
                pthread_cond_wait(condition, mutex)
                if signalsPending > 0 { signalsPending -= 1 } else { awake += 1 }  // else: spurious
                continue
            }
            // Our share of the queue, so other awake workers get theirs.
            let share = min(maxTake, max(1, waiting / max(1, awake)))
            taken.append(contentsOf: queue[head..<(head + share)])
            head += share
            if head == queue.count {
                queue.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 1024 && head * 2 >= queue.count {
                queue.removeFirst(head)
                head = 0
            }
            let started = Self.monotonicNanos()
            batchStart[index] = started
            pthread_mutex_unlock(mutex)
            var ran = 0
            var slow = false
            while ran < taken.count {
                let job = taken[ran]
                ran += 1
                done.append((job.eventLoop, job.work()))
                if done.count >= completionBatch { deliver(&done) }
                slow = Self.monotonicNanos() &- started > slowBatchNanos
                // A slow device: hand the rest of our share back for other workers to take.
                if slow && ran < taken.count { break }
            }
            pthread_mutex_lock(mutex)
            if ran < taken.count {
                queue.insert(contentsOf: taken[ran...], at: head)
            }
            taken.removeAll(keepingCapacity: true)
            batchStart[index] = 0
            // This worker proved slow and work is waiting: get a sleeping one to help.
            if slow && head < queue.count && awake < numberOfThreads { wakeOne() }
        }
        awake -= 1
        pthread_mutex_unlock(mutex)
    }

    /// Yields while polling for work for up to `spinNanos`; called and returns with the mutex
    /// held. True when work arrived.
    private func spinForWork() -> Bool {
        let deadline = Self.monotonicNanos() &+ spinNanos
        repeat {
            pthread_mutex_unlock(mutex)
            sched_yield()
            pthread_mutex_lock(mutex)
            if head < queue.count || stopping { return true }
        } while Self.monotonicNanos() < deadline
        return false
    }

    private final class WorkerStart {
        let executor: BlockIOExecutor
        let index: Int
        init(executor: BlockIOExecutor, index: Int) {
            self.executor = executor
            self.index = index
        }
    }

    /// One event-loop task per loop for a batch of completions, in completion order.
    private func deliver(_ done: inout [(EventLoop, () -> Void)]) {
        let all = done
        done = []
        done.reserveCapacity(completionBatch)
        var loops: [EventLoop] = []
        for (loop, _) in all where !loops.contains(where: { $0 === loop }) { loops.append(loop) }
        for loop in loops {
            if loops.count == 1 {
                loop.execute { for (_, completion) in all { completion() } }
            } else {
                loop.execute { for (owner, completion) in all where owner === loop { completion() } }
            }
        }
    }
}
