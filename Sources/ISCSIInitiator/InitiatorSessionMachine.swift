import ISCSIProtocol
import NIOCore

/// What a session task asks of the target.
public enum InitiatorTaskRequest: Sendable {
    case scsi(lun: UInt64, cdb: ByteBuffer, dataOut: ByteBuffer?, expectedDataInLength: Int)
    case taskManagement(function: TaskManagementRequest.Function, lun: UInt64, referencedTaskTag: UInt32?)
    /// Text Request carrying these encoded key=value pairs.
    case text(ByteBuffer)
    /// A NOP-Out ping carrying this data.
    case nop(ByteBuffer)
    case logout
}

public enum InitiatorTaskCompletion: Sendable {
    case scsi(SCSICommandResponse)
    case taskManagement(TaskManagementResponse.Response)
    case text(ByteBuffer)
    case nop
    case logout(LogoutResponse.Response)
}

/// Full feature phase of one initiator session (RFC 7143 at ErrorRecoveryLevel 0), as a pure state
/// machine: tasks, the CmdSN window, immediate and unsolicited data, R2T answers, Data-In
/// reassembly, status, NOP answers, and (in `+Recovery`) the command timeout's error handler.
/// Inputs append `Output`s to a caller-owned array.
///
/// A protocol violation by the target closes the connection; the commands it concerns are resent
/// once after the next login, and fail with the violation if it happens again.
public struct InitiatorSessionMachine<Context> {
    public typealias Request = InitiatorTaskRequest
    public typealias Completion = InitiatorTaskCompletion

    public enum Output {
        case send(ISCSIPDU)
        case complete(Context, Result<Completion, ISCSIInitiatorError>)
        /// The connection is unusable (a protocol violation); close it.
        case closeConnection(ISCSIInitiatorError)
    }

    struct Task {
        var itt: UInt32
        var request: Request
        /// Who waits for the task; nil for the machine's own TMFs and logouts.
        var context: Context?
        var cmdSN: UInt32 = 0
        var sent = false
        var lun: UInt64 = 0
        /// Data-In received so far, as the slices it arrived in: never copied together here.
        var data: ByteBuffer?
        var moreData: [ByteBuffer] = []
        var received = 0
        var nextDataSN: UInt32 = 0
        var text: ByteBuffer?
        /// Copied out of `request` so the receive path needs no enum match on the task.
        var isSCSI = false
        var expectedIn = 0
        /// The machine's clock (the last tick) when the task was submitted, and the session's time
        /// without a connection then: connected and offline waits follow from these two.
        var submittedAt: NIODeadline
        var offlineAtSubmit: TimeAmount
        /// Connection losses survived, and protocol violations blamed on this task.
        var resends: UInt8 = 0
        var violations: UInt8 = 0
        var recovery: Recovery = .none
        /// Fail at once when the connection drops instead of waiting for a new one (Linux's
        /// REQ_FAILFAST_TRANSPORT): a multipath layer sends it down another path.
        var failFast = false
    }

    /// Where a timed-out SCSI command stands in the error handler.
    enum Recovery: UInt8 {
        case none
        /// Timed out; its ABORT TASK goes out at the next tick.
        case timedOut
        case aborting
        /// ABORT TASK failed: a LOGICAL UNIT RESET of its LUN goes out (or is out).
        case needsLUReset
        /// The LU reset failed too: a TARGET WARM RESET goes out (or is out).
        case needsTargetReset
    }

    /// What one Data-In did to its task (computed in place, never copying the task).
    private enum DataInStep {
        case more
        case done(ByteBuffer?, [ByteBuffer])
        case violation(String)
    }

