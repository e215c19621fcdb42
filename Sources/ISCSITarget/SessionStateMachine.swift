import ISCSIProtocol
import NIOCore
import SCSITarget

/// The bounds one connection in full feature phase works within.
struct SessionLimits {
    /// Commands the initiator may have in the target (queued, executing or being answered)
    /// beyond those already answered: MaxCmdSN - ExpCmdSN + 1 when nothing is outstanding.
    var commandWindow: UInt32
    /// Bytes of data this connection may hold (write data gathered, read data produced,
    /// responses not yet taken by the initiator) before its commands wait.
    var connectionDataBudget: Int
    /// Immediate commands (which bypass the CmdSN window) the target holds at once; more get a
    /// Reject (immediate command reject).
    var maxImmediateTasks: Int
}

/// Full feature phase of one connection (its session has exactly one), without IO.
///
/// Inputs are PDUs from the initiator and completions from the SCSI layer; outputs are appended to
/// an `Actions` list that the channel handler performs in order. Tasks, CmdSN window, StatSN, R2T
/// and Data-Out sequencing all live here so they can be tested without sockets.
///
/// Memory follows data, never a header: a write gathers what its CDB asks for (cut to what the
/// initiator announced, `DataOutDemand`), its buffer growing as R2Ts are issued, and a command
/// runs only once the connection's and the daemon's data budgets hold what it will move. Until
/// then it waits in order and keeps its place in the CmdSN window, which so stays closed: the
/// window slides when a response is handed out, not when a command arrives.
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
    /// What a CDB asks the initiator to send (the SCSI layer's answer).
    typealias DataOutDemandSource = (_ lun: UInt64, _ cdb: ByteBuffer, _ expectedLength: UInt32) -> DataOutDemand

    static let reservedTag: UInt32 = 0xFFFF_FFFF
    /// Stands for a LUN field with an addressing method we do not serve: no LU has it.
    static let invalidLUN = UInt64.max

    var parameters: NegotiatedParameters
    let isDiscovery: Bool
    let limits: SessionLimits
    var maxCmdSNWindow: UInt32 { limits.commandWindow }
    /// Answers `SendTargets=<value>` with TargetName/TargetAddress pairs.
    let sendTargets: (String) -> [TextKeyValue]
    private let dataOutDemand: DataOutDemandSource
    private let budget: DataBudget
    private var negotiator: TargetNegotiator

    private(set) var expCmdSN: UInt32
    private(set) var statSN: UInt32
    /// Commands waiting for a CmdSN gap to fill; nil marks a CmdSN an ABORT TASK had us consider
    /// received (RFC 7143 11.5.1), skipped when its turn comes.
    private var pendingCommands: [UInt32: (pdu: ISCSIPDU, header: ByteBuffer)?] = [:]
    private(set) var tasks: [UInt32: TaskState] = [:]
    /// Tasks in CmdSN order waiting for the data budget (ITT and admission ticket).
    private var admissionQueue = CircularBuffer<(itt: UInt32, ticket: UInt64)>()
    private var nextAdmissionTicket: UInt64 = 1
    /// Non-immediate tasks in the target: they hold slots of the CmdSN window.
    private(set) var windowHeld = 0
    private var immediateTasks = 0
    /// Bytes the tasks of this connection hold in the budgets.
    private(set) var reservedBytes = 0
    /// Bytes of responses handed to the connection and not yet taken by the initiator (the
    /// channel handler keeps this up to date); they count against the budgets too.
    var outboundBytes = 0
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
        outcome: LoginOutcome, limits: SessionLimits, budget: DataBudget,
        dataOutDemand: @escaping DataOutDemandSource, sendTargets: @escaping (String) -> [TextKeyValue]
    ) {
        self.parameters = outcome.parameters
        self.isDiscovery = outcome.target == nil
        self.expCmdSN = outcome.expCmdSN
        self.statSN = outcome.nextStatSN
        self.limits = limits
        self.budget = budget
        self.dataOutDemand = dataOutDemand
        self.negotiator = outcome.negotiator
        self.sendTargets = sendTargets
    }

    /// The window closes by one for each command in the target and opens as each is answered,
    /// so it never moves backwards (RFC 7143 4.2.2.1).
    var maxCmdSN: UInt32 { expCmdSN &+ (maxCmdSNWindow &- UInt32(windowHeld)) &- 1 }

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
        // Only CmdSNs up to MaxCmdSN are taken; beyond it (or a duplicate) a command is silently
        // ignored, as RFC 7143 4.2.2.1 requires, however the initiator got its numbers.
        let ahead = cmdSN &- expCmdSN
        guard ahead < maxCmdSNWindow &- UInt32(windowHeld) else { return }
        if ahead == 0 {
            expCmdSN &+= 1
            deliver(pdu, rawHeader: rawHeader, into: &actions)
            deliverQueued(into: &actions)
        } else if pendingCommands.index(forKey: cmdSN) == nil {
            pendingCommands[cmdSN] = (pdu, rawHeader)  // a gap: wait for the missing CmdSN
        }
    }

    /// A PDU that could not be decoded is rejected; if it was a command in CmdSN order, its CmdSN
    /// still counts as received so the window does not stall on it.
    mutating func undecodable(_ rawHeader: ByteBuffer, reason: Reject.Reason, into actions: inout Actions) {
        let opcode = (rawHeader.getInteger(at: rawHeader.readerIndex, as: UInt8.self) ?? 0) & 0x3F
        let immediate = (rawHeader.getInteger(at: rawHeader.readerIndex, as: UInt8.self) ?? 0) & 0x40 != 0
        let carriesCmdSN = opcode != ISCSIOpcode.dataOut.rawValue && opcode != ISCSIOpcode.snackRequest.rawValue
            && opcode < 0x20
        if carriesCmdSN, !immediate, windowHeld < Int(maxCmdSNWindow),
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
        if command.immediate && immediateTasks + pendingTaskManagement.count >= limits.maxImmediateTasks {
            // Immediate commands bypass the CmdSN window: this is their bound (RFC 7143 11.17.1).
            reject(rawHeader, reason: .immediateCommandRejected, into: &actions)
            return
        }
        let edtl = command.expectedDataTransferLength
        let immediateLength = UInt32(command.dataSegment.readableBytes)
        let lun = SAMLUN.decode(command.lun) ?? Self.invalidLUN
        var task = TaskState(
            initiatorTaskTag: itt, cmdSN: command.cmdSN, immediate: command.immediate, lun: lun, rawLUN: command.lun,
            cdb: command.cdb, attribute: SCSITaskAttribute(rawValue: command.attribute) ?? .simple,
            expectedDataTransferLength: edtl, isWrite: command.write, phase: .waiting)

        if command.write || !command.read {
            let demand = dataOutDemand(lun, command.cdb, edtl)
            task.dataOutLength = demand.length
            task.gather = command.write ? demand.gather : 0
        }
        if immediateLength > 0 {
            // Data with no write to carry it, or more than may come unsolicited: malformed.
            guard command.write, parameters.immediateData, immediateLength <= min(UInt32(parameters.firstBurstLength), edtl)
            else {
                reject(rawHeader, reason: .protocolError, into: &actions)
                return
            }
        }
        if command.write && edtl > 0 {
            // F=1 on the command means no unsolicited Data-Out follows (RFC 7143 11.3.4).
            let unsolicitedAllowed = !parameters.initialR2T && !command.final
            task.unsolicitedEnd = unsolicitedAllowed ? min(UInt32(parameters.firstBurstLength), edtl) : immediateLength
            task.unsolicitedNextOffset = immediateLength
            task.nextR2TOffset = task.unsolicitedEnd
            task.store(command.dataSegment, at: 0)
        }
        task.admissionTicket = nextAdmissionTicket
        nextAdmissionTicket &+= 1
        tasks[itt] = task
        if command.immediate { immediateTasks += 1 } else { windowHeld += 1 }
        if admissionQueue.isEmpty && reserve(for: itt) {
            proceed(itt, into: &actions)
        } else {
            admissionQueue.append((itt, task.admissionTicket))
        }
    }

    /// Bytes a task moves through the target: its gathered Data-Out, or at most the largest
    /// transfer of Data-In (the SCSI layer refuses longer ones).
    private func cost(of task: TaskState) -> Int {
        task.isWrite ? task.gather : min(Int(task.expectedDataTransferLength), SCSITargetDevice.maximumTransferBytes)
    }

    /// Takes the task's cost from the connection's and the daemon's budgets. A connection that
    /// holds nothing may always run one command, so no connection starves behind others.
    private mutating func reserve(for itt: UInt32) -> Bool {
        let cost = cost(of: tasks[itt]!)
        guard cost > 0 else { return true }
        let held = reservedBytes + outboundBytes
        if held == 0 {
            budget.forceReserve(cost)
        } else {
            guard held + cost <= limits.connectionDataBudget, budget.tryReserve(cost) else { return false }
        }
        tasks[itt]!.reserved = cost
        reservedBytes += cost
        return true
    }

    /// Admits waiting tasks, in order, while the budgets hold them. The channel handler calls
    /// this after performing a completion's actions (once its responses count as queued, see
    /// `outboundBytes`) and when responses drained.
    mutating func admitWaiting(into actions: inout Actions) {
        while let (itt, ticket) = admissionQueue.first {
            guard tasks[itt]?.admissionTicket == ticket, tasks[itt]?.phase == .waiting else {
                admissionQueue.removeFirst()  // aborted meanwhile
                continue
            }
            guard reserve(for: itt) else { return }
            admissionQueue.removeFirst()
            proceed(itt, into: &actions)
        }
    }

    var hasWaitingTasks: Bool { !admissionQueue.isEmpty }

    /// An admitted task solicits what it still needs, or runs.
    private mutating func proceed(_ itt: UInt32, into actions: inout Actions) {
        var task = tasks[itt]!
        if task.allDataReceived {
            execute(&task, into: &actions)
            return
        }
        task.phase = .collecting
        issueR2Ts(&task, into: &actions)
        tasks[itt] = task
    }

    /// Removes a task, giving back its slot in the window and its part of the budgets.
    @discardableResult
    private mutating func removeTask(_ itt: UInt32) -> TaskState? {
        guard let task = tasks.removeValue(forKey: itt) else { return nil }
        if task.immediate { immediateTasks -= 1 } else { windowHeld -= 1 }
        if task.reserved > 0 {
            reservedBytes -= task.reserved
            budget.release(task.reserved)
        }
        return task
    }

    /// The connection is gone: whatever its tasks held goes back to the daemon's budget.
    mutating func releaseBudget() {
        budget.release(reservedBytes)
        reservedBytes = 0
        for itt in Array(tasks.keys) { tasks[itt]?.reserved = 0 }
    }

    private mutating func issueR2Ts(_ task: inout TaskState, into actions: inout Actions) {
        let end = UInt32(task.gather)
        let maxBurst = UInt32(parameters.maxBurstLength)
        while task.r2ts.count < parameters.maxOutstandingR2T {
            let offset: UInt32
            let length: UInt32
            if task.gapOffset < min(task.gapEnd, end) {
                offset = task.gapOffset
                length = min(maxBurst, min(task.gapEnd, end) - offset)
                task.gapOffset += length
            } else if task.nextR2TOffset < end {
                offset = task.nextR2TOffset
                length = min(maxBurst, end - offset)
                task.nextR2TOffset += length
            } else {
                break
            }
            task.reserve(upTo: Int(offset + length))
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
        guard var task = tasks[pdu.initiatorTaskTag], task.phase != .executing else {
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
        task.store(pdu.dataSegment, at: Int(offset))
        if task.phase == .waiting {
            tasks[task.initiatorTaskTag] = task  // unsolicited data kept until the task is admitted
            return
        }
        if task.allDataReceived {
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
            lun: task.lun, cdb: task.cdb, dataOut: task.takeData(),
            expectedDataTransferLength: task.expectedDataTransferLength, attribute: task.attribute)
        tasks[task.initiatorTaskTag] = task
        actions.append(.execute(initiatorTaskTag: task.initiatorTaskTag, request))
    }

    // MARK: Completions from the SCSI layer

    mutating func commandCompleted(initiatorTaskTag itt: UInt32, result: SCSICommandResult, into actions: inout Actions) {
        guard let task = removeTask(itt) else { return }
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
        } else if let wanted = task.dataOutLength, task.isWrite || wanted > 0 {
            // The CDB asked for a different amount than the initiator announced (RFC 7143 11.4.5.2).
            if wanted != edtl {
                residualFlag = wanted < edtl ? .underflow : .overflow
                residual = UInt32(clamping: abs(wanted - edtl))
            }
        } else if edtl > 0 {
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
        if pendingTaskManagement.count >= limits.maxImmediateTasks {
            // Answers waiting for aborted commands are bounded: past that, refused untouched.
            response.response = .functionRejected
            sendTaskManagementResponse(response, into: &actions)
            return
        }
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
            guard let task = tasks[itt] else { continue }
            if task.phase == .executing {
                tasks[itt]!.aborted = true
                waiting.insert(itt)
            } else {
                removeTask(itt)  // waiting or collecting data: gone now, its Data-Out is ignored
                if discardedDataTags.count >= 1024 { discardedDataTags.removeAll() }
                discardedDataTags.insert(itt)
            }
        }
        admitWaiting(into: &actions)
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
