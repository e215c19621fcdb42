// Fuzz target: the target's full-feature session machine (SessionStateMachine, internal to
// ISCSITarget, reached with @testable import) driven by a hostile initiator and a SCSI layer that
// completes commands in any order, as TargetConnectionHandler drives it.
//
// Input: byte 0 picks the bounds (window, connection budget, immediate cap, InitialR2T,
// MaxOutstandingR2T); then operations, each one byte and its arguments: SCSI commands with any
// EDTL, CDB, immediate data and CmdSN near the window; Data-Out for any task with any offset,
// length, TTT and DataSN; completions of executing commands (GOOD with or without Data-In, CHECK
// CONDITION); task management; NOP-Out; responses queued or drained (outboundBytes); logout.
//
// Invariants: the window never holds more than its size and MaxCmdSN never goes back; the
// machine's reservations equal what it drew from the daemon's budget and never pass the
// connection budget but for one command of a connection holding nothing; tasks in the target stay
// within the window plus the immediate cap; a command runs with exactly the Data-Out the SCSI layer
// asked to gather, never more than the maximum transfer; R2Ts ask only for bytes inside what is
// gathered, at most MaxBurstLength each; Data-In segments stay within the initiator's
// MaxRecvDataSegmentLength; every PDU sent survives the wire; and once the connection is gone
// every byte is given back.
import FuzzSupport
import Glibc
import ISCSIProtocol
import NIOCore
import SCSITarget

@testable import ISCSITarget

private let maxTransfer = SCSITargetDevice.maximumTransferBytes

/// What the SCSI layer answers for a 512-byte-block LU: WRITE(10)/(16) and WRITE SAME name their
/// blocks, anything else nothing; the gather is cut to EDTL and refused over the maximum.
private func demand(_: UInt64, _ cdb: ByteBuffer, _ expected: UInt32) -> DataOutDemand {
    let bytes = Array(cdb.readableBytesView)
    let length: Int
    switch bytes.first {
    case 0x2A?: length = Int(UInt16(bytes[7]) << 8 | UInt16(bytes[8])) * 512
    case 0x8A?: length = Int(bytes[10...13].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }) * 512
    case 0x41?: return DataOutDemand(length: 512, gather: Int(expected) <= maxTransfer ? Int(expected) : 0)
    default: length = 0
    }
    guard length <= maxTransfer else { return DataOutDemand(length: length, gather: 0) }
    return DataOutDemand(length: length, gather: min(length, Int(expected)))
}

private struct Driver {
    var machine: SessionStateMachine
    let budget: DataBudget
    let limits: SessionLimits
    var actions: [SessionStateMachine.Action] = []
    var executing: [UInt32] = []
    var r2ts: [(itt: UInt32, ttt: UInt32, offset: UInt32, length: UInt32)] = []
    var lastMaxCmdSN: UInt32
    let encoder = PDUEncoder()

    init(flags: UInt8) {
        var parameters = NegotiatedParameters()
        parameters.initialR2T = flags & 1 != 0
        parameters.maxOutstandingR2T = 1 + Int(flags >> 1 & 3)
        parameters.firstBurstLength = 8192
        parameters.maxBurstLength = 16384
        parameters.initiatorMaxRecvDataSegmentLength = 4096
        let outcome = LoginOutcome(
            isid: 0x80_1234_5678, connectionID: 1, initiatorName: "iqn.2026-11.org.example:fuzz", initiatorAlias: nil,
            target: ExportedTarget(tid: 1, name: "iqn.2026-11.org.example:disk"), parameters: parameters,
            negotiator: TargetNegotiator(configuration: TargetNegotiationConfiguration(), sessionType: .normal),
            expCmdSN: 10, nextStatSN: 50)
        limits = SessionLimits(
            commandWindow: UInt32(1 + (flags >> 3 & 7)), connectionDataBudget: [64 << 10, 1 << 20][Int(flags >> 6 & 1)],
            maxImmediateTasks: 1 + Int(flags >> 7))
        budget = DataBudget(limit: 256 << 10)
        machine = SessionStateMachine(
            outcome: outcome, limits: limits, budget: budget, dataOutDemand: demand, sendTargets: { _ in [] })
        lastMaxCmdSN = machine.maxCmdSN
    }

    mutating func receive(_ pdu: ISCSIPDU) {
        var header = ByteBuffer()
        encoder.encode(pdu, into: &header)
        machine.received(pdu, rawHeader: header.getSlice(at: 0, length: 48)!, into: &actions)
        settle()
    }