    public let timeouts: InitiatorSessionTimeouts
    /// The time of the last `tick` (or connection event): what new tasks are stamped with.
    var now: NIODeadline
    /// Time spent without a connection: finished outages, and the start of the current one.
    var offlineTotal: TimeAmount = .zero
    var offlineSince: NIODeadline?
    /// SCSI commands the target has completed (any status): progress, for the caller's
    /// replacement-timeout and backoff decisions.
    public private(set) var completedCount = 0
    /// Set once this connection is condemned (a violation, a drop by the error handler): what
    /// still arrives on it is ignored until `connectionLost`.
    var connectionCondemned = false
    /// The target asked for a logout and ours is out: nothing new is sent on this connection.
    var draining = false
    /// The error handler's LOGICAL UNIT RESETs in flight (LUN to ITT) and TARGET WARM RESET.
    var luResets: [UInt64: UInt32] = [:]
    var targetResetITT: UInt32?
    public private(set) var parameters: NegotiatedParameters
    public private(set) var cmdSN: UInt32
    public private(set) var expStatSN: UInt32
    public private(set) var expCmdSN: UInt32
    public private(set) var maxCmdSN: UInt32
    public var queueDepth: Int
    /// Open-addressed by ITT: a task lives at `itt & slotMask`; ITT's are allocated so that
    /// their slot is free, so a lookup is one index and one compare (no hashing).
    var slots: [Task?] = Array(repeating: nil, count: 256)
    private var slotMask: UInt32 = 255
    /// The ITT in each slot (`ISCSITag.reserved` when free): lookups never copy a task.
    var slotTags = [UInt32](repeating: ISCSITag.reserved, count: 256)
    private var taskCount = 0
    var waiting = CircularBuffer<UInt32>(initialCapacity: 64)
    var inFlight = 0
    private var nextITT: UInt32 = 1
    private let allocator = ByteBufferAllocator()

    public init(
        parameters: NegotiatedParameters, cmdSN: UInt32, expStatSN: UInt32, maxCmdSN: UInt32, queueDepth: Int = 128,
        timeouts: InitiatorSessionTimeouts = InitiatorSessionTimeouts(), now: NIODeadline = .now()
    ) {
        self.timeouts = timeouts
        self.now = now
        self.parameters = parameters
        self.cmdSN = cmdSN
        self.expStatSN = expStatSN
        self.expCmdSN = cmdSN
        self.maxCmdSN = maxCmdSN
        self.queueDepth = max(1, queueDepth)
    }

    /// Tasks not yet completed, sent or waiting for the window.
    public var outstandingCount: Int { taskCount }
    public var waitingCount: Int { waiting.count }
    /// False while the connection is down: tasks wait in the queue.
    public private(set) var isConnected = true
    public var isWindowOpen: Bool {
        isConnected && !draining && SerialNumber(cmdSN) <= SerialNumber(maxCmdSN) && inFlight < queueDepth
    }

    /// Time without a connection up to `t`.
    func offline(at t: NIODeadline) -> TimeAmount {
        guard let since = offlineSince else { return offlineTotal }
        return offlineTotal + max(.zero, t - since)
    }

    // MARK: Submitting

    /// Queues or sends `request`; returns its Initiator Task Tag.
    @discardableResult
    public mutating func submit(_ request: Request, context: Context, failFast: Bool = false, into out: inout [Output]) -> UInt32 {
        enqueue(request, context: context, failFast: failFast, into: &out)
    }

    /// Queues or sends a task; the machine's own (TMFs, logouts) have no context.
    @discardableResult
    mutating func enqueue(_ request: Request, context: Context?, failFast: Bool = false, into out: inout [Output]) -> UInt32 {
        let itt = allocateITT()
        var lun: UInt64 = 0
        var isSCSI = false
        var expectedIn = 0
        switch request {
        case .scsi(let l, _, _, let e):
            lun = l
            isSCSI = true
            expectedIn = e
        case .taskManagement(_, let l, _): lun = l
        default: break
        }
        slots[Int(itt & slotMask)] = Task(
            itt: itt, request: request, context: context, lun: lun, isSCSI: isSCSI, expectedIn: expectedIn,
            submittedAt: now, offlineAtSubmit: offline(at: now), failFast: failFast)
        slotTags[Int(itt & slotMask)] = itt
        taskCount += 1
        if Self.isImmediate(request) {
            send(itt, into: &out)
        } else {
            waiting.append(itt)
            drain(into: &out)
        }
        return itt
    }

