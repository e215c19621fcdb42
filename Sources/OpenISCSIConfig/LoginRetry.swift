/// When iscsid tries a node's first login again (open-iscsi's iscsi_retry_initial_login and
/// __session_conn_reopen): a connection that fails or breaks, a login that times out or brings
/// bytes that are no PDU, is
/// retried until `node.session.initial_login_retry_max` x `node.conn[0].timeo.login_timeout`
/// seconds have passed since the first attempt; the first retry waits
/// `node.session.iscsi.DefaultTime2Wait`, later ones 3 s. A login the target refuses, or one
/// that cannot be negotiated (CHAP included), is final at once. The window is capped at
/// `maximumWindow` seconds, whatever the record says.
public struct LoginRetry: Equatable, Sendable {
    public static let maximumWindow = 300
    /// open-iscsi's ISCSI_CONN_ERR_REOPEN_DELAY.
    public static let reconnectDelay = 3

    /// Seconds after the first attempt past which a failure is final.
    public var window: Int
    public var firstDelay: Int

    public init(record: Record) {
        func number(_ key: String, _ fallback: Int) -> Int {
            record[key].flatMap { Int(RecordValues.strtoulText($0, bits: 32, signed: true)) } ?? fallback
        }
        let retries = max(number("node.session.initial_login_retry_max", 4), 0)
        let timeout = max(number("node.conn[0].timeo.login_timeout", 30), 0)
        window = min(retries * timeout, Self.maximumWindow)
        firstDelay = max(number("node.session.iscsi.DefaultTime2Wait", 2), 0)
    }

    public static func isRetryable(_ error: ISCSIError) -> Bool {
        [.transport, .transportTimeout, .pduTimeout].contains(error.code) || isUnreadablePDU(error)
    }

    /// Bytes that are no login PDU (a framing error, another PDU than a Login Response): open-iscsi's
    /// "Login I/O error", retried.
    public static func isUnreadablePDU(_ error: ISCSIError) -> Bool {
        error.code == .login && error.message.hasPrefix("protocol error: ")
    }

    /// The pause before the next attempt, or nil when the failure after `elapsed` seconds and
    /// `failures` failed attempts is final.
    public func delay(after error: ISCSIError, elapsed: Double, failures: Int) -> Int? {
        guard Self.isRetryable(error), elapsed <= Double(window) else { return nil }
        return failures <= 1 ? firstDelay : Self.reconnectDelay
    }
}