    /// Performs the actions as the connection does, and checks them.
    mutating func settle() {
        for action in actions {
            switch action {
            case .send(let pdu):
                checkWire(pdu)
                switch pdu {
                case .r2t(let r2t):
                    let gather = machine.tasks[r2t.initiatorTaskTag]?.gather ?? 0
                    fuzzCheck(r2t.desiredDataTransferLength > 0, "an empty R2T")
                    fuzzCheck(r2t.desiredDataTransferLength <= 16384, "R2T for \(r2t.desiredDataTransferLength) bytes")
                    fuzzCheck(
                        Int(r2t.bufferOffset) + Int(r2t.desiredDataTransferLength) <= gather,
                        "R2T for \(r2t.bufferOffset)+\(r2t.desiredDataTransferLength) of a task gathering \(gather)")
                    r2ts.append((r2t.initiatorTaskTag, r2t.targetTransferTag, r2t.bufferOffset, r2t.desiredDataTransferLength))
                case .dataIn(let dataIn):
                    fuzzCheck(dataIn.dataSegment.readableBytes <= 4096, "Data-In of \(dataIn.dataSegment.readableBytes) bytes")
                default:
                    break
                }
            case .execute(let itt, let request):
                let gather = machine.tasks[itt]?.gather ?? -1
                let sent = request.dataOut?.readableBytes ?? 0
                fuzzCheck(sent == max(gather, 0), "ran with \(sent) bytes of Data-Out, gathered \(gather)")
                fuzzCheck(sent <= maxTransfer, "ran with \(sent) bytes of Data-Out")
                executing.append(itt)
            default:
                break
            }
        }
        actions.removeAll()
        checkBounds()
    }

    func checkWire(_ pdu: ISCSIPDU) {
        var wire = ByteBuffer()
        encoder.encode(pdu, into: &wire)
        var decoder = PDUFrameDecoder(limits: FramingLimits(maxDataSegmentLength: 1 << 24))
        guard let frame = try? decoder.next(from: &wire), let decoded = try? ISCSIPDU(frame: frame) else {
            return fuzzCheck(false, "\(pdu.opcode) does not survive the wire")
        }
        fuzzCheck(decoded.opcode == pdu.opcode, "\(pdu.opcode) came back as \(decoded.opcode)")
    }

    mutating func checkBounds() {
        fuzzCheck(
            machine.windowHeld >= 0 && machine.windowHeld <= Int(limits.commandWindow),
            "window holds \(machine.windowHeld) of \(limits.commandWindow)")
        let forward = machine.maxCmdSN &- lastMaxCmdSN
        fuzzCheck(forward < 0x8000_0000, "MaxCmdSN went back from \(lastMaxCmdSN) to \(machine.maxCmdSN)")
        lastMaxCmdSN = machine.maxCmdSN
        fuzzCheck(budget.usedBytes == machine.reservedBytes, "budget \(budget.usedBytes), reserved \(machine.reservedBytes)")
        fuzzCheck(
            machine.reservedBytes <= max(limits.connectionDataBudget, maxTransfer),
            "\(machine.reservedBytes) bytes reserved on a budget of \(limits.connectionDataBudget)")
        fuzzCheck(
            machine.tasks.count <= Int(limits.commandWindow) + limits.maxImmediateTasks,
            "\(machine.tasks.count) tasks in the target")
    }
}

private func cdb(_ input: inout FuzzInput) -> ByteBuffer {
    var bytes = [UInt8](repeating: 0, count: 16)
    switch input.byte() & 3 {
    case 0: bytes[0] = 0x2A; bytes[7] = input.byte() & 1; bytes[8] = input.byte()  // WRITE(10)
    case 1: bytes[0] = 0x28; bytes[8] = input.byte()  // READ(10)
    case 2: bytes[0] = 0x8A; bytes[12] = input.byte() & 0x3F; bytes[13] = input.byte()  // WRITE(16), up to 8 GiB
    default: bytes = input.bytes(16) + [UInt8](repeating: 0, count: 16)
    }
    return ByteBuffer(bytes: bytes.prefix(16))
}

