import NIOCore
import SCSIProtocol

/// Everything a command handler needs, assembled once per command (no allocation).
struct CommandContext {
    let device: SCSITargetDevice
    let unit: LogicalUnit
    let cdb: CDB
    let request: SCSICommandRequest
    let nexus: SCSINexus
    let eventLoop: EventLoop
    /// The unit's state when the command was admitted.
    let state: UnitState

    /// True when `blocks` blocks from `lba` lie on the medium; a zero-length range still needs
    /// an LBA on the medium (SBC-3 4.5).
    func inRange(lba: UInt64, blocks: UInt64) -> Bool {
        lba < state.blockCount && blocks <= state.blockCount - lba
    }

    var nexusID: UInt64 { nexus.id }

    /// The unit's options and derived data as the command was admitted with them.
    var profile: LogicalUnitProfile { state.profile }

    func byteOffset(_ lba: UInt64) -> UInt64 { lba << UInt64(unit.blockShift) }
}
