// FUSE and loop devices are Linux facilities; elsewhere the module keeps only its portable parts.
#if os(Linux)
import Glibc
import CFUSE

/// The libfuse callback table. Callbacks are C function pointers, so they capture nothing: the
/// filesystem comes from the session's userdata, the open file from the handle stored in `fh`.
extension LUNFileSystem {
    static let rootInode: fuse_ino_t = 1

    static func makeOperations() -> fuse_lowlevel_ops {
        var ops = fuse_lowlevel_ops()
        ops.`init` = { userdata, conn in
            guard let userdata, let conn else { return }
            Unmanaged<LUNFileSystem>.fromOpaque(userdata).takeUnretainedValue().negotiate(conn)
        }
        ops.lookup = { req, parent, name in
            fuseFileSystem(req).lookup(req!, parent: parent, name: name!)
        }
        ops.forget = { req, inode, count in
            fuseFileSystem(req).forget(inode: inode, count: count)
            fuse_reply_none(req)
        }
        ops.forget_multi = { req, count, forgets in
            let fs = fuseFileSystem(req)
            for index in 0..<count {
                fs.forget(inode: forgets![index].ino, count: forgets![index].nlookup)
            }
            fuse_reply_none(req)
        }
        ops.getattr = { req, inode, _ in
            fuseFileSystem(req).getattr(req!, inode: inode)
        }
        ops.setattr = { req, inode, attributes, toSet, _ in
            fuseFileSystem(req).setattr(req!, inode: inode, attributes: attributes!.pointee, toSet: toSet)
        }
        ops.readdir = { req, inode, size, offset, _ in
            fuseFileSystem(req).readdir(req!, inode: inode, size: size, offset: offset)
        }
        ops.open = { req, inode, info in
            fuseFileSystem(req).open(req!, inode: inode, info: info!)
        }
        ops.release = { req, _, info in
            Unmanaged<LUNFile>.fromOpaque(UnsafeRawPointer(bitPattern: UInt(info!.pointee.fh))!).release()
            fuse_reply_err(req, 0)
        }
        ops.read = { req, _, size, offset, info in
            fuseFileSystem(req).read(req!, file: fuseOpenFile(info), offset: offset, length: size)
        }
        ops.write = { req, _, data, size, offset, info in
            fuseFileSystem(req).write(req!, file: fuseOpenFile(info), data: data!, offset: offset, length: size)
        }
        // close(2) sends FLUSH, fsync(2) and the loop driver's REQ_OP_FLUSH send FSYNC: both
        // reach the backend's cache flush.
        ops.flush = { req, _, info in
            fuseFileSystem(req).flush(req!, file: fuseOpenFile(info))
        }
        ops.fsync = { req, _, _, info in
            fuseFileSystem(req).flush(req!, file: fuseOpenFile(info))
        }
        // The loop driver turns discards and write-zeroes into fallocate on its backing file.
        ops.fallocate = { req, _, mode, offset, length, info in
            fuseFileSystem(req).fallocate(req!, file: fuseOpenFile(info), mode: mode, offset: offset, length: length)
        }
        return ops
    }

    func negotiate(_ conn: UnsafeMutablePointer<fuse_conn_info>) {
        var info = conn.pointee
        // Async reads let the kernel send several reads per file at once; async direct IO lets
        // the loop driver's direct IO run without waiting for each request.
        info.want |= (cfuse_cap_async_read() | cfuse_cap_async_dio()) & info.capable
        info.want &= ~cfuse_cap_writeback_cache()
        // libfuse 3.14 derives max_pages from max_write (its buffers hold 1 MiB).
        info.max_write = min(info.max_write, UInt32(clamping: options.maxRequestBytes))
        info.max_background = UInt32(clamping: options.maxBackground)
        info.congestion_threshold = info.max_background * 3 / 4
        conn.pointee = info
        recordNegotiated(
            Negotiated(
                protocolMinor: Int(info.proto_minor), maxWrite: Int(info.max_write),
                maxBackground: Int(info.max_background),
                asyncRead: info.want & cfuse_cap_async_read() != 0,
                asyncDirectIO: info.want & cfuse_cap_async_dio() != 0))
    }

    // MARK: - Metadata

    func lookup(_ req: fuse_req_t, parent: fuse_ino_t, name: UnsafePointer<CChar>) {
        let key = String(cString: name)
        let file = lock.withLock { () -> LUNFile? in
            guard parent == Self.rootInode, let file = filesByName[key] else { return nil }
            file.lookups += 1
            return file
        }
        guard let file else {
            fuse_reply_err(req, ENOENT)
            return
        }
        var entry = fuse_entry_param()
        entry.ino = file.inode
        entry.generation = 1
        entry.attr = attributes(of: file)
        entry.attr_timeout = options.attributeTimeout
        entry.entry_timeout = options.attributeTimeout
        // -ENOENT: the lookup was interrupted and the kernel never took the reference.
        if fuse_reply_entry(req, &entry) == -ENOENT {
            forget(inode: file.inode, count: 1)
        }
    }

