// Fuzz target: the target's login state machine (LoginStateMachine, internal to ISCSITarget,
// reached with @testable import: the fuzz build passes -enable-testing) fed the Login Request
// PDUs decoded from the input, as TargetConnectionHandler feeds it.
//
// Input: byte 0 configures the target (bit 0 CHAP required, bit 1 mutual CHAP, bit 2 CHAP for
// discovery, bit 3 an ACL admitting one initiator, bit 4 no existing sessions, bit 5 digests
// required), the rest is the byte stream of PDUs (no digests, 8 KiB data segments, as in login).
// CHAP challenges come from a fixed source so seeds can carry correct answers. With FUZZ_DEBUG
// set, each action of the machine is printed (to read what an input does).
//
// Invariants: every response echoes ISID and ITT, counts StatSN up from the first ExpStatSN,
// moves only forward (T only when asked, NSG after CSG), carries text our decoder accepts with
// each key once and a data segment within the 8192 bytes the initiator may receive during
// login, and re-encodes to itself; failures have a non-zero status class and end the login;
// a completed login names a valid initiator, has a target exactly for normal sessions,
// passed CHAP when required, and consistent parameters.
import FuzzSupport
import Glibc
import ISCSIProtocol
import NIOCore

@testable import ISCSITarget

enum Fixture {
    static let initiatorName = "iqn.2026-11.org.example:fuzz"
    static let targetName = "iqn.2026-11.org.example:disk"
    static let user = "fuzzuser"
    static let secret = "fuzzsecret1234"
    static let targetUser = "fuzztarget"
    static let targetSecret = "targetsecret99"
    static let target = ExportedTarget(tid: 1, name: targetName)
    /// A fixed "random" source: the target's CHAP_I and CHAP_C are the same every run.
    static let random = CHAPRandomSource { count in (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) } }
    static let incoming = [user: secret]
    static let outgoing = CHAPCredential(name: targetUser, secret: targetSecret)
}

private func makeMachine(flags: UInt8) -> LoginStateMachine {
    var authentication = TargetAuthentication()
    if flags & 1 != 0 { authentication.incoming = Fixture.incoming }
    if flags & 2 != 0 { authentication.outgoing = Fixture.outgoing }
    Fixture.target.authentication = authentication
    var discovery = TargetAuthentication()
    if flags & 4 != 0 {
        discovery.incoming = Fixture.incoming
        discovery.outgoing = flags & 2 != 0 ? Fixture.outgoing : nil
    }
    var configuration = TargetNegotiationConfiguration()
    if flags & 0x20 != 0 {
        configuration.headerDigests = [.crc32c]
        configuration.dataDigests = [.crc32c]
    }
    let admitOne = flags & 8 != 0
    let noSessions = flags & 0x10 != 0
    return LoginStateMachine(
        configuration: configuration, portalGroupTag: 1, maxCmdSNWindow: 32,
        resolveTarget: { targetName, initiatorName in
            guard targetName.lowercased() == Fixture.targetName else {
                return .failure(.notFound("no target named \(targetName)"))
            }
            if admitOne, initiatorName != Fixture.initiatorName {
                return .failure(.authorizationFailure("\(initiatorName) is not in the ACL"))
            }
            return .success(Fixture.target)
        },
        sessionExists: { _, _, _ in !noSessions }, discoveryAuthentication: discovery, chapRandom: Fixture.random)
}