    /// The ITT's of SCSI tasks still outstanding (for aborting).
    public func scsiTaskTags(lun: UInt64? = nil) -> [UInt32] {
        var tags: [UInt32] = []
        for i in slots.indices {
            guard let task = slots[i] else { continue }
            if case .scsi = task.request, lun == nil || task.lun == lun { tags.append(task.itt) }
        }
        return tags
    }

    /// The slot of task `itt`, nil when there is no such task.
    @inline(__always)
    func slot(_ itt: UInt32) -> Int? {
        let i = Int(itt & slotMask)
        return slotTags[i] == itt ? i : nil
    }

    mutating func removeTask(at i: Int) -> Task {
        var task: Task? = nil
        swap(&task, &slots[i])
        slotTags[i] = ISCSITag.reserved
        taskCount -= 1
        return task!
    }

    /// Doubles the slot table, keeping it at most half full (short probes in `allocateITT`).
    private mutating func growIfNeeded() {
        guard (taskCount + 1) * 2 > slots.count else { return }
        let newCount = slots.count * 2
        let newMask = UInt32(newCount - 1)
        var grown = [Task?](repeating: nil, count: newCount)
        var grownTags = [UInt32](repeating: ISCSITag.reserved, count: newCount)
        for i in slots.indices where slotTags[i] != ISCSITag.reserved {
            var task: Task? = nil
            swap(&task, &slots[i])
            grown[Int(slotTags[i] & newMask)] = task
            grownTags[Int(slotTags[i] & newMask)] = slotTags[i]
        }
        slots = grown
        slotTags = grownTags
        slotMask = newMask
    }

    static func isImmediate(_ request: Request) -> Bool {
        switch request {
        case .scsi, .text: return false
        case .taskManagement, .nop, .logout: return true
        }
    }

    private mutating func allocateITT() -> UInt32 {
        growIfNeeded()
        while true {
            let itt = nextITT
            nextITT = nextITT &+ 1
            if itt != ISCSITag.reserved && slotTags[Int(itt & slotMask)] == ISCSITag.reserved { return itt }
        }
    }

    mutating func drain(into out: inout [Output]) {
        while let itt = waiting.first, isWindowOpen {
            waiting.removeFirst()
            send(itt, into: &out)
        }
    }

    private mutating func send(_ itt: UInt32, into out: inout [Output]) {
        guard let index = slot(itt) else { return }
        let taskCmdSN = cmdSN
        // In place: reading `slots[index]!.request` would copy the whole task.
        let request = Self.markSent(&slots[index]!, cmdSN: taskCmdSN)
        switch request {
        case .scsi(let lun, let cdb, let dataOut, let expectedIn):
            inFlight += 1
            cmdSN = cmdSN &+ 1
            let total = dataOut?.readableBytes ?? 0
            var immediate = 0
            if total > 0 && parameters.immediateData {
                immediate = min(total, parameters.firstBurstLength, parameters.targetMaxRecvDataSegmentLength)
            }
            let unsolicitedEnd = parameters.initialR2T ? immediate : min(total, parameters.firstBurstLength)
            var command = SCSICommand(
                immediate: false, final: unsolicitedEnd == immediate, read: expectedIn > 0, write: total > 0,
                attribute: 1, lun: ISCSIProtocol.SAMLUN.encode(lun), initiatorTaskTag: itt,
                expectedDataTransferLength: UInt32(total > 0 ? total : expectedIn), cmdSN: taskCmdSN,
                expStatSN: expStatSN, cdb: cdb)
            if immediate > 0 {
                command.dataSegment = dataOut!.getSlice(at: dataOut!.readerIndex, length: immediate)!
            }
            out.append(.send(.scsiCommand(command)))
            if unsolicitedEnd > immediate {
                emitData(
                    dataOut!, lun: lun, itt: itt, ttt: ISCSITag.reserved, offset: immediate,
                    length: unsolicitedEnd - immediate, into: &out)
            }
        case .taskManagement(let function, let lun, let referenced):
            var refCmdSN = cmdSN
            if let referenced, let target = slot(referenced) { refCmdSN = slots[target]!.cmdSN }
            out.append(.send(.taskManagementRequest(TaskManagementRequest(
                immediate: true, function: function, lun: ISCSIProtocol.SAMLUN.encode(lun), initiatorTaskTag: itt,
                referencedTaskTag: referenced ?? ISCSITag.reserved, cmdSN: cmdSN, expStatSN: expStatSN,
                refCmdSN: refCmdSN))))
        case .text(let data):
            inFlight += 1
            cmdSN = cmdSN &+ 1
            out.append(.send(.textRequest(TextRequest(
                immediate: false, final: true, continue: false, lun: 0, initiatorTaskTag: itt,
                targetTransferTag: ISCSITag.reserved, cmdSN: taskCmdSN, expStatSN: expStatSN, dataSegment: data))))
        case .nop(let data):
            out.append(.send(.nopOut(NOPOut(
                immediate: true, lun: 0, initiatorTaskTag: itt, targetTransferTag: ISCSITag.reserved, cmdSN: cmdSN,
                expStatSN: expStatSN, dataSegment: data))))
        case .logout:
            // Ours (no context) answers the target's request: only this connection closes.
            let reason: LogoutRequest.ReasonCode = slots[index]!.context == nil ? .closeConnection : .closeSession
            out.append(.send(.logoutRequest(LogoutRequest(
                immediate: true, reasonCode: reason, initiatorTaskTag: itt, cid: 0, cmdSN: cmdSN,
                expStatSN: expStatSN))))
        }
    }

