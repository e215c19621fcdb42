import NIOCore
import SCSIProtocol

/// A handler's answer: ready now, or when the backstore finishes.
enum CommandOutcome {
    case done(SCSICommandResult)
    case pending(EventLoopFuture<SCSICommandResult>)

    static let good = CommandOutcome.done(SCSICommandResult(status: .good))

    static func check(
        _ key: SenseKey, _ code: AdditionalSenseCode, information: UInt32? = nil,
        field: FixedFormatSense.FieldPointer? = nil
    ) -> CommandOutcome {
        .done(.checkCondition(FixedFormatSense(key: key, code: code, information: information, fieldPointer: field)))
    }

    /// ILLEGAL REQUEST / INVALID FIELD IN CDB. libiscsi reads a sense-key-specific field
    /// pointer at byte 1 of MAINTENANCE IN / SERVICE ACTION IN as "not implemented", so
    /// pointers are only given where the suite needs one.
    static func invalidField(cdbByte byte: UInt16? = nil, bit: UInt8? = nil) -> CommandOutcome {
        check(.illegalRequest, .invalidFieldInCDB, field: byte.map { .init(inCDB: true, byte: $0, bit: bit) })
    }

    static let invalidFieldInParameterList = check(.illegalRequest, .invalidFieldInParameterList)
    static let parameterListLengthError = check(.illegalRequest, .parameterListLengthError)
    static let lbaOutOfRange = check(.illegalRequest, .lbaOutOfRange)
    static let writeProtected = check(.dataProtect, .writeProtected)
    /// The Data-Out that came does not fit the CDB (FCP-4 9.4.2 b): nothing was written.
    static let invalidFieldInInformationUnit = check(.illegalRequest, .invalidFieldInCommandInformationUnit)

    /// Data-In cut to the command's allocation length; a slice, so no bytes are copied.
    static func dataIn(_ buffer: ByteBuffer, allocationLength: Int) -> CommandOutcome {
        let length = min(buffer.readableBytes, allocationLength)
        return .done(SCSICommandResult(status: .good, dataIn: buffer.getSlice(at: buffer.readerIndex, length: length)))
    }

    static func dataIn(_ bytes: [UInt8], allocationLength: Int) -> CommandOutcome {
        .done(SCSICommandResult(status: .good, dataIn: ByteBuffer(bytes: bytes.prefix(allocationLength))))
    }
}

extension SCSICommandResult {
    static func checkCondition(_ sense: FixedFormatSense) -> SCSICommandResult {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(FixedFormatSense.length)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: FixedFormatSense.length) { bytes in
            sense.write(to: bytes)
            return FixedFormatSense.length
        }
        return SCSICommandResult(status: .checkCondition, senseData: buffer)
    }

    static func checkCondition(_ key: SenseKey, _ code: AdditionalSenseCode) -> SCSICommandResult {
        checkCondition(FixedFormatSense(key: key, code: code))
    }
}
