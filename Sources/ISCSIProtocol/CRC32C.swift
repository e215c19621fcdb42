import CCRC32C
import NIOCore

/// CRC32C (Castagnoli), the iSCSI header and data digest (RFC 7143 §13.1).
///
/// Values are finished CRCs; `extend` continues one over more bytes, so a digest
/// over several buffers never needs them joined. On the wire the digest is sent
/// least significant byte first (see `PDUDigest`).
public enum CRC32C {
    /// CRC32C of the readable bytes of `buffer`.
    public static func checksum(_ buffer: ByteBuffer) -> UInt32 {
        extend(0, buffer)
    }

    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        extend(0, bytes)
    }

    /// Continues `crc` (a previous result, or 0 to start) over `bytes`.
    public static func extend(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
        return ccrc32c_extend(crc, base, bytes.count)
    }

    /// Continues `crc` over the readable bytes of `buffer`.
    public static func extend(_ crc: UInt32, _ buffer: ByteBuffer) -> UInt32 {
        buffer.withUnsafeReadableBytes { extend(crc, $0) }
    }

    /// Continues `crc` over `count` zero bytes (the data segment's pad bytes).
    public static func extend(_ crc: UInt32, zeroBytes count: Int) -> UInt32 {
        precondition(count >= 0 && count <= 8, "only pads are extended with zeros")
        let zeros: UInt64 = 0
        return withUnsafeBytes(of: zeros) { extend(crc, UnsafeRawBufferPointer(rebasing: $0.prefix(count))) }
    }

    /// The portable table implementation, for tests comparing it with the hardware path.
    public static func extendPortable(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
        return ccrc32c_extend_portable(crc, base, bytes.count)
    }

    /// Whether `extend` uses a CPU instruction on this machine.
    public static var isHardwareAccelerated: Bool { ccrc32c_hardware_available() != 0 }
}