    private static func markSent(_ task: inout Task, cmdSN: UInt32) -> Request {
        task.sent = true
        task.cmdSN = cmdSN
        return task.request
    }

    /// Data-Out PDUs for `length` bytes at `offset`, cut at the target's MaxRecvDataSegmentLength.
    private func emitData(
        _ data: ByteBuffer, lun: UInt64, itt: UInt32, ttt: UInt32, offset: Int, length: Int,
        into out: inout [Output]
    ) {
        let segment = max(512, parameters.targetMaxRecvDataSegmentLength)
        var position = offset
        let end = offset + length
        var dataSN: UInt32 = 0
        let encodedLUN = ISCSIProtocol.SAMLUN.encode(lun)
        while position < end {
            let count = min(segment, end - position)
            let slice = data.getSlice(at: data.readerIndex + position, length: count)!
            out.append(.send(.dataOut(DataOut(
                final: position + count == end, lun: encodedLUN, initiatorTaskTag: itt, targetTransferTag: ttt,
                expStatSN: expStatSN, dataSN: dataSN, bufferOffset: UInt32(position), dataSegment: slice))))
            dataSN &+= 1
            position += count
        }
    }

    // MARK: Receiving

    /// One piece of a Data-In PDU whose data segment arrived across several reads: the connection
    /// hands each piece over as it comes instead of copying them together. `p` carries the PDU's
    /// header with the piece's data at its offset; only the last piece has F and S. The first
    /// piece (`continuation` false) is checked against DataSN like a whole PDU.
    public mutating func receivedDataInPiece(_ p: DataIn, continuation: Bool, into out: inout [Output]) {
        guard !connectionCondemned else { return }
        updateWindow(p.expCmdSN, p.maxCmdSN)
        if p.statusPresent { advanceStatSN(p.statSN) }
        dataIn(p, continuation: continuation, into: &out)
    }

