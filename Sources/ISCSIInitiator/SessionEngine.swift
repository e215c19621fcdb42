import ISCSIProtocol
import Logging
import NIOCore
import NIOPosix

/// Drives one session on one event loop: connects, logs in (again after a connection loss,
/// ErrorRecoveryLevel 0 session reinstatement), performs the session machine's outputs.
/// All mutable state is confined to `eventLoop`.
final class SessionEngine: @unchecked Sendable {
    typealias Promise = EventLoopPromise<InitiatorTaskCompletion>
    typealias Machine = InitiatorSessionMachine<TaskContext>

    /// Who hears of a task's end: a promise, or (for the allocation-free fast path) a callback
    /// that runs on the event loop.
    enum TaskContext {
        case promise(Promise)
        case scsiCallback(SCSICompletionHandler)
    }

    enum State {
        case idle
        case loggingIn
        case fullFeature
        case reconnecting(deadline: NIODeadline)
        /// Past the replacement timeout, still logging in again now and then; new commands fail
        /// at once with the error that ended the wait.
        case reopening(ISCSIInitiatorError)
        case closed(ISCSIInitiatorError)
    }

    let eventLoop: EventLoop
    let host: String
    let port: Int
    let targetName: String?
    let sessionType: SessionType
    let configuration: InitiatorConfiguration
    var logger = Logger(label: "iscsi-initiator")

    // Hot properties, only touched on the event loop: no dynamic exclusivity checks.
    @exclusivity(unchecked) private(set) var state: State = .idle {
        didSet { if !stateObservers.isEmpty { notifyState(old: oldValue) } }
    }
    /// Who hears of the session's public state changes (a multipath layer), on the event loop.
    private var stateObservers: [@Sendable (ISCSISession.State) -> Void] = []
    private(set) var tsih: UInt16 = 0
    private(set) var parameters = NegotiatedParameters()
    private(set) var reconnects = 0
    @exclusivity(unchecked) private var machine: Machine?
    @exclusivity(unchecked) private var handler: InitiatorChannelHandler?
    private var channel: Channel?
    var localAddress: String? { channel?.localAddress?.ipAddress }
    private var login: InitiatorLoginMachine?
    private var loginPromise: EventLoopPromise<InitiatorLoginMachine.LoginResult>?
    private var loginTimeout: Scheduled<Void>?
    private var lastError: ISCSIInitiatorError?
    @exclusivity(unchecked) private var encoder = PDUEncoder()
    /// Outputs of the machine not yet performed. Callbacks run from `perform` may feed the
    /// machine again: their outputs are appended here and performed by the same loop.
    @exclusivity(unchecked) private var outputs: [Machine.Output] = []
    @exclusivity(unchecked) private var performed = 0
    @exclusivity(unchecked) private var performing = false
    @exclusivity(unchecked) private var flushScheduled = false
    private var loggingOut = false
    private var nopTask: RepeatedTask?
    /// Runs the machine's `tick` (command timeouts, the error handler) every scan interval.
    private var watchdog: RepeatedTask?
    /// The reconnect backoff, and the start of the replacement timeout.
    private var reconnectPolicy: ReconnectPolicy
    /// The machine's completed commands when the current connection came up.
    private var completedAtConnect = 0
    @exclusivity(unchecked) private var receivedSinceTick = false
    /// PDU counts of the session (all its connections); byte counts of closed connections.
    @exclusivity(unchecked) private var counts = InitiatorStatistics()
    private var pingSentAt: NIODeadline?
    private var nextLoginITT: UInt32 = 0x7000_0000

    init(
        eventLoop: EventLoop, host: String, port: Int, targetName: String?, sessionType: SessionType,
        configuration: InitiatorConfiguration
    ) {
        self.eventLoop = eventLoop
        self.host = host
        self.port = port
        self.targetName = targetName
        self.sessionType = sessionType
        self.configuration = configuration
        self.reconnectPolicy = ReconnectPolicy(
            initialDelay: configuration.reconnectDelay, maximumDelay: configuration.reconnectDelayLimit,
            healthyAfter: configuration.healthyAfter)
        outputs.reserveCapacity(64)
        logger.logLevel = .warning
    }

    // MARK: Login

