import ISCSIProtocol
import NIOCore
import SCSITarget

/// Full feature phase of one connection (its session has exactly one), without IO.
///
/// Inputs are PDUs from the initiator and completions from the SCSI layer; outputs are appended to
/// an `Actions` list that the channel handler performs in order. Tasks, CmdSN window, StatSN, R2T
/// and Data-Out sequencing all live here so they can be tested without sockets.
struct SessionStateMachine {
    enum Action {
        case send(ISCSIPDU)
        /// Hand a command to the SCSI layer; report back with `commandCompleted`.
        case execute(initiatorTaskTag: UInt32, SCSICommandRequest)
        case resetLogicalUnit(UInt64)
        case resetTarget(cold: Bool)
        /// Flush what was sent, then close the connection.
        case closeAfterFlush(reason: String)
    }

    typealias Actions = [Action]

    static let reservedTag: UInt32 = 0xFFFF_FFFF
    /// Stands for a LUN field with an addressing method we do not serve: no LU has it.
    static let invalidLUN = UInt64.max

    var parameters: NegotiatedParameters
    let isDiscovery: Bool
    let maxCmdSNWindow: UInt32
    /// Answers `SendTargets=<value>` with TargetName/TargetAddress pairs.
    let sendTargets: (String) -> [TextKeyValue]
    private var negotiator: TargetNegotiator

    private(set) var expCmdSN: UInt32
    private(set) var statSN: UInt32
    /// Commands waiting for a CmdSN gap to fill; nil marks a CmdSN an ABORT TASK had us consider
    /// received (RFC 7143 11.5.1), skipped when its turn comes.
    private var pendingCommands: [UInt32: (pdu: ISCSIPDU, header: ByteBuffer)?] = [:]
    private(set) var tasks: [UInt32: TaskState] = [:]
    private var nextTransferTag: UInt32 = 1
    private var pendingTextResponse: (tag: UInt32, itt: UInt32, remaining: ByteBuffer)?
    private var textRequestBuffer: ByteBuffer?
    /// The TTT of our empty answer to a Text Request with C=1; the initiator copies it into the
    /// Text Request that continues its text (RFC 7143 11.10.4).
    private var textContinuationTag: UInt32?
    /// ITTs of write tasks aborted while still receiving Data-Out: their late Data-Out is discarded.
    private var discardedDataTags: Set<UInt32> = []
    private var pendingTaskManagement: [(response: TaskManagementResponse, waitingFor: Set<UInt32>)] = []
    private var pendingLogout: LogoutResponse?
    private(set) var outstandingPing: UInt32?
    private(set) var loggedOut = false

    /// Bound on text gathered over Continue PDUs in full feature phase.
    static let maxTextBytes = 64 * 1024

    init(
        outcome: LoginOutcome, maxCmdSNWindow: UInt32,
        sendTargets: @escaping (String) -> [TextKeyValue]
    ) {
        self.parameters = outcome.parameters
        self.isDiscovery = outcome.target == nil
        self.expCmdSN = outcome.expCmdSN
        self.statSN = outcome.nextStatSN
        self.maxCmdSNWindow = maxCmdSNWindow
        self.negotiator = outcome.negotiator
        self.sendTargets = sendTargets
    }

    var maxCmdSN: UInt32 { expCmdSN &+ maxCmdSNWindow &- 1 }

    /// The most data we may put in one PDU: what the initiator declared it can receive.
    var maxSendSegment: Int { parameters.initiatorMaxRecvDataSegmentLength }

    private mutating func takeStatSN() -> UInt32 {
        defer { statSN &+= 1 }
        return statSN
    }

    // MARK: - Inputs from the initiator