    public mutating func received(_ pdu: ISCSIPDU, into out: inout [Output]) {
        guard !connectionCondemned else { return }
        switch pdu {
        case .dataIn(let p):
            updateWindow(p.expCmdSN, p.maxCmdSN)
            if p.statusPresent { advanceStatSN(p.statSN) }
            dataIn(p, continuation: false, into: &out)
        case .scsiResponse(let p):
            updateWindow(p.expCmdSN, p.maxCmdSN)
            advanceStatSN(p.statSN)
            scsiResponse(p, into: &out)
        case .r2t(let p):
            updateWindow(p.expCmdSN, p.maxCmdSN)
            r2t(p, into: &out)
        case .nopIn(let p):
            updateWindow(p.expCmdSN, p.maxCmdSN)
            if p.initiatorTaskTag != ISCSITag.reserved {
                advanceStatSN(p.statSN)
                if let i = slot(p.initiatorTaskTag), case .nop = slots[i]!.request {
                    finish(p.initiatorTaskTag, .success(.nop), into: &out)
                }
            }
            if p.targetTransferTag != ISCSITag.reserved {
                out.append(.send(.nopOut(NOPOut(
                    immediate: true, lun: p.lun, initiatorTaskTag: ISCSITag.reserved,
                    targetTransferTag: p.targetTransferTag, cmdSN: cmdSN, expStatSN: expStatSN,
                    dataSegment: p.dataSegment))))
            }
        case .taskManagementResponse(let p):
            updateWindow(p.expCmdSN, p.maxCmdSN)
            advanceStatSN(p.statSN)
            taskManagementResponse(p, into: &out)
        case .textResponse(let p):
            updateWindow(p.expCmdSN, p.maxCmdSN)
            advanceStatSN(p.statSN)
            textResponse(p, into: &out)
        case .logoutResponse(let p):
            updateWindow(p.expCmdSN, p.maxCmdSN)
            advanceStatSN(p.statSN)
            if let i = slot(p.initiatorTaskTag), case .logout = slots[i]!.request {
                guard slots[i]!.context != nil else {
                    // Our answer to the target's request: this connection is done.
                    _ = removeTask(at: i)
                    return condemn(.connectionFailed("logged out at the target's request"), into: &out)
                }
                finish(p.initiatorTaskTag, .success(.logout(p.response)), into: &out)
            }
        case .asyncMessage(let p):
            updateWindow(p.expCmdSN, p.maxCmdSN)
            advanceStatSN(p.statSN)
            if p.asyncEvent == .logoutRequest { logoutRequested(into: &out) }
        case .reject(let p):
            updateWindow(p.expCmdSN, p.maxCmdSN)
            advanceStatSN(p.statSN)
            let itt = p.dataSegment.getInteger(at: p.dataSegment.readerIndex + 16, as: UInt32.self)
            if let itt, slot(itt) != nil {
                let error = ISCSIInitiatorError.protocolViolation("target rejected the PDU (reason 0x\(String(p.reason.rawValue, radix: 16)))")
                finish(itt, .failure(error), into: &out)
            }
        default:
            return violation("target sent an initiator opcode \(pdu.opcode)", blaming: nil, into: &out)
        }
        drain(into: &out)
    }

    private mutating func updateWindow(_ exp: UInt32, _ max: UInt32) {
        // MaxCmdSN < ExpCmdSN - 1 is not a valid window; ignore it (RFC 7143 4.2.2.1).
        guard SerialNumber(max) >= SerialNumber(exp &- 1) else { return }
        if SerialNumber(exp) > SerialNumber(expCmdSN) { expCmdSN = exp }
        if SerialNumber(max) > SerialNumber(maxCmdSN) { maxCmdSN = max }
    }

    private mutating func advanceStatSN(_ statSN: UInt32) {
        if SerialNumber(statSN) >= SerialNumber(expStatSN) { expStatSN = statSN &+ 1 }
    }

    mutating func finish(_ itt: UInt32, _ result: Result<Completion, ISCSIInitiatorError>, into out: inout [Output]) {
        guard let index = slot(itt) else { return }
        let task = removeTask(at: index)
        if task.sent, !Self.isImmediate(task.request) { inFlight -= 1 }
        if let context = task.context { out.append(.complete(context, result)) }
    }

    /// Closes the connection; what still arrives on it is ignored.
    mutating func condemn(_ error: ISCSIInitiatorError, into out: inout [Output]) {
        connectionCondemned = true
        out.append(.closeConnection(error))
    }

