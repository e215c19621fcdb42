import ISCSIProtocol
import Logging
import NIOCore
import SCSITarget

#if canImport(Glibc)
    import Glibc
#endif

/// One TCP connection of the target: frames PDUs, drives the login and session state machines
/// and performs their actions. All state lives on the channel's event loop.
///
/// Every wait ends: the login has `loginTimeout`, an idle connection gets NOP-In pings, and an
/// initiator that stops taking its responses is dropped after `nopTimeout`. While more responses
/// are queued than the connection's data budget, the socket is not read, so the initiator's
/// sends block instead of our memory growing.
final class TargetConnectionHandler: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let server: TargetServer
    private var logger: Logger
    // Exactly one of these is set until the connection closes. Kept as optionals, not as enum
    // payloads, so that `machine!.mutate()` works in place instead of copying the task table.
    private var login: LoginStateMachine?
    private var machine: SessionStateMachine?
    private var isClosed = false
    private var decoder: PDUFrameDecoder
    private var encoder = PDUEncoder(headerDigest: false, dataDigest: false)
    private var cumulation: ByteBuffer?
    private var actions: SessionStateMachine.Actions = []
    private var context: ChannelHandlerContext?
    private var session: TargetSessionRecord?
    private var device: SCSITargetDevice?
    private var executing = 0
    private var receivedSinceTick = false
    private var pingTask: RepeatedTask?
    private var pingSentAt: NIODeadline?
    private var drainPromise: EventLoopPromise<Void>?
    private var needsFlush = false
    private var flushScheduled = false
    private var coldResetPending = false
    private var loginTimer: Scheduled<Void>?
    private var inLoginGate = false
    /// Bytes written since the last drain mark (see `markDrainPoint`).
    private var unflushedBytes = 0
    /// Bytes written and not yet taken by the kernel: responses the initiator has not taken.
    private var outboundBytes = 0
    /// When responses last drained (or the queue was last empty).
    private var lastDrain = NIODeadline.now()
    private var readingPaused = false
    private var readRequested = false
    /// PDUs, bytes and per-LU IO of this connection (single writer: this event loop).
    private let statistics = ConnectionStatistics()
    /// The login's outcome has been counted in the server's statistics.
    private var loginCounted = false

    /// The target portal group of the portal this connection arrived on.
    let portalGroupTag: UInt16

    init(server: TargetServer, portalGroupTag: UInt16) {
        self.server = server
        self.portalGroupTag = portalGroupTag
        self.logger = server.logger
        let configuration = server.configuration
        self.decoder = PDUFrameDecoder(
            limits: FramingLimits(
                maxDataSegmentLength: configuration.loginMaxDataSegmentLength, headerDigest: false,
                dataDigest: false, maxAHSLength: 1020))
        self.login = Self.makeLoginMachine(server: server, portalGroupTag: portalGroupTag, peer: nil)
    }

    private static func makeLoginMachine(server: TargetServer, portalGroupTag: UInt16, peer: SocketAddress?) -> LoginStateMachine {
        let registry = server.registry
        let configuration = server.configuration
        return LoginStateMachine(
            configuration: configuration.negotiation, portalGroupTag: portalGroupTag,
            maxCmdSNWindow: configuration.commandWindow,
            resolveTarget: { targetName, initiatorName in
                guard let target = registry.target(named: targetName) else {
                    return .failure(.notFound("no target named \(targetName)"))
                }
                guard target.isServed(throughPortalGroup: portalGroupTag) else {
                    return .failure(.notFound("target \(targetName) has no portal group \(portalGroupTag)"))
                }
                guard target.device.isOnline else {
                    return .failure(.serviceUnavailable("target \(targetName) is offline"))
                }
                guard target.admits(initiatorName: initiatorName, address: peer) else {
                    return .failure(.authorizationFailure("\(initiatorName) is not in the ACL of \(targetName)"))
                }
                return .success(target)
            },
            sessionExists: { [sessions = server.sessions] tsih, isid, name in
                // A session's connections all belong to one portal group (RFC 7143 4.4.1).
                sessions.session(tsih: tsih, isid: isid, initiatorName: name)?.portalGroupTag == portalGroupTag
            },
            discoveryAuthentication: server.discoveryAuthentication, chapAlgorithms: configuration.chapAlgorithms)
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if let peer = context.channel.remoteAddress { logger[metadataKey: "peer"] = "\(peer)" }
        server.connectionOpened(self)
        // ACLs need the peer address, known only now.
        login = Self.makeLoginMachine(server: server, portalGroupTag: portalGroupTag, peer: context.channel.remoteAddress)
        startLoginClock(context: context)
    }

    /// The login must finish within the login timeout, and only so many may be under way.
    private func startLoginClock(context: ChannelHandlerContext) {
        let channel = context.channel
        let address = channel.remoteAddress?.ipAddress ?? "unknown"
        let admission = server.logins.enter(ObjectIdentifier(self), address: address) { [logger] reason in
            logger.info("closing connection: \(reason)")
            channel.close(promise: nil)
        }
        switch admission {
        case .refused(let reason):
            countLogin(failure: "refused")
            close(context: context, reason: "refused: \(reason)")
            return
        case .admitted(let evicted):
            inLoginGate = true
            evicted?("dropped for a newer connection: too many logins in progress")
        }
        let timeout = server.configuration.loginTimeout
        loginTimer = context.eventLoop.scheduleTask(in: timeout) { [self] in
            guard machine == nil, !isClosed else { return }
            countLogin(failure: "timeout")
            close(context: context, reason: "login not completed within \(timeout.nanoseconds / 1_000_000_000) s")
        }
    }

    private func stopLoginClock() {
        loginTimer?.cancel()
        loginTimer = nil
        if inLoginGate {
            inLoginGate = false
            server.logins.leave(ObjectIdentifier(self))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        stopLoginClock()
        // Written but never flushed: no promise will count these out.
        outboundBytes -= unflushedBytes
        unflushedBytes = 0
        pingTask?.cancel()
        pingTask = nil
        countLogin(failure: "connection_closed")
        if let session {
            server.statistics.connectionEnded(statistics)
            server.sessions.remove(session)
            device?.nexusLost(session.nexus)
            logger.info("session \(session.tsih) closed")
        }
        markClosed()
        server.connectionClosed(self)
        drainPromise?.succeed(())
        drainPromise = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // An initiator that hangs up after a discovery or logout (open-iscsi resets the
        // connection) is no error: only other failures are worth the info level.
        if Self.isHangUp(error) {
            logger.debug("connection closed by the initiator: \(error)")
        } else {
            logger.info("connection error: \(error)")
        }
        context.close(promise: nil)
    }

    /// A reset or broken pipe from the peer.
    static func isHangUp(_ error: Error) -> Bool {
        guard let error = error as? IOError else { return false }
        return error.errnoCode == ECONNRESET || error.errnoCode == EPIPE
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        statistics.counters.add(ConnectionStatistics.Slot.bytesReceived, UInt64(incoming.readableBytes))
        receivedSinceTick = true
        if cumulation == nil || cumulation!.readableBytes == 0 {
            cumulation = incoming
        } else {
            cumulation!.writeBuffer(&incoming)
        }
        while case .some = cumulation, !isClosed {
            let frame: PDUFrame?
            do {
                frame = try decoder.next(from: &cumulation!)
            } catch {
                frameError(error, context: context)
                return
            }
            guard let frame else { break }
            handleFrame(frame, context: context)
        }
        if let c = cumulation, c.readableBytes == 0 { cumulation = nil } else { cumulation?.discardReadBytes() }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushIfNeeded(context: context)
    }

    /// Reads are held back while the initiator has not taken enough of its responses.
    func read(context: ChannelHandlerContext) {
        if readingPaused {
            readRequested = true
        } else {
            context.read()
        }
    }

    private func markClosed() {
        isClosed = true
        login = nil
        machine?.releaseBudget()
        machine = nil
    }

    // MARK: Frames

    private func frameError(_ error: Error, context: ChannelHandlerContext) {
        switch error as? FramingError {
        case .headerDigestMismatch?, .dataDigestMismatch?: statistics.counters.add(ConnectionStatistics.Slot.digestErrors)
        default: break
        }
        if let framing = error as? FramingError, case .dataDigestMismatch(_, _, let header) = framing,
            machine != nil
        {
            // A data digest error loses one PDU, not the connection.
            actions.removeAll(keepingCapacity: true)
            machine!.reject(header, reason: .dataDigestError, into: &actions)
            perform(context: context)
            flushIfNeeded(context: context)
            return
        }
        close(context: context, reason: "\(error)")
    }

    private func handleFrame(_ frame: PDUFrame, context: ChannelHandlerContext) {
        statistics.received(opcode: frame.bhs.getInteger(at: frame.bhs.readerIndex, as: UInt8.self) ?? 0)
        let pdu: ISCSIPDU
        do {
            pdu = try ISCSIPDU(frame: frame)
        } catch {
            if machine != nil {
                actions.removeAll(keepingCapacity: true)
                let unknownOpcode: Bool
                if case .unknownOpcode = error as? PDUDecodeError { unknownOpcode = true } else { unknownOpcode = false }
                machine!.undecodable(
                    frame.bhs, reason: unknownOpcode ? .commandNotSupported : .protocolError, into: &actions)
                logger.info("rejected PDU: \(error)")
                perform(context: context)
            } else {
                close(context: context, reason: "undecodable PDU during login: \(error)")
            }
            return
        }
        if machine != nil {
            actions.removeAll(keepingCapacity: true)
            machine!.received(pdu, rawHeader: frame.bhs, into: &actions)
            perform(context: context)
        } else if login != nil {
            guard case .loginRequest(let request) = pdu else {
                close(context: context, reason: "\(pdu.opcode) before login completed")
                return
            }
            let action = login!.receive(request)
            handleLoginAction(action, context: context)
        }
    }

    private func handleLoginAction(_ action: LoginStateMachine.Action, context: ChannelHandlerContext) {
        switch action {
        case .respond(let response):
            write(.loginResponse(response), context: context)
        case .fail(let response, let failure):
            countLogin(failure: TargetStatistics.reason(failure))
            logger.info("\(failure)")
            write(.loginResponse(response), context: context)
            close(context: context, reason: nil)
        case .complete(var response, let outcome):
            let record = register(outcome, context: context)
            response.tsih = record.tsih
            write(.loginResponse(response), context: context)
            enterFullFeaturePhase(outcome, context: context)
        }
    }

    private func register(_ outcome: LoginOutcome, context: ChannelHandlerContext) -> TargetSessionRecord {
        let channel = context.channel
        let registered = server.sessions.register(
            isid: outcome.isid, initiatorName: outcome.initiatorName, initiatorAlias: outcome.initiatorAlias,
            target: outcome.target, portalGroupTag: portalGroupTag, connectionID: outcome.connectionID,
            peerAddress: channel.remoteAddress,
            closeConnection: { [logger] reason in
                logger.info("closing connection: \(reason)")
                channel.close(promise: nil)
            })
        if let old = registered.reinstated {
            server.statistics.reinstated()
            logger.info("session \(old.tsih) of \(old.initiatorName) reinstated")
            old.closeConnection("session reinstated")
            outcome.target?.device.nexusLost(old.nexus)
        }
        session = registered.record
        device = outcome.target?.device
        loginCounted = true
        server.statistics.loginSucceeded(discovery: outcome.target == nil)
        statistics.identify(
            tid: outcome.target?.tid ?? 0, targetName: outcome.target?.name ?? "", tsih: registered.record.tsih,
            cid: outcome.connectionID, initiatorName: outcome.initiatorName,
            address: channel.remoteAddress?.ipAddress ?? "")
        server.statistics.connectionStarted(statistics)
        let kind = outcome.target.map { "target \($0.name)" } ?? "discovery"
        logger.info("session \(registered.record.tsih): \(outcome.initiatorName) logged in to \(kind)")
        return registered.record
    }

    private func enterFullFeaturePhase(_ outcome: LoginOutcome, context: ChannelHandlerContext) {
        let parameters = outcome.parameters
        let server = self.server
        let initiatorName = outcome.initiatorName
        let sessionTarget = outcome.target
        let localAddress = context.channel.localAddress
        let peer = context.channel.remoteAddress
        let configuration = server.configuration
        let limits = SessionLimits(
            commandWindow: configuration.commandWindow, connectionDataBudget: configuration.connectionDataBudget,
            maxImmediateTasks: configuration.maxImmediateTasks)
        let device = outcome.target?.device
        let session = SessionStateMachine(
            outcome: outcome, limits: limits, budget: server.dataBudget,
            dataOutDemand: { lun, cdb, expected in
                device?.dataOutDemand(cdb: cdb, lun: lun, expectedDataTransferLength: expected)
                    ?? DataOutDemand(length: 0, gather: 0)
            },
            sendTargets: { value in
                TargetConnectionHandler.sendTargetsAnswer(
                    value, server: server, initiatorName: initiatorName, peer: peer, sessionTarget: sessionTarget,
                    localAddress: localAddress)
            })
        login = nil
        machine = session
        stopLoginClock()
        // Digests and the negotiated segment size apply from the next PDU on.
        decoder.limits.headerDigest = parameters.headerDigest
        decoder.limits.dataDigest = parameters.dataDigest
        decoder.limits.maxDataSegmentLength = parameters.targetMaxRecvDataSegmentLength
        encoder.headerDigest = parameters.headerDigest
        encoder.dataDigest = parameters.dataDigest
        startPings(context: context)
    }

    static func sendTargetsAnswer(
        _ value: String, server: TargetServer, initiatorName: String, peer: SocketAddress?,
        sessionTarget: ExportedTarget?, localAddress: SocketAddress?
    ) -> [TextKeyValue] {
        var targets: [ExportedTarget]
        switch value {
        case "All":
            // Only discovery sessions may ask for every target (RFC 7143 13.3 / appendix C).
            targets = sessionTarget == nil ? server.registry.targets : [sessionTarget!]
        case "":
            targets = sessionTarget.map { [$0] } ?? []
        default:
            targets = server.registry.target(named: value).map { [$0] } ?? []
        }
        targets = targets.filter { $0.admits(initiatorName: initiatorName, address: peer) }
        var pairs: [TextKeyValue] = []
        for target in targets {
            pairs.append(TextKeyValue(key: "TargetName", value: target.name))
            for address in server.targetAddresses(of: target, localAddress: localAddress) {
                pairs.append(TextKeyValue(key: "TargetAddress", value: address))
            }
        }
        return pairs
    }

    // MARK: Actions

    private func perform(context: ChannelHandlerContext) {
        for action in actions {
            switch action {
            case .send(.taskManagementResponse(let response)) where coldResetPending:
                write(.taskManagementResponse(response), context: context)
                coldResetPending = false
                flushIfNeeded(context: context)
                close(context: context, reason: "target cold reset")
            case .send(let pdu):
                write(pdu, context: context)
            case .execute(let itt, let request):
                execute(itt, request, context: context)
            case .resetLogicalUnit(let lun):
                if let session { _ = device?.logicalUnitReset(lun, by: session.nexus) }
            case .resetTarget(let cold):
                if let session, let target = session.target {
                    target.device.targetReset(by: session.nexus)
                    if cold {
                        // RFC 7143 11.5.1: after the response, every connection of the target drops.
                        for other in server.sessions.sessions(of: target) where other !== session {
                            other.closeConnection("target cold reset")
                        }
                        coldResetPending = true
                    }
                }
            case .closeAfterFlush(let reason):
                flushIfNeeded(context: context)
                close(context: context, reason: reason == "logout" ? nil : reason)
            }
        }
        actions.removeAll(keepingCapacity: true)
    }

    private func execute(_ itt: UInt32, _ request: SCSICommandRequest, context: ChannelHandlerContext) {
        guard let device, let session else { return }
        executing += 1
        // Statistics: a few single-writer counter updates and two clock reads per command.
        let unit = statistics.unit(request.lun)
        let kind = LogicalUnitStatistics.kind(ofOpcode: request.cdb.getInteger(at: request.cdb.readerIndex, as: UInt8.self) ?? 0)
        let expected = UInt64(request.expectedDataTransferLength)
        unit.submitted(kind, bytes: expected)
        let started = NIODeadline.now().uptimeNanoseconds
        device.execute(request, nexus: session.nexus, on: context.eventLoop).whenComplete { [self] result in
            executing -= 1
            let outcome: SCSICommandResult
            switch result {
            case .success(let r): outcome = r
            case .failure(let error):
                logger.error("command failed in the SCSI layer: \(error)")
                outcome = SCSICommandResult(status: .checkCondition, senseData: Self.internalFailureSense)
            }
            let good = outcome.status == .good
            let moved = kind == .read ? min(expected, UInt64(outcome.dataIn?.readableBytes ?? 0)) : expected
            unit.completed(
                kind, bytes: moved, good: good, nanoseconds: NIODeadline.now().uptimeNanoseconds &- started)
            guard machine != nil else { return }
            var local: SessionStateMachine.Actions = []
            swap(&local, &actions)
            actions.removeAll(keepingCapacity: true)
            machine!.commandCompleted(initiatorTaskTag: itt, result: outcome, into: &actions)
            perform(context: context)
            // Only now do its responses count as queued: admitting before would let the same
            // bytes count twice as free.
            if machine?.hasWaitingTasks == true {
                machine!.admitWaiting(into: &actions)
                perform(context: context)
            }
            swap(&local, &actions)
            scheduleFlush(context: context)
            if executing == 0, drainPromise != nil { close(context: context, reason: "shutting down") }
        }
    }

    /// HARDWARE ERROR / INTERNAL TARGET FAILURE (44/00).
    static let internalFailureSense: ByteBuffer = {
        var b = ByteBuffer()
        b.writeBytes([0x70, 0, 0x04, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x44, 0x00, 0, 0, 0, 0])
        return b
    }()

    private func write(_ pdu: ISCSIPDU, context: ChannelHandlerContext) {
        let encoded = encoder.encode(pdu, allocator: context.channel.allocator)
        var bytes = encoded.header.readableBytes
        context.write(wrapOutboundOut(encoded.header), promise: nil)
        if let data = encoded.data {
            context.write(wrapOutboundOut(data), promise: nil)
            bytes += data.readableBytes
        }
        if let trailer = encoded.trailer {
            context.write(wrapOutboundOut(trailer), promise: nil)
            bytes += trailer.readableBytes
        }
        statistics.sent(opcode: encoded.header.getInteger(at: encoded.header.readerIndex, as: UInt8.self) ?? 0, bytes: bytes)
        unflushedBytes += bytes
        queued(bytes)
        needsFlush = true
        if unflushedBytes >= Self.drainMarkBytes { markDrainPoint(context: context) }
    }

    /// Completions arrive in batches (one event-loop task per batch of backstore IO): flushing
    /// once after the batch turns many small writes into one writev.
    private func scheduleFlush(context: ChannelHandlerContext) {
        guard needsFlush, !flushScheduled else { return }
        flushScheduled = true
        context.eventLoop.execute { [self] in
            flushScheduled = false
            flushIfNeeded(context: context)
        }
    }

    private func flushIfNeeded(context: ChannelHandlerContext) {
        guard needsFlush else { return }
        needsFlush = false
        markDrainPoint(context: context)
        context.flush()
    }

    /// Responses are counted out in batches: one promise per flush (not per PDU), and one per
    /// `drainMarkBytes` within a large batch, so a slow but reading initiator shows progress
    /// well within `nopTimeout`.
    private static let drainMarkBytes = 1 << 20

    /// Queues an empty write whose promise completes once the kernel has taken every byte
    /// written before it (or the connection is gone), and counts those bytes out then.
    private func markDrainPoint(context: ChannelHandlerContext) {
        guard unflushedBytes > 0 else { return }
        let bytes = unflushedBytes
        unflushedBytes = 0
        server.dataBudget.forceReserve(bytes)
        let drained = context.eventLoop.makePromise(of: Void.self)
        context.write(wrapOutboundOut(ByteBuffer()), promise: drained)
        drained.futureResult.whenComplete { [self] _ in self.drained(bytes, context: context) }
    }

    /// Responses queued for the initiator count against the connection's budget at once, and
    /// against the daemon's from their flush on; past the connection's, the socket is no longer
    /// read.
    private func queued(_ bytes: Int) {
        if outboundBytes == 0 { lastDrain = .now() }
        outboundBytes += bytes
        machine?.outboundBytes = outboundBytes
        if outboundBytes > server.configuration.connectionDataBudget { readingPaused = true }
    }

    private func drained(_ bytes: Int, context: ChannelHandlerContext) {
        outboundBytes -= bytes
        server.dataBudget.release(bytes)
        lastDrain = .now()
        if readingPaused && outboundBytes <= server.configuration.connectionDataBudget / 2 {
            readingPaused = false
            if readRequested {
                readRequested = false
                context.read()
            }
        }
        guard machine != nil else { return }
        machine!.outboundBytes = outboundBytes
        guard machine!.hasWaitingTasks else { return }
        var local: SessionStateMachine.Actions = []
        swap(&local, &actions)
        machine!.admitWaiting(into: &actions)
        perform(context: context)
        swap(&local, &actions)
        scheduleFlush(context: context)
    }

    /// Counts the login's failure, unless its outcome was already counted.
    private func countLogin(failure reason: String) {
        guard !loginCounted else { return }
        loginCounted = true
        server.statistics.loginFailed(reason)
    }

    private func close(context: ChannelHandlerContext, reason: String?) {
        if let reason { logger.info("closing connection: \(reason)") }
        flushIfNeeded(context: context)
        markClosed()
        context.close(promise: nil)
    }

    // MARK: Pings and draining

    /// Pings an idle initiator (when `nopInterval` is set) and drops one that stops answering
    /// them or stops taking its responses for `nopTimeout`.
    private func startPings(context: ChannelHandlerContext) {
        let pings = server.configuration.nopInterval
        let timeout = server.configuration.nopTimeout
        let seconds = timeout.nanoseconds / 1_000_000_000
        let interval = pings ?? max(.seconds(1), .nanoseconds(timeout.nanoseconds / 4))
        pingTask = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [self] _ in
            guard let current = machine else { return }
            let now = NIODeadline.now()
            if outboundBytes > 0 {
                if now - lastDrain >= timeout {
                    close(context: context, reason: "initiator took none of its responses for \(seconds) s (\(outboundBytes) bytes queued)")
                    return
                }
                // Not idle, and a ping (or its answer) would wait behind the responses: while
                // they drain, that is the sign of life, and a ping's clock stands still.
                if pingSentAt != nil { pingSentAt = now }
                return
            }
            guard pings != nil else { return }
            if current.outstandingPing != nil, let sent = pingSentAt, now - sent >= timeout {
                close(context: context, reason: "initiator did not answer NOP-In for \(seconds)s")
                return
            }
            if receivedSinceTick || current.outstandingPing != nil {
                receivedSinceTick = false
                return
            }
            if let ping = machine!.makePing() {
                pingSentAt = .now()
                write(.nopIn(ping), context: context)
                flushIfNeeded(context: context)
            }
        }
    }

    /// Closes the connection once no command is in the SCSI layer.
    func drain() -> EventLoopFuture<Void> {
        guard let context else { return server.group.next().makeSucceededVoidFuture() }
        let loop = context.eventLoop
        return loop.flatSubmit { [self] in
            if isClosed { return loop.makeSucceededVoidFuture() }
            let promise = loop.makePromise(of: Void.self)
            drainPromise = promise
            if executing == 0 { close(context: context, reason: "shutting down") }
            return promise.futureResult
        }
    }
}