private func edtl(_ input: inout FuzzInput) -> UInt32 {
    switch input.byte() & 3 {
    case 0: return UInt32(input.uint16())
    case 1: return UInt32(input.byte()) * 512
    case 2: return input.uint32()
    default: return .max
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSession(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    var driver = Driver(flags: input.byte())
    let lun = SAMLUN.encode(1)
    operations: while !input.isAtEnd {
        let op = input.byte()
        switch op & 7 {
        case 0, 1:
            let flags = input.byte()
            let immediate = flags & 1 != 0
            let write = flags & 2 != 0
            let cmdSN = driver.machine.expCmdSN &+ UInt32(bitPattern: Int32(Int8(bitPattern: input.byte()) >> 3))
            let command = SCSICommand(
                immediate: immediate, final: flags & 4 != 0, read: !write && flags & 8 != 0, write: write, lun: lun,
                initiatorTaskTag: UInt32(input.byte() & 15), expectedDataTransferLength: edtl(&input), cmdSN: cmdSN,
                cdb: cdb(&input), dataSegment: ByteBuffer(bytes: input.bytes(Int(input.uint16() & 0x3FFF))))
            driver.receive(.scsiCommand(command))
        case 2:
            // Data-Out, mostly answering an R2T seen, sometimes made up.
            let pick = input.byte()
            var itt = UInt32(pick & 15)
            var ttt = ISCSITag.reserved
            var offset = UInt32(input.uint16())
            var length = Int(input.uint16() & 0x3FFF)
            if pick & 0x80 != 0, !driver.r2ts.isEmpty {
                let r2t = driver.r2ts.removeFirst()
                (itt, ttt, offset) = (r2t.itt, r2t.ttt, r2t.offset)
                length = Int(r2t.length)
            }
            let dataOut = DataOut(
                final: input.byte() & 1 != 0, lun: lun, initiatorTaskTag: itt, targetTransferTag: ttt,
                dataSN: UInt32(input.byte() & 3), bufferOffset: offset,
                dataSegment: ByteBuffer(repeating: 0x5A, count: length))
            driver.receive(.dataOut(dataOut))
        case 3:
            guard !driver.executing.isEmpty else { continue operations }
            let itt = driver.executing.remove(at: Int(input.byte()) % driver.executing.count)
            let kind = input.byte()
            var result = SCSICommandResult(status: .good)
            if kind & 1 != 0 {
                result.dataIn = ByteBuffer(repeating: 0xC3, count: Int(input.uint16()))
            } else if kind & 2 != 0 {
                result = SCSICommandResult(
                    status: .checkCondition,
                    senseData: ByteBuffer(bytes: [0x70, 0, 5, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x24, 0, 0, 0, 0, 0]))
            }
            driver.machine.commandCompleted(initiatorTaskTag: itt, result: result, into: &driver.actions)
            driver.settle()
            driver.machine.admitWaiting(into: &driver.actions)
            driver.settle()
        case 4:
            let function = TaskManagementRequest.Function(rawValue: 1 + input.byte() % 8)
            driver.receive(
                .taskManagementRequest(
                    TaskManagementRequest(
                        immediate: op & 8 != 0, function: function, lun: lun, initiatorTaskTag: 0x100 + UInt32(input.byte()),
                        referencedTaskTag: UInt32(input.byte() & 15), cmdSN: driver.machine.expCmdSN,
                        refCmdSN: driver.machine.expCmdSN &- UInt32(input.byte() & 3))))
        case 5:
            driver.receive(
                .nopOut(
                    NOPOut(
                        immediate: op & 8 != 0, initiatorTaskTag: 0x200 + UInt32(input.byte()),
                        cmdSN: driver.machine.expCmdSN)))
        case 6:
            // Responses queued or taken by the initiator.
            driver.machine.outboundBytes = Int(input.uint16()) << 4
            driver.machine.admitWaiting(into: &driver.actions)
            driver.settle()
        default:
            driver.receive(
                .logoutRequest(
                    LogoutRequest(immediate: true, initiatorTaskTag: 0x300, cmdSN: driver.machine.expCmdSN)))
            if driver.machine.loggedOut { break operations }  // the connection closes
        }
    }
    // The connection goes: whatever is still reserved goes back, and nothing twice.
    driver.machine.releaseBudget()
    fuzzCheck(driver.budget.usedBytes == 0, "\(driver.budget.usedBytes) bytes kept after the connection closed")
    for itt in driver.executing {
        driver.machine.commandCompleted(initiatorTaskTag: itt, result: SCSICommandResult(status: .good), into: &driver.actions)
    }
    fuzzCheck(driver.budget.usedBytes == 0, "late completions gave back \(-driver.budget.usedBytes) bytes twice")
    return 0
}

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    writeSeedsIfRequested(seeds)
    return 0
}

/// A few sessions' worth of work: reads completed with data, writes through R2Ts, a huge EDTL,
/// commands past the window, an abort, queued responses.
private func seeds() -> [[UInt8]] {
    let read: [UInt8] = [0, 0x08, 0, 1, 1, 8, 1, 8, 0, 0]  // READ(10) of 8 blocks, EDTL 8*512
    let complete: [UInt8] = [3, 0, 1, 0x10, 0]  // GOOD with 4 KiB of Data-In
    let write: [UInt8] = [0, 0x02, 0, 2, 1, 16, 0, 0, 16, 0, 0]  // WRITE(10) of 16 blocks, no immediate data
    let dataOut: [UInt8] = [2, 0x80, 0, 0, 0, 0, 1, 0]  // Data-Out answering the first R2T
    let hugeWrite: [UInt8] = [0, 0x06, 0, 3, 3, 2, 0, 1, 0x02, 0x00] + [UInt8](repeating: 0x11, count: 512)
    let pastWindow: [UInt8] = [0, 0x08, 0x0F, 4, 1, 1, 1, 1, 0, 0]
    let abort: [UInt8] = [4, 0, 0x10, 1, 0]
    let queued: [UInt8] = [6, 0xFF, 0xFF]
    let drained: [UInt8] = [6, 0, 0]
    return [
        [0x00] + read + complete,
        [0x01 | 0x40] + write + dataOut + dataOut + [3, 0, 0, 0],
        [0x00] + hugeWrite + [3, 0, 0, 0],
        [0x08] + read + read + pastWindow + complete + complete,
        [0x00] + read + abort + complete,
        [0x40] + read + queued + read + drained + complete + complete,
    ]
}