    /// A protocol violation closes the connection. It is blamed on the task it concerns (on every
    /// sent command when it names none we know); a task blamed a second time, after its resend,
    /// fails with it instead of going round again.
    private mutating func violation(_ message: String, blaming itt: UInt32?, into out: inout [Output]) {
        let error = ISCSIInitiatorError.protocolViolation(message)
        if let itt, let i = slot(itt), slots[i]!.isSCSI {
            blame(i, error, into: &out)
        } else {
            for i in slots.indices where slotTags[i] != ISCSITag.reserved && slots[i]!.isSCSI && slots[i]!.sent {
                blame(i, error, into: &out)
            }
        }
        condemn(error, into: &out)
    }

    private mutating func blame(_ i: Int, _ error: ISCSIInitiatorError, into out: inout [Output]) {
        slots[i]!.violations += 1
        if slots[i]!.violations > 1 { finish(slotTags[i], .failure(error), into: &out) }
    }

    private mutating func dataIn(_ p: DataIn, continuation: Bool, into out: inout [Output]) {
        let itt = p.initiatorTaskTag
        guard let index = slot(itt) else {
            return violation("Data-In for unknown task 0x\(String(itt, radix: 16))", blaming: nil, into: &out)
        }
        // Mutated in place through the index: a copy of the task would make appending to its
        // reassembly buffer copy the whole buffer.
        switch Self.apply(p, continuation: continuation, to: &slots[index]!) {
        case .more:
            return
        case .violation(let message):
            return violation(message, blaming: itt, into: &out)
        case .done(let first, let rest):
            completedCount += 1
            let response = SCSICommandResponse(
                status: p.status, first: first ?? ByteBuffer(), rest: rest, residualOverflow: p.residualOverflow,
                residualUnderflow: p.residualUnderflow, residualCount: p.residualCount)
            finish(itt, .success(.scsi(response)), into: &out)
        }
    }

    private static func apply(_ p: DataIn, continuation: Bool, to task: inout Task) -> DataInStep {
        guard task.sent, task.isSCSI else {
            return .violation("Data-In for unknown task 0x\(String(p.initiatorTaskTag, radix: 16))")
        }
        // Status comes only with the last PDU of the sequence (RFC 7143 11.7.1).
        if p.statusPresent && !p.final { return .violation("Data-In carries status (S bit) without the F bit") }
        let expected = task.expectedIn
        let length = p.dataSegment.readableBytes
        let received = task.received
        if !continuation {
            guard p.dataSN == task.nextDataSN else {
                return .violation("Data-In DataSN \(p.dataSN), expected \(task.nextDataSN)")
            }
            task.nextDataSN &+= 1
        }
        guard Int(p.bufferOffset) == received else {
            return .violation("Data-In at buffer offset \(p.bufferOffset), expected \(received)")
        }
        guard received + length <= expected else {
            return .violation("Data-In brings \(received + length) bytes, more than the \(expected) expected")
        }
        if length > 0 {
            // Keep the slices as they are: the caller joins them only if it needs one buffer.
            if task.data == nil { task.data = p.dataSegment } else { task.moreData.append(p.dataSegment) }
            task.received += length
        }
        if p.statusPresent {
            let (first, rest) = takeData(&task)
            return .done(first, rest)
        }
        return .more
    }

    private static func isSentSCSI(_ task: inout Task) -> Bool { task.sent && task.isSCSI }

    private static func takeData(_ task: inout Task) -> (ByteBuffer?, [ByteBuffer]) {
        let data = (task.data, task.moreData)
        task.data = nil
        task.moreData = []
        return data
    }

