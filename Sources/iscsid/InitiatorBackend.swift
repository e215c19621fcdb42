import Foundation
import ISCSIBlockDevice
import ISCSIInitiator
import ISCSIProtocol
import NIOCore
import OpenISCSIConfig

/// iscsid's sessions, made with the ISCSIInitiator library from open-iscsi node records.
actor InitiatorBackend: SessionBackend {
    private struct Live {
        var session: ISCSISession
        var info: SessionInfo
        /// False while logging in and attaching devices: listed, and a logout cancels it.
        var ready: Bool
    }

    private var live: [Int: Live] = [:]
    /// Block devices of the sessions' LUNs (FUSE file + loop device + by-path link).
    private let devices: SessionBlockDevices

    init(devices: SessionBlockDevices) {
        self.devices = devices
    }

    func discover(portal: Portal, record: Record, initiatorName: String) async throws -> [OpenISCSIConfig.DiscoveredTarget] {
        var configuration = InitiatorConfiguration(initiatorName: initiatorName)
        Self.applyAuth(
            record, prefix: "discovery.sendtargets.auth", to: &configuration)
        if let value = record["discovery.sendtargets.timeo.login_timeout"].flatMap(Int64.init), value > 0 {
            configuration.loginTimeout = .seconds(value)
        }
        let found: [ISCSIInitiator.DiscoveredTarget]
        do {
            found = try await ISCSIDiscovery.sendTargets(
                host: portal.address, port: portal.port, configuration: configuration)
        } catch {
            throw Self.translate(error, host: portal.address)
        }
        var targets: [OpenISCSIConfig.DiscoveredTarget] = []
        for target in found {
            for address in target.addresses {
                guard let parsed = Self.parseTargetAddress(address, defaultPort: portal.port) else { continue }
                targets.append(OpenISCSIConfig.DiscoveredTarget(name: target.name, portal: parsed))
            }
        }
        return targets
    }

    /// Logs in and attaches the LUNs' block devices. The session is listed (and `-u` finds it)
    /// from the start: when iscsiadm's client goes away mid-login the login still finishes, or
    /// fails and is removed, as open-iscsi's does; a logout meanwhile cancels it.
    func login(node: NodeEntry, sid: Int, initiatorName: String) async throws -> SessionInfo {
        let record = node.record
        var info = SessionInfo(
            sid: sid, target: node.target, portal: node.portal, iface: node.iface, initiatorName: initiatorName,
            record: record)
        // A failed first login is tried again as open-iscsi's iscsid does (LoginRetry).
        let retry = LoginRetry(record: record)
        let started = ContinuousClock.now
        var failures = 0
        var session: ISCSISession
        while true {
            session = ISCSISession(
                host: node.portal.address, port: node.portal.port, targetName: node.target,
                configuration: Self.configuration(record, initiatorName: initiatorName))
            if failures > 0 {
                // A logout while we waited ended the login.
                guard let pending = live[sid], !pending.ready else { throw Self.cancelled(session) }
            }
            live[sid] = Live(session: session, info: info, ready: false)
            do {
                try await session.start()
                break
            } catch {
                let failure = Self.translate(error, host: node.portal.address)
                failures += 1
                let elapsed = started.duration(to: .now)
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                guard let delay = retry.delay(after: failure, elapsed: seconds, failures: failures) else {
                    throw abandon(sid, session, failure, node: node)
                }
                session.close()
                Self.log("Connection\(sid):0 to [target: \(node.target), portal: \(node.portal.commaForm)]: \(failure.message); trying again in \(delay) s")
                try? await Task.sleep(for: .seconds(delay))
            }
        }
        let luns: [UInt64]
        do {
            luns = try await Self.reportLUNs(session)
        } catch {
            throw abandon(sid, session, Self.translateScanFailure(error), node: node)
        }
        guard live[sid]?.session === session else { throw Self.cancelled(session) }
        info.localAddress = session.localAddress ?? ""
        info.negotiated = Self.describe(session.parameters)
        info.luns = luns.map { SessionLUN(lun: Int($0)) }
        let report = await devices.attach(
            sid: sid, session: session, address: node.portal.address, port: node.portal.port, target: node.target,
            luns: luns)
        guard live[sid]?.session === session else {
            try? await devices.detach(sid: sid)
            throw Self.cancelled(session)
        }
        apply(report, to: &info)
        live[sid] = Live(session: session, info: info, ready: true)
        return info
    }

    /// A login that failed: closed, unlisted (unless a logout already did that), logged.
    private func abandon(_ sid: Int, _ session: ISCSISession, _ failure: ISCSIError, node: NodeEntry) -> ISCSIError {
        session.close()
        if live[sid]?.session === session { live[sid] = nil }
        // open-iscsi's iscsid logs why a login failed; iscsiadm prints only the code.
        Self.log("Connection\(sid):0 to [target: \(node.target), portal: \(node.portal.commaForm)]: \(failure.message)")
        return failure
    }

    private static func cancelled(_ session: ISCSISession) -> ISCSIError {
        session.close()
        return ISCSIError(.login, "the session was logged out before its login finished")
    }

    /// REPORT LUNS. A LUN 0 that refuses it (a SCSI status) offers no LUNs; a target that cannot
    /// answer it at all (no answer, a protocol error, a lost connection) fails the login.
    private static func reportLUNs(_ session: ISCSISession) async throws -> [UInt64] {
        do {
            return try await session.reportLUNs()
        } catch ISCSIInitiatorError.scsiError {
            return []
        }
    }

    /// The library configuration a node record asks for.
    static func configuration(_ record: Record, initiatorName: String) -> InitiatorConfiguration {
        var configuration = InitiatorConfiguration(initiatorName: initiatorName)
        Self.applyAuth(record, prefix: "node.session.auth", to: &configuration)
        configuration.headerDigests = Self.digests(record["node.conn[0].iscsi.HeaderDigest"])
        configuration.dataDigests = Self.digests(record["node.conn[0].iscsi.DataDigest"])
        if let value = record["node.conn[0].iscsi.MaxRecvDataSegmentLength"].flatMap(Int.init) {
            configuration.maxRecvDataSegmentLength = value
        }
        if let value = record["node.session.iscsi.MaxBurstLength"].flatMap(Int.init) { configuration.maxBurstLength = value }
        if let value = record["node.session.iscsi.FirstBurstLength"].flatMap(Int.init) {
            configuration.firstBurstLength = value
        }
        if let value = record["node.session.iscsi.ImmediateData"] { configuration.immediateData = value == "Yes" }
        if let value = record["node.session.iscsi.InitialR2T"] { configuration.initialR2T = value == "Yes" }
        if let value = record["node.session.timeo.replacement_timeout"].flatMap(Int64.init) {
            configuration.replacementTimeout = .seconds(value)
        }
        // As open-iscsi's iscsid: after the timeout IO fails, but the session comes back with its target.
        configuration.reopensAfterReplacementTimeout = true
        let seconds = { (key: String) -> TimeAmount? in
            record[key].flatMap(Int64.init).flatMap { $0 > 0 ? .seconds($0) : nil }
        }
        if let value = seconds("node.conn[0].timeo.login_timeout") { configuration.loginTimeout = value }
        if let value = seconds("node.conn[0].timeo.logout_timeout") { configuration.logoutTimeout = value }
        // open-iscsi: an interval of 0 turns pings off.
        if let value = record["node.conn[0].timeo.noop_out_interval"].flatMap(Int64.init) {
            configuration.nopInterval = value > 0 ? .seconds(value) : nil
        }
        if let value = seconds("node.conn[0].timeo.noop_out_timeout") { configuration.nopTimeout = value }
        // The command timeout and the error handler's steps (0 turns the command timeout off).
        if let value = record["node.session.timeo.command_timeout"].flatMap(Int64.init) {
            configuration.commandTimeout = value > 0 ? .seconds(value) : nil
        }
        if let value = seconds("node.session.err_timeo.abort_timeout") { configuration.abortTimeout = value }
        if let value = seconds("node.session.err_timeo.lu_reset_timeout") { configuration.logicalUnitResetTimeout = value }
        if let value = seconds("node.session.err_timeo.tgt_reset_timeout") { configuration.targetResetTimeout = value }
        return configuration
    }

    /// Device names into the LUN list; notes logged and passed on for iscsiadm to print.
    private func apply(_ report: SessionBlockDevices.Report, to info: inout SessionInfo) {
        for index in info.luns.indices {
            info.luns[index].device = report.devices[UInt64(info.luns[index].lun)]
        }
        for note in report.notes { Self.log("session \(info.sid): \(note)") }
        info.notes = report.notes.isEmpty ? nil : report.notes
    }

    func logout(sid: Int) async throws {
        guard let pending = live[sid] else { throw ISCSIError(.sessionNotFound, "session \(sid) not found") }
        if !pending.ready {
            // Still logging in: cancel it; the login cleans up after itself.
            live[sid] = nil
            pending.session.close()
            return
        }
        // A mounted device keeps the session: tearing it down under a filesystem loses data.
        do {
            try await devices.detach(sid: sid)
        } catch {
            throw ISCSIError(.busy, "\(error)")
        }
        guard let entry = live.removeValue(forKey: sid) else {
            throw ISCSIError(.sessionNotFound, "session \(sid) not found")
        }
        // A session without a connection has nothing to log out of: ending it is the logout.
        guard entry.session.state == .loggedIn else { return entry.session.close() }
        do {
            try await entry.session.logout()
        } catch {
            throw ISCSIError(.logout, "\(error)")
        }
    }

    func sessions() async -> [SessionInfo] {
        var result: [SessionInfo] = []
        for sid in live.keys.sorted() {
            guard let entry = live[sid] else { continue }
            let statistics = await entry.session.statistics()
            guard var info = live[sid]?.info, live[sid]?.session === entry.session else { continue }
            info.statistics = statistics.dictionary
            // open-iscsi's words for each state (iscsiadm -m session -P 1).
            switch entry.session.state {
            case .loggingIn:
                info.connectionState = "IN LOGIN"
                info.sessionState = "FREE"
            case .loggedIn: break
            case .recovering:
                info.connectionState = "TRANSPORT WAIT"
                info.sessionState = "FAILED"
            case .failed:
                info.connectionState = "FAILED"
                info.sessionState = "FREE"
            }
            result.append(info)
        }
        return result
    }

    /// Each live session's statistics, for the metrics endpoint.
    func statistics() async -> [(info: SessionInfo, statistics: InitiatorStatistics)] {
        var result: [(info: SessionInfo, statistics: InitiatorStatistics)] = []
        for sid in live.keys.sorted() {
            guard let entry = live[sid] else { continue }
            result.append((entry.info, await entry.session.statistics()))
        }
        return result
    }

    func rescan(sid: Int) async throws -> SessionInfo {
        guard var entry = live[sid] else { throw ISCSIError(.sessionNotFound, "session \(sid) not found") }
        guard entry.ready else { throw ISCSIError(.again, "session \(sid) is still logging in") }
        let luns: [UInt64]
        do {
            luns = try await entry.session.reportLUNs()
        } catch {
            throw Self.translate(error, host: entry.info.portal.address)
        }
        entry.info.luns = luns.map { SessionLUN(lun: Int($0)) }
        entry.info.notes = nil
        let report = await devices.rescan(
            sid: sid, session: entry.session, address: entry.info.portal.address, port: entry.info.portal.port,
            target: entry.info.target, luns: luns)
        apply(report, to: &entry.info)
        live[sid] = entry
        return entry.info
    }

    func multipathListing() async -> String {
        MultipathMapView.render(devices.multipathMaps)
    }

    /// iscsid is stopping: detach what is not in use, unmount the FUSE directory.
    func shutdown() async {
        await devices.shutdown()
    }

    // MARK: Record to configuration

    /// CHAP from `<prefix>.authmethod`, `.username`, `.password`, `.username_in`, `.password_in`.
    static func applyAuth(_ record: Record, prefix: String, to configuration: inout InitiatorConfiguration) {
        guard record["\(prefix).authmethod"] == "CHAP", let user = record["\(prefix).username"], !user.isEmpty else {
            return
        }
        configuration.chap = CHAPCredential(name: user, secret: record["\(prefix).password"] ?? "")
        if let targetUser = record["\(prefix).username_in"], !targetUser.isEmpty {
            configuration.targetCHAP = CHAPCredential(name: targetUser, secret: record["\(prefix).password_in"] ?? "")
        }
    }

    /// open-iscsi's digest setting ("None", "CRC32C", "CRC32C,None", "None,CRC32C") as a preference list.
    static func digests(_ value: String?) -> [DigestAlgorithm] {
        guard let value else { return [.none] }
        let list = value.split(separator: ",").compactMap { DigestAlgorithm(rawValue: String($0).uppercased() == "NONE" ? "None" : String($0).uppercased()) }
        return list.isEmpty ? [.none] : list
    }

    /// "ip:port,tpgt" or "[v6]:port,tpgt" from a SendTargets answer.
    static func parseTargetAddress(_ text: String, defaultPort: Int) -> Portal? {
        var address = Substring(text)
        var tpgt = 1
        if let comma = address.lastIndex(of: ",") {
            tpgt = Int(address[address.index(after: comma)...]) ?? 1
            address = address[..<comma]
        }
        var host = String(address)
        var port = defaultPort
        if address.hasPrefix("["), let close = address.firstIndex(of: "]") {
            host = String(address[address.index(after: address.startIndex)..<close])
            let rest = address[address.index(after: close)...]
            if rest.hasPrefix(":"), let p = Int(rest.dropFirst()) { port = p }
        } else if let colon = address.lastIndex(of: ":"), address.filter({ $0 == ":" }).count == 1 {
            host = String(address[..<colon])
            port = Int(address[address.index(after: colon)...]) ?? defaultPort
        }
        return host.isEmpty ? nil : Portal(address: host, port: port, tpgt: tpgt)
    }

    static func describe(_ parameters: NegotiatedParameters) -> [String: String] {
        [
            "HeaderDigest": parameters.headerDigest ? "CRC32C" : "None",
            "DataDigest": parameters.dataDigest ? "CRC32C" : "None",
            "MaxRecvDataSegmentLength": String(parameters.targetMaxRecvDataSegmentLength),
            "MaxXmitDataSegmentLength": String(parameters.initiatorMaxRecvDataSegmentLength),
            "FirstBurstLength": String(parameters.firstBurstLength),
            "MaxBurstLength": String(parameters.maxBurstLength),
            "ImmediateData": parameters.immediateData ? "Yes" : "No",
            "InitialR2T": parameters.initialR2T ? "Yes" : "No",
            "MaxOutstandingR2T": String(parameters.maxOutstandingR2T),
        ]
    }

    static func log(_ line: String) {
        FileHandle.standardError.write(Data("iscsid: \(line)\n".utf8))
    }

    /// Maps library errors to open-iscsi's codes, which iscsiadm turns into its exit status, and
    /// to one line in open-iscsi's words ("cannot make connection to HOST: Connection refused").
    static func translate(_ error: Error, host: String) -> ISCSIError {
        if let error = error as? ISCSIError { return error }
        guard let failure = error as? ISCSIInitiatorError else { return ISCSIError(.login, "\(error)") }
        switch failure {
        case .loginFailed(let statusClass, let detail, _):
            if statusClass == 2 && detail == 1 { return ISCSIError(.loginAuthFailed, "\(failure)") }
            if statusClass == 2 && detail == 2 { return ISCSIError(.loginAuthFailed, "\(failure)") }
            if statusClass == 2 { return ISCSIError(.fatalLogin, "\(failure)") }
            return ISCSIError(.login, "\(failure)")
        // The login could not be negotiated (a wrong CHAP response from the target included):
        // open-iscsi's LOGIN_AUTHENTICATION_FAILED / LOGIN_NEGOTIATION_FAILED, which its iscsid
        // ends with ISCSI_ERR_FATAL_LOGIN, not retried.
        case .negotiationFailed: return ISCSIError(.fatalLogin, "\(failure)")
        case .cannotConnect(_, let reason):
            return ISCSIError(.transport, "cannot make connection to \(host): \(reason)")
        case .connectionFailed(let reason):
            return ISCSIError(.transport, "Login I/O error, failed to receive a PDU (\(reason))")
        case .timeout: return ISCSIError(.transportTimeout, "\(failure)")
        default: return ISCSIError(.login, "\(failure)")
        }
    }

    /// The code for a target that logged us in but could not answer REPORT LUNS.
    static func translateScanFailure(_ error: Error) -> ISCSIError {
        guard let failure = error as? ISCSIInitiatorError else { return ISCSIError(.login, "\(error)") }
        switch failure {
        case .timeout: return ISCSIError(.pduTimeout, "REPORT LUNS: \(failure)")
        case .connectionFailed, .sessionFailed: return ISCSIError(.transport, "REPORT LUNS: \(failure)")
        default: return ISCSIError(.login, "REPORT LUNS: \(failure)")
        }
    }
}
