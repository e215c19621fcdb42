// Fuzz target: CDB dispatch (SCSITargetDevice's admission checks and opcode table) over a small
// RAM logical unit, with two nexuses so reservations and unit attentions come into play.
//
// Input: byte 0 configures LUN 1 (bit 0 4096-byte blocks, else 512; bit 1 thin provisioning;
// bit 2 removable; bit 3 read-only; bit 4 no write cache; bit 5 ALUA: the first nexus's target
// port in an active/optimized group, the second's in a standby one, both explicit, so SET TARGET
// PORT GROUPS moves them), then commands: a header byte (bits
// 0-1 the LUN: 1, 0, 1 or 7 (absent); bit 2 the second nexus; bit 3 Data-Out follows), 16 CDB
// bytes, and with Data-Out a 2-byte length (up to 16 KiB) and the bytes.
//
// Invariants: every command completes (the future succeeds once the loop has run); GOOD has no
// sense, CHECK CONDITION has fixed-format sense whose additional length matches; Data-In never
// exceeds the CDB's allocation length, commands without Data-In return none; a GOOD read returns
// exactly the blocks asked for, as they are in the store; a GOOD write leaves its data in the
// store at its LBA (as many whole blocks as came) and reports the Data-Out length its CDB asks for.
import Backstore
import FuzzSupport
import NIOCore
import NIOEmbedded
import SCSITarget

private let nexuses = [
    SCSINexus(id: 1, initiatorPortName: "iqn.2026-11.org.example:a,i,0x023d000001"),
    SCSINexus(
        id: 2, initiatorPortName: "iqn.2026-11.org.example:b,i,0x023d000002",
        targetPort: TargetPort(relativeID: 2, name: "iqn.2026-11.org.example:disk,t,0x0002")),
]
private let twoGroups = ALUAConfiguration(groups: [
    ALUAGroup(id: 1, state: .activeOptimized, preferred: true, explicit: true, ports: [1]),
    ALUAGroup(id: 2, state: .standby, explicit: true, ports: [2]),
])
private let blockCount = 64
private let loop = EmbeddedEventLoop()

private func be(_ cdb: [UInt8], _ at: Int, _ count: Int) -> UInt64 {
    cdb[at..<(at + count)].reduce(0) { $0 << 8 | UInt64($1) }
}

/// The allocation length of commands that return parameter data, from the CDB.
private func allocationLength(_ cdb: [UInt8]) -> Int? {
    switch cdb[0] {
    case 0x03, 0x1A: return Int(cdb[4])  // REQUEST SENSE, MODE SENSE(6)
    case 0x12: return Int(be(cdb, 3, 2))  // INQUIRY
    case 0x5A, 0x5E, 0x4D: return Int(be(cdb, 7, 2))  // MODE SENSE(10), PERSISTENT RESERVE IN, LOG SENSE
    case 0xA0, 0xA3: return Int(be(cdb, 6, 4))  // REPORT LUNS, MAINTENANCE IN
    case 0x9E: return Int(be(cdb, 10, 4))  // SERVICE ACTION IN(16): READ CAPACITY(16), GET LBA STATUS
    case 0x25: return 8  // READ CAPACITY(10)
    case 0x1C: return Int(be(cdb, 3, 2))  // RECEIVE DIAGNOSTIC RESULTS
    default: return nil
    }
}

/// LBA and block count of the plain reads and writes.
private func transfer(_ cdb: [UInt8]) -> (lba: UInt64, blocks: UInt64, write: Bool)? {
    switch cdb[0] {
    case 0x08, 0x0A:
        let blocks = UInt64(cdb[4])
        return (UInt64(cdb[1] & 0x1F) << 16 | be(cdb, 2, 2), blocks == 0 ? 256 : blocks, cdb[0] == 0x0A)
    case 0x28, 0x2A, 0x2E: return (be(cdb, 2, 4), be(cdb, 7, 2), cdb[0] != 0x28)
    case 0xA8, 0xAA, 0xAE: return (be(cdb, 2, 4), be(cdb, 6, 4), cdb[0] != 0xA8)
    case 0x88, 0x8A, 0x8E: return (be(cdb, 2, 8), be(cdb, 10, 4), cdb[0] != 0x88)
    default: return nil
    }
}

