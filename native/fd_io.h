// Whole-buffer read and write on a pipe or socket, retried on EINTR. Used on
// both sides of a fork (the child runs native code only), so they call
// nothing but read(2) and write(2).
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <unistd.h>

// False on error or end of file before len bytes.
inline bool WriteAll(int fd, const void *buf, size_t len)
{
	const uint8_t *p = (const uint8_t *)buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

inline bool ReadAll(int fd, void *buf, size_t len)
{
	uint8_t *p = (uint8_t *)buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}