    mutating func received(_ pdu: ISCSIPDU, rawHeader: ByteBuffer, into actions: inout Actions) {
        switch pdu {
        case .dataOut(let data):
            dataOutReceived(data, rawHeader: rawHeader, into: &actions)
        case .scsiCommand(let c):
            sequenced(pdu, cmdSN: c.cmdSN, immediate: c.immediate, rawHeader: rawHeader, into: &actions)
        case .nopOut(let n):
            if n.initiatorTaskTag == Self.reservedTag {
                // An answer to our ping, or a keepalive that wants no answer.
                if n.targetTransferTag == outstandingPing { outstandingPing = nil }
                return
            }
            sequenced(pdu, cmdSN: n.cmdSN, immediate: n.immediate, rawHeader: rawHeader, into: &actions)
        case .taskManagementRequest(let t):
            sequenced(pdu, cmdSN: t.cmdSN, immediate: t.immediate, rawHeader: rawHeader, into: &actions)
        case .textRequest(let t):
            sequenced(pdu, cmdSN: t.cmdSN, immediate: t.immediate, rawHeader: rawHeader, into: &actions)
        case .logoutRequest(let l):
            sequenced(pdu, cmdSN: l.cmdSN, immediate: l.immediate, rawHeader: rawHeader, into: &actions)
        case .snackRequest:
            // ErrorRecoveryLevel 0 has no SNACK support.
            reject(rawHeader, reason: .snackReject, into: &actions)
        default:
            reject(rawHeader, reason: .protocolError, into: &actions)
        }
    }

    /// Delivers commands in CmdSN order; immediate ones at once. Outside the window: dropped.
    private mutating func sequenced(
        _ pdu: ISCSIPDU, cmdSN: UInt32, immediate: Bool, rawHeader: ByteBuffer, into actions: inout Actions
    ) {
        if immediate {
            deliver(pdu, rawHeader: rawHeader, into: &actions)
            return
        }
        if cmdSN == expCmdSN {
            expCmdSN &+= 1
            deliver(pdu, rawHeader: rawHeader, into: &actions)
            deliverQueued(into: &actions)
            return
        }
        let ahead = cmdSN &- expCmdSN
        if ahead < maxCmdSNWindow, pendingCommands.index(forKey: cmdSN) == nil {
            pendingCommands[cmdSN] = (pdu, rawHeader)  // a gap: wait for the missing CmdSN
        }
        // Outside the window (or a duplicate): silently ignored, as RFC 7143 4.2.2.1 requires.
    }

    /// A PDU that could not be decoded is rejected; if it was a command in CmdSN order, its CmdSN
    /// still counts as received so the window does not stall on it.
    mutating func undecodable(_ rawHeader: ByteBuffer, reason: Reject.Reason, into actions: inout Actions) {
        let opcode = (rawHeader.getInteger(at: rawHeader.readerIndex, as: UInt8.self) ?? 0) & 0x3F
        let immediate = (rawHeader.getInteger(at: rawHeader.readerIndex, as: UInt8.self) ?? 0) & 0x40 != 0
        let carriesCmdSN = opcode != ISCSIOpcode.dataOut.rawValue && opcode != ISCSIOpcode.snackRequest.rawValue
            && opcode < 0x20
        if carriesCmdSN, !immediate,
            let cmdSN = rawHeader.getInteger(at: rawHeader.readerIndex + 24, as: UInt32.self), cmdSN == expCmdSN
        {
            expCmdSN &+= 1
            reject(rawHeader, reason: reason, into: &actions)
            deliverQueued(into: &actions)
            return
        }
        reject(rawHeader, reason: reason, into: &actions)
    }

    /// Delivers the queued commands that are now in order.
    private mutating func deliverQueued(into actions: inout Actions) {
        while let next = pendingCommands.removeValue(forKey: expCmdSN) {
            expCmdSN &+= 1
            if let next { deliver(next.pdu, rawHeader: next.header, into: &actions) }
        }
    }

    private mutating func deliver(_ pdu: ISCSIPDU, rawHeader: ByteBuffer, into actions: inout Actions) {
        switch pdu {
        case .scsiCommand(let c): commandReceived(c, rawHeader: rawHeader, into: &actions)
        case .nopOut(let n): nopOutReceived(n, into: &actions)
        case .taskManagementRequest(let t): taskManagementReceived(t, into: &actions)
        case .textRequest(let t): textReceived(t, rawHeader: rawHeader, into: &actions)
        case .logoutRequest(let l): logoutReceived(l, into: &actions)
        default: reject(rawHeader, reason: .protocolError, into: &actions)
        }
    }

    // MARK: SCSI commands and Data-Out

