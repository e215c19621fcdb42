/// SPC-4 sense keys.
public enum SenseKey: UInt8, Sendable {
    case noSense = 0x0
    case recoveredError = 0x1
    case notReady = 0x2
    case mediumError = 0x3
    case hardwareError = 0x4
    case illegalRequest = 0x5
    case unitAttention = 0x6
    case dataProtect = 0x7
    case blankCheck = 0x8
    case copyAborted = 0xA
    case abortedCommand = 0xB
    case volumeOverflow = 0xD
    case miscompare = 0xE
}

/// An ADDITIONAL SENSE CODE and ADDITIONAL SENSE CODE QUALIFIER pair.
public struct AdditionalSenseCode: Hashable, Sendable, CustomStringConvertible {
    public var asc: UInt8
    public var ascq: UInt8
    public init(_ asc: UInt8, _ ascq: UInt8) {
        self.asc = asc
        self.ascq = ascq
    }
    public var description: String {
        "\(String(asc, radix: 16, uppercase: true))/\(String(ascq, radix: 16, uppercase: true))"
    }

    public static let noAdditionalSense = Self(0x00, 0x00)
    /// LOGICAL UNIT NOT ACCESSIBLE through this target port (SPC-4 5.15.2.4): its group is
    /// transitioning, in standby, unavailable or offline.
    public static let asymmetricAccessStateTransition = Self(0x04, 0x0A)
    public static let targetPortInStandbyState = Self(0x04, 0x0B)
    public static let targetPortInUnavailableState = Self(0x04, 0x0C)
    public static let targetPortOffline = Self(0x04, 0x12)
    /// The logical unit could not reach what it depends on in time (a shared state store).
    public static let logicalUnitCommunicationTimeout = Self(0x08, 0x01)
    public static let invalidFieldInCommandInformationUnit = Self(0x0E, 0x03)
    public static let writeError = Self(0x0C, 0x00)
    public static let unrecoveredReadError = Self(0x11, 0x00)
    public static let miscompareDuringVerify = Self(0x1D, 0x00)
    public static let parameterListLengthError = Self(0x1A, 0x00)
    public static let invalidCommandOperationCode = Self(0x20, 0x00)
    public static let lbaOutOfRange = Self(0x21, 0x00)
    public static let invalidFieldInCDB = Self(0x24, 0x00)
    public static let logicalUnitNotSupported = Self(0x25, 0x00)
    public static let invalidFieldInParameterList = Self(0x26, 0x00)
    public static let invalidReleaseOfPersistentReservation = Self(0x26, 0x04)
    public static let writeProtected = Self(0x27, 0x00)
    public static let powerOnResetOrBusDeviceReset = Self(0x29, 0x00)
    public static let busDeviceResetFunctionOccurred = Self(0x29, 0x03)
    public static let modeParametersChanged = Self(0x2A, 0x01)
    public static let reservationsPreempted = Self(0x2A, 0x03)
    public static let reservationsReleased = Self(0x2A, 0x04)
    public static let registrationsPreempted = Self(0x2A, 0x05)
    public static let asymmetricAccessStateChanged = Self(0x2A, 0x06)
    public static let capacityDataHasChanged = Self(0x2A, 0x09)
    public static let commandsClearedByAnotherInitiator = Self(0x2F, 0x00)
    public static let savingParametersNotSupported = Self(0x39, 0x00)
    public static let mediumNotPresent = Self(0x3A, 0x00)
    public static let reportedLUNsDataHasChanged = Self(0x3F, 0x0E)
    public static let internalTargetFailure = Self(0x44, 0x00)
    public static let mediumRemovalPrevented = Self(0x53, 0x02)
    public static let insufficientRegistrationResources = Self(0x55, 0x04)

    /// True for the 29/xx family (power on, reset), which supersedes other unit attentions.
    public var isResetClass: Bool { asc == 0x29 }
}

/// Fixed-format sense data (SPC-4 4.5.3), always 18 bytes.
public struct FixedFormatSense: Equatable, Sendable {
    /// SENSE KEY SPECIFIC field contents for ILLEGAL REQUEST: which CDB or parameter byte is wrong.
    public struct FieldPointer: Equatable, Sendable {
        public var inCDB: Bool
        public var byte: UInt16
        public var bit: UInt8?
        public init(inCDB: Bool, byte: UInt16, bit: UInt8? = nil) {
            self.inCDB = inCDB
            self.byte = byte
            self.bit = bit
        }
    }

    public static let length = 18

    public var key: SenseKey
    public var code: AdditionalSenseCode
    /// The INFORMATION field; when present the VALID bit is set.
    public var information: UInt32?
    public var fieldPointer: FieldPointer?

    public init(key: SenseKey, code: AdditionalSenseCode, information: UInt32? = nil, fieldPointer: FieldPointer? = nil) {
        self.key = key
        self.code = code
        self.information = information
        self.fieldPointer = fieldPointer
    }

    /// Writes the 18 bytes at the start of `buffer`, which must hold at least `length` bytes.
    public func write(to buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= Self.length)
        for i in 0..<Self.length { buffer[i] = 0 }
        buffer[0] = information == nil ? 0x70 : 0xF0
        buffer[2] = key.rawValue
        if let information {
            buffer[3] = UInt8(truncatingIfNeeded: information >> 24)
            buffer[4] = UInt8(truncatingIfNeeded: information >> 16)
            buffer[5] = UInt8(truncatingIfNeeded: information >> 8)
            buffer[6] = UInt8(truncatingIfNeeded: information)
        }
        buffer[7] = UInt8(Self.length - 8)  // ADDITIONAL SENSE LENGTH
        buffer[12] = code.asc
        buffer[13] = code.ascq
        if let fieldPointer {
            var flags: UInt8 = 0x80  // SKSV
            if fieldPointer.inCDB { flags |= 0x40 }
            if let bit = fieldPointer.bit { flags |= 0x08 | (bit & 0x07) }
            buffer[15] = flags
            buffer[16] = UInt8(fieldPointer.byte >> 8)
            buffer[17] = UInt8(fieldPointer.byte & 0xFF)
        }
    }

    public var bytes: [UInt8] {
        [UInt8](unsafeUninitializedCapacity: Self.length) { buffer, count in
            write(to: UnsafeMutableRawBufferPointer(buffer))
            count = Self.length
        }
    }

    /// Parses fixed-format sense (response code 0x70 or 0x71); nil for anything else.
    public init?(parsing bytes: [UInt8]) {
        guard bytes.count >= 14, bytes[0] & 0x7E == 0x70, let key = SenseKey(rawValue: bytes[2] & 0x0F) else {
            return nil
        }
        self.key = key
        self.code = AdditionalSenseCode(bytes[12], bytes[13])
        self.information =
            bytes[0] & 0x80 != 0
            ? UInt32(bytes[3]) << 24 | UInt32(bytes[4]) << 16 | UInt32(bytes[5]) << 8 | UInt32(bytes[6]) : nil
        if bytes.count >= 18, bytes[15] & 0x80 != 0 {
            self.fieldPointer = FieldPointer(
                inCDB: bytes[15] & 0x40 != 0, byte: UInt16(bytes[16]) << 8 | UInt16(bytes[17]),
                bit: bytes[15] & 0x08 != 0 ? bytes[15] & 0x07 : nil)
        } else {
            self.fieldPointer = nil
        }
    }
}