    private mutating func scsiResponse(_ p: SCSIResponse, into out: inout [Output]) {
        let itt = p.initiatorTaskTag
        guard let index = slot(itt), Self.isSentSCSI(&slots[index]!) else {
            return violation("SCSI Response for unknown task 0x\(String(itt, radix: 16))", blaming: nil, into: &out)
        }
        completedCount += 1
        guard p.response == .commandCompleted else {
            return finish(itt, .failure(.protocolViolation("target failure (iSCSI response 0x\(String(p.response.rawValue, radix: 16)))")), into: &out)
        }
        let sense = p.senseData.map { Array($0.readableBytesView) } ?? []
        let (first, rest) = Self.takeData(&slots[index]!)
        var response = SCSICommandResponse(
            status: p.status, first: first ?? ByteBuffer(), rest: rest, residualOverflow: p.residualOverflow,
            residualUnderflow: p.residualUnderflow, residualCount: p.residualCount)
        response.senseBytes = sense
        finish(itt, .success(.scsi(response)), into: &out)
    }

    private mutating func r2t(_ p: R2T, into out: inout [Output]) {
        let itt = p.initiatorTaskTag
        guard let index = slot(itt), slots[index]!.sent, case .scsi(let lun, _, let dataOut?, _) = slots[index]!.request else {
            return violation("R2T for unknown or non-write task 0x\(String(itt, radix: 16))", blaming: itt, into: &out)
        }
        let offset = Int(p.bufferOffset)
        let length = Int(p.desiredDataTransferLength)
        guard p.targetTransferTag != ISCSITag.reserved else {
            return violation("R2T with the reserved Target Transfer Tag 0xffffffff", blaming: itt, into: &out)
        }
        guard length > 0, offset + length <= dataOut.readableBytes else {
            return violation("R2T asks for \(length) bytes at offset \(offset) of a \(dataOut.readableBytes)-byte write", blaming: itt, into: &out)
        }
        guard length <= parameters.maxBurstLength else {
            return violation("R2T asks for \(length) bytes, more than MaxBurstLength \(parameters.maxBurstLength)", blaming: itt, into: &out)
        }
        emitData(dataOut, lun: lun, itt: itt, ttt: p.targetTransferTag, offset: offset, length: length, into: &out)
    }

    private mutating func taskManagementResponse(_ p: TaskManagementResponse, into out: inout [Output]) {
        let itt = p.initiatorTaskTag
        guard let index = slot(itt), case .taskManagement(let function, let lun, let referenced) = slots[index]!.request else { return }
        guard slots[index]!.context != nil else {
            // The error handler's own: its next step depends on the answer.
            let tmfCmdSN = slots[index]!.cmdSN
            _ = removeTask(at: index)
            let done = p.response == .functionComplete || (function == .abortTask && p.response == .taskDoesNotExist)
            return recoveryAnswered(function, lun: lun, referenced: referenced, cmdSN: tmfCmdSN, success: done, into: &out)
        }
        finish(itt, .success(.taskManagement(p.response)), into: &out)
        guard p.response == .functionComplete || p.response == .taskDoesNotExist else { return }
        if function == .abortTask, let referenced {
            finish(referenced, .failure(.taskAborted), into: &out)
        } else if function == .logicalUnitReset || function == .abortTaskSet || function == .clearTaskSet {
            for other in scsiTaskTags(lun: lun) where slot(other).map({ slots[$0]!.sent }) == true {
                finish(other, .failure(.taskAborted), into: &out)
            }
        }
    }

    private mutating func textResponse(_ p: TextResponse, into out: inout [Output]) {
        let itt = p.initiatorTaskTag
        guard let index = slot(itt), var task = slots[index], case .text = task.request else {
            return violation("Text Response for unknown task", blaming: nil, into: &out)
        }
        var segment = p.dataSegment
        if task.text == nil { task.text = allocator.buffer(capacity: segment.readableBytes) }
        guard task.text!.readableBytes + segment.readableBytes <= TextAccumulator.defaultByteLimit else {
            return finish(itt, .failure(.protocolViolation("text response longer than 64 KiB")), into: &out)
        }
        task.text!.writeBuffer(&segment)
        slots[index] = task
        if p.final && !p.continue {
            return finish(itt, .success(.text(task.text!)), into: &out)
        }
        // Ask for the rest (RFC 7143 11.10.1): an empty Text Request with the target's TTT.
        out.append(.send(.textRequest(TextRequest(
            immediate: false, final: true, continue: false, lun: 0, initiatorTaskTag: itt,
            targetTransferTag: p.targetTransferTag, cmdSN: cmdSN, expStatSN: expStatSN))))
        cmdSN = cmdSN &+ 1
    }

