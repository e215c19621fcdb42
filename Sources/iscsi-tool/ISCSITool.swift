import ArgumentParser
import Foundation
import ISCSIInitiator
import NIOCore
import NIOPosix
import SystemSupport

@main
struct ISCSITool: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "iscsi-tool",
        abstract: "Talk to iSCSI targets (URLs: iscsi://[user[%password]@]host[:port]/IQN/LUN).",
        version: ProductVersion.line("iscsi-tool"),
        subcommands: [Inquiry.self, Capacity.self, Discover.self, Copy.self, Perf.self])
}

struct Connection: ParsableArguments {
    @Option(name: .customLong("initiator-name"), help: "Initiator IQN.")
    var initiatorName = "iqn.2026-11.org.swift-iscsi:iscsi-tool"
    @Flag(name: .customLong("digests"), help: "Ask for CRC32C header and data digests.")
    var digests = false
    @Option(name: .customLong("target-user"), help: "Target's CHAP name (mutual CHAP).")
    var targetUser: String?
    @Option(name: .customLong("target-password"), help: "Target's CHAP secret (mutual CHAP).")
    var targetPassword: String?
    @Option(name: .customLong("login-timeout"), help: "Seconds a connect and login may take (default 15).")
    var loginTimeout: Int?
    @Option(
        name: .customLong("replacement-timeout"),
        help: "Seconds to keep logging in again after the connection drops before failing (default 120).")
    var replacementTimeout: Int?
    @Option(
        name: .customLong("command-timeout"),
        help: "Seconds a SCSI command may go unanswered before it is aborted (default 30; 0: no limit).")
    var commandTimeout: Int?
    @Option(name: .customLong("abort-timeout"), help: "Seconds to wait for an ABORT TASK (default 15).")
    var abortTimeout: Int?
    @Option(name: .customLong("lu-reset-timeout"), help: "Seconds to wait for a LOGICAL UNIT RESET (default 30).")
    var luResetTimeout: Int?
    @Option(name: .customLong("tgt-reset-timeout"), help: "Seconds to wait for a TARGET WARM RESET (default 30).")
    var targetResetTimeout: Int?

    func validate() throws {
        if let loginTimeout, loginTimeout <= 0 { throw ValidationError("--login-timeout must be positive") }
        if let replacementTimeout, replacementTimeout < 0 {
            throw ValidationError("--replacement-timeout must not be negative")
        }
        if let commandTimeout, commandTimeout < 0 { throw ValidationError("--command-timeout must not be negative") }
        for (name, value) in [("abort", abortTimeout), ("lu-reset", luResetTimeout), ("tgt-reset", targetResetTimeout)] {
            if let value, value <= 0 { throw ValidationError("--\(name)-timeout must be positive") }
        }
    }

    func configuration() -> InitiatorConfiguration {
        var c = InitiatorConfiguration(initiatorName: initiatorName)
        if let targetUser { c.targetCHAP = .init(name: targetUser, secret: targetPassword ?? "") }
        if let loginTimeout { c.loginTimeout = .seconds(Int64(loginTimeout)) }
        if let replacementTimeout { c.replacementTimeout = .seconds(Int64(replacementTimeout)) }
        if let commandTimeout { c.commandTimeout = commandTimeout == 0 ? nil : .seconds(Int64(commandTimeout)) }
        if let abortTimeout { c.abortTimeout = .seconds(Int64(abortTimeout)) }
        if let luResetTimeout { c.logicalUnitResetTimeout = .seconds(Int64(luResetTimeout)) }
        if let targetResetTimeout { c.targetResetTimeout = .seconds(Int64(targetResetTimeout)) }
        if digests {
            c.headerDigests = [.crc32c, .none]
            c.dataDigests = [.crc32c, .none]
        }
        return c
    }
}

func parseLUNURL(_ text: String) throws -> (ISCSIURL, UInt64) {
    let url = try ISCSIURL(parsing: text)
    guard url.targetName != nil, let lun = url.lun else {
        throw ISCSIInitiatorError.invalidURL("\(text) needs a target and a LUN")
    }
    return (url, lun)
}

func fail(_ error: Error) -> Never {
    FileHandle.standardError.write("iscsi-tool: \(describe(error))\n".data(using: .utf8)!)
    exit(1)
}

/// Says on a terminal (stderr) what a long operation is doing, so a wait is not silent.
func note(_ text: String) {
    if isatty(STDERR_FILENO) != 0 { FileHandle.standardError.write(Data("iscsi-tool: \(text)\n".utf8)) }
}

