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
    /// Pause between login attempts once the replacement timeout has passed.
    public var reopenInterval: TimeAmount = .seconds(2)
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
