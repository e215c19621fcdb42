import NIOCore

/// Runs a logical unit's COMPARE AND WRITE commands one at a time, so that the medium cannot
/// change between the compare and the write (SBC-3 5.2). Writes that arrive while one runs wait
/// their turn too; writes already under way when it starts are not waited for.
///
/// Guarded by the device lock; the hot path only reads `isBusy`.
struct ExclusiveGate {
    typealias Start = @Sendable () -> Void

    private(set) var isBusy = false
    private var waiting: [Start] = []

    /// Takes the gate (true: start now, outside the lock) or queues `start` behind the holder.
    mutating func enter(_ start: @escaping Start) -> Bool {
        if isBusy {
            waiting.append(start)
            return false
        }
        isBusy = true
        return true
    }

    /// Passes the gate on: the next waiter to start outside the lock, or nil (the gate is free).
    mutating func leave() -> Start? {
        guard !waiting.isEmpty else {
            isBusy = false
            return nil
        }
        return waiting.removeFirst()
    }
}

extension SCSITargetDevice {
    /// Runs `body` on `eventLoop` holding `unit`'s exclusive gate until its future completes.
    func runExclusive(
        _ unit: LogicalUnit, on eventLoop: EventLoop,
        _ body: @escaping @Sendable () -> EventLoopFuture<SCSICommandResult>
    ) -> EventLoopFuture<SCSICommandResult> {
        let promise = eventLoop.makePromise(of: SCSICommandResult.self)
        let start: ExclusiveGate.Start = {
            body().whenComplete { result in
                let next = self.lock.withLock { unit.exclusiveGate.leave() }
                next?()
                promise.completeWith(result)
            }
        }
        let onLoop: ExclusiveGate.Start = { eventLoop.execute(start) }
        if lock.withLock({ unit.exclusiveGate.enter(onLoop) }) {
            if eventLoop.inEventLoop { start() } else { eventLoop.execute(start) }
        }
        return promise.futureResult
    }
}

extension CommandOutcome {
    func future(on eventLoop: EventLoop) -> EventLoopFuture<SCSICommandResult> {
        switch self {
        case .done(let result): return eventLoop.makeSucceededFuture(result)
        case .pending(let future): return future
        }
    }
}
