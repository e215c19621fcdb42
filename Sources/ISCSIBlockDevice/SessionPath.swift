import SCSIProtocol
import BlockDevice
import ISCSIInitiator
import NIOCore

/// Runs one SCSI command against a LU, however it reaches it (one session, or several paths).
public protocol SCSICommandRunner: AnyObject, Sendable {
    /// Runs `cdb`; `completion` may run on any thread.
    func run(
        cdb: ByteBuffer, dataOut: ByteBuffer?, expected: Int,
        completion: @escaping @Sendable (Result<SCSICommandResponse, BlockDeviceError>) -> Void)
}

/// How a command ended on one path, as a multipath layer needs to know it.
public enum PathOutcome: Sendable {
    /// Done: success, or an error of the LU itself (medium, illegal request, reservation...)
    /// that another path would give just the same: it goes to the application.
    case done(Result<SCSICommandResponse, BlockDeviceError>)
    /// The path failed (connection lost, session failed, no answer, not ready): another path
    /// may well succeed.
    case pathError(BlockDeviceError)
    /// The port answered NOT READY with an ALUA state (02/04/0A transitioning, 0B standby,
    /// 0C unavailable): send the command elsewhere and read the port groups again.
    case accessState(ALUAState, BlockDeviceError)
}

/// One way to a LU, as a `MultipathRunner` uses it.
public protocol LUPath: AnyObject, Sendable {
    /// Runs `cdb` down this path; `failFast`: a lost connection fails it at once.
    func execute(
        cdb: ByteBuffer, dataOut: ByteBuffer?, expected: Int, failFast: Bool,
        completion: @escaping @Sendable (PathOutcome) -> Void)
    /// Calls `observer` with whether the path is connected now (possibly before returning) and
    /// at every change, never while the path holds a lock of its own.
    func observeConnection(_ observer: @escaping @Sendable (Bool) -> Void)
}

/// One path to a LU: one LUN of one session. Retries what Linux's sd retries on the same
/// path (UNIT ATTENTION, ABORTED COMMAND, BUSY, TASK SET FULL, becoming ready).
public final class SessionPath: LUPath, @unchecked Sendable {
    public let session: ISCSISession
    public let lun: UInt64
    private let loop: EventLoop
    /// Told of ASYMMETRIC ACCESS STATE CHANGED (06/2A/06) and similar unit attentions that
    /// call for reading the port groups again; the command itself is retried.
    private let onAccessStateChanged: (@Sendable () -> Void)?

    public init(session: ISCSISession, lun: UInt64, onAccessStateChanged: (@Sendable () -> Void)? = nil) {
        self.session = session
        self.lun = lun
        self.loop = session.eventLoop
        self.onAccessStateChanged = onAccessStateChanged
    }

    public func observeConnection(_ observer: @escaping @Sendable (Bool) -> Void) {
        let session = session
        session.observeState { state in
            // Deferred: the observer runs inside the session's own state change.
            session.eventLoop.execute { observer(state == .loggedIn) }
        }
    }

    /// Runs `cdb`; `completion` runs on the session's event loop.
    public func execute(
        cdb: ByteBuffer, dataOut: ByteBuffer?, expected: Int, failFast: Bool,
        completion: @escaping @Sendable (PathOutcome) -> Void
    ) {
        execute(cdb: cdb, dataOut: dataOut, expected: expected, failFast: failFast, attempt: 0, completion: completion)
    }

    private func execute(
        cdb: ByteBuffer, dataOut: ByteBuffer?, expected: Int, failFast: Bool, attempt: Int,
        completion: @escaping @Sendable (PathOutcome) -> Void
    ) {
        session.submit(lun: lun, cdb: cdb, dataOut: dataOut, expectedDataInLength: expected, failFast: failFast) { [self] result in
            if case .success(let response) = result, response.status == SCSICommandResponse.checkCondition, let sense = response.sense {
                if let state = Self.accessState(sense) {
                    return completion(.accessState(state, BlockDeviceError(.unavailable, "\(sense)")))
                }
                if sense.key == 0x06, sense.asc == 0x2A, [0x06, 0x07].contains(sense.ascq) { onAccessStateChanged?() }
            }
            switch SessionLUNBackend.classify(result) {
            case .done(.failure(let error)) where error.kind == .unavailable:
                completion(.pathError(error))
            case .done(let outcome):
                completion(.done(outcome))
            case .retry(let delay) where attempt < SessionLUNBackend.retries:
                let again: @Sendable () -> Void = {
                    self.execute(cdb: cdb, dataOut: dataOut, expected: expected, failFast: failFast, attempt: attempt + 1, completion: completion)
                }
                if let delay { loop.scheduleTask(in: delay, again) } else { again() }
            case .retry:
                completion(.done(.failure(BlockDeviceError(.io, "command still refused after \(SessionLUNBackend.retries) retries"))))
            }
        }
    }

    /// NOT READY with LOGICAL UNIT NOT ACCESSIBLE: the port's ALUA state (SPC-4 5.15.2.4).
    static func accessState(_ sense: SenseInfo) -> ALUAState? {
        guard sense.key == 0x02, sense.asc == 0x04 else { return nil }
        switch sense.ascq {
        case 0x0A: return .transitioning
        case 0x0B: return .standby
        case 0x0C: return .unavailable
        default: return nil
        }
    }
}

/// One session's LUN as the whole of a LU: path errors go to the application (the session has
/// already waited its replacement timeout for a new connection).
final class SinglePathRunner: SCSICommandRunner, @unchecked Sendable {
    let path: SessionPath

    init(path: SessionPath) { self.path = path }

    func run(
        cdb: ByteBuffer, dataOut: ByteBuffer?, expected: Int,
        completion: @escaping @Sendable (Result<SCSICommandResponse, BlockDeviceError>) -> Void
    ) {
        path.execute(cdb: cdb, dataOut: dataOut, expected: expected, failFast: false) { outcome in
            switch outcome {
            case .done(let result): completion(result)
            case .pathError(let error), .accessState(_, let error): completion(.failure(error))
            }
        }
    }
}
