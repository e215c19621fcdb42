import NIOCore
import SCSIProtocol

/// One target port group of a REPORT TARGET PORT GROUPS answer.
public struct TargetPortGroup: Sendable, Equatable {
    public var id: UInt16
    public var state: ALUAState
    /// PREF: the group the target prefers.
    public var preferred: Bool
    /// RELATIVE TARGET PORT IDENTIFIERs of the group's ports.
    public var relativePorts: [UInt16]

    public init(id: UInt16, state: ALUAState, preferred: Bool = false, relativePorts: [UInt16]) {
        self.id = id
        self.state = state
        self.preferred = preferred
        self.relativePorts = relativePorts
    }

    /// MAINTENANCE IN / REPORT TARGET PORT GROUPS (0xA3/0x0A), length format.
    static func reportCDB(allocationLength: UInt32) -> [UInt8] {
        var cdb: [UInt8] = [0xA3, 0x0A, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        for i in 0..<4 { cdb[6 + i] = UInt8(truncatingIfNeeded: allocationLength >> (24 - 8 * i)) }
        return cdb
    }

    /// The groups of an RTPG answer (length or extended header format); nil when malformed.
    static func parse(_ data: ByteBuffer) -> [TargetPortGroup]? {
        guard let bytes = data.getBytes(at: data.readerIndex, length: data.readableBytes),
            let descriptors = TargetPortGroupsData.parseReport(bytes)
        else { return nil }
        return descriptors.map { descriptor in
            // An unknown state code reads as unavailable: never used for IO.
            TargetPortGroup(
                id: descriptor.groupID, state: ALUAState(rawValue: descriptor.state) ?? .unavailable,
                preferred: descriptor.preferred, relativePorts: descriptor.ports)
        }
    }
}
