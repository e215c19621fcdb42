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

    func login(node: NodeEntry, sid: Int, initiatorName: String) async throws -> SessionInfo {
        let record = node.record
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
        if let value = record["node.conn[0].timeo.login_timeout"].flatMap(Int64.init), value > 0 {
            configuration.loginTimeout = .seconds(value)
        }
        let session: ISCSISession
        do {
            session = try await ISCSISession.login(
                host: node.portal.address, port: node.portal.port, targetName: node.target,
                configuration: configuration)
        } catch {
            let failure = Self.translate(error, host: node.portal.address)
            // open-iscsi's iscsid logs why a login failed; iscsiadm prints only the code.
            Self.log("Connection\(sid):0 to [target: \(node.target), portal: \(node.portal.commaForm)]: \(failure.message)")
            throw failure
        }
        let luns = (try? await session.reportLUNs()) ?? []
        var info = SessionInfo(
            sid: sid, target: node.target, portal: node.portal, iface: node.iface, initiatorName: initiatorName,
            localAddress: session.localAddress ?? "", record: record, negotiated: Self.describe(session.parameters),
            luns: luns.map { SessionLUN(lun: Int($0)) })
        let report = await devices.attach(
            sid: sid, session: session, address: node.portal.address, port: node.portal.port, target: node.target,
            luns: luns)
        apply(report, to: &info)
        live[sid] = Live(session: session, info: info)
        return info
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
        guard live[sid] != nil else { throw ISCSIError(.sessionNotFound, "session \(sid) not found") }
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
        live.keys.sorted().compactMap { sid in
            guard let entry = live[sid] else { return nil }
            var info = entry.info
            // open-iscsi's words for each state (iscsiadm -m session -P 1).
            switch entry.session.state {
            case .loggingIn, .loggedIn: break
            case .recovering:
                info.connectionState = "TRANSPORT WAIT"
                info.sessionState = "FAILED"
            case .failed:
                info.connectionState = "FAILED"
                info.sessionState = "FREE"
            }
            return info
        }
    }

    func rescan(sid: Int) async throws -> SessionInfo {
        guard var entry = live[sid] else { throw ISCSIError(.sessionNotFound, "session \(sid) not found") }
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
        case .cannotConnect(_, let reason):
            return ISCSIError(.transport, "cannot make connection to \(host): \(reason)")
        case .connectionFailed(let reason):
            return ISCSIError(.transport, "Login I/O error, failed to receive a PDU (\(reason))")
        case .timeout: return ISCSIError(.transportTimeout, "\(failure)")
        default: return ISCSIError(.login, "\(failure)")
        }
    }
}
