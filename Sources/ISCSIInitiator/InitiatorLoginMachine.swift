import ISCSIProtocol
import NIOCore

/// The initiator's side of one login (RFC 7143 6), as a pure state machine: feed it Login
/// Responses, send what it returns.
public struct InitiatorLoginMachine: Sendable {
    public enum Action: Sendable {
        case send(LoginRequest)
        case complete(LoginResult)
        case fail(ISCSIInitiatorError)
    }

    public struct LoginResult: Sendable {
        public var parameters: NegotiatedParameters
        public var tsih: UInt16
        public var cmdSN: UInt32
        public var expStatSN: UInt32
        public var maxCmdSN: UInt32
    }

    private var negotiator: InitiatorNegotiator
    private var chap: InitiatorCHAPAuthenticator?
    private let isid: UInt64
    private let tsih: UInt16
    private let itt: UInt32
    private let cid: UInt16
    private let cmdSN: UInt32
    private var expStatSN: UInt32 = 0
    private var stage: LoginStage = .securityNegotiation
    private var accumulator = TextAccumulator()
    private var sentOperational = false
    private var done = false

    public init(
        negotiation: InitiatorNegotiationConfiguration, chap: InitiatorCHAPAuthenticator.Configuration?,
        isid: UInt64, tsih: UInt16 = 0, cid: UInt16 = 0, initiatorTaskTag: UInt32 = 0, cmdSN: UInt32 = 1
    ) {
        self.negotiator = InitiatorNegotiator(configuration: negotiation)
        self.chap = chap.map { InitiatorCHAPAuthenticator(configuration: $0) }
        self.isid = isid
        self.tsih = tsih
        self.itt = initiatorTaskTag
        self.cid = cid
        self.cmdSN = cmdSN
    }

    private var usesCHAP: Bool { negotiator.configuration.authMethods.contains(.chap) }

    public mutating func start() -> LoginRequest {
        let pairs = negotiator.securityOffers()
        if usesCHAP {
            return request(pairs, transit: false, nsg: .loginOperationalNegotiation)
        }
        // No authentication: declare AuthMethod=None and move on to the operational stage.
        return request(pairs, transit: true, nsg: .loginOperationalNegotiation)
    }

    private func request(_ pairs: [TextKeyValue], transit: Bool, nsg: LoginStage, continue: Bool = false) -> LoginRequest {
        var data = ByteBuffer()
        TextKeyCodec.encode(pairs, into: &data)
        return LoginRequest(
            transit: transit, continue: `continue`, csg: stage, nsg: transit ? nsg : .securityNegotiation,
            versionMax: 0, versionMin: 0, isid: isid, tsih: tsih, initiatorTaskTag: itt, cid: cid, cmdSN: cmdSN,
            expStatSN: expStatSN, dataSegment: data)
    }

    public mutating func receive(_ response: LoginResponse) -> Action {
        guard !done else { return .fail(.protocolViolation("Login Response after the login ended")) }
        guard response.statusClass == .success else {
            done = true
            var message = ""
            if response.statusClass == .redirection,
                let pairs = try? TextKeyCodec.decode(response.dataSegment),
                let address = pairs.first(where: { $0.key == "TargetAddress" })
            {
                message = "redirected to \(address.value)"
            }
            return .fail(.loginFailed(
                statusClass: response.statusClass.rawValue, statusDetail: response.statusDetail, message: message))
        }
        // Version 0 is the only one RFC 7143 defines; a target claiming another must not be trusted
        // to speak this one.
        guard response.versionMax == 0, response.versionActive == 0 else {
            done = true
            return .fail(.negotiationFailed(
                "unsupported version: the target answered with version-max 0x\(hex(response.versionMax)) and "
                    + "version-active 0x\(hex(response.versionActive)); only version 0 exists"))
        }
        guard response.initiatorTaskTag == itt, response.isid == isid else {
            return fail(
                "Login Response for ITT 0x\(hex(response.initiatorTaskTag)) and ISID 0x\(hex(response.isid)); "
                    + "ours are 0x\(hex(itt)) and 0x\(hex(isid))")
        }
        guard !(response.transit && response.continue) else { return fail("Login Response with both the T and C bits") }
        guard response.csg == stage else { return fail("Login Response in stage \(response.csg.rawValue), expected \(stage.rawValue)") }
        if response.transit, response.nsg.rawValue <= response.csg.rawValue || response.nsg.rawValue == 2 {
            return fail("Login Response moves from stage \(response.csg.rawValue) to stage \(response.nsg.rawValue)")
        }
        expStatSN = response.statSN &+ 1
        do {
            try accumulator.append(response.dataSegment)
        } catch {
            return fail("login text too long: \(error)")
        }
        if response.continue {
            // More text follows: ask for it with an empty request.
            return .send(request([], transit: false, nsg: stage))
        }
        let pairs: [TextKeyValue]
        do {
            pairs = try accumulator.finish()
        } catch {
            return fail("bad login text: \(error)")
        }
        accumulator.reset()
        if stage == .securityNegotiation {
            return security(pairs, response)
        }
        return operational(pairs, response)
    }