/// Opcodes that may answer with Data-In.
private func mayReturnData(_ opcode: UInt8) -> Bool {
    allocationLength([opcode] + [UInt8](repeating: 0, count: 15)) != nil || [0x08, 0x28, 0xA8, 0x88].contains(opcode)
}

private func storeBytes(_ store: MemoryBackstore, _ offset: Int, _ count: Int) -> [UInt8] {
    var bytes: [UInt8] = []
    store.read(offset: UInt64(offset), length: count, allocator: ByteBufferAllocator(), on: loop).whenSuccess {
        bytes = Array($0.readableBytesView)
    }
    loop.run()
    return bytes
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSCSI(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let flags = input.byte()
    let blockSize = flags & 1 != 0 ? 4096 : 512
    let options = LogicalUnitOptions(
        readOnly: flags & 8 != 0, writeCache: flags & 0x10 != 0 ? false : nil, removable: flags & 4 != 0,
        thinProvisioning: flags & 2 != 0)
    let device = SCSITargetDevice(targetID: 1, targetName: "iqn.2026-11.org.example:disk")
    guard let store = try? MemoryBackstore(size: UInt64(blockCount * blockSize)) else {
        fuzzCheck(false, "no RAM store")
        return 0
    }
    defer { try? store.close() }
    do {
        try device.addLogicalUnit(1, backstore: store, blockSize: blockSize, options: options)
    } catch {
        fuzzCheck(false, "addLogicalUnit failed: \(error)")
    }
    if flags & 0x20 != 0 { device.setALUA(lun: 1, twoGroups) }

    while !input.isAtEnd {
        let header = input.byte()
        let lun: UInt64 = [1, 0, 1, 7][Int(header & 3)]
        let nexus = nexuses[Int(header >> 2 & 1)]
        let cdb = input.bytes(16) + [UInt8](repeating: 0, count: 16)
        let cdbBytes = Array(cdb.prefix(16))
        var dataOut: [UInt8]?
        if header & 8 != 0 { dataOut = input.bytes(Int(input.uint16() & 0x3FFF)) }
        let request = SCSICommandRequest(
            lun: lun, cdb: ByteBuffer(bytes: cdbBytes), dataOut: dataOut.map { ByteBuffer(bytes: $0) },
            expectedDataTransferLength: 1 << 24)

        var outcome: Result<SCSICommandResult, Error>?
        device.execute(request, nexus: nexus, on: loop).whenComplete { outcome = $0 }
        loop.run()
        guard let outcome else {
            fuzzCheck(false, "CDB \(hexString(cdbBytes)) did not complete")
            return 0
        }
        guard case .success(let result) = outcome else {
            fuzzCheck(false, "CDB \(hexString(cdbBytes)) failed the future: \(outcome)")
            return 0
        }
        let demand = device.dataOutDemand(
            cdb: ByteBuffer(bytes: cdbBytes), lun: lun, expectedDataTransferLength: request.expectedDataTransferLength)
        fuzzCheck(
            demand.gather <= SCSITargetDevice.maximumTransferBytes,
            "CDB \(hexString(cdbBytes)): the transport would gather \(demand.gather) bytes")
        check(result, cdb: cdbBytes, lun: lun, dataOut: dataOut, demand: demand, store: store, blockSize: blockSize)
    }
    return 0
}

private func check(
    _ result: SCSICommandResult, cdb: [UInt8], lun: UInt64, dataOut: [UInt8]?, demand: DataOutDemand,
    store: MemoryBackstore, blockSize: Int
) {
    let what = "CDB \(hexString(cdb)) on LUN \(lun)"
    let sense = result.senseData.map { Array($0.readableBytesView) }
    let dataIn = result.dataIn.map { Array($0.readableBytesView) } ?? []
    switch result.status {
    case .good:
        fuzzCheck(sense == nil, "\(what): GOOD with sense \(hexString(sense ?? []))")
    case .checkCondition:
        guard let sense else { return fuzzCheck(false, "\(what): CHECK CONDITION without sense") }
        fuzzCheck(sense.count >= 18 && sense.count <= 252, "\(what): \(sense.count) bytes of sense")
        fuzzCheck(sense[0] & 0x7F == 0x70 || sense[0] & 0x7F == 0x71, "\(what): sense response code \(sense[0])")
        fuzzCheck(Int(sense[7]) + 8 == sense.count, "\(what): additional sense length \(sense[7]) for \(sense.count) bytes")
    default:
        break
    }
    if let limit = allocationLength(cdb) {
        fuzzCheck(dataIn.count <= limit, "\(what): \(dataIn.count) bytes of Data-In for an allocation length of \(limit)")
    } else if !mayReturnData(cdb[0]) {
        fuzzCheck(dataIn.isEmpty, "\(what): \(dataIn.count) bytes of Data-In from a command that returns none")
    }
    guard lun == 1, result.status == .good, let (lba, blocks, write) = transfer(cdb) else { return }
    let offset = Int(lba) * blockSize
    let length = Int(blocks) * blockSize
    fuzzCheck(lba + blocks <= UInt64(blockCount), "\(what): GOOD for blocks \(lba)+\(blocks) past the end")
    if write {
        fuzzCheck(dataIn.isEmpty, "\(what): a write returned Data-In")
        fuzzCheck(demand.length == length, "\(what): the SCSI layer asks for \(demand.length) bytes, the CDB for \(length)")
        // What came of the Data-Out is written if it is whole blocks (part of a block is
        // refused); the transport reports the difference as a residual (RFC 7143 11.4.5.2).
        let sent = dataOut ?? []
        fuzzCheck(sent.count >= length || sent.count % blockSize == 0, "\(what): GOOD for part of a block")
        let written = min(length, sent.count / blockSize * blockSize)
        fuzzCheck(storeBytes(store, offset, written) == Array(sent.prefix(written)), "\(what): the store does not hold the data written")
    } else {
        fuzzCheck(dataIn.count == length, "\(what): \(dataIn.count) bytes read for \(length)")
        fuzzCheck(dataIn == storeBytes(store, offset, length), "\(what): the data read is not the store's")
    }
}

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    writeSeedsIfRequested(seeds)
    return 0
}

