import ISCSIProtocol
import ISCSITestSupport
import NIOCore
import SCSITarget
import XCTest

@testable import ISCSITarget

/// Names and numbers shared by the engine tests.
enum Fixture {
    static let initiatorName = "iqn.2026-11.org.example.test:initiator"
    static let targetName = "iqn.2026-11.org.example.test:disk"
    static let isid: UInt64 = 0x80_12_34_56_78_9a

    /// "key=value" strings as a NUL-separated text segment.
    static func text(_ pairs: [String]) -> ByteBuffer { PDUBuilders.textSegment(pairs) }

    /// Decodes a login/text data segment into key -> value (duplicates allowed, last wins).
    static func keys(_ segment: ByteBuffer, file: StaticString = #filePath, line: UInt = #line) -> [String: String] {
        do {
            let pairs = try TextKeyCodec.decode(segment, limits: .sendTargetsResponse)
            return Dictionary(pairs.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
        } catch {
            XCTFail("undecodable text: \(error)", file: file, line: line)
            return [:]
        }
    }

    /// A buffer of `count` bytes following a simple pattern, so misplaced bytes show.
    static func pattern(_ count: Int, seed: UInt8 = 0) -> ByteBuffer {
        var buffer = ByteBuffer()
        for i in 0..<count { buffer.writeInteger(UInt8(truncatingIfNeeded: i &* 7 &+ Int(seed))) }
        return buffer
    }

    /// READ(10) of `blocks` 512-byte blocks at `lba`.
    static func read10(lba: UInt32, blocks: UInt16) -> ByteBuffer {
        var cdb = ByteBuffer()
        cdb.writeInteger(UInt8(0x28))
        cdb.writeInteger(UInt8(0))
        cdb.writeInteger(lba)
        cdb.writeInteger(UInt8(0))
        cdb.writeInteger(blocks)
        cdb.writeInteger(UInt8(0))
        cdb.writeRepeatingByte(0, count: 6)
        return cdb
    }

    /// WRITE(10) of `blocks` 512-byte blocks at `lba`.
    static func write10(lba: UInt32, blocks: UInt16) -> ByteBuffer {
        var cdb = read10(lba: lba, blocks: blocks)
        cdb.setInteger(UInt8(0x2A), at: cdb.readerIndex)
        return cdb
    }

    /// The 48-byte BHS of `pdu`, as the connection handler passes it to the session machine.
    static func header(of pdu: ISCSIPDU) -> ByteBuffer {
        let encoded = PDUEncoder().encode(pdu, allocator: ByteBufferAllocator())
        return encoded.header.getSlice(at: encoded.header.readerIndex, length: 48)!
    }

    static func result(
        _ status: SCSIStatus = .good, data: ByteBuffer? = nil, sense: ByteBuffer? = nil
    ) -> SCSICommandResult {
        SCSICommandResult(status: status, senseData: sense, dataIn: data)
    }
}

// MARK: - Login

extension LoginStateMachine.Action {
    var response: LoginResponse {
        switch self {
        case .respond(let r), .fail(let r, _), .complete(let r, _): return r
        }
    }

    var failure: LoginFailure? {
        if case .fail(_, let failure) = self { return failure }
        return nil
    }

    var outcome: LoginOutcome? {
        if case .complete(_, let outcome) = self { return outcome }
        return nil
    }

    var isRespond: Bool {
        if case .respond = self { return true }
        return false
    }
}

/// Builds login requests with constant ISID/ITT/CID/CmdSN, as one login sends them.
struct LoginScript {
    var isid = Fixture.isid
    var itt: UInt32 = 0x0000_0a11
    var cid: UInt16 = 1
    var cmdSN: UInt32 = 5
    var expStatSN: UInt32 = 100

    func request(
        csg: UInt8, nsg: UInt8 = 0, transit: Bool, continue: Bool = false, _ pairs: [String],
        tsih: UInt16 = 0, versionMin: UInt8 = 0, versionMax: UInt8 = 0
    ) -> LoginRequest {
        request(
            csg: csg, nsg: nsg, transit: transit, continue: `continue`, data: Fixture.text(pairs), tsih: tsih,
            versionMin: versionMin, versionMax: versionMax)
    }

    func request(
        csg: UInt8, nsg: UInt8 = 0, transit: Bool, continue: Bool = false, data: ByteBuffer,
        tsih: UInt16 = 0, versionMin: UInt8 = 0, versionMax: UInt8 = 0
    ) -> LoginRequest {
        LoginRequest(
            transit: transit, continue: `continue`, csg: LoginStage(rawValue: csg), nsg: LoginStage(rawValue: nsg),
            versionMax: versionMax, versionMin: versionMin, isid: isid, tsih: tsih, initiatorTaskTag: itt, cid: cid,
            cmdSN: cmdSN, expStatSN: expStatSN, dataSegment: data)
    }

