/* hex — hexadecimal digits, as in digests, HMAC signatures, tokens and %XX escapes.
 * Pure functions; no allocation. */
#ifndef BOSUN_HEX_H
#define BOSUN_HEX_H

#include <stddef.h>

/* The value of one hex digit (either case), or -1 when c is not one. */
int hex_digit(int c);

/* Decodes exactly 2*n hex digits (either case) from hex[0..hexlen) into out[0..n).
 * Returns 0, or -EINVAL when hexlen != 2*n or a character is not a hex digit (out may
 * then hold part of the result). */
int hex_decode(const char *hex, size_t hexlen, unsigned char *out, size_t n);

/* Writes n bytes as 2*n lowercase hex digits and a NUL into out (room for 2*n + 1).
 * Returns out. */
char *hex_encode(const unsigned char *in, size_t n, char *out);

#endif
