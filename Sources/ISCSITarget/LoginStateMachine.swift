import ISCSIProtocol
import NIOCore

/// What the login phase decided once the initiator transits to full feature phase.
struct LoginOutcome {
    var isid: UInt64
    var connectionID: UInt16
    var initiatorName: String
    var initiatorAlias: String?
    /// nil for a discovery session.
    var target: ExportedTarget?
    var parameters: NegotiatedParameters
    /// Carries on into full feature phase for Text Request negotiation.
    var negotiator: TargetNegotiator
    /// The CmdSN the session starts at (the login's CmdSN).
    var expCmdSN: UInt32
    /// The StatSN of the next response after the final login response.
    var nextStatSN: UInt32
}

/// The target side of the login phase of one connection (RFC 7143 6.3), without IO.
///
/// Feed it each Login Request; it answers with what to send and whether the connection goes on,
/// fails (send the response, then close) or enters full feature phase.
struct LoginStateMachine {
    enum Action {
        /// Send this response and wait for the next Login Request.
        case respond(LoginResponse)
        /// Send this (failure) response, then close the connection.
        case fail(LoginResponse, LoginFailure)
        /// Send this response (its TSIH is filled in by the caller) and enter full feature phase.
        case complete(LoginResponse, LoginOutcome)
    }

    enum Stage: UInt8 { case security = 0, operational = 1, fullFeature = 3 }

    /// Finds the target for a normal session and checks the initiator may log in to it.
    typealias TargetResolver = (_ targetName: String, _ initiatorName: String) -> Result<ExportedTarget, LoginFailure>
    typealias SessionLookup = (_ tsih: UInt16, _ isid: UInt64, _ initiatorName: String) -> Bool

    private let resolveTarget: TargetResolver
    /// Whether a live session has this TSIH and belongs to this ISID and initiator name.
    private let sessionExists: SessionLookup
    private let discoveryAuthentication: TargetAuthentication
    private let chapRandom: CHAPRandomSource
    private let chapAlgorithms: [CHAPAlgorithm]
    private var authentication = TargetAuthentication()
    private var chap: TargetCHAPAuthenticator?
    private(set) var authenticatedUser: String?
    private let portalGroupTag: UInt16
    private let negotiationConfiguration: TargetNegotiationConfiguration
    private let maxCmdSNWindow: UInt32

    private var first: LoginRequest?
    private var stage: Stage = .security
    private var negotiator: TargetNegotiator?
    private var textBuffer: ByteBuffer?
    private var statSN: UInt32 = 0
    private var initiatorName: String?
    private var initiatorAlias: String?
    private var target: ExportedTarget?
    private var isDiscovery = false
    private var sentPortalGroupTag = false
    private(set) var isFinished = false

    /// Bound on the login text gathered over Continue PDUs.
    static let maxLoginTextBytes = 64 * 1024

    init(
        configuration: TargetNegotiationConfiguration, portalGroupTag: UInt16, maxCmdSNWindow: UInt32,
        resolveTarget: @escaping TargetResolver, sessionExists: @escaping SessionLookup = { _, _, _ in true },
        discoveryAuthentication: TargetAuthentication = TargetAuthentication(),
        chapAlgorithms: [CHAPAlgorithm] = CHAPAlgorithm.allCases, chapRandom: CHAPRandomSource = .system
    ) {
        self.chapAlgorithms = chapAlgorithms
        self.sessionExists = sessionExists
        self.discoveryAuthentication = discoveryAuthentication
        self.chapRandom = chapRandom
        self.negotiationConfiguration = configuration
        self.portalGroupTag = portalGroupTag
        self.maxCmdSNWindow = maxCmdSNWindow
        self.resolveTarget = resolveTarget
    }

    mutating func receive(_ request: LoginRequest) -> Action {
        precondition(!isFinished, "login already finished")
        do {
            return try process(request)
        } catch let failure as LoginFailure {
            isFinished = true
            return .fail(failureResponse(to: request, failure), failure)
        } catch {
            let failure = LoginFailure.initiatorError("\(error)")
            isFinished = true
            return .fail(failureResponse(to: request, failure), failure)
        }
    }