private func checkResponse(_ response: LoginResponse, to request: LoginRequest, statSN: UInt32?) {
    fuzzCheck(response.isid == request.isid & 0xFFFF_FFFF_FFFF, "ISID \(response.isid) answers \(request.isid)")
    fuzzCheck(response.initiatorTaskTag == request.initiatorTaskTag, "ITT not echoed")
    if let statSN { fuzzCheck(response.statSN == statSN, "StatSN \(response.statSN), expected \(statSN)") }
    fuzzCheck(response.versionMax == 0 && response.versionActive == 0, "version \(response.versionMax)/\(response.versionActive)")
    fuzzCheck(!response.continue, "a response with C set")
    fuzzCheck(response.csg == request.csg, "CSG \(response.csg.rawValue) answers \(request.csg.rawValue)")
    if response.transit {
        fuzzCheck(request.transit, "T set in a response to a request without T")
        fuzzCheck(response.nsg.rawValue > response.csg.rawValue, "transit from \(response.csg.rawValue) to \(response.nsg.rawValue)")
    }
    fuzzCheck(response.dataSegment.readableBytes <= 8192,
              "a login response of \(response.dataSegment.readableBytes) bytes; the initiator takes 8192 during login")
    do {
        let pairs = try TextKeyCodec.decode(response.dataSegment)
        var seen = Set<String>()
        for pair in pairs { fuzzCheck(seen.insert(pair.key).inserted, "response names \(pair.key) twice") }
    } catch {
        fuzzCheck(false, "the response's text does not decode: \(error)")
    }
    // What goes on the wire decodes to the same response.
    var wire = ByteBuffer()
    PDUEncoder().encode(.loginResponse(response), into: &wire)
    var decoder = PDUFrameDecoder(limits: FramingLimits(maxDataSegmentLength: 1 << 24))
    do {
        guard let frame = try decoder.next(from: &wire) else { return fuzzCheck(false, "response is not a whole frame") }
        let decoded = try ISCSIPDU(frame: frame)
        fuzzCheck(decoded == .loginResponse(response), "response changed through the wire")
    } catch {
        fuzzCheck(false, "response does not decode: \(error)")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLogin(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let flags = input.byte()
    var machine = makeMachine(flags: flags)
    var buffer = ByteBuffer(bytes: input.rest())
    var decoder = PDUFrameDecoder()
    var nextStatSN: UInt32?
    while !machine.isFinished {
        let frame: PDUFrame
        do {
            guard let next = try decoder.next(from: &buffer) else { break }
            frame = next
        } catch {
            // The connection handler closes the connection on a framing error during login.
            break
        }
        guard case .loginRequest(let request)? = try? ISCSIPDU(frame: frame) else {
            break  // and on anything but a Login Request
        }
        // The first response's StatSN is the target's to choose (it follows ExpStatSN once the
        // first request is accepted); each later one counts up by one.
        let statSN = nextStatSN
        let action = machine.receive(request)
        if getenv("FUZZ_DEBUG") != nil { print(action) }
        switch action {
        case .respond(let response), .fail(let response, _), .complete(let response, _):
            nextStatSN = response.statSN &+ 1
        }
        switch action {
        case .respond(let response):
            checkResponse(response, to: request, statSN: statSN)
            fuzzCheck(response.statusClass == .success, "respond with status \(response.statusClass)")
            fuzzCheck(!machine.isFinished, "finished after an ordinary response")
        case .fail(let response, let failure):
            checkResponse(response, to: request, statSN: statSN)
            fuzzCheck(failure.statusClass != 0 && response.statusClass.rawValue == failure.statusClass
                        && response.statusDetail == failure.statusDetail, "failure \(failure) answered with \(response)")
            fuzzCheck(!response.transit && response.tsih == 0, "a failure response with T or a TSIH")
            fuzzCheck(machine.isFinished, "not finished after a failure")
        case .complete(let response, let outcome):
            checkResponse(response, to: request, statSN: statSN)
            fuzzCheck(response.statusClass == .success && response.transit && response.nsg == .fullFeaturePhase,
                      "completion answered with \(response)")
            fuzzCheck(machine.isFinished, "not finished after completion")
            fuzzCheck((try? ISCSIName.validate(outcome.initiatorName)) != nil, "invalid initiator \(outcome.initiatorName)")
            let discovery = outcome.parameters.sessionType == .discovery
            fuzzCheck((outcome.target == nil) == discovery, "target \(String(describing: outcome.target?.name)) for a \(outcome.parameters.sessionType) session")
            let needsCHAP = discovery ? flags & 4 != 0 : flags & 1 != 0
            if needsCHAP {
                fuzzCheck(machine.authenticatedUser == Fixture.user, "logged in without CHAP")
                fuzzCheck(outcome.parameters.authMethod == .chap, "AuthMethod \(outcome.parameters.authMethod) with CHAP required")
            }
            if flags & 8 != 0, !discovery {
                fuzzCheck(outcome.initiatorName == Fixture.initiatorName, "\(outcome.initiatorName) passed the ACL")
            }
            if flags & 0x20 != 0 {
                fuzzCheck(outcome.parameters.headerDigest && outcome.parameters.dataDigest, "logged in without required digests")
            }
            let p = outcome.parameters
            fuzzCheck(p.firstBurstLength <= p.maxBurstLength, "FirstBurstLength above MaxBurstLength")
            fuzzCheck(outcome.nextStatSN == response.statSN &+ 1, "next StatSN \(outcome.nextStatSN) after \(response.statSN)")
        }
    }
    return 0
}

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    writeSeedsIfRequested(seeds)
    return 0
}

// MARK: Seeds: whole logins played against the machine itself, so CHAP answers are right.

private func text(_ pairs: [TextKeyValue]) -> ByteBuffer {
    var buffer = ByteBuffer()
    TextKeyCodec.encode(pairs, into: &buffer)
    return buffer
}

private func keys(_ response: LoginResponse) -> [TextKeyValue] {
    (try? TextKeyCodec.decode(response.dataSegment)) ?? []
}

/// Plays a login as our initiator would, recording the requests.
private func login(flags: UInt8, discovery: Bool, chap: Bool, continued: Bool = false) -> [UInt8] {
    var machine = makeMachine(flags: flags)
    var requests: [LoginRequest] = []
    func send(_ csg: UInt8, _ nsg: UInt8, transit: Bool, _ pairs: [TextKeyValue], continue: Bool = false, data: ByteBuffer? = nil)
        -> LoginResponse?
    {
        let request = LoginRequest(
            transit: transit, continue: `continue`, csg: LoginStage(rawValue: csg), nsg: LoginStage(rawValue: nsg),
            isid: 0x80_1234_5678, initiatorTaskTag: 0x10, cid: 0, cmdSN: 1, expStatSN: 0,
            dataSegment: data ?? text(pairs))
        requests.append(request)
        switch machine.receive(request) {
        case .respond(let response): return response
        case .fail, .complete: return nil
        }
    }
    var names = [TextKeyValue("InitiatorName", Fixture.initiatorName), TextKeyValue("InitiatorAlias", "fuzz")]
    names.append(discovery ? TextKeyValue("SessionType", "Discovery") : TextKeyValue("SessionType", "Normal"))
    if !discovery { names.append(TextKeyValue("TargetName", Fixture.targetName)) }
    let operational = [
        TextKeyValue("HeaderDigest", flags & 0x20 != 0 ? "CRC32C" : "None,CRC32C"),
        TextKeyValue("DataDigest", flags & 0x20 != 0 ? "CRC32C" : "None,CRC32C"),
        TextKeyValue("MaxRecvDataSegmentLength", "262144"), TextKeyValue("MaxBurstLength", "262144"),
        TextKeyValue("FirstBurstLength", "65536"), TextKeyValue("InitialR2T", "No"),
        TextKeyValue("ImmediateData", "Yes"), TextKeyValue("MaxOutstandingR2T", "1"),
        TextKeyValue("MaxConnections", "1"), TextKeyValue("ErrorRecoveryLevel", "0"),
        TextKeyValue("DefaultTime2Wait", "2"), TextKeyValue("DefaultTime2Retain", "0"),
        TextKeyValue("DataPDUInOrder", "Yes"), TextKeyValue("DataSequenceInOrder", "Yes"),
    ]
    if chap {
        var initiator = InitiatorCHAPAuthenticator(
            configuration: .init(
                credential: CHAPCredential(name: Fixture.user, secret: Fixture.secret),
                targetCredential: flags & 2 != 0 ? Fixture.outgoing : nil),
            random: CHAPRandomSource { count in [UInt8](repeating: 0x42, count: count) })
        guard let first = send(0, 1, transit: false, names + [TextKeyValue("AuthMethod", "CHAP,None")]),
              let second = send(0, 1, transit: false, initiator.start())
        else { return serialize(flags, requests) }
        let step = initiator.receive(keys(second).filter { $0.key.hasPrefix("CHAP_") })
        _ = first
        guard let third = send(0, 1, transit: true, step.reply) else { return serialize(flags, requests) }
        _ = initiator.receive(keys(third).filter { $0.key.hasPrefix("CHAP_") })
    } else if continued {
        // The first request's text spread over two PDUs with C set on the first.
        let all = text(names + [TextKeyValue("AuthMethod", "None")])
        let cut = all.readableBytes / 2
        _ = send(0, 0, transit: false, [], continue: true, data: all.getSlice(at: 0, length: cut))
        _ = send(0, 1, transit: true, [], data: all.getSlice(at: cut, length: all.readableBytes - cut))
    } else {
        _ = send(0, 1, transit: true, names + [TextKeyValue("AuthMethod", "None")])
    }
    _ = send(1, 3, transit: true, discovery ? Array(operational.prefix(3)) : operational)
    return serialize(flags, requests)
}

private func serialize(_ flags: UInt8, _ requests: [LoginRequest]) -> [UInt8] {
    var wire = ByteBuffer()
    for request in requests { PDUEncoder().encode(.loginRequest(request), into: &wire) }
    return [flags] + Array(wire.readableBytesView)
}

private func seeds() -> [[UInt8]] {
    [
        login(flags: 0, discovery: false, chap: false),
        login(flags: 0, discovery: true, chap: false),
        login(flags: 0, discovery: false, chap: false, continued: true),
        login(flags: 1, discovery: false, chap: true),
        login(flags: 3, discovery: false, chap: true),
        login(flags: 4, discovery: true, chap: true),
        login(flags: 0x08, discovery: false, chap: false),
        login(flags: 0x21, discovery: false, chap: true),
    ]
}