    private mutating func commandReceived(_ command: SCSICommand, rawHeader: ByteBuffer, into actions: inout Actions) {
        if isDiscovery {
            reject(rawHeader, reason: .protocolError, into: &actions)
            return
        }
        let itt = command.initiatorTaskTag
        discardedDataTags.remove(itt)
        if tasks[itt] != nil {
            reject(rawHeader, reason: .taskInProgress, into: &actions)
            return
        }
        let edtl = command.expectedDataTransferLength
        let immediateLength = UInt32(command.dataSegment.readableBytes)
        var task = TaskState(
            initiatorTaskTag: itt, cmdSN: command.cmdSN, lun: SAMLUN.decode(command.lun) ?? Self.invalidLUN, rawLUN: command.lun,
            cdb: command.cdb, attribute: SCSITaskAttribute(rawValue: command.attribute) ?? .simple,
            expectedDataTransferLength: edtl, isWrite: command.write, phase: .collecting)

        guard command.write, edtl > 0 else {
            if immediateLength > 0 {
                // Data with no write to carry it: a malformed command.
                reject(rawHeader, reason: .protocolError, into: &actions)
                return
            }
            execute(&task, into: &actions)
            return
        }
        let firstBurst = UInt32(parameters.firstBurstLength)
        if immediateLength > 0 {
            guard parameters.immediateData, immediateLength <= min(firstBurst, edtl) else {
                reject(rawHeader, reason: .protocolError, into: &actions)
                return
            }
        }
        task.receivedBytes = immediateLength
        // F=1 on the command means no unsolicited Data-Out follows (RFC 7143 11.3.4).
        let unsolicitedAllowed = !parameters.initialR2T && !command.final
        task.unsolicitedEnd = unsolicitedAllowed ? min(firstBurst, edtl) : immediateLength
        task.unsolicitedNextOffset = immediateLength
        task.nextR2TOffset = task.unsolicitedEnd
        if immediateLength == edtl {
            task.data = command.dataSegment  // the whole write came with the command: no copy
            execute(&task, into: &actions)
            return
        }
        var buffer = ByteBufferAllocator().buffer(capacity: Int(edtl))
        buffer.writeRepeatingByte(0, count: Int(edtl))
        if immediateLength > 0 { buffer.setBuffer(command.dataSegment, at: 0) }
        task.data = buffer
        issueR2Ts(&task, into: &actions)
        tasks[itt] = task
    }

    private mutating func issueR2Ts(_ task: inout TaskState, into actions: inout Actions) {
        let edtl = task.expectedDataTransferLength
        let maxBurst = UInt32(parameters.maxBurstLength)
        while task.r2ts.count < parameters.maxOutstandingR2T {
            let offset: UInt32
            let length: UInt32
            if task.gapOffset < task.gapEnd {
                // Unsolicited data that ended early left a hole below FirstBurstLength.
                offset = task.gapOffset
                length = min(maxBurst, task.gapEnd - offset)
                task.gapOffset += length
            } else if task.nextR2TOffset < edtl {
                offset = task.nextR2TOffset
                length = min(maxBurst, edtl - offset)
                task.nextR2TOffset += length
            } else {
                break
            }
            let tag = allocateTransferTag()
            task.r2ts.append(
                OutstandingR2T(targetTransferTag: tag, bufferOffset: offset, length: length, nextOffset: offset))
            var r2t = R2T()
            r2t.lun = task.rawLUN
            r2t.initiatorTaskTag = task.initiatorTaskTag
            r2t.targetTransferTag = tag
            r2t.statSN = statSN
            r2t.expCmdSN = expCmdSN
            r2t.maxCmdSN = maxCmdSN
            r2t.r2tSN = task.nextR2TSN
            r2t.bufferOffset = offset
            r2t.desiredDataTransferLength = length
            task.nextR2TSN &+= 1
            actions.append(.send(.r2t(r2t)))
        }
    }

    private mutating func allocateTransferTag() -> UInt32 {
        let tag = nextTransferTag
        nextTransferTag &+= 1
        if nextTransferTag == Self.reservedTag { nextTransferTag = 1 }
        return tag
    }