    private mutating func process(_ request: LoginRequest) throws -> Action {
        try checkConstantFields(request)
        guard let csg = Stage(rawValue: request.csg.rawValue), csg != .fullFeature else {
            throw LoginFailure.initiatorError("invalid CSG \(request.csg.rawValue)")
        }
        if request.transit {
            guard let nsg = Stage(rawValue: request.nsg.rawValue), nsg.rawValue > csg.rawValue else {
                throw LoginFailure.initiatorError("invalid stage transition \(request.csg.rawValue)->\(request.nsg.rawValue)")
            }
            if request.`continue` { throw LoginFailure.initiatorError("both Transit and Continue set") }
        }
        // Stages only move forward; an initiator may skip security when we require no auth.
        if csg.rawValue < stage.rawValue {
            throw LoginFailure.initiatorError("login stage went back from \(stage) to \(csg)")
        }
        stage = csg

        // Gather text spread over Continue PDUs; answer each partial PDU with an empty response.
        var text = textBuffer ?? ByteBuffer()
        var segment = request.dataSegment
        guard text.readableBytes + segment.readableBytes <= Self.maxLoginTextBytes else {
            throw LoginFailure.initiatorError("login text longer than \(Self.maxLoginTextBytes) bytes")
        }
        text.writeBuffer(&segment)
        if request.`continue` {
            textBuffer = text
            return .respond(makeResponse(to: request, transit: false, keys: []))
        }
        textBuffer = nil

        let pairs: [TextKeyValue]
        do {
            pairs = try TextKeyCodec.decode(text)
        } catch {
            throw LoginFailure.initiatorError("malformed login text: \(error)")
        }
        if negotiator == nil { try startSession(pairs) }
        if csg == .operational, authentication.requiresCHAP, !isAuthenticated {
            throw LoginFailure.authenticationFailure("CHAP is required before the operational stage")
        }

        var reply: [TextKeyValue] = []
        let negotiationStage: NegotiationStage = csg == .security ? .security : .operational
        switch negotiator!.respond(to: pairs, stage: negotiationStage, isLeadingConnection: true) {
        case .reply(let answer):
            reply = answer.pairs
            reply += try authenticate(answer.authenticationKeys)
        case .failure(let failure):
            throw LoginFailure(failure)
        }
        if !sentPortalGroupTag && !isDiscovery {
            // An initiator that sent the key itself had it answered Irrelevant: name it once.
            reply.removeAll { $0.key == "TargetPortalGroupTag" }
            reply.append(TextKeyValue(key: "TargetPortalGroupTag", value: String(portalGroupTag)))
            sentPortalGroupTag = true
        }

        // The initiator may ask to move on before CHAP is done (libiscsi does): stay put until it is.
        let mayTransit = csg != .security || !authentication.requiresCHAP || isAuthenticated
        guard request.transit, mayTransit else {
            return .respond(makeResponse(to: request, transit: false, keys: reply))
        }
        let nsg = Stage(rawValue: request.nsg.rawValue)!
        guard nsg == .fullFeature else {
            stage = nsg
            return .respond(makeResponse(to: request, transit: true, keys: reply))
        }
        if let failure = negotiator!.completionFailure() { throw LoginFailure(failure) }
        isFinished = true
        var response = makeResponse(to: request, transit: true, keys: reply)
        response.nsg = .fullFeaturePhase
        let outcome = LoginOutcome(
            isid: request.isid, connectionID: request.cid, initiatorName: initiatorName!,
            initiatorAlias: initiatorAlias, target: target, parameters: negotiator!.negotiated,
            negotiator: negotiator!,
            expCmdSN: first!.cmdSN, nextStatSN: statSN)
        return .complete(response, outcome)
    }

    private var isAuthenticated: Bool { chap?.isAuthenticated ?? false }

    /// Runs the CHAP exchange on the security keys the negotiator handed over.
    private mutating func authenticate(_ keys: [TextKeyValue]) throws -> [TextKeyValue] {
        guard negotiator!.negotiated.authMethod == .chap else {
            if keys.isEmpty { return [] }
            throw LoginFailure.initiatorError("\(keys[0].key) sent without AuthMethod=CHAP")
        }
        if chap == nil {
            chap = TargetCHAPAuthenticator(
                configuration: authentication.authenticatorConfiguration(algorithms: chapAlgorithms), random: chapRandom)
        }
        guard !keys.isEmpty else { return [] }
        let step = chap!.receive(keys)
        switch step.outcome {
        case .proceed:
            break
        case .success(let result):
            authenticatedUser = result.authenticatedName
        case .failure(let failure):
            throw LoginFailure(failure)
        }
        return step.reply
    }

