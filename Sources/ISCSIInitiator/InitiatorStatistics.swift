import ISCSIProtocol

/// A session's PDU and byte counts, open-iscsi's `iscsiadm -m session -s` list (the kernel's
/// `struct iscsi_stats`). Plain integers owned by the session's event loop: counting a PDU is an
/// add, never a lock. Read with `ISCSISession.statistics()`, which hops to the loop.
///
/// As the kernel's iscsi_tcp does, `txdataOctets`/`rxdataOctets` are every byte of the session
/// on the wire (headers, data, padding, digests, logins included), summed over its connections.
public struct InitiatorStatistics: Sendable, Equatable {
    public var txdataOctets: UInt64 = 0
    public var rxdataOctets: UInt64 = 0
    public var noptxPDUs: UInt64 = 0
    public var scsicmdPDUs: UInt64 = 0
    public var tmfcmdPDUs: UInt64 = 0
    public var loginPDUs: UInt64 = 0
    public var textPDUs: UInt64 = 0
    public var dataoutPDUs: UInt64 = 0
    public var logoutPDUs: UInt64 = 0
    public var snackPDUs: UInt64 = 0
    public var noprxPDUs: UInt64 = 0
    public var scsirspPDUs: UInt64 = 0
    public var tmfrspPDUs: UInt64 = 0
    public var textrspPDUs: UInt64 = 0
    public var datainPDUs: UInt64 = 0
    public var logoutrspPDUs: UInt64 = 0
    public var r2tPDUs: UInt64 = 0
    public var asyncPDUs: UInt64 = 0
    public var rjtPDUs: UInt64 = 0
    /// Header or data digest mismatches in what the target sent.
    public var digestErrors: UInt64 = 0
    /// NOP-Out pings the target did not answer in time, and logins that timed out.
    public var timeoutErrors: UInt64 = 0
    /// Extended (iscsi_tcp's custom list): PDU headers that arrived split across reads and were
    /// copied together; ABORT TASK functions sent. (iscsi_tcp's tx_sendpage_failures has no
    /// userspace meaning and stays 0.)
    public var rxDiscontiguousHeaders: UInt64 = 0
    public var abortTasks: UInt64 = 0
    /// Connections re-established after a loss (not an open-iscsi counter).
    public var reconnects: UInt64 = 0

    public init() {}

    /// Counts a PDU about to be sent.
    @inline(__always)
    mutating func sent(_ pdu: ISCSIPDU) {
        switch pdu {
        case .scsiCommand: scsicmdPDUs &+= 1
        case .dataOut: dataoutPDUs &+= 1
        case .nopOut: noptxPDUs &+= 1
        case .taskManagementRequest(let request):
            tmfcmdPDUs &+= 1
            if request.function == .abortTask { abortTasks &+= 1 }
        case .loginRequest: loginPDUs &+= 1
        case .textRequest: textPDUs &+= 1
        case .logoutRequest: logoutPDUs &+= 1
        case .snackRequest: snackPDUs &+= 1
        default: break
        }
    }

    /// Counts a PDU received (a Data-In handed over in pieces counts once).
    @inline(__always)
    mutating func received(_ pdu: ISCSIPDU) {
        switch pdu {
        case .dataIn: datainPDUs &+= 1
        case .scsiResponse: scsirspPDUs &+= 1
        case .r2t: r2tPDUs &+= 1
        case .nopIn: noprxPDUs &+= 1
        case .taskManagementResponse: tmfrspPDUs &+= 1
        case .textResponse: textrspPDUs &+= 1
        case .logoutResponse: logoutrspPDUs &+= 1
        case .asyncMessage: asyncPDUs &+= 1
        case .reject: rjtPDUs &+= 1
        default: break
        }
    }

    /// open-iscsi's names and order ("iSCSI SNMP:" section), then the extended ones.
    public var snmp: [(String, UInt64)] {
        [
            ("txdata_octets", txdataOctets), ("rxdata_octets", rxdataOctets), ("noptx_pdus", noptxPDUs),
            ("scsicmd_pdus", scsicmdPDUs), ("tmfcmd_pdus", tmfcmdPDUs), ("login_pdus", loginPDUs),
            ("text_pdus", textPDUs), ("dataout_pdus", dataoutPDUs), ("logout_pdus", logoutPDUs),
            ("snack_pdus", snackPDUs), ("noprx_pdus", noprxPDUs), ("scsirsp_pdus", scsirspPDUs),
            ("tmfrsp_pdus", tmfrspPDUs), ("textrsp_pdus", textrspPDUs), ("datain_pdus", datainPDUs),
            ("logoutrsp_pdus", logoutrspPDUs), ("r2t_pdus", r2tPDUs), ("async_pdus", asyncPDUs),
            ("rjt_pdus", rjtPDUs), ("digest_err", digestErrors), ("timeout_err", timeoutErrors),
        ]
    }

    /// iscsi_tcp's custom statistics ("iSCSI Extended:" section), in its order.
    public var extended: [(String, UInt64)] {
        [("tx_sendpage_failures", 0), ("rx_discontiguous_hdr", rxDiscontiguousHeaders), ("eh_abort_cnt", abortTasks)]
    }

    /// Every counter by name (the SNMP and extended names, and "reconnects").
    public var dictionary: [String: UInt64] {
        var d: [String: UInt64] = [:]
        for (k, v) in snmp { d[k] = v }
        for (k, v) in extended { d[k] = v }
        d["reconnects"] = reconnects
        return d
    }
}