    private mutating func dataOutReceived(_ pdu: DataOut, rawHeader: ByteBuffer, into actions: inout Actions) {
        if discardedDataTags.contains(pdu.initiatorTaskTag) { return }  // its task was aborted
        guard var task = tasks[pdu.initiatorTaskTag], task.phase == .collecting else {
            // Data for a task we do not know (or one already complete or aborted).
            reject(rawHeader, reason: .invalidPDUField, into: &actions)
            return
        }
        if task.aborted { return }  // data of an aborted task is discarded silently
        let length = UInt32(pdu.dataSegment.readableBytes)
        let offset = pdu.bufferOffset
        let (end, overflow) = offset.addingReportingOverflow(length)
        guard !overflow, end <= task.expectedDataTransferLength else {
            reject(rawHeader, reason: .invalidPDUField, into: &actions)
            return
        }
        var completedR2T = false
        if pdu.targetTransferTag == Self.reservedTag {
            // Unsolicited data: in order, within FirstBurstLength.
            guard offset == task.unsolicitedNextOffset, end <= task.unsolicitedEnd else {
                reject(rawHeader, reason: .protocolError, into: &actions)
                return
            }
            guard pdu.dataSN == task.unsolicitedNextDataSN else {
                reject(rawHeader, reason: .protocolError, into: &actions)
                return
            }
            task.unsolicitedNextOffset = end
            task.unsolicitedNextDataSN &+= 1
            if pdu.final && end < task.unsolicitedEnd {
                task.gapOffset = end
                task.gapEnd = task.unsolicitedEnd
                task.unsolicitedEnd = end
            }
        } else {
            guard let index = task.r2ts.firstIndex(where: { $0.targetTransferTag == pdu.targetTransferTag }) else {
                reject(rawHeader, reason: .invalidPDUField, into: &actions)
                return
            }
            let r2t = task.r2ts[index]
            guard offset == r2t.nextOffset, end <= r2t.bufferOffset + r2t.length else {
                reject(rawHeader, reason: .invalidPDUField, into: &actions)
                return
            }
            guard pdu.dataSN == r2t.nextDataSN else {
                reject(rawHeader, reason: .protocolError, into: &actions)
                return
            }
            task.r2ts[index].nextOffset = end
            task.r2ts[index].nextDataSN &+= 1
            if end == r2t.bufferOffset + r2t.length {
                task.r2ts.remove(at: index)
                completedR2T = true
            }
        }
        task.data!.setBuffer(pdu.dataSegment, at: Int(offset))
        task.receivedBytes += length
        if task.allDataReceived {
            tasks[task.initiatorTaskTag] = nil
            execute(&task, into: &actions)
            return
        }
        if completedR2T || (pdu.final && pdu.targetTransferTag == Self.reservedTag) {
            issueR2Ts(&task, into: &actions)
        }
        tasks[task.initiatorTaskTag] = task
    }

    private mutating func execute(_ task: inout TaskState, into actions: inout Actions) {
        task.phase = .executing
        let request = SCSICommandRequest(
            lun: task.lun, cdb: task.cdb, dataOut: task.data,
            expectedDataTransferLength: task.expectedDataTransferLength, attribute: task.attribute)
        task.data = nil
        tasks[task.initiatorTaskTag] = task
        actions.append(.execute(initiatorTaskTag: task.initiatorTaskTag, request))
    }

    // MARK: Completions from the SCSI layer

    mutating func commandCompleted(initiatorTaskTag itt: UInt32, result: SCSICommandResult, into actions: inout Actions) {
        guard let task = tasks.removeValue(forKey: itt) else { return }
        if task.aborted {
            finishAbortedTask(itt, into: &actions)
            return
        }
        // A logout waiting for this command is answered after its response.
        defer { maybeFinishLogout(into: &actions) }
        let edtl = Int(task.expectedDataTransferLength)
        var residualFlag: ResidualFlag = .none
        var residual: UInt32 = 0
        var dataIn = result.dataIn
        if var data = dataIn {
            if data.readableBytes > edtl {
                residualFlag = .overflow
                residual = UInt32(data.readableBytes - edtl)
                data = data.getSlice(at: data.readerIndex, length: edtl)!
            } else if data.readableBytes < edtl {
                residualFlag = .underflow
                residual = UInt32(edtl - data.readableBytes)
            }
            dataIn = data
        } else if task.isWrite, let wanted = result.dataOutLength, wanted != edtl {
            // The CDB asked for a different amount than the initiator announced (RFC 7143 11.4.5).
            residualFlag = wanted < edtl ? .underflow : .overflow
            residual = UInt32(clamping: abs(wanted - edtl))
        } else if !task.isWrite && edtl > 0 {
            residualFlag = .underflow
            residual = UInt32(edtl)
        }

        let statusInData = result.status == .good && result.senseData == nil
        if let data = dataIn, data.readableBytes > 0 {
            sendDataIn(
                data, task: task, finalStatus: statusInData ? (result.status, residualFlag, residual) : nil,
                into: &actions)
            if statusInData { return }
        }
        var response = SCSIResponse()
        response.initiatorTaskTag = itt
        response.status = result.status.rawValue
        response.response = .commandCompleted
        response.residualUnderflow = residualFlag == .underflow
        response.residualOverflow = residualFlag == .overflow
        response.residualCount = residual
        response.statSN = takeStatSN()
        response.expCmdSN = expCmdSN
        response.maxCmdSN = maxCmdSN
        if var sense = result.senseData {
            var segment = ByteBufferAllocator().buffer(capacity: sense.readableBytes + 2)
            segment.writeInteger(UInt16(sense.readableBytes))
            segment.writeBuffer(&sense)
            response.dataSegment = segment
        }
        actions.append(.send(.scsiResponse(response)))
    }