    /// ISID, TSIH, ITT, CID and CmdSN stay the same during one login (RFC 7143 11.12).
    private mutating func checkConstantFields(_ request: LoginRequest) throws {
        guard let first else {
            guard request.versionMin == 0 else {
                throw LoginFailure.unsupportedVersion("initiator needs version \(request.versionMin)..\(request.versionMax)")
            }
            self.first = request
            statSN = request.expStatSN
            return
        }
        if request.isid != first.isid || request.tsih != first.tsih || request.cid != first.cid
            || request.initiatorTaskTag != first.initiatorTaskTag
        {
            throw LoginFailure.initiatorError("ISID, TSIH, CID or ITT changed during login")
        }
    }

    /// The first complete set of keys names the initiator, the session type and the target.
    private mutating func startSession(_ pairs: [TextKeyValue]) throws {
        func value(_ key: String) -> String? { pairs.first { $0.key == key }?.value }
        guard let name = value("InitiatorName") else {
            throw LoginFailure.missingParameter("InitiatorName missing from the first login request")
        }
        do { try ISCSIName.validate(name) } catch {
            throw LoginFailure.initiatorError("bad InitiatorName: \(error)")
        }
        initiatorName = name
        initiatorAlias = value("InitiatorAlias")
        if let tsih = first?.tsih, tsih != 0 {
            // Whether a TSIH is live is told only to the initiator port that owns it: any other
            // ISID or name hears "does not exist", so TSIHs cannot be probed.
            guard let isid = first?.isid, sessionExists(tsih, isid, name) else {
                throw LoginFailure.sessionDoesNotExist("no session with TSIH \(tsih) for \(name)")
            }
            // One connection per session: adding a connection to an existing session is refused.
            throw LoginFailure.tooManyConnections("sessions have a single connection (MaxConnections=1)")
        }
        var sessionType: SessionType = .normal
        switch value("SessionType") ?? "Normal" {
        case "Normal": sessionType = .normal
        case "Discovery": sessionType = .discovery
        case let other: throw LoginFailure.sessionTypeNotSupported("unknown SessionType \(other)")
        }
        isDiscovery = sessionType == .discovery
        if !isDiscovery {
            guard let targetName = value("TargetName") else {
                throw LoginFailure.missingParameter("TargetName missing for a normal session")
            }
            do { try ISCSIName.validate(targetName) } catch {
                throw LoginFailure.notFound("bad TargetName: \(error)")
            }
            switch resolveTarget(targetName, name) {
            case .success(let t): target = t
            case .failure(let failure): throw failure
            }
        }
        authentication = target?.authentication.resolved(forInitiator: name) ?? discoveryAuthentication
        var configuration = negotiationConfiguration
        configuration.authMethods =
            authentication.requiresCHAP ? [.chap] : authentication.offersCHAP ? [.chap, .none] : [.none]
        negotiator = TargetNegotiator(configuration: configuration, sessionType: sessionType)
    }

    private mutating func makeResponse(to request: LoginRequest, transit: Bool, keys: [TextKeyValue]) -> LoginResponse {
        var data = ByteBuffer()
        TextKeyCodec.encode(keys, into: &data)
        var response = LoginResponse()
        response.transit = transit
        response.csg = request.csg
        response.nsg = transit ? request.nsg : LoginStage(rawValue: 0)
        response.versionMax = 0
        response.versionActive = 0
        response.isid = request.isid
        response.tsih = 0
        response.initiatorTaskTag = request.initiatorTaskTag
        response.statSN = statSN
        statSN &+= 1
        let expCmdSN = first?.cmdSN ?? request.cmdSN
        response.expCmdSN = expCmdSN
        response.maxCmdSN = expCmdSN &+ maxCmdSNWindow &- 1
        response.statusClass = .success
        response.statusDetail = 0
        response.dataSegment = data
        return response
    }

    private mutating func failureResponse(to request: LoginRequest, _ failure: LoginFailure) -> LoginResponse {
        var response = makeResponse(to: request, transit: false, keys: [])
        response.statusClass = LoginResponse.StatusClass(rawValue: failure.statusClass)
        response.statusDetail = failure.statusDetail
        return response
    }
}