/// One line for an error.
func describe(_ error: Error) -> String { "\(error)" }

/// Logs in to the LUN the URL `text` names, runs `body`, then logs out. On an error the process
/// is about to exit with one line (`guarded`): no logout to wait for on a dead connection.
func withLUNSession(
    _ text: String, configuration: InitiatorConfiguration, _ body: (ISCSISession, UInt64) async throws -> Void
) async throws {
    let (url, lun) = try parseLUNURL(text)
    let session = try await ISCSISession.login(url: url, configuration: configuration)
    try await body(session, lun)
    try? await session.logout()
}

/// Runs `body`, turning any error into one line on stderr and exit status 1.
func guarded(_ body: () async throws -> Void) async {
    do { try await body() } catch { fail(error) }
}

func trimmed(_ data: ByteBuffer, _ offset: Int, _ count: Int) -> String {
    guard let bytes = data.getBytes(at: data.readerIndex + offset, length: count) else { return "" }
    return String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespaces)
}

struct Inquiry: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "inq", abstract: "Standard INQUIRY data.")
    @OptionGroup var connection: Connection
    @Argument var url: String

    func run() async {
        await guarded {
            try await withLUNSession(url, configuration: connection.configuration()) { session, lun in
                let d = try await session.inquiry(lun: lun).data
                let first = d.getInteger(at: d.readerIndex, as: UInt8.self) ?? 0
                print("Peripheral Qualifier: \(first >> 5)")
                print("Peripheral Device Type: \(first & 0x1f)")
                print("Vendor: \(trimmed(d, 8, 8))")
                print("Product: \(trimmed(d, 16, 16))")
                print("Revision: \(trimmed(d, 32, 4))")
            }
        }
    }
}

struct Capacity: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "capacity", abstract: "READ CAPACITY(16).")
    @OptionGroup var connection: Connection
    @Argument var url: String

    func run() async {
        await guarded {
            try await withLUNSession(url, configuration: connection.configuration()) { session, lun in
                let c = try await session.readCapacity16(lun: lun)
                print("Block size: \(c.blockSize)")
                print("Blocks: \(c.blocks)")
                print("Capacity: \(c.bytes) bytes")
            }
        }
    }
}

struct Discover: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "discover", abstract: "SendTargets discovery.")
    @OptionGroup var connection: Connection
    @Argument var url: String

    func run() async {
        await guarded {
            let url = try ISCSIURL(parsing: url)
            var c = connection.configuration()
            if let user = url.user { c.chap = .init(name: user, secret: url.password ?? "") }
            note("discovering targets at \(url.host):\(url.port) ...")
            for target in try await ISCSIDiscovery.sendTargets(host: url.host, port: url.port, configuration: c) {
                print("Target: \(target.name)")
                for address in target.addresses { print("Portal: \(address)") }
            }
        }
    }
}


