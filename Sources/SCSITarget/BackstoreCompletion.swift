import Backstore
import NIOCore
import SCSIProtocol

/// Turning backstore futures into command results: one promise and one callback per command.
enum BackstoreCompletion {
    /// The read buffer becomes Data-In as is.
    static func dataIn(_ future: EventLoopFuture<ByteBuffer>, on eventLoop: EventLoop) -> CommandOutcome {
        let promise = eventLoop.makePromise(of: SCSICommandResult.self)
        future.whenComplete { result in
            switch result {
            case .success(let buffer): promise.succeed(SCSICommandResult(status: .good, dataIn: buffer))
            case .failure(let error): promise.succeed(failure(error, writing: false))
            }
        }
        return .pending(promise.futureResult)
    }

    static func status(_ future: EventLoopFuture<Void>, writing: Bool, on eventLoop: EventLoop) -> CommandOutcome {
        let promise = eventLoop.makePromise(of: SCSICommandResult.self)
        future.whenComplete { result in
            switch result {
            case .success: promise.succeed(SCSICommandResult(status: .good))
            case .failure(let error): promise.succeed(failure(error, writing: writing))
            }
        }
        return .pending(promise.futureResult)
    }

    /// MEDIUM ERROR for IO errors, LBA OUT OF RANGE if the store shrank under us, else
    /// HARDWARE ERROR / INTERNAL TARGET FAILURE as tgtd reports it.
    static func failure(_ error: Error, writing: Bool) -> SCSICommandResult {
        switch (error as? BackstoreError)?.kind {
        case .ioError?:
            return .checkCondition(.mediumError, writing ? .writeError : .unrecoveredReadError)
        case .outOfRange?:
            return .checkCondition(.illegalRequest, .lbaOutOfRange)
        default:
            return .checkCondition(.hardwareError, .internalTargetFailure)
        }
    }
}