    /// First login of the session. A `close` before or during it makes it fail.
    func start() -> EventLoopFuture<Void> {
        eventLoop.flatSubmit {
            switch self.state {
            case .idle: break
            case .closed(let error): return self.eventLoop.makeFailedFuture(error)
            default: return self.eventLoop.makeFailedFuture(ISCSIInitiatorError.invalidArgument("session already started"))
            }
            self.state = .loggingIn
            return self.connectAndLogin(tsih: 0).map { result in
                self.enterFullFeature(result)
            }.flatMapErrorThrowing { error in
                if case .closed = self.state {} else {
                    self.state = .closed(error as? ISCSIInitiatorError ?? .connectionFailed(ConnectionFailure.reason(error)))
                }
                throw error
            }
        }
    }

    /// Connects and logs in, both within `limit` (the login timeout unless a shorter one is given).
    private func connectAndLogin(tsih: UInt16, within limit: TimeAmount? = nil) -> EventLoopFuture<InitiatorLoginMachine.LoginResult> {
        eventLoop.assertInEventLoop()
        let limits = FramingLimits(maxDataSegmentLength: max(8192, configuration.maxRecvDataSegmentLength))
        let timeout = min(configuration.loginTimeout, limit ?? configuration.loginTimeout)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.recvAllocator, value: InitiatorChannelHandler.receiveAllocator(configuration.receiveBufferLimit))
            .channelInitializer { [weak self] channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let self else { throw ISCSIInitiatorError.sessionFailed("session released") }
                    let handler = InitiatorChannelHandler(engine: self, limits: limits)
                    try channel.pipeline.syncOperations.addHandler(handler)
                    if let old = self.handler { self.takeCounts(of: old) }
                    self.handler = handler
                }
            }
        return bootstrap.connect(host: host, port: port).flatMapErrorThrowing { error in
            let endpoint = self.host.contains(":") ? "[\(self.host)]:\(self.port)" : "\(self.host):\(self.port)"
            throw ISCSIInitiatorError.cannotConnect(endpoint: endpoint, reason: ConnectionFailure.reason(error))
        }.flatMap { channel in
            // Closed while connecting: no login.
            if case .closed(let error) = self.state {
                channel.close(promise: nil)
                return self.eventLoop.makeFailedFuture(error)
            }
            self.channel = channel
            self.encoder = PDUEncoder()
            let promise = self.eventLoop.makePromise(of: InitiatorLoginMachine.LoginResult.self)
            self.loginPromise = promise
            var chap: InitiatorCHAPAuthenticator.Configuration?
            if let credential = self.configuration.chap {
                chap = InitiatorCHAPAuthenticator.Configuration(
                    credential: credential, targetCredential: self.configuration.targetCHAP,
                    algorithms: self.configuration.chapAlgorithms.isEmpty ? [.md5] : self.configuration.chapAlgorithms)
            }
            self.nextLoginITT &+= 1
            var machine = InitiatorLoginMachine(
                negotiation: self.configuration.negotiation(targetName: self.targetName, sessionType: self.sessionType),
                chap: chap, isid: self.configuration.isid, tsih: tsih, cid: 0, initiatorTaskTag: self.nextLoginITT,
                cmdSN: self.machine?.cmdSN ?? 1)
            let first = machine.start()
            self.login = machine
            self.write(.loginRequest(first))
            self.handler?.flush()
            self.loginTimeout = self.eventLoop.scheduleTask(in: timeout) {
                self.counts.timeoutErrors &+= 1
                self.failLogin(.timeout("login did not complete within \(timeout.nanoseconds / 1_000_000_000) s"))
            }
            return promise.futureResult
        }
    }

    private func failLogin(_ error: ISCSIInitiatorError) {
        login = nil
        loginTimeout?.cancel()
        guard let promise = loginPromise else { return }
        loginPromise = nil
        promise.fail(error)
        channel?.close(promise: nil)
    }

    private func handleLogin(_ pdu: ISCSIPDU) {
        guard case .loginResponse(let response) = pdu, login != nil else {
            return failLogin(.protocolViolation("\(pdu.opcode) during login"))
        }
        switch login!.receive(response) {
        case .send(let request):
            write(.loginRequest(request))
            handler?.flush()
        case .fail(let error):
            failLogin(error)
        case .complete(let result):
            login = nil
            loginTimeout?.cancel()
            // Digests and our MaxRecvDataSegmentLength apply from the next PDU on.
            let p = result.parameters
            handler?.decoder.limits = FramingLimits(
                maxDataSegmentLength: p.initiatorMaxRecvDataSegmentLength, headerDigest: p.headerDigest,
                dataDigest: p.dataDigest)
            encoder = PDUEncoder(headerDigest: p.headerDigest, dataDigest: p.dataDigest)
            let promise = loginPromise
            loginPromise = nil
            promise?.succeed(result)
        }
    }

    private func enterFullFeature(_ result: InitiatorLoginMachine.LoginResult) {
        tsih = result.tsih
        parameters = result.parameters
        state = .fullFeature
        let now = NIODeadline.now()
        reconnectPolicy.loggedIn(at: now)
        if machine == nil {
            machine = Machine(
                parameters: result.parameters, cmdSN: result.cmdSN, expStatSN: result.expStatSN,
                maxCmdSN: result.maxCmdSN, queueDepth: configuration.queueDepth,
                timeouts: configuration.sessionTimeouts, now: now)
            startWatchdog()
        } else {
            machine!.restart(
                parameters: result.parameters, cmdSN: result.cmdSN, expStatSN: result.expStatSN,
                maxCmdSN: result.maxCmdSN, now: now, into: &outputs)
            perform()
            handler?.flush()
        }
        completedAtConnect = machine!.completedCount
        startPings()
    }

    // MARK: Connection events (from the handler)

    func received(_ pdu: ISCSIPDU, from source: InitiatorChannelHandler) {
        guard source === handler else { return }
        receivedSinceTick = true
        if login != nil { return handleLogin(pdu) }
        guard machine != nil, case .fullFeature = state else { return }
        counts.received(pdu)
        machine!.received(pdu, into: &outputs)
        perform()
    }

    /// Whether Data-In may be handed over in pieces (only in full feature phase).
    var acceptsDataInPieces: Bool {
        if login != nil { return false }
        if case .fullFeature = state { return machine != nil }
        return false
    }

    func receivedDataInPiece(_ p: DataIn, continuation: Bool, from source: InitiatorChannelHandler) {
        guard source === handler, machine != nil, case .fullFeature = state else { return }
        receivedSinceTick = true
        if !continuation { counts.datainPDUs &+= 1 }
        machine!.receivedDataInPiece(p, continuation: continuation, into: &outputs)
        perform()
    }

    func connectionError(_ source: InitiatorChannelHandler, _ error: ISCSIInitiatorError) {
        guard source === handler else { return }
        lastError = error
    }

    func connectionClosed(_ source: InitiatorChannelHandler) {
        guard source === handler else { return }
        takeCounts(of: source)
        handler = nil
        channel = nil
        stopPings()
        if login != nil {
            failLogin(lastError ?? .connectionFailed("connection closed during login"))
            return
        }
        guard case .fullFeature = state else { return }
        if loggingOut || sessionType == .discovery {
            close(.sessionFailed("session logged out"))
            return
        }
        let reason = lastError.map { "\($0)" } ?? "connection closed"
        logger.info("connection to \(host):\(port) lost (\(reason)); reconnecting")
        let now = NIODeadline.now()
        reconnectPolicy.connectionLost(
            at: now, progressed: machine.map { $0.completedCount != completedAtConnect } ?? false,
            idle: machine?.scsiTaskTags().isEmpty ?? true)
        machine?.connectionLost(now: now, reason: reason, into: &outputs)
        perform()
        state = .reconnecting(deadline: reconnectPolicy.failingSince! + configuration.replacementTimeout)
        scheduleReconnect()
    }

    /// The next login attempt, after the policy's backoff (at most `reopenInterval` once past the
    /// replacement timeout), and never past the replacement timeout's deadline.
    private func scheduleReconnect() {
        var delay = reconnectPolicy.delay
        switch state {
        case .reconnecting(let deadline): delay = min(delay, max(.zero, deadline - .now()))
        case .reopening: delay = min(delay, configuration.reopenInterval)
        default: return
        }
        if delay == .zero { return reconnect() }
        eventLoop.scheduleTask(in: delay) { self.reconnect() }
    }

    private func reconnect() {
        let deadline: NIODeadline?
        switch state {
        case .reconnecting(let limit): deadline = limit
        case .reopening: deadline = nil
        default: return
        }
        if let deadline, NIODeadline.now() >= deadline {
            let seconds = configuration.replacementTimeout.nanoseconds / 1_000_000_000
            let relogins = reconnectPolicy.reloginsSinceFailing
            let what =
                relogins == 0
                ? "lost and not re-established within \(seconds) s"
                : "kept failing for \(seconds) s (\(relogins) re-logins, no command completed)"
            let error = ISCSIInitiatorError.sessionFailed(
                "connection to \(host):\(port) \(what)" + (lastError.map { " (last error: \($0))" } ?? ""))
            guard configuration.reopensAfterReplacementTimeout else { return close(error) }
            logger.warning("\(error); failing commands until the target is back")
            state = .reopening(error)
            machine?.failAll(error, into: &outputs)
            perform()
        }
        reconnects += 1
        lastError = nil
        // Within the replacement timeout no attempt may run past it; afterwards each attempt gets
        // the login timeout.
        let remaining = { deadline.map { max($0 - NIODeadline.now(), .milliseconds(100)) } ?? self.configuration.loginTimeout }
        connectAndLogin(tsih: tsih, within: remaining()).flatMapError { error -> EventLoopFuture<InitiatorLoginMachine.LoginResult> in
            // The target forgot the old session: reinstate it under the same ISID with TSIH 0.
            if case .loginFailed(2, 10, _) = error as? ISCSIInitiatorError {
                return self.connectAndLogin(tsih: 0, within: remaining())
            }
            return self.eventLoop.makeFailedFuture(error)
        }.whenComplete { result in
            switch self.state {
            case .reconnecting, .reopening: break
            default: return
            }
            switch result {
            case .success(let login):
                self.logger.info("session reinstated (TSIH \(login.tsih))")
                self.enterFullFeature(login)
            case .failure(let error):
                let error = error as? ISCSIInitiatorError ?? .connectionFailed(ConnectionFailure.reason(error))
                self.lastError = error
                if case .loginFailed(let c, _, _) = error, c == 2 {
                    // Authentication, authorization, not found: retrying will not help.
                    return self.close(error)
                }
                self.reconnectPolicy.loginFailed()
                self.scheduleReconnect()
            }
        }
    }

    /// Ends the session: fails what is outstanding, closes the connection.
    func close(_ error: ISCSIInitiatorError) {
        if case .closed = state { return }
        state = .closed(error)
        stopPings()
        watchdog?.cancel()
        watchdog = nil
        machine?.failAll(error, into: &outputs)
        perform()
        channel?.close(promise: nil)
    }

    // MARK: Tasks

    func submit(_ request: InitiatorTaskRequest) -> EventLoopFuture<InitiatorTaskCompletion> {
        let promise = eventLoop.makePromise(of: InitiatorTaskCompletion.self)
        if eventLoop.inEventLoop {
            submitOnLoop(request, .promise(promise))
        } else {
            eventLoop.execute { self.submitOnLoop(request, .promise(promise)) }
        }
        return promise.futureResult
    }

    /// The fast path: no promise, no hop when called on the event loop.
    func submitSCSI(_ request: InitiatorTaskRequest, failFast: Bool = false, completion: @escaping SCSICompletionHandler) {
        if eventLoop.inEventLoop {
            submitOnLoop(request, .scsiCallback(completion), failFast: failFast)
        } else {
            eventLoop.execute { self.submitOnLoop(request, .scsiCallback(completion), failFast: failFast) }
        }
    }

    private func submitOnLoop(_ request: InitiatorTaskRequest, _ context: TaskContext, failFast: Bool = false) {
        switch state {
        case .closed(let error):
            return Self.complete(context, .failure(error))
        case .idle, .loggingIn:
            return Self.complete(context, .failure(.sessionFailed("not logged in")))
        case .reconnecting:
            guard case .scsi = request, !failFast else {
                return Self.complete(context, .failure(.sessionFailed("connection is being re-established")))
            }
        case .reopening(let error):
            return Self.complete(context, .failure(error))
        case .fullFeature:
            break
        }
        if case .logout = request { loggingOut = true }
        machine!.submit(request, context: context, failFast: failFast, into: &outputs)
        perform()
        scheduleFlush()
    }

    private static func complete(_ context: TaskContext, _ result: Result<InitiatorTaskCompletion, ISCSIInitiatorError>) {
        switch context {
        case .promise(let promise):
            promise.completeWith(result.mapError { $0 as Error })
        case .scsiCallback(let callback):
            switch result {
            case .success(.scsi(let response)): callback(.success(response))
            case .success: callback(.failure(.protocolViolation("unexpected completion")))
            case .failure(let error): callback(.failure(error))
            }
        }
    }

    func outstandingTaskTags(lun: UInt64?) -> EventLoopFuture<[UInt32]> {
        eventLoop.submit { self.machine?.scsiTaskTags(lun: lun) ?? [] }
    }

    private func perform() {
        // Re-entered from a completion that submits: the outer loop performs the new outputs.
        guard !performing else { return }
        performing = true
        while performed < outputs.count {
            let output = outputs[performed]
            performed += 1
            switch output {
            case .send(let pdu):
                write(pdu)
            case .complete(let context, let result):
                Self.complete(context, result)
            case .closeConnection(let error):
                lastError = error
                logger.info("closing connection: \(error)")
                handler?.close(error)
            }
        }
        outputs.removeAll(keepingCapacity: true)
        performed = 0
        performing = false
    }

    private func write(_ pdu: ISCSIPDU) {
        guard let handler else { return }
        counts.sent(pdu)
        handler.write(pdu, encoder: encoder)
    }

    /// Moves a connection's byte and framing counts into the session's.
    private func takeCounts(of handler: InitiatorChannelHandler) {
        counts.rxdataOctets &+= handler.rxBytes
        counts.txdataOctets &+= handler.txBytes
        counts.digestErrors &+= handler.digestErrors
        counts.rxDiscontiguousHeaders &+= handler.discontiguousHeaders
        handler.rxBytes = 0
        handler.txBytes = 0
        handler.digestErrors = 0
        handler.discontiguousHeaders = 0
    }

    /// The session's statistics now (on the event loop).
    var statistics: InitiatorStatistics {
        var snapshot = counts
        if let handler {
            snapshot.rxdataOctets &+= handler.rxBytes
            snapshot.txdataOctets &+= handler.txBytes
            snapshot.digestErrors &+= handler.digestErrors
            snapshot.rxDiscontiguousHeaders &+= handler.discontiguousHeaders
        }
        snapshot.reconnects = UInt64(reconnects)
        return snapshot
    }

    private func scheduleFlush() {
        // Inside a read batch the handler flushes at channelReadComplete.
        guard !flushScheduled, handler?.inReadBatch != true else { return }
        flushScheduled = true
        eventLoop.execute {
            self.flushScheduled = false
            self.handler?.flush()
        }
    }

    // MARK: Timers

    private func startWatchdog() {
        let interval = machine!.timeouts.scanInterval
        watchdog = eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [weak self] _ in
            self?.watchdogTick()
        }
    }

    private func watchdogTick() {
        guard machine != nil else { return }
        if case .closed = state { return }
        machine!.tick(now: .now(), into: &outputs)
        perform()
        handler?.flush()
    }

    private func startPings() {
        stopPings()
        guard let interval = configuration.nopInterval, sessionType == .normal else { return }
        receivedSinceTick = true
        nopTask = eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [weak self] _ in
            self?.pingTick()
        }
    }

    private func stopPings() {
        nopTask?.cancel()
        nopTask = nil
        pingSentAt = nil
    }

    private func pingTick() {
        guard case .fullFeature = state else { return }
        if let sent = pingSentAt {
            if NIODeadline.now() - sent > configuration.nopTimeout {
                counts.timeoutErrors &+= 1
                handler?.close(.timeout("no NOP-In answer within \(configuration.nopTimeout.nanoseconds / 1_000_000_000) s"))
            }
            return
        }
        guard !receivedSinceTick else {
            receivedSinceTick = false
            return
        }
        pingSentAt = .now()
        submit(.nop(ByteBuffer())).whenComplete { [weak self] _ in self?.pingSentAt = nil }
    }

    // MARK: State observers

    /// Calls `observer` on the event loop at every change of the public state from now on.
    func observeState(_ observer: @escaping @Sendable (ISCSISession.State) -> Void) {
        eventLoop.assertInEventLoop()
        stateObservers.append(observer)
    }

    private func notifyState(old: State) {
        let before = Self.publicState(old)
        let now = Self.publicState(state)
        guard before != now else { return }
        for observer in stateObservers { observer(now) }
    }

    static func publicState(_ state: State) -> ISCSISession.State {
        switch state {
        case .idle, .loggingIn: return .loggingIn
        case .fullFeature: return .loggedIn
        case .reconnecting, .reopening: return .recovering
        case .closed: return .failed
        }
    }

    /// Test hook: drops the connection as a network failure would.
    func dropConnection() {
        eventLoop.execute { self.channel?.close(promise: nil) }
    }
}
