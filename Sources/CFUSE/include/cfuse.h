#ifndef CFUSE_H
#define CFUSE_H

/* Glue between Swift and libfuse3's low-level API plus the loop-device ioctls. Swift cannot set C
 * bitfields reliably, call variadic ioctl(), or use function-like macros, so those few things live
 * here; everything else (the filesystem itself) is Swift. Functions return -errno on failure. */

#ifdef __linux__

/* 3.12 is the first API level with fuse_loop_cfg_* (thread count for fuse_session_loop_mt). The
 * header is included by its fuse3/ path so that no extra -I flag has to reach Swift importers. */
#define FUSE_USE_VERSION 312
#include <fuse3/fuse_lowlevel.h>
#include <stdint.h>
#include <sys/types.h>

/* fuse_session_new with argv = { "swift-blockdev", "-o", options }; options may be NULL. */
struct fuse_session *cfuse_session_new(const struct fuse_lowlevel_ops *ops, const char *options,
                                       void *userdata);

/* Sets the bitfields of fuse_file_info that open() answers with. */
void cfuse_set_open_flags(struct fuse_file_info *fi, int direct_io, int keep_cache);

/* Capability bits (function-style so Swift sees plain values). */
unsigned cfuse_cap_async_read(void);
unsigned cfuse_cap_async_dio(void);
unsigned cfuse_cap_splice_read(void);
unsigned cfuse_cap_splice_write(void);
unsigned cfuse_cap_splice_move(void);
unsigned cfuse_cap_writeback_cache(void);

unsigned cfuse_major(dev_t dev);
unsigned cfuse_minor(dev_t dev);
dev_t cfuse_makedev(unsigned major, unsigned minor);

/* Loop devices (linux/loop.h). */
int cfuse_loop_ctl_get_free(int control_fd);
int cfuse_loop_configure(int loop_fd, int backing_fd, uint32_t block_size, uint32_t flags,
                         const char *file_name);
int cfuse_loop_clr_fd(int loop_fd);
int cfuse_loop_set_capacity(int loop_fd);
int cfuse_loop_set_direct_io(int loop_fd, int enable);
int cfuse_loop_set_block_size(int loop_fd, uint32_t block_size);
/* LOOP_GET_STATUS64: flags and the backing file's device and inode. -ENXIO when unbound. */
int cfuse_loop_get_status(int loop_fd, uint32_t *flags, uint64_t *backing_device,
                          uint64_t *backing_inode);

/* fallocate(2), which Swift's Glibc module does not expose: 0 or -errno. */
int cfuse_fallocate(int fd, int mode, int64_t offset, int64_t length);

uint32_t cfuse_lo_flags_direct_io(void);
uint32_t cfuse_lo_flags_autoclear(void);
uint32_t cfuse_lo_flags_read_only(void);

#endif /* __linux__ */
#endif /* CFUSE_H */
