/*
 * Writing a whole buffer to a file descriptor: write(2) may take part of it
 * or be interrupted. Shared by the console sinks of both primary modes.
 */
#ifndef REMORA_FDIO_H
#define REMORA_FDIO_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

/* Returns 0, or -errno (-EIO if write(2) wrote nothing without an error). */
static inline int fd_write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

#endif
