import ISCSIProtocol
import NIOCore

/// The session machine's clocks. The machine is told the time by `tick(now:)`, which the engine
/// calls every `scanInterval`; tasks are stamped with the time of the last tick (no clock read per
/// command), so a deadline is acted on at most two scans after it passes, never before.
public struct InitiatorSessionTimeouts: Sendable, Equatable {
    /// Connected time a SCSI command may go unanswered before the error handler steps in; nil:
    /// no limit.
    public var command: TimeAmount?
    public var abort: TimeAmount
    public var logicalUnitReset: TimeAmount
    public var targetReset: TimeAmount
    public var logout: TimeAmount
    /// Time a command may wait, in all, while the session has no connection; nil: no limit.
    public var disconnected: TimeAmount?
    /// Resends of a command after connection losses before it fails.
    public var resends: Int
    public var scanInterval: TimeAmount

    public init(
        command: TimeAmount? = .seconds(30), abort: TimeAmount = .seconds(15),
        logicalUnitReset: TimeAmount = .seconds(30), targetReset: TimeAmount = .seconds(30),
        logout: TimeAmount = .seconds(15), disconnected: TimeAmount? = nil, resends: Int = 5,
        scanInterval: TimeAmount? = nil
    ) {
        self.command = command
        self.abort = abort
        self.logicalUnitReset = logicalUnitReset
        self.targetReset = targetReset
        self.logout = logout
        self.disconnected = disconnected
        self.resends = resends
        // A fifth of the shortest limit, between 50 ms and 1 s: short test timeouts stay precise,
        // normal ones cost one scan a second.
        let shortest = [command ?? .seconds(5), abort, logicalUnitReset, targetReset, logout].min()!
        self.scanInterval = scanInterval ?? max(.milliseconds(50), min(.seconds(1), .nanoseconds(shortest.nanoseconds / 5)))
    }

    /// The limit of a task management function.
    func limit(of function: TaskManagementRequest.Function) -> TimeAmount {
        switch function {
        case .logicalUnitReset: return logicalUnitReset
        case .targetWarmReset, .targetColdReset: return targetReset
        default: return abort
        }
    }
}

extension InitiatorConfiguration {
    var sessionTimeouts: InitiatorSessionTimeouts {
        InitiatorSessionTimeouts(
            command: commandTimeout, abort: abortTimeout, logicalUnitReset: logicalUnitResetTimeout,
            targetReset: targetResetTimeout, logout: logoutTimeout, disconnected: replacementTimeout,
            resends: commandRetries)
    }
}

/// Whole seconds for messages ("within 30 s"); tenths below 10 s when not whole.
func secondsText(_ t: TimeAmount) -> String {
    let ms = t.nanoseconds / 1_000_000
    if ms % 1000 == 0 || ms >= 10_000 { return "\(ms / 1000) s" }
    return "\(Double(ms / 100) / 10) s"
}