    private mutating func fail(_ message: String) -> Action {
        done = true
        return .fail(.protocolViolation(message))
    }

    private mutating func security(_ pairs: [TextKeyValue], _ response: LoginResponse) -> Action {
        let result = negotiator.process(response: pairs, stage: .security)
        if let failure = result.failure { return failNegotiation(failure.description) }
        let reply = result.reply ?? NegotiationReply()
        var out = reply.pairs
        if reply.authMethod == .chap || !reply.authenticationKeys.isEmpty {
            guard chap != nil else { return failNegotiation("target chose CHAP, but no CHAP credential is configured") }
            if case .initial = chap!.state {
                out += chap!.start()
                return .send(request(out, transit: false, nsg: .loginOperationalNegotiation))
            }
            let step = chap!.receive(reply.authenticationKeys)
            switch step.outcome {
            case .failure(let f):
                return failNegotiation(f.description)
            case .proceed:
                out += step.reply
                return .send(request(out, transit: true, nsg: .loginOperationalNegotiation))
            case .success:
                out += step.reply
                if !step.reply.isEmpty {
                    return .send(request(out, transit: true, nsg: .loginOperationalNegotiation))
                }
            }
        } else if usesCHAP, negotiator.configuration.authMethods == [.chap], response.transit {
            return failNegotiation("target skipped CHAP, but mutual authentication is required")
        }
        guard response.transit else {
            return .send(request(out, transit: true, nsg: .loginOperationalNegotiation))
        }
        if let chap, case .awaitingTargetResponse = chap.state {
            return failNegotiation("target left the security stage without authenticating itself")
        }
        if response.nsg == .fullFeaturePhase {
            return finish(response)
        }
        stage = .loginOperationalNegotiation
        sentOperational = true
        let offers = out + negotiator.operationalOffers()
        return .send(request(offers, transit: true, nsg: .fullFeaturePhase))
    }

    private mutating func failNegotiation(_ message: String) -> Action {
        done = true
        return .fail(.negotiationFailed(message))
    }

    private mutating func operational(_ pairs: [TextKeyValue], _ response: LoginResponse) -> Action {
        let result = negotiator.process(response: pairs, stage: .operational)
        if let failure = result.failure { return failNegotiation(failure.description) }
        var out = result.reply?.pairs ?? []
        if !sentOperational {
            sentOperational = true
            out += negotiator.operationalOffers()
        }
        if response.transit && response.nsg == .fullFeaturePhase && out.isEmpty {
            return finish(response)
        }
        return .send(request(out, transit: true, nsg: .fullFeaturePhase))
    }

    private mutating func finish(_ response: LoginResponse) -> Action {
        done = true
        guard response.tsih != 0 else { return .fail(.protocolViolation("final Login Response has TSIH 0")) }
        // Reinstating a session: the target must continue that one.
        guard tsih == 0 || response.tsih == tsih else {
            return .fail(.protocolViolation("final Login Response has TSIH \(response.tsih), for session \(tsih)"))
        }
        return .complete(LoginResult(
            parameters: negotiator.negotiated, tsih: response.tsih, cmdSN: response.expCmdSN,
            expStatSN: response.statSN &+ 1, maxCmdSN: response.maxCmdSN))
    }
}

private func hex<T: BinaryInteger>(_ value: T) -> String { String(value, radix: 16) }
