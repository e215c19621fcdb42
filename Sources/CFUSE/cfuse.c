#ifdef __linux__
#define _GNU_SOURCE
#include <fcntl.h>
#include "cfuse.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#include <linux/loop.h>

struct fuse_session *cfuse_session_new(const struct fuse_lowlevel_ops *ops, const char *options,
                                       void *userdata) {
    char *argv[4] = { (char *)"swift-blockdev", NULL, NULL, NULL };
    int argc = 1;
    if (options != NULL && options[0] != '\0') {
        argv[argc++] = (char *)"-o";
        argv[argc++] = (char *)options;
    }
    struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
    struct fuse_session *se = fuse_session_new(&args, ops, sizeof(*ops), userdata);
    fuse_opt_free_args(&args);
    return se;
}

void cfuse_set_open_flags(struct fuse_file_info *fi, int direct_io, int keep_cache) {
    fi->direct_io = direct_io ? 1 : 0;
    fi->keep_cache = keep_cache ? 1 : 0;
}

unsigned cfuse_cap_async_read(void) { return FUSE_CAP_ASYNC_READ; }
unsigned cfuse_cap_async_dio(void) { return FUSE_CAP_ASYNC_DIO; }
unsigned cfuse_cap_splice_read(void) { return FUSE_CAP_SPLICE_READ; }
unsigned cfuse_cap_splice_write(void) { return FUSE_CAP_SPLICE_WRITE; }
unsigned cfuse_cap_splice_move(void) { return FUSE_CAP_SPLICE_MOVE; }
unsigned cfuse_cap_writeback_cache(void) { return FUSE_CAP_WRITEBACK_CACHE; }

unsigned cfuse_major(dev_t dev) { return major(dev); }
unsigned cfuse_minor(dev_t dev) { return minor(dev); }
dev_t cfuse_makedev(unsigned maj, unsigned min) { return makedev(maj, min); }

static int result(int rc) { return rc < 0 ? -errno : rc; }

int cfuse_loop_ctl_get_free(int control_fd) {
    return result(ioctl(control_fd, LOOP_CTL_GET_FREE));
}

int cfuse_loop_configure(int loop_fd, int backing_fd, uint32_t block_size, uint32_t flags,
                         const char *file_name) {
    struct loop_config config;
    memset(&config, 0, sizeof(config));
    config.fd = (uint32_t)backing_fd;
    config.block_size = block_size;
    config.info.lo_flags = flags;
    if (file_name != NULL)
        strncpy((char *)config.info.lo_file_name, file_name, LO_NAME_SIZE - 1);
    return result(ioctl(loop_fd, LOOP_CONFIGURE, &config));
}

int cfuse_loop_clr_fd(int loop_fd) { return result(ioctl(loop_fd, LOOP_CLR_FD, 0)); }
int cfuse_loop_set_capacity(int loop_fd) { return result(ioctl(loop_fd, LOOP_SET_CAPACITY, 0)); }

int cfuse_loop_set_direct_io(int loop_fd, int enable) {
    return result(ioctl(loop_fd, LOOP_SET_DIRECT_IO, (unsigned long)(enable ? 1 : 0)));
}

int cfuse_loop_set_block_size(int loop_fd, uint32_t block_size) {
    return result(ioctl(loop_fd, LOOP_SET_BLOCK_SIZE, (unsigned long)block_size));
}

int cfuse_loop_get_status(int loop_fd, uint32_t *flags, uint64_t *backing_device,
                          uint64_t *backing_inode) {
    struct loop_info64 info;
    memset(&info, 0, sizeof(info));
    int rc = result(ioctl(loop_fd, LOOP_GET_STATUS64, &info));
    if (rc < 0)
        return rc;
    if (flags) *flags = info.lo_flags;
    if (backing_device) *backing_device = info.lo_device;
    if (backing_inode) *backing_inode = info.lo_inode;
    return 0;
}

uint32_t cfuse_lo_flags_direct_io(void) { return LO_FLAGS_DIRECT_IO; }
uint32_t cfuse_lo_flags_autoclear(void) { return LO_FLAGS_AUTOCLEAR; }
uint32_t cfuse_lo_flags_read_only(void) { return LO_FLAGS_READ_ONLY; }

int cfuse_fallocate(int fd, int mode, int64_t offset, int64_t length) {
    return fallocate(fd, mode, (off_t)offset, (off_t)length) == 0 ? 0 : -errno;
}

#endif /* __linux__ */