    func forget(inode: fuse_ino_t, count: UInt64) {
        lock.withLock {
            guard let file = filesByInode[inode] else { return }
            file.lookups -= min(count, file.lookups)
            if file.lookups == 0 && file.removed { filesByInode[inode] = nil }
        }
    }

    func getattr(_ req: fuse_req_t, inode: fuse_ino_t) {
        guard var attributes = self.attributes(ofInode: inode) else {
            fuse_reply_err(req, ENOENT)
            return
        }
        fuse_reply_attr(req, &attributes, options.attributeTimeout)
    }

    /// The size follows the backend, as for a block device: truncating to another size fails;
    /// mode, owner and time changes are accepted and ignored. (open(O_TRUNC) is ignored too: the
    /// kernel passes it to open, which does not act on it.)
    func setattr(_ req: fuse_req_t, inode: fuse_ino_t, attributes: stat, toSet: Int32) {
        guard var current = self.attributes(ofInode: inode) else {
            fuse_reply_err(req, ENOENT)
            return
        }
        if toSet & FUSE_SET_ATTR_SIZE != 0 && attributes.st_size != current.st_size {
            fuse_reply_err(req, inode == Self.rootInode ? EISDIR : EINVAL)
            return
        }
        fuse_reply_attr(req, &current, options.attributeTimeout)
    }

    /// Entries are ".", "..", then the files by name; an entry's offset is its index + 1.
    func readdir(_ req: fuse_req_t, inode: fuse_ino_t, size: Int, offset: off_t) {
        guard inode == Self.rootInode else {
            fuse_reply_err(req, ENOTDIR)
            return
        }
        var entries: [(name: String, inode: UInt64, mode: mode_t)] = [
            (".", Self.rootInode, S_IFDIR), ("..", Self.rootInode, S_IFDIR),
        ]
        entries += lock.withLock {
            filesByName.values.sorted { $0.name < $1.name }.map { ($0.name, $0.inode, S_IFREG) }
        }
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: max(size, 1))
        defer { buffer.deallocate() }
        var used = 0
        var index = Int(max(offset, 0))
        while index < entries.count {
            var attributes = stat()
            attributes.st_ino = ino_t(entries[index].inode)
            attributes.st_mode = entries[index].mode
            let needed = fuse_add_direntry(
                req, buffer + used, size - used, entries[index].name, &attributes, off_t(index + 1))
            if needed > size - used { break }
            used += needed
            index += 1
        }
        fuse_reply_buf(req, buffer, used)
    }

    func open(_ req: fuse_req_t, inode: fuse_ino_t, info: UnsafeMutablePointer<fuse_file_info>) {
        guard inode != Self.rootInode else {
            fuse_reply_err(req, EISDIR)
            return
        }
        guard let file = file(inode: inode) else {
            fuse_reply_err(req, ENOENT)
            return
        }
        let handle = Unmanaged.passRetained(file)
        info.pointee.fh = UInt64(UInt(bitPattern: handle.toOpaque()))
        // direct_io: no page cache for this file (the loop device's users have their own), and
        // each read/write reaches us as one request of up to max_write bytes.
        cfuse_set_open_flags(info, 1, 0)
        if fuse_reply_open(req, info) == -ENOENT {
            handle.release()  // the open was interrupted: no release will follow
        }
    }

    /// The root directory's or a file's attributes; nil for an unknown inode.
    private func attributes(ofInode inode: fuse_ino_t) -> stat? {
        if inode == Self.rootInode { return rootAttributes() }
        return file(inode: inode).map { attributes(of: $0) }
    }

    private func rootAttributes() -> stat {
        var attributes = stat()
        attributes.st_ino = ino_t(Self.rootInode)
        attributes.st_mode = S_IFDIR | 0o755
        attributes.st_nlink = 2
        setTimes(&attributes)
        return attributes
    }

    func attributes(of file: LUNFile) -> stat {
        let size = BlockAlignment.usableSize(
            deviceSize: file.backend.byteCount, blockSize: file.backend.blockSize)
        var attributes = stat()
        attributes.st_ino = ino_t(file.inode)
        attributes.st_mode = S_IFREG | 0o600
        attributes.st_nlink = 1
        attributes.st_size = off_t(clamping: size)
        attributes.st_blksize = blksize_t(file.backend.blockSize)
        attributes.st_blocks = blkcnt_t(clamping: size / 512)
        setTimes(&attributes)
        return attributes
    }

    private func setTimes(_ attributes: inout stat) {
        attributes.st_atim = creationTime
        attributes.st_mtim = creationTime
        attributes.st_ctim = creationTime
    }
}

// Free functions rather than statics: a C callback closure may not capture `Self`.

@inline(__always)
private func fuseFileSystem(_ req: fuse_req_t?) -> LUNFileSystem {
    Unmanaged<LUNFileSystem>.fromOpaque(fuse_req_userdata(req)!).takeUnretainedValue()
}

/// The file behind an open handle (retained by `open`, released by `release`).
@inline(__always)
private func fuseOpenFile(_ info: UnsafeMutablePointer<fuse_file_info>?) -> LUNFile {
    Unmanaged<LUNFile>.fromOpaque(UnsafeRawPointer(bitPattern: UInt(info!.pointee.fh))!)
        .takeUnretainedValue()
}
#endif
