import ISCSIProtocol
import NIOCore
import NIOPosix

/// A logged-in iSCSI session to one target (one connection, ErrorRecoveryLevel 0).
public final class ISCSISession: @unchecked Sendable {
    let engine: SessionEngine

    private init(engine: SessionEngine) {
        self.engine = engine
    }

    /// A session to `targetName` that has not logged in yet: `start()` logs in, and `close()`
    /// before or during that login cancels it (so a caller can keep hold of a login in progress).
    public convenience init(
        host: String, port: Int = 3260, targetName: String, configuration: InitiatorConfiguration,
        group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.init(engine: SessionEngine(
            eventLoop: group.next(), host: host, port: port, targetName: targetName, sessionType: .normal,
            configuration: configuration))
    }

    /// The first login; fails if the session was closed before or during it.
    public func start() async throws {
        try await engine.start().get()
    }

    /// Connects and logs in to `targetName`.
    public static func login(
        host: String, port: Int = 3260, targetName: String, configuration: InitiatorConfiguration,
        group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> ISCSISession {
        let session = ISCSISession(host: host, port: port, targetName: targetName, configuration: configuration, group: group)
        try await session.start()
        return session
    }

    /// Logs in to the target and LUN named by a libiscsi URL (credentials from the URL win).
    public static func login(
        url: ISCSIURL, configuration: InitiatorConfiguration = InitiatorConfiguration(),
        group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> ISCSISession {
        guard let target = url.targetName else { throw ISCSIInitiatorError.invalidURL("\(url) names no target") }
        var configuration = configuration
        if let user = url.user { configuration.chap = CHAPCredential(name: user, secret: url.password ?? "") }
        return try await login(host: url.host, port: url.port, targetName: target, configuration: configuration, group: group)
    }

    /// What the login settled.
    /// Reads engine state on its event loop (directly when already there).
    private func onLoop<T: Sendable>(_ fallback: T, _ read: @escaping @Sendable () -> T) -> T {
        engine.eventLoop.inEventLoop ? read() : (try? engine.eventLoop.submit(read).wait()) ?? fallback
    }

    public var parameters: NegotiatedParameters { onLoop(NegotiatedParameters()) { self.engine.parameters } }
    public var tsih: UInt16 { onLoop(0) { self.engine.tsih } }
    public var isid: UInt64 { engine.configuration.isid }

    /// Our end of the current connection (nil while there is none).
    public var localAddress: String? { onLoop(nil) { self.engine.localAddress } }

    /// Where the session stands, as `iscsiadm -m session -P 1` reports it.
    public enum State: Sendable, Equatable {
        case loggingIn
        case loggedIn
        /// The connection dropped; logging in again (commands wait until the replacement timeout,
        /// and fail at once after it).
        case recovering
        /// Ended: logged out, or recovery gave up (commands fail at once).
        case failed
    }

    public var state: State {
        onLoop(.failed) { SessionEngine.publicState(self.engine.state) }
    }

    /// Calls `observer` on `eventLoop` whenever `state` changes, from now on (a multipath layer
    /// learns of a lost connection at once instead of from each command's timeout). The current
    /// state is passed at once, so nothing falls between reading it and observing.
    public func observeState(_ observer: @escaping @Sendable (State) -> Void) {
        engine.eventLoop.execute {
            self.engine.observeState(observer)
            observer(SessionEngine.publicState(self.engine.state))
        }
    }
    /// How many times the session logged in again after losing its connection.
    /// PDU and byte counts of the session (open-iscsi's `iscsiadm -m session -s` list).
    public func statistics() async -> InitiatorStatistics {
        if engine.eventLoop.inEventLoop { return engine.statistics }
        return (try? await engine.eventLoop.submit { self.engine.statistics }.get()) ?? InitiatorStatistics()
    }

    public var reconnectCount: Int { onLoop(0) { self.engine.reconnects } }

    // MARK: SCSI

    /// The event loop the session runs on. `submit(lun:cdb:...completion:)` called here
    /// neither hops threads nor allocates a promise.
    public var eventLoop: EventLoop { engine.eventLoop }

    /// Sends one SCSI command and calls `completion` on `eventLoop` when it ends (a CHECK
    /// CONDITION is a normal result). The low-overhead form of `execute`, for load generators
    /// that keep a queue full from the event loop: `cdb` is passed as-is (1 to 16 bytes), and a
    /// completion may submit the next command directly.
    ///
    /// `failFast`: when the connection drops the command fails at once with `.sessionFailed`
    /// instead of waiting for a new login (a multipath layer sends it down another path).
    public func submit(
        lun: UInt64, cdb: ByteBuffer, dataOut: ByteBuffer? = nil, expectedDataInLength: Int = 0, failFast: Bool = false,
        completion: @escaping SCSICompletionHandler
    ) {
        guard (1...16).contains(cdb.readableBytes), lun <= 0x3fff, expectedDataInLength >= 0,
            expectedDataInLength <= Int(UInt32.max)
        else {
            let error = ISCSIInitiatorError.invalidArgument("bad CDB, LUN or expected data length")
            if engine.eventLoop.inEventLoop { completion(.failure(error)) } else { engine.eventLoop.execute { completion(.failure(error)) } }
            return
        }
        engine.submitSCSI(
            .scsi(lun: lun, cdb: cdb, dataOut: dataOut?.readableBytes == 0 ? nil : dataOut,
                  expectedDataInLength: expectedDataInLength),
            failFast: failFast, completion: completion)
    }

    /// Runs one SCSI command. A CHECK CONDITION is a normal result here (see `status`/`sense`).
    public func execute(
        lun: UInt64, cdb: [UInt8], dataOut: ByteBuffer? = nil, expectedDataInLength: Int = 0
    ) async throws -> SCSICommandResponse {
        guard (1...16).contains(cdb.count) else { throw ISCSIInitiatorError.invalidArgument("CDB must be 1 to 16 bytes") }
        guard lun <= 0x3fff else { throw ISCSIInitiatorError.invalidArgument("LUN \(lun) out of range") }
        guard expectedDataInLength >= 0, expectedDataInLength <= Int(UInt32.max) else {
            throw ISCSIInitiatorError.invalidArgument("bad expected data length")
        }
        var cdbBuffer = ByteBuffer()
        cdbBuffer.reserveCapacity(16)
        cdbBuffer.writeBytes(cdb)
        if cdb.count < 16 { cdbBuffer.writeRepeatingByte(0, count: 16 - cdb.count) }
        let completion = try await engine.submit(
            .scsi(lun: lun, cdb: cdbBuffer, dataOut: dataOut?.readableBytes == 0 ? nil : dataOut,
                  expectedDataInLength: expectedDataInLength)).get()
        guard case .scsi(let response) = completion else { throw ISCSIInitiatorError.protocolViolation("unexpected completion") }
        return response
    }

    /// Runs a command that must end GOOD, repeating it on UNIT ATTENTION (a reset or a changed
    /// parameter the target reports once per I_T nexus, e.g. right after a login).
    public func executeChecked(
        lun: UInt64, cdb: [UInt8], dataOut: ByteBuffer? = nil, expectedDataInLength: Int = 0
    ) async throws -> SCSICommandResponse {
        var attempts = 0
        while true {
            let r = try await execute(lun: lun, cdb: cdb, dataOut: dataOut, expectedDataInLength: expectedDataInLength)
            attempts += 1
            if r.status == SCSICommandResponse.checkCondition, r.sense?.key == 6, attempts < 4 { continue }
            return try r.checked()
        }
    }

    public func testUnitReady(lun: UInt64) async throws -> SCSICommandResponse {
        try await execute(lun: lun, cdb: [0x00, 0, 0, 0, 0, 0])
    }

    /// INQUIRY (standard data, or the VPD page `page`).
    public func inquiry(lun: UInt64, page: UInt8? = nil, allocationLength: UInt16 = 255) async throws -> SCSICommandResponse {
        try await executeChecked(
            lun: lun,
            cdb: [0x12, page == nil ? 0 : 1, page ?? 0, UInt8(allocationLength >> 8), UInt8(allocationLength & 0xff), 0],
            expectedDataInLength: Int(allocationLength))
    }

    /// REPORT LUNS: the LUN numbers the target reports.
    public func reportLUNs() async throws -> [UInt64] {
        let length: UInt32 = 16_384
        let r = try await executeChecked(
            lun: 0,
            cdb: [0xA0, 0, 0, 0, 0, 0, UInt8(length >> 24), UInt8((length >> 16) & 0xff), UInt8((length >> 8) & 0xff),
                  UInt8(length & 0xff), 0, 0],
            expectedDataInLength: Int(length))
        let data = r.data
        guard let listLength = data.getInteger(at: data.readerIndex, as: UInt32.self) else { return [] }
        let count = min(Int(listLength), data.readableBytes - 8) / 8
        return (0..<max(0, count)).compactMap { i in
            data.getInteger(at: data.readerIndex + 8 + i * 8, as: UInt64.self).flatMap { ISCSIProtocol.SAMLUN.decode($0) }
        }
    }

    public struct Capacity: Hashable, Sendable {
        public var lastLBA: UInt64
        public var blockSize: UInt32
        /// LBPME: the LUN is thin provisioned (unmaps blocks).
        public var thinProvisioned = false
        /// LBPRZ: an unmapped block reads back as zeros.
        public var unmappedReadsZeros = false
        public var blocks: UInt64 { lastLBA + 1 }
        public var bytes: UInt64 { blocks * UInt64(blockSize) }
    }

    public func readCapacity16(lun: UInt64) async throws -> Capacity {
        let r = try await executeChecked(
            lun: lun, cdb: [0x9E, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0], expectedDataInLength: 32)
        guard let lba = r.data.getInteger(at: r.data.readerIndex, as: UInt64.self),
            let size = r.data.getInteger(at: r.data.readerIndex + 8, as: UInt32.self)
        else { throw ISCSIInitiatorError.protocolViolation("READ CAPACITY(16) returned \(r.data.readableBytes) bytes") }
        let flags = r.data.getInteger(at: r.data.readerIndex + 14, as: UInt8.self) ?? 0
        return Capacity(
            lastLBA: lba, blockSize: size, thinProvisioned: flags & 0x80 != 0, unmappedReadsZeros: flags & 0x40 != 0)
    }

    /// READ(16) of `blocks` blocks at `lba`.
    public func read(lun: UInt64, lba: UInt64, blocks: UInt32, blockSize: Int = 512) async throws -> ByteBuffer {
        let r = try await executeChecked(
            lun: lun, cdb: Self.rw16(0x88, lba: lba, blocks: blocks, fua: false),
            expectedDataInLength: Int(blocks) * blockSize)
        return r.data
    }

    /// WRITE(16) of `data` (a whole number of blocks) at `lba`.
    public func write(lun: UInt64, lba: UInt64, data: ByteBuffer, blockSize: Int = 512, fua: Bool = false) async throws {
        guard blockSize > 0, data.readableBytes % blockSize == 0, data.readableBytes > 0 else {
            throw ISCSIInitiatorError.invalidArgument("write of \(data.readableBytes) bytes is not a whole number of \(blockSize)-byte blocks")
        }
        let blocks = UInt32(data.readableBytes / blockSize)
        _ = try await executeChecked(lun: lun, cdb: Self.rw16(0x8A, lba: lba, blocks: blocks, fua: fua), dataOut: data)
    }

    public func synchronizeCache(lun: UInt64) async throws {
        _ = try await executeChecked(lun: lun, cdb: [0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    }

    static func rw16(_ opcode: UInt8, lba: UInt64, blocks: UInt32, fua: Bool) -> [UInt8] {
        var cdb = [UInt8](repeating: 0, count: 16)
        cdb[0] = opcode
        cdb[1] = fua ? 0x08 : 0
        for i in 0..<8 { cdb[2 + i] = UInt8(truncatingIfNeeded: lba >> (56 - 8 * i)) }
        for i in 0..<4 { cdb[10 + i] = UInt8(truncatingIfNeeded: blocks >> (24 - 8 * i)) }
        return cdb
    }

    // MARK: Task management

    /// Tags of SCSI commands still outstanding (for `abortTask`).
    public func outstandingTaskTags(lun: UInt64? = nil) async throws -> [UInt32] {
        try await engine.outstandingTaskTags(lun: lun).get()
    }

    public func abortTask(taskTag: UInt32, lun: UInt64) async throws -> TaskManagementResponse.Response {
        try await taskManagement(.abortTask, lun: lun, referenced: taskTag)
    }

    public func logicalUnitReset(lun: UInt64) async throws -> TaskManagementResponse.Response {
        try await taskManagement(.logicalUnitReset, lun: lun, referenced: nil)
    }

    private func taskManagement(
        _ function: TaskManagementRequest.Function, lun: UInt64, referenced: UInt32?
    ) async throws -> TaskManagementResponse.Response {
        let completion = try await engine.submit(.taskManagement(function: function, lun: lun, referencedTaskTag: referenced)).get()
        guard case .taskManagement(let response) = completion else { throw ISCSIInitiatorError.protocolViolation("unexpected completion") }
        return response
    }

    /// Sends a NOP-Out ping and waits for the answer.
    public func ping() async throws {
        _ = try await engine.submit(.nop(ByteBuffer())).get()
    }

    /// Logs out (closing the session) and closes the connection.
    public func logout() async throws {
        defer { engine.eventLoop.execute { self.engine.close(.sessionFailed("logged out")) } }
        let completion = try await engine.submit(.logout).get()
        if case .logout(let response) = completion, response != .closedSuccessfully {
            throw ISCSIInitiatorError.protocolViolation("logout answered with response \(response.rawValue)")
        }
    }

    /// Ends the session without a logout exchange (one that is not logged in right now):
    /// outstanding commands fail, reconnection stops.
    public func close() {
        engine.eventLoop.execute { self.engine.close(.sessionFailed("closed")) }
    }

    /// Test hook: drops the TCP connection as a network failure would.
    func dropConnection() { engine.dropConnection() }
}