    enum ResidualFlag { case none, underflow, overflow }

    /// Splits read data into Data-In PDUs of at most MaxRecvDataSegmentLength, closing a sequence
    /// (F bit) every MaxBurstLength bytes; the last PDU carries the status when it is GOOD.
    private mutating func sendDataIn(
        _ data: ByteBuffer, task: TaskState, finalStatus: (SCSIStatus, ResidualFlag, UInt32)?,
        into actions: inout Actions
    ) {
        let total = data.readableBytes
        let segment = maxSendSegment
        let burst = parameters.maxBurstLength
        var offset = 0
        var dataSN: UInt32 = 0
        var burstUsed = 0
        while offset < total {
            let length = min(segment, total - offset, burst - burstUsed)
            var pdu = DataIn()
            pdu.lun = task.rawLUN
            pdu.initiatorTaskTag = task.initiatorTaskTag
            pdu.targetTransferTag = Self.reservedTag
            pdu.dataSN = dataSN
            pdu.bufferOffset = UInt32(offset)
            pdu.dataSegment = data.getSlice(at: data.readerIndex + offset, length: length)!
            offset += length
            burstUsed += length
            dataSN &+= 1
            let last = offset == total
            if burstUsed == burst || last {
                pdu.final = true
                burstUsed = 0
            }
            if last, let (status, flag, residual) = finalStatus {
                pdu.statusPresent = true
                pdu.status = status.rawValue
                pdu.residualUnderflow = flag == .underflow
                pdu.residualOverflow = flag == .overflow
                pdu.residualCount = residual
                pdu.statSN = takeStatSN()
            } else {
                pdu.statSN = 0
            }
            pdu.expCmdSN = expCmdSN
            pdu.maxCmdSN = maxCmdSN
            actions.append(.send(.dataIn(pdu)))
        }
    }

    // MARK: NOP

    private mutating func nopOutReceived(_ nop: NOPOut, into actions: inout Actions) {
        var reply = NOPIn()
        reply.lun = nop.lun
        reply.initiatorTaskTag = nop.initiatorTaskTag
        reply.targetTransferTag = Self.reservedTag
        reply.statSN = takeStatSN()
        reply.expCmdSN = expCmdSN
        reply.maxCmdSN = maxCmdSN
        reply.dataSegment = nop.dataSegment
        actions.append(.send(.nopIn(reply)))
    }

    /// A NOP-In ping for an idle connection; nil while the previous ping is unanswered.
    mutating func makePing() -> NOPIn? {
        guard outstandingPing == nil else { return nil }
        let tag = allocateTransferTag()
        outstandingPing = tag
        var ping = NOPIn()
        ping.initiatorTaskTag = Self.reservedTag
        ping.targetTransferTag = tag
        ping.statSN = statSN  // unsolicited NOP-In does not advance StatSN
        ping.expCmdSN = expCmdSN
        ping.maxCmdSN = maxCmdSN
        return ping
    }

    // MARK: Task management

