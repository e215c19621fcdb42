import ISCSIProtocol
import NIOCore

/// Everything an initiator brings to a login and a session.
public struct InitiatorConfiguration: Sendable {
    public var initiatorName: String
    public var alias: String?
    /// Our CHAP account; nil logs in with AuthMethod=None.
    public var chap: CHAPCredential?
    /// The target's account, for mutual CHAP.
    public var targetCHAP: CHAPCredential?
    /// CHAP_A offer, in order. MD5 first: Debian's tgtd reads CHAP_A=7 as SHA-1.
    public var chapAlgorithms: [CHAPAlgorithm] = [.md5, .sha1, .sha256, .sha3_256]
    public var headerDigests: [DigestAlgorithm] = [.none]
    public var dataDigests: [DigestAlgorithm] = [.none]
    public var maxRecvDataSegmentLength = 262_144
    public var maxBurstLength = 262_144
    public var firstBurstLength = 65_536
    public var immediateData = true
    public var initialR2T = false
    /// Commands this session keeps in flight at most (the target's MaxCmdSN may allow fewer).
    public var queueDepth = 128
    public var loginTimeout: TimeAmount = .seconds(15)
    /// Idle time after which we ping the target; nil disables pings.
    public var nopInterval: TimeAmount? = .seconds(10)
    public var nopTimeout: TimeAmount = .seconds(15)
    /// How long a session retries logging in again after its connection drops.
    public var replacementTimeout: TimeAmount = .seconds(120)
    /// After the replacement timeout has failed the outstanding commands: keep trying to log in
    /// again in the background, failing new commands at once meanwhile, as open-iscsi's iscsid
    /// does (a daemon's session comes back when its target does). Off: the session ends.
    public var reopensAfterReplacementTimeout = false
    /// Longest pause between login attempts once the replacement timeout has passed (the
    /// backoff below stops growing there).
    public var reopenInterval: TimeAmount = .seconds(2)
    /// How long a SCSI command may go unanswered (connected time, summed over resends) before the
    /// error handler aborts it, as Linux's sd (30 s); nil: commands wait as long as the session lives.
    public var commandTimeout: TimeAmount? = .seconds(30)
    /// Each step of the error handler (open-iscsi's `node.session.err_timeo.*`): ABORT TASK, then
    /// LOGICAL UNIT RESET, then TARGET WARM RESET, then the connection is dropped.
    public var abortTimeout: TimeAmount = .seconds(15)
    public var logicalUnitResetTimeout: TimeAmount = .seconds(30)
    public var targetResetTimeout: TimeAmount = .seconds(30)
    /// A logout (ours, or one the target asked for) the target does not answer.
    public var logoutTimeout: TimeAmount = .seconds(15)
    /// Resends of a command after connection losses before it fails (Linux's sd allows 5). A
    /// command that met a protocol error is resent once.
    public var commandRetries = 5
    /// Reconnect backoff: the first attempt after a healthy connection is immediate, then
    /// `reconnectDelay` doubling up to `reconnectDelayLimit`.
    public var reconnectDelay: TimeAmount = .milliseconds(500)
    public var reconnectDelayLimit: TimeAmount = .seconds(30)
    /// A connection counts as healthy (the backoff and the replacement timeout start afresh after
    /// it drops) once a command completed on it, or once it stayed up this long with none waiting.
    public var healthyAfter: TimeAmount = .seconds(10)
    /// Largest read from the socket; nil for the default (1 MiB). Tests make it small so PDUs
    /// straddle reads.
    var receiveBufferLimit: Int?
    /// ISID; the default is a random-qualifier ISID of type 0x80 (RFC 7143 10.12.5).
    public var isid: UInt64

    public init(initiatorName: String = "iqn.2026-11.org.swift-iscsi:initiator", alias: String? = nil) {
        self.initiatorName = initiatorName
        self.alias = alias
        self.isid = 0x80_0000_0000 | UInt64.random(in: 0...0xff_ffff_ffff) & 0x3f_ffff_ffff
    }

    func negotiation(targetName: String?, sessionType: SessionType) -> InitiatorNegotiationConfiguration {
        var n = InitiatorNegotiationConfiguration(
            initiatorName: initiatorName, targetName: targetName, sessionType: sessionType)
        n.initiatorAlias = alias
        n.authMethods = chap == nil ? [.none] : (targetCHAP == nil ? [.chap, .none] : [.chap])
        n.headerDigests = headerDigests
        n.dataDigests = dataDigests
        n.maxRecvDataSegmentLength = maxRecvDataSegmentLength
        n.maxBurstLength = maxBurstLength
        n.firstBurstLength = firstBurstLength
        n.immediateData = immediateData
        n.initialR2T = initialR2T
        n.maxOutstandingR2T = 1
        n.errorRecoveryLevel = 0
        return n
    }
}