struct Copy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy a LUN to a file or a file to a LUN (one side an iscsi:// URL).")
    @OptionGroup var connection: Connection
    @Argument var source: String
    @Argument var destination: String
    @Option(name: .customLong("chunk"), help: "Blocks per command.") var chunkBlocks = 256
    @Option(name: .short, help: "Commands in flight.") var m = 8

    func run() async {
        await guarded {
            let toLUN = destination.lowercased().hasPrefix("iscsi://")
            let fromLUN = source.lowercased().hasPrefix("iscsi://")
            guard toLUN != fromLUN else {
                throw ISCSIInitiatorError.invalidArgument("exactly one of SRC and DST must be an iscsi:// URL")
            }
            let (url, lun) = try parseLUNURL(toLUN ? destination : source)
            let session = try await ISCSISession.login(url: url, configuration: connection.configuration())
            let capacity = try await session.readCapacity16(lun: lun)
            let blockSize = Int(capacity.blockSize)
            let path = toLUN ? source : destination
            let total: UInt64
            let fd: Int32
            if toLUN {
                fd = open(path, O_RDONLY)
                guard fd >= 0 else { throw ISCSIInitiatorError.invalidArgument("cannot open \(path): \(String(cString: strerror(errno)))") }
                var st = stat()
                fstat(fd, &st)
                total = UInt64(st.st_size)
                guard total % UInt64(blockSize) == 0 else {
                    throw ISCSIInitiatorError.invalidArgument("\(path) is not a whole number of \(blockSize)-byte blocks")
                }
                guard total <= capacity.bytes else {
                    throw ISCSIInitiatorError.invalidArgument("\(path) (\(total) bytes) is larger than the LUN (\(capacity.bytes) bytes)")
                }
            } else {
                fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
                guard fd >= 0 else { throw ISCSIInitiatorError.invalidArgument("cannot create \(path): \(String(cString: strerror(errno)))") }
                total = capacity.bytes
            }
            defer { close(fd) }
            let totalBlocks = total / UInt64(blockSize)
            let chunk = UInt64(max(1, chunkBlocks))
            let progress = CopyProgress(total: total)
            let next = Counter()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<max(1, m) {
                    group.addTask {
                        while true {
                            let index = next.next()
                            let lba = index * chunk
                            guard lba < totalBlocks else { return }
                            let blocks = UInt32(min(chunk, totalBlocks - lba))
                            let bytes = Int(blocks) * blockSize
                            let offset = off_t(lba) * off_t(blockSize)
                            if toLUN {
                                var buffer = ByteBuffer()
                                try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: bytes) { p in
                                    let n = pread(fd, p.baseAddress, bytes, offset)
                                    guard n == bytes else { throw ISCSIInitiatorError.invalidArgument("short read from \(path)") }
                                    return n
                                }
                                try await session.write(lun: lun, lba: lba, data: buffer, blockSize: blockSize)
                            } else {
                                let data = try await session.read(lun: lun, lba: lba, blocks: blocks, blockSize: blockSize)
                                guard data.readableBytes == bytes else {
                                    throw ISCSIInitiatorError.protocolViolation("short read at LBA \(lba)")
                                }
                                let n = data.withUnsafeReadableBytes { pwrite(fd, $0.baseAddress, bytes, offset) }
                                guard n == bytes else { throw ISCSIInitiatorError.invalidArgument("write to \(path) failed") }
                            }
                            progress.add(UInt64(bytes))
                        }
                    }
                }
                do {
                    while try await group.next() != nil {}
                } catch {
                    // The copy has failed: end the session, so the commands still out fail now
                    // instead of each running its own course of resends.
                    progress.abandon()
                    session.close()
                    throw error
                }
            }
            if toLUN { try await session.synchronizeCache(lun: lun) }
            progress.finish(verb: "copied")
            try? await session.logout()
        }
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value: UInt64 = 0
    func next() -> UInt64 {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value - 1
    }
}

struct Perf: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Load a LUN like iscsi-perf and report IOPS and MB/s.")
    @OptionGroup var connection: Connection
    @Argument var url: String
    @Option(name: .short, help: "Commands in flight.") var m = 32
    @Option(name: .short, help: "Blocks per command.") var b = 8
    @Option(name: .short, help: "Seconds to run.") var t = 10
    @Flag(name: .customLong("random")) var random = false
    @Flag(name: .customLong("write")) var write = false

    func run() async {
        await guarded {
            let (url, lun) = try parseLUNURL(url)
            var c = connection.configuration()
            c.queueDepth = max(m, 1)
            let session = try await ISCSISession.login(url: url, configuration: c)
            let capacity = try await session.readCapacity16(lun: lun)
            let blockSize = Int(capacity.blockSize)
            let blocks = UInt64(max(1, b))
            guard capacity.blocks >= blocks else { throw ISCSIInitiatorError.invalidArgument("LUN smaller than one transfer") }
            let slots = capacity.blocks / blocks
            print("capacity is \(capacity.blocks) blocks or \(capacity.bytes) byte (\(capacity.bytes / 1_048_576) MB)")
            print("performing \(random ? "RANDOM" : "SEQUENTIAL") \(write ? "WRITE" : "READ") with \(m) parallel requests")
            print("FIXED transfer size of \(blocks) blocks (\(Int(blocks) * blockSize) byte)")
            var payload = ByteBuffer()
            payload.writeRepeatingByte(0xA5, count: Int(blocks) * blockSize)
            let load = PerfLoad(
                session: session, lun: lun, blocks: blocks, blockSize: blockSize, slots: slots, random: random,
                write: write, data: payload, depth: max(1, m),
                duration: UInt64(max(1, t)) * 1_000_000_000)
            let start = DispatchTime.now().uptimeNanoseconds
            let ios = try await load.run()
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            let iops = Int(Double(ios) / seconds)
            let bytesPerIO = Double(Int(blocks) * blockSize)
            let totalBytes: Double = Double(ios) * bytesPerIO
            let mbs = Int(totalBytes / seconds / 1_048_576)
            try? await session.logout()
            print("iops average \(iops) (\(mbs) MB/s)")
        }
    }
}