    // MARK: Connection loss and recovery

    /// The connection dropped (`reason` says why): SCSI commands go back to the queue to be sent
    /// again after a new login, unless they have been resent `timeouts.resends` times already,
    /// were in the error handler's hands or asked to fail fast; the machine's own tasks are
    /// dropped; the rest fail.
    public mutating func connectionLost(now: NIODeadline, reason: String = "connection lost", into out: inout [Output]) {
        self.now = max(self.now, now)
        if isConnected { offlineSince = self.now }
        var retry: [(UInt32, UInt32)] = []
        for index in slots.indices where slotTags[index] != ISCSITag.reserved {
            let itt = slotTags[index]
            guard slots[index]!.context != nil else {
                _ = removeTask(at: index)
                continue
            }
            switch slots[index]!.request {
            case .scsi:
                if slots[index]!.recovery != .none {
                    finish(itt, .failure(timedOutError(index, "the connection was lost during error recovery")), into: &out)
                } else if slots[index]!.failFast {
                    finish(itt, .failure(.sessionFailed("\(reason); failed at once (fail-fast)")), into: &out)
                } else if unsend(at: index) {
                    retry.append((slots[index]!.cmdSN, itt))
                } else if slots[index]!.resends > timeouts.resends {
                    let error = ISCSIInitiatorError.connectionFailed(
                        "\(reason); the command was already resent \(timeouts.resends) times")
                    finish(itt, .failure(error), into: &out)
                }
            case .logout:
                finish(itt, .success(.logout(.closedSuccessfully)), into: &out)
            default:
                finish(itt, .failure(.sessionFailed("connection lost")), into: &out)
            }
        }
        inFlight = 0
        isConnected = false
        connectionCondemned = false
        draining = false
        luResets = [:]
        targetResetITT = nil
        retry.sort { SerialNumber($0.0) < SerialNumber($1.0) }
        var queue = CircularBuffer<UInt32>(initialCapacity: retry.count + waiting.count)
        for (_, itt) in retry { queue.append(itt) }
        for itt in waiting where slot(itt) != nil { queue.append(itt) }
        waiting = queue
    }

    /// Takes back a SCSI command to be sent again: true when it was sent and may be resent (its
    /// resends count up; reassembled data is dropped). The caller queues it.
    mutating func unsend(at index: Int) -> Bool {
        guard slots[index]!.sent else { return false }
        slots[index]!.resends += 1
        guard slots[index]!.resends <= timeouts.resends else { return false }
        slots[index]!.sent = false
        slots[index]!.data = nil
        slots[index]!.moreData = []
        slots[index]!.received = 0
        slots[index]!.nextDataSN = 0
        return true
    }

    /// A new connection logged in (session reinstated): send the queued tasks again.
    public mutating func restart(
        parameters: NegotiatedParameters, cmdSN: UInt32, expStatSN: UInt32, maxCmdSN: UInt32, now: NIODeadline,
        into out: inout [Output]
    ) {
        self.now = max(self.now, now)
        if let since = offlineSince {
            offlineTotal = offlineTotal + max(.zero, self.now - since)
            offlineSince = nil
        }
        self.parameters = parameters
        self.cmdSN = cmdSN
        self.expCmdSN = cmdSN
        self.expStatSN = expStatSN
        self.maxCmdSN = maxCmdSN
        isConnected = true
        drain(into: &out)
    }

    /// Fails every task (the session is over).
    public mutating func failAll(_ error: ISCSIInitiatorError, into out: inout [Output]) {
        for index in slots.indices {
            if let itt = slots[index]?.itt { finish(itt, .failure(error), into: &out) }
        }
        waiting.removeAll()
        inFlight = 0
        luResets = [:]
        targetResetITT = nil
    }
}