// MARK: Seeds: the commands an initiator's scan and a little IO send, and the rarer ones.

/// `lun` is the header's LUN selector: 0 LUN 1, 1 LUN 0, 3 an absent LUN.
private func command(_ cdb: [UInt8], lun: UInt8 = 0, nexusB: Bool = false, data: [UInt8]? = nil) -> [UInt8] {
    var header = lun | (nexusB ? 4 : 0)
    if data != nil { header |= 8 }
    var bytes = [header] + cdb + [UInt8](repeating: 0, count: 16 - cdb.count)
    if let data { bytes += [UInt8(data.count >> 8), UInt8(data.count & 0xFF)] + data }
    return bytes
}

private func seeds() -> [[UInt8]] {
    let block = [UInt8](repeating: 0xA5, count: 512)
    let scan = [
        command([0x00]),  // TEST UNIT READY: the unit attention
        command([0x03, 0, 0, 0, 252]),  // REQUEST SENSE
        command([0x12, 0, 0, 0, 255]),  // INQUIRY
        command([0x12, 1, 0x00, 0, 255]), command([0x12, 1, 0x80, 0, 255]), command([0x12, 1, 0x83, 0, 255]),
        command([0x12, 1, 0xB0, 0, 255]), command([0x12, 1, 0xB1, 0, 255]), command([0x12, 1, 0xB2, 0, 255]),
        command([0xA0, 0, 0, 0, 0, 0, 0, 0, 16, 0]),  // REPORT LUNS
        command([0x25]),  // READ CAPACITY(10)
        command([0x9E, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32]),  // READ CAPACITY(16)
        command([0x1A, 0, 0x3F, 0, 255]),  // MODE SENSE(6)
        command([0x5A, 0, 0x3F, 0xFF, 0, 0, 0, 1, 0]),  // MODE SENSE(10), all subpages
        command([0xA3, 0x0C, 0, 0, 0, 0, 0, 0, 4, 0]),  // REPORT SUPPORTED OPERATION CODES
    ]
    let io = [
        command([0x2A, 0, 0, 0, 0, 2, 0, 0, 1, 0], data: block),  // WRITE(10)
        command([0x28, 0, 0, 0, 0, 2, 0, 0, 1, 0]),  // READ(10)
        command([0x8A, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0], data: block),  // WRITE(16)
        command([0x88, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0]),  // READ(16)
        command([0x0A, 0, 0, 4, 1, 0], data: block),  // WRITE(6)
        command([0x08, 0, 0, 4, 1, 0]),  // READ(6)
        command([0x89, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0], data: block + block),  // COMPARE AND WRITE
        command([0x93, 0x08, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 2, 0, 0], data: block),  // WRITE SAME(16), UNMAP
        command([0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0],
                data: [0, 22, 0, 16, 0, 0, 0, 0] + [0, 0, 0, 0, 0, 0, 0, 8] + [0, 0, 0, 4, 0, 0, 0, 0]),  // UNMAP
        command([0x9E, 0x12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 64]),  // GET LBA STATUS
        command([0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0]),  // SYNCHRONIZE CACHE(10)
        command([0x2F, 0, 0, 0, 0, 2, 0, 0, 1, 0]),  // VERIFY(10)
        command([0x2E, 0, 0, 0, 0, 6, 0, 0, 1, 0], data: block),  // WRITE AND VERIFY(10)
        command([0x1B, 0, 0, 0, 1, 0]),  // START STOP UNIT
        command([0x1E, 0, 0, 0, 1, 0]),  // PREVENT ALLOW MEDIUM REMOVAL
        command([0x15, 0x10, 0, 0, 12, 0], data: [11, 0, 0, 0, 0x08, 10, 0x04] + [UInt8](repeating: 0, count: 5)),  // MODE SELECT(6)
    ]
    let key: [UInt8] = [0, 0, 0, 0, 0, 0, 0x12, 0x34]
    let reservations = [
        command([0x00]), command([0x00], nexusB: true),
        command([0x5F, 0x00, 0, 0, 0, 0, 0, 0, 24],
                data: [0, 0, 0, 0, 0, 0, 0, 0] + key + [UInt8](repeating: 0, count: 8)),  // PR OUT REGISTER
        command([0x5F, 0x01, 0x03, 0, 0, 0, 0, 0, 24], data: key + [UInt8](repeating: 0, count: 16)),  // RESERVE
        command([0x5E, 0x00, 0, 0, 0, 0, 0, 0, 255]),  // PR IN READ KEYS
        command([0x5E, 0x01, 0, 0, 0, 0, 0, 0, 255]),  // READ RESERVATION
        command([0x2A, 0, 0, 0, 0, 2, 0, 0, 1, 0], nexusB: true, data: block),  // conflict
        command([0x16], nexusB: true), command([0x17]),  // RESERVE(6), RELEASE(6)
    ]
    return [
        [0] + scan.joined() + io.joined(),
        [1] + scan.joined(),  // 4096-byte blocks
        [2] + io.joined(),  // thin provisioning
        [0] + reservations.joined(),
        [4] + scan.joined(),  // removable
        [8] + scan.joined(),  // read-only
        [0] + scan.map { command(Array($0[1...16]), lun: 1) }.joined(),  // LUN 0, the controller
    ]
}
