import NIOCore

/// When a session logs in again after losing its connection, and since when it has been failing.
/// Pure: the engine tells it what happened and when.
///
/// The first attempt after a healthy connection is immediate; every further failure (a lost
/// connection that was not healthy, a failed login) doubles the pause from `initialDelay` up to
/// `maximumDelay`. A connection is healthy when a command completed on it, or when it stayed up
/// `healthyAfter` with none waiting. The replacement timeout counts from `failingSince`, the first
/// failure since the last healthy connection: re-logins that succeed but whose connections fail
/// again do not restart it.
struct ReconnectPolicy {
    let initialDelay: TimeAmount
    let maximumDelay: TimeAmount
    let healthyAfter: TimeAmount
    private(set) var failures = 0
    private(set) var failingSince: NIODeadline?
    /// Logins that succeeded since `failingSince`.
    private(set) var reloginsSinceFailing = 0
    private var connectedAt: NIODeadline?

    init(initialDelay: TimeAmount, maximumDelay: TimeAmount, healthyAfter: TimeAmount) {
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
        self.healthyAfter = healthyAfter
    }

    mutating func loggedIn(at now: NIODeadline) {
        connectedAt = now
        if failingSince != nil { reloginsSinceFailing += 1 }
    }

    /// The connection dropped. `progressed`: a command completed on it; `idle`: no command was
    /// waiting when it dropped.
    mutating func connectionLost(at now: NIODeadline, progressed: Bool, idle: Bool) {
        let stayedUp = connectedAt.map { now - $0 >= healthyAfter } ?? false
        if progressed || (idle && stayedUp) {
            failures = 0
            failingSince = nil
            reloginsSinceFailing = 0
        }
        failures += 1
        if failingSince == nil { failingSince = now }
        connectedAt = nil
    }

    mutating func loginFailed() { failures += 1 }

    /// The pause before the next login attempt.
    var delay: TimeAmount {
        guard failures > 1 else { return .zero }
        let doubled = initialDelay.nanoseconds << Int64(min(failures - 2, 20))
        return min(maximumDelay, .nanoseconds(doubled))
    }
}
