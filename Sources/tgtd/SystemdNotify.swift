#if canImport(Glibc)
    import Glibc
#endif

/// sd_notify(3) without libsystemd: tells systemd (Type=notify units) that the daemon is ready,
/// as Debian's tgtd does, so ExecStartPost commands find the control socket up. Nothing happens
/// when NOTIFY_SOCKET is not set.
enum SystemdNotify {
    static func ready() {
        #if canImport(Glibc)
            guard let value = getenv("NOTIFY_SOCKET").map({ String(cString: $0) }), !value.isEmpty else { return }
            // "@name" is a socket in the abstract namespace: a leading NUL byte.
            var path = Array(value.utf8)
            if path.first == UInt8(ascii: "@") { path[0] = 0 }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let capacity = MemoryLayout.size(ofValue: address.sun_path)
            guard path.count < capacity else { return }
            withUnsafeMutableBytes(of: &address.sun_path) { buffer in
                for (index, byte) in path.enumerated() { buffer[index] = byte }
            }
            let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { return }
            defer { close(fd) }
            let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count)
            let message = "READY=1\nMAINPID=\(getpid())"
            _ = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                    message.withCString { sendto(fd, $0, strlen($0), 0, socketAddress, length) }
                }
            }
        #endif
    }
}