    private mutating func taskManagementReceived(_ request: TaskManagementRequest, into actions: inout Actions) {
        var response = TaskManagementResponse()
        response.initiatorTaskTag = request.initiatorTaskTag
        let lun = SAMLUN.decode(request.lun) ?? Self.invalidLUN
        var affected: [UInt32] = []
        switch request.function {
        case .abortTask:
            let ref = request.referencedTaskTag
            if let task = tasks[ref], !task.aborted {
                affected = [ref]
                response.response = .functionComplete
            } else if tasks[ref] != nil {
                response.response = .functionComplete
            } else {
                // RFC 7143 11.5.1: a RefCmdSN inside the CmdSN window and before this TMF's CmdSN
                // is considered received (the command is dropped if it comes), and the abort is
                // complete; otherwise (e.g. the task already finished) the task does not exist.
                let inWindow = request.refCmdSN &- expCmdSN < maxCmdSNWindow
                let beforeRequest = request.cmdSN &- request.refCmdSN
                if inWindow, beforeRequest > 0, beforeRequest < 0x8000_0000 {
                    response.response = .functionComplete
                    considerReceived(request.refCmdSN, into: &actions)
                } else {
                    response.response = .taskDoesNotExist
                }
            }
        case .abortTaskSet, .clearTaskSet:
            affected = tasks.values.filter { $0.lun == lun }.map(\.initiatorTaskTag)
            response.response = .functionComplete
        case .logicalUnitReset:
            affected = tasks.values.filter { $0.lun == lun }.map(\.initiatorTaskTag)
            actions.append(.resetLogicalUnit(lun))
            response.response = .functionComplete
        case .targetWarmReset, .targetColdReset:
            affected = Array(tasks.keys)
            actions.append(.resetTarget(cold: request.function == .targetColdReset))
            response.response = .functionComplete
        case .clearACA:
            response.response = .functionNotSupported
        case .taskReassign:
            response.response = .taskAllegianceReassignmentNotSupported
        default:
            response.response = .functionNotSupported
        }
        var waiting = Set<UInt32>()
        for itt in affected {
            guard var task = tasks[itt] else { continue }
            if task.phase == .executing {
                task.aborted = true
                tasks[itt] = task
                waiting.insert(itt)
            } else {
                tasks[itt] = nil  // still collecting data: gone now, its Data-Out is ignored
                if discardedDataTags.count >= 1024 { discardedDataTags.removeAll() }
                discardedDataTags.insert(itt)
            }
        }
        if waiting.isEmpty {
            sendTaskManagementResponse(response, into: &actions)
        } else {
            // The response waits until the aborted commands have left the SCSI layer.
            pendingTaskManagement.append((response, waiting))
        }
    }

    /// Marks a CmdSN as received without a command, dropping a queued one.
    private mutating func considerReceived(_ cmdSN: UInt32, into actions: inout Actions) {
        if cmdSN == expCmdSN {
            pendingCommands[cmdSN] = nil
            expCmdSN &+= 1
            deliverQueued(into: &actions)
        } else {
            pendingCommands.updateValue(nil, forKey: cmdSN)
        }
    }

    private mutating func finishAbortedTask(_ itt: UInt32, into actions: inout Actions) {
        var index = 0
        while index < pendingTaskManagement.count {
            pendingTaskManagement[index].waitingFor.remove(itt)
            if pendingTaskManagement[index].waitingFor.isEmpty {
                let entry = pendingTaskManagement.remove(at: index)
                sendTaskManagementResponse(entry.response, into: &actions)
            } else {
                index += 1
            }
        }
        maybeFinishLogout(into: &actions)
    }

    private mutating func sendTaskManagementResponse(_ response: TaskManagementResponse, into actions: inout Actions) {
        var response = response
        response.statSN = takeStatSN()
        response.expCmdSN = expCmdSN
        response.maxCmdSN = maxCmdSN
        actions.append(.send(.taskManagementResponse(response)))
    }

    // MARK: Text

