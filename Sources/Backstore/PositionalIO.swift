#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Blocking positional IO that loops over short transfers and retries EINTR.
/// Only ever called on the IO thread pool.
enum PositionalIO {
    /// Fills `buffer` from `fd` at `offset`; reaching end of file first is an error, since the
    /// caller already checked the range against the store size.
    static func readFully(fd: Int32, into buffer: UnsafeMutableRawBufferPointer, offset: UInt64) throws {
        var done = 0
        while done < buffer.count {
            let result = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if result > 0 {
                done += result
            } else if result == 0 {
                throw BackstoreError(
                    .ioError, errno: EIO,
                    "unexpected end of file reading \(buffer.count) bytes at offset \(offset)")
            } else if errno != EINTR {
                throw ioError("pread", errno: errno, count: buffer.count, offset: offset)
            }
        }
    }

    /// Writes all of `bytes` to `fd` at `offset`.
    static func writeFully(fd: Int32, from bytes: UnsafeRawBufferPointer, offset: UInt64) throws {
        var done = 0
        while done < bytes.count {
            let result = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if result > 0 {
                done += result
            } else if result == 0 {
                throw BackstoreError(.ioError, errno: EIO, "pwrite made no progress at offset \(offset)")
            } else if errno != EINTR {
                throw ioError("pwrite", errno: errno, count: bytes.count, offset: offset)
            }
        }
    }

    static func dataSync(fd: Int32) throws {
        while fdatasync(fd) != 0 {
            if errno != EINTR {
                throw BackstoreError(.ioError, errno: errno, "fdatasync failed: \(errorString(errno))")
            }
        }
    }

    static func errorString(_ code: Int32) -> String {
        String(cString: strerror(code))
    }

    private static func ioError(_ call: String, errno code: Int32, count: Int, offset: UInt64) -> BackstoreError {
        BackstoreError(.ioError, errno: code, "\(call) of \(count) bytes at offset \(offset) failed: \(errorString(code))")
    }
}