    /// The usual first request: names and AuthMethod, moving to the operational stage.
    func securityRequest(extra: [String] = []) -> LoginRequest {
        request(
            csg: 0, nsg: 1, transit: true,
            [
                "InitiatorName=\(Fixture.initiatorName)", "TargetName=\(Fixture.targetName)",
                "SessionType=Normal", "AuthMethod=None",
            ] + extra)
    }
}

/// A login machine whose resolver knows one target admitting one initiator (or everyone).
struct LoginHarness {
    var machine: LoginStateMachine
    let window: UInt32
    let resolved: Resolved

    final class Resolved: @unchecked Sendable {
        var calls: [(target: String, initiator: String)] = []
    }

    init(
        configuration: TargetNegotiationConfiguration = TargetNegotiationConfiguration(), portalGroupTag: UInt16 = 7,
        window: UInt32 = 32, admitted: String? = nil,
        sessionExists: @escaping LoginStateMachine.SessionLookup = { _, _, _ in true },
        authentication: TargetAuthentication = TargetAuthentication(),
        chapAlgorithms: [CHAPAlgorithm] = CHAPAlgorithm.allCases
    ) {
        let target = ExportedTarget(tid: 1, name: Fixture.targetName)
        target.authentication = authentication
        let resolved = Resolved()
        self.window = window
        self.resolved = resolved
        machine = LoginStateMachine(
            configuration: configuration, portalGroupTag: portalGroupTag, maxCmdSNWindow: window,
            resolveTarget: { targetName, initiatorName in
                resolved.calls.append((targetName, initiatorName))
                guard targetName.lowercased() == target.name.lowercased() else {
                    return .failure(.notFound("no target named \(targetName)"))
                }
                if let admitted, admitted != initiatorName {
                    return .failure(.authorizationFailure("\(initiatorName) not in ACL"))
                }
                return .success(target)
            }, sessionExists: sessionExists, chapAlgorithms: chapAlgorithms)
    }

    mutating func receive(_ request: LoginRequest) -> LoginStateMachine.Action { machine.receive(request) }
}

// MARK: - Session

extension Array where Element == SessionStateMachine.Action {
    var sent: [ISCSIPDU] {
        compactMap {
            if case .send(let pdu) = $0 { return pdu }
            return nil
        }
    }

    var executed: [(itt: UInt32, request: SCSICommandRequest)] {
        compactMap {
            if case .execute(let itt, let request) = $0 { return (itt, request) }
            return nil
        }
    }

    var dataIns: [DataIn] {
        sent.compactMap {
            if case .dataIn(let d) = $0 { return d }
            return nil
        }
    }

    var r2ts: [R2T] {
        sent.compactMap {
            if case .r2t(let r) = $0 { return r }
            return nil
        }
    }

    var rejects: [Reject] {
        sent.compactMap {
            if case .reject(let r) = $0 { return r }
            return nil
        }
    }

    var scsiResponses: [SCSIResponse] {
        sent.compactMap {
            if case .scsiResponse(let r) = $0 { return r }
            return nil
        }
    }

    var tmfResponses: [TaskManagementResponse] {
        sent.compactMap {
            if case .taskManagementResponse(let r) = $0 { return r }
            return nil
        }
    }

    var textResponses: [TextResponse] {
        sent.compactMap {
            if case .textResponse(let r) = $0 { return r }
            return nil
        }
    }

    var nopIns: [NOPIn] {
        sent.compactMap {
            if case .nopIn(let r) = $0 { return r }
            return nil
        }
    }

    var logoutResponses: [LogoutResponse] {
        sent.compactMap {
            if case .logoutResponse(let r) = $0 { return r }
            return nil
        }
    }

    var closes: Bool {
        contains {
            if case .closeAfterFlush = $0 { return true }
            return false
        }
    }
}

/// Drives a `SessionStateMachine` the way the connection handler does.
struct SessionHarness {
    var machine: SessionStateMachine

    static let lun1 = SAMLUN.encode(1)
    static let lun2 = SAMLUN.encode(2)

    /// Answers SendTargets (wrapped so the parameters closure can trail).
    struct SendTargets {
        var answer: (String) -> [TextKeyValue]
        static let none = SendTargets { _ in [] }
    }

    /// What the SCSI layer answers about a CDB's Data-Out (wrapped so the parameters closure can
    /// trail).
    struct Demand {
        var source: SessionStateMachine.DataOutDemandSource
        /// Every write gathers all its ExpectedDataTransferLength, as if the CDB named exactly that.
        static let wholeTransfer = Demand { _, _, expected in DataOutDemand(length: Int(expected), gather: Int(expected)) }
    }