/// Keeps `depth` commands in flight from the session's event loop: each completion submits the
/// next command directly (no task hop, no promise), as iscsi-perf's callback loop does.
final class PerfLoad: @unchecked Sendable {
    private let session: ISCSISession
    private let loop: EventLoop
    private let lun: UInt64
    private let blocks: UInt64
    private let blockSize: Int
    private let slots: UInt64
    private let random: Bool
    private let write: Bool
    private let data: ByteBuffer
    private let depth: Int
    private let duration: UInt64
    private let allocator = ByteBufferAllocator()
    // Only touched on the event loop: no dynamic exclusivity checks.
    @exclusivity(unchecked) private var deadline: UInt64 = 0
    @exclusivity(unchecked) private var next: UInt64 = 0
    @exclusivity(unchecked) private var inFlight = 0
    @exclusivity(unchecked) private var completed = 0
    @exclusivity(unchecked) private var error: Error?
    /// CDB buffers reused round-robin: by the time one comes round again its command has
    /// almost always completed, so rewriting it in place allocates nothing (a buffer still
    /// held by a command is copied on write).
    @exclusivity(unchecked) private var cdbs: [ByteBuffer] = []
    private var promise: EventLoopPromise<Int>?
    private var completion: SCSICompletionHandler?

    init(
        session: ISCSISession, lun: UInt64, blocks: UInt64, blockSize: Int, slots: UInt64, random: Bool, write: Bool,
        data: ByteBuffer, depth: Int, duration: UInt64
    ) {
        self.session = session
        self.loop = session.eventLoop
        self.lun = lun
        self.blocks = blocks
        self.blockSize = blockSize
        self.slots = slots
        self.random = random
        self.write = write
        self.data = data
        self.depth = depth
        self.duration = duration
    }

    /// Runs the load; returns the number of commands completed.
    func run() async throws -> Int {
        let promise = loop.makePromise(of: Int.self)
        loop.execute {
            self.promise = promise
            // One closure for every command: nothing allocated per IO for the callback.
            self.completion = { [unowned self] result in self.completed(result) }
            self.deadline = DispatchTime.now().uptimeNanoseconds + self.duration
            for _ in 0..<self.depth { self.issue() }
        }
        defer { loop.execute { self.completion = nil } }
        return try await promise.futureResult.get()
    }

    private func issue() {
        let slot = random ? UInt64.random(in: 0..<slots) : next % slots
        next &+= 1
        let lba = slot * blocks
        if cdbs.isEmpty {
            var template = allocator.buffer(capacity: 16)
            template.writeRepeatingByte(0, count: 16)
            for _ in 0..<(4 * depth) { cdbs.append(allocator.buffer(buffer: template)) }
        }
        let index = Int((next &- 1) % UInt64(cdbs.count))
        cdbs[index].setInteger(write ? 0x8A : 0x88 as UInt8, at: 0)
        cdbs[index].setInteger(lba, at: 2)
        cdbs[index].setInteger(UInt32(blocks), at: 10)
        inFlight += 1
        session.submit(
            lun: lun, cdb: cdbs[index], dataOut: write ? data : nil,
            expectedDataInLength: write ? 0 : Int(blocks) * blockSize, completion: completion!)
    }

    private func completed(_ result: Result<SCSICommandResponse, ISCSIInitiatorError>) {
        inFlight -= 1
        switch result {
        case .success(let r):
            if r.isGood || r.sense?.key == 6 {
                completed += 1
            } else if error == nil {
                do { try r.checked() } catch { self.error = error }
            }
        case .failure(let e):
            if error == nil { error = e }
        }
        if error == nil, DispatchTime.now().uptimeNanoseconds < deadline {
            issue()
        } else if inFlight == 0, let promise {
            self.promise = nil
            if let error { promise.fail(error) } else { promise.succeed(completed) }
        }
    }
}

enum ISCSISessionCDB {
    static func rw16(_ opcode: UInt8, lba: UInt64, blocks: UInt32) -> [UInt8] {
        var cdb = [UInt8](repeating: 0, count: 16)
        cdb[0] = opcode
        for i in 0..<8 { cdb[2 + i] = UInt8(truncatingIfNeeded: lba >> (56 - 8 * i)) }
        for i in 0..<4 { cdb[10 + i] = UInt8(truncatingIfNeeded: blocks >> (24 - 8 * i)) }
        return cdb
    }
}

