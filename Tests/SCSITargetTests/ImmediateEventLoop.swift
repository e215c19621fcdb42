import Dispatch
import NIOCore

/// An event loop that runs every task at once on the calling thread, so futures of the test
/// store are complete when `SCSITargetDevice.execute` returns. Nothing can be scheduled.
final class ImmediateEventLoop: EventLoop, @unchecked Sendable {
    var inEventLoop: Bool { true }

    func execute(_ task: @escaping @Sendable () -> Void) {
        task()
    }

    func scheduleTask<T>(deadline: NIODeadline, _ task: @escaping @Sendable () throws -> T) -> Scheduled<T> {
        let promise = makePromise(of: T.self)
        promise.fail(EventLoopError.unsupportedOperation)
        return Scheduled(promise: promise, cancellationTask: {})
    }

    func scheduleTask<T>(in delay: TimeAmount, _ task: @escaping @Sendable () throws -> T) -> Scheduled<T> {
        scheduleTask(deadline: .now() + delay, task)
    }

    func shutdownGracefully(queue: DispatchQueue, _ callback: @escaping @Sendable (Error?) -> Void) {
        queue.async { callback(nil) }
    }
}