    /// A normal session at ExpCmdSN 10 and StatSN 50 with the given parameters.
    init(
        window: UInt32 = 8, discovery: Bool = false, expCmdSN: UInt32 = 10, statSN: UInt32 = 50,
        sendTargets: SendTargets = .none, connectionBudget: Int = 1 << 30, maxImmediateTasks: Int = 16,
        budget: DataBudget = DataBudget(limit: 1 << 40),
        dataOutDemand: Demand = .wholeTransfer,
        _ configure: (inout NegotiatedParameters) -> Void = { _ in }
    ) {
        var parameters = NegotiatedParameters()
        configure(&parameters)
        let outcome = LoginOutcome(
            isid: Fixture.isid, connectionID: 1, initiatorName: Fixture.initiatorName, initiatorAlias: nil,
            target: discovery ? nil : ExportedTarget(tid: 1, name: Fixture.targetName), parameters: parameters,
            negotiator: TargetNegotiator(
                configuration: TargetNegotiationConfiguration(), sessionType: discovery ? .discovery : .normal),
            expCmdSN: expCmdSN, nextStatSN: statSN)
        machine = SessionStateMachine(
            outcome: outcome,
            limits: SessionLimits(
                commandWindow: window, connectionDataBudget: connectionBudget, maxImmediateTasks: maxImmediateTasks),
            budget: budget, dataOutDemand: dataOutDemand.source, sendTargets: sendTargets.answer)
    }

    mutating func receive(_ pdu: ISCSIPDU) -> [SessionStateMachine.Action] {
        var actions: [SessionStateMachine.Action] = []
        machine.received(pdu, rawHeader: Fixture.header(of: pdu), into: &actions)
        return actions
    }

    mutating func complete(_ itt: UInt32, _ result: SCSICommandResult) -> [SessionStateMachine.Action] {
        var actions: [SessionStateMachine.Action] = []
        machine.commandCompleted(initiatorTaskTag: itt, result: result, into: &actions)
        machine.admitWaiting(into: &actions)  // as the connection does once the answer is queued
        return actions
    }

    static func read(
        itt: UInt32, cmdSN: UInt32, length: UInt32, lun: UInt64 = lun1, immediate: Bool = false
    ) -> ISCSIPDU {
        .scsiCommand(
            SCSICommand(
                immediate: immediate, final: true, read: true, lun: lun, initiatorTaskTag: itt,
                expectedDataTransferLength: length, cmdSN: cmdSN,
                cdb: Fixture.read10(lba: 0, blocks: UInt16(truncatingIfNeeded: (length + 511) / 512))))
    }

    static func write(
        itt: UInt32, cmdSN: UInt32, length: UInt32, immediateData: ByteBuffer = ByteBuffer(), final: Bool = true,
        lun: UInt64 = lun1
    ) -> ISCSIPDU {
        .scsiCommand(
            SCSICommand(
                final: final, write: true, lun: lun, initiatorTaskTag: itt, expectedDataTransferLength: length,
                cmdSN: cmdSN, cdb: Fixture.write10(lba: 0, blocks: UInt16(truncatingIfNeeded: (length + 511) / 512)),
                dataSegment: immediateData))
    }

    static func dataOut(
        itt: UInt32, ttt: UInt32 = ISCSITag.reserved, dataSN: UInt32, offset: UInt32, _ data: ByteBuffer,
        final: Bool = false, lun: UInt64 = lun1
    ) -> ISCSIPDU {
        .dataOut(
            DataOut(
                final: final, lun: lun, initiatorTaskTag: itt, targetTransferTag: ttt, dataSN: dataSN,
                bufferOffset: offset, dataSegment: data))
    }

    static func nop(itt: UInt32, cmdSN: UInt32, immediate: Bool = false, data: ByteBuffer = ByteBuffer()) -> ISCSIPDU {
        .nopOut(NOPOut(immediate: immediate, initiatorTaskTag: itt, cmdSN: cmdSN, dataSegment: data))
    }

    static func tmf(
        _ function: TaskManagementRequest.Function, itt: UInt32, cmdSN: UInt32, referenced: UInt32 = ISCSITag.reserved,
        refCmdSN: UInt32 = 0, lun: UInt64 = lun1, immediate: Bool = true
    ) -> ISCSIPDU {
        .taskManagementRequest(
            TaskManagementRequest(
                immediate: immediate, function: function, lun: lun, initiatorTaskTag: itt,
                referencedTaskTag: referenced, cmdSN: cmdSN, refCmdSN: refCmdSN))
    }
}