    private mutating func textReceived(_ request: TextRequest, rawHeader: ByteBuffer, into actions: inout Actions) {
        // C=1 requires F=0 (RFC 7143 11.10.2).
        if request.`continue` && request.final {
            textRequestBuffer = nil
            textContinuationTag = nil
            reject(rawHeader, reason: .protocolError, into: &actions)
            return
        }
        let continuesOwnText = textRequestBuffer != nil && request.targetTransferTag == textContinuationTag
        textContinuationTag = nil
        // The initiator asks for the rest of a long answer.
        if request.targetTransferTag != Self.reservedTag && !continuesOwnText {
            guard let pending = pendingTextResponse, pending.tag == request.targetTransferTag,
                pending.itt == request.initiatorTaskTag
            else {
                reject(rawHeader, reason: .invalidPDUField, into: &actions)
                return
            }
            pendingTextResponse = nil
            sendText(pending.remaining, itt: request.initiatorTaskTag, lun: request.lun, into: &actions)
            return
        }
        pendingTextResponse = nil
        var text = textRequestBuffer ?? ByteBuffer()
        var segment = request.dataSegment
        guard text.readableBytes + segment.readableBytes <= Self.maxTextBytes else {
            textRequestBuffer = nil
            reject(rawHeader, reason: .protocolError, into: &actions)
            return
        }
        text.writeBuffer(&segment)
        if request.`continue` {
            textRequestBuffer = text
            textContinuationTag = sendText(
                ByteBuffer(), itt: request.initiatorTaskTag, lun: request.lun, more: true, into: &actions)
            return
        }
        textRequestBuffer = nil
        let pairs: [TextKeyValue]
        do {
            pairs = try TextKeyCodec.decode(text)
        } catch {
            reject(rawHeader, reason: .protocolError, into: &actions)
            return
        }
        var reply: [TextKeyValue] = []
        var others: [TextKeyValue] = []
        for pair in pairs {
            if pair.key == "SendTargets" {
                reply += sendTargets(pair.value)
            } else {
                others.append(pair)
            }
        }
        if !others.isEmpty {
            switch negotiator.respond(to: others, stage: .fullFeature, isLeadingConnection: true) {
            case .reply(let answer):
                reply += answer.pairs
                parameters = negotiator.negotiated
            case .failure:
                reject(rawHeader, reason: .protocolError, into: &actions)
                return
            }
        }
        var data = ByteBuffer()
        TextKeyCodec.encode(reply, into: &data)
        sendText(data, itt: request.initiatorTaskTag, lun: request.lun, into: &actions)
    }

    /// Sends at most one PDU worth of text; the rest waits for the initiator's next Text Request.
    /// Returns the TTT when the exchange goes on.
    @discardableResult
    private mutating func sendText(
        _ data: ByteBuffer, itt: UInt32, lun: UInt64, more: Bool = false, into actions: inout Actions
    ) -> UInt32? {
        var response = TextResponse()
        response.initiatorTaskTag = itt
        response.lun = lun
        let chunk = min(data.readableBytes, maxSendSegment)
        response.dataSegment = data.getSlice(at: data.readerIndex, length: chunk)!
        var tag: UInt32?
        if chunk < data.readableBytes || more {
            let newTag = allocateTransferTag()
            tag = newTag
            // C=1 only when our own text goes on; an empty answer to C=1 has F=0 and C=0.
            response.`continue` = chunk < data.readableBytes
            response.final = false
            response.targetTransferTag = newTag
            if chunk < data.readableBytes {
                pendingTextResponse = (newTag, itt, data.getSlice(at: data.readerIndex + chunk, length: data.readableBytes - chunk)!)
            }
        } else {
            response.final = true
            response.targetTransferTag = Self.reservedTag
        }
        response.statSN = takeStatSN()
        response.expCmdSN = expCmdSN
        response.maxCmdSN = maxCmdSN
        actions.append(.send(.textResponse(response)))
        return tag
    }

    // MARK: Logout

    private mutating func logoutReceived(_ request: LogoutRequest, into actions: inout Actions) {
        var response = LogoutResponse()
        response.initiatorTaskTag = request.initiatorTaskTag
        response.time2Wait = 0
        response.time2Retain = 0
        switch request.reasonCode.rawValue {
        case 0, 1:
            response.response = .closedSuccessfully  // closing the connection closes its (single-connection) session
        case 2:
            response.response = .connectionRecoveryNotSupported  // connection recovery is not supported at ErrorRecoveryLevel 0
        default:
            response.response = .connectionRecoveryNotSupported
        }
        pendingLogout = response
        maybeFinishLogout(into: &actions)
    }

    /// The logout answer waits for commands still in the SCSI layer.
    private mutating func maybeFinishLogout(into actions: inout Actions) {
        guard var response = pendingLogout, !tasks.values.contains(where: { $0.phase == .executing }) else { return }
        pendingLogout = nil
        response.statSN = takeStatSN()
        response.expCmdSN = expCmdSN
        response.maxCmdSN = maxCmdSN
        actions.append(.send(.logoutResponse(response)))
        if response.response == .closedSuccessfully {
            loggedOut = true
            actions.append(.closeAfterFlush(reason: "logout"))
        }
    }

    // MARK: Reject

    mutating func reject(_ rawHeader: ByteBuffer, reason: Reject.Reason, into actions: inout Actions) {
        var pdu = Reject(reason: reason)
        pdu.statSN = takeStatSN()
        pdu.expCmdSN = expCmdSN
        pdu.maxCmdSN = maxCmdSN
        pdu.dataSegment = rawHeader
        actions.append(.send(.reject(pdu)))
    }
}
