/// Wire formats of REPORT TARGET PORT GROUPS and SET TARGET PORT GROUPS (SPC-4 6.37, 6.47).
/// States are the raw ASYMMETRIC ACCESS STATE codes (0 active/optimized ... 0x0F transitioning).
public enum TargetPortGroupsData {
    /// One target port group descriptor of REPORT TARGET PORT GROUPS (SPC-4 table 285).
    public struct Descriptor: Sendable, Equatable {
        public var preferred: Bool
        public var state: UInt8
        /// T_SUP 0x80, O_SUP 0x40, LBD_SUP 0x10, U_SUP 0x08, S_SUP 0x04, AN_SUP 0x02, AO_SUP 0x01.
        public var supportedStates: UInt8
        public var groupID: UInt16
        /// STATUS CODE: 0 none, 1 changed by SET TARGET PORT GROUPS, 2 changed implicitly.
        public var statusCode: UInt8
        /// RELATIVE TARGET PORT IDENTIFIER of each member; at most 255 are reported (the count
        /// is one byte).
        public var ports: [UInt16]

        public init(preferred: Bool, state: UInt8, supportedStates: UInt8, groupID: UInt16, statusCode: UInt8, ports: [UInt16]) {
            self.preferred = preferred
            self.state = state
            self.supportedStates = supportedStates
            self.groupID = groupID
            self.statusCode = statusCode
            self.ports = ports
        }
    }

    /// What LIO reports by default: every state but LBA dependent.
    public static let supportedStates: UInt8 = 0x80 | 0x40 | 0x08 | 0x04 | 0x02 | 0x01

    public enum StatusCode {
        public static let none: UInt8 = 0
        public static let changedExplicitly: UInt8 = 1
        public static let changedImplicitly: UInt8 = 2
    }

    /// The whole parameter data. With `extendedHeader` (PARAMETER DATA FORMAT 001b) bytes 4-7
    /// carry the format and IMPLICIT TRANSITION TIME, and RETURN DATA LENGTH counts them as it
    /// counts everything after byte 3 (sg_rtpg and Linux's scsi_dh_alua read n + 4 bytes).
    public static func report(_ groups: [Descriptor], extendedHeader: Bool, implicitTransitionSeconds: UInt8 = 0) -> [UInt8] {
        var body: [UInt8] = extendedHeader ? [0x10, implicitTransitionSeconds, 0, 0] : []
        for group in groups {
            let ports = group.ports.prefix(255)
            body += [
                (group.preferred ? 0x80 : 0) | group.state & 0x0F, group.supportedStates,
                UInt8(group.groupID >> 8), UInt8(group.groupID & 0xFF), 0, group.statusCode, 0, UInt8(ports.count),
            ]
            for port in ports { body += [0, 0, UInt8(port >> 8), UInt8(port & 0xFF)] }
        }
        let length = UInt32(body.count)
        return [UInt8(length >> 24), UInt8(length >> 16 & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)] + body
    }

    /// The descriptors of a REPORT TARGET PORT GROUPS answer in either header format, as far as
    /// RETURN DATA LENGTH and the bytes that came both reach; nil when a descriptor's ports run
    /// past them.
    public static func parseReport(_ bytes: [UInt8]) -> [Descriptor]? {
        guard bytes.count >= 4 else { return nil }
        let length = Int(bytes[0]) << 24 | Int(bytes[1]) << 16 | Int(bytes[2]) << 8 | Int(bytes[3])
        let end = min(bytes.count, 4 + length)
        // PARAMETER DATA FORMAT 001b: a second 4-byte header.
        var at = bytes.count > 4 && (bytes[4] >> 4) & 0x7 == 1 ? 8 : 4
        var groups: [Descriptor] = []
        while at + 8 <= end {
            let count = Int(bytes[at + 7])
            guard at + 8 + 4 * count <= end else { return nil }
            let ports = (0..<count).map { UInt16(bytes[at + 10 + 4 * $0]) << 8 | UInt16(bytes[at + 11 + 4 * $0]) }
            groups.append(
                Descriptor(
                    preferred: bytes[at] & 0x80 != 0, state: bytes[at] & 0x0F, supportedStates: bytes[at + 1],
                    groupID: UInt16(bytes[at + 2]) << 8 | UInt16(bytes[at + 3]), statusCode: bytes[at + 5], ports: ports))
            at += 8 + 4 * count
        }
        return groups
    }

    /// One set target port group descriptor (SPC-4 table 473).
    public struct Request: Sendable, Equatable {
        public var state: UInt8
        /// TARGET PORT GROUP for the primary states; the RELATIVE TARGET PORT IDENTIFIER for
        /// offline, a secondary state.
        public var groupOrPort: UInt16
        /// Offset of the descriptor in the parameter list, for the sense field pointer.
        public var offset: Int

        public init(state: UInt8, groupOrPort: UInt16, offset: Int) {
            self.state = state
            self.groupOrPort = groupOrPort
            self.offset = offset
        }
    }

    public enum ParseError: Error, Equatable {
        /// Fewer bytes than PARAMETER LIST LENGTH, or a length that is not the 4-byte header
        /// plus whole 4-byte descriptors.
        case lengthError
    }

    /// The descriptors of a SET TARGET PORT GROUPS parameter list of `listLength` bytes (the
    /// CDB's field) from `bytes` (what came). Lengths are checked against each other before a
    /// byte is read; a length of 0 is no list at all (SPC-4 6.47), and so no descriptor.
    public static func parseSet(_ bytes: [UInt8], listLength: Int) throws(ParseError) -> [Request] {
        guard listLength > 0 else { return [] }
        guard listLength >= 4, (listLength - 4) % 4 == 0, bytes.count >= listLength else { throw .lengthError }
        return stride(from: 4, to: listLength, by: 4).map { offset in
            Request(state: bytes[offset] & 0x0F, groupOrPort: UInt16(bytes[offset + 2]) << 8 | UInt16(bytes[offset + 3]), offset: offset)
        }
    }
}
